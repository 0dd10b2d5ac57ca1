import pytest
from pydantic import ValidationError

from discriminator.data.schema import SpanRow, char_labels_to_spans, merge_spans, read_rows, write_rows
from rubrics.io import RecordError, atomic_open, iter_jsonl
from rubrics.schema import RubricItem


def test_item_requires_instruction_and_unique_rubric_ids():
    with pytest.raises(ValidationError, match="prompt"):
        RubricItem(id="a", rubrics=[{"id": "r", "text": "x"}])
    with pytest.raises(ValidationError, match="duplicate rubric ids"):
        RubricItem(id="a", prompt="p", rubrics=[{"id": "r", "text": "x"}, {"id": "r", "text": "y"}])
    with pytest.raises(ValidationError):
        RubricItem(id="a", prompt="p", rubrics=[])
    item = RubricItem(id="a", messages=[{"role": "user", "content": "hi"}], rubrics=[{"id": "r", "text": "x"}])
    assert item.instruction == "hi" and not item.rubrics[0].is_rule


def test_content_hash_ignores_ids_and_rubric_order():
    r1 = {
        "id": "1",
        "text": "no commas",
        "verifier": {"kind": "rule", "family": "ifeval", "rule_id": "punctuation:no_comma"},
    }
    r2 = {"id": "2", "text": "be nice"}
    a = RubricItem(id="a", prompt="p", rubrics=[r1, r2])
    b = RubricItem(id="b", prompt="p", rubrics=[r2, r1])
    c = RubricItem(id="c", prompt="q", rubrics=[r2, r1])
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_span_helpers_and_roundtrip(tmp_path):
    assert merge_spans([(5, 7), (0, 2), (1, 3), (8, 9)], gap=1) == [(0, 3), (5, 9)]
    assert char_labels_to_spans([0, 1, 1, 0, 1]) == [(1, 3), (4, 5)]
    row = SpanRow(
        id="x", item_id="i", rubric_id="r", criteria="c", response="a😀\r\nb", char_spans=[(1, 2)], label_source="diff"
    )
    assert row.char_labels == [0, 1, 0, 0, 0]
    for name in ("rows.parquet", "rows.jsonl"):
        write_rows(tmp_path / name, [row])
        assert read_rows(tmp_path / name) == [row]
    with pytest.raises(ValidationError, match="outside response"):
        SpanRow(
            id="x", item_id="i", rubric_id="r", criteria="c", response="ab", char_spans=[(1, 3)], label_source="diff"
        )


def test_atomic_open_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_iter_jsonl_locates_errors(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_bytes(b'{"a": 1}\n\n{"a": \n')
    with pytest.raises(RecordError, match=r"in.jsonl:3: malformed JSON"):
        list(iter_jsonl(p))
    p.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(RecordError, match=r"in.jsonl:2: not valid UTF-8"):
        list(iter_jsonl(p))
