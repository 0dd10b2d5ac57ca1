"""The review loop against a REAL Label Studio server: re-pushing with other model versions, the annotator's view
(pair context, no pre-selected verdict, Data Manager columns, overlap), discriminator uncertainty ordering the
tasks, skipped tasks, and a human correction replacing the automatic label in the training rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from annotation.project import (
    REVIEW_VIEW_TITLE,
    LabelStudioSettings,
    ReviewError,
    connect,
    ensure_project,
    server_reason,
    set_model_version,
)
from annotation.pull import pull_reviews
from annotation.push import edit_diff, push_rows
from annotation.uncertainty import label_confidence, with_discriminator_scores
from discriminator.data.schema import SpanRow, read_rows, write_rows
from discriminator.splits import load_rows
from flows.cli import app

pytestmark = pytest.mark.labelstudio

POS = "Dear team, the launch is on Friday. Bring snacks and a smile."
NEG = POS.replace("Bring snacks", "Bring, snacks")


def pair_rows(prefix: str, n: int = 3) -> list[SpanRow]:
    """n (positive, negative) pairs for "no commas": the negative's comma is its automatic span."""
    out = []
    for i in range(n):
        neg = NEG.replace("Friday", f"day {i}")
        pos = POS.replace("Friday", f"day {i}")
        c = neg.index(", snacks")
        common = dict(
            item_id=f"{prefix}-item-{i}",
            rubric_id="no_comma",
            criteria="Do not use any commas.",
            instruction="Write a short note to the team.",
            pair_id=f"{prefix}-pair-{i}",
            family="ifeval:punctuation:no_comma",
            label_source="program",
            split="val" if i == n - 1 else "train",
        )
        out.append(
            SpanRow(
                id=f"{prefix}-{i}-pos",
                response=pos,
                char_spans=[(pos.index(","), pos.index(",") + 1)],
                polarity="positive",
                verdict=-1,
                **common,
            )
        )
        out.append(
            SpanRow(
                id=f"{prefix}-{i}-neg", response=neg, char_spans=[(c, c + 1)], polarity="negative", verdict=-1, **common
            )
        )
    return out


def region(text: str, s: int, e: int, rid: str = "h") -> dict:
    return {
        "id": rid,
        "from_name": "relevant",
        "to_name": "response",
        "type": "labels",
        "origin": "manual",
        "value": {"start": s, "end": e, "text": text[s:e], "labels": ["relevant"]},
    }


@pytest.fixture(scope="module")
def ls(labelstudio):
    settings = LabelStudioSettings(url=labelstudio.url, api_key=labelstudio.api_key)
    return settings, connect(settings)


def tasks_by_row(client, project_id: int) -> dict[str, object]:
    return {t.data["row_id"]: t for t in client.tasks.list(project=project_id, fields="all", page_size=100)}


def test_repush_with_other_model_versions_and_the_reason_of_errors(ls):
    settings, client = ls
    rows = pair_rows("mv", 2)
    ref = ensure_project(client, settings, "RTT model versions")
    assert push_rows(client, settings, ref, rows[:2], "diff-v1").pushed == 2
    assert client.projects.get(id=ref.id).model_version == "diff-v1"
    # the same project again, with a version it has never seen (it once failed with HTTP 400 before the import)
    for version, part in (("greedy-v1", rows[2:3]), ("auto", rows[3:4])):
        again = ensure_project(client, settings, "RTT model versions", model_version=version)
        res = push_rows(client, settings, again, part, version)
        assert res.pushed == 1 and res.model_version_set
        assert client.projects.get(id=ref.id).model_version == version
    versions = {
        t.data["row_id"]: t.predictions[0]["model_version"]
        if isinstance(t.predictions[0], dict)
        else t.predictions[0].model_version
        for t in tasks_by_row(client, ref.id).values()
    }
    assert sorted(versions.values()) == ["auto", "diff-v1", "diff-v1", "greedy-v1"]
    # Label Studio's own reason reaches the message
    with pytest.raises(ReviewError, match="model_version: Model version doesn't exist"):
        set_model_version(client, settings, ref.id, "never-pushed-v9")
    assert server_reason({"detail": "Validation error", "validation_errors": {"title": ["too long"]}}) == (
        "Validation error; title: too long"
    )


