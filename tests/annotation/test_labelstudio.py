"""Push / review / pull against a REAL Label Studio server (session fixture ``labelstudio`` in conftest).

Annotations are created through the API the way the labelling UI posts them: code-point offsets (what Label
Studio 1.23.2 stores for a mouse selection, see ``scripts/labelstudio_browser.py probe-offsets``) and the
region text with each line break written as the two characters ``\\n``.
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from annotation.config import CONFIG_VERSION
from annotation.project import (
    LabelStudioSettings,
    ReviewError,
    connect,
    delete_project,
    ensure_project,
    project_status,
)
from annotation.pull import InvalidAnnotation, agreement_path, pull_reviews
from annotation.push import push_rows
from annotation.server import free_port, start, status, stop
from discriminator.data.schema import SpanRow, read_rows, write_rows

pytestmark = pytest.mark.labelstudio

EMOJI = "Hi 😀 there,\r\nno  commas 中文 here 🎉!"
CJK = "中文回答：第一，第二。\r\n结束 🎉"
PLAIN = "hello world  two  spaces"


def at(text: str, needle: str, end: str | None = None) -> tuple[int, int]:
    s = text.index(needle)
    return s, (text.index(end, s) + len(end)) if end else s + len(needle)


def make_rows(prefix: str = "r") -> list[SpanRow]:
    def row(i, response, spans, verdict=None, source="diff"):
        return SpanRow(
            id=f"{prefix}-{i}",
            item_id=f"item-{i}",
            rubric_id="no_comma",
            criteria="Do not use commas.",
            instruction="Write  two lines.\r\nNo commas.",
            response=response,
            char_spans=spans,
            label_source=source,
            verdict=verdict,
            split="train",
            family="ifeval:punctuation:no_comma",
        )

    return [
        row("emoji", EMOJI, [at(EMOJI, ","), at(EMOJI, "🎉")], verdict=-1),
        row("cjk", CJK, [at(CJK, "，")], verdict=-1, source="program"),
        row("plain", PLAIN, [], verdict=1),
        row("empty", "nothing relevant here", []),
    ]


def ui_region(text: str, span: tuple[int, int], rid: str) -> dict:
    """A labels region as the Label Studio UI posts it for a mouse selection of ``text[s:e]``."""
    s, e = span
    shown = text[s:e].replace("\r", "\\n").replace("\n", "\\n")
    return {
        "id": rid,
        "from_name": "relevant",
        "to_name": "response",
        "type": "labels",
        "origin": "manual",
        "value": {"start": s, "end": e, "text": shown, "labels": ["relevant"]},
    }


def verdict_region(choice: str) -> dict:
    return {
        "id": "v",
        "from_name": "verdict",
        "to_name": "response",
        "type": "choices",
        "origin": "manual",
        "value": {"choices": [choice]},
    }


@pytest.fixture(scope="module")
def ls(labelstudio):
    settings = LabelStudioSettings(url=labelstudio.url, api_key=labelstudio.api_key)
    return settings, connect(settings)


def as_dict(obj) -> dict:
    return obj if isinstance(obj, dict) else obj.model_dump()


def task_ids(client, project_id: int) -> dict[str, int]:
    return {t.data["row_id"]: t.id for t in client.tasks.list(project=project_id, fields="task_only", page_size=100)}


def test_project_push_review_pull_round_trip(ls, tmp_path):
    settings, client = ls
    rows = make_rows()
    base = tmp_path / "rows.parquet"
    write_rows(base, rows)

    ref = ensure_project(client, settings, "RTT review test", model_version="diff-v1")
    again = ensure_project(client, settings, "RTT review test", model_version="diff-v1")
    assert ref.created and not again.created and again.id == ref.id
    proj = client.projects.get(id=ref.id)
    assert proj.sampling == "Uncertainty sampling"
    assert "white-space: pre-wrap" in proj.label_config and CONFIG_VERSION in proj.description
    assert [v.data["ordering"] for v in client.views.list(project=ref.id)] == [["tasks:predictions_score"]]

    # batched, idempotent push; the project shows the pushed predictions' model version
    first = push_rows(client, settings, ref, rows, "diff-v1", batch_size=3)
    assert (first.pushed, first.batches, first.skipped_existing) == (4, 2, 0)
    assert client.projects.get(id=ref.id).model_version == "diff-v1"
    again = push_rows(client, settings, ref, rows, "diff-v1", batch_size=3)
    assert (again.pushed, again.batches, again.skipped_existing, again.changed_since_push) == (0, 0, 4, [])
    changed = [r.model_copy(update={"char_spans": [(0, 2)]}) if r.id == "r-plain" else r for r in rows]
    assert push_rows(client, settings, ref, changed, "diff-v1").changed_since_push == ["r-plain"]

    # predictions: model_version, score, exact offsets and text
    tasks = {t.data["row_id"]: t for t in client.tasks.list(project=ref.id, fields="all", page_size=100)}
    assert len(tasks) == 4
    pred = as_dict(tasks["r-emoji"].predictions[0])
    assert pred["model_version"] == "diff-v1" and pred["score"] == pytest.approx(0.8)
    spans = [
        (r["value"]["start"], r["value"]["end"], r["value"]["text"]) for r in pred["result"] if r["type"] == "labels"
    ]
    assert spans == [(*at(EMOJI, ","), ","), (*at(EMOJI, "🎉"), "🎉")]
    assert as_dict(tasks["r-cjk"].predictions[0])["score"] == pytest.approx(0.95)

    # reviews, as the UI posts them
    ids = task_ids(client, ref.id)
    other = client.users.create(username="second", email="second@rtt.test", password="second-pass-123")
    want_a = {
        "r-emoji": [at(EMOJI, "😀"), at(EMOJI, ",", "no  commas"), at(EMOJI, "🎉")],
        "r-cjk": [at(CJK, "第一"), at(CJK, "。", "结束 🎉")],
        "r-plain": [at(PLAIN, "  two  ")],
    }
    client.annotations.create(id=ids["r-plain"], result=[ui_region(PLAIN, (0, 5), "old")])  # superseded below
    for row_id, spans in want_a.items():
        response = next(r.response for r in rows if r.id == row_id)
        result = [ui_region(response, sp, f"a{k}") for k, sp in enumerate(spans)]
        client.annotations.create(id=ids[row_id], result=[*result, verdict_region("violated")], lead_time=4.2)
    want_b = [at(EMOJI, ","), at(EMOJI, "中文")]
    client.annotations.create(
        id=ids["r-emoji"], completed_by=other.id, result=[ui_region(EMOJI, sp, f"b{k}") for k, sp in enumerate(want_b)]
    )
    client.annotations.create(id=ids["r-cjk"], completed_by=other.id, result=[], was_cancelled=True)

    out = tmp_path / "reviewed.parquet"
    res = pull_reviews(client, settings, "RTT review test", out, base)
    assert (res.stats.tasks, res.stats.annotations_used, res.stats.cancelled, res.stats.superseded) == (3, 4, 1, 1)
    assert res.stats.annotator_skipped_task == 1 and res.stats.whitespace_mismatch == 0
    got = read_rows(out)
    humans = {(r.meta["review"]["auto_row_id"], r.annotator): r for r in got if r.label_source == "human"}
    assert set(humans) == {
        ("r-emoji", "reviewer@rtt.test"),
        ("r-cjk", "reviewer@rtt.test"),
        ("r-plain", "reviewer@rtt.test"),
        ("r-emoji", "second@rtt.test"),
    }
    for row_id, spans in want_a.items():
        h = humans[(row_id, "reviewer@rtt.test")]
        assert h.char_spans == sorted(spans) and h.verdict == -1 and h.annotated_at is not None
        assert h.split == "train" and h.id == f"{row_id}::human::reviewer@rtt.test"
    assert [EMOJI[s:e] for s, e in humans[("r-emoji", "reviewer@rtt.test")].char_spans] == [
        "😀",
        ",\r\nno  commas",
        "🎉",
    ]
    assert [CJK[s:e] for s, e in humans[("r-cjk", "reviewer@rtt.test")].char_spans] == ["第一", "。\r\n结束 🎉"]
    assert PLAIN[slice(*humans[("r-plain", "reviewer@rtt.test")].char_spans[0])] == "  two  "
    second = humans[("r-emoji", "second@rtt.test")]
    assert second.char_spans == want_b and second.verdict == -1 and second.meta["review"]["verdict_source"] == "auto"
    autos = [r for r in got if r.label_source != "human"]
    assert [r.id for r in autos] == [r.id for r in rows] and autos == rows  # automatic labels kept as pushed
    rep = res.agreement
    assert rep.rows_compared == 4 and rep.annotators == 2 and rep.kappa_pairs == 1
    assert rep.kappa_char is not None and -1 <= rep.kappa_char <= 1 and 0 < rep.char["precision"] <= 1
    assert agreement_path(out).read_text().count("kappa_char") == 1

    st = project_status(client, settings, "RTT review test")
    assert (st.tasks, st.tasks_with_annotations, st.predictions, st.config_version) == (4, 3, 4, CONFIG_VERSION)

    # a second pull is stable, and the sanity check rejects a region that does not match the response
    assert read_rows(pull_reviews(client, settings, "RTT review test", out, base).out) == got
    bad = ui_region(PLAIN, (0, 5), "bad")
    bad["value"]["text"] = "HELLO"
    client.annotations.create(id=ids["r-plain"], completed_by=other.id, result=[bad])
    before = out.read_bytes()
    with pytest.raises(
        InvalidAnnotation,
        match=r"task \d+ \(row r-plain\) annotation \d+ by second@rtt.test "
        r"region bad: field 'value.text' 'HELLO'",
    ):
        pull_reviews(client, settings, "RTT review test", out, base)
    assert out.read_bytes() == before
    skipped = pull_reviews(client, settings, "RTT review test", tmp_path / "skip.parquet", base, on_invalid="skip")
    assert len(skipped.stats.invalid) == 1 and skipped.human_rows == 4


def test_utf16_servers_round_trip(ls, tmp_path):
    """Older Label Studio front ends count UTF-16 units: both directions convert exactly."""
    settings, client = ls
    u16 = settings.model_copy(update={"offset_unit": "utf16"})
    rows = make_rows("u")[:2]
    ref = ensure_project(client, u16, "RTT review utf16")
    push_rows(client, u16, ref, rows, "diff-v1")
    ids = task_ids(client, ref.id)
    t = client.tasks.get(id=ids["u-emoji"])
    pred = as_dict(t.predictions[0])
    js = [len(EMOJI[:i].encode("utf-16-le")) // 2 for i in range(len(EMOJI) + 1)]  # JavaScript string offsets
    (c0, c1), (p0, p1) = at(EMOJI, ","), at(EMOJI, "🎉")
    assert [(r["value"]["start"], r["value"]["end"]) for r in pred["result"] if r["type"] == "labels"] == [
        (js[c0], js[c1]),
        (js[p0], js[p1]),
    ]
    assert (js[c0], js[p1] - js[p0]) == (c0 + 1, 2)
    e0, e1 = at(EMOJI, "🎉!")
    client.annotations.create(
        id=ids["u-emoji"],
        result=[
            {
                "from_name": "relevant",
                "to_name": "response",
                "type": "labels",
                "value": {"start": js[e0], "end": js[e1], "text": "🎉!", "labels": ["relevant"]},
            }
        ],
    )
    res = pull_reviews(client, u16, "RTT review utf16", tmp_path / "u.parquet")
    human = next(r for r in read_rows(res.out) if r.label_source == "human")
    assert EMOJI[slice(*human.char_spans[0])] == "🎉!"
    assert res.auto_rows == 1  # no --base: the automatic row is rebuilt from the task's meta


def test_errors_are_clear_and_lose_nothing(ls, labelstudio, tmp_path):
    settings, client = ls
    ref = ensure_project(client, settings, "RTT review errors")
    rows = make_rows("e")[:1]
    push_rows(client, settings, ref, rows)
    client.annotations.create(id=task_ids(client, ref.id)["e-emoji"], result=[ui_region(EMOJI, at(EMOJI, "中文"), "x")])
    out = tmp_path / "kept.parquet"
    pull_reviews(client, settings, "RTT review errors", out)
    before = out.read_bytes()
    assert any(r.label_source == "human" for r in read_rows(out))

    wrong = settings.model_copy(update={"api_key": SecretStr("not-the-token-123")})
    with pytest.raises(ReviewError, match="rejected the API key \\(HTTP 401\\)") as err:
        connect(wrong)
    assert "not-the-token" not in str(err.value) and settings.api_key.get_secret_value() not in str(err.value)
    assert "**********" in repr(settings) and settings.api_key.get_secret_value() not in repr(settings)
    down = settings.model_copy(update={"url": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(ReviewError, match="cannot reach Label Studio") as err:
        pull_reviews(client=connect(down, check=False), settings=down, title="RTT review errors", out=out)
    assert err.value.retryable
    assert delete_project(client, settings, "RTT review errors")
    with pytest.raises(ReviewError, match="no project titled 'RTT review errors'") as err:
        pull_reviews(client, settings, "RTT review errors", out)
    assert not err.value.retryable
    assert out.read_bytes() == before

    # the real server going down and coming back (restart on the same data dir and port)
    assert stop(labelstudio.data_dir) and status(labelstudio.data_dir) is None
    with pytest.raises(ReviewError, match="cannot reach Label Studio"):
        pull_reviews(client, settings, "RTT review test", out)
    assert out.read_bytes() == before
    info = start(
        labelstudio.data_dir,
        port=labelstudio.port,
        venv=labelstudio.venv,
        username=labelstudio.username,
        token=labelstudio.api_key.get_secret_value(),
        timeout=240,
    )
    assert info.url == labelstudio.url and status(labelstudio.data_dir).pid == info.pid
    assert ensure_project(client, settings, "RTT review test").created is False  # data survived the restart
