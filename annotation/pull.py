r"""Pull reviewed spans from Label Studio and merge them into the dataset as ``label_source="human"`` rows.

For every exported task and every annotator, the latest non-cancelled annotation counts (skipped/cancelled
ones and superseded ones are counted, not used). Regions of the ``relevant`` control are converted from the
server's offset unit to code points and checked against the response: the region's ``text`` must equal the
slice. Label Studio writes each line break inside a region's text as the two characters ``\n`` (so ``\r\n``
becomes ``\n\n``); that is undone before comparing. A whitespace-only difference (a view that collapsed
spaces) is accepted and counted; anything else is an error. Offsets are authoritative.

The output keeps the automatic rows (for comparison) and adds one human row per (row, annotator); training and
evaluation read it through ``discriminator.resolve``, where the human labels replace the automatic one (one
label per pair). A task whose every annotation is a skip counts as skipped, not annotated. It is written
atomically, and human rows from an earlier pull that this pull did not see are kept, so nothing pulled before is
lost if the server, the token or the project goes away.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError

from annotation.agreement import AgreementReport, agreement
from annotation.config import FROM_NAME, LABEL, TO_NAME, VERDICT_CHOICES, VERDICT_NAME
from annotation.offsets import LSOffsets, OffsetError, OffsetUnit
from annotation.project import LabelStudioSettings, ReviewError, get_project, resolve_unit, translate_errors
from discriminator.data.schema import SpanRow, read_rows, write_rows
from discriminator.resolve import HumanPolicy, ResolutionReport, resolve_labels

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

OnInvalid = Literal["error", "skip"]
_WS = re.compile(r"\s+")


def _display(text: str) -> str:
    r"""Text as Label Studio writes it into a region: each line break (``\r`` or ``\n``) as ``\n``."""
    return text.replace("\\n", "\n").replace("\r", "\n")


class InvalidAnnotation(ReviewError):
    """Annotations that cannot be turned into spans; the message lists each task / annotation / region."""


class PullStats(BaseModel):
    tasks: int = 0  # exported tasks (Label Studio exports skipped tasks too)
    tasks_annotated: int = 0  # tasks with at least one used (submitted, valid) annotation
    tasks_skipped: int = 0  # tasks whose every annotation was a skip / cancel
    annotations_used: int = 0
    cancelled: int = 0  # cancelled (skipped) annotations ignored
    superseded: int = 0  # older annotations of the same annotator on the same task
    annotator_skipped_task: int = 0  # (task, annotator) with only cancelled annotations
    whitespace_mismatch: int = 0  # regions whose text differs from the slice only in whitespace
    invalid: list[str] = []


class PullResult(BaseModel):
    project_id: int
    title: str
    out: Path | None
    rows_written: int
    auto_rows: int
    human_rows: int
    retained_from_previous: int
    stats: PullStats
    agreement: AgreementReport
    resolution: ResolutionReport | None = None  # the one-label-per-pair view training and evaluation will use


def human_row_id(auto_id: str, annotator: str) -> str:
    return f"{auto_id}::human::{annotator}"


def export_tasks(client: LabelStudio, settings: LabelStudioSettings, project_id: int) -> list[dict[str, Any]]:
    """All tasks with at least one annotation, as Label Studio's JSON export (annotations + predictions)."""
    with translate_errors(settings, f"export project {project_id}"):
        edition = getattr(client.versions.get(), "edition", "Community")
        if edition == "Enterprise":  # async export snapshots
            data = client.projects.exports.as_json(project_id)
        else:
            raw = b"".join(
                client.projects.exports.download_sync(project_id, export_type="JSON", download_all_tasks=False)
            )
            data = json.loads(raw)
    if not isinstance(data, list):
        raise ReviewError(f"unexpected export format from project {project_id}: {type(data).__name__}")
    return data


def user_names(client: LabelStudio, settings: LabelStudioSettings) -> dict[int, str]:
    """Label Studio user id -> email (falls back to ``user:<id>`` where the list is not visible)."""
    try:
        with translate_errors(settings, "list users"):
            return {u.id: (u.email or u.username or f"user:{u.id}") for u in client.users.list()}
    except ReviewError:
        return {}


def _annotator(completed_by: Any, users: dict[int, str]) -> str:
    if isinstance(completed_by, dict):
        uid: Any = completed_by.get("id")
        return completed_by.get("email") or users.get(uid, f"user:{uid}")
    return users.get(completed_by, f"user:{completed_by}")


def _when(ann: dict[str, Any]) -> datetime | None:
    ts = ann.get("updated_at") or ann.get("created_at")
    return datetime.fromisoformat(ts.replace("Z", "+00:00")) if ts else None


