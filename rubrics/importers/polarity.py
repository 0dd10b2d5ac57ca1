"""Pitfall polarity: what a negative-weight criterion's text describes, decided per source.

The canonical convention (:class:`rubrics.schema.Rubric`): ``weight < 0`` marks a pitfall whose text describes
the *bad* behaviour (meeting it is bad). A source's negative-weight criterion is read as:

* ``describes-bad`` -- kept as a pitfall, sign and text unchanged (HealthBench's convention: a met criterion with
  negative points is subtracted);
* ``describes-good`` -- the text says what a good response does ("Does not misinterpret the cystic mass as a
  tumor", -1): it becomes a requirement with weight ``|w|`` (meeting it is good, missing it costs ``|w|``);
  the text is never rewritten.

``--pitfall-polarity`` declares it for a whole source; ``auto`` (default) takes, per criterion, the rubric
entry's ``polarity`` field, else the record's ``polarity`` field (a string, or a list parallel to the rubrics),
else the format's own convention (HealthBench: describes-bad), else :func:`rubrics.negation.guess_polarity`.
Each decision is kept in ``item.meta["pitfall_polarity"]`` (``rubric id -> "how:polarity"``, how being
``declared`` / ``record`` / ``format`` / ``heuristic``) and counted in the build report.

Accepted ``polarity`` values: ``describes-bad`` (also ``bad``, ``negative``) and ``describes-good`` (also
``good``, ``positive``), any case, ``_`` or space for ``-``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rubrics.importers.base import FieldError
from rubrics.negation import Polarity, guess_polarity

PitfallPolarity = Literal["auto", "describes-bad", "describes-good"]
META_KEY = "pitfall_polarity"
_ALIASES: dict[str, Polarity] = {
    "describes-bad": "describes-bad",
    "bad": "describes-bad",
    "negative": "describes-bad",
    "describes-good": "describes-good",
    "good": "describes-good",
    "positive": "describes-good",
}


def parse_polarity(value: Any, name: str) -> Polarity:
    key = str(value).strip().lower().replace("_", "-").replace(" ", "-") if isinstance(value, str) else None
    if key not in _ALIASES:
        raise FieldError(name, f"expected one of describes-bad / describes-good, got {value!r}")
    return _ALIASES[key]


def record_polarities(rec: Mapping[str, Any], n: int) -> list[Polarity | None]:
    """The record-level ``polarity`` field as one value per rubric (None where it says nothing)."""
    value = rec.get("polarity")
    if value is None:
        return [None] * n
    if isinstance(value, str):
        return [parse_polarity(value, "polarity")] * n
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise FieldError("polarity", f"has {len(value)} entries for {n} rubrics")
        return [None if v is None else parse_polarity(v, f"polarity[{i}]") for i, v in enumerate(value)]
    raise FieldError("polarity", f"expected a string or a list, got {type(value).__name__}")


def apply_polarity(
    rubrics: list[dict[str, Any]],
    *,
    mode: PitfallPolarity,
    entry_values: Sequence[Any] = (),
    record_values: Sequence[Polarity | None] = (),
    format_default: Polarity | None = None,
    field: str = "rubrics",
) -> dict[str, str]:
    """Resolve every negative-weight rubric dict in place (``describes-good`` -> weight ``|w|``) and return the
    decisions ``{rubric id: "how:polarity"}`` for ``item.meta["pitfall_polarity"]``."""
    decisions: dict[str, str] = {}
    for i, r in enumerate(rubrics):
        if r.get("weight", 1.0) >= 0:
            continue
        entry = entry_values[i] if i < len(entry_values) else None
        record = record_values[i] if i < len(record_values) else None
        if mode != "auto":
            how, pol = "declared", mode
        elif entry is not None:
            how, pol = "record", parse_polarity(entry, f"{field}[{i}].polarity")
        elif record is not None:
            how, pol = "record", record
        elif format_default is not None:
            how, pol = "format", format_default
        else:
            how, pol = "heuristic", guess_polarity(r["text"])
        if pol == "describes-good":
            r["weight"] = -r["weight"]
        decisions[r["id"]] = f"{how}:{pol}"
    return decisions
