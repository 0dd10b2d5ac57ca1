"""Pure span conversion and agreement logic of the review stage (no server)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation.agreement import PRF, agreement, cohen_kappa, token_labels
from annotation.offsets import LSOffsets, OffsetError, OffsetMap, unit_for_version, utf16_len, utf16_slice
from annotation.pull import PullStats, latest_per_annotator, merge, regions_to_spans
from annotation.push import prediction_score, span_regions
from discriminator.data.schema import SpanRow

TRICKY = "Hi 😀 there,\r\nno  commas 中文 here 🎉!\r\n\r\n  end 𝔘"


def js_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def test_utf16_offsets_match_javascript_string_indexing():
    m = OffsetMap(TRICKY)
    assert m.len_utf16 == js_len(TRICKY) == utf16_len(TRICKY) == len(TRICKY) + 3
    for i in range(len(TRICKY) + 1):
        u = m.to_utf16(i)
        assert u == js_len(TRICKY[:i])
        assert m.to_cp(u) == i
    e = TRICKY.index("😀")
    assert m.span_to_utf16(e, e + 1) == (3, 5)
    c = TRICKY.index("中文")
    assert m.span_to_utf16(c, c + 2) == (c + 1, c + 3)  # one astral character (😀) before it
    assert utf16_slice(TRICKY, *m.span_to_utf16(e, e + 1)) == "😀"


def test_offset_inside_surrogate_pair_or_outside_text_is_an_error():
    m = OffsetMap(TRICKY)
    with pytest.raises(OffsetError, match="splits the surrogate pair of '😀'"):
        m.to_cp(4)
    with pytest.raises(OffsetError, match="outside"):
        m.to_cp(m.len_utf16 + 1)
    with pytest.raises(OffsetError, match="outside"):
        m.to_utf16(-1)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \r\n\t中文😀🎉𝔘é")), max_size=40), st.data())
def test_both_units_round_trip_any_span(text, data):
    s = data.draw(st.integers(0, len(text)))
    e = data.draw(st.integers(s, len(text)))
    for unit in ("codepoint", "utf16"):
        m = LSOffsets(text, unit)
        ls = m.to_ls(s, e)
        assert m.from_ls(*ls) == (s, e)
        if unit == "utf16":
            assert text.encode("utf-16-le")[2 * ls[0] : 2 * ls[1]].decode("utf-16-le") == text[s:e]
        else:
            assert ls == (s, e)


def test_unit_for_version():
    assert unit_for_version("1.23.2") == "codepoint"
    assert unit_for_version("1.14.0") == "codepoint"
    assert unit_for_version("1.8.2") == "utf16"
    assert unit_for_version(None) == "codepoint"
    with pytest.raises(ValueError, match="unknown offset unit"):
        LSOffsets("x", "bytes")


def test_regions_round_trip_as_the_ui_writes_them():
    """Code points, exact text; line breaks inside a region's text written as two-char ``\\n`` (Label Studio)."""
    spans = [
        (TRICKY.index("😀"), TRICKY.index("😀") + 1),
        (TRICKY.index("no  commas"), TRICKY.index("no  commas") + 10),
        (TRICKY.index(","), TRICKY.index("no") + 2),
        (TRICKY.index("中文"), TRICKY.index("中文") + 2),
        (len(TRICKY) - 1, len(TRICKY)),
    ]
    for unit in ("codepoint", "utf16"):
        regions = span_regions(TRICKY, spans, unit)
        # what the UI stores for a selection across "\r\n": the text with each break as a literal "\n"
        regions[2]["value"]["text"] = ",\\n\\nno"
        stats = PullStats()
        got, verdict = regions_to_spans(TRICKY, regions, "t", stats, unit)
        assert got == spans and verdict is None and stats.whitespace_mismatch == 0


def test_region_validation_names_task_region_and_field():
    stats = PullStats()
    bad = [
        {
            "id": "r7",
            "from_name": "relevant",
            "to_name": "response",
            "type": "labels",
            "value": {"start": 0, "end": 2, "text": "XX", "labels": ["relevant"]},
        }
    ]
    with pytest.raises(ValueError, match=r"task 3 region r7: field 'value.text' 'XX' does not match"):
        regions_to_spans(TRICKY, bad, "task 3", stats)
    bad[0]["value"].update(start="0", text="Hi")
    with pytest.raises(ValueError, match="must be integers"):
        regions_to_spans(TRICKY, bad, "task 3", stats)
    bad[0]["value"].update(start=4, end=5, text="?")
    with pytest.raises(ValueError, match="surrogate pair"):
        regions_to_spans(TRICKY, bad, "task 3", stats, "utf16")
    # collapsed whitespace (a view without pre-wrap) is accepted, counted
    i = TRICKY.index("no  commas")
    ok = [
        {
            "id": "a",
            "from_name": "relevant",
            "to_name": "response",
            "type": "labels",
            "value": {"start": i, "end": i + 10, "text": "no commas", "labels": ["relevant"]},
        },
        {
            "id": "v",
            "from_name": "verdict",
            "to_name": "response",
            "type": "choices",
            "value": {"choices": ["violated"]},
        },
        {
            "id": "o",
            "from_name": "other",
            "to_name": "response",
            "type": "labels",
            "value": {"start": 0, "end": 1, "labels": ["x"]},
        },
    ]
    assert regions_to_spans(TRICKY, ok, "t", stats) == ([(i, i + 10)], -1)
    assert stats.whitespace_mismatch == 1


