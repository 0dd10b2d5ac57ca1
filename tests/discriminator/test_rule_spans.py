"""Exact rule spans and their credit semantics (discriminator/rule_spans.py): which characters carry a passed or a
failed verdict, so that the signed token credit pushes the way the rubric wants."""

from __future__ import annotations

import pytest

from discriminator.rule_spans import EXACT_RULES, has_exact_spans, rule_chars
from rubrics import rules
from rubrics.schema import Rubric, RuleVerifier


def _rubric(rule_id, family="ifeval", **kw):
    return Rubric(id="r:x", text=rule_id, verifier=RuleVerifier(family=family, rule_id=rule_id, kwargs=kw))


def _marked(rubric, text, passed, **kw):
    rel = rule_chars(rubric, text, passed, **kw)
    out, start = [], None
    for i, v in enumerate(list(rel) + [0]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append(text[start:i])
            start = None
    return out


# (rule, kwargs, text, expected marked strings) - the verdict is the checker's own
CASES = [
    # absence / cap rules: failed -> the offending characters; passed -> nothing
    ("punctuation:no_comma", {}, "Red, blue, and green.", [",", ","]),
    ("punctuation:no_comma", {}, "Red and blue.", []),
    ("change_case:english_lowercase", {}, "the Sea is BLUE", ["S", "BLUE"]),
    ("change_case:english_lowercase", {}, "the sea is blue", []),
    ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "A very very big ship.", ["very", "very"]),
    ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "Everything is big.", []),
    (
        "keywords:frequency",
        {"keyword": "waves", "frequency": 3, "relation": "less than"},
        "waves and waves and waves and waves",
        ["waves", "waves"],
    ),
    # a met cap never credits its keyword upward (the push that breaks the cap)
    ("keywords:frequency", {"keyword": "waves", "frequency": 3, "relation": "less than"}, "waves and waves", []),
    (
        "length_constraints:number_words",
        {"num_words": 3, "relation": "less than"},
        "one two three four",
        ["three", "four"],
    ),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "one two three four", []),
    (
        "length_constraints:number_sentences",
        {"num_sentences": 2, "relation": "less than"},
        "A. B. C.",
        [".", ".", "."][1:],
    ),
    # presence rules: passed -> the occurrences that suffice (never the extra ones); failed -> nothing is there
    ("keywords:existence", {"keywords": ["tide"]}, "The tide rolls. Tides turn.", ["tide"]),
    ("keywords:existence", {"keywords": ["tide", "moon"]}, "moon and tide and moon and tide", ["moon", "tide"]),
    ("keywords:existence", {"keywords": ["tide"]}, "The sea rolls.", []),
    ("keywords:frequency", {"keyword": "sun", "frequency": 2, "relation": "at least"}, "sun sun sun", ["sun", "sun"]),
    ("keywords:frequency", {"keyword": "sun", "frequency": 2, "relation": "at least"}, "one sun only", []),
    ("length_constraints:number_words", {"num_words": 2, "relation": "at least"}, "one two three", ["one", "two"]),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"}, "one two three", []),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"}, "A b. C d. E.", [".", "."]),
    # a too-short answer marks nothing: its last word holds the full stop that the rule needs more of
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}, "A b. C d.", []),
]


@pytest.mark.parametrize("rule_id,kw,text,expected", CASES)
def test_marked_characters_per_rule_and_verdict(rule_id, kw, text, expected):
    rub = _rubric(rule_id, **kw)
    passed = rules.check(rub.verifier, text)
    assert _marked(rub, text, passed) == expected
    assert _marked(rub, text, passed, exact_only=True) == expected  # these are exact rules


@pytest.mark.parametrize(
    "rule_id,kw,text",
    [
        ("punctuation:no_comma", {}, "Red, blue, and green."),
        ("change_case:english_lowercase", {}, "the Sea is BLUE"),
        ("keywords:forbidden_words", {"forbidden_words": ["very"]}, "A very very big ship."),
        (
            "keywords:frequency",
            {"keyword": "waves", "frequency": 3, "relation": "less than"},
            "waves, waves, waves, waves",
        ),
    ],
)
def test_pushing_down_the_marked_characters_of_a_failed_absence_rule_fixes_it(rule_id, kw, text):
    """The credit sign is right: a failed absence rule's marked characters are what the push removes, and
    removing (for case: lowercasing) exactly them makes the checker pass."""
    rub = _rubric(rule_id, **kw)
    assert not rules.check(rub.verifier, text)
    rel = rule_chars(rub, text, False)
    if rule_id == "change_case:english_lowercase":
        fixed = "".join(c.lower() if r else c for c, r in zip(text, rel))
    else:
        fixed = "".join(c for c, r in zip(text, rel) if not r)
    assert rules.check(rub.verifier, fixed), fixed


@pytest.mark.parametrize(
    "rule_id,kw,text",
    [
        ("keywords:existence", {"keywords": ["tide"]}, "The tide rolls in. Tides are slow, tide after tide."),
        ("keywords:frequency", {"keyword": "sun", "frequency": 2, "relation": "at least"}, "sun, sun and sun again"),
        ("length_constraints:number_words", {"num_words": 4, "relation": "at least"}, "one two three four five six"),
        ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"}, "A b. C d. E f. G."),
    ],
)
def test_the_marked_characters_of_a_passed_presence_rule_are_a_witness(rule_id, kw, text):
    """Only what suffices is credited up: the marked words alone pass the rule, and every word left unmarked is
    an extra the credit never rewards (so it cannot push repetition)."""
    rub = _rubric(rule_id, **kw)
    assert rules.check(rub.verifier, text)
    rel = rule_chars(rub, text, True)
    witness = "".join(c if r else " " for c, r in zip(text, rel))
    assert rules.check(rub.verifier, witness), witness
    assert 0 < rel.sum() < len(text.replace(" ", ""))


def test_rules_without_exact_spans():
    title = _rubric("detectable_format:title")
    assert not has_exact_spans(title)
    assert rule_chars(title, "<<My Poem>> roses are red", True, exact_only=True) is None
    assert rule_chars(title, "<<My Poem>> roses are red", True).sum() > 0  # the programmatic edit's characters
    assert rule_chars(title, "no title here", False).sum() == 0
    judged = Rubric(id="j", text="Is it kind?")
    assert rule_chars(judged, "text", True) is None
    assert has_exact_spans(_rubric("punctuation:no_comma", family="ifbench"))
    assert not has_exact_spans(_rubric("punctuation:no_comma", family="muldimif"))
    assert {r.split(":")[0] for r in EXACT_RULES} == {"punctuation", "change_case", "keywords", "length_constraints"}
