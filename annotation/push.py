"""Push SpanRows to Label Studio as review tasks with pre-annotations (predictions), in batched imports.

One task per row. ``data`` carries what the reviewer sees (instruction, criteria, response, the pair context:
polarity, the diff against the paired response, why the span matters) plus the stable ``row_id``, Data Manager
columns (criterion, family, polarity, label source) and the sortable ``confidence``; ``meta.rtt_row`` carries
the whole automatic row so a pull can rebuild it without the original file. The automatic spans become one
prediction per task (``model_version``, ``score``; no verdict, so the reviewer's choice is not pre-filled),
offsets in the server's unit. Re-pushing skips rows whose ``row_id`` is already in the project. Once tasks with
predictions of ``model_version`` exist, the project's model version is switched to it (Label Studio rejects a
model version that no prediction carries yet).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from annotation.config import FROM_NAME, LABEL, TO_NAME
from annotation.offsets import LSOffsets, OffsetUnit
from annotation.project import LabelStudioSettings, ProjectRef, resolve_unit, set_model_version, translate_errors
from discriminator.data.schema import SpanRow

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

# Prior confidence of each automatic labeller when a row carries no score of its own (Label Studio's
# "Uncertainty sampling" serves the lowest score first, so the least trusted labels are reviewed first).
SOURCE_CONFIDENCE: dict[str, float] = {"program": 0.95, "diff": 0.8, "model": 0.6, "greedy": 0.5, "human": 1.0}


class PushResult(BaseModel):
    project_id: int
    title: str
    model_version: str
    rows: int
    pushed: int
    skipped_existing: int
    model_version_set: bool = False  # the project's model version now shows these predictions
    changed_since_push: list[str]  # row ids already in the project whose content differs from the file
    duplicate_ids: int
    batches: int
    seconds: float

    @property
    def tasks_per_second(self) -> float:
        return self.pushed / self.seconds if self.seconds > 0 else 0.0


def row_fingerprint(row: SpanRow) -> str:
    """Hash of what a reviewer sees and the automatic labels; detects a row changed after it was pushed."""
    payload = json.dumps([row.instruction, row.criteria, row.response, row.char_spans, row.verdict], ensure_ascii=False)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]


def prediction_score(row: SpanRow, source_confidence: dict[str, float] | None = None) -> float:
    """Confidence in the automatic labels, in [0, 1] (Label Studio's prediction ``score``; low = review first).

    ``meta["char_probs"]`` (per-character relevance probabilities ``p`` from the discriminator, see
    ``annotation.uncertainty``) gives the mean probability the discriminator assigns to the automatic label of
    each character (``p`` where the automatic spans mark it, ``1 - p`` elsewhere): low where the model is unsure
    or disagrees with the labeller. Else ``meta["score"]``; else the labeller's prior.
    """
    probs = row.meta.get("char_probs")
    if isinstance(probs, list) and probs:
        if len(probs) != len(row.response):
            raise ValueError(
                f"row {row.id}: meta.char_probs has {len(probs)} values for {len(row.response)} characters"
            )
        labels = row.char_labels
        return float(sum(float(p) if y else 1.0 - float(p) for p, y in zip(probs, labels)) / len(probs))
    if isinstance(row.meta.get("score"), int | float):
        return min(1.0, max(0.0, float(row.meta["score"])))
    return (source_confidence or SOURCE_CONFIDENCE).get(row.label_source, 0.5)


_POLARITY_NOTE = {
    "positive": "PAIR: this response MEETS the criterion; its minimally edited twin (below) breaks it.",
    "negative": "PAIR: this response BREAKS the criterion; it is a minimal edit of a response that meets it.",
    "other": "No pair: judge this response on its own.",
}
_SOURCE_NOTE = {
    "program": "a programmatic edit, exact by construction",
    "diff": "a character diff against the paired response",
    "greedy": "an LLM quoting relevant text",
    "model": "the discriminator",
    "human": "an earlier human review",
}


def edit_diff(before: str, after: str, context: int = 30, limit: int = 6) -> str:
    """The character edits turning ``before`` into ``after``, one line each: ``…ctx[old → new]ctx…``."""
    sm = difflib.SequenceMatcher(None, before, after, autojunk=False)
    lines = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        left = before[max(0, i1 - context) : i1]
        right = before[i2 : i2 + context]
        old, new = before[i1:i2], after[j1:j2]
        change = f"[{old!r} → {new!r}]" if old and new else f"[removed {old!r}]" if old else f"[added {new!r}]"
        lines.append(f"{'…' if i1 > context else ''}{left}{change}{right}{'…' if i2 + context < len(before) else ''}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"(+{len(lines) - limit} more edits)"]
    return "\n".join(lines) if lines else "(no difference: the paired responses are identical)"


def review_context(row: SpanRow, partner: SpanRow | None) -> dict[str, str]:
    """What a reviewer needs beside the response: ``polarity_note``, ``pair_context`` and ``why``."""
    polarity = _POLARITY_NOTE.get(row.polarity, _POLARITY_NOTE["other"])
    if partner is None:
        pair = "Paired response: not in this push." if row.polarity != "other" else "Paired response: none."
    elif row.polarity == "negative":
        pair = "What the edit changed (the version that meets the criterion → this response):\n" + edit_diff(
            partner.response, row.response
        )
    else:
        pair = "What the edit changes (this response → the twin that breaks the criterion):\n" + edit_diff(
            row.response, partner.response
        )
    reason = row.meta.get("why") or row.meta.get("reason")
    source = _SOURCE_NOTE.get(row.label_source, row.label_source)
    if reason:
        why = f"Why the span matters: {reason}"
    elif not row.char_spans:
        why = (
            f"Why: {source} found nothing in this response that decides the criterion. Add a span if you "
            "see text that does."
        )
    elif row.polarity == "negative":
        why = f"Why the span matters: it is where this response fails the criterion (found by {source})."
    elif row.polarity == "positive":
        why = f"Why the span matters: it is the text that satisfies the criterion (found by {source})."
    else:
        why = f"Why the span matters: it decides the criterion (found by {source})."
    return {"polarity_note": polarity, "pair_context": pair, "why": f"{why} Criterion family: {row.family}."}


def partners(rows: Sequence[SpanRow]) -> dict[str, SpanRow]:
    """row id -> the other row of its pair (same ``pair_id``, other polarity), where the push holds both."""
    by_pair: dict[str, list[SpanRow]] = {}
    for r in rows:
        if r.pair_id:
            by_pair.setdefault(r.pair_id, []).append(r)
    out = {}
    for group in by_pair.values():
        for r in group:
            other = [o for o in group if o.id != r.id and o.polarity != r.polarity and o.criteria == r.criteria]
            if other:
                out[r.id] = other[0]
    return out


def span_regions(
    response: str, spans: Iterable[Sequence[int]], unit: OffsetUnit = "codepoint", prefix: str = "p"
) -> list[dict[str, Any]]:
    """Label Studio ``labels`` results for code-point spans (offsets in the server's ``unit``, exact ``text``)."""
    m = LSOffsets(response, unit)
    out = []
    for i, (s, e) in enumerate(spans):
        ls, le = m.to_ls(s, e)
        out.append(
            {
                "id": f"{prefix}{i}",
                "from_name": FROM_NAME,
                "to_name": TO_NAME,
                "type": "labels",
                "value": {"start": ls, "end": le, "text": response[s:e], "labels": [LABEL]},
            }
        )
    return out


def task_payload(
    row: SpanRow, model_version: str, score: float, unit: OffsetUnit = "codepoint", partner: SpanRow | None = None
) -> dict[str, Any]:
    """One Label Studio task (data + meta + an inline prediction without a verdict) for ``row``."""
    result = span_regions(row.response, row.char_spans, unit)
    return {
        "data": {
            "row_id": row.id,
            "item_id": row.item_id,
            "rubric_id": row.rubric_id,
            "family": row.family,
            "label_source": row.label_source,
            "polarity": row.polarity,
            "instruction": row.instruction or "",
            "criteria": row.criteria,
            "response": row.response,
            **review_context(row, partner),
            "confidence": round(score, 4),
            "fingerprint": row_fingerprint(row),
        },
        "meta": {"row_id": row.id, "rtt_row": row.model_dump(mode="json")},
        "predictions": [{"model_version": model_version, "score": round(score, 6), "result": result}],
    }


def existing_rows(client: LabelStudio, settings: LabelStudioSettings, project_id: int) -> dict[str, str]:
    """``row_id -> fingerprint`` of the tasks already in the project (one paged listing, data only)."""
    out: dict[str, str] = {}
    task: Any
    with translate_errors(settings, f"list tasks of project {project_id}"):
        for task in client.tasks.list(project=project_id, fields="task_only", include="id,data", page_size=1000):
            data = task.data or {}
            if "row_id" in data:
                out[str(data["row_id"])] = str(data.get("fingerprint", ""))
    return out


def push_rows(
    client: LabelStudio,
    settings: LabelStudioSettings,
    project: ProjectRef,
    rows: Sequence[SpanRow],
    model_version: str = "auto",
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    source_confidence: dict[str, float] | None = None,
) -> PushResult:
    """Import ``rows`` not yet in ``project`` in chunks of ``batch_size`` (predictions inline); idempotent."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    t0 = time.perf_counter()
    unit = resolve_unit(client, settings)
    have = existing_rows(client, settings, project.id)
    seen: set[str] = set()
    todo: list[SpanRow] = []
    changed: list[str] = []
    dups = 0
    for row in rows:
        if row.id in seen:
            dups += 1
            continue
        seen.add(row.id)
        if row.id in have:
            if have[row.id] and have[row.id] != row_fingerprint(row):
                changed.append(row.id)
            continue
        todo.append(row)
    if progress:
        progress(len(rows) - len(todo))  # already there
    batches = 0
    pair_of = partners(rows)
    for i in range(0, len(todo), batch_size):
        chunk = todo[i : i + batch_size]
        payload = [
            task_payload(r, model_version, prediction_score(r, source_confidence), unit, pair_of.get(r.id))
            for r in chunk
        ]
        with translate_errors(settings, f"import tasks {i}..{i + len(chunk) - 1} into project {project.title!r}"):
            # the SDK sends plain task dicts as they are (its type names its own request model)
            resp = client.projects.import_tasks(id=project.id, request=payload)  # type: ignore[arg-type]
        n = getattr(resp, "task_count", None)
        if n is not None and n != len(chunk):
            from annotation.project import ReviewError

            raise ReviewError(f"Label Studio imported {n} of {len(chunk)} tasks in batch starting at {i}: {resp}")
        batches += 1
        if progress:
            progress(len(chunk))
    # only now do predictions of model_version exist, so Label Studio accepts it as the project's version
    version_set = bool(todo) and set_model_version(client, settings, project.id, model_version)
    return PushResult(
        project_id=project.id,
        title=project.title,
        model_version=model_version,
        rows=len(rows),
        pushed=len(todo),
        model_version_set=version_set,
        skipped_existing=len(seen) - len(todo),
        changed_since_push=changed,
        duplicate_ids=dups,
        batches=batches,
        seconds=round(time.perf_counter() - t0, 3),
    )


def push_one_by_one(
    client: LabelStudio,
    settings: LabelStudioSettings,
    project: ProjectRef,
    rows: Sequence[SpanRow],
    model_version: str = "auto",
) -> float:
    """The naive baseline for the benchmark: one task request plus one prediction request per row; seconds."""
    t0 = time.perf_counter()
    unit = resolve_unit(client, settings)
    with translate_errors(settings, "create tasks one by one"):
        for r in rows:
            p = task_payload(r, model_version, prediction_score(r), unit)
            task = client.tasks.create(project=project.id, data=p["data"], meta=p["meta"])
            pred = p["predictions"][0]
            client.predictions.create(
                task=task.id, result=pred["result"], score=pred["score"], model_version=model_version
            )
    return time.perf_counter() - t0
