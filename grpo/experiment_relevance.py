"""Relevance sources of the learning benchmark's arms, and the trainer that swaps them in.

* ``discriminator`` - the trained relevance discriminator (what :class:`~grpo.trainer.RTTGRPOTrainer` does);
* ``oracle``  - exact character spans from the rule checkers' own logic (:func:`oracle_chars`), projected
  onto the policy's tokens like the discriminator's scores; the upper bound a perfect discriminator gives;
* ``shuffled`` - the discriminator's map of each (response, rubric) permuted across that response's tokens:
  same multiset of values, no positional information (the control);
* ``cort`` - CoRT-style counterfactual log-prob gain under the frozen initial policy (no discriminator).

Oracle spans per rule (``s`` is the verdict; a relevant character is one the verdict hinges on):

==================================  =================================================================
``punctuation:no_comma``            every comma
``change_case:english_lowercase``   every upper-case letter (failing); every letter (passing)
``keywords:existence``              every occurrence of a keyword (the words containing it)
``keywords:frequency``              every occurrence of the keyword; "less than": from the N-th on
``keywords:forbidden_words``        every occurrence of a forbidden word (whole word, as IFEval checks)
``length_constraints:number_words`` "less than N": words from the N-th on; "at least N": the first N
                                    words when met, the last word (where the response stopped) when not
``length_constraints:number_sentences``  sentence-ending marks; "less than N": from the N-th on;
                                    "at least N" not met: the last word as well
other rules                         passing: the characters the programmatic minimal edit changes
                                    (:mod:`discriminator.data.programmatic`, the discriminator's own
                                    training labels); failing: nothing (a zero row: no token signal)
==================================  =================================================================
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from rubrics.schema import Rubric, RubricItem, RuleVerifier

_WORD = re.compile(r"\S+")
_SENT_END = re.compile(r"[.!?]+")


def _mark(out: np.ndarray, spans) -> np.ndarray:
    for s, e in spans:
        out[s:e] = 1.0
    return out


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def _enclosing_words(text: str, spans) -> list[tuple[int, int]]:
    words = _word_spans(text)
    out = []
    for s, e in spans:
        out += [(ws, we) for ws, we in words if ws < e and we > s] or [(s, e)]
    return out


def _occurrences(text: str, word: str, *, whole: bool) -> list[tuple[int, int]]:
    if not word:
        return []
    pat = (r"\b" + re.escape(word) + r"\b") if whole else re.escape(word)
    return [m.span() for m in re.finditer(pat, text, flags=re.IGNORECASE)]


def oracle_chars(rubric: Rubric, text: str, passed: bool, prompt: str = "") -> np.ndarray | None:
    """``(len(text),)`` 0/1 relevance of each character to the rubric's verdict ``passed`` (see module doc);
    ``None`` when the rubric has no rule checker."""
    v = rubric.verifier
    if not isinstance(v, RuleVerifier):
        return None
    kw = dict(v.kwargs)
    out = np.zeros(len(text), dtype=np.float32)
    rid = v.rule_id
    if v.family in ("ifeval", "ifbench"):
        if rid == "punctuation:no_comma":
            return _mark(out, [(m.start(), m.end()) for m in re.finditer(",", text)])
        if rid == "change_case:english_lowercase":
            return _mark(out, [(i, i + 1) for i, c in enumerate(text) if (c.isupper() if not passed else c.isalpha())])
        if rid == "keywords:existence":
            spans = [sp for k in kw.get("keywords") or [] for sp in _occurrences(text, k, whole=False)]
            return _mark(out, _enclosing_words(text, spans))
        if rid == "keywords:frequency":
            occ = _occurrences(text, kw.get("keyword") or "", whole=False)
            if kw.get("relation") == "less than":
                occ = occ[max(int(kw.get("frequency", 1)) - 1, 0):] if not passed else occ
            return _mark(out, _enclosing_words(text, occ))
        if rid == "keywords:forbidden_words":
            spans = [sp for w in kw.get("forbidden_words") or [] for sp in _occurrences(text, w, whole=True)]
            return _mark(out, spans)
        if rid == "length_constraints:number_words":
            words, n = _word_spans(text), int(kw.get("num_words", 0))
            if kw.get("relation") == "less than":
                return _mark(out, words[max(n - 1, 0):])
            return _mark(out, words[:n] if passed else words[-1:])
        if rid == "length_constraints:number_sentences":
            ends, n = [m.span() for m in _SENT_END.finditer(text)], int(kw.get("num_sentences", 0))
            if kw.get("relation") == "less than":
                return _mark(out, ends[max(n - 1, 0):])
            return _mark(out, ends if passed else ends + _word_spans(text)[-1:])
    if not passed:
        return out
    from discriminator.data.diff_labels import diff_spans
    from discriminator.data.programmatic import make_negative

    item = RubricItem(id="oracle", prompt=prompt or "-", rubrics=[rubric])
    edit = make_negative(item, rubric, text)
    if edit.negative is None:
        return out
    return _mark(out, diff_spans(text, edit.negative).positive_spans)


def chars_onto_policy_tokens(char_scores: np.ndarray, tokenizer, ids: Sequence[int], text: str) -> torch.Tensor:
    """``(len(ids),)`` max character relevance of each policy token (same projection as the discriminator)."""
    from discriminator.projection import chars_to_tokens, policy_offsets

    offs = policy_offsets(tokenizer, list(ids), text)
    return torch.as_tensor(chars_to_tokens(char_scores, offs, reduce="max"), dtype=torch.float32)


def shuffle_relevance(rel: torch.Tensor, response_mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute each ``(b, k)`` row of ``rel`` ``(B, R, T)`` across the valid tokens of response ``b``
    (``response_mask`` ``(B, T)``): each row keeps its multiset of values; padding stays as it was."""
    out = rel.clone()
    lengths = response_mask.sum(-1).tolist()
    for b, n in enumerate(lengths):
        n = int(n)
        if n < 2:
            continue
        idx = response_mask[b].nonzero().flatten()
        for k in range(rel.shape[1]):
            perm = torch.randperm(n, generator=generator).to(idx.device)
            out[b, k, idx] = rel[b, k, idx[perm]]
    return out
