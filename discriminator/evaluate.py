"""Evaluation of a discriminator against baselines on the item-disjoint test split.

Unit: the discriminator's tokens of each test response (the whole response, scored in windows where it is
longer than the model's input). Labels come from the rows' character spans (a token is relevant if any of
its characters is). Every method scores characters or tokens; character scores are projected onto the
discriminator's tokens with ``max``. Each method's decision threshold is tuned for F1 on the validation split
(the random baseline is thresholded at the validation base rate; the greedy labeler and all-relevant are
hard). Reported per method: precision, recall, F1, accuracy, AUROC; overall, per family, per data source and
per *positive source* (``template``: the bank's filler text, ``given``: existing responses, ``policy``: sampled
from the policy; read from the row's ``positive_source`` column or ``meta``, missing = ``template``), side by
side, since a discriminator that only works on template text is useless in RL. Transfer tables: per *response
source* (the model that wrote the response: ``meta.response_model``, else the positive source), per response
length (discriminator tokens: <=128, <=512, <=2048, longer) and the threshold transfer of the discriminator (F1
at the checkpoint's stored threshold, at the threshold used here, and the best F1 any threshold reaches on the
test tokens - an upper bound, not a result).

Calibration of the discriminator: expected calibration error (ECE) and a reliability diagram on the test split,
as scored (with the checkpoint's temperature, if any), and with a temperature fitted on this validation split.

A file without validation rows (``test_all``, or a test-only file) is evaluated with the checkpoint's
threshold; baselines that need tuning use 0.5 and say so in the notes.

Outputs in ``out``: ``metrics.json``, ``report.md``, ``pr_curve.png``, ``reliability.png``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discriminator.config import EvalConfig
from discriminator.data.schema import SpanRow
from discriminator.features import labels_from_spans
from discriminator.metrics import best_f1_threshold, pr_curve, token_metrics
from discriminator.projection import chars_to_tokens, tokens_to_chars
from discriminator.splits import assign_splits, by_split, check_item_disjoint, load_rows_with_report
from rubrics.io import write_text

log = logging.getLogger(__name__)
TRAIN_ITEMS_FILE = "train_items.json"
METRIC_KEYS = ("precision", "recall", "f1", "accuracy", "auroc")
POSITIVE_SOURCES = ("template", "given", "policy")
LENGTH_BUCKETS = (128, 512, 2048)  # response tokens (the discriminator's tokenizer); longer rows: ">2048"


def response_source(row: SpanRow) -> str:
    """Who wrote the response: ``meta.response_model`` (e.g. an AlpacaEval model name) where the row has one,
    else its positive source (``template`` / ``given`` / ``policy`` / ``llm``)."""
    model = row.meta.get("response_model")
    return str(model) if model else positive_source(row)


def length_bucket(n_tokens: int) -> str:
    """``<=128`` / ``<=512`` / ``<=2048`` / ``>2048`` response tokens."""
    for edge in LENGTH_BUCKETS:
        if n_tokens <= edge:
            return f"<={edge}"
    return f">{LENGTH_BUCKETS[-1]}"


def positive_source(row: SpanRow) -> str:
    """Where the pair's positive came from: the row's ``positive_source`` field or meta key, else ``template``."""
    return getattr(row, "positive_source", None) or row.meta.get("positive_source") or "template"


@dataclass
class SplitTokens:
    """Discriminator tokens of one split: per-row offsets and labels, family of each row."""

    rows: list[SpanRow]
    offsets: list[list[tuple[int, int]]]
    labels: list[np.ndarray]

    @property
    def flat_labels(self) -> np.ndarray:
        return np.concatenate(self.labels) if self.labels else np.zeros(0, dtype=np.int64)


@dataclass
class DiscEvalReport:
    out: Path | None
    overall: dict[str, dict[str, float]]
    per_family: dict[str, dict[str, dict[str, float]]]
    per_source: dict[str, dict[str, dict[str, float]]]
    per_positive_source: dict[str, dict[str, dict[str, float]]]
    calibration: dict[str, Any]
    notes: dict[str, str]
    counts: dict[str, int]
    seconds: float
    markdown: str = ""
    files: dict[str, str] = field(default_factory=dict)
    # the same scores and thresholds on the response's non-space characters (a character takes the max over the
    # tokens covering it): comparable across tokenizers (case markers on/off, MiniLM vs a decoder backbone)
    characters: dict[str, dict[str, float]] = field(default_factory=dict)
    per_response_source: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    per_length: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # discriminator only: group ("overall", "source: X", "length: <=512") -> F1 at the stored / used threshold and
    # the best-on-test F1 with its threshold
    threshold_transfer: dict[str, dict[str, float]] = field(default_factory=dict)


EvalReport = DiscEvalReport  # its name before the policy's report and this one got distinct names


def sample_rows(rows: list[SpanRow], n: int | None, seed: int) -> list[SpanRow]:
    """A seeded random subset of ``n`` rows (all when ``n`` is None or not smaller), in the original order."""
    if not n or n >= len(rows):
        return rows
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=n, replace=False))
    return [rows[i] for i in keep]


def _tokens(scorer, rows: Sequence[SpanRow]) -> SplitTokens:
    if not rows:  # the tokenizer fails on an empty batch
        return SplitTokens([], [], [])
    ids, offsets = scorer.encoder.tokenize_responses([r.response for r in rows])
    labels = [np.asarray(labels_from_spans(o, r.char_spans, len(r.response))) for o, r in zip(offsets, rows)]
    return SplitTokens(list(rows), offsets, labels)


def _from_chars(split: SplitTokens, char_fn: Callable[[SpanRow], np.ndarray]) -> list[np.ndarray]:
    return [chars_to_tokens(char_fn(r), o, "max") for r, o in zip(split.rows, split.offsets)]


def char_metrics(split: SplitTokens, scores: list[np.ndarray], thr: float) -> dict[str, float]:
    """Token metrics on characters: each non-space character a token covers gets the max score of those tokens
    and its own gold label (from the row's character spans)."""
    ss, ys = [], []
    for r, offs, sc in zip(split.rows, split.offsets, scores):
        chars = tokens_to_chars(offs, sc, len(r.response))
        gold = np.asarray(r.char_labels, dtype=np.int64)
        keep = ~np.isnan(chars) & np.array([not c.isspace() for c in r.response], dtype=bool)
        ss.append(chars[keep])
        ys.append(gold[keep])
    flat_s = np.concatenate(ss) if ss else np.zeros(0)
    flat_y = np.concatenate(ys) if ys else np.zeros(0, dtype=np.int64)
    return token_metrics(flat_s, flat_y, thr)


def _group_metrics(split: SplitTokens, scores: list[np.ndarray], thr: float, key) -> dict[str, dict[str, float]]:
    return _grouped(split, scores, thr, [key(r) for r in split.rows])


def _groups(keys: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        groups[k].append(i)
    return groups


def _grouped(
    split: SplitTokens, scores: list[np.ndarray], thr: float, keys: Sequence[str]
) -> dict[str, dict[str, float]]:
    groups = _groups(keys)
    out = {}
    for g, idx in sorted(groups.items()):
        s = np.concatenate([scores[i] for i in idx])
        y = np.concatenate([split.labels[i] for i in idx])
        out[g] = token_metrics(s, y, thr)
    return out


def evaluate(cfg: EvalConfig, *, progress: Callable[[str], None] | None = None, scorer=None) -> DiscEvalReport:
    """Score the test split with the discriminator and every configured baseline; write the report files."""
    from discriminator.scoring import RelevanceScorer

    t0 = time.time()
    say = progress or (lambda msg: log.info(msg))
    rows, resolution = load_rows_with_report(cfg.data, human_labels=cfg.human_labels, adjudicators=cfg.adjudicators)
    model_dir = Path(cfg.model)
    if scorer is None:
        scorer = RelevanceScorer.from_pretrained(model_dir, token_budget=cfg.batch_token_budget)
    extra = scorer.meta.extra
    if cfg.test_all:
        rows = [r.model_copy(update={"split": "test"}) for r in rows]
    rows = assign_splits(
        rows, extra.get("val_fraction", 0.1), extra.get("test_fraction", 0.1), extra.get("split_seed", 0)
    )
    splits = by_split(rows)
    train_rows, val_rows, test_rows = splits["train"], splits["val"], splits["test"]
    if not test_rows:
        raise ValueError(
            f"{cfg.data}: no test rows (split == 'test'); pass test_all (--test-all) to evaluate "
            "every row of a held-out file"
        )
    test_rows = sample_rows(test_rows, cfg.max_test_rows, cfg.seed)
    val_rows = sample_rows(val_rows, cfg.max_val_rows, cfg.seed)
    check_item_disjoint(train_rows, test_rows, ("train", "test"))
    check_item_disjoint(val_rows, test_rows, ("val", "test"))
    trained_on = model_dir / TRAIN_ITEMS_FILE
    if trained_on.is_file():
        seen = set(json.loads(trained_on.read_text(encoding="utf-8")))
        leaked = sorted({r.item_id for r in test_rows} & seen)
        if leaked:
            raise ValueError(f"{len(leaked)} test item(s) were in the model's training set ({', '.join(leaked[:5])})")

    val, test = _tokens(scorer, val_rows), _tokens(scorer, test_rows)
    y_val, y_test = val.flat_labels, test.flat_labels
    base_rate = float(y_val.mean()) if len(y_val) else float(y_test.mean())

    methods: dict[str, tuple[list[np.ndarray], list[np.ndarray] | None, str]] = {}  # name -> test, val, how
    notes: dict[str, str] = {}
    if not val_rows:
        notes["thresholds"] = (
            f"no validation rows: the discriminator uses the checkpoint's threshold "
            f"{scorer.threshold:.3f}; tuned baselines use 0.5"
        )
    if resolution is not None and (resolution.human_resolved or resolution.disputed):
        notes["labels"] = (
            f"{resolution.human_resolved} pairs labelled by human review ({resolution.policy}), "
            f"{resolution.auto_replaced} automatic rows replaced, {len(resolution.disputed)} "
            "disputed pairs left out"
        )

    def disc_scores(split: SplitTokens) -> list[np.ndarray]:
        if not split.rows:
            return []
        ids, _ = scorer.encoder.tokenize_responses([r.response for r in split.rows])
        return scorer._score_ids([r.criteria for r in split.rows], ids)

    say(f"discriminator: scoring {len(val_rows)} val + {len(test_rows)} test rows")
    methods["discriminator"] = (disc_scores(test), disc_scores(val), "tune")
    if "all_relevant" in cfg.baselines:
        methods["all-relevant"] = ([np.ones(len(x), np.float32) for x in test.labels], None, "hard")
    if "random" in cfg.baselines:
        from discriminator.baselines import random_token_scores

        rng = np.random.default_rng(cfg.seed)
        methods["random (base rate)"] = ([random_token_scores(len(x), rng) for x in test.labels], None, "random")
    if "lexical" in cfg.baselines:
        from discriminator.baselines import lexical_chars

        say("lexical overlap baseline")
        lex = lambda r: lexical_chars(r.criteria, r.response)  # noqa: E731
        methods["lexical overlap"] = (_from_chars(test, lex), _from_chars(val, lex), "tune")
    if "cort" in cfg.baselines:
        try:
            from discriminator.baselines import CoRTScorer

            cort = CoRTScorer(cfg.cort_policy, max_length=cfg.cort_max_length)
            say(f"CoRT baseline with {cort.name}")

            def cort_split(split: SplitTokens) -> list[np.ndarray]:
                if not split.rows:
                    return []
                chars = cort.char_scores(
                    [r.criteria for r in split.rows],
                    [r.response for r in split.rows],
                    [r.instruction for r in split.rows],
                    progress=say,
                )
                return [chars_to_tokens(c, o, "max") for c, o in zip(chars, split.offsets)]

            methods["CoRT (policy LM contrast)"] = (cort_split(test), cort_split(val), "tune")
            notes["CoRT (policy LM contrast)"] = f"policy model: {cort.name}"
        except (OSError, FileNotFoundError, ImportError) as exc:
            notes["CoRT (policy LM contrast)"] = f"skipped: {exc}"
    if "greedy" in cfg.baselines:
        name = "greedy LLM labeler"
        if cfg.greedy_base_url and cfg.greedy_model:
            from discriminator.baselines import greedy_char_scores
            from rubrics.llm import LLMConfig

            say(f"greedy LLM labeler: {len(test_rows)} requests to {cfg.greedy_base_url}")
            llm = LLMConfig(
                base_url=cfg.greedy_base_url, model=cfg.greedy_model, max_concurrency=cfg.greedy_max_concurrency
            )
            chars, gstats = greedy_char_scores([(r.criteria, r.response) for r in test_rows], llm)
            methods[name] = ([chars_to_tokens(c, o, "max") for c, o in zip(chars, test.offsets)], None, "hard")
            notes[name] = (
                f"model {cfg.greedy_model}: {gstats['failed']}/{gstats['pairs']} answers unusable "
                f"(counted as nothing relevant), {gstats['unmatched_quotes']} quotes not found"
            )
        else:
            notes[name] = "skipped: no LLM endpoint configured (greedy_base_url / greedy_model)"

    overall, per_family, per_source, per_pos, curves, characters = {}, {}, {}, {}, {}, {}
    per_resp, per_len, transfer = {}, {}, {}
    resp_keys = [response_source(r) for r in test.rows]
    len_keys = [length_bucket(len(lab)) for lab in test.labels]
    for name, (test_scores, val_scores, how) in methods.items():
        if how == "tune" and val_scores is not None and len(y_val) and y_val.sum() > 0:
            thr, _ = best_f1_threshold(np.concatenate(val_scores), y_val)
        elif how == "tune" and name == "discriminator":
            thr = scorer.threshold
        elif how == "random":
            thr = 1.0 - base_rate
        else:
            thr = 0.5
        flat = np.concatenate(test_scores) if test_scores else np.zeros(0)
        overall[name] = token_metrics(flat, y_test, thr)
        characters[name] = char_metrics(test, test_scores, thr)
        per_family[name] = _group_metrics(test, test_scores, thr, lambda r: r.family)
        per_source[name] = _group_metrics(test, test_scores, thr, lambda r: r.family.split(":", 1)[0])
        per_pos[name] = _group_metrics(test, test_scores, thr, positive_source)
        per_resp[name] = _grouped(test, test_scores, thr, resp_keys)
        per_len[name] = _grouped(test, test_scores, thr, len_keys)
        if name == "discriminator":
            transfer = threshold_transfer(
                test, test_scores, float(scorer.threshold), thr, {"source": resp_keys, "length": len_keys}
            )
        if how != "hard":
            curves[name] = pr_curve(flat, y_test)

    calibration = _calibration(methods["discriminator"], y_val, y_test, scorer.meta.temperature, cfg.calibration_bins)
    counts = {
        "train_rows": len(train_rows),
        "val_rows": len(val_rows),
        "test_rows": len(test_rows),
        "test_tokens": int(len(y_test)),
        "test_positive_tokens": int(y_test.sum()),
        "test_items": len({r.item_id for r in test_rows}),
        "test_subset": int(bool(cfg.max_test_rows and cfg.max_test_rows < len(splits["test"]))),
    }
    report = DiscEvalReport(
        cfg.out,
        overall,
        per_family,
        per_source,
        per_pos,
        {k: v for k, v in calibration.items() if k != "bins"},
        notes,
        counts,
        time.time() - t0,
        characters=characters,
        per_response_source=per_resp,
        per_length=per_len,
        threshold_transfer=transfer,
    )
    report.markdown = render_markdown(report, model_dir, cfg.data)
    if cfg.out is not None:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        from discriminator.plots import plot_pr_curves, plot_reliability

        plot_pr_curves(curves, float(y_test.mean()) if len(y_test) else 0.0, out / "pr_curve.png")
        plot_reliability(
            calibration["bins"],
            out / "reliability.png",
            f"Discriminator reliability, test split (ECE {_fmt(calibration['ece'])})",
        )
        payload = {
            "model": str(model_dir),
            "data": str(cfg.data),
            "counts": counts,
            "overall": overall,
            "per_family": per_family,
            "per_source": per_source,
            "per_positive_source": per_pos,
            "characters": characters,
            "per_response_source": per_resp,
            "per_length": per_len,
            "threshold_transfer": transfer,
            "calibration": report.calibration,
            "notes": notes,
            "seconds": report.seconds,
        }
        write_text(out / "metrics.json", json.dumps(payload, indent=2, default=_json_default) + "\n")
        write_text(out / "report.md", report.markdown)
        report.files = {
            "metrics": str(out / "metrics.json"),
            "report": str(out / "report.md"),
            "pr_curve": str(out / "pr_curve.png"),
            "reliability": str(out / "reliability.png"),
        }
    return report


def threshold_transfer(
    split: SplitTokens, scores: list[np.ndarray], stored: float, used: float, by: dict[str, Sequence[str]]
) -> dict[str, dict[str, float]]:
    """F1 at the checkpoint's ``stored`` threshold and at the ``used`` one (tuned on this file's validation split
    where it has one) next to the best F1 any threshold reaches on these test tokens, overall and per group of
    each ``by`` key (``{"source": [key per row], ...}`` -> groups ``"source: X"``)."""

    def one(idx: Sequence[int]) -> dict[str, float]:
        s = np.concatenate([scores[i] for i in idx]) if len(idx) else np.zeros(0)
        y = np.concatenate([split.labels[i] for i in idx]) if len(idx) else np.zeros(0, dtype=np.int64)
        best_thr, best = best_f1_threshold(s, y)
        return {
            "stored_threshold": stored,
            "f1_stored": token_metrics(s, y, stored)["f1"],
            "used_threshold": used,
            "f1_used": token_metrics(s, y, used)["f1"],
            "best_threshold": best_thr,
            "f1_best": best,
            "tokens": int(len(y)),
        }

    out = {"overall": one(range(len(split.rows)))}
    for kind, keys in by.items():
        for g, idx in sorted(_groups(keys).items()):
            out[f"{kind}: {g}"] = one(idx)
    return out


def _calibration(disc, y_val: np.ndarray, y_test: np.ndarray, temperature: float, n_bins: int) -> dict[str, Any]:
    """ECE / log-loss / Brier of the discriminator on test: as scored, and with a temperature fitted on val."""
    from discriminator.calibration import calibration_summary, fit_temperature, logit, reliability_bins, sigmoid

    test_scores, val_scores, _ = disc
    p_test = np.concatenate(test_scores) if test_scores else np.zeros(0)
    out: dict[str, Any] = {"checkpoint_temperature": float(temperature), **calibration_summary(p_test, y_test, n_bins)}
    bins = {
        "as scored" + (f" (T={temperature:.2f})" if temperature != 1.0 else ""): reliability_bins(
            p_test, y_test, n_bins
        )
    }
    if val_scores and len(y_val) and 0 < y_val.sum() < len(y_val):
        # the scores already carry the checkpoint's temperature: fit a further factor on validation logits
        t = fit_temperature(logit(np.concatenate(val_scores)), y_val)
        scaled = sigmoid(logit(p_test) / t)
        out["val_fitted_temperature"] = float(t * temperature)
        out["after_val_temperature"] = calibration_summary(scaled, y_test, n_bins)
        bins[f"temperature-scaled on val (T={t * temperature:.2f})"] = reliability_bins(scaled, y_test, n_bins)
    out["bins"] = bins
    return out


def _json_default(x: Any):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def render_markdown(report: DiscEvalReport, model: Path, data: Path) -> str:
    c = report.counts
    lines = [
        "# Token-level relevance discriminator: evaluation",
        "",
        f"Model `{model}`, data `{data}`. Test split: {c['test_rows']} rows from {c['test_items']} items "
        f"(item-disjoint from train{', a seeded random subset' if c.get('test_subset') else ''}), "
        f"{c['test_tokens']} response tokens, {c['test_positive_tokens']} relevant "
        f"(base rate {c['test_positive_tokens'] / max(1, c['test_tokens']):.3f}). Thresholds tuned for F1 on "
        f"validation ({c['val_rows']} rows).",
        "",
        "| method | precision | recall | F1 | AUROC | accuracy | threshold |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in report.overall.items():
        lines.append(
            f"| {name} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | "
            f"{_fmt(m['auroc'])} | {_fmt(m['accuracy'])} | {m['threshold']:.3g} |"
        )
    if report.characters:
        lines += [
            "",
            "## Character level (non-space characters; comparable across tokenizers)",
            "",
            "| method | precision | recall | F1 | AUROC | characters |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in report.characters.items():
            lines.append(
                f"| {name} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} | "
                f"{_fmt(m['auroc'])} | {m['tokens']} |"
            )
    cal = report.calibration
    lines += [
        "",
        "## Calibration (discriminator, test tokens)",
        "",
        "| probabilities | ECE | log-loss | Brier |",
        "|---|---|---|---|",
        f"| as scored (checkpoint temperature {cal['checkpoint_temperature']:.3g}) | {_fmt(cal['ece'])} | "
        f"{_fmt(cal['log_loss'])} | {_fmt(cal['brier'])} |",
    ]
    if "after_val_temperature" in cal:
        a = cal["after_val_temperature"]
        lines.append(
            f"| temperature {cal['val_fitted_temperature']:.3g} fitted on validation | {_fmt(a['ece'])} | "
            f"{_fmt(a['log_loss'])} | {_fmt(a['brier'])} |"
        )
    lines += ["", "Reliability diagram: `reliability.png`."]
    if report.threshold_transfer:
        lines += [
            "",
            "## Threshold transfer (discriminator)",
            "",
            "F1 at the checkpoint's stored threshold, at the threshold used above, and the best F1 any "
            "threshold reaches on these test tokens (an upper bound, tuned on test).",
            "",
            "| group | tokens | F1 stored (thr) | F1 used (thr) | best F1 on test (thr) |",
            "|---|---|---|---|---|",
        ]
        for g, t in report.threshold_transfer.items():
            lines.append(
                f"| {g} | {t['tokens']} | {_fmt(t['f1_stored'])} ({t['stored_threshold']:.3g}) | "
                f"{_fmt(t['f1_used'])} ({t['used_threshold']:.3g}) | {_fmt(t['f1_best'])} "
                f"({t['best_threshold']:.3g}) |"
            )
    for title, table in (
        ("response source", report.per_response_source),
        ("response length (tokens)", report.per_length),
        ("positive source", report.per_positive_source),
        ("source", report.per_source),
        ("family", report.per_family),
    ):
        groups = sorted({g for per in table.values() for g in per})
        if not groups:
            continue
        names = list(table)
        lines += [
            "",
            f"## F1 / AUROC per {title}",
            "",
            f"| {title} | tokens | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for g in groups:
            first = next(iter(table.values()))[g]
            cells = [f"{_fmt(table[n][g]['f1'])} / {_fmt(table[n][g]['auroc'])}" for n in names]
            lines.append(f"| {g} | {first['tokens']} | " + " | ".join(cells) + " |")
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- **{k}**: {v}" for k, v in report.notes.items()]
    return "\n".join(lines) + "\n"
