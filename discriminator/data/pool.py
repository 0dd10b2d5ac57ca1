"""Programmatic pair records for many items: in this process, or in a process pool for large inputs.

The records of an item are a pure function of (item, responses, config), so the pool changes nothing but the
time; the caller writes them (the build's shards stay single-writer).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from discriminator.data.programmatic_pairs import programmatic_item
from discriminator.data.records import BuildConfig, PairRecord
from rubrics.lifetime import die_with_parent
from rubrics.schema import RubricItem

Job = tuple[RubricItem, "str | list[str] | None", frozenset]  # item, real response(s) (None: template), keys to skip


def pool_workers(config: BuildConfig, n_items: int) -> int:
    """Processes :func:`programmatic_records` uses for ``n_items`` items."""
    if config.workers:
        return config.workers
    return max(1, os.cpu_count() or 1) if n_items >= config.pool_min_items else 1


def _job_records(job: Job, config: BuildConfig, source: str = "given", judge: Any = None) -> list[PairRecord]:
    item, pos, skip = job
    responses = [pos] if isinstance(pos, str) else (list(pos) if pos else None)
    return programmatic_item(item, config, responses=responses, positive_source=source, skip=set(skip), judge=judge)


def _records_chunk(jobs: list[Job], config: BuildConfig, source: str = "given") -> list[list[PairRecord]]:
    return [_job_records(job, config, source) for job in jobs]


def programmatic_records(jobs: Sequence[Job], config: BuildConfig, *, workers: int | None = None,
                         chunk: int = 8, positive_source: str = "given",
                         judge: Any = None) -> Iterable[tuple[RubricItem, list[PairRecord]]]:
    """``(item, records)`` in input order: in this process, or in a process pool for large inputs.

    The records are pure functions of the job, so the pool changes nothing but the time; the caller writes
    them (the shards stay single-writer)."""
    n = pool_workers(config, len(jobs)) if workers is None else workers
    if n <= 1 or len(jobs) <= chunk or judge is not None:  # a judge client lives in this process
        for job in jobs:
            yield job[0], _job_records(job, config, positive_source, judge)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    # fork: workers inherit the loaded checkers (NLTK, langdetect) instead of importing them again
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    first, *rest = jobs  # the first item runs here: the forked workers inherit its warmed checkers
    yield first[0], _job_records(first, config, positive_source)
    chunks = [list(rest[i:i + chunk]) for i in range(0, len(rest), chunk)]
    # a worker dies with this process: a kill -9 of the command must not leave workers blocked on the pipe
    pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),))
    try:
        for part, out in zip(chunks, pool.map(_records_chunk, chunks, [config] * len(chunks),
                                              [positive_source] * len(chunks))):
            for (item, _, _), records in zip(part, out):
                yield item, records
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
