"""Real responses as the carriers of discriminator pairs: given responses (``--positives``) and the policy's own
samples (``--positives-from``), matched to items and turned into pairs in both directions.

* A response that **passes** a rule is the positive; the minimal breaking edit is the negative.
* A response that **fails** a rule is the negative; the minimal *repair* (:mod:`discriminator.data.repairs`) is
  the positive, so the labelled span is exactly what the response got wrong.

Every record says where its positive came from (``positive_source``: ``template``, ``given``, ``policy``, ``llm``)
and which way the edit went (``edit``: ``break`` / ``repair``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from rubrics.schema import RubricItem

PositiveSource = Literal["template", "given", "policy", "llm"]


class UnmatchedRow(BaseModel):
    line: int
    field: str = Field(description="the field that was matched: item_id, key or prompt")
    value: str


class PositivesReport(BaseModel):
    """How the rows of a ``--positives`` file matched the items."""

    path: str
    rows: int = 0
    matched: int = 0
    by: dict[str, int] = Field(default_factory=dict, description="matched rows per field (item_id / key / prompt)")
    unmatched: list[UnmatchedRow] = Field(default_factory=list)
    items_with_positives: int = 0
    items_without: int = Field(0, description="items that fall back to a template positive")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def load_positives(path: str | os.PathLike, items: Sequence[RubricItem], *,
                   lenient: bool = False) -> tuple[dict[str, list[str]], PositivesReport]:
    """Match a JSONL of responses to ``items``: ``{"response", and one of "item_id" | "key" | "prompt"}`` (the
    IFEval ``input_response_data`` format ``{"prompt", "response"}`` works as is).

    ``item_id`` matches an item id exactly, ``key`` an IFEval key (``meta.key`` or the id's last part), ``prompt``
    the instruction text (whitespace and case folded). A row that matches no item is an error naming its line,
    unless ``lenient`` (then it is listed in the report). Several rows may give several responses of one item."""
    from rubrics.io import RecordError, iter_jsonl

    by_id = {it.id: it for it in items}
    by_key: dict[str, str] = {}
    by_prompt: dict[str, str] = {}
    for it in items:
        key = it.meta.get("key") if isinstance(it.meta, dict) else None
        for k in ([str(key)] if key is not None else []) + [it.id.rsplit(":", 1)[-1]]:
            by_key.setdefault(k, it.id)
        by_prompt.setdefault(_norm(it.instruction), it.id)
    out: dict[str, list[str]] = {}
    report = PositivesReport(path=str(path))
    for line, obj in iter_jsonl(path):
        report.rows += 1
        resp = obj.get("response")
        if not isinstance(resp, str) or not resp.strip():
            raise RecordError(path, line, "response", "missing or not a non-empty string")
        field = next((f for f in ("item_id", "key", "prompt") if obj.get(f) not in (None, "")), None)
        if field is None:
            raise RecordError(path, line, "item_id", "a row needs item_id, key or prompt to match an item")
        value = str(obj[field])
        iid = {"item_id": value if value in by_id else None, "key": by_key.get(value),
               "prompt": by_prompt.get(_norm(value))}[field]
        if iid is None:
            if not lenient:
                raise RecordError(path, line, field, f"{value[:80]!r} matches no item (use --lenient to skip and "
                                                     "report unmatched rows)")
            report.unmatched.append(UnmatchedRow(line=line, field=field, value=value[:200]))
            continue
        report.matched += 1
        report.by[field] = report.by.get(field, 0) + 1
        out.setdefault(iid, []).append(resp)
    report.items_with_positives = len(out)
    report.items_without = sum(it.id not in out for it in items)
    return out, report


def response_records(item: RubricItem, responses: Sequence[str], source: PositiveSource, config: Any, *,
                     skip: frozenset[str] | set[str] = frozenset(), judge: Any = None) -> list[Any]:
    """Pair records for real responses of ``item``: per response and rule rubric, break a passing response or
    repair a failing one; LLM-judged rubrics get a sentence-level content negative
    (:mod:`discriminator.data.content`), verified by ``judge`` when one is given.

    ``skip`` holds record keys (``rubric_id`` or ``rubric_id@sample``) already recorded."""
    from discriminator.data.content import content_record
    from discriminator.data.pair_records import pair_record
    from discriminator.data.programmatic import family_key, make_negative, rule_passes
    from discriminator.data.records import PairRecord
    from discriminator.data.repairs import make_repair

    out = []
    for k, response in enumerate(responses):
        for rubric in item.rubrics:
            rec_key = rubric.id if k == 0 else f"{rubric.id}@{k}"
            if rec_key in skip:
                continue
            common = dict(item_id=item.id, rubric_id=rubric.id, source="program", family=family_key(rubric),
                          criteria=rubric.text, instruction=item.instruction, positive_source=source, sample=k)
            if not rubric.is_rule:
                out.append(content_record(item, rubric, response, config, judge=judge, common=common))
                continue
            verdict = rule_passes(rubric, response, item.instruction)
            if verdict is None:
                out.append(PairRecord(**common, status="unsupported", reason="rule cannot be checked"))
                continue
            pos: str | None
            if verdict:
                edit = make_negative(item, rubric, response)
                pos, neg = response, edit.negative
                ops = edit.patch.opcodes(response) if edit.patch is not None else None
            else:
                edit = make_repair(item, rubric, response)
                pos, neg = edit.negative, response
                ops = _inverse(edit.patch.opcodes(response)) if edit.patch is not None else None
            direction = "break" if verdict else "repair"
            if pos is None or neg is None:
                out.append(PairRecord(**common, status="unsupported", edit=direction,
                                      positive=response if verdict else None, negative=None if verdict else response,
                                      reason=edit.reason))
                continue
            rec = pair_record(item, rubric, "program", pos, neg, policy=config.policy, ops=ops, config=config,
                              note=edit.patch.note if edit.patch else "")
            out.append(rec.model_copy(update={"positive_source": source, "sample": k, "edit": direction}))
    return out


def _inverse(ops: list) -> list:
    """Opcodes of b -> a from those of a -> b."""
    swap = {"insert": "delete", "delete": "insert"}
    return [(swap.get(tag, tag), j1, j2, i1, i2) for tag, i1, i2, j1, j2 in ops]
