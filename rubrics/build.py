"""Build a rubric dataset: import sources, validate, dedupe, split, write atomically, report.

Output folder layout::

    {train,val,test}.parquet   canonical items (rubrics.exporters.read_items)
    {train,val,test}.jsonl     the same items as JSON lines
    rtt/{train,val,test}.jsonl the RTT paper's training rows (export_rtt=True)
    report.json, report.md     BuildReport

Everything is first written to a ``.staging-*`` folder beside ``out_dir`` and swapped in as a whole
(:func:`rubrics.io.staged_dir`) only when all files are complete, so a failure never leaves a half-written or
mixed dataset: files of an earlier build that this one does not write are gone with the old folder. With ``strict=True``
the first bad record raises :class:`rubrics.io.RecordError` before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rubrics.exporters import PitfallMode, write_items, write_rtt_jsonl
from rubrics.importers import DuplicateIndex, EmptyInputError, SourceReader, SourceSpec
from rubrics.io import staged_dir, write_text
from rubrics.report import BuildReport, Duplicate, Rejection, SourceStats
from rubrics.schema import RubricItem

SPLITS = ("train", "val", "test")
Progress = Callable[[str, int, "int | None"], None]  # (label, done, total); label "write" for the last phase

__all__ = [
    "SPLITS",
    "BuildReport",
    "EmptyDataset",
    "SourceSpec",
    "assign_split",
    "build_rubric_dataset",
    "check_fractions",
]


class EmptyDataset(ValueError):
    """Nothing was imported because every record was rejected (lenient build): no dataset is written."""

    def __init__(self, report: BuildReport):
        self.report = report
        read = sum(s.read for s in report.sources)
        msg = f"nothing imported: {read} records read, {report.rejected_total} rejected"
        if report.rejected:
            r = report.rejected[0]
            msg += f" (first: {r.where}: {(r.field + ': ') if r.field else ''}{r.reason})"
        super().__init__(msg + "; nothing written (allow_empty / --allow-empty writes an empty dataset)")


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split_fractions must be three non-negative numbers summing to 1, got {tuple(fractions)}")
    return tuple(float(f) for f in fractions)  # type: ignore[return-value]


def assign_split(item_id: str, seed: int, fractions: Sequence[float]) -> str:
    """Deterministic split from a hash of (seed, item id): stable across runs and when items are added."""
    digest = hashlib.sha256(f"{seed}\x00{item_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < fractions[0]:
        return "train"
    return "val" if u < fractions[0] + fractions[1] else "test"


def build_rubric_dataset(
    sources: Sequence[SourceSpec | str],
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    strict: bool,
    name: str = "rubrics",
    export_rtt: bool = False,
    rtt_pitfalls: PitfallMode = "negate",
    on_progress: Progress | None = None,
    allow_empty: bool = False,
) -> BuildReport:
    """Import ``sources`` into one split dataset in ``out_dir`` and return its report (also written there).

    A source without any record raises :class:`rubrics.importers.EmptyInputError`, and a lenient build whose every
    record was rejected raises :class:`EmptyDataset`, both before anything is written,
    unless ``allow_empty``."""
    t0 = time.perf_counter()
    fractions = check_fractions(split_fractions)
    specs = [SourceSpec.parse(s) if isinstance(s, str) else s for s in sources]
    if not specs:
        raise ValueError("no sources given")
    out = Path(out_dir)
    report = BuildReport(name=name, out_dir=str(out), seed=seed, split_fractions=fractions, strict=strict)
    items = _collect(specs, report, strict=strict, on_progress=on_progress)
    empty = [s.path for s in report.sources if s.read == 0]
    if empty and not allow_empty:
        raise EmptyInputError(f"{', '.join(empty)}: no records (an empty input; pass --allow-empty to accept it)")
    if not items and report.rejected_total and not allow_empty:
        raise EmptyDataset(report)
    for item in items:
        item.split = assign_split(item.id, seed, fractions)  # type: ignore[assignment]
    report.count_items(items)
    _write(out, items, report, export_rtt=export_rtt, rtt_pitfalls=rtt_pitfalls, on_progress=on_progress, t0=t0)
    return report


def _collect(
    specs: list[SourceSpec], report: BuildReport, *, strict: bool, on_progress: Progress | None
) -> list[RubricItem]:
    items: list[RubricItem] = []
    index = DuplicateIndex()
    for spec in specs:
        reader = SourceReader(spec)
        total = reader.total() if on_progress else None
        stats = SourceStats(name=spec.name or Path(spec.path).name, path=spec.path, format=spec.format)
        report.sources.append(stats)
        label = spec.name or Path(spec.path).name
        for n, got in enumerate(reader, start=1):
            stats.read += 1
            if on_progress and (n % 256 == 0 or n == total):
                on_progress(label, n, total)
            stats.name, stats.format = reader.name or stats.name, reader.format or stats.format
            error, item = got.error, got.item
            if item is not None:
                dup = index.check(item, got.path, got.line)
                if isinstance(dup, str):
                    stats.duplicates += 1
                    report.add_duplicate(Duplicate(id=item.id, kept=dup, path=got.path, line=got.line))
                    continue
                error = dup
            if error is not None:
                if strict:
                    raise error
                stats.rejected += 1
                report.add_rejection(
                    Rejection(
                        source=stats.name, path=error.path, line=error.line, field=error.field, reason=error.reason
                    )
                )
                continue
            stats.imported += 1
            assert item is not None  # an Imported carries an item or an error
            items.append(item)
        if on_progress:
            on_progress(label, stats.read, stats.read)
    return items


def _write(
    out: Path,
    items: list[RubricItem],
    report: BuildReport,
    *,
    export_rtt: bool,
    rtt_pitfalls: PitfallMode,
    on_progress: Progress | None,
    t0: float,
) -> None:
    known = {f"{s}.{ext}" for s in SPLITS for ext in ("parquet", "jsonl")} | {"rtt"}
    with staged_dir(out, kind="rubrics-build", known=known) as staging:
        by_split = {s: [it for it in items if it.split == s] for s in SPLITS}
        steps = len(SPLITS) * (3 if export_rtt else 2) + 2
        done = 0
        for split, part in by_split.items():
            for rel in (f"{split}.parquet", f"{split}.jsonl"):
                write_items(staging / rel, part)
                report.files[rel] = rel
                done += 1
                if on_progress:
                    on_progress("write", done, steps)
            if export_rtt:
                rel = f"rtt/{split}.jsonl"
                write_rtt_jsonl(staging / rel, part, pitfalls=rtt_pitfalls)
                report.files[rel] = rel
                done += 1
        report.files["report.json"], report.files["report.md"] = "report.json", "report.md"
        report.elapsed_s = round(time.perf_counter() - t0, 3)
        write_text(staging / "report.md", report.to_markdown())
        write_text(staging / "report.json", report.model_dump_json(indent=2))
        if on_progress:
            on_progress("write", steps, steps)
