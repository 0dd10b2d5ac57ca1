"""``rtt data ...``: build discriminator training data (positives, minimal-modification negatives, spans)."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli.common import fail

app = typer.Typer(no_args_is_help=True)


def _llm_config(base_url: str | None, model: str | None, max_concurrency: int, what: str, retries: int = 5):
    from rubrics.llm import LLMConfig

    if not base_url or not model:
        fail(f"{what} needs --llm-base-url and --llm-model")
    return LLMConfig(base_url=base_url, model=model, max_concurrency=max_concurrency, max_retries=retries)


@app.command("negatives")
def negatives(
    items: list[str] = typer.Option(..., "--items", "-i", help="Rubric item file(s): IFEval/MulDimIF/our JSONL/..."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (shards, spans.parquet, report)."),
    mode: str = typer.Option("programmatic", "--mode", help="programmatic | llm | both."),
    llm_base_url: str | None = typer.Option(None, "--llm-base-url", help="OpenAI-compatible endpoint (…/v1)."),
    llm_model: str | None = typer.Option(None, "--llm-model", help="Model name at the endpoint."),
    max_concurrency: int = typer.Option(8, "--max-concurrency", min=1, help="Requests in flight to the endpoint."),
    llm_retries: int = typer.Option(
        5,
        "--llm-retries",
        min=0,
        help="Retries of a failed request (with back-off), of every endpoint: LLM, judge and --policy-base-url.",
    ),
    judge_base_url: str | None = typer.Option(None, "--judge-base-url", help="Judge endpoint for LLM rubrics."),
    judge_model: str | None = typer.Option(None, "--judge-model", help="Judge model name."),
    seed: int = typer.Option(0, help="Seed of the item-level train/val/test split."),
    val_frac: float = typer.Option(0.1, "--val-frac", min=0.0, max=1.0),
    test_frac: float = typer.Option(0.1, "--test-frac", min=0.0, max=1.0),
    policy: str = typer.Option("reject", "--policy", help="Collateral flips of other rubrics: reject | flag."),
    paper_jsonl: bool = typer.Option(False, "--paper-jsonl/--no-paper-jsonl", help="Also write paper/{split}.jsonl."),
    positives: Path | None = typer.Option(
        None,
        "--positives",
        help="JSONL of existing responses {response, item_id | key | prompt}: the main path. "
        "Passing rules are broken, failing ones repaired; items without one use a template.",
    ),
    positives_from: str | None = typer.Option(
        None,
        "--positives-from",
        help="Sample positives from a policy: 'smollm2' (offline SmolLM2-135M-Instruct), an "
        "HF model folder / hub id, or a model name at --policy-base-url.",
    ),
    policy_base_url: str | None = typer.Option(
        None, "--policy-base-url", help="OpenAI-compatible endpoint (…/v1) of --positives-from."
    ),
    samples: int = typer.Option(2, "--samples", "-k", min=1, help="Responses sampled per prompt (--positives-from)."),
    max_new_tokens: int = typer.Option(192, "--max-new-tokens", min=1, help="Tokens per sampled response."),
    temperature: float = typer.Option(0.8, "--temperature", min=0.0, help="Sampling temperature of the policy."),
    resample: bool = typer.Option(
        False,
        "--resample",
        help="Samples in OUT/policy_samples.jsonl taken with other "
        "settings (model, endpoint, -k, --max-new-tokens, "
        "--temperature): discard them and sample again "
        "(default: stop with an error).",
    ),
    content_match: str = typer.Option(
        "minilm", "--content-match", help="Sentence of an LLM-judged criterion in a real response: minilm | lexical."
    ),
    workers: int = typer.Option(
        0, "--workers", min=0, help="Processes for programmatic pairs (0: one per core for >= 200 items)."
    ),
    max_items: int | None = typer.Option(None, "--max-items", min=1, help="Only the first N items."),
    anchor: str = typer.Option("word", "--anchor", help="Span anchor of insertions: word | adjacent | none."),
    expand_words: bool = typer.Option(True, "--expand-words/--no-expand-words", help="Snap spans to whole words."),
    strict: bool = typer.Option(
        True,
        "--strict/--lenient",
        help="Strict: stop at the first bad record, conflicting duplicate id or --positives "
        "row that matches no item. Lenient: leave it out and list it.",
    ),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Accept an --items file without any record."),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Redo items whose shard or done line is corrupt (default: stop with an error naming file:line).",
    ),
    max_failure_rate: float = typer.Option(
        0.0,
        "--max-failure-rate",
        min=0.0,
        max=1.0,
        help="Exit 1 when more than this fraction of items had failed LLM calls "
        "(those items are not marked done: a rerun retries them).",
    ),
) -> None:
    """Build span-labelled (positive, minimal-modification negative) pairs, resumably.

    Positives come from real responses (--positives, or --positives-from a policy); templates are the fallback."""
    from pydantic import ValidationError
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    from discriminator.data.build import BuildConfig, ShardError, build_discriminator_dataset
    from discriminator.data.diff_labels import SpanOptions
    from rubrics.importers import import_all
    from rubrics.io import RecordError

    console, err = Console(), Console(stderr=True)
    if mode not in ("programmatic", "llm", "both"):
        fail(f"--mode must be programmatic, llm or both, got {mode!r}")
    if policy not in ("reject", "flag"):
        fail(f"--policy must be reject or flag, got {policy!r}")
    if positives and positives_from:
        fail("use either --positives (existing responses) or --positives-from (a policy), not both")
    try:
        config = BuildConfig(
            mode=mode,
            policy=policy,
            seed=seed,
            val_frac=val_frac,
            test_frac=test_frac,
            paper_jsonl=paper_jsonl,
            spans=SpanOptions(anchor=anchor, expand_words=expand_words),
            content_match=content_match,
            workers=workers,
        )
    except ValidationError as exc:
        fail(exc.errors()[0]["msg"])
    llm = judge = None
    if mode != "programmatic":
        llm = _llm_config(llm_base_url, llm_model, max_concurrency, f"--mode {mode}", llm_retries)
    if judge_base_url or judge_model:
        judge = _llm_config(judge_base_url, judge_model, max_concurrency, "the judge", llm_retries)
    from discriminator.data.positives import load_positives

    given, matching, source = None, None, "given"
    try:
        imported = import_all(items, strict=strict, allow_empty=allow_empty)
        loaded = imported.items[:max_items] if max_items else imported.items
        if positives:
            given, matching = load_positives(positives, loaded, lenient=not strict)
    except RecordError as exc:
        fail(f"{exc}" + (" (use --lenient to leave it out)" if strict and "--lenient" not in str(exc) else ""))
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if imported.rejected:
        err.print(
            f"[yellow]{len(imported.rejected)} records left out[/], first: {escape(str(imported.rejected[0]))}",
            highlight=False,
            soft_wrap=True,
            emoji=False,
        )
    if imported.empty_sources:
        err.print(f"[yellow]warning:[/] no records in {escape(', '.join(imported.empty_sources))}", highlight=False)
    if matching is not None and matching.unmatched:
        err.print(
            f"[yellow]warning:[/] {len(matching.unmatched)} of {matching.rows} --positives rows match no item "
            "(listed in report.json under 'given'): lines " + ", ".join(str(u.line) for u in matching.unmatched[:20]),
            highlight=False,
        )
    if positives_from:
        given, source = _sample_policy(
            loaded,
            out,
            positives_from,
            policy_base_url,
            samples,
            max_new_tokens,
            temperature,
            resample,
            err,
            llm_retries,
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        bars: dict[str, int] = {}

        def tick(source: str, done: int, total: int) -> None:
            if source not in bars:
                bars[source] = progress.add_task(f"{source} pairs", total=total)
            progress.update(bars[source], completed=done, total=total)

        try:
            report = build_discriminator_dataset(
                loaded,
                out,
                config,
                llm_config=llm,
                judge_config=judge,
                positives=given,
                positive_source=source,
                progress=tick,
                repair=repair,
            )
        except ShardError as exc:
            fail(f"{exc} (rerun with --repair to redo the affected item)")
        except OSError as exc:
            fail(str(exc))
    if matching is not None:
        report.given = matching.model_dump()
        from rubrics.io import atomic_open

        with atomic_open(out / "report.json") as fh:
            fh.write(report.model_dump_json(indent=2))
    table = Table(title=f"discriminator data ({mode}, policy {policy})")
    table.add_column("family", overflow="fold", min_width=24)
    for col in ("src", "tried", "ok", "flag", "rej", "unsup", "cov"):
        table.add_column(col, justify="left" if col == "src" else "right", no_wrap=True)
    for f in report.families:
        table.add_row(
            f.family,
            f.source,
            str(f.attempted),
            str(f.accepted),
            str(f.flagged),
            str(f.rejected),
            str(f.unsupported),
            f"{f.coverage:.0%}",
        )
    console.print(table)
    console.print(
        f"{report.items} items ({report.items_skipped} resumed), {report.pairs} pairs, {report.rows} rows; "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.splits.items()))
        + f" -> {out}"
    )
    if report.rebuilt:
        console.print(
            f"rebuilt {len(report.rebuilt)} item records made from other positives or item content "
            f"(first: {report.rebuilt[0]})",
            highlight=False,
        )
    if report.positive_sources:
        console.print(
            "pairs by positive source / edit: "
            + ", ".join(f"{k} {v}" for k, v in sorted(report.positive_sources.items()))
            + f"; template fallback items {report.template_fallback_items}; unverified pairs {report.unverified_pairs}"
        )
    if report.llm:
        rej = report.llm.get("rejected", {})
        console.print(
            "LLM: accepted {} flagged {} rejected {} ({})".format(
                report.llm.get("accepted", 0),
                report.llm.get("flagged", 0),
                sum(rej.values()),
                ", ".join(f"{k} {v}" for k, v in rej.items()) or "-",
            )
        )
    if report.failed_items:
        rate = report.failed_items / max(1, len(loaded))
        msg = (
            f"{report.failed_items} items had failed LLM calls (not marked done; a rerun retries them), "
            f"first: {report.failures[0] if report.failures else '?'}"
        )
        if rate > max_failure_rate:
            fail(msg + f" - failure rate {rate:.0%} is above --max-failure-rate {max_failure_rate:g}")
        err.print(f"[yellow]warning:[/] {escape(msg)}", highlight=False, soft_wrap=True, emoji=False)


def _sample_policy(
    items,
    out: Path,
    model: str,
    base_url: str | None,
    k: int,
    max_new_tokens: int,
    temperature: float,
    resample: bool,
    err,
    retries: int = 5,
) -> tuple[dict[str, list[str]], str]:
    """K policy samples per item, cached (resumably) in ``out/policy_samples.jsonl``."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from discriminator.data.policy_samples import PolicySampleConfig, sample_policy

    cfg = PolicySampleConfig(
        model=model,
        base_url=base_url,
        k=k,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        resample=resample,
        max_retries=retries,
    )

    def warn(message: str) -> None:
        err.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        bar = progress.add_task(f"sampling {model}", total=len(items))
        try:
            got = sample_policy(
                items,
                cfg,
                out / "policy_samples.jsonl",
                warn=warn,
                progress=lambda d, n: progress.update(bar, completed=d, total=n),
            )
        except (OSError, RuntimeError, ValueError) as exc:
            fail(f"--positives-from {model}: {exc}")
    return got, "policy"


