"""Held-out metrics of the learning experiment beyond pass rates: per-rubric-kind pass rates, diversity, drift.

* ``per_kind`` - strict pass rate per rubric kind (``words``, ``sentences``, ``topic``, ``no_repeat``,
  ``target:<rule>``), from :func:`grpo.evaluate.score_responses` rows;
* ``diversity`` - mean length in words, distinct-2 (distinct word bigrams / all bigrams, pooled over the
  responses), repetition rate (mean over responses of the share of words that repeat an earlier word of the
  same response);
* ``drift`` - per-token KL(current || initial) along the greedy responses (exact over the vocabulary at each
  position, mean over response tokens) and the perplexity of the responses under the initial policy.

A pass-rate gain that comes with collapsing diversity or a large drift is flagged in the report.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def per_kind(items: Sequence[Any], rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """``{kind: strict pass rate}`` over all (prompt, rubric) pairs of that kind."""
    from grpo.experiment.task import rubric_kind

    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for it, row in zip(items, rows):
        for r in row["rubrics"]:
            kind = rubric_kind(r["id"])
            if kind == "target" and it.meta.get("target"):
                kind = f"target:{it.meta['target']}"
            acc[kind][0] += int(r["strict"])
            acc[kind][1] += 1
    return {k: a[0] / a[1] for k, a in sorted(acc.items()) if a[1]}


def diversity(responses: Sequence[str]) -> dict[str, float]:
    """Mean length (words), distinct-2 and repetition rate of a list of responses."""
    words = [[w.lower() for w in _WORD.findall(r)] for r in responses]
    n = max(len(words), 1)
    bigrams = [tuple(w[i : i + 2]) for w in words for i in range(len(w) - 1)]
    reps = [(len(w) - len(set(w))) / len(w) for w in words if w]
    return {
        "mean_words": sum(len(w) for w in words) / n,
        "distinct2": len(set(bigrams)) / len(bigrams) if bigrams else 0.0,
        "repetition": sum(reps) / len(reps) if reps else 0.0,
    }


def drift(
    model, init_model, tokenizer, items: Sequence[Any], responses: Sequence[str], batch_size: int = 8
) -> dict[str, float]:
    """``kl_init`` (mean per-token KL(current || initial) on the responses) and ``ppl_init`` (perplexity of the
    responses under the initial policy). Teacher-forced on chat prompt + response tokens."""
    import torch

    from grpo.evaluate import _chat

    device = next(model.parameters()).device
    kl_sum, nll_sum, count = 0.0, 0.0, 0
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(items), batch_size):
            seqs = []
            for it, resp in zip(items[start : start + batch_size], responses[start : start + batch_size]):
                p = tokenizer.apply_chat_template(_chat(it, None), tokenize=False, add_generation_prompt=True)
                pids = tokenizer(p, add_special_tokens=False)["input_ids"]
                rids = tokenizer(resp, add_special_tokens=False)["input_ids"]
                if rids:
                    seqs.append((pids, rids))
            if not seqs:
                continue
            n = max(len(a) + len(b) for a, b in seqs)
            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            ids = torch.full((len(seqs), n), pad, dtype=torch.long)
            att = torch.zeros((len(seqs), n), dtype=torch.long)
            tgt = torch.zeros((len(seqs), n), dtype=torch.bool)  # positions whose *next* token is a response token
            for r, (a, b) in enumerate(seqs):
                ids[r, : len(a) + len(b)] = torch.tensor(a + b)
                att[r, : len(a) + len(b)] = 1
                tgt[r, len(a) - 1 : len(a) + len(b) - 1] = True
            ids, att, tgt = ids.to(device), att.to(device), tgt.to(device)
            with torch.inference_mode():
                lp = torch.log_softmax(model(input_ids=ids, attention_mask=att).logits.float()[tgt], -1)
                lq = torch.log_softmax(init_model(input_ids=ids, attention_mask=att).logits.float()[tgt], -1)
            nxt = ids[:, 1:][tgt[:, :-1]]
            kl_sum += float((lp.exp() * (lp - lq)).sum())
            nll_sum += float(-lq.gather(-1, nxt[:, None]).sum())
            count += int(tgt.sum())
    finally:
        model.train(was_training)
    if not count:
        return {"kl_init": 0.0, "ppl_init": float("nan")}
    import math

    return {"kl_init": kl_sum / count, "ppl_init": math.exp(nll_sum / count)}
