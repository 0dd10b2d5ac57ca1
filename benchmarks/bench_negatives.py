"""Discriminator-data throughput, side by side in one run (2-core CPU, a few minutes at most).

1. Programmatic path: template positives + verified minimal negatives + exact spans on the shared IFEval and
   MulDimIF items (every ``--stride``-th): pairs/s of today's path (the code at ``--baseline-rev``, extracted with
   ``git archive`` and run in its own process, one process as ``rtt data negatives`` ran it) vs ours in one
   process and ours with the process pool (``--workers``, what ``rtt data negatives`` uses for large inputs),
   and the pair counts of both (the speed-ups must not cost coverage). Each path runs in a fresh process, after
   one warm-up item. The machine load (``os.getloadavg``) is printed next to the figures.
2. Diff engine for the span labels: ``rapidfuzz`` Indel opcodes (ours) vs ``difflib.SequenceMatcher`` on the
   produced (positive, negative) pairs: pairs/s and the speed ratio.
3. LLM path against a LOCAL FAKE OpenAI-compatible server (``tests.helpers.llm_server.ScriptedOpenAI``) with an
   artificial latency per request and a parallel capacity, like a hosted endpoint: ``generate_negative`` for many
   (positive, rubric) pairs with ``max_concurrency`` requests in flight vs a sequential client (concurrency 1).
   Reports the concurrency achieved at the server vs configured (ratio) and the throughput ratio.

Run: ``.venv/bin/python benchmarks/bench_negatives.py [--stride 1] [--workers 2] [--baseline-rev b3259cf]
[--n-llm 48] [--latency 0.1] [--concurrency 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(os.environ.get("RTT_SHARED_DIR", ROOT.parent / "shared"))
os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))

from discriminator.data.build import BuildConfig, programmatic_item  # noqa: E402
from discriminator.data.diff_labels import char_opcodes  # noqa: E402
from discriminator.data.llm_generation import GenerationStats, generate_negative  # noqa: E402
from rubrics.importers import import_items  # noqa: E402
from rubrics.llm import LLMClient, LLMConfig  # noqa: E402
from tests.helpers.llm_server import Reply, ScriptedOpenAI  # noqa: E402

BASELINE_REV = "b3259cf"  # the last commit before the issue-10 speed-ups ("today's path")

_WORKER = r"""
import json, sys, time
from discriminator.data.build import BuildConfig, programmatic_item
from rubrics.importers import import_items
shared, stride, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
items = import_items(shared + "/data/ifeval/input_data.jsonl")[::stride]
items += import_items(shared + "/data/muldimif/test.json")[::stride]
programmatic_item(items[0], BuildConfig())  # warm the checkers (NLTK / langdetect load once)
t0 = time.perf_counter()
if workers == 0:  # today's path: one process, item after item
    records = [r for it in items for r in programmatic_item(it, BuildConfig())]
else:
    from discriminator.data.pool import programmatic_records
    jobs = [(it, None, frozenset()) for it in items]
    records = [r for _, recs in programmatic_records(jobs, BuildConfig(), workers=workers) for r in recs]
dt = time.perf_counter() - t0
print(json.dumps({"items": len(items), "seconds": dt, "pairs": sum(r.usable for r in records),
                  "rule_rubrics": sum(r.family != "llm" for r in records)}))
"""


def _run_worker(root: Path, stride: int, workers: int) -> dict:
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, str(SHARED), str(stride), str(workers)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker failed in {root}:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load"] = os.getloadavg()[0]
    return out


def bench_programmatic(stride: int, workers: int, baseline_rev: str | None):
    """Today's path (baseline revision, one process) vs ours (one process) vs ours (process pool)."""
    import subprocess
    import tempfile

    res = {}
    if baseline_rev:
        with tempfile.TemporaryDirectory(prefix="rtt-baseline-") as tmp:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", baseline_rev], capture_output=True, check=False
            )
            if archive.returncode == 0:
                subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
                res["today"] = _run_worker(Path(tmp), stride, 0)
            else:
                print(f"(no baseline: git archive {baseline_rev} failed: {archive.stderr.decode()[-200:]})")
    res["ours_1"] = _run_worker(ROOT, stride, 1)
    res["ours_pool"] = _run_worker(ROOT, stride, workers)
    return res


def sample_pairs(stride: int):
    items = import_items(str(SHARED / "data/ifeval/input_data.jsonl"))[::stride]
    items += import_items(str(SHARED / "data/muldimif/test.json"))[::stride]
    return [r for it in items for r in programmatic_item(it, BuildConfig()) if r.usable]


def bench_diff(pairs, repeat: int = 3):
    texts = [(p.positive, p.negative) for p in pairs]
    t0 = time.perf_counter()
    for _ in range(repeat):
        for a, b in texts:
            char_opcodes(a, b)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(repeat):
        for a, b in texts:
            difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    naive = time.perf_counter() - t0
    n = len(texts) * repeat
    return {"pairs": n, "ours_per_s": n / ours, "difflib_per_s": n / naive}


