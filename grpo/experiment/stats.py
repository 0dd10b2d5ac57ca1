"""Statistics of the learning experiment's report: paired differences with a two-way bootstrap interval,
steps to reach a target pass rate, which arms to compare, and the one-line verdict of a comparison.

Pure functions on numpy arrays and plain dicts (no files, no torch).

**Paired difference.** Every arm of a seed starts from the same weights and trains on the same prompts; the
held-out prompts are the same for every arm. So for arms ``a`` and ``b`` the unit of comparison is a (seed,
held-out prompt) cell: ``d[s, p] = a[s, p] - b[s, p]`` (shape ``(seeds, prompts)``), e.g. the 0/1 prompt-level
strict pass of prompt ``p`` at the end of seed ``s``'s run. The estimate is the mean of ``d`` (optionally
weighted per prompt, e.g. by its number of rubrics, so a rubric-level mean equals the pooled rate).

**Interval.** A two-way (seeds x prompts) bootstrap: each resample draws ``S`` seeds with replacement *and*,
independently, ``P`` prompts with replacement, and takes the mean of ``d`` over the crossed cells; the interval
is the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the resampled means. Both sources of noise
count: a new seed (another training run) and another draw of held-out prompts. Vectorised through the
resample's *counts*: the mean over the crossed cells of resample ``r`` is ``c_s[r] @ d @ c_p[r] / (S * P)``.
Without per-prompt vectors (results from before they were recorded) ``d`` is the ``(seeds, 1)`` column of
per-seed rate differences and only seeds are resampled.

**Decision.** An arm *wins* (*loses*) against another when the interval lies above (below) 0; otherwise "no
difference" - the interval contains 0. Nothing else (not the point estimate, not a count of seeds ahead).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_BASELINES = ("grpo-aon", "gdpo")


# ----------------------------------------------------------------------------------------------- bootstrap


def draw_counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """How often each of ``n`` units is drawn in each of ``n_boot`` resamples of size ``n`` with replacement.

    Returns ``(n_boot, n)`` int64; every row sums to ``n``."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def resampled_means(
    d: np.ndarray, seed_counts: np.ndarray, prompt_counts: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Mean of ``d`` over the crossed cells of each two-way resample.

    ``d``: ``(S, P)``; ``seed_counts``: ``(B, S)``; ``prompt_counts``: ``(B, P)``; ``weights``: ``(P,)`` or None
    (equal). Returns ``(B,)``: ``sum_sp cs[s] cp[p] w[p] d[s, p] / sum_sp cs[s] cp[p] w[p]``, the (weighted) mean
    over the resample's (seed, prompt) cells, repeats counted."""
    d = np.asarray(d, dtype=np.float64)
    cs = np.asarray(seed_counts, dtype=np.float64)
    cp = np.asarray(prompt_counts, dtype=np.float64)
    w = np.ones(d.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    num = ((cs @ d) * (cp * w)).sum(axis=1)
    den = cs.sum(axis=1) * (cp * w).sum(axis=1)
    return num / den


def weighted_mean(d: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean of ``d`` ``(S, P)`` over all cells, each prompt weighted by ``weights`` ``(P,)`` (None: equal)."""
    d = np.asarray(d, dtype=np.float64)
    w = np.ones(d.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    return float((d * w).sum() / (d.shape[0] * w.sum()))


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired difference ``a - b`` and its two-way bootstrap percentile interval.

    ``a``, ``b``: ``(S, P)`` - the same (seed, prompt) cells for both arms (``P = 1``: per-seed rates, then only
    seeds are resampled); ``weights``: ``(P,)`` or None. Deterministic for a given ``seed`` (numpy PCG64).
    Returns ``{"diff", "lo", "hi", "level", "seeds", "prompts", "n_boot", "decision"}``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or 0 in a.shape:
        raise ValueError(
            f"paired_bootstrap: need two equal non-empty (seeds, prompts) arrays, got {a.shape} and {b.shape}"
        )
    if not 0 < level < 1:
        raise ValueError(f"paired_bootstrap: level {level} not in (0, 1)")
    d = a - b
    s, p = d.shape
    rng = np.random.default_rng(seed)
    cs = draw_counts(rng, s, n_boot)
    cp = draw_counts(rng, p, n_boot) if p > 1 else np.ones((n_boot, 1), dtype=np.int64)
    means = resampled_means(d, cs, cp, weights)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    lo, hi = float(lo), float(hi)
    return {
        "diff": weighted_mean(d, weights),
        "lo": lo,
        "hi": hi,
        "level": level,
        "seeds": s,
        "prompts": p,
        "n_boot": n_boot,
        "decision": decide(lo, hi),
    }


def decide(lo: float, hi: float) -> str:
    """``"wins"`` when the interval lies above 0, ``"loses"`` below 0, else ``"no difference"``."""
    if lo > 0:
        return "wins"
    if hi < 0:
        return "loses"
    return "no difference"


# ----------------------------------------------------------------------------------------------- pairing


def paired_matrices(
    a: Mapping[int, tuple[Sequence[str], Sequence[float]]],
    b: Mapping[int, tuple[Sequence[str], Sequence[float]]],
    weights: Mapping[int, Sequence[float]] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[int], list[str], np.ndarray | None] | None:
    """Align two arms' per-prompt results into ``(S, P)`` matrices on the seeds both have and the held-out
    items every one of those runs has (in the first run's order).

    ``a``, ``b``: ``{seed: (item_ids, values)}``; ``weights``: ``{seed: per-item weights}`` of arm ``a`` (same
    order as its ids) or None. Returns ``(A, B, seeds, ids, w)`` with ``w`` ``(P,)`` or None, or None when no
    seed or no item is shared."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    ma = {s: dict(zip(map(str, a[s][0]), a[s][1])) for s in seeds}
    mb = {s: dict(zip(map(str, b[s][0]), b[s][1])) for s in seeds}
    first = [str(i) for i in a[seeds[0]][0]]
    ids = [i for i in first if all(i in ma[s] and i in mb[s] for s in seeds)]
    if not ids:
        return None
    A = np.array([[ma[s][i] for i in ids] for s in seeds], dtype=np.float64)
    B = np.array([[mb[s][i] for i in ids] for s in seeds], dtype=np.float64)
    w = None
    if weights is not None:
        wm = dict(zip(first, weights[seeds[0]]))
        w = np.array([wm[i] for i in ids], dtype=np.float64)
    return A, B, seeds, ids, w


# ----------------------------------------------------------------------------------------------- sample efficiency


def first_step_reaching(steps: Sequence[int], rates: Sequence[float], target: float, tol: float = 1e-9) -> int | None:
    """The first evaluated step whose rate is ``>= target`` (within ``tol``); None when none is.

    ``steps``, ``rates``: ``(E,)`` one run's evaluations (any order; the earliest step wins)."""
    hit = [int(st) for st, r in zip(steps, rates) if r is not None and not math.isnan(r) and r >= target - tol]
    return min(hit) if hit else None


def steps_to_reach(runs: Mapping[int, tuple[Sequence[int], Sequence[float]]], target: float) -> dict[str, Any]:
    """Per seed the first step reaching ``target``; their mean over the seeds that reached it.

    ``runs``: ``{seed: (steps (E,), rates (E,))}``. Returns ``{"target", "by_seed": {seed: step or None},
    "reached", "seeds", "mean_step"}`` (``mean_step`` None when no seed reached the target)."""
    by_seed = {int(s): first_step_reaching(st, r, target) for s, (st, r) in sorted(runs.items())}
    hit = [x for x in by_seed.values() if x is not None]
    return {
        "target": float(target),
        "by_seed": by_seed,
        "reached": len(hit),
        "seeds": len(by_seed),
        "mean_step": sum(hit) / len(hit) if hit else None,
    }


def reach_text(r: Mapping[str, Any]) -> str:
    """``"step 8.0 (3/3 seeds)"``; ``"step 6.0 on the 2/3 seeds that reach it, not reached on 1"``;
    ``"not reached"``."""
    if not r["reached"]:
        return "not reached"
    if r["reached"] == r["seeds"]:
        return f"step {r['mean_step']:.1f} ({r['reached']}/{r['seeds']} seeds)"
    return (
        f"step {r['mean_step']:.1f} on the {r['reached']}/{r['seeds']} seeds that reach it, "
        f"not reached on {r['seeds'] - r['reached']}"
    )


# ----------------------------------------------------------------------------------------------- which comparisons


def shuffled_control(name: str, names: Iterable[str]) -> str | None:
    """The shuffled-relevance control of a token-credit arm, by name: ``X-oracle`` -> ``X-shuffled``,
    ``X-disc*`` -> ``X-shuffled``, else ``X-shuffled``; None when that arm is not in ``names`` (or is ``name``)."""
    names = list(names)
    if "shuffled" in name:
        return None
    cands = []
    for word in ("oracle", "discriminator", "disc"):
        if word in name:
            cands.append(name.replace(word, "shuffled"))
    cands.append(f"{name}-shuffled")
    for c in cands:
        if c != name and c in names:
            return c
    return None


def uniform_control(name: str, names: Iterable[str]) -> str | None:
    """The localisation control of a token-credit arm, by name: ``X-oracle`` / ``X-discriminator`` / ``X-disc`` ->
    ``X-uniform`` (the same credit with every token relevant: rubric-level, not localised); None when absent."""
    names = list(names)
    if "uniform" in name or "shuffled" in name:
        return None
    for word in ("oracle", "discriminator", "disc"):
        c = name.replace(word, "uniform")
        if word in name and c != name and c in names:
            return c
    return None


def comparison_pairs(
    names: Sequence[str],
    baselines: Sequence[str] = DEFAULT_BASELINES,
    token_arms: Iterable[str] | None = None,
    controls: bool = True,
) -> list[tuple[str, str]]:
    """Which (arm, against) pairs the report compares, in order, without duplicates or mirror images.

    Every arm against every baseline present (a baseline against the baselines listed before it only), then
    each token-credit arm against its shuffled control (:func:`shuffled_control`) and its localisation control
    (:func:`uniform_control`) when ``controls``.
    ``token_arms``: names of arms with a token term (None: every arm not a baseline)."""
    names = list(names)
    present = [b for b in baselines if b in names]
    pairs: list[tuple[str, str]] = []
    for j, base in enumerate(present):
        for n in names:
            if n == base or (n in present and present.index(n) < j):
                continue
            if (n, base) not in pairs and (base, n) not in pairs:
                pairs.append((n, base))
    if controls:
        tok = set(names) - set(present) if token_arms is None else set(token_arms)
        for n in names:
            for c in (shuffled_control(n, names), uniform_control(n, names)) if n in tok else ():
                if c and (n, c) not in pairs and (c, n) not in pairs:
                    pairs.append((n, c))
    return pairs


# ----------------------------------------------------------------------------------------------- wording


def _ci(r: Mapping[str, Any], what: str) -> str:
    return f"{r['diff']:+.3f} {what} [{100 * r['level']:.0f}% CI {r['lo']:+.3f}, {r['hi']:+.3f}]"


def _verdict(r: Mapping[str, Any]) -> str:
    return {
        "wins": "wins (interval excludes 0)",
        "loses": "loses (interval excludes 0)",
        "no difference": "no difference (interval contains 0)",
    }[r["decision"]]


def comparison_line(
    a: str,
    b: str,
    prompt: Mapping[str, Any],
    rubric: Mapping[str, Any] | None = None,
    collapse: Mapping[str, Sequence[int | str]] | None = None,
    paired: str = "seed x prompt",
) -> str:
    """One honest line: ``"A vs B: +0.071 prompt strict [95% CI +0.020, +0.120], wins (interval excludes 0);
    rubric strict ...; 5 seeds x 100 prompts; no collapse"``.

    ``prompt``/``rubric``: :func:`paired_bootstrap` results; ``collapse``: ``{arm: seeds flagged}``; ``paired``:
    ``"seed x prompt"`` or ``"seed"`` (the fallback without per-prompt results, said in the line)."""
    parts = [f"{a} vs {b}: {_ci(prompt, 'prompt strict')}, {_verdict(prompt)}"]
    if rubric is not None:
        parts.append(f"{_ci(rubric, 'rubric strict')}, {rubric['decision']}")
    if paired == "seed":
        parts.append(f"{prompt['seeds']} seeds, paired by seed only (no per-prompt results in these runs)")
    else:
        parts.append(f"{prompt['seeds']} seeds x {prompt['prompts']} prompts")
    flagged = {k: list(v) for k, v in (collapse or {}).items() if v}
    if not flagged:
        parts.append("no collapse")
    else:
        parts.append("collapse: " + ", ".join(f"{k} on seed(s) {', '.join(map(str, v))}" for k, v in flagged.items()))
        if prompt["decision"] == "wins" and flagged.get(a):
            parts[-1] += f" - {a}'s gain comes with collapse"
    return "; ".join(parts)