@app.command("greedy")
def greedy(
    rows: Path = typer.Option(..., "--rows", help="spans.parquet (or .jsonl) whose (criteria, response) to label."),
    out: Path = typer.Option(..., "--out", "-o", help="Output rows file (.parquet or .jsonl)."),
    llm_base_url: str = typer.Option(..., "--llm-base-url"),
    llm_model: str = typer.Option(..., "--llm-model"),
    max_concurrency: int = typer.Option(8, "--max-concurrency", min=1),
    fuzzy_threshold: float = typer.Option(90.0, "--fuzzy-threshold", help="rapidfuzz score to accept a fuzzy quote."),
) -> None:
    """Label responses with the greedy quote-the-spans LLM baseline (label_source 'greedy')."""
    import asyncio

    from rich.console import Console

    from discriminator.data.greedy import greedy_label
    from discriminator.data.schema import read_rows, write_rows
    from rubrics.llm import LLMClient, LLMConfig

    try:
        src = read_rows(rows)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    client = LLMClient(LLMConfig(base_url=llm_base_url, model=llm_model, max_concurrency=max_concurrency))

    async def run():
        try:
            return await asyncio.gather(
                *(greedy_label(client, r.criteria, r.response, fuzzy_threshold=fuzzy_threshold) for r in src)
            )
        finally:
            await client.aclose()

    results = asyncio.run(run())
    out_rows, errors, unmatched = [], 0, 0
    for r, res in zip(src, results):
        if res.error:
            errors += 1
            continue
        unmatched += len(res.unmatched)
        out_rows.append(
            r.model_copy(
                update={
                    "id": r.id + ":greedy",
                    "char_spans": res.spans,
                    "label_source": "greedy",
                    "meta": {**r.meta, "greedy_type": res.type, "unmatched": res.unmatched},
                }
            )
        )
    write_rows(out, out_rows)
    Console().print(f"{len(out_rows)} rows labelled, {errors} unusable answers, {unmatched} unmatched quotes -> {out}")
