"""IFEval / IFBench rows: ``key``, ``prompt``, ``instruction_id_list`` and parallel ``kwargs``.

Each instruction id becomes one rubric with readable text (:mod:`rubrics.rubric_text`) and a
``RuleVerifier(family, rule_id, kwargs)`` holding the non-null kwargs. Ids missing from the
``if-verifiable`` registry are rejected (they have no checker).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rubrics.importers.base import Context, FieldError, as_list, item_id, make_item, require, rubric_id, rule
from rubrics.rubric_text import RULE_FAMILIES, clean_kwargs, known_rule_ids, rule_text
from rubrics.rules.base import RuleArgumentError
from rubrics.schema import RubricItem


def looks_like(rec: Mapping[str, Any]) -> bool:
    return "instruction_id_list" in rec and "prompt" in rec


def guess_family(rec: Mapping[str, Any]) -> str:
    """'ifbench' when every id of the record is an IFBench id, else 'ifeval'."""
    try:
        ids = as_list(rec.get("instruction_id_list"), "instruction_id_list")
    except FieldError:
        return "ifeval"
    if ids and all(i in known_rule_ids("ifbench") and i not in known_rule_ids("ifeval") for i in ids):
        return "ifbench"
    return "ifeval"


def rule_rubrics(
    item: str,
    family: str,
    ids: list[Any],
    kwargs_list: list[Any],
    *,
    ids_field: str,
    kwargs_field: str,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rubric dicts for parallel instruction ids and kwargs (shared with the Tulu and RTT importers)."""
    if len(kwargs_list) != len(ids):
        raise FieldError(kwargs_field, f"has {len(kwargs_list)} entries for {len(ids)} instruction ids")
    out = []
    for i, (rid, kw) in enumerate(zip(ids, kwargs_list)):
        if not isinstance(rid, str) or not rid:
            raise FieldError(f"{ids_field}[{i}]", f"expected an instruction id string, got {rid!r}")
        if kw is None:
            kw = {}
        if not isinstance(kw, Mapping):
            raise FieldError(f"{kwargs_field}[{i}]", f"expected an object, got {type(kw).__name__}")
        try:
            text = rule_text(family, rid, kw)
        except RuleArgumentError as exc:
            where = f"{ids_field}[{i}]" if exc.arg is None else f"{kwargs_field}[{i}].{exc.arg}"
            raise FieldError(where, exc.reason) from None
        out.append(
            {
                "id": rubric_id(item, offset + i),
                "text": text,
                "title": rid,
                "verifier": rule(family, rid, clean_kwargs(kw)),
                "source": family,
            }
        )
    return out


def convert(rec: Mapping[str, Any], ctx: Context, *, family: str = "ifeval") -> RubricItem:
    if family not in RULE_FAMILIES:
        raise ValueError(f"family must be one of {RULE_FAMILIES}")
    prompt = require(rec, "prompt", str)
    ids = as_list(require(rec, "instruction_id_list"), "instruction_id_list")
    if not ids:
        raise FieldError("instruction_id_list", "empty: the item has no rubrics")
    kwargs_list = as_list(rec["kwargs"], "kwargs") if rec.get("kwargs") is not None else [{}] * len(ids)
    key = rec.get("key", rec.get("id"))
    iid = item_id(ctx.source, key, prompt, ids, kwargs_list)
    rubrics = rule_rubrics(iid, family, ids, kwargs_list, ids_field="instruction_id_list", kwargs_field="kwargs")
    meta = {"key": key} if key is not None else {}
    return make_item(id=iid, prompt=prompt, rubrics=rubrics, source=ctx.source, meta=meta)
