"""From pair records to training rows: item-disjoint splits, two :class:`SpanRow` per usable pair, and the RTT
paper's JSONL record."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from discriminator.data.records import PairRecord
from discriminator.data.schema import SpanRow, spans_to_char_labels


def assign_splits(item_ids: Iterable[str], seed: int, fractions: tuple[float, float, float]) -> dict[str, str]:
    """Exact-proportion split: items ordered by their seeded hash, cut at the fractions."""
    ids = sorted(set(item_ids), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    n = len(ids)
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1]) if n - n_train > 0 else 0
    out = {}
    for k, i in enumerate(ids):
        out[i] = "train" if k < n_train else ("val" if k < n_train + n_val else "test")
    return out


def rows_from_records(records: Iterable[PairRecord], splits: dict[str, str]) -> list[SpanRow]:
    """Two rows per usable pair: the positive (+1, what satisfied the rubric) and the negative (-1, what broke it)."""
    rows = []
    for rec in records:
        if not rec.usable:
            continue
        split = splits.get(rec.item_id)
        if rec.verification == "unverified" and split in ("val", "test"):
            continue  # unverified pairs train but never score (a split-less row would be re-split downstream)
        meta: dict[str, Any] = {"source": rec.source, "status": rec.status, "edit": rec.edit, "sample": rec.sample}
        if rec.collateral:
            meta["collateral"] = rec.collateral
        if rec.unverified:
            meta["unverified"] = rec.unverified
        for polarity, text, spans, verdict in (("positive", rec.positive, rec.positive_spans, 1),
                                               ("negative", rec.negative, rec.negative_spans, -1)):
            rows.append(SpanRow(
                id=f"{rec.pair_id}:{polarity[:3]}", item_id=rec.item_id, rubric_id=rec.rubric_id, pair_id=rec.pair_id,
                criteria=rec.criteria, response=text, instruction=rec.instruction, char_spans=spans,
                label_source=rec.label_source, polarity=polarity, verdict=verdict, family=rec.family,
                split=split,
                positive_source=rec.positive_source, verification=rec.verification, meta=meta,
            ))
    return rows


def paper_record(row: SpanRow, tokenizer: Any = None) -> dict[str, Any]:
    """The RTT paper's discriminator row: ``criteria``, ``response`` and per-character (or per-token) 0/1 labels."""
    rec: dict[str, Any] = {"criteria": row.criteria, "response": row.response}
    if tokenizer is None:
        rec["char_labels"] = spans_to_char_labels(row.char_spans, len(row.response))
        return rec
    enc = tokenizer(row.response, add_special_tokens=False, return_offsets_mapping=True)
    labels = spans_to_char_labels(row.char_spans, len(row.response))
    rec["token_ids"] = list(enc["input_ids"])
    rec["token_labels"] = [int(any(labels[s:e])) if e > s else 0 for s, e in enc["offset_mapping"]]
    return rec