def bench_llm(pairs, n: int, latency: float, concurrency: int):
    from rubrics.importers import import_items as _imp

    by_id = {}
    for path in ("data/ifeval/input_data.jsonl", "data/muldimif/test.json"):
        for it in _imp(str(SHARED / path)):
            by_id[it.id] = it
    jobs = []
    for p in pairs[:n]:
        item = by_id[p.item_id]
        jobs.append((item, next(r for r in item.rubrics if r.id == p.rubric_id), p.positive, p.negative))
    answers = {pos + "\x00" + r.text: neg for _, r, pos, neg in jobs}

    def respond(body, k):
        prompt = body["messages"][0]["content"]
        target = prompt.split("# Target rubric (must be violated)\n", 1)[1].split("\n", 1)[0]
        resp = prompt.split("# Response\n", 1)[1].rsplit("\n\nAnswer with a JSON object", 1)[0]
        neg = answers.get(resp + "\x00" + target, "unchanged")
        return Reply(content=json.dumps({"modified_response": neg}), delay_s=latency)

    results = {}
    for label, conc in (("sequential", 1), ("ours", concurrency)):
        server = ScriptedOpenAI(responder=respond).start()
        try:
            cfg = LLMConfig(base_url=server.base_url, model="fake", max_concurrency=conc, max_retries=0, timeout_s=30)
            stats = GenerationStats()

            async def run(cfg=cfg, stats=stats):
                client = LLMClient(cfg)
                try:
                    return await asyncio.gather(
                        *(generate_negative(client, it, r, pos, stats=stats) for it, r, pos, _ in jobs)
                    )
                finally:
                    await client.aclose()

            t0 = time.perf_counter()
            out = asyncio.run(run())
            dt = time.perf_counter() - t0
            results[label] = {
                "seconds": dt,
                "per_s": len(jobs) / dt,
                "max_in_flight": server.max_in_flight,
                "accepted": sum(o.status == "accepted" for o in out),
                "configured": conc,
            }
        finally:
            server.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stride", type=int, default=1, help="every N-th item of each benchmark (1: all 1,741)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processes of the pool")
    ap.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of today's path ('' to skip)")
    ap.add_argument("--stride-llm", type=int, default=10, help="every N-th item for the diff / LLM pairs")
    ap.add_argument("--n-llm", type=int, default=48)
    ap.add_argument("--latency", type=float, default=0.1, help="fake server latency per request (s)")
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    prog = bench_programmatic(args.stride, args.workers, args.baseline_rev)
    pairs = sample_pairs(args.stride_llm)
    diff = bench_diff(pairs)
    llm = bench_llm(pairs, args.n_llm, args.latency, args.concurrency)

    t = Table(title=f"discriminator data: throughput (ours vs today / naive / sequential), {os.cpu_count()} CPUs")
    for c in ("what", "ours", "baseline", "ratio"):
        t.add_column(c, justify="left" if c == "what" else "right")
    today, one, pool = prog.get("today"), prog["ours_1"], prog["ours_pool"]
    rate = lambda r: r["pairs"] / r["seconds"]  # noqa: E731
    base = f"{rate(today):.0f}" if today else "-"
    t.add_row(
        f"programmatic pairs/s, pool of {args.workers} vs today ({one['items']} items)",
        f"{rate(pool):.0f}",
        base,
        f"{rate(pool) / rate(today):.1f}x" if today else "-",
    )
    t.add_row(
        "programmatic pairs/s, one process vs today",
        f"{rate(one):.0f}",
        base,
        f"{rate(one) / rate(today):.1f}x" if today else "-",
    )
    t.add_row(
        "pairs produced / rule rubrics (ours vs today)",
        f"{pool['pairs']}/{pool['rule_rubrics']}",
        f"{today['pairs']}/{today['rule_rubrics']}" if today else "-",
        "-",
    )
    t.add_row(
        "load average (1 min) at the end of each run: pool / one / today",
        f"{pool['load']:.1f} / {one['load']:.1f}",
        f"{today['load']:.1f}" if today else "-",
        "-",
    )
    t.add_row(
        f"span diff pairs/s (rapidfuzz Indel vs difflib, {diff['pairs']} pairs)",
        f"{diff['ours_per_s']:.0f}",
        f"{diff['difflib_per_s']:.0f}",
        f"{diff['ours_per_s'] / diff['difflib_per_s']:.1f}x",
    )
    seq, ours = llm["sequential"], llm["ours"]
    t.add_row(
        f"LLM negatives/s (local fake server, {args.latency * 1000:.0f} ms latency, {args.n_llm} pairs)",
        f"{ours['per_s']:.1f}",
        f"{seq['per_s']:.1f}",
        f"{ours['per_s'] / seq['per_s']:.1f}x",
    )
    t.add_row(
        "LLM requests in flight: achieved / configured",
        f"{ours['max_in_flight']}/{ours['configured']}",
        f"{seq['max_in_flight']}/{seq['configured']}",
        f"{ours['max_in_flight'] / ours['configured']:.2f}",
    )
    t.add_row(
        "LLM negatives accepted (fake returns the programmatic edit)", str(ours["accepted"]), str(seq["accepted"]), "-"
    )
    Console().print(t)


if __name__ == "__main__":
    main()
