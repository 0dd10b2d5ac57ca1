"""Prefect flow ``build_discriminator_data``: positives, minimal-modification negatives and span labels.

It runs the same library code as ``rtt data negatives`` (:mod:`discriminator.data.build`), split into tasks:

* ``load-rubric-items`` imports the item files;
* ``programmatic-pairs`` computes the programmatic records of a batch of items (pure: cached on its inputs,
  i.e. the items and the :class:`BuildConfig`, with the task source);
* ``llm-pairs`` computes the LLM records of a batch (async, retried; cached on the items, the build config and
  the endpoint *configs* - clients are built inside the task, so no client object is part of a cache key);
* the flow appends every record to the per-item shards and the done index (resumable: a re-run skips
  finished items; an item with a failed LLM call is not done, and a cached task result holding failed calls is
  recomputed, never replayed), then ``consolidate-spans`` writes ``spans.parquet`` / paper JSONL / report atomically.

Endpoint concurrency. Inside a process the :class:`rubrics.llm.LLMClient` semaphore bounds the requests in
flight (``max_concurrency``). With ``concurrency_limit`` set, every request also occupies one slot of that
Prefect *global concurrency limit* (``prefect.concurrency.asyncio.concurrency``), which bounds the endpoint
across all flow runs and workers sharing the Prefect server; ``create_limit`` creates it with
``max_concurrency`` slots when missing. ``rate_limit`` (a limit with slot decay) adds a Prefect rate limit per
request. Without a reachable server, Prefect's non-strict mode lets requests through and the client's
semaphore is the only bound.

Artifacts: a table of per-family counts / coverage / acceptance and a markdown report with sample diffs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import INPUTS, TASK_SOURCE
from pydantic import BaseModel, ConfigDict, Field

from discriminator.data.build import (
    BuildConfig,
    BuildReport,
    PairRecord,
    ShardStore,
    call_failed,
    consolidate,
    llm_item,
    programmatic_item,
    todo_items,
    write_item_records,
)
from discriminator.data.policy_samples import PolicySampleConfig
from flows.artifacts import artifact_key as _artifact_key
from flows.artifacts import fit_markdown, fit_rows
from rubrics.llm import LLMConfig
from rubrics.schema import RubricItem


class DataFlowParams(BaseModel):
    """Build positives, minimal-modification negatives and span labels (same options as rtt data negatives)."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(
        min_length=1,
        description="Rubric item files (any format rtt rubrics imports), e.g. "
        "the train and val splits of build-rubric-dataset.",
    )
    out_dir: str = Field(min_length=1, description="Output folder: spans.parquet, report.md and resumable shards.")
    build: BuildConfig = Field(default_factory=BuildConfig, description="How negatives and spans are built.")
    llm: LLMConfig | None = Field(None, description="Generator endpoint (needed by mode llm and both).")
    judge: LLMConfig | None = Field(None, description="Judge endpoint for LLM-judged rubrics; empty: none.")
    positives: str | None = Field(
        None,
        description="JSONL of {response, item_id | key | prompt}: existing "
        "responses used as positives (an unmatched row is an error unless lenient); "
        "empty: policy samples or templates.",
    )
    lenient: bool = Field(False, description="Report positives rows that match no item instead of failing.")
    positives_from: PolicySampleConfig | None = Field(
        None, description="Sample positives from a policy (K per prompt): the pairs are made of its responses."
    )
    max_items: int | None = Field(None, ge=1, description="Use the first N items only; empty: all.")
    batch_size: int = Field(16, ge=1, description="Items per task.")
    concurrency_limit: str | None = Field(
        None,
        description="Name of a Prefect global concurrency limit that every "
        "LLM request occupies (bounds the endpoint across runs); empty: none.",
    )
    create_limit: bool = Field(True, description="Create the concurrency limit (max_concurrency slots) if missing.")
    rate_limit: str | None = Field(
        None, description="Name of a Prefect rate limit (a limit with slot decay) taken per request; empty: none."
    )


def artifact_key(out_dir: str) -> str:
    return _artifact_key("disc-data", out_dir.rstrip("/").split("/")[-1], default="dataset")


