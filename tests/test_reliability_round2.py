"""Issue 23: non-finite numbers, corrupt checkpoints, --resample, orphaned pool workers and the rough edges."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from rubrics.exporters import read_items
from rubrics.importers import import_items
from rubrics.io import RecordError


def _lines(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(t + "\n" for t in texts))
    return path


# ----- 1. NaN / Infinity numbers are refused at the schema boundary, in every importer


def _hb(points: str, pid: str) -> str:
    return ('{"prompt": [{"role": "user", "content": "Q %s?"}], "rubrics": [{"criterion": "Says A.", "points": 3}, '
            '{"criterion": "Says B.", "points": %s}], "prompt_id": "%s"}' % (pid, points, pid))


@pytest.mark.parametrize("points", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_healthbench_non_finite_points_fail_naming_file_line_and_field(tmp_path, points):
    src = _lines(tmp_path / "hb.jsonl", [_hb("2", "p1"), _hb(points, "p2")])
    res = CliRunner().invoke(app, ["rubrics", "build", str(src), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    assert f"{src}:2: field 'rubrics[1].weight': must be a finite number" in res.output
    assert not (tmp_path / "out").exists()


def test_lenient_build_skips_the_record_with_a_note_and_writes_a_readable_dataset(tmp_path):
    src = _lines(tmp_path / "hb.jsonl", [_hb("2", "p1"), _hb("NaN", "p2"), _hb("Infinity", "p3")])
    res = CliRunner().invoke(app, ["rubrics", "build", str(src), "--out", str(tmp_path / "out"), "--lenient"])
    assert res.exit_code == 0, res.output
    assert "2 records rejected" in res.output and "rubrics[1].weight" in res.output
    items = []
    for f in sorted((tmp_path / "out").glob("*.jsonl")) + sorted((tmp_path / "out").glob("*.parquet")):
        items += read_items(f)
    assert {it.id for it in items} == {"healthbench:p1"}  # 1 item, in jsonl and parquet alike
    for f in (tmp_path / "out").glob("*.parquet"):
        weights = [r["weight"] for row in pq.read_table(f).to_pylist() for r in row["rubrics"]]
        assert weights == [] or weights == [3.0, 2.0]


@pytest.mark.parametrize("record, field, reason", [
    ('{"question": "Q?", "rubric": [{"title": "t", "description": "Says A.", "weight": NaN}]}', "rubrics[0].weight", "finite"),
    ('{"question": "Q?", "rubric": [{"title": "t", "description": "Says A.", "weight": "inf"}]}', "rubrics[0].weight", "finite"),
    ('{"id": "a", "prompt": "Write.", "rubrics": [{"id": "r", "text": "t", "verifier": {"kind": "rule", '
     '"family": "ifeval", "rule_id": "length_constraints:number_words", '
     '"kwargs": {"num_words": NaN, "relation": "less than"}}}]}', "rubrics[0].verifier.kwargs.num_words", "finite"),
    ('{"id": "a", "prompt": "Write.", "meta": {"scores": [1, Infinity]}, "rubrics": [{"id": "r", "text": "t"}]}',
     "meta.scores[1]", "finite"),
    ('{"key": 1, "prompt": "Write.", "instruction_id_list": ["length_constraints:number_words"], '
     '"kwargs": [{"num_words": NaN, "relation": "less than"}]}', "instruction_id_list[0]", "NaN"),
])
def test_every_importer_refuses_non_finite_numbers_naming_the_field(tmp_path, record, field, reason):
    src = _lines(tmp_path / "in.jsonl", [record])
    with pytest.raises(RecordError) as err:
        import_items(str(src))
    assert err.value.line == 1 and err.value.field == field and reason in err.value.reason


def test_reading_a_canonical_file_with_a_non_finite_weight_names_line_and_field(tmp_path):
    good = '{"id": "a", "prompt": "Write.", "rubrics": [{"id": "r", "text": "t", "weight": 1}]}'
    bad = '{"id": "b", "prompt": "Write.", "rubrics": [{"id": "r", "text": "t", "weight": NaN}]}'
    with pytest.raises(RecordError, match=r"test.jsonl:2: field 'rubrics\[0\].weight'"):
        read_items(_lines(tmp_path / "test.jsonl", [good, bad]))
