"""The review flows (real Prefect test harness) and ``rtt review`` commands against the real Label Studio."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from annotation.project import LabelStudioSettings, connect
from discriminator.data.schema import SpanRow, read_rows, write_rows
from flows.cli import app

pytestmark = pytest.mark.labelstudio

RESPONSE = "Line one,\r\nline  two 😀 中文."


def rows(n: int = 3) -> list[SpanRow]:
    return [
        SpanRow(
            id=f"f-{i}",
            item_id=f"i{i}",
            rubric_id="k",
            criteria="No commas.",
            response=RESPONSE,
            char_spans=[(8, 9)],
            label_source="diff",
            verdict=-1,
        )
        for i in range(n)
    ]


def annotate_all(settings: LabelStudioSettings, title: str, span: tuple[int, int]) -> None:
    client = connect(settings)
    pid = next(p.id for p in client.projects.list(title=title) if p.title == title)
    for t in client.tasks.list(project=pid, fields="task_only"):
        s, e = span
        client.annotations.create(
            id=t.id,
            result=[
                {
                    "from_name": "relevant",
                    "to_name": "response",
                    "type": "labels",
                    "value": {
                        "start": s,
                        "end": e,
                        "text": RESPONSE[s:e].replace("\r", "\\n").replace("\n", "\\n"),
                        "labels": ["relevant"],
                    },
                }
            ],
        )


@pytest.mark.prefect
def test_push_and_pull_flows_publish_artifacts(prefect_harness, labelstudio, tmp_path):
    from prefect.artifacts import Artifact

    from flows.review import (
        LabelStudioConnection,
        PullReviewsParams,
        PushForReviewParams,
        artifact_key,
        pull_reviews,
        push_for_review,
    )

    src = tmp_path / "rows.parquet"
    write_rows(src, rows())
    conn = LabelStudioConnection(url=labelstudio.url, api_key=labelstudio.api_key)
    push = PushForReviewParams(
        rows=str(src), project="Flow Review", batch_size=2, model_version="diff-v2", connection=conn
    )
    result = push_for_review(push)
    assert (result.pushed, result.batches) == (3, 2)
    assert push_for_review(push).skipped_existing == 3  # idempotent
    table = Artifact.get(artifact_key("review-push", "Flow Review"))
    data = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert data[0]["pushed"] == 0 and data[0]["already_there"] == 3
    assert labelstudio.api_key.get_secret_value() not in json.dumps(data)

    settings = LabelStudioSettings(url=labelstudio.url, api_key=labelstudio.api_key)
    annotate_all(settings, "Flow Review", (RESPONSE.index(","), RESPONSE.index("line")))  # ",\r\n"
    out = tmp_path / "reviewed.parquet"
    pulled = pull_reviews(PullReviewsParams(project="Flow Review", out=str(out), base=str(src), connection=conn))
    assert pulled.human_rows == 3 and pulled.auto_rows == 3
    humans = [r for r in read_rows(out) if r.label_source == "human"]
    assert {RESPONSE[slice(*r.char_spans[0])] for r in humans} == {",\r\n"}
    agree = Artifact.get(artifact_key("review-pull", "Flow Review"))
    agree_rows = json.loads(agree.data) if isinstance(agree.data, str) else agree.data
    assert agree_rows[0]["level"] == "char" and agree_rows[0]["precision"] == 1.0
    assert agree_rows[0]["recall"] == pytest.approx(1 / 3, abs=1e-4)  # the table rounds to 4 places
    assert "human rows: 3" in Artifact.get(artifact_key("review-pull", "Flow Review") + "-summary").data

    # a wrong key fails at once (no retries for a 401) and leaves the output as it was
    before = out.read_bytes()
    bad = PullReviewsParams(
        project="Flow Review",
        out=str(out),
        connection=LabelStudioConnection(url=labelstudio.url, api_key=SecretStr("nope-nope")),
    )
    with pytest.raises(Exception, match="rejected the API key"):
        pull_reviews(bad)
    assert out.read_bytes() == before


def test_cli_push_status_pull(labelstudio, tmp_path, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", labelstudio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", labelstudio.api_key.get_secret_value())
    src = tmp_path / "rows.jsonl"
    write_rows(src, rows(5))
    runner = CliRunner()
    r = runner.invoke(
        app, ["review", "push", str(src), "--project", "CLI Review", "--batch-size", "2", "--model-version", "diff-v3"]
    )
    assert r.exit_code == 0, r.output
    assert "pushed 5 of 5 rows in 3 batches, 0 already there" in r.output
    r = runner.invoke(app, ["review", "status", "--project", "CLI Review"])
    assert r.exit_code == 0 and "5 tasks, 0 with annotations" in r.output and "model version diff-v3" in r.output

    annotate_all(
        LabelStudioSettings(url=labelstudio.url, api_key=labelstudio.api_key),
        "CLI Review",
        (RESPONSE.index("😀"), RESPONSE.index("😀") + 1),
    )
    out = tmp_path / "reviewed.parquet"
    r = runner.invoke(app, ["review", "pull", "--project", "CLI Review", "--out", str(out), "--base", str(src)])
    assert r.exit_code == 0, r.output
    assert "10 rows (5 human from 5 annotations on 5 annotated tasks, 5 automatic)" in r.output and "token" in r.output
    assert {RESPONSE[slice(*h.char_spans[0])] for h in read_rows(out) if h.label_source == "human"} == {"😀"}

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "wrong-token-value")
    r = runner.invoke(app, ["review", "pull", "--project", "CLI Review", "--out", str(out)])
    assert r.exit_code == 1 and "rejected the API key" in r.output and "unchanged" in r.output
    assert "wrong-token-value" not in r.output
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", labelstudio.api_key.get_secret_value())
    r = runner.invoke(app, ["review", "status", "--project", "No Such Project"])
    assert r.exit_code == 1 and "no project titled 'No Such Project'" in r.output
