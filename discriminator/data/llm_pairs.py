"""LLM pairs: an LLM (or given) positive and one LLM minimal-modification negative per rubric, run concurrently
over items and appended to the build's shards as each record is known."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from discriminator.data.diff_labels import diff_spans
from discriminator.data.programmatic import family_key
from discriminator.data.records import BuildConfig, PairRecord, ShardStore, call_failed
from rubrics.schema import RubricItem

ProgressFn = Callable[[str, int, int], None]


async def llm_item(item: RubricItem, config: BuildConfig, client: Any, *, judge: Any = None,
                   positive: str | None = None, skip: set[str] | frozenset[str] = frozenset(), stats: Any = None,
                   on_record: Callable[[PairRecord], None] | None = None) -> list[PairRecord]:
    """LLM positive (or the given one, trusted) + one LLM minimal-modification negative per rubric.

    ``on_record`` is called as soon as each record is known (the build appends it to the item's shard, so an
    interrupted run keeps every finished pair)."""
    from discriminator.data.llm_generation import (
        GenerationStats,
        PositiveResult,
        generate_negative,
        generate_positive,
    )

    stats = stats if stats is not None else GenerationStats()
    todo = [r for r in item.rubrics if r.id not in skip]
    if not todo:
        return []
    if positive is None:
        pos = await generate_positive(client, item, judge=judge, attempts=config.positive_attempts, stats=stats)
    else:
        pos = PositiveResult(text=positive, status="verified")
    emit = on_record or (lambda rec: None)

    source = "llm" if positive is None else "given"

    def common(r):
        return dict(item_id=item.id, rubric_id=r.id, source="llm", family=family_key(r), criteria=r.text,
                    instruction=item.instruction, positive_status=pos.status, positive_source=source)

    usable = pos.text is not None and (pos.status == "verified" or (pos.status == "unverified" and config.policy == "flag"))
    if not usable:
        out = [PairRecord(**common(r), status="unsupported", positive=pos.text,
                          reason=f"positive {pos.status}: {pos.reason or ', '.join(pos.undecided)}") for r in todo]
        for rec in out:
            emit(rec)
        return out
    text = pos.text
    assert text is not None

    async def one(r) -> PairRecord:
        res = await generate_negative(client, item, r, text, judge=judge, policy=config.policy,
                                      repairs=config.llm_repairs, stats=stats)
        if res.negative is None or res.status == "rejected":
            rec = PairRecord(**common(r), status="rejected", reason=res.reason, positive=text, negative=res.negative,
                             collateral=res.collateral)
        else:
            d = diff_spans(text, res.negative, config.spans)
            ok = bool(d.positive_spans and d.negative_spans)
            rec = PairRecord(**common(r), status=res.status if ok else "rejected",
                             reason=res.reason if ok else "no changed characters", positive=text,
                             negative=res.negative, positive_spans=d.positive_spans, negative_spans=d.negative_spans,
                             label_source="diff", collateral=res.collateral, unverified=res.undecided)
        emit(rec)
        return rec

    return list(await asyncio.gather(*(one(r) for r in todo)))


def content_judge(judge_config: Any) -> Any:
    from rubrics.judge import LLMJudge
    from rubrics.llm import LLMClient

    return LLMJudge(LLMClient(judge_config))


async def run_llm_items(store: ShardStore, items: Sequence[RubricItem], config: BuildConfig, llm_config: Any,
                   judge_config: Any, positives: dict[str, str] | dict[str, list[str]],
                        progress: ProgressFn | None) -> dict[str, Any]:
    from discriminator.data.llm_generation import GenerationStats
    from rubrics.llm import LLMClient

    client = LLMClient(llm_config)
    judge = None
    if judge_config is not None:
        from rubrics.judge import LLMJudge

        judge = LLMJudge(LLMClient(judge_config))
    stats = GenerationStats()
    done = 0
    # items run concurrently; the client's semaphore bounds the requests in flight
    sem = asyncio.Semaphore(max(1, llm_config.max_concurrency))

    failures: list[str] = []

    def keep(rec: PairRecord) -> None:
        if not call_failed(rec):  # a failed request is not a result: the rerun asks again
            store.append(rec)

    async def one(item: RubricItem) -> None:
        nonlocal done
        async with sem:
            recorded = store.recorded("llm", item.id)
            # a resumed item keeps the positive its finished pairs were made from
            earlier = next((r.positive for r in recorded.values() if r.positive), None)
            given = positives.get(item.id)
            given = given[0] if isinstance(given, list) else given
            records = await llm_item(item, config, client, judge=judge, positive=earlier or given,
                                     skip=set(recorded), stats=stats, on_record=keep)
            failed = [r for r in records if call_failed(r)]
            if failed:
                failures.append(f"{item.id}: {failed[0].reason}")
            else:
                store.mark_done("llm", item.id, len(recorded) + len(records))
        done += 1
        if progress:
            progress("llm", done, len(items))

    try:
        await asyncio.gather(*(one(it) for it in items))
    finally:
        await client.aclose()
        if judge is not None:
            await judge.client.aclose()
    out = stats.model_dump()
    out["rejected"] = dict(stats.rejected)
    out["client"] = client.stats.model_dump()
    out["failed_items"] = len(failures)
    out["failures"] = failures[:20]
    return out
