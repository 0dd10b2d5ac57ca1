"""Cost of the durable resumable folder of ``rtt data negatives``, side by side in one run.

The same programmatic build of the first N shared IFEval items into a fresh folder, twice per repeat:

* durable (ours): each item's records appended with one write + fsync, then a done line with the shard's size and
  sha256, also fsynced (``discriminator/data/shards.py``);
* buffered: the same code with fsync turned into a no-op - what an append-and-flush store costs, and what a
  crash could lose.

Reports items/s of both and the ratio (the price of "an item is done only when its rows are on disk").

Run: ``.venv/bin/python benchmarks/bench_durability.py [--items 150] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(os.environ.get("RTT_SHARED_DIR", ROOT.parent / "shared"))
os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))

from discriminator.data.build import BuildConfig, build_discriminator_dataset  # noqa: E402
from rubrics.importers import import_items  # noqa: E402


def _run(items) -> float:
    with tempfile.TemporaryDirectory(dir=ROOT / "runs" if (ROOT / "runs").is_dir() else None) as d:
        t0 = time.perf_counter()
        build_discriminator_dataset(items, d, BuildConfig())
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    items = import_items(str(SHARED / "data/ifeval/input_data.jsonl"))[: args.items]
    _run(items[:5])  # warm up checkers
    durable, buffered = [], []
    real_fsync = os.fsync
    for _ in range(args.repeats):
        durable.append(_run(items))
        os.fsync = lambda fd: None  # type: ignore[assignment]
        try:
            buffered.append(_run(items))
        finally:
            os.fsync = real_fsync
    d, b = min(durable), min(buffered)
    print(f"programmatic build of {len(items)} items (best of {args.repeats}), load {os.getloadavg()[0]:.1f}")
    print(f"  durable (fsync per item + checksummed done line): {d:.2f} s = {len(items) / d:.0f} items/s")
    print(f"  buffered (no fsync):                              {b:.2f} s = {len(items) / b:.0f} items/s")
    print(f"  cost of durability: {d / b:.2f}x")


if __name__ == "__main__":
    main()
