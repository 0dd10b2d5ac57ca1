"""Prefect flows (real test harness) and the ``rtt disc`` commands, on tiny models and toy rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discriminator.data.schema import write_rows
from discriminator.splits import assign_splits
from discriminator.synthetic import toy_rows
from flows.cli import app

CONFIGS = Path(__file__).resolve().parents[2] / "discriminator" / "configs"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def rows_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("flow-rows") / "rows.parquet"
    write_rows(path, assign_splits(toy_rows(30, seed=2), 0.25, 0.25, seed=0))
    return path


@pytest.mark.prefect
def test_flows_train_evaluate_export_publish_artifacts(
    prefect_harness, rows_path, tiny_bert_dir, tiny_policy_dir, tmp_path
):
    from prefect.artifacts import Artifact

    from flows.discriminator import (
        EvaluateDiscriminatorParams,
        ExportDiscriminatorParams,
        TrainDiscriminatorParams,
        evaluate_discriminator,
        export_discriminator,
        train_discriminator,
    )

    run = tmp_path / "flow-run"
    res = train_discriminator(
        TrainDiscriminatorParams(
            preset="tiny",
            data=str(rows_path),
            backbone=str(tiny_bert_dir),
            out=str(run),
            max_steps=6,
            eval_steps=3,
        )
    )
    assert Path(res["model_dir"]).is_dir() and res["global_step"] == 6
    table = Artifact.get("disc-train-flow-run")
    assert table is not None and table.type == "table"
    assert "threshold" in Artifact.get("disc-train-flow-run-summary").data

    ev = evaluate_discriminator(
        EvaluateDiscriminatorParams(
            model=res["model_dir"],
            data=str(rows_path),
            out=str(run / "eval"),
            baselines=["lexical", "cort", "all_relevant"],
            cort_policy=str(tiny_policy_dir),
        )
    )
    assert set(ev["overall"]) == {"discriminator", "lexical overlap", "CoRT (policy LM contrast)", "all-relevant"}
    cort = ev["overall"]["CoRT (policy LM contrast)"]
    assert 0.0 <= cort["auroc"] <= 1.0 and cort["tokens"] == ev["overall"]["discriminator"]["tokens"]
    rows = Artifact.get("disc-eval-flow-run").data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert {r["method"] for r in rows} == set(ev["overall"])
    assert "| discriminator |" in Artifact.get("disc-eval-flow-run-report").data

    out = export_discriminator(ExportDiscriminatorParams(run=str(run), out=str(tmp_path / "export")))
    assert (Path(out) / "model.safetensors").is_file()
    card = Artifact.get("disc-export-export").data
    assert "Test split" in card and "CoRT" in card  # the run's eval metrics went into the model card


def test_cli_train_eval_export_score(rows_path, tiny_bert_dir, tmp_path):
    runner = CliRunner()
    run = tmp_path / "cli-run"
    base = [
        "disc",
        "train",
        "--config",
        str(CONFIGS / "tiny.yaml"),
        "--data",
        str(rows_path),
        "--backbone",
        str(tiny_bert_dir),
        "--out",
        str(run),
        "--max-steps",
        "4",
        "--eval-steps",
        "2",
        "--pos-weight",
        "none",
    ]
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    assert "validation: F1" in r.output and (run / "model" / "rtt_discriminator.json").is_file()
    meta = json.loads((run / "model" / "rtt_discriminator.json").read_text())
    assert meta["pos_weight"] is None and meta["pos_weight_mode"] == "none"
    r = runner.invoke(app, base)  # the run folder holds checkpoints now
    assert r.exit_code == 1 and "--resume" in r.output
    r = runner.invoke(app, base[:-6] + ["--max-steps", "6", "--eval-steps", "2", "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "model" / "rtt_discriminator.json").read_text())["extra"]["global_step"] == 6

    r = runner.invoke(
        app, ["disc", "eval", "--model", str(run / "model"), "--data", str(rows_path), "--baselines", "lexical,random"]
    )
    assert r.exit_code == 0, r.output
    assert "discriminator" in r.output and "lexical overlap" in r.output and (run / "eval" / "report.md").is_file()

    r = runner.invoke(app, ["disc", "export", "--run", str(run), "--out", str(tmp_path / "exp")])
    assert r.exit_code == 0, r.output
    assert "model.safetensors" in r.output

    r = runner.invoke(
        app, ["disc", "score", "--model", str(tmp_path / "exp"), "-c", "Do not use commas.", "-r", "one, two"]
    )
    assert r.exit_code == 0 and "one, two" in r.output
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"id": "a", "criteria": "No commas.", "response": "x, y"}\n{"criteria": "c", "response": ""}\n')
    r = runner.invoke(
        app,
        [
            "disc",
            "score",
            "--model",
            str(tmp_path / "exp"),
            "--data",
            str(pairs),
            "--out",
            str(tmp_path / "scores.jsonl"),
        ],
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "2"] and len(lines[0]["tokens"]) == 3 and lines[1]["tokens"] == []
    pairs.write_text('{"criteria": "c"}\n')
    r = runner.invoke(
        app,
        ["disc", "score", "--model", str(tmp_path / "exp"), "--data", str(pairs), "--out", str(tmp_path / "bad.jsonl")],
    )
    assert r.exit_code == 1 and "pairs.jsonl:1" in r.output and "response" in r.output
    assert not (tmp_path / "bad.jsonl").exists()


def test_cli_reports_config_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: -1\n")
    r = CliRunner().invoke(app, ["disc", "train", "--config", str(bad), "--data", "x.parquet"])
    assert r.exit_code == 1 and "bad.yaml" in r.output and "learning_rate" in r.output
    r = CliRunner().invoke(
        app,
        ["disc", "train", "--data", str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "o"), "--backbone", "x"],
    )
    assert r.exit_code == 1 and "missing.parquet" in r.output