def latest_per_annotator(
    annotations: list[dict[str, Any]], users: dict[int, str], stats: PullStats
) -> dict[str, dict[str, Any]]:
    """annotator -> their latest non-cancelled annotation; counts cancelled / superseded / fully-skipped."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ann in annotations:
        by[_annotator(ann.get("completed_by"), users)].append(ann)
    out = {}
    for who, anns in by.items():
        live = [a for a in anns if not a.get("was_cancelled")]
        stats.cancelled += len(anns) - len(live)
        if not live:
            stats.annotator_skipped_task += 1
            continue
        live.sort(key=lambda a: (_when(a) or datetime.min.astimezone(), a.get("id") or 0))
        stats.superseded += len(live) - 1
        out[who] = live[-1]
    return out


def regions_to_spans(
    response: str, result: list[dict[str, Any]], where: str, stats: PullStats, unit: OffsetUnit = "codepoint"
) -> tuple[list[tuple[int, int]], int | None]:
    """Code-point spans of the ``relevant`` regions and the verdict (+1/-1/None) of one annotation result."""
    m = LSOffsets(response, unit)
    spans: list[tuple[int, int]] = []
    verdict = None
    for k, reg in enumerate(result or []):
        value = reg.get("value") or {}
        rid = reg.get("id", k)
        if reg.get("from_name") == VERDICT_NAME and reg.get("type") == "choices":
            choice = (value.get("choices") or [None])[0]
            if choice not in VERDICT_CHOICES:
                raise ValueError(f"{where} region {rid}: unknown verdict choice {choice!r}")
            verdict = VERDICT_CHOICES[choice]
            continue
        if reg.get("from_name") != FROM_NAME or reg.get("type") != "labels" or reg.get("to_name", TO_NAME) != TO_NAME:
            continue
        if LABEL not in (value.get("labels") or []):
            continue
        s16, e16 = value.get("start"), value.get("end")
        if not isinstance(s16, int) or not isinstance(e16, int):
            raise ValueError(
                f"{where} region {rid}: field 'value.start'/'value.end' must be integers, got {s16!r}, {e16!r}"
            )
        try:
            s, e = m.from_ls(s16, e16)
        except OffsetError as exc:
            raise ValueError(f"{where} region {rid}: {exc}") from None
        if e <= s:
            raise ValueError(f"{where} region {rid}: empty or reversed span [{s16}, {e16})")
        text = value.get("text")
        if text is not None and text != response[s:e] and _display(text) != _display(response[s:e]):
            if _WS.sub(" ", _display(text)).strip() == _WS.sub(" ", _display(response[s:e])).strip():
                stats.whitespace_mismatch += 1
            else:
                raise ValueError(
                    f"{where} region {rid}: field 'value.text' {text!r} does not match the response at "
                    f"[{s}, {e}) ({unit} offsets [{s16}, {e16})): {response[s:e]!r}"
                )
        spans.append((s, e))
    return spans, verdict


def tasks_to_rows(
    tasks: list[dict[str, Any]],
    users: dict[int, str],
    base: dict[str, SpanRow] | None = None,
    on_invalid: OnInvalid = "error",
    project_id: int | None = None,
    unit: OffsetUnit = "codepoint",
) -> tuple[list[SpanRow], list[SpanRow], PullStats]:
    """(automatic rows of the exported tasks, human rows, stats) from a Label Studio JSON export."""
    stats = PullStats()
    autos: list[SpanRow] = []
    humans: list[SpanRow] = []
    for task in tasks:
        stats.tasks += 1
        tid = task.get("id")
        data, meta = task.get("data") or {}, task.get("meta") or {}
        row_id = data.get("row_id") or meta.get("row_id")
        where = f"task {tid} (row {row_id})"
        try:
            if not row_id:
                raise ValueError(f"task {tid}: field 'data.row_id' missing (not pushed by `rtt review push`)")
            auto = (base or {}).get(str(row_id))
            if auto is None:
                if "rtt_row" not in meta:
                    raise ValueError(f"{where}: row not in --base and field 'meta.rtt_row' missing")
                auto = SpanRow.model_validate(meta["rtt_row"])
            if data.get("response") != auto.response:
                raise ValueError(
                    f"{where}: field 'data.response' differs from the row's response (row changed after push?)"
                )
        except (ValueError, ValidationError) as exc:
            if on_invalid == "error":
                raise InvalidAnnotation(str(exc)) from None
            stats.invalid.append(str(exc))
            continue
        autos.append(auto)
        anns = task.get("annotations") or []
        if anns and all(a.get("was_cancelled") for a in anns):
            stats.tasks_skipped += 1
        used_before = stats.annotations_used
        for who, ann in latest_per_annotator(anns, users, stats).items():
            aw = f"{where} annotation {ann.get('id')} by {who}"
            try:
                spans, verdict = regions_to_spans(auto.response, ann.get("result") or [], aw, stats, unit)
                human = SpanRow(
                    id=human_row_id(auto.id, who),
                    item_id=auto.item_id,
                    rubric_id=auto.rubric_id,
                    pair_id=auto.pair_id,
                    criteria=auto.criteria,
                    response=auto.response,
                    instruction=auto.instruction,
                    char_spans=spans,
                    label_source="human",
                    polarity=auto.polarity,
                    verdict=verdict if verdict is not None else auto.verdict,
                    family=auto.family,
                    split=auto.split,
                    annotator=who,
                    annotated_at=_when(ann),
                    meta={
                        "review": {
                            "auto_row_id": auto.id,
                            "auto_label_source": auto.label_source,
                            "project_id": project_id,
                            "task_id": tid,
                            "annotation_id": ann.get("id"),
                            "lead_time": ann.get("lead_time"),
                            "verdict_source": "human" if verdict is not None else "auto",
                            "ground_truth": bool(ann.get("ground_truth")),
                        }
                    },
                )
            except (ValueError, ValidationError) as exc:
                if on_invalid == "error":
                    raise InvalidAnnotation(str(exc)) from None
                stats.invalid.append(str(exc))
                continue
            stats.annotations_used += 1
            humans.append(human)
        stats.tasks_annotated += int(stats.annotations_used > used_before)
    return autos, humans, stats


def merge(
    previous: list[SpanRow], base: list[SpanRow], autos: list[SpanRow], humans: list[SpanRow]
) -> tuple[list[SpanRow], int]:
    """Base rows, then automatic rows not in base, then human rows (new ones replace same-id older ones).

    Rows of ``previous`` (an earlier pull's output) that nothing newer replaces are kept; returns the rows
    and how many human rows were kept only from ``previous``.
    """
    merged: dict[str, SpanRow] = {}
    for r in previous:
        merged[r.id] = r
    for r in [*base, *autos]:
        if r.label_source != "human" or r.id not in merged:
            merged[r.id] = r
    new_ids = {h.id for h in humans}
    retained = sum(1 for r in previous if r.label_source == "human" and r.id not in new_ids)
    for h in humans:
        merged[h.id] = h
    return list(merged.values()), retained


class ExportSnapshot(BaseModel):
    """Everything a pull needs from the server, fetched before any local file is touched."""

    project_id: int
    title: str
    unit: OffsetUnit
    users: dict[int, str]
    tasks: list[dict[str, Any]]


def fetch_reviews(client: LabelStudio, settings: LabelStudioSettings, title: str) -> ExportSnapshot:
    """Export the project's annotated tasks (the only step that talks to the server)."""
    project = get_project(client, settings, title)
    tasks = export_tasks(client, settings, project.id)
    return ExportSnapshot(
        project_id=project.id,
        title=title,
        unit=resolve_unit(client, settings),
        users=user_names(client, settings),
        tasks=tasks,
    )


def merge_reviews(
    snapshot: ExportSnapshot,
    out: str | Path | None,
    base: str | Path | None = None,
    on_invalid: OnInvalid = "error",
    human_labels: HumanPolicy = "majority",
) -> PullResult:
    """Convert the snapshot to human rows, merge with ``base`` and the previous ``out``, write atomically.

    The file keeps every row (automatic and per-reviewer human rows, for agreement); ``resolution`` reports how
    ``discriminator.resolve`` turns it into one label per pair under ``human_labels`` for training."""
    out = Path(out) if out else None
    previous = read_rows(out) if out is not None and out.exists() else []  # a bad file stops here, untouched
    base_rows = read_rows(base) if base else []
    base_by_id = {r.id: r for r in base_rows if r.label_source != "human"}
    autos, humans, stats = tasks_to_rows(
        snapshot.tasks, snapshot.users, base_by_id or None, on_invalid, snapshot.project_id, snapshot.unit
    )
    rows, retained = merge(previous, base_rows, autos, humans)
    auto_all = [r for r in rows if r.label_source != "human"]
    human_all = [r for r in rows if r.label_source == "human"]
    report = agreement(auto_all, human_all)
    resolution = resolve_labels(rows, human_labels)[1]
    if out is not None:
        from rubrics.io import write_text

        write_rows(out, rows)
        write_text(agreement_path(out), report.model_dump_json(indent=2))
    return PullResult(
        project_id=snapshot.project_id,
        title=snapshot.title,
        out=out,
        rows_written=len(rows) if out else 0,
        auto_rows=len(auto_all),
        human_rows=len(human_all),
        retained_from_previous=retained,
        stats=stats,
        agreement=report,
        resolution=resolution,
    )


def pull_reviews(
    client: LabelStudio,
    settings: LabelStudioSettings,
    title: str,
    out: str | Path | None,
    base: str | Path | None = None,
    on_invalid: OnInvalid = "error",
    human_labels: HumanPolicy = "majority",
) -> PullResult:
    """Fetch from the server, then merge and write. Nothing local is written unless the fetch succeeded."""
    if out is not None and Path(out).exists():
        read_rows(out)  # fail before the (slow) export if the previous output is unreadable
    return merge_reviews(fetch_reviews(client, settings, title), out, base, on_invalid, human_labels)


def agreement_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name.rsplit(".", 1)[0] + ".agreement.json")
