"""Calibration of token relevance probabilities: expected calibration error, reliability bins, temperature.

Relevance values enter the RTT advantage as *magnitudes*, not only through a threshold, so a discriminator that
says 0.9 should be right about 90 % of the time. Temperature scaling (Guo et al., 2017) divides every logit by
one scalar ``T`` fitted on validation tokens by minimising the binary log-loss; it changes no ranking (AUROC is
unchanged) but can change the threshold (which is therefore tuned after it). numpy only, torch-free.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def _flat(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    """Flat scored tokens (label -100 dropped, as in :func:`discriminator.metrics._check`), labels as floats."""
    from discriminator.metrics import _check

    p, y = _check(probs, labels)
    return p, y.astype(np.float64)


def logit(probs) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[1e-6, 1 - 1e-6]``; shape as ``probs``."""
    p = np.clip(np.asarray(probs, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def sigmoid(z) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def reliability_bins(probs, labels, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Equal-width bins over [0, 1]: ``count``, mean ``confidence`` and empirical ``frequency`` per bin.

    probs, labels: any shape ``(N,)`` after flattening; labels of -100 are ignored. Empty bins hold NaN.
    Returns arrays of shape ``(n_bins,)`` plus ``edges`` of shape ``(n_bins + 1,)``.
    """
    p, y = _flat(probs, labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(idx, weights=p, minlength=n_bins) / count
        freq = np.bincount(idx, weights=y, minlength=n_bins) / count
    return {"edges": edges, "count": count, "confidence": conf, "frequency": freq}


def expected_calibration_error(probs, labels, n_bins: int = 15) -> float:
    """ECE = sum over bins of (bin share of tokens) x |mean probability - fraction relevant|; NaN if no token."""
    b = reliability_bins(probs, labels, n_bins)
    n = b["count"].sum()
    if n == 0:
        return float("nan")
    full = b["count"] > 0
    return float(np.sum(b["count"][full] / n * np.abs(b["confidence"][full] - b["frequency"][full])))


def log_loss(probs, labels) -> float:
    """Mean binary cross-entropy of probabilities against 0/1 labels (-100 ignored)."""
    p, y = _flat(probs, labels)
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p))) if len(y) else float("nan")


def fit_temperature(logits, labels, bounds: tuple[float, float] = (0.05, 20.0), iters: int = 80) -> float:
    """The temperature ``T`` minimising the log-loss of ``sigmoid(logits / T)`` (golden-section search on log T).

    logits, labels: shape ``(N,)`` after flattening (labels -100 ignored). The loss is convex in ``1/T``, hence
    unimodal in ``log T``. Returns 1.0 when the labels hold one class only (nothing to fit).
    """
    z, y = _flat(logits, labels)
    if len(y) == 0 or y.min() == y.max():
        return 1.0

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        # log(1 + e^s) - y*s, computed stably
        return float(np.mean(np.logaddexp(0.0, s) - y * s))

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    g = (np.sqrt(5.0) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(iters):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def calibration_summary(probs, labels, n_bins: int = 15) -> dict[str, float]:
    """``ece``, ``log_loss``, ``brier`` and ``tokens`` of one set of probabilities."""
    p, y = _flat(probs, labels)
    return {
        "ece": expected_calibration_error(p, y, n_bins),
        "log_loss": log_loss(p, y),
        "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
        "tokens": int(len(y)),
    }
