"""Aggregate the learning experiment's runs: per arm mean +- std over seeds, a summary line, a PNG, report.md/json.

The summary compares the arms on the final held-out rubric-level strict pass rate, *paired by seed* (every
arm of a seed starts from the same weights and prompts): the leader's margin over the runner-up is the mean of
the per-seed differences; it is called a lead only when the leader is ahead on every seed and the mean
difference exceeds the standard deviation of the differences, otherwise "no difference beyond seed noise".

The comparisons (:func:`comparisons`, statistics in :mod:`grpo.experiment.stats`): each arm against each
baseline present (``report.baselines``: grpo-aon, gdpo) and each token-credit arm against its shuffled control,
on the final held-out prompt-level and rubric-level strict pass, paired by seed *and held-out prompt*, with a
two-way bootstrap interval (seeds and prompts resampled jointly); won or lost only when the interval excludes 0.
Runs recorded without per-prompt results are paired by seed only, and the line says so. Sample efficiency: the
steps each arm needs to reach the first baseline's final held-out prompt-level strict pass rate.

Collapse flag (per arm, at the last evaluation, against the initial policy): distinct-2 below 60 % of the
initial value, repetition rate up by more than 0.2, mean length below half or above twice the initial one, or
perplexity under the initial policy above 3x the initial responses' - a gain that comes with it is not a gain.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from grpo.experiment.config import ExperimentConfig, ReportConfig
from grpo.experiment.stats import (
    comparison_line,
    comparison_pairs,
    paired_bootstrap,
    paired_matrices,
    reach_text,
    steps_to_reach,
)

RATES = ("rubric_strict", "rubric_loose", "prompt_strict", "prompt_loose")
DIVERSITY = ("mean_words", "distinct2", "repetition", "kl_init", "ppl_init")
TRAIN = (
    "reward",
    "rtt/reward/aon",
    "rtt/reward/csr",
    "rtt/groups/frac_zero_std",
    "rtt/tok_adv/std",
    "rtt/tok_adv/abs_max",
    "entropy",
)


def _ms(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return float("nan"), float("nan")
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def _mean_last(history: list[dict[str, Any]], key: str, n: int = 3) -> float | None:
    xs = [h[key] for h in history if h.get(key) is not None][-n:]
    return sum(xs) / len(xs) if xs else None


def load_results(cfg: ExperimentConfig) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for arm in cfg.arms:
        for seed in cfg.seeds:
            p = Path(cfg.out) / "runs" / arm.name / f"seed{seed}" / "result.json"
            if p.is_file():
                out.setdefault(arm.name, {})[seed] = json.loads(p.read_text(encoding="utf-8"))
    return out


def collapse_reasons(final: dict[str, Any], base: dict[str, Any]) -> list[str]:
    why = []
    if base.get("distinct2") and final["distinct2"] < 0.6 * base["distinct2"]:
        why.append(f"distinct-2 {base['distinct2']:.2f}->{final['distinct2']:.2f}")
    if final["repetition"] > base.get("repetition", 0.0) + 0.2:
        why.append(f"repetition {base.get('repetition', 0):.2f}->{final['repetition']:.2f}")
    bw = base.get("mean_words") or 0
    if bw and not (0.5 * bw <= final["mean_words"] <= 2 * bw):
        why.append(f"length {bw:.1f}->{final['mean_words']:.1f} words")
    bp = base.get("ppl_init")
    if bp and final.get("ppl_init") and final["ppl_init"] > 3 * bp:
        why.append(f"perplexity under the initial policy {bp:.1f}->{final['ppl_init']:.1f}")
    return why


def aggregate(cfg: ExperimentConfig, results: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    arms: dict[str, Any] = {}
    for name, by_seed in results.items():
        seeds = sorted(by_seed)
        steps = sorted({e["step"] for s in seeds for e in by_seed[s]["evals"]})
        curve = []
        for st in steps:
            evs = [e for s in seeds for e in by_seed[s]["evals"] if e["step"] == st]
            row: dict[str, Any] = {"step": st, "n": len(evs)}
            for k in RATES + DIVERSITY:
                row[k] = _ms([e.get(k) for e in evs])
            kinds = sorted({k for e in evs for k in e.get("kinds", {})})
            row["kinds"] = {k: _ms([e["kinds"].get(k) for e in evs]) for k in kinds}
            curve.append(row)
        train_steps = sorted({h["step"] for s in seeds for h in by_seed[s]["train"] if h.get("step") is not None})
        train = []
        for st in train_steps:
            hs = [h for s in seeds for h in by_seed[s]["train"] if h.get("step") == st]
            train.append({"step": st, **{k: _ms([h.get(k) for h in hs]) for k in TRAIN}})
        finals = {s: by_seed[s]["evals"][-1] for s in seeds}
        base = by_seed[seeds[0]]["evals"][0]
        collapse = {s: collapse_reasons(finals[s], base) for s in seeds}
        sps = [x for s in seeds for x in by_seed[s]["step_seconds"][1:]] or [
            x for s in seeds for x in by_seed[s]["step_seconds"]
        ]
        arms[name] = {
            "arm": by_seed[seeds[0]]["arm"],
            "seeds": seeds,
            "curve": curve,
            "train": train,
            "final": {k: _ms([finals[s].get(k) for s in seeds]) for k in RATES + DIVERSITY},
            "final_by_seed": {s: {k: finals[s].get(k) for k in RATES + DIVERSITY} for s in seeds},
            "final_kinds": curve[-1]["kinds"] if curve else {},
            "collapse": {str(s): r for s, r in collapse.items() if r},
            "seconds_per_step": _ms(sps),
            "frac_zero_std_groups": _ms(
                [h.get("rtt/groups/frac_zero_std") for s in seeds for h in by_seed[s]["train"]]
            ),
            "tok_adv_std": _ms([h.get("rtt/tok_adv/std") for s in seeds for h in by_seed[s]["train"]]),
            "reward_last": _ms([by_seed[s]["train"][-1].get("reward") for s in seeds if by_seed[s]["train"]]),
            # the training batches' AON and CSR pass rates, comparable across arms (the reward is the arm's own)
            "train_aon_last3": _ms([_mean_last(by_seed[s]["train"], "rtt/reward/aon") for s in seeds]),
            "train_csr_last3": _ms([_mean_last(by_seed[s]["train"], "rtt/reward/csr") for s in seeds]),
        }
    return arms


def summary_line(arms: dict[str, Any], metric: str = "rubric_strict") -> str:
    """Which arm leads on the final held-out ``metric``, by how much (paired by seed), or no difference.
    Arms are compared on the seeds every arm has finished (all seeds once the experiment is complete)."""
    names = [n for n in arms if not math.isnan(arms[n]["final"][metric][0])]
    if not names:
        return "no finished runs yet"
    if len(names) == 1:
        m, sd = arms[names[0]]["final"][metric]
        return f"only {names[0]} has finished runs: final held-out {metric} {m:.3f} +- {sd:.3f}"
    common = sorted(set.intersection(*(set(arms[n]["seeds"]) for n in names)))
    if not common:
        return f"no seed has finished for every arm yet ({'; '.join(n + ': ' + str(arms[n]['seeds']) for n in names)})"
    stats = {n: _ms([arms[n]["final_by_seed"][s][metric] for s in common]) for n in names}
    ranked = sorted(names, key=lambda n: -stats[n][0])
    lead, second = ranked[0], ranked[1]
    diffs = [arms[lead]["final_by_seed"][s][metric] - arms[second]["final_by_seed"][s][metric] for s in common]
    d, sd = _ms(diffs)
    wins = sum(x > 0 for x in diffs)
    coll = (
        f"; note: {lead} shows collapse on seed(s) {', '.join(arms[lead]['collapse'])}"
        if arms[lead]["collapse"]
        else ""
    )
    head = (
        f"final held-out {metric} on seed(s) {common}: {lead} {stats[lead][0]:.3f} +- {stats[lead][1]:.3f}, "
        f"{second} {stats[second][0]:.3f} +- {stats[second][1]:.3f}"
    )
    if len(common) >= 2 and wins == len(common) and d > sd:
        return f"{head}; {lead} leads by {d:+.3f} +- {sd:.3f} (paired over seeds, ahead on {wins}/{len(common)}){coll}"
    return (
        f"{head}; no difference beyond seed noise "
        f"(paired diff {d:+.3f} +- {sd:.3f}, ahead on {wins}/{len(common)} seeds){coll}"
    )


# ----------------------------------------------------------------------------------------------- paired comparisons


def final_vectors(
    by_seed: dict[int, dict[str, Any]], metric: str, window: int = 1
) -> dict[int, tuple[list[str], list[float]]] | None:
    """``{seed: (held-out item ids, per-prompt values)}`` at the end of each run: the final evaluation, or with
    ``window = k`` the per-prompt mean of the last ``k`` evaluations (fewer when the run has fewer); None when
    some run has no per-prompt results (older result files)."""
    out = {}
    for s, res in by_seed.items():
        last = [e.get("per_prompt") for e in res["evals"][-window:]]
        last = [pp for pp in last if pp and metric in pp and pp["item_ids"] == (last[-1] or {}).get("item_ids")]
        if not last or not res["evals"][-1].get("per_prompt"):
            return None
        vals = np.mean(np.array([pp[metric] for pp in last], dtype=np.float64), axis=0)
        out[s] = (last[-1]["item_ids"], vals.tolist())
    return out


def final_weights(by_seed: dict[int, dict[str, Any]]) -> dict[int, list[float]] | None:
    """Rubrics per held-out prompt of each run's final evaluation (the rubric-level weights), or None."""
    out = {}
    for s, res in by_seed.items():
        pp = res["evals"][-1].get("per_prompt") or {}
        if "rubrics" not in pp:
            return None
        out[s] = pp["rubrics"]
    return out


