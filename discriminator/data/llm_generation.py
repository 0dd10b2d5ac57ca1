"""LLM-generated positives and minimal-modification negatives (``rtt data negatives --mode llm``).

* Positive: the model writes a detailed response satisfying every rubric; it is verified with
  :func:`rubrics.verdicts.acompute_verdicts` (rule checkers, plus the LLM judge for judged rubrics when one is
  given). Unverifiable rubrics are listed, never silently trusted.
* Negative: per (positive, rubric) the model edits the positive as little as possible so that it violates
  that one rubric, answering ``{"modified_response": ...}`` (JSON-schema mode through the client, a tolerant
  parser, and one repair turn that quotes the error back). The target must now fail; other rubrics that flip
  are counted and, under ``policy="reject"``, make the pair rejected.

Weak models' invalid outputs (no JSON, missing field, unchanged text, target still satisfied) are counted per
reason in :class:`GenerationStats` and rejected; nothing here raises for a bad model answer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rubrics.schema import Rubric, RubricItem

Policy = Literal["reject", "flag"]

NEGATIVE_SCHEMA: dict[str, Any] = {
    "title": "minimal_modification",
    "type": "object",
    "properties": {"modified_response": {"type": "string"}},
    "required": ["modified_response"],
    "additionalProperties": False,
}

POSITIVE_SYSTEM = "You are a careful assistant who follows every instruction and constraint exactly."

POSITIVE_PROMPT = """Write a detailed, high-quality response to the instruction below. The response must satisfy \
EVERY one of the listed rubrics. Output only the response itself, with no preamble or commentary.

# Instruction
{instruction}

# Rubrics (all must be satisfied)
{rubrics}"""

NEGATIVE_PROMPT = """You are given an instruction, a response that satisfies all of its rubrics, and ONE target \
rubric. Modify the response AS LITTLE AS POSSIBLE so that it clearly VIOLATES the target rubric while still \
satisfying every other rubric. Change only the words, characters or formatting needed to break the target \
rubric; copy everything else exactly, character for character.

# Instruction
{instruction}

# Other rubrics (must stay satisfied)
{others}

# Target rubric (must be violated)
{target}

# Response
{response}

