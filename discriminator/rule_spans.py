"""Exact rule spans: the characters a rule checker's verdict hinges on, as a relevance source beside the
discriminator (``rtt.relevance: rules | rules+discriminator`` in policy training, the ``oracle`` arms of the
learning experiment, and the agreement figures of the discriminator's evaluation).

Credit semantics. The token term multiplies a rubric's (signed, group-centred) verdict by the relevance of each
token, so the marked characters are the ones whose *presence* decided the verdict, and the sign follows from it:

* presence rules (a keyword exists, at least N of something): when passed, the occurrences that suffice are
  marked and credited up - the first one for "exists", the first N for "at least N" - never the extra ones, so the
  credit cannot reward repeating what is already there; when failed there is no token that caused the failure
  (what is missing is not in the text, and the last word is not it either: it holds the sentence end that a
  sentence rule needs), so the row is empty (no token credit; the response advantage still carries the verdict);
* absence and cap rules (no comma, forbidden words, lowercase only, fewer than N of something): when failed, the
  offending tokens are marked and credited down; when passed, no token decided it, so the row is empty - in
  particular a met "fewer than N" cap never credits its keyword upward (that push is what breaks the cap).

So the marks of a failed absence rule are what to remove to pass, and the marks of a passed presence rule are a
witness: they alone satisfy it.

==================================  =========================================  ===============================
rule                                failed (credited down)                     passed (credited up)
==================================  =========================================  ===============================
``punctuation:no_comma``            every comma                                nothing
``change_case:english_lowercase``   every upper-case letter                    nothing
``keywords:forbidden_words``        every forbidden word (whole word)          nothing
``keywords:existence``              nothing                                    each keyword's first occurrence
``keywords:frequency`` less than N  occurrences from the N-th on               nothing
``keywords:frequency`` at least N   nothing                                    the first N occurrences
``length_constraints:number_words`` less than N: words from the N-th on;       at least N: the first N words;
                                    at least N: nothing                        less than N: nothing
``length_constraints:number_sentences``  less than N: sentence ends from the   at least N: the first N sentence
                                    N-th on; at least N: nothing               ends; less than N: nothing
==================================  =========================================  ===============================

Measured reasons for the two "first" rules and the empty failed "at least N" rows (the learning testbed,
docs/results): with every occurrence of a passed keyword credited up, the centred credit at beta 4 lowered the
"fewer than 3 keywords" cap; with the last word of a too-short answer credited down, its final full stop was
pushed down too, and a one-sided credit (``blame``) lost every sentence end within 75 steps.

These are the *exact* rules (:data:`EXACT_RULES`). Every other rule checker has no exact span here: with
``exact_only=False`` (the learning experiment's oracle) a passed rubric gets the characters the programmatic
minimal edit changes (:mod:`discriminator.data.programmatic`, the discriminator's own training labels) and a
failed one an empty row; with ``exact_only=True`` (policy training) such rubrics get ``None``, i.e. the
discriminator scores them under ``rules+discriminator``.

The discriminator's training labels are diff spans of minimal edits and mark both sides of an edit (what was
inserted in the negative, the characters around it in the positive); at RL time the sign comes from the
verdict, so the same semantics hold for a discriminator that marks the offending characters of a failed
absence rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from rubrics.schema import Rubric, RubricItem, RuleVerifier

_WORD = re.compile(r"\S+")
_SENT_END = re.compile(r"[.!?]+")
EXACT_RULES = frozenset(
    {
        "punctuation:no_comma",
        "change_case:english_lowercase",
        "keywords:forbidden_words",
        "keywords:existence",
        "keywords:frequency",
        "length_constraints:number_words",
        "length_constraints:number_sentences",
    }
)


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


def has_exact_spans(rubric: Rubric) -> bool:
    """True when the rubric's rule checker has exact spans here (IFEval / IFBench ids of :data:`EXACT_RULES`)."""
    v = rubric.verifier
    return isinstance(v, RuleVerifier) and v.family in ("ifeval", "ifbench") and v.rule_id in EXACT_RULES


def _exact(rid: str, kw: dict, text: str, passed: bool, out: np.ndarray) -> np.ndarray:
    if rid == "punctuation:no_comma":
        return out if passed else _mark(out, [(m.start(), m.end()) for m in re.finditer(",", text)])
    if rid == "change_case:english_lowercase":
        return out if passed else _mark(out, [(i, i + 1) for i, c in enumerate(text) if c.isupper()])
    if rid == "keywords:forbidden_words":
        if passed:
            return out
        return _mark(out, [sp for w in kw.get("forbidden_words") or [] for sp in _occurrences(text, w, whole=True)])
    if rid == "keywords:existence":
        if not passed:
            return out
        spans = [occ[0] for k in kw.get("keywords") or [] if (occ := _occurrences(text, k, whole=False))]
        return _mark(out, _enclosing_words(text, spans))
    if rid == "keywords:frequency":
        occ = _occurrences(text, kw.get("keyword") or "", whole=False)
        n = int(kw.get("frequency", 1))
        if kw.get("relation") == "less than":
            return out if passed else _mark(out, _enclosing_words(text, occ[max(n - 1, 0) :]))
        return _mark(out, _enclosing_words(text, occ[:n])) if passed else out
    if rid == "length_constraints:number_words":
        words, n = _word_spans(text), int(kw.get("num_words", 0))
        if kw.get("relation") == "less than":
            return out if passed else _mark(out, words[max(n - 1, 0) :])
        return _mark(out, words[:n]) if passed else out
    if rid == "length_constraints:number_sentences":
        ends, n = [m.span() for m in _SENT_END.finditer(text)], int(kw.get("num_sentences", 0))
        if kw.get("relation") == "less than":
            return out if passed else _mark(out, ends[max(n - 1, 0) :])
        return _mark(out, ends[:n]) if passed else out
    raise KeyError(rid)  # pragma: no cover - guarded by has_exact_spans


def rule_chars(
    rubric: Rubric, text: str, passed: bool, prompt: str = "", *, exact_only: bool = False
) -> np.ndarray | None:
    """``(len(text),)`` 0/1 relevance of each character to the rubric's verdict ``passed`` (module doc).

    ``None`` when the rubric has no rule checker, and with ``exact_only`` also when its rule has no exact span."""
    v = rubric.verifier
    if not isinstance(v, RuleVerifier):
        return None
    out = np.zeros(len(text), dtype=np.float32)
    if has_exact_spans(rubric):
        return _exact(v.rule_id, dict(v.kwargs), text, passed, out)
    if exact_only:
        return None
    if not passed:
        return out
    from discriminator.data.diff_labels import diff_spans
    from discriminator.data.programmatic import make_negative

    item = RubricItem(id="oracle", prompt=prompt or "-", rubrics=[rubric])
    edit = make_negative(item, rubric, text)
    if edit.negative is None:
        return out
    return _mark(out, diff_spans(text, edit.negative).positive_spans)


def chars_onto_policy_tokens(char_scores: np.ndarray, tokenizer, ids: Sequence[int], text: str):
    """``(len(ids),)`` float32 tensor: max character relevance of each policy token (the discriminator's
    projection, :func:`discriminator.projection.policy_offsets`)."""
    import torch

    from discriminator.projection import chars_to_tokens, policy_offsets

    offs = policy_offsets(tokenizer, list(ids), text)
    return torch.as_tensor(chars_to_tokens(char_scores, offs, reduce="max"), dtype=torch.float32)
