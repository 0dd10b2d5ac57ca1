"""The Prefect flow ``build_discriminator_data`` (real test harness) against a REAL OpenAI-compatible server
(``transformers serve`` with a tiny random model: garbage answers, so every LLM negative is rejected and
counted while the flow completes), plus the ``rtt data negatives`` CLI."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from discriminator.data.compose import compose_positive
from discriminator.data.schema import read_rows


@pytest.fixture(scope="module")
def small_items(tmp_path_factory, ifeval_path):
    """Three IFEval records (raw benchmark format) and a positives file for them."""
    from rubrics.importers import import_items

    root = tmp_path_factory.mktemp("disc-data")
    lines = [ln for ln in ifeval_path.read_text().splitlines() if ln.strip()]
    picked = [ln for ln in lines if len(json.loads(ln)["instruction_id_list"]) <= 2][:3]
    path = root / "items.jsonl"
    path.write_text("\n".join(picked) + "\n")
    items = import_items(str(path))
    positives = root / "positives.jsonl"
    positives.write_text(
        "".join(json.dumps({"item_id": it.id, "response": compose_positive(it).text}) + "\n" for it in items)
    )
    return path, positives, items


@pytest.mark.prefect
@pytest.mark.slow
def test_flow_with_a_real_server_rejects_garbage_and_completes(prefect_harness, openai_server, small_items, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.data import DataFlowParams, artifact_key, build_discriminator_data

    path, positives, items = small_items
    n_rubrics = sum(len(it.rubrics) for it in items)
    params = DataFlowParams(
        inputs=[str(path)],
        out_dir=str(tmp_path / "real-server-out"),
        positives=str(positives),
        build={"mode": "both", "policy": "reject", "paper_jsonl": True},
        llm=openai_server.llm_config(max_tokens=16, max_concurrency=4, max_retries=0),
        concurrency_limit="rtt-test-llm-endpoint",
    )
    report = asyncio.run(build_discriminator_data(params))
    llm = report.llm
    rejected = sum(llm["rejected"].values())
    assert llm["negatives_requested"] == n_rubrics and rejected == n_rubrics and llm["accepted"] == 0, llm
    assert llm["max_in_flight"] >= 1
    program = [f for f in report.families if f.source == "program"]
    llm_fams = [f for f in report.families if f.source == "llm"]
    assert sum(f.accepted for f in program) >= n_rubrics - 1 and sum(f.rejected for f in llm_fams) == n_rubrics
    rows = read_rows(tmp_path / "real-server-out" / "spans.parquet")
    assert rows and {r.label_source for r in rows} == {"program"}
    assert len({(r.item_id, r.split) for r in rows}) == len({r.item_id for r in rows})  # one split per item

    async def artifacts():
        async with get_client() as client:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

            key = artifact_key(params.out_dir)
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key, f"{key}-report"]))
            )

    # the key comes from the folder name; "real-server-out" is this test's alone (other tests' "out" folders share
    # "disc-data-out", and their tables would be read here)
    found = asyncio.run(artifacts())
    kinds = {a.type for a in found}
    assert {"table", "markdown"} <= kinds
    table = next(a for a in found if a.type == "table")
    assert "coverage" in json.dumps(table.data)

    # resumable: a second run finds every item done and requests nothing from the endpoint
    done_before = (tmp_path / "real-server-out" / "done.jsonl").read_text()
    again = asyncio.run(build_discriminator_data(params))
    assert (tmp_path / "real-server-out" / "done.jsonl").read_text() == done_before
    assert again.pairs == report.pairs and not again.llm


def test_cli_negatives_programmatic_and_resume(small_items, tmp_path):
    from flows.cli import app

    path, _, items = small_items
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(
        app, ["data", "negatives", "--items", str(path), "--out", str(out), "--paper-jsonl", "--seed", "3"]
    )
    assert res.exit_code == 0, res.output
    assert "pairs" in res.output and "ifeval" in res.output
    report = json.loads((out / "report.json").read_text())
    assert report["pairs"] >= 2 and report["rows"] == 2 * report["pairs"]
    paper = [
        json.loads(x)
        for split in ("train", "val", "test")
        for x in (out / "paper" / f"{split}.jsonl").read_text().splitlines()
    ]
    assert len(paper) == report["rows"] and all(set(p["char_labels"]) <= {0, 1} for p in paper)
    again = runner.invoke(app, ["data", "negatives", "--items", str(path), "--out", str(out), "--seed", "3"])
    assert again.exit_code == 0 and f"({len(items)} resumed)" in again.output


def test_cli_reports_bad_input_precisely(tmp_path):
    from flows.cli import app

    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"key": 1, "prompt": "x", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}\n{oops\n'
    )
    res = CliRunner().invoke(app, ["data", "negatives", "--items", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "bad.jsonl:2" in res.output.replace("\n", "")
    assert not (tmp_path / "o" / "spans.parquet").exists()
    res = CliRunner().invoke(
        app, ["data", "negatives", "--items", str(bad), "--out", str(tmp_path / "o"), "--mode", "llm"]
    )
    assert res.exit_code == 1 and "--llm-base-url" in res.output
