"""Fast batched relevance scoring with a trained discriminator: the API the RTT-GRPO trainer calls.

All (rubric, response) pairs of a step are scored together: inputs are sorted by length and cut into
micro-batches whose padded size stays within ``token_budget`` tokens, so padding waste is small and memory is
bounded; everything runs under ``torch.inference_mode``. Responses longer than the model's ``max_length`` are
scored in windows (each window repeats the full rubric prompt; the first ``context`` tokens of every later
window are left context only, scored by the window before), so every response token gets a score.

Relevance onto a policy's tokens (``score_for_policy``):

* shared vocabulary (same token -> id mapping, see ``projection.vocab_fingerprint``) and ids given: the policy
  ids are placed into the template directly (no re-tokenisation, one score per policy token);
* otherwise: discriminator tokens -> characters -> policy tokens through character offsets
  (``projection``; policy token = ``max`` (default) or ``mean`` over its characters).

Special tokens (EOS, pad, BOS, chat markers: any id the tokenizer marks special) get relevance exactly 0 on
both paths: the ids path leaves them out of the discriminator's input (as the decoded text the projection path
scores leaves them out) and puts 0 at their positions. For canonical ids of a shared tokenizer the two paths
then agree exactly on every other token (ASCII text; a character split across byte-level tokens gives all its
pieces the max of their scores on the projection path).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from discriminator.features import DiscriminatorEncoder
from discriminator.model import DiscriminatorMeta, load_discriminator, model_max_length, token_logits
from discriminator.projection import chars_to_tokens, policy_offsets, tokens_to_chars, vocab_fingerprint


@dataclass
class _Seq:
    pair: int
    ids: list[int]
    start: int  # input position of the first response token in this window
    score_from: int  # first response-token index (within the response) this window reports
    score_to: int
    window_from: int  # response-token index of the window's first token


@dataclass
class ScoringStats:
    """Bookkeeping of the last call: sequences, micro-batches, real vs processed (padded) tokens."""

    sequences: int = 0
    batches: int = 0
    real_tokens: int = 0
    processed_tokens: int = 0

    @property
    def efficiency(self) -> float:
        return self.real_tokens / self.processed_tokens if self.processed_tokens else 1.0


class RelevanceScorer:
    """Scores which response tokens are relevant to a rubric, for many pairs at once.

    Micro-batches hold sequences within ``length_tolerance`` of their longest member (at most 25 % padding per
    sequence by default) and at most ``token_budget`` padded tokens. ``bucketing=False`` switches to naive
    fixed-size batches padded to their longest member, in input order (``naive_batch_size`` pairs each); it
    exists to measure what bucketing saves and gives the same scores.
    """

    def __init__(
        self,
        model,
        tokenizer,
        meta: DiscriminatorMeta,
        *,
        token_budget: int = 16384,
        max_length: int | None = None,
        bucketing: bool = True,
        naive_batch_size: int = 32,
        context: int = 64,
        length_tolerance: float = 0.25,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.device = next(model.parameters()).device
        self.max_length = model_max_length(model, tokenizer, max_length or meta.max_length)
        self.encoder = DiscriminatorEncoder(tokenizer, meta.prompt_template, self.max_length)
        if token_budget < self.max_length:
            raise ValueError(f"token_budget={token_budget} must be at least max_length={self.max_length}")
        self.token_budget = int(token_budget)
        self.bucketing = bucketing
        self.naive_batch_size = int(naive_batch_size)
        self.context = int(context)
        if not 0 < length_tolerance <= 1:
            raise ValueError(f"length_tolerance must be in (0, 1], got {length_tolerance}")
        self.length_tolerance = float(length_tolerance)
        self.pad_id = int(tokenizer.pad_token_id)
        self.last_stats = ScoringStats()

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        token_budget: int = 16384,
        dtype: torch.dtype | str | None = None,
        **kwargs,
    ) -> RelevanceScorer:
        """Load a saved or exported discriminator (dtype: bf16 on capable CUDA devices, else float32)."""
        model, tokenizer, meta = load_discriminator(path, device=device, dtype=dtype)
        return cls(model, tokenizer, meta, token_budget=token_budget, **kwargs)

    @property
    def threshold(self) -> float:
        """The decision threshold tuned on validation at training time (for hard 0/1 relevance)."""
        return self.meta.threshold

    # -- public API -----------------------------------------------------------------------------------------------
    def score_tokens(self, pairs: Sequence[tuple[str, str]]) -> list[torch.Tensor]:
        """Relevance in [0, 1] of every discriminator token of each response (pairs are ``(criteria, response)``)."""
        crit, resp = _unzip(pairs)
        ids, _ = self.encoder.tokenize_responses(resp)
        return [torch.from_numpy(x) for x in self._score_ids(crit, ids)]

    def score_chars(self, pairs: Sequence[tuple[str, str]], fill_value: float = 0.0) -> list[np.ndarray]:
        """Per-character relevance of each response (characters no token covers get ``fill_value``)."""
        crit, resp = _unzip(pairs)
        return [np.nan_to_num(c, nan=fill_value) for c in self._char_scores(crit, resp)]

    def score_for_policy(
        self,
        criteria: Sequence[str],
        responses: Sequence[str],
        *,
        policy_tokenizer=None,
        response_token_ids: Sequence[Sequence[int]] | None = None,
        response_offsets: Sequence[Sequence[tuple[int, int]]] | None = None,
        reduce: Literal["max", "mean"] = "max",
        path: Literal["auto", "ids", "project"] = "auto",
    ) -> list[torch.Tensor]:
        """Relevance per POLICY token for each pair ``(criteria[i], responses[i])`` (float32 CPU tensors).

        - ``response_offsets`` given: project onto those character ranges of ``responses[i]``.
        - ``response_token_ids`` given and the policy shares the discriminator's vocabulary (or
          ``policy_tokenizer`` is None, meaning the ids *are* discriminator ids): fast path, ids fed directly.
        - ``policy_tokenizer`` given otherwise: offsets of the policy tokens (``response_token_ids``, or the
          tokenizer's own tokenization of the text) are recovered, then projected.
        - nothing given: the discriminator's own tokens (same as :meth:`score_tokens`).
        ``path`` forces ``"ids"`` or ``"project"`` (``"auto"`` picks as above).
        """
        n = len(criteria)
        if len(responses) != n:
            raise ValueError(f"{n} criteria but {len(responses)} responses")
        for name, seq in (("response_token_ids", response_token_ids), ("response_offsets", response_offsets)):
            if seq is not None and len(seq) != n:
                raise ValueError(f"{name} has {len(seq)} entries for {n} pairs")
        if n == 0:
            return []
        shared = policy_tokenizer is None or self.shares_vocab(policy_tokenizer)
        use_ids = response_token_ids is not None and response_offsets is None and shared
        if path == "ids":
            if response_token_ids is None or not shared:
                raise ValueError("path='ids' needs response_token_ids in the discriminator's vocabulary")
            use_ids = True
        elif path == "project":
            use_ids = False
        specials = special_token_ids(self.tokenizer) | special_token_ids(policy_tokenizer)
        if use_ids:
            ids = [list(map(int, x)) for x in response_token_ids]
            keep = [np.fromiter((t not in specials for t in row), dtype=bool, count=len(row)) for row in ids]
            kept = [[t for t, k in zip(row, kp) if k] for row, kp in zip(ids, keep)]
            out = []
            for sc, kp in zip(self._score_ids(list(criteria), kept), keep):
                full = np.zeros(len(kp), dtype=np.float32)
                full[kp] = sc
                out.append(torch.from_numpy(full))
            return out

        offsets = response_offsets
        if offsets is None:
            if policy_tokenizer is None and response_token_ids is None:
                _, offsets = self.encoder.tokenize_responses(responses)
            else:
                tok = policy_tokenizer if policy_tokenizer is not None else self.tokenizer
                offsets = self._offsets_for(tok, responses, response_token_ids)
        chars = self._char_scores(list(criteria), list(responses))
        arrays: dict[int, np.ndarray] = {}  # one array per distinct offsets list (a response has one per rubric)
        for o in offsets:
            if id(o) not in arrays:
                arrays[id(o)] = np.asarray(o, dtype=np.int64).reshape(-1, 2)
        out = [chars_to_tokens(c, arrays[id(o)], reduce) for c, o in zip(chars, offsets)]
        if response_token_ids is not None and response_offsets is None:
            # a special token has no characters; say so explicitly. Pairs with the same (text, ids) share one
            # offsets list (_offsets_for's cache), so the positions are found once per distinct response
            zero_at: dict[int, list[int]] = {}
            for sc, row, o in zip(out, response_token_ids, offsets):
                if id(o) not in zero_at:
                    zero_at[id(o)] = [j for j, t in enumerate(row) if int(t) in specials]
                sc[zero_at[id(o)]] = 0.0
        return [torch.from_numpy(x) for x in out]

    def shares_vocab(self, tokenizer) -> bool:
        return tokenizer is self.tokenizer or vocab_fingerprint(tokenizer) == vocab_fingerprint(self.tokenizer)

    # -- internals ------------------------------------------------------------------------------------------------
    @staticmethod
    def _offsets_for(tokenizer, responses, ids) -> list[list[tuple[int, int]]]:
        cache: dict[tuple, list[tuple[int, int]]] = {}
        out = []
        for i, text in enumerate(responses):
            key = (text, tuple(ids[i]) if ids is not None else None)
            if key not in cache:
                if ids is None:
                    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
                    cache[key] = [tuple(o) for o in enc["offset_mapping"]]
                else:
                    cache[key] = policy_offsets(tokenizer, ids[i], text)
            out.append(cache[key])
        return out

    def _char_scores(self, criteria: list[str], responses: list[str]) -> list[np.ndarray]:
        # a response comes once per rubric: tokenise each distinct text once
        index: dict[str, int] = {}
        which = [index.setdefault(r, len(index)) for r in responses]
        texts = list(index)
        ids, offsets = self.encoder.tokenize_responses(texts)
        offs = [np.asarray(o, dtype=np.int64).reshape(-1, 2) for o in offsets]
        scores = self._score_ids(criteria, [ids[j] for j in which])
        return [tokens_to_chars(offs[j], s, len(texts[j])) for j, s in zip(which, scores)]

    def _windows(self, criteria: list[str], response_ids: list[list[int]]) -> list[_Seq]:
        seqs = []
        for i, (prefix, rids) in enumerate(zip(self.encoder.prefix_ids(criteria), response_ids)):
            if not rids:
                continue  # nothing to score
            budget = self.encoder.response_budget(prefix, f"pair {i}")
            ctx = min(self.context, budget // 2)
            step = budget - ctx
            w = 0
            while True:
                chunk = rids[w : w + budget]
                ids, start = self.encoder.assemble(prefix, chunk)
                score_from = w + (ctx if w > 0 else 0)
                seqs.append(_Seq(i, ids, start, score_from, w + len(chunk), w))
                if w + budget >= len(rids):
                    break
                w += step
        return seqs

    def _batches(self, seqs: list[_Seq]) -> list[list[int]]:
        if not self.bucketing:
            order = list(range(len(seqs)))
            return [order[i : i + self.naive_batch_size] for i in range(0, len(order), self.naive_batch_size)]
        # longest first (an out-of-memory error shows up on the first batch); a batch is closed when one more
        # sequence would exceed the token budget or be shorter than (1 - length_tolerance) x its longest
        order = sorted(range(len(seqs)), key=lambda j: -len(seqs[j].ids))
        batches, cur, longest = [], [], 0
        for j in order:
            n = len(seqs[j].ids)
            if cur and (longest * (len(cur) + 1) > self.token_budget or n < longest * (1 - self.length_tolerance)):
                batches.append(cur)
                cur = []
            if not cur:
                longest = n
            cur.append(j)
        if cur:
            batches.append(cur)
        return batches

    def _score_ids(self, criteria: list[str], response_ids: list[list[int]]) -> list[np.ndarray]:
        if len(criteria) != len(response_ids):
            raise ValueError(f"{len(criteria)} criteria but {len(response_ids)} responses")
        out = [np.zeros(len(r), dtype=np.float32) for r in response_ids]
        seqs = self._windows(criteria, response_ids)
        stats = ScoringStats(sequences=len(seqs))
        # micro-batches are queued without reading results back (so on a GPU the host builds batch k+1 while the
        # device runs batch k); the probabilities come back in one copy per ~64 MB of results
        cuda = self.device.type == "cuda"
        pending: list[tuple[list[int], torch.Tensor]] = []

        def flush() -> None:
            flat = torch.cat([p.reshape(-1) for _, p in pending]).cpu().numpy()
            at = 0
            for batch, p in pending:
                probs = flat[at : at + p.numel()].reshape(p.shape)
                at += p.numel()
                for row, j in enumerate(batch):
                    s = seqs[j]
                    a = s.start + (s.score_from - s.window_from)
                    out[s.pair][s.score_from : s.score_to] = probs[row, a : a + (s.score_to - s.score_from)]
            pending.clear()

        with torch.inference_mode():
            queued = 0
            for batch in self._batches(seqs):
                longest = max(len(seqs[j].ids) for j in batch)
                input_ids = np.full((len(batch), longest), self.pad_id, dtype=np.int64)
                mask = np.zeros((len(batch), longest), dtype=np.int64)
                for row, j in enumerate(batch):
                    ids = seqs[j].ids
                    input_ids[row, : len(ids)] = ids
                    mask[row, : len(ids)] = 1
                x, m = torch.from_numpy(input_ids), torch.from_numpy(mask)
                if cuda:
                    x, m = x.pin_memory(), m.pin_memory()
                logits = token_logits(
                    self.model, x.to(self.device, non_blocking=cuda), m.to(self.device, non_blocking=cuda)
                )
                pending.append(
                    (batch, torch.sigmoid(logits / self.meta.temperature))
                )  # temperature: 1.0 unless calibrated
                queued += mask.size
                if queued >= 1 << 24:
                    flush()
                    queued = 0
                stats.batches += 1
                stats.real_tokens += int(mask.sum())
                stats.processed_tokens += mask.size
            if pending:
                flush()
        self.last_stats = stats
        return out


def special_token_ids(tokenizer) -> frozenset[int]:
    """Ids a tokenizer marks special (EOS, pad, BOS, UNK, chat markers...): they carry no text, relevance 0."""
    if tokenizer is None:
        return frozenset()
    ids = {int(i) for i in getattr(tokenizer, "all_special_ids", []) or [] if i is not None}
    for tid, tok in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(tok, "special", False):
            ids.add(int(tid))
    return frozenset(ids)


def _unzip(pairs: Sequence[tuple[str, str]]) -> tuple[list[str], list[str]]:
    crit, resp = [], []
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"pair {i}: expected (criteria, response), got {len(pair)} items")
        crit.append(pair[0])
        resp.append(pair[1])
    return crit, resp
