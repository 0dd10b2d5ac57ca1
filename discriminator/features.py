"""Tokenisation of (criteria, response) pairs and token labels from character spans (torch-free).

Layout of one discriminator input (``head``/``tail`` are the tokenizer's own special tokens, e.g. BERT's
``[CLS]``/``[SEP]`` or a Llama ``<s>``; Qwen-style tokenizers have none)::

    head + ids(prefix(rubric)) + ids(response) + ids(suffix) + tail

The prefix, the response and the suffix are tokenized *separately*, so the response ids are exactly the
response's own tokenization (what a policy sharing the vocabulary produces). Labels: a response token is
relevant (1) if any of its characters lies in a relevant span, else 0; prompt, special and padding positions
are ``IGNORE`` (-100), and so are zero-width response tokens (no characters to judge). Truncation removes
tokens from the *end of the response*, never the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from discriminator.template import PromptTemplate

IGNORE = -100


@dataclass(frozen=True)
class SpecialLayout:
    """Special token ids the tokenizer puts before (``head``) and after (``tail``) one sequence."""

    head: tuple[int, ...]
    tail: tuple[int, ...]


def special_layout(tokenizer) -> SpecialLayout:
    """Probe where ``tokenizer`` adds special tokens to a single sequence (works for any fast tokenizer)."""
    probe = "relevance probe text"
    plain = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(probe, add_special_tokens=True)["input_ids"])
    n = len(plain)
    for i in range(len(full) - n + 1):
        if full[i : i + n] == plain:
            return SpecialLayout(tuple(full[:i]), tuple(full[i + n :]))
    raise ValueError(f"cannot locate the content tokens inside the special-token layout of {type(tokenizer).__name__}")


def ensure_pad_token(tokenizer, model=None) -> int:
    """Give decoder tokenizers without a pad token one (eos, else unk) and mirror it into the model config."""
    if tokenizer.pad_token_id is None:
        for cand in (tokenizer.eos_token, tokenizer.unk_token, tokenizer.bos_token):
            if cand is not None:
                tokenizer.pad_token = cand
                break
        else:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
            if model is not None:
                model.resize_token_embeddings(len(tokenizer))
    if model is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return int(tokenizer.pad_token_id)


def labels_from_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]], n_chars: int) -> list[int]:
    """Per-token 0/1 labels: 1 if any character of the token is inside a span; zero-width tokens get IGNORE."""
    char = np.zeros(n_chars + 1, dtype=np.int64)
    for s, e in spans:
        char[s:e] = 1
    cum = np.concatenate([[0], np.cumsum(char[:n_chars])])
    out = []
    for s, e in offsets:
        s, e = max(0, min(s, n_chars)), max(0, min(e, n_chars))
        out.append(IGNORE if e <= s else int(cum[e] - cum[s] > 0))
    return out


@dataclass
class Encoded:
    """One encoded pair. ``response_offsets`` are character offsets into the response, for the kept tokens."""

    input_ids: list[int]
    response_start: int
    response_offsets: list[tuple[int, int]]
    n_response_total: int
    labels: list[int] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def n_response(self) -> int:
        return len(self.response_offsets)

    @property
    def truncated(self) -> bool:
        return self.n_response < self.n_response_total

    @property
    def response_slice(self) -> slice:
        return slice(self.response_start, self.response_start + self.n_response)


class PromptTooLongError(ValueError):
    """The rubric prompt alone does not fit into ``max_length`` (the rubric is never truncated)."""


class DiscriminatorEncoder:
    """Turns (rubric, response) pairs into discriminator inputs; caches rubric prefixes (pairs share rubrics)."""

    def __init__(self, tokenizer, template: PromptTemplate | str | None = None, max_length: int | None = None):
        if not getattr(tokenizer, "is_fast", True):
            raise TypeError("the discriminator needs a fast tokenizer (character offsets come from the Rust backend)")
        self.tokenizer = tokenizer
        if template is None:
            template = PromptTemplate()
        self.template = template if isinstance(template, PromptTemplate) else PromptTemplate(text=template)
        limit = getattr(tokenizer, "model_max_length", None)
        if max_length is None:
            max_length = limit if limit and limit < 1_000_000 else 512
        self.max_length = int(max_length)
        self.layout = special_layout(tokenizer)
        suffix = self.template.suffix
        self.suffix_ids = list(tokenizer(suffix, add_special_tokens=False)["input_ids"]) if suffix else []
        self._prefix_cache: dict[str, list[int]] = {}

    # -- pieces -------------------------------------------------------------------------------------------------
    def prefix_ids(self, rubrics: Sequence[str]) -> list[list[int]]:
        missing = sorted({r for r in rubrics if r not in self._prefix_cache})
        if missing:
            texts = [self.template.prefix(r) for r in missing]
            for r, ids in zip(missing, self.tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]):
                self._prefix_cache[r] = list(ids)
            if len(self._prefix_cache) > 100_000:
                self._prefix_cache.clear()
                return self.prefix_ids(rubrics)
        return [self._prefix_cache[r] for r in rubrics]

    def tokenize_responses(self, responses: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        from discriminator.projection import absorb_combining_marks

        enc = self.tokenizer(list(responses), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        offsets = [absorb_combining_marks(offs, text) for offs, text in zip(enc["offset_mapping"], responses)]
        return [list(x) for x in enc["input_ids"]], offsets

    def overhead(self, prefix: Sequence[int]) -> int:
        """Tokens of one input that are not response tokens."""
        return len(self.layout.head) + len(prefix) + len(self.suffix_ids) + len(self.layout.tail)

    def response_budget(self, prefix: Sequence[int], what: str = "") -> int:
        budget = self.max_length - self.overhead(prefix)
        if budget < 1:
            raise PromptTooLongError(
                f"{what + ': ' if what else ''}the prompt takes {self.overhead(prefix)} tokens and leaves no room for "
                f"the response within max_length={self.max_length}; the rubric is never truncated, so shorten it "
                "or raise max_length"
            )
        return budget

    def assemble(self, prefix: Sequence[int], response_ids: Sequence[int]) -> tuple[list[int], int]:
        """Full input ids and the index of the first response token."""
        head = list(self.layout.head) + list(prefix)
        return head + list(response_ids) + self.suffix_ids + list(self.layout.tail), len(head)

    # -- whole pairs ----------------------------------------------------------------------------------------------
    def encode(
        self,
        rubrics: Sequence[str],
        responses: Sequence[str],
        char_spans: Sequence[Sequence[tuple[int, int]]] | None = None,
        names: Sequence[str] | None = None,
        skip_too_long: bool = False,
    ) -> list[Encoded | None]:
        """Encode pairs, truncating the response end to ``max_length``; labels when ``char_spans`` is given.

        A pair whose prompt alone exceeds ``max_length`` raises :class:`PromptTooLongError`, or gives ``None``
        with ``skip_too_long``."""
        if len(rubrics) != len(responses):
            raise ValueError(f"{len(rubrics)} rubrics but {len(responses)} responses")
        prefixes = self.prefix_ids(rubrics)
        ids, offsets = self.tokenize_responses(responses)
        out = []
        for i, (prefix, rids, offs) in enumerate(zip(prefixes, ids, offsets)):
            try:
                budget = self.response_budget(prefix, names[i] if names else f"pair {i}")
            except PromptTooLongError:
                if not skip_too_long:
                    raise
                out.append(None)
                continue
            kept_ids, kept_offs = rids[:budget], offs[:budget]
            input_ids, start = self.assemble(prefix, kept_ids)
            labels = None
            if char_spans is not None:
                labels = [IGNORE] * len(input_ids)
                labels[start : start + len(kept_ids)] = labels_from_spans(kept_offs, char_spans[i], len(responses[i]))
            out.append(Encoded(input_ids, start, kept_offs, len(rids), labels))
        return out