def test_cli_shows_label_studio_reason(labelstudio, tmp_path, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", labelstudio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", labelstudio.api_key.get_secret_value())
    src = tmp_path / "rows.jsonl"
    write_rows(src, pair_rows("cli", 1))
    r = CliRunner().invoke(app, ["review", "push", str(src), "--project", "T" * 80])
    assert r.exit_code == 1
    assert "HTTP 400" in r.output and "title:" in r.output and "50 characters" in r.output, r.output


def test_annotator_view_overlap_columns_and_uncertainty(ls, tiny_bert_dir, tmp_path):
    from discriminator.scoring import RelevanceScorer

    settings, client = ls
    rows = pair_rows("view", 3)
    scorer = RelevanceScorer.from_pretrained(tiny_bert_dir, device="cpu")
    scored = with_discriminator_scores(rows, scorer, "tiny")
    ref = ensure_project(client, settings, "RTT annotator view", overlap=2)
    push_rows(client, settings, ref, scored, "disc-v1")
    proj = client.projects.get(id=ref.id)
    assert proj.maximum_annotations == 2 and proj.overlap_cohort_percentage == 100
    assert (
        ensure_project(client, settings, "RTT annotator view", overlap=3)
        and client.projects.get(id=ref.id).maximum_annotations == 3
    )
    for name in ("$polarity_note", "$pair_context", "$why"):
        assert name in proj.label_config
    view = next(v for v in client.views.list(project=ref.id) if v.data["title"] == REVIEW_VIEW_TITLE)
    hidden = set(view.data["hiddenColumns"]["explore"])
    assert {"tasks:data.response", "tasks:data.pair_context"} <= hidden
    assert not hidden & {"tasks:data.criteria", "tasks:data.family", "tasks:data.polarity", "tasks:data.label_source"}

    tasks = tasks_by_row(client, ref.id)
    neg, pos = tasks["view-0-neg"], tasks["view-0-pos"]
    assert neg.data["polarity"] == "negative" and "BREAKS the criterion" in neg.data["polarity_note"]
    assert "[added ',']" in neg.data["pair_context"] and "Bring" in neg.data["pair_context"]
    assert "MEETS the criterion" in pos.data["polarity_note"] and "fails the criterion" in neg.data["why"]
    for t in tasks.values():
        pred = t.predictions[0] if isinstance(t.predictions[0], dict) else t.predictions[0].model_dump()
        assert all(r["type"] != "choices" for r in pred["result"])  # the verdict is not pre-selected
    # per-row confidence from the discriminator's probabilities, as the prediction score
    chars = scorer.score_chars([(r.criteria, r.response) for r in rows])
    want = {r.id: label_confidence(c, r.char_labels) for r, c in zip(rows, chars)}
    got = {
        rid: (t.predictions[0]["score"] if isinstance(t.predictions[0], dict) else t.predictions[0].score)
        for rid, t in tasks.items()
    }
    for rid in want:
        assert got[rid] == pytest.approx(want[rid], abs=1e-5)
    # distinct (at full precision: the tiny discriminator's confidences lie within ~1e-4 of each other, so a
    # 5-decimal rounding made two of them collide now and then): uncertainty sampling has an order
    assert len(set(got.values())) == len(rows)
    # the labelling stream (uncertainty sampling) serves the least confident task first
    import httpx

    nxt = httpx.get(
        f"{settings.url}/api/projects/{ref.id}/next",
        timeout=60,
        headers={"Authorization": f"Token {settings.api_key.get_secret_value()}"},
    ).json()
    assert nxt["data"]["row_id"] == min(got, key=got.get)
    assert label_confidence(np.array([0.9, 0.2]), [1, 0]) == pytest.approx(0.85)
    assert "(no difference" in edit_diff("same", "same")


