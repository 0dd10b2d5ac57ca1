"""Real responses of several models for the cross-source discriminator measurement (issue 20).

Two steps:

``extract``  reads the per-model ``model_outputs.json`` of a local git snapshot of the AlpacaEval repository
             (github.com/tatsu-lab/alpaca_eval, data licence CC BY-NC 4.0) and writes one gzipped JSONL of
             ``{"model", "index", "instruction", "response", "dataset"}`` plus ``MANIFEST.json`` (repository,
             commit, path and blob of every file, licence, counts) under ``$RTT_SHARED_DIR/data/model_outputs/``.
             The data is not committed to this repository (see ``data/model_outputs/README.md``).
``merge``    joins the per-model pair files into one, each row tagged with ``meta.response_model``.
``items``    pairs the instructions with rule rubrics the project's programmatic edits can break or repair
             (IFEval instruction ids with kwargs chosen per instruction, the same for every model), writes the
             items as IFEval-format JSONL and one ``--positives`` file per model (``{"key", "response"}``).

Then ``rtt data negatives --items items.jsonl --positives positives/<model>.jsonl --out DIR`` per model makes
the pairs (``benchmarks/transfer_goal.sh`` runs all of it).

Run: ``python benchmarks/transfer_data.py extract --mirror /path/to/alpaca_eval.git``
     ``python benchmarks/transfer_data.py items --out runs/transfer/items --instructions 400``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTT_SHARED_DIR", ROOT.parent / "shared"))
OUT_DIR = SHARED / "data" / "model_outputs"
DATA_FILE = "alpaca_eval_outputs.jsonl.gz"
REPO = "tatsu-lab/alpaca_eval"
# open-weight models of different families and sizes (AlpacaEval's own names)
MODELS = (
    "Meta-Llama-3-8B-Instruct",
    "Mistral-7B-Instruct-v0.2",
    "Qwen1.5-7B-Chat",
    "gemma-7b-it",
    "tulu-2-dpo-7b",
    "phi-2-dpo",
)
LICENCE = (
    "AlpacaEval data: CC BY-NC 4.0 (non-commercial; README of tatsu-lab/alpaca_eval, 'Data License'); "
    "code of that repository Apache-2.0 (not used). Each model's outputs are also subject to the terms of "
    "the model that wrote them."
)


def _git(mirror: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], check=True, capture_output=True, text=True).stdout


def extract(mirror: Path, models: list[str], out: Path) -> None:
    commit = _git(mirror, "rev-parse", "HEAD").strip()
    rows, files = [], []
    for m in models:
        path = f"results/{m}/model_outputs.json"
        blob = _git(mirror, "rev-parse", f"HEAD:{path}").strip()
        last = _git(mirror, "log", "-1", "--format=%H", "HEAD", "--", path).strip()
        data = json.loads(_git(mirror, "show", f"HEAD:{path}"))
        kept = 0
        for i, rec in enumerate(data):
            resp = rec.get("output")
            if not isinstance(resp, str) or not resp.strip():
                continue
            rows.append(
                {
                    "model": m,
                    "index": i,
                    "instruction": rec["instruction"],
                    "response": resp,
                    "dataset": rec.get("dataset"),
                }
            )
            kept += 1
        files.append({"model": m, "path": path, "blob": blob, "last_commit": last, "records": len(data), "kept": kept})
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / DATA_FILE, "wt", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    manifest = {
        "source": f"https://github.com/{REPO}",
        "snapshot_commit": commit,
        "licence": LICENCE,
        "file": DATA_FILE,
        "rows": len(rows),
        "sha256": hashlib.sha256((out / DATA_FILE).read_bytes()).hexdigest(),
        "files": files,
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"{len(rows)} responses of {len(models)} models -> {out / DATA_FILE}")


def load_outputs(path: Path = OUT_DIR / DATA_FILE) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: run `python benchmarks/transfer_data.py extract --mirror ...` first")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


_STOP = set(
    """about above after again against would could should which their there these those where while
