"""Rubrics-as-Rewards (RaR) rows: ``question`` (or ``prompt``), ``rubric: [{title, description, weight}]``.

All RaR criteria are judged by an LLM. A negative weight marks a pitfall; RaR phrases pitfalls both ways
("Claims that ..." describes the bad behaviour, "Does not misinterpret ..." the good one), so each one's
polarity is resolved by :mod:`rubrics.importers.polarity` (a ``polarity`` field on the rubric entry or the
record, ``--pitfall-polarity``, else the heuristic). The item id comes from ``uid`` / ``id`` when present.
``reference_answer`` / ``question_source`` go to ``meta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rubrics.importers.base import (
    Context,
    FieldError,
    as_list,
    as_messages,
    as_weight,
    first_present,
    item_id,
    make_item,
    rubric_id,
)
from rubrics.importers.polarity import META_KEY as POLARITY_META
from rubrics.importers.polarity import apply_polarity, record_polarities
from rubrics.schema import RubricItem

PROMPT_KEYS = ("question", "prompt")
RUBRIC_KEYS = ("rubric", "rubrics")
META_KEYS = ("reference_answer", "question_source", "rubric_count")
ID_KEYS = ("uid", "id")


def looks_like(rec: Mapping[str, Any]) -> bool:
    key = first_present(rec, RUBRIC_KEYS)
    if key is None or "ground_truth" in rec:
        return False
    try:
        rubric = as_list(rec[key], key)
    except FieldError:
        return False
    return bool(rubric) and all(isinstance(r, Mapping) and "description" in r for r in rubric)


def convert(rec: Mapping[str, Any], ctx: Context) -> RubricItem:
    prompt_key = first_present(rec, PROMPT_KEYS)
    prompt, messages = None, None
    if prompt_key is not None:
        prompt = rec[prompt_key]
        if not isinstance(prompt, str):
            raise FieldError(prompt_key, f"expected a string, got {type(prompt).__name__}")
    elif rec.get("messages") is not None:
        messages = as_messages(rec["messages"], "messages")
    else:
        raise FieldError("question", "missing (no 'question', 'prompt' or 'messages')")
    rkey = first_present(rec, RUBRIC_KEYS)
    if rkey is None:
        raise FieldError("rubric", "missing")
    entries = as_list(rec[rkey], rkey)
    if not entries:
        raise FieldError(rkey, "empty: the item has no rubrics")
    id_key = first_present(rec, ID_KEYS)
    iid = item_id(ctx.source, rec[id_key] if id_key else None, prompt or messages, entries)
    rubrics = []
    for i, entry in enumerate(entries):
        name = f"{rkey}[{i}]"
        if not isinstance(entry, Mapping):
            raise FieldError(name, f"expected an object, got {type(entry).__name__}")
        text = entry.get("description")
        if not isinstance(text, str) or not text.strip():
            raise FieldError(f"{name}.description", "missing or empty")
        title = entry.get("title")
        rubrics.append(
            {
                "id": rubric_id(iid, i),
                "text": text.strip(),
                "title": title if isinstance(title, str) and title else None,
                "weight": as_weight(entry.get("weight"), f"{name}.weight"),
                "source": "rar",
            }
        )
    meta = {k: rec[k] for k in META_KEYS if rec.get(k) is not None}
    decisions = apply_polarity(
        rubrics,
        mode=ctx.pitfall_polarity,  # type: ignore[arg-type]
        entry_values=[e.get("polarity") for e in entries],
        record_values=record_polarities(rec, len(entries)),
        field=rkey,
    )
    if decisions:
        meta[POLARITY_META] = decisions
    return make_item(id=iid, prompt=prompt, messages=messages, rubrics=rubrics, source=ctx.source, meta=meta)
