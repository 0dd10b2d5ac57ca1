"""The learning report's statistics (grpo/experiment/stats.py) on constructed examples whose answers are
computed by hand, and the report's use of them (pairing, fallback without per-prompt results, wording).

No model, no torch: fast."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grpo.experiment.stats import (
    comparison_line,
    comparison_pairs,
    decide,
    draw_counts,
    first_step_reaching,
    paired_bootstrap,
    paired_matrices,
    reach_text,
    resampled_means,
    shuffled_control,
    steps_to_reach,
    uniform_control,
    weighted_mean,
)

# ----------------------------------------------------------------------------------------------- bootstrap


def test_resampled_means_by_hand():
    d = np.array([[1.0, 2.0], [3.0, 4.0]])
    # seed 0 twice, both prompts once: mean(1, 2, 1, 2) = 1.5
    # both seeds, prompt 1 twice: mean(2, 2, 4, 4) = 3
    # everything once, prompt weights 1 and 3: (1 + 3*2 + 3 + 3*4) / (2 * 4) = 2.75
    cs = np.array([[2, 0], [1, 1], [1, 1]])
    cp = np.array([[1, 1], [0, 2], [1, 1]])
    np.testing.assert_allclose(resampled_means(d, cs[:2], cp[:2]), [1.5, 3.0])
    np.testing.assert_allclose(resampled_means(d, cs[2:], cp[2:], weights=np.array([1.0, 3.0])), [2.75])
    assert weighted_mean(d, np.array([1.0, 3.0])) == pytest.approx(2.75)


def test_resampled_means_equal_explicit_indexing():
    rng = np.random.default_rng(3)
    d = rng.normal(size=(4, 7))
    cs, cp = draw_counts(rng, 4, 50), draw_counts(rng, 7, 50)
    assert cs.shape == (50, 4) and (cs.sum(1) == 4).all() and (cp.sum(1) == 7).all()
    explicit = [d[np.repeat(np.arange(4), cs[r])][:, np.repeat(np.arange(7), cp[r])].mean() for r in range(50)]
    np.testing.assert_allclose(resampled_means(d, cs, cp), explicit)


def test_identical_arms_give_a_degenerate_interval_at_zero():
    a = np.array([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 0]], dtype=float)
    r = paired_bootstrap(a, a.copy())
    assert (r["diff"], r["lo"], r["hi"]) == (0.0, 0.0, 0.0)
    assert r["decision"] == "no difference" and (r["seeds"], r["prompts"]) == (3, 4)


def test_an_arm_that_wins_every_cell_excludes_zero_with_the_exact_mean():
    a, b = np.ones((3, 5)), np.zeros((3, 5))
    r = paired_bootstrap(a, b)
    assert (r["diff"], r["lo"], r["hi"], r["decision"]) == (1.0, 1.0, 1.0, "wins")
    assert paired_bootstrap(b, a)["decision"] == "loses"


def test_interval_by_hand_one_prompt_of_four_tied():
    # a passes all 4 prompts, b passes prompt 0: d = (0, 1, 1, 1) on every seed, diff 0.75 exactly.
    # A resample's mean is (4 - k) / 4 with k ~ Binomial(4, 1/4) picks of prompt 0 (seeds do not matter):
    # P(k = 4) = 0.004 < 0.025 <= P(k >= 3) = 0.051 -> 2.5 % quantile 0.25; P(k = 0) = 0.32 -> 97.5 % quantile 1.
    a = np.ones((3, 4))
    b = np.zeros((3, 4))
    b[:, 0] = 1
    r = paired_bootstrap(a, b, n_boot=20_000)
    assert r["diff"] == 0.75 and r["lo"] == pytest.approx(0.25) and r["hi"] == pytest.approx(1.0)
    assert r["decision"] == "wins"


def test_interval_by_hand_two_prompts_and_the_level():
    # one seed, d = (0, 1): resampled means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4
    a, b = np.array([[0.0, 1.0]]), np.zeros((1, 2))
    r = paired_bootstrap(a, b, n_boot=20_000)
    assert (r["diff"], r["lo"], r["hi"], r["decision"]) == (0.5, 0.0, 1.0, "no difference")
    narrow = paired_bootstrap(a, b, n_boot=20_000, level=0.4)  # 30 % and 70 % quantiles: both inside the 0.5 mass
    assert (narrow["lo"], narrow["hi"], narrow["decision"]) == (0.5, 0.5, "wins")


def test_seed_only_column_by_hand():
    # the fallback shape (seeds, 1): d = (0.2, 0.4) -> resampled means 0.2, 0.3, 0.4 (1/4, 1/2, 1/4)
    r = paired_bootstrap(np.array([[0.7], [0.9]]), np.array([[0.5], [0.5]]), n_boot=20_000)
    assert r["diff"] == pytest.approx(0.3) and r["lo"] == pytest.approx(0.2) and r["hi"] == pytest.approx(0.4)
    assert r["prompts"] == 1 and r["decision"] == "wins"


def test_both_seeds_and_prompts_are_resampled():
    # rows equal (no seed variation): only resampling prompts can widen the interval
    by_prompt = np.tile([0.0, 1.0, 0.0, 1.0], (3, 1))
    r = paired_bootstrap(by_prompt, np.zeros_like(by_prompt))
    assert r["lo"] < 0.5 < r["hi"]
    # columns equal (no prompt variation): only resampling seeds can widen it
    by_seed = np.tile([[0.0], [1.0], [0.0], [1.0]], (1, 5))
    r = paired_bootstrap(by_seed, np.zeros_like(by_seed))
    assert r["lo"] < 0.5 < r["hi"]


def test_bootstrap_is_deterministic_and_checks_shapes():
    rng = np.random.default_rng(0)
    a, b = (rng.random((5, 30)) < 0.5).astype(float), (rng.random((5, 30)) < 0.5).astype(float)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
    with pytest.raises(ValueError, match="equal non-empty"):
        paired_bootstrap(a, b[:, :3])
    assert decide(-0.1, 0.2) == "no difference" and decide(0.0, 0.0) == "no difference"


# ----------------------------------------------------------------------------------------------- pairing


def test_paired_matrices_align_seeds_and_item_ids():
    a = {0: (["p1", "p2", "p3"], [1, 0, 1]), 1: (["p1", "p2", "p3"], [0, 0, 1]), 2: (["p1", "p2", "p3"], [1, 1, 1])}
    b = {0: (["p3", "p1", "p2"], [0, 1, 1]), 1: (["p2", "p1"], [1, 1])}  # other order; seed 1 lacks p3; no seed 2
    A, B, seeds, ids, w = paired_matrices(a, b, weights={0: [5, 4, 3], 1: [5, 4, 3], 2: [5, 4, 3]})
    assert seeds == [0, 1] and ids == ["p1", "p2"]
    np.testing.assert_array_equal(A, [[1, 0], [0, 0]])
    np.testing.assert_array_equal(B, [[1, 1], [1, 1]])
    np.testing.assert_array_equal(w, [5, 4])
    assert paired_matrices(a, {7: (["p1"], [1])}) is None
    assert paired_matrices(a, {0: (["zz"], [1])}) is None


# ----------------------------------------------------------------------------------------------- sample efficiency


def test_steps_to_reach_on_a_constructed_history():
    assert first_step_reaching([0, 4, 8, 12], [0.0, 0.2, 0.5, 0.4], 0.5) == 8
    assert first_step_reaching([0, 4, 8], [0.1, None, 0.3], 0.5) is None
    assert first_step_reaching([0, 4], [0.1, 0.3 - 1e-12], 0.3) == 4  # float noise of a mean of fractions
    runs = {0: ([0, 4, 8], [0.0, 0.5, 0.6]), 1: ([0, 4, 8], [0.0, 0.25, 0.5]), 2: ([0, 4, 8], [0.0, 0.25, 0.25])}
    r = steps_to_reach(runs, 0.5)
    assert r["by_seed"] == {0: 4, 1: 8, 2: None} and r["reached"] == 2 and r["mean_step"] == 6.0
    assert reach_text(r) == "step 6.0 on the 2/3 seeds that reach it, not reached on 1"
    assert reach_text(steps_to_reach({0: runs[0], 1: runs[1]}, 0.5)) == "step 6.0 (2/2 seeds)"
    assert reach_text(steps_to_reach(runs, 0.9)) == "not reached"


# ----------------------------------------------------------------------------------------------- which comparisons


def test_comparisons_derived_from_arm_names():
    names = ["grpo-aon", "gdpo", "rtt", "rtt-shuffled", "rtt-centred-oracle", "rtt-centred-shuffled"]
    pairs = comparison_pairs(names, token_arms=["rtt", "rtt-shuffled", "rtt-centred-oracle", "rtt-centred-shuffled"])
    assert pairs[:6] == [
        ("gdpo", "grpo-aon"),
        ("rtt", "grpo-aon"),
        ("rtt-shuffled", "grpo-aon"),
        ("rtt-centred-oracle", "grpo-aon"),
        ("rtt-centred-shuffled", "grpo-aon"),
        ("rtt", "gdpo"),
    ]
    assert ("grpo-aon", "gdpo") not in pairs and ("gdpo", "gdpo") not in pairs
    assert pairs[-2:] == [("rtt", "rtt-shuffled"), ("rtt-centred-oracle", "rtt-centred-shuffled")]
    assert len(pairs) == len(set(pairs))
    assert comparison_pairs(names, controls=False)[-1] == ("rtt-centred-shuffled", "gdpo")
    assert comparison_pairs(["grpo-csr", "rtt"], baselines=("grpo-aon",)) == []  # no baseline, no control
    assert shuffled_control("rtt-oracle", ["rtt-oracle-x"]) is None
    assert shuffled_control("rtt-shuffled", ["rtt-shuffled-shuffled"]) is None


def test_localisation_control_is_compared_after_the_shuffled_one():
    names = ["grpo-aon", "rtt-centred-oracle", "rtt-centred-shuffled", "rtt-centred-uniform", "rtt-centred-disc"]
    pairs = comparison_pairs(names)
    assert pairs[-4:] == [
        ("rtt-centred-oracle", "rtt-centred-shuffled"),
        ("rtt-centred-oracle", "rtt-centred-uniform"),
        ("rtt-centred-disc", "rtt-centred-shuffled"),
        ("rtt-centred-disc", "rtt-centred-uniform"),
    ]
    assert (
        uniform_control("rtt-centred-uniform", names) is None and uniform_control("rtt-centred-shuffled", names) is None
    )
    assert uniform_control("rtt-paper-oracle", names) is None  # no rtt-paper-uniform arm
    assert ("rtt-centred-uniform", "grpo-aon") in pairs and len(pairs) == len(set(pairs))


# ----------------------------------------------------------------------------------------------- wording


def _r(diff, lo, hi, s=5, p=100):
    return {"diff": diff, "lo": lo, "hi": hi, "level": 0.95, "seeds": s, "prompts": p, "decision": decide(lo, hi)}


def test_summary_line_wording():
    win = comparison_line("rtt-centred-oracle", "grpo-aon", _r(0.071, 0.02, 0.12), _r(0.01, -0.01, 0.03), {})
    assert win == (
        "rtt-centred-oracle vs grpo-aon: +0.071 prompt strict [95% CI +0.020, +0.120], wins (interval "
        "excludes 0); +0.010 rubric strict [95% CI -0.010, +0.030], no difference; 5 seeds x 100 prompts; "
        "no collapse"
    )
    tie = comparison_line("a", "b", _r(0.01, -0.03, 0.05), None, {"a": [], "b": [2]})
    assert "no difference (interval contains 0)" in tie and "collapse: b on seed(s) 2" in tie
    lose = comparison_line("a", "b", _r(-0.1, -0.2, -0.01), None, {"a": [0, 1]})
    assert "loses (interval excludes 0)" in lose and "gain comes with collapse" not in lose
    gamed = comparison_line("a", "b", _r(0.1, 0.05, 0.2), None, {"a": [0, 1]})
    assert gamed.endswith("collapse: a on seed(s) 0, 1 - a's gain comes with collapse")
    seed_only = comparison_line("a", "b", _r(0.1, -0.1, 0.3, s=3, p=1), None, {}, paired="seed")
    assert (
        "3 seeds, paired by seed only (no per-prompt results in these runs)" in seed_only
        and "x 1 prompts" not in seed_only
    )


# ----------------------------------------------------------------------------------------------- the report


def _result(arm, seed, finals, per_prompt=True, ids=("h0", "h1", "h2", "h3")):
    """A result.json of one run: evaluations at steps 0, 2, 4, the last with per-prompt ``finals`` (0/1)."""

    def ev(step, passes):
        e = {
            "step": step,
            "prompt_strict": sum(passes) / len(passes),
            "prompt_loose": sum(passes) / len(passes),
            "rubric_strict": 0.5 + 0.5 * sum(passes) / len(passes),
            "rubric_loose": 0.6,
            "prompts": len(passes),
            "rubrics": 2 * len(passes),
            "kinds": {"words": 1.0},
            "mean_words": 20.0,
            "distinct2": 0.8,
            "repetition": 0.1,
            "kl_init": 0.0,
            "ppl_init": 3.0,
        }
        if per_prompt:
            e["per_prompt"] = {
                "item_ids": list(ids),
                "prompt_strict": list(passes),
                "prompt_loose": list(passes),
                "rubric_strict": [0.5 + 0.5 * x for x in passes],
                "rubric_loose": [0.6] * len(passes),
                "rubrics": [2] * len(passes),
            }
        return e

    zeros = [0] * len(finals)
    half = [1 if i < sum(finals) // 2 else 0 for i in range(len(finals))]
    return {
        "arm": arm.model_dump(),
        "seed": seed,
        "step_seconds": [1.0, 1.0],
        "train": [{"step": 1, "reward": 0.1}, {"step": 2, "reward": 0.2}],
        "evals": [ev(0, zeros), ev(2, half), ev(4, list(finals))],
    }


def _write(cfg, finals_by_arm, per_prompt=lambda arm, seed: True):
    from pathlib import Path

    for arm in cfg.arms:
        for seed in cfg.seeds:
            p = Path(cfg.out) / "runs" / arm.name / f"seed{seed}" / "result.json"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(_result(arm, seed, finals_by_arm[arm.name][seed], per_prompt(arm.name, seed))))


def _cfg(tmp_path):
    from grpo.experiment.config import ExperimentConfig

    return ExperimentConfig.model_validate(
        {
            "out": str(tmp_path / "exp"),
            "model": "x",
            "discriminator": "d",
            "seeds": [0, 1, 2],
            "steps": 4,
            "arms": [
                {"name": "grpo-aon"},
                {"name": "rtt", "beta": 0.5, "relevance": "discriminator"},
                {"name": "rtt-shuffled", "beta": 0.5, "relevance": "shuffled"},
            ],
            "report": {"n_boot": 2000},
        }
    )


FINALS = {
    "grpo-aon": {s: [0, 0, 1, 0] for s in range(3)},
    "rtt": {s: [1, 1, 1, 1] for s in range(3)},
    "rtt-shuffled": {s: [0, 0, 1, 0] for s in range(3)},
}


def test_report_pairs_by_prompt_and_states_it(tmp_path):
    from grpo.experiment.report import write_report

    cfg = _cfg(tmp_path)
    _write(cfg, FINALS)
    rep = write_report(cfg, log=lambda _m: None)
    comps = {(c["arm"], c["against"]): c for c in rep["comparisons"]}
    assert list(comps) == [("rtt", "grpo-aon"), ("rtt-shuffled", "grpo-aon"), ("rtt", "rtt-shuffled")]
    c = comps[("rtt", "grpo-aon")]
    # d = (1, 1, 0, 1) on every seed: diff 0.75, interval [0.25, 1] (by hand, see above)
    assert c["paired"] == "seed x prompt" and c["prompt_strict"]["diff"] == 0.75
    assert c["prompt_strict"]["lo"] == pytest.approx(0.25) and c["prompt_strict"]["decision"] == "wins"
    assert c["rubric_strict"]["diff"] == pytest.approx(0.375)
    assert c["line"].startswith("rtt vs grpo-aon: +0.750 prompt strict [95% CI +0.250, +1.000], wins")
    assert "3 seeds x 4 prompts; no collapse" in c["line"]
    tie = comps[("rtt-shuffled", "grpo-aon")]
    assert (tie["prompt_strict"]["lo"], tie["prompt_strict"]["hi"], tie["prompt_strict"]["decision"]) == (
        0.0,
        0.0,
        "no difference",
    )
    assert rep["pairwise"] == [x["line"] for x in rep["comparisons"]]
    # sample efficiency: grpo-aon's final mean is 0.25; rtt has 0.5 at step 2, grpo-aon itself reaches it at step 4
    eff = rep["sample_efficiency"]
    assert eff["reference"] == "grpo-aon" and eff["target"] == 0.25
    assert eff["arms"]["rtt"]["by_seed"] == {0: 2, 1: 2, 2: 2} and eff["arms"]["grpo-aon"]["mean_step"] == 4.0
    md = (tmp_path / "exp" / "report.md").read_text()
    assert (
        "## Paired comparisons" in md
        and "| rtt | grpo-aon | seed x prompt | 3 x 4 | +0.750 [+0.250, +1.000] | wins |" in md
    )
    assert "## Sample efficiency: steps to reach grpo-aon's final held-out prompt strict (0.250)" in md
    assert "| rtt | step 2.0 (3/3 seeds) | 0: 2, 1: 2, 2: 2 |" in md
    assert "## Final held-out pass rates" in md and "![curves](curves.png)" in md
    json.loads((tmp_path / "exp" / "report.json").read_text())


def test_report_falls_back_to_seed_pairing_without_per_prompt_results(tmp_path):
    from grpo.experiment.report import write_report

    cfg = _cfg(tmp_path)
    finals = {**FINALS, "rtt": {0: [1, 1, 1, 1], 1: [1, 1, 1, 0], 2: [0, 0, 1, 0]}}
    _write(cfg, finals, per_prompt=lambda arm, seed: not (arm == "rtt" and seed == 1))  # one old run
    rep = write_report(cfg, log=lambda _m: None)
    comps = {(c["arm"], c["against"]): c for c in rep["comparisons"]}
    old = comps[("rtt", "grpo-aon")]
    # per-seed prompt strict differences 0.75, 0.5, 0: mean 0.4167, resampled seeds only
    assert old["paired"] == "seed" and old["prompt_strict"]["prompts"] == 1
    assert old["prompt_strict"]["diff"] == pytest.approx(1.25 / 3)
    assert old["prompt_strict"]["lo"] == pytest.approx(0.0) and old["prompt_strict"]["hi"] == pytest.approx(0.75)
    assert "3 seeds, paired by seed only (no per-prompt results in these runs)" in old["line"]
    assert comps[("rtt-shuffled", "grpo-aon")]["paired"] == "seed x prompt"
    assert "paired by seed only and resample seeds only" in (tmp_path / "exp" / "report.md").read_text()


def test_explicit_comparisons_and_collapse_per_comparison(tmp_path):
    from grpo.experiment.report import write_report

    cfg = _cfg(tmp_path).model_copy(
        update={"report": _cfg(tmp_path).report.model_copy(update={"comparisons": [("rtt", "rtt-shuffled")]})}
    )
    _write(cfg, FINALS)
    p = tmp_path / "exp" / "runs" / "rtt" / "seed1" / "result.json"
    res = json.loads(p.read_text())
    res["evals"][-1]["distinct2"] = 0.2  # distinct-2 0.80 -> 0.20: collapsed
    p.write_text(json.dumps(res))
    rep = write_report(cfg, log=lambda _m: None)
    assert [(c["arm"], c["against"]) for c in rep["comparisons"]] == [("rtt", "rtt-shuffled")]
    c = rep["comparisons"][0]
    assert c["collapse"] == {"rtt": [1], "rtt-shuffled": []}
    assert c["line"].endswith("collapse: rtt on seed(s) 1 - rtt's gain comes with collapse")


def test_final_window_averages_the_last_evaluations_per_prompt():
    """report.final_window = k: each prompt's value is its mean over the run's last k evaluations (an evaluation
    without per-prompt results or with other items is left out); 1 is the final evaluation alone."""
    from grpo.experiment.report import final_vectors

    def ev(vals, ids=("a", "b")):
        return {"per_prompt": {"item_ids": list(ids), "prompt_strict": vals}}

    res = {0: {"evals": [{"step": 0}, ev([0, 0]), ev([1, 0]), ev([1, 1])]}}
    assert final_vectors(res, "prompt_strict") == {0: (["a", "b"], [1.0, 1.0])}
    assert final_vectors(res, "prompt_strict", 2) == {0: (["a", "b"], [1.0, 0.5])}
    assert final_vectors(res, "prompt_strict", 3) == {0: (["a", "b"], [2 / 3, 1 / 3])}
    assert final_vectors(res, "prompt_strict", 9) == {0: (["a", "b"], [2 / 3, 1 / 3])}  # step 0 has none: skipped
    res[0]["evals"].insert(3, ev([0, 0], ids=("x", "y")))
    assert final_vectors(res, "prompt_strict", 3) == {0: (["a", "b"], [1.0, 0.5])}
    assert final_vectors({0: {"evals": [ev([1, 1]), {"step": 5}]}}, "prompt_strict", 2) is None