what when with from into your yours that this have make made more most other some such than then them they very
will write using used give tell explain describe please following provide answer question example list""".split()
)


def content_words(text: str) -> list[str]:
    """Lower-case alphabetic words of at least 5 letters, stop words out, first occurrence order."""
    seen: dict[str, None] = {}
    for w in re.findall(r"[A-Za-z]{5,}", text):
        w = w.lower()
        if w not in _STOP:
            seen.setdefault(w, None)
    return list(seen)


def _round(n: float, step: int) -> int:
    return max(step, int(round(n / step)) * step)


def rubrics_for(index: int, instruction: str, responses: list[str], seed: int) -> tuple[list[str], list[dict]]:
    """Three IFEval instructions for one AlpacaEval instruction, with kwargs read from the instruction and the
    models' responses to it (the same for every model), chosen so that some responses pass and some fail."""
    rng = random.Random(f"{seed}:{index}")
    words = [len(r.split()) for r in responses]
    sents = [len(re.findall(r"[.!?]+(?:\s|$)", r)) for r in responses]
    kw = content_words(instruction)
    used = " ".join(responses).lower()
    shared_kw = [w for w in kw if w in used]
    pool: list[tuple[str, dict]] = [
        ("punctuation:no_comma", {}),
        ("change_case:english_lowercase", {}),
        ("change_case:english_capital", {}),
        ("startend:quotation", {}),
        (
            "startend:end_checker",
            {
                "end_phrase": rng.choice(
                    [
                        "Is there anything else I can help with?",
                        "Let me know if you have additional questions.",
                        "Any other questions?",
                    ]
                )
            },
        ),
        ("detectable_format:title", {}),
        ("detectable_content:postscript", {"postscript_marker": rng.choice(["P.S.", "P.P.S"])}),
        ("combination:repeat_prompt", {"prompt_to_repeat": instruction}),
        (
            "length_constraints:number_words",
            {
                "relation": rng.choice(["less than", "at least"]),
                "num_words": _round(median(words) * rng.uniform(0.7, 1.3), 10),
            },
        ),
        (
            "length_constraints:number_sentences",
            {
                "relation": rng.choice(["less than", "at least"]),
                "num_sentences": max(2, round(median(sents) * rng.uniform(0.7, 1.3))),
            },
        ),
    ]
    if shared_kw:
        pool.append(("keywords:forbidden_words", {"forbidden_words": shared_kw[:2]}))
        pool.append(("keywords:existence", {"keywords": shared_kw[-2:]}))
        pool.append(
            ("keywords:frequency", {"keyword": shared_kw[0], "relation": "at least", "frequency": rng.choice([2, 3])})
        )
    picked, families = [], set()
    for rid, kwargs in rng.sample(pool, len(pool)):
        fam = rid.split(":")[0] if not rid.startswith("change_case") else "case"
        if fam in families or (rid == "combination:repeat_prompt" and len(instruction) > 600):
            continue
        picked.append((rid, kwargs))
        families.add(fam)
        if len(picked) == 3:
            break
    return [r for r, _ in picked], [k for _, k in picked]


def items(out: Path, n: int, seed: int, models: list[str]) -> None:
    rows = [r for r in load_outputs() if r["model"] in models]
    by_index: dict[int, dict[str, dict]] = {}
    for r in rows:
        by_index.setdefault(r["index"], {})[r["model"]] = r
    complete = [i for i, per in sorted(by_index.items()) if len(per) == len(models)]
    order = sorted(complete, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())[:n]
    out.mkdir(parents=True, exist_ok=True)
    (out / "positives").mkdir(exist_ok=True)
    pos = {m: [] for m in models}
    with open(out / "items.jsonl", "w", encoding="utf-8") as fh:
        for i in sorted(order):
            per = by_index[i]
            instruction = per[models[0]]["instruction"]
            ids, kwargs = rubrics_for(i, instruction, [per[m]["response"] for m in models], seed)
            key = 100000 + i  # AlpacaEval index, offset so it never equals an IFEval key
            fh.write(
                json.dumps(
                    {
                        "key": key,
                        "prompt": instruction,
                        "instruction_id_list": ids,
                        "kwargs": kwargs,
                        "source": "alpaca_eval",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
            for m in models:
                pos[m].append({"key": key, "response": per[m]["response"]})
    for m, lines in pos.items():
        with open(out / "positives" / f"{m}.jsonl", "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{len(order)} items x {len(models)} models -> {out}")


def merge(pairs: Path, out: Path, models: list[str]) -> None:
    """One SpanRow file of every model's pairs (``pairs/<model>/spans.parquet``), each row tagged with
    ``meta.response_model``; an item must have the same split in every model's file (the split is by item)."""
    sys.path.insert(0, str(ROOT))
    from discriminator.data.schema import read_rows, write_rows

    rows, split_of = [], {}
    for m in models:
        for r in read_rows(pairs / m / "spans.parquet"):
            if split_of.setdefault(r.item_id, r.split) != r.split:
                raise ValueError(
                    f"{pairs / m / 'spans.parquet'}: row {r.id}: item {r.item_id} has split "
                    f"{r.split}, {split_of[r.item_id]} in an earlier model's file"
                )
            rows.append(
                r.model_copy(
                    update={
                        "id": f"{m}:{r.id}",
                        "pair_id": r.pair_id and f"{m}:{r.pair_id}",
                        "meta": {**r.meta, "response_model": m},
                    }
                )
            )
    write_rows(out, rows)
    print(f"{len(rows)} rows of {len(models)} models -> {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--mirror", type=Path, required=True, help="git directory of an alpaca_eval snapshot")
    e.add_argument("--models", default=",".join(MODELS))
    e.add_argument("--out", type=Path, default=OUT_DIR)
    i = sub.add_parser("items")
    i.add_argument("--out", type=Path, required=True)
    i.add_argument("--instructions", type=int, default=400)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--models", default=",".join(MODELS))
    g = sub.add_parser("merge")
    g.add_argument("--pairs", type=Path, required=True, help="folder of per-model `rtt data negatives` outputs")
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    if args.cmd == "extract":
        extract(args.mirror, args.models.split(","), args.out)
    elif args.cmd == "merge":
        merge(args.pairs, args.out, args.models.split(","))
    else:
        items(args.out, args.instructions, args.seed, args.models.split(","))


if __name__ == "__main__":
    sys.exit(main())