def test_human_correction_replaces_the_automatic_label_in_training(ls, tiny_bert_dir, tmp_path, monkeypatch):
    """push -> one task skipped, corrections by one and by three reviewers -> pull -> the training rows."""
    settings, client = ls
    rows = pair_rows("loop", 3)
    base = tmp_path / "rows.parquet"
    write_rows(base, rows)
    ref = ensure_project(client, settings, "RTT review loop", overlap=3)
    push_rows(client, settings, ref, rows, "program-v1")
    ids = {rid: t.id for rid, t in tasks_by_row(client, ref.id).items()}
    users = [
        client.users.create(username=f"rev{k}", email=f"rev{k}@rtt.test", password=f"pass-{k}-12345") for k in range(2)
    ]
    # 1) the positive of pair 0 wrongly marks its comma: the reviewer removes it (no span) and says "satisfied"
    client.annotations.create(
        id=ids["loop-0-pos"],
        result=[
            {
                "id": "v",
                "from_name": "verdict",
                "to_name": "response",
                "type": "choices",
                "value": {"choices": ["satisfied"]},
            }
        ],
    )
    # 2) the negative of pair 1: three reviewers; two widen the span to ", snacks", one keeps the comma
    neg1 = next(r for r in rows if r.id == "loop-1-neg")
    c = neg1.response.index(", snacks")
    client.annotations.create(id=ids["loop-1-neg"], result=[region(neg1.response, c, c + 8)])
    client.annotations.create(id=ids["loop-1-neg"], completed_by=users[0].id, result=[region(neg1.response, c, c + 8)])
    client.annotations.create(id=ids["loop-1-neg"], completed_by=users[1].id, result=[region(neg1.response, c, c + 1)])
    # 3) a skipped task
    client.annotations.create(id=ids["loop-2-neg"], result=[], was_cancelled=True)

    out = tmp_path / "reviewed.parquet"
    res = pull_reviews(client, settings, "RTT review loop", out, base)
    assert (res.stats.tasks_annotated, res.stats.tasks_skipped, res.stats.annotations_used) == (2, 1, 4)
    assert res.resolution.human_resolved == 2 and res.resolution.auto_replaced == 2
    stored = read_rows(out)
    assert sum(r.label_source == "human" for r in stored) == 4 and len(stored) == 10  # everything kept for agreement
    by_id = {r.id: r for r in load_rows(out)}  # what `rtt disc train` / `rtt disc eval` read
    assert len(by_id) == len(rows)
    assert by_id["loop-0-pos"].char_spans == [] and by_id["loop-0-pos"].verdict == 1
    assert by_id["loop-0-pos"].label_source == "human"
    assert by_id["loop-1-neg"].char_spans == [(c, c + 8)]  # majority of three reviewers
    assert by_id["loop-2-neg"].label_source == "program" and by_id["loop-2-neg"].char_spans == [(c, c + 1)]
    latest = {r.id: r for r in load_rows(out, human_labels="latest")}
    assert latest["loop-1-neg"].char_spans == [(c, c + 1)]  # the last reviewer alone

    # adjudication: a ground-truth star settles the three-way disagreement
    ann = next(a for a in client.annotations.list(id=ids["loop-1-neg"]) if a.completed_by == users[1].id)
    client.annotations.update(id=ann.id, ground_truth=True)
    pull_reviews(client, settings, "RTT review loop", out, base)
    judged = {r.id: r for r in load_rows(out, human_labels="adjudicated")}
    assert judged["loop-1-neg"].char_spans == [(c, c + 1)]

    # the CLI pull summary and training on the reviewed file
    monkeypatch.setenv("LABEL_STUDIO_URL", settings.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", settings.api_key.get_secret_value())
    runner = CliRunner()
    r = runner.invoke(app, ["review", "pull", "--project", "RTT review loop", "--out", str(out), "--base", str(base)])
    assert r.exit_code == 0, r.output
    assert "on 2 annotated tasks" in r.output and "1 tasks skipped" in r.output
    assert "2 pairs from human review replace their automatic rows" in r.output
    run = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "disc",
            "train",
            "--data",
            str(out),
            "--backbone",
            str(tiny_bert_dir),
            "--out",
            str(run),
            "--max-steps",
            "2",
            "--eval-steps",
            "2",
            "--max-length",
            "128",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "labels: 2 pairs from human review (majority) replaced 2 automatic rows; 6 of 10 rows kept" in " ".join(
        r.output.split()
    )
    meta = json.loads((run / "model" / "rtt_discriminator.json").read_text())
    res = meta["extra"]["label_resolution"]
    assert res["auto_replaced"] == 2 and res["rows_out"] == len(rows) and res["rows_in"] == 10
    assert sum(meta["label_source_stats"].values()) + meta["token_stats"]["val_rows"] == len(rows)