def test_latest_non_cancelled_annotation_per_annotator():
    anns = [
        {"id": 1, "completed_by": 1, "was_cancelled": False, "updated_at": "2026-01-01T10:00:00Z", "result": []},
        {"id": 2, "completed_by": 1, "was_cancelled": False, "updated_at": "2026-01-02T10:00:00Z", "result": []},
        {"id": 3, "completed_by": 1, "was_cancelled": True, "updated_at": "2026-01-03T10:00:00Z", "result": []},
        {"id": 4, "completed_by": 2, "was_cancelled": True, "updated_at": "2026-01-03T10:00:00Z", "result": []},
        {"id": 5, "completed_by": {"id": 3, "email": "c@x"}, "updated_at": "2026-01-01T00:00:00Z", "result": []},
    ]
    stats = PullStats()
    got = latest_per_annotator(anns, {1: "a@x", 2: "b@x"}, stats)
    assert {k: v["id"] for k, v in got.items()} == {"a@x": 2, "c@x": 5}
    assert (stats.cancelled, stats.superseded, stats.annotator_skipped_task) == (2, 1, 1)


def _row(id_, spans, source="diff", response="aa bb cc dd", annotator=None, auto_id=None):
    meta = {"review": {"auto_row_id": auto_id}} if auto_id else {}
    return SpanRow(
        id=id_,
        item_id="i",
        rubric_id="r",
        criteria="c",
        response=response,
        char_spans=spans,
        label_source=source,
        annotator=annotator,
        meta=meta,
    )


def test_agreement_char_token_and_kappa_by_hand():
    auto = _row("x", [(0, 2), (3, 5)])  # "aa", "bb"
    h1 = _row("x::human::a", [(3, 8)], "human", annotator="a", auto_id="x")  # "bb cc"
    h2 = _row("x::human::b", [(0, 2), (3, 5)], "human", annotator="b", auto_id="x")
    rep = agreement([auto], [h1, h2])
    # chars: vs h1 tp=2 fp=2 fn=3; vs h2 tp=4 -> P=6/8, R=6/9
    assert rep.char["tp"] == 6 and rep.char["fp"] == 2 and rep.char["fn"] == 3
    assert rep.char["precision"] == pytest.approx(0.75) and rep.char["recall"] == pytest.approx(6 / 9)
    # tokens aa bb cc dd: vs h1 tp=1 fp=1 fn=1; vs h2 tp=2
    assert (rep.token["tp"], rep.token["fp"], rep.token["fn"]) == (3, 1, 1)
    assert rep.kappa_pairs == 1 and rep.annotators == 2
    # chars: po = 6/11, pe = (5*4 + 6*7)/121 -> kappa = 4/59; tokens [0,1,1,0] vs [1,1,0,0] -> kappa 0
    assert rep.kappa_char == pytest.approx(4 / 59) and rep.kappa_token == pytest.approx(0.0)
    assert token_labels(h1.response, h1.char_labels) == [0, 1, 1, 0]
    assert cohen_kappa([0, 0], [0, 0]) is None and PRF().f1 is None


def test_merge_keeps_previous_human_rows_and_replaces_updated_ones():
    prev = [
        _row("x", [(0, 2)]),
        _row("x::human::a", [(0, 2)], "human", annotator="a", auto_id="x"),
        _row("y::human::a", [(3, 5)], "human", annotator="a", auto_id="y"),
    ]
    new_h = [_row("x::human::a", [(6, 8)], "human", annotator="a", auto_id="x")]
    rows, retained = merge(prev, [_row("x", [(0, 2)])], [], new_h)
    by_id = {r.id: r for r in rows}
    assert retained == 1 and by_id["x::human::a"].char_spans == [(6, 8)] and "y::human::a" in by_id


def test_prediction_score_is_confidence():
    r = _row("x", [(0, 2)])
    assert prediction_score(r) == 0.8
    # "aa bb cc dd", chars 0-1 labelled: p on them, 1 - p elsewhere, averaged over the 11 characters
    r.meta["char_probs"] = [0.9, 0.7] + [0.2] * 9
    assert prediction_score(r) == pytest.approx((0.9 + 0.7 + 9 * 0.8) / 11)
    r.meta["char_probs"] = [0.5, 0.5]
    with pytest.raises(ValueError, match="2 values for 11 characters"):
        prediction_score(r)
    assert prediction_score(_row("y", [], "greedy")) == 0.5
