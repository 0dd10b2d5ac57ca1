"""The IFEval ``keywords:letter_frequency`` negative moves the letter count with whole real words (swapped for
words of the response itself or neutral nouns, deleted, or a sentence repeated): the verdict flips, the spans are
exact, and the negative holds no planted letter run or misspelling (every word of it is a word of the positive or a
neutral noun)."""

from __future__ import annotations

import re

import pytest

from discriminator.data.build import BuildConfig, programmatic_item
from discriminator.data.textbank import NEUTRAL_NOUNS
from rubrics.rules import check
from rubrics.schema import Rubric, RubricItem, RuleVerifier

POS = ("The harbour wakes slowly and the boats drift out to sea while gulls circle above the quiet water near the "
       "old stone pier.")
ALLOWED = {w for n in NEUTRAL_NOUNS for w in (n, n + "s")}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def _item(letter: str, n: int, relation: str, *others: tuple[str, dict]) -> RubricItem:
    rules = [("keywords:letter_frequency", {"letter": letter, "let_frequency": n, "let_relation": relation}),
             *others]
    return RubricItem(id="lf", prompt="Describe a harbour at dawn.", rubrics=[
        Rubric(id=f"lf#{i}", text=rid, verifier=RuleVerifier(family="ifeval", rule_id=rid, kwargs=kw))
        for i, (rid, kw) in enumerate(rules)])


CASES = {
    # at least 11 't' with exactly as many words as the text has: deleting a word or a letter is not allowed
    "fewer, word count held": _item("t", POS.lower().count("t"), "at least",
                                    ("length_constraints:number_words",
                                     {"relation": "at least", "num_words": len(POS.split())})),
    "fewer": _item("e", 8, "at least"),
    # no 'z' anywhere in the response: the old edit planted " zzzz"
    "more, letter absent": _item("z", 4, "less than"),
    "more": _item("w", 6, "less than"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_letter_frequency_negative_uses_real_words_and_flips_the_verdict(name):
    item = CASES[name]
    target = item.rubrics[0]
    assert all(check(r.verifier, POS) for r in item.rubrics)
    (rec,) = [r for r in programmatic_item(item, BuildConfig(), positive=POS) if r.rubric_id == target.id]
    assert rec.status == "accepted", rec.reason
    neg = rec.negative
    assert check(target.verifier, neg) is False and check(target.verifier, POS) is True
    assert _words(neg) <= _words(POS) | ALLOWED, _words(neg) - _words(POS)
    letter = target.verifier.kwargs["letter"]
    assert not re.search(rf"{letter}{{3,}}", neg.lower())  # no letter runs
    assert rec.positive_spans and rec.negative_spans
    for s, e in rec.negative_spans:  # exact spans: whole words of the negative
        assert neg[s:e].strip() and (s == 0 or not neg[s - 1].isalnum()) and (e == len(neg) or not neg[e].isalnum())
    if name == "fewer, word count held":
        assert len(neg.split()) == len(POS.split())  # a swap, not a deletion


def test_a_mark_that_is_not_a_letter_is_dropped_not_planted():
    pos = "What a day! The boats are back! The gulls are loud! We cheer!"
    item = _item("!", 4, "at least")
    (rec,) = programmatic_item(item, BuildConfig(), positive=pos)
    assert rec.status == "accepted", rec.reason
    assert rec.negative.count("!") == 3 and _words(rec.negative) == _words(pos)
    assert [rec.positive[s:e] for s, e in rec.positive_spans] != [] and len(rec.negative) == len(pos) - 1
