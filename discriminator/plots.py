"""PNG plots of discriminator runs: training/validation loss curve and precision-recall curves (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_loss_curve(log_history: Sequence[Mapping], path: str | Path) -> Path:
    """Training loss (and validation loss / F1 when logged) against the optimiser step."""

    plt = _pyplot()
    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h and "step" in h]
    val = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    f1 = [(h["step"], h["eval_f1_best"]) for h in log_history if "eval_f1_best" in h]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train loss", color="tab:blue")
    if val:
        ax.plot(*zip(*val), "o-", label="validation loss", color="tab:orange")
    ax.set_xlabel("step")
    ax.set_ylabel("masked BCE")
    if f1:
        ax2 = ax.twinx()
        ax2.plot(*zip(*f1), "s--", label="validation F1 (best threshold)", color="tab:green")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("F1")
        ax2.legend(loc="upper right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Discriminator training")
    fig.tight_layout()
    return _save(fig, path)


def plot_pr_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], base_rate: float, path: str | Path) -> Path:
    """One precision-recall curve per method (``name -> (recall, precision)``) on the test split."""

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 5.0), dpi=110)
    for name, (recall, precision) in curves.items():
        ax.plot(recall, precision, label=name, lw=2 if name == "discriminator" else 1.2)
    ax.axhline(base_rate, color="grey", ls=":", lw=1, label=f"base rate {base_rate:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title("Token relevance, test split")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_reliability(
    curves: Mapping[str, Mapping[str, np.ndarray]], path: str | Path, title: str = "Reliability, test split"
) -> Path:
    """Reliability diagram: fraction relevant against mean predicted probability per bin, one line per
    ``name -> reliability_bins(...)`` (see ``discriminator.calibration``), with the token share per bin below."""

    plt = _pyplot()
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(5.6, 6.2), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="perfectly calibrated")
    for name, b in curves.items():
        full = b["count"] > 0
        ax.plot(b["confidence"][full], b["frequency"][full], "o-", ms=3, label=name)
        centers = (b["edges"][:-1] + b["edges"][1:]) / 2
        hist.plot(centers, b["count"] / max(1.0, b["count"].sum()), drawstyle="steps-mid", label=name)
    ax.set_ylabel("fraction of tokens relevant")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    hist.set_yscale("log")
    hist.set_xlabel("predicted relevance probability")
    hist.set_ylabel("token share")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically and close it."""
    from rubrics.io import atomic_path

    plt = _pyplot()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
