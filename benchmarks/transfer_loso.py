"""Cross-source transfer of the discriminator (issue 20): leave-one-source-out on real responses of several
models, per response length, threshold transfer, and agreement with the rule spans on *unedited* responses.

1. ``rtt disc eval --source-holdout`` (``discriminator.holdout``, ``by="source"``): for each model ``M`` a fresh
   discriminator is trained on the pairs of every other model's responses (train / val items) and tested on
   ``M``'s pairs of the test items - an unseen model and unseen items - beside lexical overlap and
   all-relevant, per length bucket, with the threshold transfer (stored threshold's F1 vs best on test).
2. Agreement with the rule spans: each fold's model scores ``M``'s own responses to the test items, as the
   model wrote them (no edit), against the characters the rule's verdict hinges on
   (``discriminator.rule_spans.rule_chars``, the spans policy training uses with ``rtt.relevance: rules``). Token F1 at
   the fold's stored threshold, best F1 and AUROC, per rule and overall.

Writes ``holdout.md`` / ``holdout.json`` (step 1), ``agreement.md`` / ``agreement.json`` (step 2) under ``--out``.
Run (``benchmarks/transfer_goal.sh`` does the data first):
``python benchmarks/transfer_loso.py --data runs/transfer/rows.parquet --items runs/transfer/items/items.jsonl \
    --out runs/transfer/loso --max-steps 800``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def agreement(fold_model: Path, model_name: str, rows, items, outputs, max_rows: int | None = None) -> dict:
    """Token F1 / AUROC of the fold's discriminator against the rule spans of ``model_name``'s unedited
    responses to the items of the fold's test rows."""
    from discriminator.baselines import lexical_chars
    from discriminator.data.programmatic import rule_passes
    from discriminator.data.schema import char_labels_to_spans
    from discriminator.features import labels_from_spans
    from discriminator.metrics import best_f1_threshold, token_metrics
    from discriminator.projection import chars_to_tokens
    from discriminator.rule_spans import rule_chars
    from discriminator.scoring import RelevanceScorer

    test_items = sorted({r.item_id for r in rows})
    key_of = {it.id: int(str(it.meta.get("key", it.id.rsplit(":", 1)[-1]))) for it in items}
    by_id = {it.id: it for it in items}
    resp = {(o["model"], 100000 + o["index"]): o["response"] for o in outputs}
    pairs = []  # (family, criteria, response, char labels)
    for iid in test_items:
        it = by_id[iid]
        text = resp.get((model_name, key_of[iid]))
        if text is None:
            continue
        for rub in it.rubrics:
            passed = rule_passes(rub, text, it.instruction)
            if passed is None:
                continue
            chars = rule_chars(rub, text, bool(passed), it.instruction)
            if chars is None:
                continue
            pairs.append((rub.verifier.rule_id, rub.text, text, chars))
    pairs = pairs[:max_rows] if max_rows else pairs
    scorer = RelevanceScorer.from_pretrained(fold_model)
    ids, offsets = scorer.encoder.tokenize_responses([p[2] for p in pairs])
    scores = scorer._score_ids([p[1] for p in pairs], ids)
    labels = [
        np.asarray(labels_from_spans(o, char_labels_to_spans((p[3] > 0).astype(int).tolist()), len(p[2])))
        for o, p in zip(offsets, pairs)
    ]
    lex = [chars_to_tokens(lexical_chars(p[1], p[2]), o, "max") for o, p in zip(offsets, pairs)]
    thr = float(scorer.threshold)
    groups = defaultdict(list)
    for i, p in enumerate(pairs):
        groups[p[0]].append(i)
        groups["overall"].append(i)
    out = {}
    for g, idx in sorted(groups.items(), key=lambda kv: (kv[0] != "overall", kv[0])):
        s = np.concatenate([np.asarray(scores[i], dtype=np.float64) for i in idx])
        y = np.concatenate([labels[i] for i in idx])
        lx = np.concatenate([lex[i] for i in idx])
        m = token_metrics(s, y, thr)
        out[g] = {
            "rows": len(idx),
            "tokens": int(len(y)),
            "base_rate": float(y.mean()) if len(y) else 0.0,
            "f1_stored": m["f1"],
            "auroc": m["auroc"],
            "f1_best": best_f1_threshold(s, y)[1],
            "lexical_auroc": token_metrics(lx, y, 0.5)["auroc"],
            "all_relevant_f1": token_metrics(np.ones_like(s), y, 0.5)["f1"],
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="rows of several models (transfer_data.py merge)")
    ap.add_argument("--items", type=Path, required=True, help="the items (transfer_data.py items)")
    ap.add_argument("--outputs", type=Path, default=None, help="the models' responses (default: the shared file)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--train-config", type=Path, default=ROOT / "benchmarks" / "transfer_minilm.yaml")
    ap.add_argument("--backbone", default=None, help="backbone folder (default: the config's / bundled MiniLM)")
    ap.add_argument("--max-steps", type=int, default=800)
    ap.add_argument("--agree-rows", type=int, default=None, help="cap on unedited (rubric, response) rows per fold")
    ap.add_argument("--skip-holdout", action="store_true", help="reuse the fold runs already under --out")
    args = ap.parse_args()

    import yaml
    from transfer_data import DATA_FILE, OUT_DIR, load_outputs

    from discriminator.holdout import HoldoutConfig, HoldoutResult, family_holdout, render_holdout
    from discriminator.splits import assign_splits, load_rows
    from rubrics.importers import import_items

    args.out.mkdir(parents=True, exist_ok=True)
    cfg_path = args.train_config
    if args.backbone:
        conf = yaml.safe_load(args.train_config.read_text()) or {}
        conf["backbone"] = args.backbone
        cfg_path = args.out / "train_config.yaml"
        cfg_path.write_text(yaml.safe_dump(conf))
    hcfg = HoldoutConfig(data=args.data, out=args.out, by="source", max_steps=args.max_steps, train_config=cfg_path)
    t0 = time.time()
    if args.skip_holdout:
        result = HoldoutResult.model_validate_json((args.out / "holdout.json").read_text())
    else:
        result = family_holdout(hcfg, progress=lambda m: print(m, flush=True))
    print(render_holdout(result, hcfg), flush=True)
    print(f"holdout: {time.time() - t0:.0f} s", flush=True)

    items = import_items(str(args.items))
    outputs = load_outputs(args.outputs or OUT_DIR / DATA_FILE)
    from discriminator.config import TrainConfig

    base = TrainConfig.from_yaml(cfg_path, data=args.data)
    rows = assign_splits(load_rows(args.data), base.val_fraction, base.test_fraction, base.seed)
    from discriminator.holdout import _slug, source_fold_rows

    agree = {}
    for r in result.rows:
        _, test = source_fold_rows(rows, r.family)
        agree[r.family] = agreement(
            args.out / _slug(r.family) / "run" / "model", r.family, test, items, outputs, args.agree_rows
        )
        print(r.family, json.dumps(agree[r.family]["overall"]), flush=True)
    (args.out / "agreement.json").write_text(json.dumps(agree, indent=2, default=float) + "\n")
    lines = [
        "# Agreement with rule spans on unedited responses (leave-one-source-out fold models)",
        "",
        "Each fold's discriminator on the held-out model's own responses to the test items (no edit) against "
        "the characters the rule's verdict hinges on (`discriminator.rule_spans.rule_chars`).",
        "",
        "| held-out model | rows | tokens (base rate) | F1 stored thr | best F1 | AUROC | lexical AUROC | "
        "all-relevant F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fam, per in agree.items():
        o = per["overall"]
        lines.append(
            f"| {fam} | {o['rows']} | {o['tokens']} ({o['base_rate']:.3f}) | {o['f1_stored']:.3f} | "
            f"{o['f1_best']:.3f} | {o['auroc']:.3f} | {o['lexical_auroc']:.3f} | {o['all_relevant_f1']:.3f} |"
        )
    rules = sorted({g for per in agree.values() for g in per if g != "overall"})
    lines += [
        "",
        "Per rule (AUROC, mean over folds; rows in all folds):",
        "",
        "| rule | rows | AUROC | best F1 |",
        "|---|---|---|---|",
    ]
    for g in rules:
        xs = [per[g] for per in agree.values() if g in per]
        au = [x["auroc"] for x in xs if x["auroc"] == x["auroc"]]
        lines.append(
            f"| {g} | {sum(x['rows'] for x in xs)} | {np.mean(au) if au else float('nan'):.3f} | "
            f"{np.mean([x['f1_best'] for x in xs]):.3f} |"
        )
    (args.out / "agreement.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
