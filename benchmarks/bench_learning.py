"""Does it learn? The learning experiment: GRPO vs RTT-GRPO vs controls on one policy, side by side.

Same policy, initial weights, prompts and order, seeds, generation budget and optimiser for every arm:
``grpo-aon`` (plain GRPO, all-or-nothing reward), ``grpo-csr`` (fraction of rubrics), ``rtt`` (RTT-GRPO with
the trained discriminator), ``rtt-oracle`` (exact checker spans), ``rtt-shuffled`` (the discriminator's map
permuted within each response), ``rtt-cort`` (CoRT-style counterfactual log-prob relevance). Held-out greedy
evaluation every N steps; report (per arm, mean +- std over seeds): strict / loose prompt- and rubric-level
pass rates, per-rubric pass rates, training reward, zero-advantage groups, token-advantage spread, seconds
per step, diversity and drift, collapse flags, and one summary line. See ``grpo/experiment/``.

Presets: ``cpu`` (SmolLM2-135M-Instruct offline, 2 cores) and ``gpu`` (one H100). Resumable per (arm, seed):
re-run the same command to continue. Not part of ``make test``.

Run: ``.venv/bin/python benchmarks/bench_learning.py --preset cpu [--arm rtt --arm grpo-aon] [--seed 0]
[--set steps=20] [--out DIR] [--report-only]``
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("NLTK_DATA", str(ROOT.parent / "shared" / "nltk_data"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="cpu", help="cpu, gpu or an experiment YAML file")
    ap.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    ap.add_argument("--arm", action="append", default=[], help="only these arms, in this order (repeatable)")
    ap.add_argument("--seed", action="append", type=int, default=[], help="only these seeds (repeatable)")
    ap.add_argument("--out", default=None, help="output folder (default: the preset's)")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the report from finished runs")
    ns = ap.parse_args(argv)

    from grpo.experiment.config import load_experiment
    from grpo.experiment.report import RATES, write_report

    cfg = load_experiment(ns.preset, ns.overrides + ([f"out={ns.out}"] if ns.out else []))
    if ns.report_only:
        report = write_report(cfg)
    else:
        from grpo.experiment.runner import run_experiment

        report = run_experiment(cfg, arms=ns.arm or None, seeds=ns.seed or None)
    load = os.getloadavg()
    print(f"\n{cfg.name}: load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; output {cfg.out}")
    header = ["arm", "seeds", *RATES, "words", "distinct2", "KL-init", "s/step", "collapse"]
    rows = []

    def cell(ms, nd=3):
        return "-" if math.isnan(ms[0]) else f"{ms[0]:.{nd}f}+-{ms[1]:.{nd}f}"

    for name, a in report["arms"].items():
        f = a["final"]
        rows.append(
            [
                name,
                str(len(a["seeds"])),
                *(cell(f[k]) for k in RATES),
                cell(f["mean_words"], 1),
                cell(f["distinct2"], 2),
                cell(f["kl_init"], 3),
                cell(a["seconds_per_step"], 1),
                "yes" if a["collapse"] else "no",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))
    print(f"\nsummary: {report['summary']}")
    for line in report["pairwise"]:
        print(f"  {line}")
    print(f"report: {cfg.out}/report.md, plot: {cfg.out}/curves.png")


if __name__ == "__main__":
    main()