class PrefectLimitedClient:
    """Wraps an :class:`~rubrics.llm.LLMClient`: each ``chat`` occupies a Prefect concurrency slot (and a rate-limit
    token) around the client's own semaphore."""

    def __init__(self, client: Any, limit: str | None, rate: str | None):
        self.client, self.limit, self.rate = client, limit, rate
        self.stats = client.stats

    async def chat(self, messages: list[dict], **kwargs: Any) -> str:
        from prefect.concurrency.asyncio import concurrency, rate_limit

        if self.rate:
            await rate_limit(self.rate, occupy=1, strict=False)
        if self.limit:
            async with concurrency(self.limit, occupy=1, strict=False):
                return await self.client.chat(messages, **kwargs)
        return await self.client.chat(messages, **kwargs)

    async def aclose(self) -> None:
        await self.client.aclose()


async def ensure_limit(name: str, slots: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))


@task(name="load-rubric-items", retries=1)
def load_items_task(inputs: list[str], max_items: int | None) -> list[RubricItem]:
    from rubrics.importers import import_all

    items = import_all(list(inputs)).items  # one duplicate rule across all inputs; an empty file is an error
    return items[:max_items] if max_items else items


@task(name="programmatic-pairs", cache_policy=INPUTS + TASK_SOURCE, retries=1)
def programmatic_task(
    items: list[RubricItem], config: BuildConfig, positives: dict[str, list[str]], source: str = "given"
) -> list[PairRecord]:
    out: list[PairRecord] = []
    for item in items:
        out.extend(programmatic_item(item, config, responses=positives.get(item.id), positive_source=source))
    return out


@task(name="sample-policy", retries=0)
def sample_policy_task(items: list[RubricItem], cfg: PolicySampleConfig, out_dir: str) -> dict[str, list[str]]:
    """K policy responses per item (resumable file ``out_dir/policy_samples.jsonl``)."""
    from discriminator.data.policy_samples import sample_policy

    return sample_policy(items, cfg, Path(out_dir) / "policy_samples.jsonl", warn=get_run_logger().warning)


@task(name="llm-pairs", cache_policy=INPUTS + TASK_SOURCE, retries=2, retry_delay_seconds=5)
async def llm_task(
    items: list[RubricItem],
    config: BuildConfig,
    llm: LLMConfig,
    judge: LLMConfig | None,
    positives: dict[str, str],
    concurrency_limit: str | None = None,
    rate_limit: str | None = None,
) -> dict[str, Any]:
    """Records of a batch, items concurrently; the client is built here from the config (never a cache input)."""
    import asyncio

    from discriminator.data.llm_generation import GenerationStats
    from rubrics.llm import LLMClient

    client = PrefectLimitedClient(LLMClient(llm), concurrency_limit, rate_limit)
    judge_obj = None
    if judge is not None:
        from rubrics.judge import LLMJudge

        judge_obj = LLMJudge(LLMClient(judge))
    stats = GenerationStats()
    try:
        batches = await asyncio.gather(
            *(llm_item(it, config, client, judge=judge_obj, stats=stats, positive=positives.get(it.id)) for it in items)
        )
    finally:
        await client.aclose()
        if judge_obj is not None:
            await judge_obj.client.aclose()
    summary = stats.model_dump()
    summary["rejected"] = dict(stats.rejected)
    summary["max_in_flight"] = client.stats.max_in_flight
    return {"records": [r for b in batches for r in b], "stats": summary}


@task(name="consolidate-spans")
def consolidate_task(out_dir: str, config: BuildConfig, items: list[RubricItem]) -> BuildReport:
    return consolidate(out_dir, config, items=items)


