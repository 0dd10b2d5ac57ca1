"""One label per (criterion, response): human annotations supersede automatic ones (torch-free).

A reviewed file (``rtt review pull``) holds the automatic row *and* one human row per reviewer for each reviewed
pair; training on all of them would teach contradicting labels. :func:`resolve_labels` groups rows by
``(item_id, criteria, response)`` and keeps exactly one per group:

* no human row: the automatic row (when several automatic labellers disagree, the most trusted source wins:
  program > diff > model > greedy);
* human rows: each reviewer's latest annotation counts once, then by ``policy``:

  - ``latest``: the most recent human annotation wins;
  - ``majority`` (default): a character is relevant when more than half of the reviewers marked it; characters
    with a tied vote, and a tied verdict, follow the most recent annotation;
  - ``adjudicated``: an adjudicated annotation wins (Label Studio's *ground truth* star, recorded by the pull as
    ``meta.review.ground_truth``, or one by a reviewer listed in ``adjudicators``); without one, reviewers who
    agree exactly give the label, and a *disputed* pair (reviewers disagree, nobody adjudicated) is left out
    of training and evaluation, and listed in the report.

The resolved row keeps the automatic row's id (so splits and pairs stay put) with ``label_source="human"`` and
``meta.resolution`` saying how it was decided; the automatic row itself is dropped (it remains in the reviewed
file for the agreement report of ``rtt review pull``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from discriminator.data.schema import SpanRow, char_labels_to_spans, spans_to_char_labels

HumanPolicy = Literal["latest", "majority", "adjudicated"]
HUMAN_POLICIES: tuple[str, ...] = ("latest", "majority", "adjudicated")
AUTO_PRIORITY = ("program", "diff", "model", "greedy")
_OLDEST = datetime.min.replace(tzinfo=UTC)


class ResolutionReport(BaseModel):
    """What :func:`resolve_labels` did to a set of rows."""

    policy: str = Field(description="human label policy used")
    rows_in: int = Field(0, description="rows read")
    rows_out: int = Field(0, description="rows kept: one per (item, criterion, response)")
    human_resolved: int = Field(0, description="pairs whose label comes from human review")
    auto_replaced: int = Field(0, description="automatic rows superseded by a human label")
    auto_changed: int = Field(0, description="of those, how many the reviewers changed (spans or verdict)")
    multi_reviewer: int = Field(0, description="pairs labelled by more than one reviewer")
    superseded_human: int = Field(0, description="older annotations of the same reviewer, ignored")
    auto_conflicts: int = Field(0, description="pairs where automatic labellers disagreed (most trusted kept)")
    disputed: list[str] = Field(
        default_factory=list,
        description="row ids left out: reviewers disagree, nobody adjudicated (policy 'adjudicated')",
    )


def _key(r: SpanRow) -> tuple[str, str, str]:
    return (r.item_id, r.criteria, r.response)


def _when(r: SpanRow) -> datetime:
    t = r.annotated_at
    if t is None:
        return _OLDEST
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _human_verdict(r: SpanRow) -> int | None:
    """The verdict the reviewer chose (None when the pull filled it in from the automatic row)."""
    if (r.meta.get("review") or {}).get("verdict_source") == "auto":
        return None
    return r.verdict


def _adjudicated(r: SpanRow, adjudicators: set[str]) -> bool:
    return bool((r.meta.get("review") or {}).get("ground_truth")) or (r.annotator or "") in adjudicators


def _auto_source(r: SpanRow) -> int:
    return AUTO_PRIORITY.index(r.label_source) if r.label_source in AUTO_PRIORITY else len(AUTO_PRIORITY)


def majority_spans(rows: Sequence[SpanRow]) -> list[tuple[int, int]]:
    """Character majority of the reviewers' spans; ties follow the last row (rows: one per reviewer, oldest
    first, same response)."""
    n = len(rows[-1].response)
    votes = [0] * n
    for r in rows:
        for i, v in enumerate(spans_to_char_labels(r.char_spans, n)):
            votes[i] += v
    last = spans_to_char_labels(rows[-1].char_spans, n)
    k = len(rows)
    return char_labels_to_spans([1 if 2 * v > k else (last[i] if 2 * v == k else 0) for i, v in enumerate(votes)])


def _majority_verdict(rows: Sequence[SpanRow]) -> int | None:
    chosen = [(_human_verdict(r), r) for r in rows if _human_verdict(r) is not None]
    if not chosen:
        return None
    total = sum(v for v, _ in chosen)
    return (1 if total > 0 else -1) if total else chosen[-1][0]


def resolve_labels(
    rows: Iterable[SpanRow], policy: HumanPolicy = "majority", adjudicators: Sequence[str] = ()
) -> tuple[list[SpanRow], ResolutionReport]:
    """One row per ``(item_id, criteria, response)``, human labels first (see the module doc); input order kept."""
    if policy not in HUMAN_POLICIES:
        raise ValueError(f"unknown human label policy {policy!r}; choose one of {', '.join(HUMAN_POLICIES)}")
    rows = list(rows)
    rep = ResolutionReport(policy=policy, rows_in=len(rows))
    groups: dict[tuple[str, str, str], list[SpanRow]] = defaultdict(list)
    order: list[tuple[str, str, str]] = []
    for r in rows:
        k = _key(r)
        if k not in groups:
            order.append(k)
        groups[k].append(r)
    judges = set(adjudicators)
    out: list[SpanRow] = []
    for k in order:
        group = groups[k]
        autos = [r for r in group if r.label_source != "human"]
        humans = [r for r in group if r.label_source == "human"]
        auto = min(autos, key=_auto_source) if autos else None  # stable: first of the most trusted source
        if len({(tuple(a.char_spans), a.verdict) for a in autos}) > 1:
            rep.auto_conflicts += 1
        if not humans:
            out.append(auto)
            continue
        latest: dict[str, SpanRow] = {}
        for h in sorted(humans, key=_when):
            latest[h.annotator or h.id] = h  # later ones replace earlier ones of the same reviewer
        rep.superseded_human += len(humans) - len(latest)
        reviews = sorted(latest.values(), key=_when)
        newest = reviews[-1]
        if len(reviews) > 1:
            rep.multi_reviewer += 1
        spans, verdict, decided_by = newest.char_spans, _human_verdict(newest), [newest.annotator]
        if policy == "majority" and len(reviews) > 1:
            spans, verdict, decided_by = (
                majority_spans(reviews),
                _majority_verdict(reviews),
                [r.annotator for r in reviews],
            )
        elif policy == "adjudicated" and len(reviews) > 1:
            judged = [r for r in reviews if _adjudicated(r, judges)]
            if judged:
                spans, verdict, decided_by = judged[-1].char_spans, _human_verdict(judged[-1]), [judged[-1].annotator]
            elif len({tuple(r.char_spans) for r in reviews}) == 1:
                decided_by = [r.annotator for r in reviews]
            else:
                rep.disputed.append(auto.id if auto is not None else newest.id)
                continue
        if verdict is None:
            verdict = auto.verdict if auto is not None else newest.verdict
        base = auto if auto is not None else newest
        how = "adjudicated" if policy == "adjudicated" and len(decided_by) == 1 and len(reviews) > 1 else policy
        resolved = base.model_copy(
            update={
                "char_spans": list(spans),
                "verdict": verdict,
                "label_source": "human",
                "annotator": newest.annotator,
                "annotated_at": newest.annotated_at,
                "meta": {
                    **base.meta,
                    "resolution": {
                        "policy": how,
                        "reviewers": [r.annotator for r in reviews],
                        "decided_by": decided_by,
                        "human_row_ids": [r.id for r in reviews],
                        "auto_label_source": auto.label_source if auto is not None else None,
                        "auto_char_spans": [list(s) for s in auto.char_spans] if auto is not None else None,
                    },
                },
            }
        )
        resolved = SpanRow.model_validate(resolved.model_dump())  # re-check the spans
        rep.human_resolved += 1
        if auto is not None:
            rep.auto_replaced += 1
            rep.auto_changed += int(resolved.char_spans != auto.char_spans or resolved.verdict != auto.verdict)
        out.append(resolved)
    rep.rows_out = len(out)
    return out, rep