Answer with a JSON object {{"modified_response": "<the full modified response>"}}."""

REPAIR_PROMPT = """Your previous answer could not be used: {error}. Answer again with only a JSON object \
{{"modified_response": "<the full modified response>"}} whose value is the complete modified response."""


def _rubric_list(rubrics: list[Rubric]) -> str:
    return "\n".join(f"- {r.text}" for r in rubrics) or "- (none)"


def positive_messages(item: RubricItem) -> list[dict[str, str]]:
    prompt = POSITIVE_PROMPT.format(instruction=item.instruction, rubrics=_rubric_list(item.rubrics))
    return [{"role": "system", "content": POSITIVE_SYSTEM}, {"role": "user", "content": prompt}]


def negative_messages(item: RubricItem, rubric: Rubric, positive: str) -> list[dict[str, str]]:
    others = [r for r in item.rubrics if r.id != rubric.id]
    prompt = NEGATIVE_PROMPT.format(
        instruction=item.instruction, others=_rubric_list(others), target=rubric.text, response=positive
    )
    return [{"role": "user", "content": prompt}]


class GenerationStats(BaseModel):
    """Counts of what the LLM path produced and why candidates were rejected."""

    positives_requested: int = 0
    positives_verified: int = 0
    positives_unverified: int = 0  # some rubric could not be decided (LLM rubric without a judge)
    positives_failed: int = 0  # a decided rubric failed
    negatives_requested: int = 0
    accepted: int = 0
    flagged: int = 0
    rejected: Counter = Field(default_factory=Counter)  # reason -> count
    repairs: int = 0
    request_errors: int = 0

    def merge(self, other: "GenerationStats") -> None:
        for k, v in other.model_dump().items():
            if k == "rejected":
                self.rejected.update(other.rejected)
            else:
                setattr(self, k, getattr(self, k) + v)


class PositiveResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | None
    status: Literal["verified", "unverified", "failed", "error"]
    failed: list[str] = Field(default_factory=list)  # rubric ids decided -1
    undecided: list[str] = Field(default_factory=list)
    reason: str = ""


class NegativeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    negative: str | None
    status: Literal["accepted", "flagged", "rejected"]
    reason: str = ""
    collateral: list[str] = Field(default_factory=list)
    undecided: list[str] = Field(default_factory=list)
    attempts: int = 0


async def _verdicts(item: RubricItem, texts: list[str], judge: Any) -> list[dict[str, tuple[int, bool]]]:
    """``[{rubric_id: (s, decided)}]`` per text."""
    from rubrics.verdicts import acompute_verdicts

    batch = await acompute_verdicts([(item, t) for t in texts], judge=judge)
    out = []
    for b in range(len(texts)):
        out.append({r["id"]: (r["s"], r["decided"]) for r in batch.row(b)})
    return out


async def generate_positive(client: Any, item: RubricItem, *, judge: Any = None, attempts: int = 2,
                            stats: GenerationStats | None = None, **overrides: Any) -> PositiveResult:
    """Ask for a response satisfying every rubric and verify it; retry once with a fresh sample."""
    stats = stats if stats is not None else GenerationStats()
    last = PositiveResult(text=None, status="error", reason="not attempted")
    for attempt in range(max(1, attempts)):
        stats.positives_requested += 1
        try:
            extra = {"temperature": 0.7, "seed": attempt} if attempt else {}
            text = (await client.chat(positive_messages(item), **{**extra, **overrides})).strip()
        except Exception as exc:  # noqa: BLE001 - a failed request is a counted outcome
            stats.request_errors += 1
            last = PositiveResult(text=None, status="error", reason=f"request failed: {type(exc).__name__}")
            continue
        if not text:
            stats.positives_failed += 1
            last = PositiveResult(text=None, status="failed", reason="empty response")
            continue
        (verdicts,) = await _verdicts(item, [text], judge)
        failed = [rid for rid, (s, d) in verdicts.items() if d and s < 0]
        undecided = [rid for rid, (s, d) in verdicts.items() if not d]
        if failed:
            stats.positives_failed += 1
            last = PositiveResult(text=text, status="failed", failed=failed, undecided=undecided,
                                  reason=f"violates {len(failed)} rubric(s)")
            continue
        status = "unverified" if undecided else "verified"
        stats.positives_verified += status == "verified"
        stats.positives_unverified += status == "unverified"
        return PositiveResult(text=text, status=status, undecided=undecided)
    return last


def extract_modified(raw: str, positive: str) -> str:
    """The ``modified_response`` of a model answer; raises ``ValueError`` naming what is wrong."""
    from rubrics.llm import parse_json_loose

    obj = parse_json_loose(raw)
    if isinstance(obj, list) and len(obj) == 1 and isinstance(obj[0], dict):
        obj = obj[0]
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    value = obj.get("modified_response")
    if value is None:
        keys = [k for k in obj if isinstance(obj[k], str)]
        raise ValueError(f"missing field 'modified_response' (got keys {sorted(obj)[:5]})" if not keys else
                         f"missing field 'modified_response' (got {keys[0]!r} instead)")
    if not isinstance(value, str) or not value.strip():
        raise ValueError("'modified_response' is empty or not a string")
    if value == positive:
        raise ValueError("'modified_response' is identical to the original response")
    return value


def _reason_key(err: str) -> str:
    if "identical" in err:
        return "unchanged"
    if "missing field" in err:
        return "missing_field"
    if "empty" in err and "model output" not in err:
        return "empty_field"
    if "request failed" in err:
        return "request_error"
    return "invalid_json"


async def generate_negative(client: Any, item: RubricItem, rubric: Rubric, positive: str, *, judge: Any = None,
                            policy: Policy = "reject", repairs: int = 1, stats: GenerationStats | None = None,
                            **overrides: Any) -> NegativeResult:
    """Ask for a minimal modification violating ``rubric``; parse (with a repair turn) and verify it."""
    stats = stats if stats is not None else GenerationStats()
    stats.negatives_requested += 1
    messages = negative_messages(item, rubric, positive)
    error, negative, attempts = "", None, 0
    for turn in range(repairs + 1):
        attempts += 1
        try:
            raw = await client.chat(messages, json_schema=NEGATIVE_SCHEMA, **overrides)
        except Exception as exc:  # noqa: BLE001
            stats.request_errors += 1
            error = f"request failed: {type(exc).__name__}"
            break
        try:
            negative = extract_modified(raw, positive)
            break
        except ValueError as exc:
            error = str(exc)
            if turn < repairs:
                stats.repairs += 1
                messages = [*messages, {"role": "assistant", "content": raw[:4000]},
                            {"role": "user", "content": REPAIR_PROMPT.format(error=error)}]
    if negative is None:
        key = _reason_key(error)
        stats.rejected[key] += 1
        return NegativeResult(negative=None, status="rejected", reason=f"{key}: {error}", attempts=attempts)
    pos_v, neg_v = await _verdicts(item, [positive, negative], judge)
    s_pos, d_pos = pos_v[rubric.id]
    s_neg, d_neg = neg_v[rubric.id]
    undecided = [rid for rid in neg_v if rid != rubric.id and not (neg_v[rid][1] and pos_v[rid][1])]
    if not (d_pos and d_neg):
        status = "flagged" if policy == "flag" else "rejected"
        reason = "target rubric undecided (no rule checker and no judge)"
        if status == "rejected":
            stats.rejected["target_undecided"] += 1
        else:
            stats.flagged += 1
        return NegativeResult(negative=negative, status=status, reason=reason, undecided=undecided, attempts=attempts)
    if s_pos < 0:
        stats.rejected["positive_fails_target"] += 1
        return NegativeResult(negative=negative, status="rejected", reason="positive does not satisfy the target",
                              attempts=attempts)
    if s_neg > 0:
        stats.rejected["target_not_violated"] += 1
        return NegativeResult(negative=negative, status="rejected", reason="target rubric still satisfied",
                              attempts=attempts)
    collateral = [rid for rid in neg_v if rid != rubric.id and rid not in undecided and neg_v[rid][0] != pos_v[rid][0]]
    if collateral and policy == "reject":
        stats.rejected["collateral"] += 1
        return NegativeResult(negative=negative, status="rejected", reason=f"{len(collateral)} other rubric(s) flipped",
                              collateral=collateral, undecided=undecided, attempts=attempts)
    status = "flagged" if collateral else "accepted"
    stats.accepted += status == "accepted"
    stats.flagged += status == "flagged"
    return NegativeResult(negative=negative, status=status, collateral=collateral, undecided=undecided,
                          attempts=attempts)


async def generate_item_negatives(client: Any, item: RubricItem, positive: str, *, judge: Any = None,
                                  policy: Policy = "reject", rubric_ids: set[str] | None = None,
                                  stats: GenerationStats | None = None) -> dict[str, NegativeResult]:
    """Negatives for every rubric of an item concurrently (the client bounds the in-flight requests)."""
    rubrics = [r for r in item.rubrics if rubric_ids is None or r.id in rubric_ids]
    results = await asyncio.gather(
        *(generate_negative(client, item, r, positive, judge=judge, policy=policy, stats=stats) for r in rubrics)
    )
    return {r.id: res for r, res in zip(rubrics, results)}
