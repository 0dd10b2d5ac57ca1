"""Push throughput to a REAL local Label Studio: batched imports vs one request per task (tasks/s, ratio).

Starts Label Studio 1.23.2 from ``.venv-labelstudio`` (``make labelstudio-install``) on a free 127.0.0.1 port
with a temporary SQLite data dir, then in one run:

* batched: ``rtt review push``'s path, 5,000 tasks with inline predictions, ``projects.import_tasks`` in chunks
  of 500 (and the idempotent re-push of the same 5,000 rows, which only lists the project);
* one by one: the naive client, ``tasks.create`` + ``predictions.create`` per row, on a 100-row sample
  (its rate is extrapolated to 5,000; it would take minutes in full, which is the point).

    .venv/bin/python benchmarks/bench_review.py [--rows 5000] [--batch-size 500] [--naive-rows 150]
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotation.project import LabelStudioSettings, connect, ensure_project  # noqa: E402
from annotation.push import push_one_by_one, push_rows  # noqa: E402
from annotation.server import start, stop  # noqa: E402
from discriminator.data.schema import SpanRow  # noqa: E402

WORDS = (
    "the sea is calm tonight waves whisper to the shore and gulls cry above the foam answer in "
    "lowercase only use json format no commas allowed keywords banana apple"
).split()
EXTRA = ["😀", "中文", "🎉", "\r\n", "  ", "é"]


def make_rows(n: int, seed: int = 0) -> list[SpanRow]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        parts = [rng.choice(WORDS) if rng.random() > 0.08 else rng.choice(EXTRA) for _ in range(rng.randint(40, 120))]
        response = " ".join(parts)
        spans = []
        for _ in range(rng.randint(0, 4)):
            s = rng.randrange(0, max(1, len(response) - 10))
            spans.append((s, min(len(response), s + rng.randint(1, 30))))
        rows.append(
            SpanRow(
                id=f"bench-{i}",
                item_id=f"item-{i // 4}",
                rubric_id=f"k{i % 4}",
                criteria="Do not use any commas.",
                instruction="Write a short poem about the sea.",
                response=response,
                char_spans=spans,
                label_source=rng.choice(["diff", "program", "model"]),
                verdict=rng.choice([1, -1]),
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--naive-rows", type=int, default=100)
    ap.add_argument("--venv", default=str(ROOT / ".venv-labelstudio"))
    a = ap.parse_args(argv)

    rows = make_rows(a.rows)
    naive_rows = make_rows(a.naive_rows, seed=1)
    with tempfile.TemporaryDirectory(prefix="rtt-bench-ls-") as data_dir:
        t0 = time.perf_counter()
        info = start(data_dir, venv=a.venv, token=secrets.token_hex(20), timeout=600)
        boot = time.perf_counter() - t0
        try:
            settings = LabelStudioSettings(url=info.url, api_key=info.api_key)
            client = connect(settings)
            batched_proj = ensure_project(client, settings, "bench batched", model_version="bench")
            naive_proj = ensure_project(client, settings, "bench one-by-one", model_version="bench")

            batched = push_rows(client, settings, batched_proj, rows, "bench", a.batch_size)
            repush = push_rows(client, settings, batched_proj, rows, "bench", a.batch_size)
            naive_s = push_one_by_one(client, settings, naive_proj, naive_rows, "bench")
            n_tasks = client.projects.get(id=batched_proj.id).task_number
        finally:
            stop(data_dir)
    assert batched.pushed == a.rows and repush.pushed == 0 and n_tasks == a.rows, (batched, repush, n_tasks)

    batched_rate = batched.pushed / batched.seconds
    naive_rate = a.naive_rows / naive_s
    rows_out = [
        (
            "batched import_tasks",
            f"{a.rows}",
            f"{a.batch_size}/request",
            f"{batched.seconds:.1f}",
            f"{batched_rate:.0f}",
            "1.0x",
        ),
        ("re-push (all skipped)", f"{a.rows}", "list only", f"{repush.seconds:.1f}", "-", "-"),
        (
            "one by one (2 requests/task)",
            f"{a.naive_rows} (5,000 extrapolated: {a.rows / naive_rate:.0f} s)",
            "1/request",
            f"{naive_s:.1f}",
            f"{naive_rate:.2f}",
            f"1/{batched_rate / naive_rate:.0f}",
        ),
    ]
    head = ("method", "tasks", "batching", "seconds", "tasks/s", "rate vs batched")
    widths = [max(len(str(r[i])) for r in [head, *rows_out]) for i in range(len(head))]
    print(
        f"Label Studio {info.url} (boot {boot:.1f} s), tasks with inline predictions; "
        f"batched is {batched_rate / naive_rate:.1f}x faster than one by one"
    )
    for r in [head, tuple("-" * w for w in widths), *rows_out]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
