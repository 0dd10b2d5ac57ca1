"""Build the discriminator dataset: positives, minimal-modification negatives, span labels, splits.

:func:`build_discriminator_dataset` is what ``rtt data negatives`` and the Prefect flow ``build-discriminator-data``
run.

Layout of ``out_dir``::

    shards/<source>/<item>.jsonl   append-only pair records per item (one line per rubric, any status)
    done.jsonl                     done index: one line per finished (source, item)
    spans.parquet                  one SpanRow per (criterion, response), split by item (atomic)
    paper/{train,val,test}.jsonl   optional RTT-paper discriminator JSONL (criteria, response, char_labels)
    report.json / report.md        per-family counts and acceptance rates, a sample of diffs

Shards and the done index are durable (see discriminator/data/shards.py). Re-running skips finished items and,
inside an unfinished item, rubrics already recorded; consolidation rewrites the outputs atomically from all shards.
The pieces live in modules named for what they hold (all re-exported here): :mod:`~discriminator.data.records`
(config, pair records, shards), :mod:`~discriminator.data.pair_records` (one verified, labelled pair),
:mod:`~discriminator.data.programmatic_pairs`, :mod:`~discriminator.data.llm_pairs`,
:mod:`~discriminator.data.span_rows` (splits, rows) and :mod:`~discriminator.data.build_report`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from discriminator.data.build_report import BuildReport, FamilyStats, make_report  # noqa: F401 - re-exported
from discriminator.data.llm_pairs import (  # noqa: F401
    ProgressFn,
    content_judge,
    llm_item,
    run_llm_items,
)
from discriminator.data.pair_records import pair_record  # noqa: F401 - re-exported
from discriminator.data.programmatic_pairs import programmatic_item, run_item_sync  # noqa: F401 - re-exported
from discriminator.data.records import (  # noqa: F401 - re-exported
    BuildConfig,
    Mode,
    PairRecord,
    ShardStore,
    Source,
    Status,
    call_failed,
    group_by_family,
    todo_items,
    write_item_records,
)
from discriminator.data.schema import write_rows
from discriminator.data.shards import ShardError  # noqa: F401 - re-exported
from discriminator.data.span_rows import assign_splits, paper_record, rows_from_records  # noqa: F401
from rubrics.io import atomic_open, write_jsonl
from rubrics.schema import RubricItem

_records_from_pair = pair_record  # its name here before pair records got their own module


def consolidate(out_dir: str | os.PathLike, config: BuildConfig, *, tokenizer: Any = None,
                items: Sequence[RubricItem] | None = None, store: ShardStore | None = None) -> BuildReport:
    """Read every shard and (re)write ``spans.parquet``, the optional paper JSONL and the report, atomically."""
    out = Path(out_dir)
    store = store or ShardStore(out)
    records = store.all_records()
    if items is not None:  # restrict to the requested items (a shared out dir may hold more)
        wanted = {it.id for it in items}
        records = [r for r in records if r.item_id in wanted]
    fractions = (1.0 - config.val_frac - config.test_frac, config.val_frac, config.test_frac)
    splits = assign_splits((r.item_id for r in records if r.usable), config.seed, fractions)
    rows = rows_from_records(records, splits)
    files = {"spans": str(out / "spans.parquet")}
    write_rows(out / "spans.parquet", rows)
    if config.paper_jsonl:
        for split in ("train", "val", "test"):
            path = out / "paper" / f"{split}.jsonl"
            write_jsonl(path, (paper_record(r, tokenizer) for r in rows if r.split == split))
            files[f"paper_{split}"] = str(path)
    report = make_report(records, rows, config, out)
    report.files = files
    with atomic_open(out / "report.json") as fh:
        fh.write(report.model_dump_json(indent=2))
    with atomic_open(out / "report.md") as fh:
        fh.write(report.to_markdown())
    return report


def build_discriminator_dataset(items: Sequence[RubricItem], out_dir: str | os.PathLike, config: BuildConfig | None = None, *,
                  llm_config: Any = None, judge_config: Any = None,
                  positives: dict[str, str] | dict[str, list[str]] | None = None, positive_source: str = "given",
                  progress: ProgressFn | None = None, tokenizer: Any = None, repair: bool = False) -> BuildReport:
    """Build (or resume) the dataset for ``items`` into ``out_dir`` and consolidate it.

    ``positives`` maps item ids to real responses (``positive_source``: ``given`` responses or ``policy``
    samples); items without one get a template positive (counted in the report). Items whose LLM calls failed are
    not marked done (``report.failed_items``); a corrupt shard line raises :class:`ShardError` unless ``repair``
    (then its item is redone)."""
    config = config or BuildConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = ShardStore(out, repair=repair)
    positives = positives or {}
    skipped = 0
    llm_stats = None
    if "program" in config.sources:
        todo = todo_items(store, "program", items, positives, positive_source)
        skipped += len(items) - len(todo)
        from discriminator.data.pool import programmatic_records

        recorded = {it.id: store.recorded("program", it.id) for it in todo}
        jobs = [(it, positives.get(it.id), frozenset(recorded[it.id])) for it in todo]
        judge = content_judge(judge_config) if judge_config is not None and positives else None
        try:
            for k, (item, new) in enumerate(programmatic_records(jobs, config, positive_source=positive_source,
                                                                 judge=judge), start=1):
                store.append_many(new)
                store.mark_done("program", item.id, len(recorded[item.id]) + len(new))
                if progress:
                    progress("program", k, len(todo))
        finally:
            if judge is not None:
                judge.client.close()
    if "llm" in config.sources:
        if llm_config is None:
            raise ValueError("mode 'llm'/'both' needs an LLM endpoint (llm_config: base URL and model)")
        todo = todo_items(store, "llm", items, positives, positive_source)
        skipped += len(items) - len(todo)
        llm_stats = asyncio.run(run_llm_items(store, todo, config, llm_config, judge_config, positives, progress))
    report = consolidate(out, config, tokenizer=tokenizer, items=items, store=store)
    report.items_skipped = skipped
    report.repaired = store.repaired
    report.rebuilt = store.invalidated
    if llm_stats is not None:
        report.failed_items = llm_stats.pop("failed_items", 0)
        report.failures = llm_stats.pop("failures", [])
        report.llm = llm_stats
    with atomic_open(out / "report.json") as fh:
        fh.write(report.model_dump_json(indent=2))
    return report
