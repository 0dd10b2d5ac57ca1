"""Rubric import benchmark on the shared IFEval (541) + MulDimIF (1,200) files.

Prints one table:

* end to end: ``build_rubric_dataset`` (read, convert, validate, dedupe, split, write Parquet + JSONL + report),
  items/s;
* write stage, ours vs naive: a column-wise Arrow table (+ ``model_dump_json`` lines) against row-by-row
  ``model_dump`` dicts -> ``pa.Table.from_pylist`` (+ ``json.dumps(model_dump(mode="json"))`` lines);
* id check start-up, ours vs naive: parsing the if-verifiable registry source (:func:`known_rule_ids`) against
  importing the registry module, each in a fresh interpreter.

Run: ``.venv/bin/python benchmarks/bench_rubrics.py [--repeats N]`` (about a minute on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("RTT_SHARED_DIR", ROOT.parent / "shared"))
SOURCES = [str(SHARED / "data" / "ifeval" / "input_data.jsonl"), str(SHARED / "data" / "muldimif" / "test.json")]


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def naive_write(items, parquet: Path, jsonl: Path) -> None:
    """Row by row: one pydantic dump per item, dict fields JSON-encoded, pyarrow infers from the dicts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rubrics.exporters import arrow_schema

    records = []
    for it in items:
        rec = it.model_dump()
        for r in rec["rubrics"]:
            v = r["verifier"]
            r["verifier"] = {
                "kind": v["kind"],
                "family": v.get("family"),
                "rule_id": v.get("rule_id"),
                "kwargs": json.dumps(v["kwargs"], sort_keys=True) if "kwargs" in v else None,
            }
        rec["meta"] = json.dumps(rec["meta"], sort_keys=True)
        records.append(rec)
    pq.write_table(pa.Table.from_pylist(records, schema=arrow_schema()), parquet, compression="zstd")
    with open(jsonl, "w", encoding="utf-8") as fh:
        for it in items:
            fh.write(json.dumps(it.model_dump(mode="json"), ensure_ascii=False) + "\n")


def ours_write(items, parquet: Path, jsonl: Path) -> None:
    import pyarrow.parquet as pq

    from rubrics.exporters import items_to_table

    pq.write_table(items_to_table(items), parquet, compression="zstd")
    with open(jsonl, "w", encoding="utf-8") as fh:
        fh.writelines(it.model_dump_json() + "\n" for it in items)


def cold(code: str, repeats: int) -> float:
    env = {**os.environ, "NLTK_DATA": os.environ.get("NLTK_DATA", str(SHARED / "nltk_data"))}

    def run() -> None:
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, capture_output=True, timeout=300)

    return best(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rubrics-") as d:
        run(Path(d), args.repeats)


def run(tmp: Path, repeats: int) -> None:
    from rubrics.build import build_rubric_dataset
    from rubrics.exporters import read_items
    from rubrics.importers import import_items, muldimif

    build_rubric_dataset(SOURCES, tmp / "warm", strict=True)  # warm-up: lazy imports (pyarrow, pandas), rule caches
    n = sum(len(import_items(s)) for s in SOURCES)
    t_build = best(lambda: build_rubric_dataset(SOURCES, tmp / "out", strict=True), repeats)
    t_import = best(lambda: [import_items(s) for s in SOURCES], repeats)
    items = [it for s in SOURCES for it in import_items(s)]
    muldimif._verifier_for = muldimif._MISSING  # MulDimIF constraints left to the LLM: no text parsing
    t_plain = best(lambda: [import_items(s) for s in SOURCES], repeats)
    muldimif.reset_rule_lookup()
    t_ours = best(lambda: ours_write(items, tmp / "o.parquet", tmp / "o.jsonl"), repeats)
    t_naive = best(lambda: naive_write(items, tmp / "n.parquet", tmp / "n.jsonl"), repeats)
    assert read_items(tmp / "o.parquet") == read_items(tmp / "n.parquet") == items  # same bytes of meaning
    base = cold("pass", repeats)
    t_ids = cold("from rubrics.rubric_text import known_rule_ids; known_rule_ids('ifeval')", repeats) - base
    t_imp = (
        cold(
            "from if_verifiable.ifeval import instructions_registry; frozenset(instructions_registry.INSTRUCTION_DICT)",
            repeats,
        )
        - base
    )

    rows = [
        (
            "build_rubric_dataset end to end (import+validate+dedupe+split+write)",
            f"{n / t_build:,.0f} items/s",
            f"{t_build:.3f} s",
            "",
            "",
        ),
        ("  of which import + validate", f"{n / t_import:,.0f} items/s", f"{t_import:.3f} s", "", ""),
        (
            "  import + validate without MulDimIF rule parsing",
            f"{n / t_plain:,.0f} items/s",
            f"{t_plain:.3f} s",
            "",
            "",
        ),
        (
            "write Parquet + JSONL: columnar (ours) vs row-by-row dumps (naive)",
            f"{n / t_ours:,.0f} items/s",
            f"{t_ours:.3f} s",
            f"{t_naive:.3f} s",
            f"{t_naive / t_ours:.2f}x",
        ),
        (
            "IFEval id set at start-up: parse registry source (ours) vs import registry (naive)",
            "",
            f"{t_ids:.3f} s",
            f"{t_imp:.3f} s",
            f"{t_imp / max(t_ids, 1e-3):.1f}x",
        ),
    ]
    print(f"\nRubric import on {n} shared items (IFEval 541 + MulDimIF 1,200), best of {repeats}\n")
    header = ("stage", "throughput", "ours", "naive", "naive/ours")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
