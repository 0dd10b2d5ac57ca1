"""Baselines the discriminator is compared with; each returns per-character relevance scores of a response.

* ``all_relevant``: every character relevant (score 1).
* ``random``: uniform random scores; thresholded so the predicted rate equals the validation base rate.
* ``lexical``: soft overlap between the rubric's content words (stop words removed, light suffix stems) and the
  response's words: 1 for a stem match, else the best fuzzy similarity to a rubric word (0 below 0.5).
* ``cort``: zero-training contrast under a policy causal LM: per-token log-probability of the response with
  the rubric in the prompt minus without it (CoRT-style); a token the rubric makes more likely is relevant.
* ``greedy``: the data pipeline's LLM labeler (quotes matched back to spans), where an endpoint is configured.

Torch is imported only by the CoRT baseline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# NLTK's English stop words (apostrophe forms split like the word regex does) plus rubric boilerplate.
STOPWORDS = frozenset(
    """a about above after again against ain all am an and any are aren as at be because been before being below
    between both but by can couldn d did didn do does doesn doing don down during each few for from further had
    hadn has hasn have haven having he her here hers herself him himself his how i if in into is isn it its itself
    just ll m ma me mightn more most mustn my myself needn no nor not now o of off on once only or other our ours
    ourselves out over own re s same shan she should shouldn so some such t than that the their theirs them
    themselves then there these they this those through to too under until up ve very was wasn we were weren what
    when where which while who whom why will with won wouldn y you your yours yourself yourselves
    response answer use using make sure include ensure following must""".split()
)
_SUFFIXES = ("ingly", "edly", "ing", "ies", "ed", "es", "ly", "s")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A light suffix-stripping stem (keywords -> keyword, commas -> comma, capitalized -> capitaliz)."""
    for suf in _SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            return word[: -len(suf)] + ("y" if suf == "ies" else "")
    return word


def all_relevant_chars(criteria: str, response: str) -> np.ndarray:
    return np.ones(len(response), dtype=np.float32)


def random_chars(criteria: str, response: str, rng: np.random.Generator) -> np.ndarray:
    return rng.random(len(response)).astype(np.float32)


def random_token_scores(n: int, rng: np.random.Generator) -> np.ndarray:
    """Random baseline at the token level (independent draws per token, the unit the metrics count)."""
    return rng.random(n).astype(np.float32)


def rubric_terms(criteria: str) -> tuple[set[str], list[str]]:
    """(stems, words) of the rubric's content words."""
    stop = STOPWORDS
    words = [w.lower() for w in _WORD.findall(criteria)]
    words = [w for w in words if w not in stop and (len(w) > 1 or w.isdigit())]
    return {_stem(w) for w in words}, sorted(set(words))


def lexical_chars(criteria: str, response: str, min_similarity: float = 0.5) -> np.ndarray:
    """Soft lexical-overlap relevance per character (see module doc)."""
    from rapidfuzz import fuzz, process

    stems, words = rubric_terms(criteria)
    out = np.zeros(len(response), dtype=np.float32)
    if not words:
        return out
    stop = STOPWORDS
    for m in _WORD.finditer(response):
        w = m.group().lower()
        if w in stop:
            continue
        if _stem(w) in stems:
            score = 1.0
        else:
            best = process.extractOne(w, words, scorer=fuzz.ratio)
            score = best[1] / 100.0 if best else 0.0
            score = score * 0.99 if score >= min_similarity else 0.0  # a fuzzy match never outranks an exact one
        out[m.start() : m.end()] = score
    return out


# -- CoRT-style contrast under a policy LM ------------------------------------------------------------------------
def resolve_policy(path: str | Path | None) -> Path:
    """The causal LM folder for CoRT: ``path``, else SmolLM2-135M-Instruct converted from the offline GGUF."""
    if path:
        return Path(path)
    from rubrics.offline_models import smollm2_dir

    return smollm2_dir()


def _chat_ids(tokenizer, user: str) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": user}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)
    return list(tokenizer(f"{user}\n\n", add_special_tokens=True)["input_ids"])