def _paired(results: dict[str, dict[int, dict[str, Any]]], a: str, b: str, metric: str, window: int = 1):
    """``(A, B, seeds, n_prompts or None, weights)`` for one metric: per (seed, prompt) when both arms have
    per-prompt results, else per seed (``(S, 1)``, n_prompts None)."""
    va, vb = final_vectors(results[a], metric, window), final_vectors(results[b], metric, window)
    if va is not None and vb is not None:
        got = paired_matrices(va, vb, final_weights(results[a]) if metric.startswith("rubric") else None)
        if got is not None:
            A, B, seeds, ids, w = got
            return A, B, seeds, len(ids), w
    seeds = sorted(set(results[a]) & set(results[b]))

    def col(arm):
        return np.array([[results[arm][s]["evals"][-1][metric]] for s in seeds], dtype=np.float64)

    return col(a), col(b), seeds, None, None


def compare(
    results: dict[str, dict[int, dict[str, Any]]], arms: dict[str, Any], a: str, b: str, rc: ReportConfig | None = None
) -> dict[str, Any] | None:
    """Paired difference ``a - b`` of the final held-out prompt-level and rubric-level strict pass rates with
    two-way bootstrap intervals, the collapse flags of both arms on the compared seeds, and the summary line.
    None when an arm is missing or the arms share no seed."""
    rc = rc or ReportConfig()
    if a not in results or b not in results or not set(results[a]) & set(results[b]):
        return None
    stats, paired = {}, "seed x prompt"
    for metric in ("prompt_strict", "rubric_strict"):
        A, B, seeds, n_prompts, w = _paired(results, a, b, metric, rc.final_window)
        if n_prompts is None:
            paired = "seed"
        stats[metric] = paired_bootstrap(A, B, weights=w, n_boot=rc.n_boot, level=rc.level, seed=rc.seed)
    collapse = {n: [int(s) for s in arms[n]["collapse"] if int(s) in seeds] for n in (a, b)}
    line = comparison_line(a, b, stats["prompt_strict"], stats["rubric_strict"], collapse, paired)
    return {"arm": a, "against": b, "paired": paired, "seeds": seeds, **stats, "collapse": collapse, "line": line}


