"""The "greedy" LLM baseline labeler (``rtt data greedy``): the model quotes the relevant text segments.

The model answers ``{"type": "all relevant"}``, ``{"type": "all irrelevant"}`` or
``{"type": "partial relevant", "relevant texts": [...]}``. Quotes are matched back to character spans:
exactly (every non-overlapping occurrence), then whitespace-normalised (runs of whitespace compare equal,
offsets mapped back to the original text), then optionally fuzzily with ``rapidfuzz`` (best alignment with a
score at or above ``fuzzy_threshold``). Quotes matched nowhere are counted, not guessed.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from discriminator.data.schema import merge_spans

GREEDY_SCHEMA: dict[str, Any] = {
    "title": "relevant_spans",
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["all relevant", "all irrelevant", "partial relevant"]},
        "relevant texts": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["type"],
}

GREEDY_PROMPT = """You will be given a criterion and a response. Identify the exact text segments of the response \
that are relevant to the criterion: the parts that make the response satisfy or violate it.

Answer with JSON only:
- {{"type": "all relevant"}} if the whole response is relevant;
- {{"type": "all irrelevant"}} if no part of it is relevant;
- {{"type": "partial relevant", "relevant texts": ["<exact quote>", ...]}} otherwise, quoting the relevant \
segments verbatim (copy them character for character; do not paraphrase).

# Criterion
{criteria}

# Response
{response}"""

AnswerType = Literal["all relevant", "all irrelevant", "partial relevant"]


class GreedyAnswer(BaseModel):
    type: AnswerType
    quotes: list[str] = Field(default_factory=list)


class GreedyResult(BaseModel):
    spans: list[tuple[int, int]] = Field(default_factory=list)
    type: AnswerType | None = None
    matched: dict[str, int] = Field(default_factory=dict)  # exact / whitespace / fuzzy -> count
    unmatched: list[str] = Field(default_factory=list)
    error: str | None = None


def greedy_messages(criteria: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": GREEDY_PROMPT.format(criteria=criteria, response=response)}]


def parse_greedy(raw: str) -> GreedyAnswer:
    """Read the model's answer; raises ``ValueError`` when it is not one of the three forms."""
    from rubrics.llm import parse_json_loose

    obj = parse_json_loose(raw)
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    kind = str(obj.get("type", "")).strip().lower().replace("_", " ").replace("-", " ")
    kind = {"relevant": "all relevant", "irrelevant": "all irrelevant", "partial": "partial relevant",
            "partially relevant": "partial relevant"}.get(kind, kind)
    if kind not in ("all relevant", "all irrelevant", "partial relevant"):
        raise ValueError(f"unknown answer type {obj.get('type')!r}")
    quotes = obj.get("relevant texts", obj.get("relevant_texts", obj.get("texts", [])))
    if isinstance(quotes, str):
        quotes = [quotes]
    if not isinstance(quotes, list):
        raise ValueError("'relevant texts' must be a list of strings")
    quotes = [q for q in quotes if isinstance(q, str) and q.strip()]
    if kind == "partial relevant" and not quotes:
        raise ValueError("'partial relevant' without any quote")
    return GreedyAnswer(type=kind, quotes=quotes)


def _normalised(text: str) -> tuple[str, list[int]]:
    """Text with whitespace runs collapsed to one space, and the original index of each kept character."""
    out, index = [], []
    prev_space = False
    for i, c in enumerate(text):
        if c.isspace():
            if prev_space:
                continue
            out.append(" ")
            prev_space = True
        else:
            out.append(c)
            prev_space = False
        index.append(i)
    return "".join(out), index


def _free(spans: list[tuple[int, int]], s: int, e: int) -> bool:
    return all(e <= a or s >= b for a, b in spans)


def match_quotes(response: str, quotes: list[str], *, fuzzy_threshold: float | None = 90.0,
                 min_fuzzy_len: int = 8) -> GreedyResult:
    """Character spans of ``quotes`` in ``response`` (see module doc for the matching cascade)."""
    spans: list[tuple[int, int]] = []
    result = GreedyResult(type="partial relevant", matched={"exact": 0, "whitespace": 0, "fuzzy": 0})
    norm, index = _normalised(response)
    for quote in quotes:
        q = quote.strip()
        if not q:
            continue
        found = [(m.start(), m.end()) for m in re.finditer(re.escape(q), response)]
        found = [f for f in found if _free(spans, *f)]
        if found:
            spans += found
            result.matched["exact"] += 1
            continue
        qn = " ".join(q.split())
        hits = []
        start = norm.find(qn)
        while start >= 0 and qn:
            end = start + len(qn)
            hits.append((index[start], index[end - 1] + 1))
            start = norm.find(qn, end)
        hits = [h for h in hits if _free(spans, *h)]
        if hits:
            spans += hits
            result.matched["whitespace"] += 1
            continue
        if fuzzy_threshold is not None and len(qn) >= min_fuzzy_len:
            from rapidfuzz import fuzz

            al = fuzz.partial_ratio_alignment(qn, norm, score_cutoff=fuzzy_threshold)
            if al is not None and al.dest_end > al.dest_start:
                s, e = index[al.dest_start], index[al.dest_end - 1] + 1
                if _free(spans, s, e):
                    spans.append((s, e))
                    result.matched["fuzzy"] += 1
                    continue
        result.unmatched.append(quote)
    result.spans = merge_spans(spans)
    return result


def spans_from_answer(response: str, answer: GreedyAnswer, **match_kwargs: Any) -> GreedyResult:
    if answer.type == "all relevant":
        return GreedyResult(spans=[(0, len(response))] if response else [], type=answer.type)
    if answer.type == "all irrelevant":
        return GreedyResult(spans=[], type=answer.type)
    return match_quotes(response, answer.quotes, **match_kwargs)


async def greedy_label(client: Any, criteria: str, response: str, *, repairs: int = 1,
                       **match_kwargs: Any) -> GreedyResult:
    """Ask the model for the relevant quotes and match them; a failure is returned in ``error``."""
    messages = greedy_messages(criteria, response)
    error = ""
    for turn in range(repairs + 1):
        try:
            raw = await client.chat(messages, json_schema=GREEDY_SCHEMA)
        except Exception as exc:  # noqa: BLE001
            return GreedyResult(error=f"request failed: {type(exc).__name__}")
        try:
            return spans_from_answer(response, parse_greedy(raw), **match_kwargs)
        except ValueError as exc:
            error = str(exc)
            messages = [*messages, {"role": "assistant", "content": raw[:4000]},
                        {"role": "user", "content": f"That answer could not be used: {error}. Answer again with "
                                                    "JSON only, in one of the three forms."}]
    return GreedyResult(error=error)
