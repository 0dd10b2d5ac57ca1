"""Rows of the RTT paper's training data, as read by its public code (TURLEing/Rubrics-To-Tokens, ROLL fork).

Reading of that code (``rubircs2token_pipeline.py`` + ``rubrics_llm_judge_reward_worker.py``): a JSONL row has
``messages`` (chat list, or a JSON string of it) or ``prompt``; ``rubrics``: a list of criterion strings (the
judge uses the first 20); ``source``: ``type1``..``type4``; ``ground_truth``: a JSON string (or object) whose
shape depends on ``source`` and is aligned with ``rubrics`` by index:

* ``type1`` (IFEval/IFBench style): ``{"instruction_id_list": [...], "kwargs": [...]}``; ids with an IFEval
  checker are verified by code, others by the LLM judge;
* ``type2`` (Chat-Arena style): the same keys, checked by custom functions we do not have -> LLM;
* ``type3`` (MulDimIF): ``{"constraints": [[category, subcategory, text], ...]}``;
* ``type4`` (VerIF): ``{"checker": ["[rule] ..." | "[llm] ...", ...], "functions": [python source, ...]}``;
  we never execute the code -> LLM.

Rubric entries given as objects (``{"description": ..., "type"/"source"/"weight": ...}``) are accepted too; a
negative weight goes through :mod:`rubrics.importers.polarity`. The item id is ``id`` (else ``uid``).
The row's ``source`` and parsed ``ground_truth`` are kept in ``meta`` so :mod:`rubrics.exporters` can write the
row back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rubrics.exporters import QUANTIFIED_RULES
from rubrics.importers import muldimif
from rubrics.importers.base import (
    Context,
    FieldError,
    as_list,
    as_weight,
    item_id,
    make_item,
    prompt_or_messages,
    rubric_id,
    rule,
)
from rubrics.importers.polarity import META_KEY as POLARITY_META
from rubrics.importers.polarity import apply_polarity, record_polarities
from rubrics.importers.tulu import parse_ground_truth
from rubrics.rubric_text import check_rule, family_of
from rubrics.rules.base import RuleArgumentError
from rubrics.schema import LLMVerifier, RubricItem

SOURCE_TYPES = ("type1", "type2", "type3", "type4")
TEXT_KEYS = ("description", "text", "rubric", "criterion", "criteria")
_TYPE = re.compile(r"^type[1-4]$")


def looks_like(rec: Mapping[str, Any]) -> bool:
    if "rubrics" not in rec:
        return False
    return bool(_TYPE.match(str(rec.get("source", "")))) or "ground_truth" in rec


def _rubric_text(entry: Any, name: str) -> tuple[str, float, str | None]:
    if isinstance(entry, str):
        text, weight, title = entry, 1.0, None
    elif isinstance(entry, Mapping):
        key = next((k for k in TEXT_KEYS if isinstance(entry.get(k), str)), None)
        if key is None:
            raise FieldError(name, f"no criterion text (looked for {list(TEXT_KEYS)})")
        text, weight = entry[key], as_weight(entry.get("weight"), f"{name}.weight")
        title = entry.get("title") if isinstance(entry.get("title"), str) else None
    else:
        raise FieldError(name, f"expected a string or an object, got {type(entry).__name__}")
    if not text.strip():
        raise FieldError(name, "empty criterion")
    return text.strip(), weight, title


def from_open_instruct_kwargs(rule_id: str, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """Undo :func:`rubrics.exporters.to_open_instruct_kwargs`: "at most N" -> "less than N+1"; None for "around"."""
    kw = dict(kwargs)
    rel, count = QUANTIFIED_RULES.get(rule_id, (None, None))
    if rel and kw.get(rel) == "around":
        return None
    if rel and count and kw.get(rel) == "at most" and isinstance(kw.get(count), int):
        kw[rel], kw[count] = "less than", kw[count] + 1
    return kw


def _verifier(source: str | None, gt: Mapping[str, Any], i: int):
    if source == "type1":
        ids, kwargs = gt.get("instruction_id_list") or [], gt.get("kwargs") or []
        if i < len(ids) and isinstance(ids[i], str) and (family := family_of(ids[i])) is not None:
            kw = kwargs[i] if i < len(kwargs) and isinstance(kwargs[i], Mapping) else {}
            kw = from_open_instruct_kwargs(ids[i], kw)
            if kw is None:  # "around N": no IFEval checker
                return LLMVerifier()
            try:
                return rule(family, ids[i], check_rule(family, ids[i], kw))
            except RuleArgumentError as exc:
                raise FieldError(f"ground_truth.kwargs[{i}]" + (f".{exc.arg}" if exc.arg else ""), exc.reason) from None
    elif source == "type3":
        constraints = gt.get("constraints") or []
        if i < len(constraints):
            cat, sub, text = muldimif.parse_constraint(constraints[i], f"ground_truth.constraints[{i}]")
            return muldimif.verifier_for(cat, sub, text)
    return LLMVerifier()


def convert(rec: Mapping[str, Any], ctx: Context) -> RubricItem:
    prompt, messages = prompt_or_messages(rec)
    entries = as_list(rec.get("rubrics"), "rubrics") if rec.get("rubrics") is not None else []
    if not entries:
        raise FieldError("rubrics", "missing or empty: the item has no rubrics")
    source = rec.get("source")
    if source is not None and source not in SOURCE_TYPES:
        raise FieldError("source", f"expected one of {list(SOURCE_TYPES)}, got {source!r}")
    gt = parse_ground_truth(rec["ground_truth"]) if rec.get("ground_truth") is not None else {}
    if not isinstance(gt, Mapping):
        raise FieldError("ground_truth", f"expected an object, got {type(gt).__name__}")
    iid = item_id(ctx.source, rec.get("id", rec.get("uid")), messages or prompt, entries)
    rubrics = []
    for i, entry in enumerate(entries):
        text, weight, title = _rubric_text(entry, f"rubrics[{i}]")
        rubrics.append(
            {
                "id": rubric_id(iid, i),
                "text": text,
                "title": title,
                "weight": weight,
                "verifier": _verifier(source, gt, i),
                "source": f"rtt:{source}" if source else "rtt",
            }
        )
    meta: dict[str, Any] = {"rtt_source": source, "rtt_ground_truth": dict(gt)} if source else {}
    decisions = apply_polarity(
        rubrics,
        mode=ctx.pitfall_polarity,  # type: ignore[arg-type]
        entry_values=[e.get("polarity") if isinstance(e, Mapping) else None for e in entries],
        record_values=record_polarities(rec, len(entries)),
    )
    if decisions:
        meta[POLARITY_META] = decisions
    return make_item(id=iid, prompt=prompt, messages=messages, rubrics=rubrics, source=ctx.source, meta=meta)
