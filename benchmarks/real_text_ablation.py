"""Same-device ablation of the real-text discriminator (README, "Token-Level Relevance Discriminator").

On the data that ``benchmarks/real_text_goal.sh`` builds (``--data-dir``: ``train.parquet``,
``train-template-only.parquet``, ``eval-policy.parquet``, ``eval-template.parquet``), trains MiniLM with the goal
script's recipe (600 steps, batch 16, max length 192) in four arms - case markers on (as the goal script), off, template
pairs only (markers on), and 3x the steps (markers on) - and evaluates each on the policy-response and template rows of
the unseen items (token and character level, beside all-relevant and lexical overlap). Meant for a GPU (about 3 minutes
on one H200 in bf16); on the 2-core CPU each arm takes about 30 minutes. Writes ``ablation.json`` to ``--out``.

Run: ``python benchmarks/real_text_ablation.py --data-dir runs/real --out runs/real/ablation [ARM ...]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from discriminator.config import EvalConfig, TrainConfig  # noqa: E402
from discriminator.evaluate import evaluate  # noqa: E402
from discriminator.train import train  # noqa: E402

ARMS = {
    "case-markers": {"case_markers": "auto"},
    "no-case-markers": {"case_markers": "off"},
    "template-only": {"data": "train-template-only.parquet", "case_markers": "auto"},
    "case-markers-1800-steps": {"case_markers": "auto", "max_steps": 1800, "eval_steps": 300},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("arms", nargs="*", help="arms to run (default: all of " + ", ".join(ARMS) + ")")
    ap.add_argument("--data-dir", type=Path, default=Path("runs/real"))
    ap.add_argument("--out", type=Path, default=Path("runs/real/ablation"))
    ap.add_argument("--backbone", default=None, help="backbone folder (default: the bundled MiniLM)")
    ap.add_argument("--dry", action="store_true", help="2 steps on 32 rows, 20 test rows: checks the set-up only")
    args = ap.parse_args()
    unknown = [a for a in args.arms if a not in ARMS]
    if unknown:
        ap.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
    d = args.data_dir
    base = TrainConfig.from_yaml("minilm", data=d / "train.parquet").model_dump()
    base.update(max_length=192, max_steps=600, eval_steps=100, per_device_train_batch_size=16)
    if args.backbone:
        base["backbone"] = args.backbone
    if args.dry:
        base.update(max_steps=2, eval_steps=2, max_train_rows=32)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
    }
    for name in args.arms or list(ARMS):
        kw = dict(base)
        kw.update({k: (d / v if k == "data" else v) for k, v in ARMS[name].items()})
        kw["out"] = args.out / name
        t0 = time.time()
        train(TrainConfig(**kw), disable_tqdm=True)
        row: dict = {"train_seconds": round(time.time() - t0, 1)}
        for which in ("policy", "template"):
            rep = evaluate(
                EvalConfig(
                    model=args.out / name / "model",
                    data=d / f"eval-{which}.parquet",
                    out=args.out / name / f"eval-{which}",
                    baselines=["all_relevant", "lexical"],
                    max_test_rows=20 if args.dry else None,
                    max_val_rows=20 if args.dry else None,
                )
            )
            row[which] = {
                "tokens": rep.overall,
                "characters": rep.characters,
                "counts": rep.counts,
                "per_family": rep.per_family["discriminator"],
            }
        results[name] = row
        brief = {
            w: {
                f"{k}_{m}": round(row[w][k]["discriminator"][m], 3)
                for k in ("tokens", "characters")
                for m in ("f1", "auroc")
            }
            for w in ("policy", "template")
        }
        print(name, json.dumps(brief), f"{row['train_seconds']:.0f}s", flush=True)
        (args.out / "ablation.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
