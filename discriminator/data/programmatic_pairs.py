"""Programmatic pairs of one item: a positive (real response or template) and one rule-verified minimal-edit
negative per rule rubric, with exact character spans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from discriminator.data.compose import compose_positive
from discriminator.data.pair_records import pair_record
from discriminator.data.programmatic import family_key, make_negative
from discriminator.data.records import BuildConfig, PairRecord, ShardStore
from rubrics.schema import RubricItem


def programmatic_item(item: RubricItem, config: BuildConfig, *, positive: str | None = None,
                      skip: set[str] | frozenset[str] = frozenset(), responses: Sequence[str] | None = None,
                      positive_source: str = "given", judge: Any = None) -> list[PairRecord]:
    """Pairs of one item. Real responses (``responses``, or one given ``positive``) are broken where they pass a
    rule and repaired where they fail it (:func:`discriminator.data.positives.response_records`); without any, a
    template positive + one programmatic negative per rule rubric (``positive_source="template"``)."""
    if responses is None and positive is not None:
        responses = [positive]
    if responses:
        from discriminator.data.positives import response_records

        real = response_records(item, responses, positive_source, config, skip=skip, judge=judge)  # type: ignore[arg-type]
        if skip or any(r.usable for r in real):  # (a resumed item already made its choice)
            return real
        # no usable pair from the real responses: a template fallback (positive_source "template"), own keys
        fallback = programmatic_item(item, config)
        return real + [r.model_copy(update={"sample": len(responses)}) for r in fallback]
    unverified: list[str] = []
    if positive is None:
        composed = compose_positive(item)
        positive, unverified = composed.text, composed.unverified
        reason = composed.reason
    else:
        reason = ""
    out = []
    for rubric in item.rubrics:
        if rubric.id in skip:
            continue
        fam = family_key(rubric)
        common = dict(item_id=item.id, rubric_id=rubric.id, source="program", family=fam, criteria=rubric.text,
                      instruction=item.instruction)
        if not rubric.is_rule:
            out.append(PairRecord(**common, status="unsupported", reason="LLM-judged rubric (use --mode llm)"))
            continue
        if positive is None:
            out.append(PairRecord(**common, status="unsupported", reason=f"no template positive: {reason}"))
            continue
        edit = make_negative(item, rubric, positive)
        if edit.negative is None:
            out.append(PairRecord(**common, status="unsupported", positive=positive, reason=edit.reason))
            continue
        ops = edit.patch.opcodes(positive) if edit.patch is not None else None
        rec = pair_record(item, rubric, "program", positive, edit.negative, policy=config.policy, ops=ops,
                          config=config, note=edit.patch.note if edit.patch else "")
        rec.unverified = sorted(set(rec.unverified) | set(unverified))
        out.append(rec)
    return out


def run_item_sync(store: ShardStore, item: RubricItem, config: BuildConfig, *, positive: str | None = None) -> list[PairRecord]:
    """Programmatic records of one item, skipping rubrics already recorded; marks the item done."""
    recorded = store.recorded("program", item.id)
    new = programmatic_item(item, config, positive=positive, skip=set(recorded))
    store.append_many(new)
    store.mark_done("program", item.id, len(recorded) + len(new))
    return [*recorded.values(), *new]
