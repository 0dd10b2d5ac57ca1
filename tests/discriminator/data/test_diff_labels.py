"""Character-level diff labels: properties (hypothesis) and the documented decisions on concrete cases."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from discriminator.data.diff_labels import (
    SpanOptions,
    apply_opcodes,
    char_opcodes,
    diff_spans,
    invert_opcodes,
    render_diff_markdown,
    spans_from_opcodes,
    spans_text,
)
from discriminator.data.patch import Patch

ALPHABET = st.sampled_from(list("ab c.,\n\r\t") + ["😀", "👍🏽", "中", "文", "é", "e\u0301", "\u200d"])
TEXT = st.lists(ALPHABET, max_size=40).map("".join)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _covered(spans, i):
    return any(s <= i < e for s, e in spans)


@SETTINGS
@given(TEXT, TEXT, st.sampled_from(["indel", "levenshtein", "difflib"]), st.integers(0, 4))
@example(" b", " a b", "difflib", 0)  # an insertion at the start slid right: the leading text stays covered
def test_opcodes_reproduce_both_texts(a, b, algorithm, min_equal):
    ops = char_opcodes(a, b, algorithm=algorithm, min_equal=min_equal)
    assert apply_opcodes(a, b, ops) == b
    assert apply_opcodes(b, a, invert_opcodes(ops)) == a
    # contiguous cover of both texts, in order
    i = j = 0
    for _, i1, i2, j1, j2 in ops:
        assert (i1, j1) == (i, j)
        i, j = i2, j2
    assert (i, j) == (len(a), len(b))


@SETTINGS
@given(TEXT, TEXT, st.sampled_from(["word", "adjacent", "none"]), st.booleans(), st.integers(0, 3))
def test_spans_in_range_sorted_and_cover_every_changed_character(a, b, anchor, expand, gap):
    opts = SpanOptions(anchor=anchor, expand_words=expand, merge_gap=gap)
    d = diff_spans(a, b, opts)
    for text, spans in ((a, d.positive_spans), (b, d.negative_spans)):
        assert all(0 <= s < e <= len(text) for s, e in spans)
        assert all(e0 < s1 for (_, e0), (s1, _) in zip(spans, spans[1:]))  # disjoint, not even touching
    for tag, i1, i2, j1, j2 in d.opcodes:
        if tag != "equal":
            assert all(_covered(d.positive_spans, i) for i in range(i1, i2))
            assert all(_covered(d.negative_spans, j) for j in range(j1, j2))
    if a != b and anchor != "none" and a.strip() and b.strip():
        assert d.positive_spans or d.negative_spans


@SETTINGS
@given(TEXT)
def test_identical_texts_have_no_spans(a):
    d = diff_spans(a, a)
    assert d.positive_spans == [] and d.negative_spans == [] and not d.changed


@SETTINGS
@given(TEXT, st.integers(0, 40), st.integers(0, 5), TEXT)
def test_patch_opcodes_agree_with_apply(a, at, length, new):
    at = min(at, len(a))
    p = Patch.of([(at, min(len(a), at + length), new)])
    b = p.apply(a)
    assert apply_opcodes(a, b, p.opcodes(a)) == b
    pos, neg = spans_from_opcodes(a, b, p.opcodes(a))
    assert all(0 <= s < e <= len(a) for s, e in pos) and all(0 <= s < e <= len(b) for s, e in neg)


def test_substitution_expands_to_the_whole_word():
    d = diff_spans("apple pie is good", "grape pie is good")
    assert spans_text("apple pie is good", d.positive_spans) == ["apple"]
    assert spans_text("grape pie is good", d.negative_spans) == ["grape"]
    raw = diff_spans("apple pie", "grape pie", SpanOptions(expand_words=False, min_equal=0, anchor="none"))
    assert all(e - s < 5 for s, e in raw.positive_spans)  # character-level without expansion


def test_insertion_marks_the_neighbouring_words_in_the_other_text():
    a, b = "I like it here", "I like it, here"
    word = diff_spans(a, b)
    assert spans_text(a, word.positive_spans) == ["it here"] and spans_text(b, word.negative_spans) == [","]
    adj = diff_spans(a, b, SpanOptions(anchor="adjacent", expand_words=False))
    assert spans_text(a, adj.positive_spans) == ["t "]
    assert spans_text(a, diff_spans(a, b, SpanOptions(anchor="adjacent")).positive_spans) == ["it "]
    none = diff_spans(a, b, SpanOptions(anchor="none"))
    assert none.positive_spans == [] and spans_text(b, none.negative_spans) == [","]


def test_deletion_slides_to_word_boundaries():
    a, b = "one two three", "one three"
    d = diff_spans(a, b)
    assert spans_text(a, d.positive_spans) == ["two "]
    assert spans_text(b, d.negative_spans) == ["one three"]
    assert "[-two -]" in render_diff_markdown(a, b, d.opcodes)


def test_case_changes_merge_across_a_space():
    a, b = "hello world here", "Hello World here"
    d = diff_spans(a, b)
    assert spans_text(a, d.positive_spans) == ["hello world"]
    assert spans_text(b, d.negative_spans) == ["Hello World"]


def test_whitespace_only_edit_labels_the_break_and_its_neighbours():
    a, b = "para one.\n\npara two.", "para one.\n\n***\n\npara two."
    d = diff_spans(a, b)
    assert spans_text(a, d.positive_spans) == ["one.\n\npara"]
    assert "***" in spans_text(b, d.negative_spans)[0]
    d2 = diff_spans("x y", "x  y")
    assert d2.positive_spans == [(0, 3)] and d2.negative_spans == [(0, 4)]


def test_unicode_graphemes_are_never_split():
    a, b = "emoji 😀 test", "emoji 👍🏽 test"  # thumbs-up + skin-tone modifier is one grapheme of 2 code points
    d = diff_spans(a, b)
    assert spans_text(a, d.positive_spans) == ["😀"] and spans_text(b, d.negative_spans) == ["👍🏽"]
    z = diff_spans("family 👨\u200d👩 ok", "family 👨\u200d👧 ok", SpanOptions(expand_words=False, min_equal=0))
    assert spans_text("family 👨\u200d👧 ok", z.negative_spans) == ["👨\u200d👧"]
    c = diff_spans("e\u0301t\u00e9", "eté", SpanOptions(expand_words=False, min_equal=0))
    assert all(not ("\u0300" <= "e\u0301t\u00e9"[s] <= "\u036f") for s, _ in c.positive_spans)


def test_cjk_characters_are_words_of_their_own():
    a, b = "中文測試文本", "中文测试文本"
    d = diff_spans(a, b)
    assert spans_text(a, d.positive_spans) == ["測試"] and spans_text(b, d.negative_spans) == ["测试"]


def test_crlf_is_one_unit():
    a, b = "line one\r\nline two", "line one\r\nline 2"
    d = diff_spans(a, b, SpanOptions(expand_words=False, min_equal=0))
    assert spans_text(b, d.negative_spans) == ["2"]
    d2 = diff_spans("a\r\nb", "a\nb", SpanOptions(anchor="none", expand_words=False))
    assert spans_text("a\r\nb", d2.positive_spans) == ["\r\n"]  # the \r alone would split the CRLF grapheme