class CoRTScorer:
    """Per-token log-prob increase of the response when the rubric is added to the prompt."""

    def __init__(
        self,
        policy: str | Path | None = None,
        device: str | None = None,
        token_budget: int = 4096,
        max_length: int = 1024,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_policy(policy)
        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).to(self.device).eval()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.token_budget, self.max_length = token_budget, max_length
        self.name = str(path)

    def prompts(self, criteria: str, instruction: str | None) -> tuple[list[int], list[int]]:
        base = (instruction or "").strip()
        with_rubric = f"{base}\n\nCriterion: {criteria}".strip() if base else f"Criterion: {criteria}"
        return _chat_ids(self.tokenizer, with_rubric), _chat_ids(self.tokenizer, base)

    def _logprobs(self, seqs: list[tuple[list[int], int]], progress=None) -> list[np.ndarray]:
        """Log-prob of each token from index ``start`` on, for ``(ids, start)`` sequences (length-bucketed)."""
        torch = self.torch
        out: list[np.ndarray | None] = [None] * len(seqs)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]))
        batches, cur, longest = [], [], 0
        for i in order:
            n = len(seqs[i][0])
            if cur and max(longest, n) * (len(cur) + 1) > self.token_budget:
                batches.append(cur)
                cur, longest = [], 0
            cur.append(i)
            longest = max(longest, n)
        if cur:
            batches.append(cur)
        with torch.inference_mode():
            for b, batch in enumerate(batches):
                if progress is not None:
                    progress(f"CoRT: micro-batch {b + 1}/{len(batches)}")
                n = max(len(seqs[i][0]) for i in batch)
                ids = torch.full((len(batch), n), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), n), dtype=torch.long)
                for r, i in enumerate(batch):
                    ids[r, : len(seqs[i][0])] = torch.tensor(seqs[i][0])
                    mask[r, : len(seqs[i][0])] = 1
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                logits = logits[:, :-1].float()
                # log p(token) = logit[token] - logsumexp(logits): no full log-softmax tensor is materialised
                target = logits.gather(-1, ids[:, 1:, None].to(self.device))[..., 0]
                logp = (target - torch.logsumexp(logits, dim=-1)).cpu().numpy()
                del logits
                for r, i in enumerate(batch):
                    ids_i, start = seqs[i]
                    out[i] = logp[r, start - 1 : len(ids_i) - 1]
        return out  # type: ignore[return-value]

    def char_scores(
        self,
        criteria: Sequence[str],
        responses: Sequence[str],
        instructions: Sequence[str | None] | None = None,
        progress=None,
    ) -> list[np.ndarray]:
        from discriminator.projection import tokens_to_chars

        instructions = instructions or [None] * len(criteria)
        enc = self.tokenizer(list(responses), add_special_tokens=False, return_offsets_mapping=True)
        seqs, meta = [], []
        for c, ins, rids, offs in zip(criteria, instructions, enc["input_ids"], enc["offset_mapping"]):
            with_ids, without_ids = self.prompts(c, ins)
            keep = max(0, self.max_length - max(len(with_ids), len(without_ids)))
            rids = list(rids)[:keep]
            seqs.append((with_ids + rids, len(with_ids)))
            seqs.append((without_ids + rids, len(without_ids)))
            meta.append([tuple(o) for o in offs][: len(rids)])
        lps = self._logprobs(seqs, progress)
        out = []
        for k, (resp, offs) in enumerate(zip(responses, meta)):
            delta = lps[2 * k] - lps[2 * k + 1]
            chars = tokens_to_chars(offs, delta, len(resp))
            out.append(np.nan_to_num(chars, nan=float(delta.min()) if len(delta) else 0.0))
        return out


# -- greedy LLM labeler (from the data pipeline) --------------------------------------------------------------------
def greedy_char_scores(pairs: Sequence[tuple[str, str]], llm_config) -> tuple[list[np.ndarray], dict[str, int]]:
    """Hard 0/1 character relevance from the data pipeline's greedy LLM labeler (one request per pair, run
    concurrently up to the endpoint's ``max_concurrency``); failed answers count as "nothing relevant"."""
    import asyncio

    from discriminator.data.greedy import greedy_label
    from rubrics.llm import LLMClient

    client = LLMClient(llm_config)

    async def run():
        try:
            return await asyncio.gather(*(greedy_label(client, c, r) for c, r in pairs))
        finally:
            await client.aclose()

    try:
        results = client.run_sync(run())
    finally:
        client.close()
    out, stats = [], {"pairs": len(pairs), "failed": 0, "unmatched_quotes": 0}
    for (_, response), res in zip(pairs, results):
        chars = np.zeros(len(response), dtype=np.float32)
        if res.error:
            stats["failed"] += 1
        for s, e in res.spans:
            chars[s:e] = 1.0
        stats["unmatched_quotes"] += len(res.unmatched)
        out.append(chars)
    return out, stats