def comparisons(
    cfg: ExperimentConfig, results: dict[str, dict[int, dict[str, Any]]], arms: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every comparison of ``cfg.report`` (explicit pairs, or derived from the arms: each arm vs each baseline,
    each token-credit arm vs its shuffled control) that has finished runs on a common seed."""
    rc = cfg.report
    names = [a.name for a in cfg.arms if a.name in results]
    if rc.comparisons is not None:
        pairs = [tuple(p) for p in rc.comparisons]
    else:
        pairs = comparison_pairs(
            names, rc.baselines, token_arms=[a.name for a in cfg.arms if a.beta > 0], controls=rc.controls
        )
    return [c for c in (compare(results, arms, a, b, rc) for a, b in pairs) if c is not None]


def sample_efficiency(
    results: dict[str, dict[int, dict[str, Any]]], reference: str, metric: str = "prompt_strict"
) -> dict[str, Any] | None:
    """Steps each arm needs to reach the reference arm's final held-out ``metric`` (mean over its seeds): per
    seed the first evaluated step at or above it, and the mean over the seeds that reach it. None without the
    reference arm."""
    if reference not in results:
        return None
    target = float(np.mean([r["evals"][-1][metric] for r in results[reference].values()]))
    arms = {}
    for name, by_seed in results.items():
        runs = {s: ([e["step"] for e in r["evals"]], [e.get(metric) for e in r["evals"]]) for s, r in by_seed.items()}
        arms[name] = steps_to_reach(runs, target)
        arms[name]["text"] = reach_text(arms[name])
    return {"reference": reference, "metric": metric, "target": target, "arms": arms}


def plot(arms: dict[str, Any], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not arms:
        return None
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for name, a in arms.items():
        for ax, key in zip(axes[:3], ("rubric_strict", "prompt_strict", "distinct2")):
            xs = [r["step"] for r in a["curve"]]
            ms = [r[key][0] for r in a["curve"]]
            sds = [r[key][1] for r in a["curve"]]
            ax.plot(xs, ms, marker="o", label=f"{name} (n={len(a['seeds'])})")
            ax.fill_between(xs, [m - s for m, s in zip(ms, sds)], [m + s for m, s in zip(ms, sds)], alpha=0.15)
            ax.set_title(f"held-out {key}")
            ax.set_xlabel("step")
        xs = [r["step"] for r in a["train"]]
        axes[3].plot(xs, [r["reward"][0] for r in a["train"]], label=name)
        axes[3].set_title("training reward (arm's own reward)")
        axes[3].set_xlabel("step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    from rubrics.io import atomic_path

    with atomic_path(path) as tmp:  # a unique temporary name: several workers may write the report at once
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def _f(ms: tuple[float, float], nd: int = 3) -> str:
    m, sd = ms
    return "-" if math.isnan(m) else f"{m:.{nd}f} +- {sd:.{nd}f}"


def _cell(r: dict[str, Any]) -> str:
    return f"{r['diff']:+.3f} [{r['lo']:+.3f}, {r['hi']:+.3f}]"


def comparisons_markdown(
    comps: list[dict[str, Any]], eff: dict[str, Any] | None, level: float, n_boot: int, window: int = 1
) -> list[str]:
    """The report's "Paired comparisons" and "Sample efficiency" sections."""
    L = []
    if comps:
        when = "final held-out" if window == 1 else f"held-out, per prompt the mean of the last {window} evaluations"
        L += [
            f"## Paired comparisons ({when}, arm - against)",
            "",
            f"Differences paired by seed and held-out prompt; {100 * level:.0f}% interval from a two-way bootstrap "
            f"({n_boot} resamples of seeds and, jointly, held-out prompts; fixed RNG seed). A comparison is won or "
            "lost only when the interval excludes 0.",
            "",
        ]
        if any(c["paired"] == "seed" for c in comps):
            L += [
                "Some runs have no per-prompt results (recorded before they existed): those comparisons are paired "
                "by seed only and resample seeds only - marked `seed` below.",
                "",
            ]
        L += [
            "| arm | against | paired | seeds x prompts | prompt strict [CI] | | rubric strict [CI] | | collapse |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for c in comps:
            p, r = c["prompt_strict"], c["rubric_strict"]
            col = "; ".join(f"{k}: seed {', '.join(map(str, v))}" for k, v in c["collapse"].items() if v) or "no"
            L.append(
                f"| {c['arm']} | {c['against']} | {c['paired']} | {p['seeds']} x "
                f"{p['prompts'] if c['paired'] != 'seed' else '-'} | {_cell(p)} | {p['decision']} | {_cell(r)} | "
                f"{r['decision']} | {col} |"
            )
        L += [""]
    if eff:
        L += [
            f"## Sample efficiency: steps to reach {eff['reference']}'s final held-out "
            f"{eff['metric'].replace('_', ' ')} ({eff['target']:.3f})",
            "",
            "Per seed the first evaluated step at or above it; the mean over the seeds that reach it.",
            "",
            "| arm | steps | per seed |",
            "|---|---|---|",
        ]
        for n, r in eff["arms"].items():
            per = ", ".join(f"{s}: {'-' if x is None else x}" for s, x in r["by_seed"].items())
            L.append(f"| {n} | {r['text']} | {per} |")
        L += [""]
    return L


def decoding_text(cfg: ExperimentConfig) -> str:
    """How the held-out answers were decoded, for the report's text."""
    if not cfg.eval_samples:
        return "greedy"
    return f"sampled ({cfg.eval_samples} answers per prompt at temperature {cfg.temperature}, pass rates their mean)"


def markdown(
    cfg: ExperimentConfig,
    arms: dict[str, Any],
    initial: dict[str, Any] | None,
    base: dict[str, Any] | None,
    line: str,
    extra: list[str],
    comps: list[dict[str, Any]] | None = None,
    eff: dict[str, Any] | None = None,
) -> str:
    L = [f"# Does it learn? `{cfg.name}`", "", f"**Summary:** {line}", ""]
    L += [f"- {x}" for x in extra]
    L += [""] + comparisons_markdown(comps or [], eff, cfg.report.level, cfg.report.n_boot, cfg.report.final_window)
    L += [
        "",
        f"Policy `{cfg.model}`; {cfg.steps} steps x {cfg.prompts_per_step} prompts x {cfg.num_generations} "
        f"completions, {cfg.max_completion_length} tokens, lr {cfg.learning_rate}, temperature {cfg.temperature}; "
        f"{cfg.task.train_prompts} train / {cfg.task.heldout_prompts} held-out prompts; {decoding_text(cfg)} held-out "
        f"evaluation every {cfg.eval_every} steps; seeds {cfg.seeds}.",
        "",
    ]
    if initial:
        L += [
            "## Initial pass rates (sampled on the train prompts, as in training)",
            "",
            f"{initial['samples']} samples: AON (all rubrics) {initial['aon']:.3f}, "
            f"rubric-level {initial['rubric']:.3f}; "
            "per rubric: " + ", ".join(f"{k} {v:.2f}" for k, v in initial["kinds"].items()) + ".",
        ]
        first = [
            a["train"][0]["rtt/groups/frac_zero_std"][0]
            for n, a in arms.items()
            if a["arm"]["reward"] == "aon" and a["train"]
        ]
        if first:
            L += [
                f"Groups with zero AON reward spread at the first step (all fail or all pass; AON arms): "
                f"{sum(first) / len(first):.2f}."
            ]
        L += [""]
    if base:
        L += [
            f"Initial policy on the held-out prompts ({decoding_text(cfg)}): "
            f"rubric strict {base['rubric_strict']:.3f}, prompt strict "
            f"{base['prompt_strict']:.3f}; per rubric: " + ", ".join(f"{k} {v:.2f}" for k, v in base["kinds"].items()),
            "",
        ]
    L += [
        "## Final held-out pass rates (mean +- std over seeds)",
        "",
        "| arm | seeds | rubric strict | rubric loose | prompt strict | prompt loose | collapse |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, a in arms.items():
        col = "; ".join(f"seed {s}: {', '.join(r)}" for s, r in a["collapse"].items()) or "no"
        L.append(f"| {n} | {len(a['seeds'])} | " + " | ".join(_f(a["final"][k]) for k in RATES) + f" | {col} |")
    L += ["", "## Per rubric kind at the end (strict, mean +- std)", ""]
    kinds = sorted({k for a in arms.values() for k in a["final_kinds"]})
    L += ["| arm | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for n, a in arms.items():
        L.append(f"| {n} | " + " | ".join(_f(a["final_kinds"].get(k, (float("nan"), 0.0)), 2) for k in kinds) + " |")
    L += [
        "",
        "## Training, diversity and drift",
        "",
        (
            "| arm | s/step | last reward | train AON (last 3) | train CSR (last 3) | groups zero adv | tok-adv std "
            "| words | distinct-2 | repetition | KL to init | ppl under init |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, a in arms.items():
        fin = a["final"]
        L.append(
            f"| {n} | {_f(a['seconds_per_step'], 1)} | {_f(a['reward_last'])} | {_f(a['train_aon_last3'])} | "
            f"{_f(a['train_csr_last3'])} | {_f(a['frac_zero_std_groups'], 2)} | "
            f"{_f(a['tok_adv_std'], 2)} | {_f(fin['mean_words'], 1)} | {_f(fin['distinct2'], 2)} | "
            f"{_f(fin['repetition'], 2)} | {_f(fin['kl_init'], 3)} | {_f(fin['ppl_init'], 1)} |"
        )
    L += ["", "## Curves (held-out rubric strict, mean +- std)", ""]
    for n, a in arms.items():
        L.append(f"- {n}: " + ", ".join(f"step {r['step']}: {_f(r['rubric_strict'])}" for r in a["curve"]))
    L += ["", "![curves](curves.png)", ""]
    return "\n".join(L)


def write_report(cfg: ExperimentConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    from rubrics.io import write_text

    out = Path(cfg.out)
    results = load_results(cfg)
    arms = aggregate(cfg, results)
    line = summary_line(arms)
    comps = comparisons(cfg, results, arms)
    extra = [c["line"] for c in comps]
    ref = next((b for b in cfg.report.baselines if b in results), None)
    eff = sample_efficiency(results, ref) if ref else None
    initial = (
        json.loads((out / "base" / "initial.json").read_text()) if (out / "base" / "initial.json").is_file() else None
    )
    base = json.loads((out / "base" / "eval.json").read_text()) if (out / "base" / "eval.json").is_file() else None
    if base:
        base = {k: v for k, v in base.items() if k not in ("responses", "per_prompt")}
    report = {
        "summary": line,
        "pairwise": extra,
        "comparisons": comps,
        "sample_efficiency": eff,
        "initial": initial,
        "base": base,
        "arms": arms,
        "config": cfg.model_dump(mode="json"),
        "runs_done": {n: sorted(r) for n, r in results.items()},
        "runs_expected": len(cfg.arms) * len(cfg.seeds),
    }
    write_text(out / "report.json", json.dumps(report, indent=1, default=str))
    plot(arms, out / "curves.png")
    write_text(out / "report.md", markdown(cfg, arms, initial, base, line, extra, comps, eff))
    log(line)
    for x in extra:
        log(x)
    return report
