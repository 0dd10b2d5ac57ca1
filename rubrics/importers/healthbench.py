"""HealthBench-style "points" rows: chat-message prompts and rubric lists of ``{criterion, points, tags}``.

Two layouts, auto-detected:

* raw (openai ``simple-evals`` HealthBench): ``prompt`` (chat messages), ``rubrics: [{criterion, points, tags}]``,
  ``example_tags``, ``prompt_id``;
* verl / RL Parquet: ``prompt`` (chat messages), the rubric list nested under ``reward_model.rubrics`` (or
  ``reward_model.ground_truth`` / ``extra_info.rubrics``, as a list or a JSON string of one), plus
  ``data_source`` / ``ability`` / ``extra_info``.

Each criterion becomes an LLM rubric whose ``weight`` is its ``points`` with the sign kept; a negative-points
criterion describes the bad behaviour (HealthBench's grader subtracts a *met* negative criterion), which is the
format's polarity under ``--pitfall-polarity auto``. Tags (``axis:accuracy``, ``level:example``, ...) go to
``meta["rubric_tags"]`` (rubric id -> tags), ``example_tags`` and other scalar fields to ``meta``. The item id
comes from ``prompt_id`` / ``uid`` / ``id`` (top level, then under ``extra_info``) or ``extra_info.index``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rubrics.importers.base import (
    Context,
    FieldError,
    as_list,
    as_messages,
    get_path,
    has_path,
    item_id,
    make_item,
    rubric_id,
)
from rubrics.importers.polarity import META_KEY as POLARITY_META
from rubrics.importers.polarity import apply_polarity, record_polarities
from rubrics.schema import RubricItem

RUBRIC_PATHS = ("rubrics", "reward_model.rubrics", "reward_model.ground_truth", "extra_info.rubrics")
ID_PATHS = ("prompt_id", "uid", "id", "extra_info.prompt_id", "extra_info.uid", "extra_info.index")
META_PATHS = ("data_source", "ability", "example_tags", "extra_info.split", "reward_model.style")


def _entries(rec: Mapping[str, Any], path: str) -> list[Any] | None:
    """The rubric list at ``path`` if it is one of criterion/points objects (a JSON string of one too)."""
    try:
        value = get_path(rec, path)
    except KeyError:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    try:
        entries = as_list(value, path)
    except FieldError:
        return None
    if entries and all(isinstance(e, Mapping) and "criterion" in e and "points" in e for e in entries):
        return entries
    return None


def rubric_path(rec: Mapping[str, Any]) -> str | None:
    return next((p for p in RUBRIC_PATHS if _entries(rec, p) is not None), None)


def looks_like(rec: Mapping[str, Any]) -> bool:
    return rubric_path(rec) is not None and ("prompt" in rec or "messages" in rec)


def _prompt(rec: Mapping[str, Any]) -> tuple[str | None, list[dict[str, str]] | None]:
    key = "prompt" if rec.get("prompt") is not None else "messages"
    value = rec.get(key)
    if value is None:
        raise FieldError("prompt", "missing (no 'prompt' or 'messages')")
    if isinstance(value, str):
        if not value.strip():
            raise FieldError(key, "empty prompt")
        return value, None
    return None, as_messages(value, key)


def _points(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(name, f"expected a number of points, got {value!r}")
    return float(value)


def convert(rec: Mapping[str, Any], ctx: Context) -> RubricItem:
    prompt, messages = _prompt(rec)
    path = rubric_path(rec)
    if path is None:
        found = next((p for p in RUBRIC_PATHS if has_path(rec, p)), None)
        if found is None:
            raise FieldError("rubrics", f"missing (looked for {list(RUBRIC_PATHS)})")
        entries = as_list(get_path(rec, found), found)
        if not entries:
            raise FieldError(found, "empty: the item has no rubrics")
        bad = next(
            i for i, e in enumerate(entries) if not (isinstance(e, Mapping) and "criterion" in e and "points" in e)
        )
        raise FieldError(f"{found}[{bad}]", "expected an object with 'criterion' and 'points'")
    entries = _entries(rec, path) or []
    original = next((get_path(rec, p) for p in ID_PATHS if has_path(rec, p)), None)
    iid = item_id(ctx.source, original, prompt or messages, entries)
    rubrics, tags = [], {}
    for i, e in enumerate(entries):
        name = f"{path}[{i}]"
        text = e.get("criterion")
        if not isinstance(text, str) or not text.strip():
            raise FieldError(f"{name}.criterion", "missing or empty")
        rid = rubric_id(iid, i)
        weight = _points(e.get("points"), f"{name}.points")
        rubrics.append({"id": rid, "text": text.strip(), "weight": weight, "source": "healthbench"})
        t = e.get("tags")
        if t is not None:
            tags[rid] = [str(x) for x in as_list(t, f"{name}.tags")]
    meta: dict[str, Any] = {}
    for p in META_PATHS:
        if has_path(rec, p):
            v = get_path(rec, p)
            meta[p.replace(".", "_")] = v.tolist() if hasattr(v, "tolist") else v
    if tags:
        meta["rubric_tags"] = tags
    decisions = apply_polarity(
        rubrics,
        mode=ctx.pitfall_polarity,  # type: ignore[arg-type]
        entry_values=[e.get("polarity") for e in entries],
        record_values=record_polarities(rec, len(entries)),
        format_default="describes-bad",
        field=path,
    )
    if decisions:
        meta[POLARITY_META] = decisions
    return make_item(id=iid, prompt=prompt, messages=messages, rubrics=rubrics, source=ctx.source, meta=meta)
