"""The Prefect flow (real test harness) and the ``rtt rubrics build`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from rubrics.exporters import read_items

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


@pytest.mark.prefect
def test_build_rubric_dataset_flow_publishes_artifacts(prefect_harness, tmp_path):
    from prefect.artifacts import Artifact

    from flows.rubrics import BuildRubricsParams, artifact_key, build_rubric_dataset

    params = BuildRubricsParams(
        sources=[
            {"path": str(DEMO / "items.jsonl")},
            {"path": str(DEMO / "rar_style.jsonl"), "name": "rar-demo"},
            {"path": str(tmp_path / "bad.jsonl"), "format": "rar"},
        ],
        out_dir=str(tmp_path / "out"),
        name="Flow Demo",
        seed=3,
        strict=False,
        export_rtt=True,
    )
    (tmp_path / "bad.jsonl").write_text('{"question": "q", "rubric": []}\n')
    report = build_rubric_dataset(params)
    assert report.items == 17 and report.rejected_total == 1 and report.seed == 3
    assert len(read_items(tmp_path / "out" / "train.parquet")) == report.splits["train"]
    assert (tmp_path / "out" / "rtt" / "train.jsonl").exists()
    key = artifact_key("Flow Demo")
    assert key == "rubric-build-flow-demo"
    table = Artifact.get(key)
    assert table is not None and table.type == "table"
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [r["name"] for r in rows] == ["items", "rar-demo", "rar"] and rows[2]["rejected"] == 1
    markdown = Artifact.get(f"{key}-report")
    assert markdown.type == "markdown" and "## Rejected records (1)" in markdown.data
    with pytest.raises(ValueError, match="val_frac"):
        BuildRubricsParams(sources=[{"path": "x"}], out_dir="o", val_frac=0.6, test_frac=0.6)


def test_cli_build_prints_summary_and_fails_in_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "rubrics",
            "build",
            str(DEMO / "items.jsonl"),
            f"tulu={DEMO / 'tulu_style.jsonl'}",
            "--out",
            str(tmp_path / "out"),
            "--name",
            "cli",
            "--val-frac",
            "0.2",
            "--test-frac",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "cli: 17 items" in result.output and "tulu" in result.output and "test 0" in result.output
    assert json.loads((tmp_path / "out" / "report.json").read_text())["split_fractions"] == [0.8, 0.2, 0.0]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": 9, "prompt": "p", "instruction_id_list": ["no:such_rule"], "kwargs": [{}]}\n')
    result = runner.invoke(app, ["rubrics", "build", str(bad), "--out", str(tmp_path / "bad-out")])
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.jsonl:1" in lines[0] and "instruction_id_list[0]" in lines[0]
    assert "unknown ifeval instruction id 'no:such_rule'" in lines[0]
    assert not (tmp_path / "bad-out").exists()

    result = runner.invoke(app, ["rubrics", "build", str(bad), "--out", str(tmp_path / "bad-out"), "--lenient"])
    assert result.exit_code == 1 and "nothing imported: 1 records read, 1 rejected" in result.output
    result = runner.invoke(
        app, ["rubrics", "build", str(bad), "--out", str(tmp_path / "bad-out"), "--lenient", "--allow-empty"]
    )
    assert result.exit_code == 0 and "1 records rejected" in result.output
    result = runner.invoke(app, ["rubrics", "build", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "no such file" in result.output
    result = runner.invoke(app, ["rubrics", "build", str(bad), "--out", str(tmp_path / "x"), "--format", "csv"])
    assert result.exit_code == 1 and "--format must be one of" in result.output
