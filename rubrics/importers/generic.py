"""Generic rows: our canonical :class:`RubricItem` records, or any table with a prompt/messages column and a
rubric column, mapped by name (``Context.columns``: ``id``, ``prompt``, ``messages``, ``rubrics``). A mapped
name may be a dotted path into nested objects (``reward_model.rubrics``).

A rubric cell is a list of strings or of objects with the criterion under ``text`` / ``description`` /
``criterion`` (plus optional ``title``, ``weight`` or ``points`` (sign kept), ``polarity`` and a canonical
``verifier``). A prompt column holding chat messages is read as messages. Negative weights go through
:mod:`rubrics.importers.polarity`. Other scalar columns are kept in ``meta``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from rubrics.importers.base import (
    Context,
    FieldError,
    as_list,
    as_messages,
    as_weight,
    field_error_from,
    get_path,
    has_path,
    item_id,
    make_item,
    rubric_id,
)
from rubrics.importers.polarity import META_KEY as POLARITY_META
from rubrics.importers.polarity import apply_polarity, record_polarities
from rubrics.schema import RubricItem

CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("id", "key", "uid", "uuid", "idx"),
    "prompt": ("prompt", "question", "instruction", "query", "input"),
    "messages": ("messages", "conversations", "conversation", "chat"),
    "rubrics": ("rubrics", "rubric", "criteria", "checklist", "rubric_list", "constraints"),
}
TEXT_KEYS = ("text", "description", "criterion", "criteria", "rubric")


def is_canonical(rec: Mapping[str, Any]) -> bool:
    rubrics = rec.get("rubrics")
    return (
        isinstance(rec.get("id"), str)
        and isinstance(rubrics, (list, tuple))
        and bool(rubrics)
        and all(isinstance(r, Mapping) and "id" in r and "text" in r for r in rubrics)
    )


def column(rec: Mapping[str, Any], ctx: Context, role: str) -> str | None:
    """The column holding ``role``: the mapped name (which must exist) or the first present candidate."""
    mapped = ctx.columns.get(role)
    if mapped:
        try:
            get_path(rec, mapped)
        except KeyError as exc:
            missing = exc.args[0]
            where = "" if missing == mapped else f" (no {missing!r})"
            raise FieldError(mapped, f"mapped {role} column is missing{where}") from None
        return mapped
    return next((k for k in CANDIDATES[role] if rec.get(k) is not None), None)


def _rubric(entry: Any, name: str, rid: str) -> dict[str, Any]:
    if isinstance(entry, str):
        if not entry.strip():
            raise FieldError(name, "empty criterion")
        return {"id": rid, "text": entry.strip()}
    if not isinstance(entry, Mapping):
        raise FieldError(name, f"expected a string or an object, got {type(entry).__name__}")
    key = next((k for k in TEXT_KEYS if isinstance(entry.get(k), str) and entry[k].strip()), None)
    if key is None:
        raise FieldError(name, f"no criterion text (looked for {list(TEXT_KEYS)})")
    wkey = "weight" if entry.get("weight") is not None else "points"
    out = {"id": rid, "text": entry[key].strip(), "weight": as_weight(entry.get(wkey), f"{name}.{wkey}")}
    for opt in ("title", "verifier", "source"):
        if entry.get(opt) is not None:
            out[opt] = entry[opt]
    return out


def convert(rec: Mapping[str, Any], ctx: Context) -> RubricItem:
    if not ctx.columns and is_canonical(rec):
        try:
            return RubricItem.model_validate(dict(rec))
        except ValidationError as exc:
            raise field_error_from(exc) from None
    rcol = column(rec, ctx, "rubrics")
    if rcol is None:
        raise FieldError(
            "rubrics",
            f"no rubric column (looked for {list(CANDIDATES['rubrics'])}; map one with --rubrics-col, "
            "a dotted path for a nested list, e.g. reward_model.rubrics)",
        )
    pcol, mcol = column(rec, ctx, "prompt"), column(rec, ctx, "messages")
    prompt, messages = None, None
    if mcol is not None and (ctx.columns.get("messages") or pcol is None):
        messages = as_messages(get_path(rec, mcol), mcol)
    elif pcol is not None:
        prompt = get_path(rec, pcol)
        if isinstance(prompt, (list, tuple)) or hasattr(prompt, "tolist"):  # chat messages in a prompt column
            prompt, messages = None, as_messages(prompt, pcol)
        elif not isinstance(prompt, str):
            raise FieldError(pcol, f"expected a string or chat messages, got {type(prompt).__name__}")
    else:
        raise FieldError("prompt", f"no prompt or messages column (looked for {list(CANDIDATES['prompt'])})")
    entries = as_list(get_path(rec, rcol), rcol)
    if not entries:
        raise FieldError(rcol, "empty: the item has no rubrics")
    icol = column(rec, ctx, "id")
    original = get_path(rec, icol) if icol and has_path(rec, icol) else None
    iid = item_id(ctx.source, original, prompt or messages, entries)
    rubrics = [_rubric(e, f"{rcol}[{i}]", rubric_id(iid, i)) for i, e in enumerate(entries)]
    used = {c for c in (rcol, pcol, mcol, icol, "polarity") if c}
    # a NaN in an extra scalar column is a table's "missing" (pandas writes them so): left out like a null
    meta: dict[str, Any] = {
        k: v
        for k, v in rec.items()
        if k not in used
        and isinstance(v, (str, int, float, bool))
        and not (isinstance(v, float) and not math.isfinite(v))
    }
    decisions = apply_polarity(
        rubrics,
        mode=ctx.pitfall_polarity,  # type: ignore[arg-type]
        entry_values=[e.get("polarity") if isinstance(e, Mapping) else None for e in entries],
        record_values=record_polarities(rec, len(entries)),
        field=rcol,
    )
    if decisions:
        meta[POLARITY_META] = decisions
    return make_item(id=iid, prompt=prompt, messages=messages, rubrics=rubrics, source=ctx.source, meta=meta)
