"""The span-labelled discriminator dataset row, shared by data building, review and training (torch-free).

Offsets are Python code-point offsets into ``response``, ``end`` exclusive. Label Studio's UTF-16 offsets are
converted at the annotation boundary, never stored here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LabelSource = Literal["diff", "greedy", "program", "human", "model"]
Polarity = Literal["positive", "negative", "other"]
Split = Literal["train", "val", "test"]
PositiveSource = Literal["template", "given", "policy", "llm"]
Verification = Literal["rule", "judge", "unverified"]


class SpanRow(BaseModel):
    """One (criterion, response) pair with the character spans relevant to the criterion."""

    model_config = ConfigDict(extra="forbid")

    id: str
    item_id: str
    rubric_id: str
    pair_id: str | None = None  # links a positive and its minimal-modification negative
    criteria: str = Field(min_length=1)
    response: str
    instruction: str | None = None
    char_spans: list[tuple[int, int]] = Field(default_factory=list)
    label_source: LabelSource
    polarity: Polarity = "other"
    verdict: int | None = None  # +1 the response satisfies the criterion, -1 it violates it
    family: str = "llm"  # e.g. "ifeval:punctuation:no_comma", "muldimif:Length/Words", "llm"
    split: Split | None = None
    annotator: str | None = None
    annotated_at: datetime | None = None
    positive_source: PositiveSource | None = Field(
        None, description="where the pair's positive came from: template, given (an existing response), policy "
                          "(a sampled policy response), llm (an LLM-written positive); None outside pairs")
    verification: Verification | None = Field(
        None, description="what checked the pair's target verdicts: rule checker, LLM judge, or nothing "
                          "(unverified rows are kept out of val/test)")
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_spans(self) -> "SpanRow":
        n = len(self.response)
        for s, e in self.char_spans:
            if not (0 <= s < e <= n):
                raise ValueError(f"span ({s}, {e}) outside response of length {n}")
        if self.verdict not in (None, 1, -1):
            raise ValueError("verdict must be +1, -1 or null")
        self.char_spans = merge_spans(self.char_spans)
        return self

    @property
    def char_labels(self) -> list[int]:
        return spans_to_char_labels(self.char_spans, len(self.response))


def merge_spans(spans: Iterable[Sequence[int]], gap: int = 0) -> list[tuple[int, int]]:
    """Sort and merge overlapping spans, and spans separated by at most ``gap`` characters."""
    out: list[tuple[int, int]] = []
    for s, e in sorted((int(a), int(b)) for a, b in spans if int(b) > int(a)):
        if out and s <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def spans_to_char_labels(spans: Iterable[Sequence[int]], length: int) -> list[int]:
    labels = [0] * length
    for s, e in spans:
        labels[s:e] = [1] * (e - s)
    return labels


def char_labels_to_spans(labels: Sequence[int]) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, v in enumerate(labels):
        if v and start is None:
            start = i
        elif not v and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(labels)))
    return spans


def write_rows(path: str | Path, rows: Iterable[SpanRow]) -> int:
    """Write rows to Parquet (or JSONL by suffix) atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rubrics.io import atomic_path, write_jsonl

    rows = list(rows)
    if str(path).endswith(".jsonl"):
        return write_jsonl(path, rows)
    records = [r.model_dump() for r in rows]
    for rec in records:
        rec["char_spans"] = [list(s) for s in rec["char_spans"]]
        rec["meta"] = json.dumps(rec["meta"], ensure_ascii=False, default=str)
    table = pa.Table.from_pylist(records, schema=_arrow_schema())
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return len(rows)


def read_rows(path: str | Path) -> list[SpanRow]:
    import pyarrow.parquet as pq

    from rubrics.io import iter_jsonl

    if str(path).endswith(".jsonl"):
        return [SpanRow.model_validate(obj) for _, obj in iter_jsonl(path)]
    out = []
    for rec in pq.read_table(path).to_pylist():
        rec["meta"] = json.loads(rec["meta"]) if rec.get("meta") else {}
        out.append(SpanRow.model_validate(rec))
    return out


def _arrow_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("item_id", pa.string()),
            ("rubric_id", pa.string()),
            ("pair_id", pa.string()),
            ("criteria", pa.string()),
            ("response", pa.string()),
            ("instruction", pa.string()),
            ("char_spans", pa.list_(pa.list_(pa.int64()))),
            ("label_source", pa.string()),
            ("polarity", pa.string()),
            ("verdict", pa.int8()),
            ("family", pa.string()),
            ("split", pa.string()),
            ("annotator", pa.string()),
            ("annotated_at", pa.timestamp("us", tz="UTC")),
            ("positive_source", pa.string()),
            ("verification", pa.string()),
            ("meta", pa.string()),
        ]
    )
