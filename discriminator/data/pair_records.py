"""One pair record: a (positive, negative) pair of texts for a rubric, labelled with exact spans and verified.

Shared by the template pairs (:mod:`discriminator.data.programmatic_pairs`) and the pairs built from real
responses (:mod:`discriminator.data.positives`).
"""

from __future__ import annotations

from discriminator.data.diff_labels import diff_spans, spans_from_opcodes
from discriminator.data.programmatic import family_key, verify_pair
from discriminator.data.records import BuildConfig, PairRecord, Source
from rubrics.schema import Rubric, RubricItem

__all__ = ["pair_record"]


def pair_record(item: RubricItem, rubric: Rubric, source: Source, positive: str, negative: str, *, policy: str,
                ops: list | None, config: BuildConfig, note: str = "", positive_status: str = "") -> PairRecord:
    """The record of one (positive, negative) pair for ``rubric``: exact spans (from the edit's opcodes ``ops``,
    else a character diff), the verification of the target and the other rules, and the status it earns
    (``rejected`` when the target does not flip or nothing changed; collateral flips are ``flagged``, or
    ``rejected`` under ``policy="reject"``)."""
    check = verify_pair(item, rubric, positive, negative)
    if ops is not None:
        pos_spans, neg_spans = spans_from_opcodes(positive, negative, ops, config.spans)
        label_source = "program"
    else:
        d = diff_spans(positive, negative, config.spans)
        pos_spans, neg_spans, label_source = d.positive_spans, d.negative_spans, "diff"
    base = dict(item_id=item.id, rubric_id=rubric.id, source=source, family=family_key(rubric), criteria=rubric.text,
                instruction=item.instruction, positive=positive, negative=negative, positive_spans=pos_spans,
                negative_spans=neg_spans, label_source=label_source, collateral=check.collateral,
                unverified=check.unverified, note=note, positive_status=positive_status)
    if not check.target_ok:
        why = "positive does not satisfy the target" if check.target_pos is not True else "target still satisfied"
        return PairRecord(**base, status="rejected", reason=why)
    if not pos_spans or not neg_spans:
        return PairRecord(**base, status="rejected", reason="no changed characters")
    if check.collateral:
        if policy == "reject":
            return PairRecord(**base, status="rejected", reason=f"{len(check.collateral)} other rubric(s) flipped")
        return PairRecord(**base, status="flagged", reason="collateral flips")
    return PairRecord(**base, status="accepted")
