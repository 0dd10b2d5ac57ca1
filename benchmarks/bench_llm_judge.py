"""LLM judge throughput against a REAL local ``transformers serve``, ours vs naive, side by side.

For each model, a server runs on 127.0.0.1 (CPU) and is stopped at the end; the same (response, criterion)
judge prompts are sent by:

* naive: the synchronous ``openai.OpenAI`` client, one request after the other, then ``parse_yes_no``;
* ours, cold: ``LLMJudge`` (async, ``max_concurrency`` requests in flight, empty verdict cache);
* ours, cached: the same call again with the on-disk cache filled (no HTTP call at all).

It also reports the share of answers parsed as YES/NO and the server start-up time. Models: ``fake`` (the
scripted test endpoint with a fixed latency and parallel capacity, like a hosted API: the case concurrency is
for), ``tiny`` (the random 2-layer model of the tests: HTTP/tokenisation overhead dominates, which concurrency hides)
and ``smollm2`` (SmolLM2-135M-Instruct, converted once from the offline GGUF by ``rubrics/offline_models.py``;
compute-bound: ``transformers serve`` without continuous batching runs one ``generate`` at a
time, so concurrency gains little there; it pays with vLLM / llama.cpp / hosted endpoints).

Run: ``.venv/bin/python benchmarks/bench_llm_judge.py [--models tiny,smollm2] [--n 16] [--concurrency 8]``
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

from rubrics.judge import TEMPLATES, JudgeRequest, LLMJudge, judge_messages, parse_yes_no  # noqa: E402
from rubrics.llm import LLMClient, LLMConfig  # noqa: E402
from rubrics.offline_models import smollm2_dir  # noqa: E402
from rubrics.schema import Rubric, RubricItem  # noqa: E402
from tests.helpers.llm_server import Reply, ScriptedOpenAI, start_transformers_serve  # noqa: E402

RESPONSES = [
    "The sea is wide and blue\nIts waves roll in anew",
    "Mountains, rivers, and trees,\nall green.",
    "Waves crash on the shore at night\nThe moon above shines bright",
    "I cannot write poems.",
    "Salt and foam and endless tide\nThe ocean's arms are open wide",
    "the sea, the sea, the sea",
    "Blue water sings a song\nAll the summer long",
    "Here is a poem:\nThe sea is calm today\nAnd gulls fly far away",
]
ITEM = RubricItem(
    id="bench-poem",
    prompt="Write a two-line poem about the sea. Do not use any commas.",
    rubrics=[
        Rubric(id="commas", text="The response contains no commas."),
        Rubric(id="sea", text="The poem is about the sea."),
        Rubric(id="two-lines", text="The response has exactly two lines."),
    ],
)


def requests(n: int) -> list[JudgeRequest]:
    out = [JudgeRequest(item=ITEM, rubric=r, response=resp) for resp in RESPONSES for r in ITEM.rubrics]
    while len(out) < n:  # distinct responses so that nothing is deduplicated
        k = len(out)
        out.append(JudgeRequest(item=ITEM, rubric=ITEM.rubrics[k % 3], response=f"{RESPONSES[k % 8]} ({k})"))
    return out[:n]


def naive(cfg, reqs: list[JudgeRequest]) -> tuple[float, int]:
    import openai

    client = openai.OpenAI(base_url=cfg.base_url, api_key="EMPTY", timeout=cfg.timeout_s)
    t0 = time.perf_counter()
    parsed = 0
    for r in reqs:
        resp = client.chat.completions.create(
            model=cfg.model, messages=judge_messages(r, TEMPLATES["v1"]), temperature=0.0, max_tokens=cfg.max_tokens
        )
        parsed += parse_yes_no(resp.choices[0].message.content) is not None
    client.close()
    return time.perf_counter() - t0, parsed


def bench_model(name: str, model_dir: Path | None, args: argparse.Namespace, tmp: Path) -> list[tuple]:
    reqs = requests(args.n)
    n = len(reqs)
    if model_dir is None:  # a latency-bound endpoint with parallel capacity, like a hosted API
        server = ScriptedOpenAI(default=Reply(200, "YES", delay_s=args.fake_latency_s))
        server.startup_s = 0.0
        ctx = server
    else:
        ctx = server = start_transformers_serve(model_dir, log_path=tmp / f"{name}.log", threads=args.threads)
    with ctx:
        base = server.base_url
        model = server.model if model_dir is not None else "scripted"
        cfg = LLMConfig(
            base_url=base, model=model, max_tokens=args.max_tokens, max_concurrency=args.concurrency, timeout_s=600
        )
        naive_s, naive_parsed = naive(cfg, reqs)
        client = LLMClient(cfg)
        t = time.perf_counter()
        cold = LLMJudge(client, cache_dir=tmp / f"cache-{name}").judge(reqs)
        cold_s = time.perf_counter() - t
        sent = client.stats.requests
        t = time.perf_counter()
        warm = LLMJudge(client, cache_dir=tmp / f"cache-{name}").judge(reqs)
        warm_s = time.perf_counter() - t
        assert client.stats.requests == sent and all(v.cached for v in warm)
        client.close()
    print(f"{name}: server start-up {server.startup_s:.1f}s; client {client.stats}", flush=True)

    def parsed(vs):
        return sum(v.satisfied is not None for v in vs)

    return [
        (name, "naive (sync openai, sequential)", n, naive_s, naive_s, naive_parsed),
        (name, f"ours cold (async, concurrency {args.concurrency})", n, cold_s, naive_s, parsed(cold)),
        (name, "ours cached (on-disk verdicts)", n, warm_s, naive_s, parsed(warm)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="fake,tiny,smollm2", help="comma list of: fake, tiny, smollm2")
    ap.add_argument("--fake-latency-s", type=float, default=0.1, help="latency of the scripted endpoint")
    ap.add_argument("--n", type=int, default=16, help="judge requests per mode")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads of the server (OMP_NUM_THREADS)")
    args = ap.parse_args()

    rows: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp_name:
        tmp = Path(tmp_name)
        for name in args.models.split(","):
            if name == "fake":
                model_dir = None
            elif name == "tiny":
                from tests.helpers.llm_server import tiny_chat_model

                model_dir = tiny_chat_model(tmp / "tiny")
            elif name == "smollm2":
                t0 = time.perf_counter()
                model_dir = smollm2_dir()
                print(f"smollm2: folder ready in {time.perf_counter() - t0:.1f}s ({model_dir})", flush=True)
            else:
                raise SystemExit(f"unknown model {name!r}")
            rows += bench_model(name, model_dir, args, tmp)

    print(f"\nserver threads {args.threads}, max_tokens {args.max_tokens}")
    print(f"{'model':<8} {'mode':<38} {'n':>4} {'seconds':>8} {'req/s':>8} {'speed-up':>9} {'parsed':>7}")
    for name, mode, n, sec, base, ok in rows:
        print(f"{name:<8} {mode:<38} {n:>4} {sec:8.2f} {n / sec:8.2f} {base / sec:8.1f}x {ok:>3}/{n}")


if __name__ == "__main__":
    main()