def _batches(items: list[RubricItem], size: int) -> list[list[RubricItem]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _store(store: ShardStore, source: str, batch: list[RubricItem], records: list[PairRecord]) -> list[str]:
    """Write a batch's records; return the items left undone because an LLM call failed (a rerun retries them)."""
    by_item: dict[str, list[PairRecord]] = {it.id: [] for it in batch}
    for rec in records:
        by_item.setdefault(rec.item_id, []).append(rec)
    return [item_id for item_id, recs in by_item.items() if not write_item_records(store, source, item_id, recs)]


@flow(name="build-discriminator-data", log_prints=False)
async def build_discriminator_data(params: DataFlowParams) -> BuildReport:
    """Build (or resume) the span-labelled discriminator dataset; publish per-family counts and sample diffs.

    Args:
        params: Rubric item files, output folder, build mode and the optional LLM endpoints.
    """
    logger = get_run_logger()
    config = params.build
    if "llm" in config.sources and params.llm is None:
        raise ValueError("mode 'llm'/'both' needs params.llm (the generator endpoint)")
    items = load_items_task(params.inputs, params.max_items)
    ids = {it.id for it in items}
    positives: dict[str, list[str]] = {}
    source = "given"
    if params.positives:
        from discriminator.data.positives import load_positives

        positives, matching = load_positives(params.positives, items, lenient=params.lenient)
        if matching.unmatched:
            logger.warning("%d --positives rows match no item", len(matching.unmatched))
    elif params.positives_from is not None:
        positives, source = sample_policy_task(items, params.positives_from, params.out_dir), "policy"
    positives = {k: v for k, v in positives.items() if k in ids}
    store = ShardStore(params.out_dir)
    llm_stats: dict[str, Any] = {}
    if "program" in config.sources:
        todo = todo_items(store, "program", items, positives, source)
        futures = []
        for b in _batches(todo, params.batch_size):
            given = {it.id: positives[it.id] for it in b if it.id in positives}
            futures.append((b, programmatic_task.submit(b, config, given, source)))
        for k, (batch, fut) in enumerate(futures, start=1):
            _store(store, "program", batch, fut.result())
            logger.info("programmatic: %d/%d batches", k, len(futures))
    if "llm" in config.sources:
        assert params.llm is not None
        if params.concurrency_limit and params.create_limit:
            await ensure_limit(params.concurrency_limit, params.llm.max_concurrency)
        todo = todo_items(store, "llm", items, positives, source)
        batches = _batches(todo, params.batch_size)
        failed: list[str] = []
        for k, batch in enumerate(batches, start=1):
            given = {it.id: positives[it.id][0] for it in batch if it.id in positives}
            args = (batch, config, params.llm, params.judge, given, params.concurrency_limit, params.rate_limit)
            out = await llm_task(*args)
            if any(call_failed(r) for r in out["records"]):
                # failed calls are never reused from the task cache: an earlier run's outage would else be
                # replayed forever; ask again (this overwrites the cached result)
                out = await llm_task.with_options(refresh_cache=True)(*args)
            failed.extend(_store(store, "llm", batch, out["records"]))
            for key, v in out["stats"].items():
                if isinstance(v, dict):
                    llm_stats.setdefault(key, {})
                    for kk, vv in v.items():
                        llm_stats[key][kk] = llm_stats[key].get(kk, 0) + vv
                elif key == "max_in_flight":
                    llm_stats[key] = max(llm_stats.get(key, 0), v)
                else:
                    llm_stats[key] = llm_stats.get(key, 0) + v
            logger.info("llm: %d/%d batches", k, len(batches))
    report = consolidate_task(params.out_dir, config, items)
    report.llm = llm_stats
    if "llm" in config.sources and failed:
        report.failed_items, report.failures = len(failed), failed[:20]
        logger.warning(
            "%d items had failed LLM calls and are not done (a rerun retries them), first: %s", len(failed), failed[0]
        )
    key = artifact_key(params.out_dir)
    first = ("family", "source", "accepted", "coverage", "acceptance")
    rows = [{**{k: r[k] for k in first if k in r}, **r} for r in report.table_rows()]
    parts = fit_rows(rows)
    for k, part in enumerate(parts, start=1):
        await create_table_artifact(
            table=part,
            key=key if k == 1 else f"{key}-{k}",
            description=f"{report.items} items, {report.pairs} pairs, {report.rows} rows ({config.mode}, policy "
            f"{config.policy})" + (f", columns {k}/{len(parts)}" if len(parts) > 1 else ""),
        )
    await create_markdown_artifact(
        markdown=fit_markdown(report.to_markdown()),
        key=f"{key}-report",
        description="Discriminator data report with sample diffs",
    )
    logger.info("built %d pairs / %d rows into %s", report.pairs, report.rows, params.out_dir)
    return report
