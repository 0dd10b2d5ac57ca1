"""Loading SpanRow files for the discriminator, filtering, and item-disjoint splits (torch-free)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from discriminator.data.schema import SpanRow, read_rows
from discriminator.resolve import HumanPolicy, ResolutionReport, resolve_labels

SPLITS = ("train", "val", "test")


def load_rows(
    path: str | Path,
    label_sources: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    human_labels: HumanPolicy | None = "majority",
    adjudicators: Sequence[str] = (),
) -> list[SpanRow]:
    """Read rows, resolve one label per (criterion, response) (human labels win, see ``discriminator.resolve``;
    ``human_labels=None`` keeps every row as stored), then keep the given label sources and families (a family
    matches itself or as a prefix ``x:``). A resolved human row also passes a label-source filter that names the
    automatic source it replaced."""
    return load_rows_with_report(path, label_sources, families, human_labels, adjudicators)[0]


def load_rows_with_report(
    path: str | Path,
    label_sources: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    human_labels: HumanPolicy | None = "majority",
    adjudicators: Sequence[str] = (),
) -> tuple[list[SpanRow], ResolutionReport | None]:
    """:func:`load_rows` and the label resolution report (None when ``human_labels`` is None)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    rows = read_rows(path)
    report = None
    if human_labels is not None:
        rows, report = resolve_labels(rows, human_labels, adjudicators)
    if label_sources:
        keep = set(label_sources)
        rows = [
            r
            for r in rows
            if r.label_source in keep or (r.meta.get("resolution") or {}).get("auto_label_source") in keep
        ]
    if families:
        rows = [r for r in rows if any(r.family == f or r.family.startswith(f + ":") for f in families)]
    if not rows:
        raise ValueError(f"{path}: no rows left after filtering (label_sources={label_sources}, families={families})")
    return rows, report


def _bucket(item_id: str, seed: int) -> float:
    h = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def assign_splits(rows: Iterable[SpanRow], val_fraction: float, test_fraction: float, seed: int = 0) -> list[SpanRow]:
    """Give rows without a split one, by a hash of ``item_id`` (all rows of an item land in the same split)."""
    out = []
    for r in rows:
        if r.split is None:
            u = _bucket(r.item_id, seed)
            split = "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"
            r = r.model_copy(update={"split": split})
        out.append(r)
    return out


def by_split(rows: Iterable[SpanRow]) -> dict[str, list[SpanRow]]:
    out: dict[str, list[SpanRow]] = {s: [] for s in SPLITS}
    for r in rows:
        out[r.split or "train"].append(r)
    return out


def check_item_disjoint(a: Sequence[SpanRow], b: Sequence[SpanRow], names: tuple[str, str] = ("train", "test")) -> None:
    """Raise if any instruction item appears in both sets (evaluation must be on unseen items)."""
    common = {r.item_id for r in a} & {r.item_id for r in b}
    if common:
        shown = ", ".join(sorted(common)[:5])
        raise ValueError(
            f"{names[0]} and {names[1]} share {len(common)} item(s) ({shown}{', ...' if len(common) > 5 else ''}); "
            "splits must be item-disjoint"
        )


def stats(rows: Iterable[SpanRow]) -> dict[str, dict[str, int]]:
    rows = list(rows)
    return {
        "label_source": dict(Counter(r.label_source for r in rows)),
        "family": dict(Counter(r.family for r in rows)),
        "split": dict(Counter(r.split or "none" for r in rows)),
    }
