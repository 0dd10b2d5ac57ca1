"""``rtt rubrics ...``: import, validate, split and judge rubric datasets."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from flows.cli import common

app = typer.Typer(no_args_is_help=True)


FORMAT_HELP = (
    "Record format (auto-detected from the first record by default): ifeval, ifbench, muldimif, rar, healthbench, "
    "tulu, rtt, generic; or a container (jsonl, parquet, hf) whose records are auto-detected."
)


@app.command("build")
def build(
    sources: list[str] = typer.Argument(
        ...,
        metavar="SOURCE...",
        help="Files (.jsonl/.json/.parquet), save_to_disk folders or hub ids; 'name=path' sets the id prefix.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (train/val/test Parquet + JSONL, report)."),
    format: str = typer.Option("auto", "--format", "-f", help=FORMAT_HELP),
    seed: int = typer.Option(0, help="Seed of the hash-based train/val/test split."),
    val_frac: float = typer.Option(0.1, "--val-frac", min=0.0, max=1.0, help="Fraction of items in val."),
    test_frac: float = typer.Option(0.1, "--test-frac", min=0.0, max=1.0, help="Fraction of items in test."),
    strict: bool = typer.Option(
        True,
        "--strict/--lenient",
        help="Strict: stop at the first bad record (nothing written). Lenient: skip it and report it.",
    ),
    name: str = typer.Option("rubrics", "--name", help="Dataset name (report title)."),
    split: str | None = typer.Option(None, "--split", help="Hugging Face split to read (default: all)."),
    id_col: str | None = typer.Option(None, "--id-col", help="Generic format: the id column."),
    prompt_col: str | None = typer.Option(None, "--prompt-col", help="Generic format: the prompt column."),
    messages_col: str | None = typer.Option(None, "--messages-col", help="Generic format: the chat column."),
    rubrics_col: str | None = typer.Option(
        None, "--rubrics-col", help="Generic format: the rubric column, or a dotted path (reward_model.rubrics)."
    ),
    pitfall_polarity: str = typer.Option(
        "auto",
        "--pitfall-polarity",
        help="What a negative-weight criterion's text describes: describes-bad (kept as a pitfall), describes-good "
        "(becomes a requirement of weight |w|) or auto (the rubric's/record's 'polarity' field, else the format's "
        "convention, else a heuristic; counted in the report).",
    ),
    rtt: bool = typer.Option(False, "--rtt/--no-rtt", help="Also write the RTT paper's training JSONL (rtt/)."),
    allow_empty: bool = typer.Option(
        False,
        "--allow-empty",
        help="Accept a SOURCE file without any record, and (with --lenient) write an empty dataset when every "
        "record is rejected (default: both exit 1).",
    ),
) -> None:
    """Import rubric sources into one deduplicated, split dataset with a report."""
    from pydantic import ValidationError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from rubrics.build import build_rubric_dataset
    from rubrics.importers import FORMATS, PitfallPolarity, SourceSpec
    from rubrics.io import RecordError

    console, err = Console(), Console(stderr=True)

    def fail(message: str) -> NoReturn:
        common.fail(message, err)

    if format not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    polarities = PitfallPolarity.__args__  # type: ignore[attr-defined]
    if pitfall_polarity not in polarities:
        fail(f"--pitfall-polarity must be one of {', '.join(polarities)}, got {pitfall_polarity!r}")
    columns = {
        k: v
        for k, v in (("id", id_col), ("prompt", prompt_col), ("messages", messages_col), ("rubrics", rubrics_col))
        if v
    }
    try:
        specs = [
            SourceSpec.parse(s, format=format, split=split, columns=columns, pitfall_polarity=pitfall_polarity)
            for s in sources
        ]
    except ValidationError as exc:
        fail(f"bad SOURCE: {exc.errors()[0]['msg']}")
    fractions = (1.0 - val_frac - test_frac, val_frac, test_frac)

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        tasks: dict[str, int] = {}

        def on_progress(label: str, done: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task("writing" if label == "write" else f"reading {label}", total=total)
            progress.update(tasks[label], completed=done, total=total)

        try:
            report = build_rubric_dataset(
                specs,
                out,
                seed=seed,
                split_fractions=fractions,
                strict=strict,
                name=name,
                export_rtt=rtt,
                on_progress=on_progress,
                allow_empty=allow_empty,
            )
        except RecordError as exc:
            fail(f"{exc} (use --lenient to skip bad records)")
        except (OSError, ValueError, KeyError, ImportError) as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    table = Table(title=f"{report.name}: {report.items} items, {report.rubrics} rubrics -> {report.out_dir}")
    for col in ("source", "format", "read", "imported", "duplicates", "rejected"):
        table.add_column(col, justify="left" if col in ("source", "format") else "right")
    for s in report.sources:
        table.add_row(s.name, s.format, str(s.read), str(s.imported), str(s.duplicates), str(s.rejected))
    console.print(table)
    splits = ", ".join(f"{k} {v}" for k, v in report.splits.items())
    verifiers = ", ".join(f"{k} {v}" for k, v in report.verifiers.items())
    console.print(f"splits: {splits}; verifiers: {verifiers}; report: {Path(report.out_dir) / 'report.md'}")
    if report.pitfall_polarity:
        console.print("pitfall polarity: " + ", ".join(f"{k} {v}" for k, v in report.pitfall_polarity.items()))
    if report.rejected_total:
        first = report.rejected[0]
        console.print(
            f"[yellow]{report.rejected_total} records rejected[/], first: {first.where}: "
            f"{first.field or ''} {first.reason}",
            highlight=False,
        )


@app.command("judge")
def judge(
    items: Path = typer.Argument(..., help="Rubric dataset: canonical Parquet or JSONL of RubricItem."),
    responses: Path = typer.Argument(
        ..., help="JSONL of {'response', and 'item_id' | 'key' | 'prompt'} (IFEval's input_response_data works)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: verdicts.jsonl, report.json, report.md."),
    llm_base_url: str | None = typer.Option(
        None, "--llm-base-url", help="OpenAI-compatible endpoint for LLM rubrics (without it they are 'no_judge')."
    ),
    llm_model: str | None = typer.Option(None, "--llm-model", help="Judge model name (with --llm-base-url)."),
    llm_concurrency: int = typer.Option(8, "--llm-concurrency", min=1, help="Concurrent judge requests."),
    llm_retries: int = typer.Option(5, "--llm-retries", min=0, help="Retries of a failed judge request (back-off)."),
    llm_max_tokens: int | None = typer.Option(
        None, "--llm-max-tokens", min=1, help="Token budget of a judge answer (default: the client's)."
    ),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="On-disk cache of decided judge verdicts (key: model, endpoint, max tokens, template).",
    ),
    refresh: bool = typer.Option(False, "--refresh", help="Ask the judge again even for cached verdicts."),
    max_judge_failure_rate: float = typer.Option(
        0.1,
        "--max-judge-failure-rate",
        min=0.0,
        max=1.0,
        help="Exit 1 when more than this fraction of LLM verdicts failed (connection, http_error, parse_failure).",
    ),
    allow_judge_failures: bool = typer.Option(
        False, "--allow-judge-failures", help="Exit 0 whatever the judge failure rate (the summary still says it)."
    ),
    title: str | None = typer.Option(None, "--title", help="Report title."),
) -> None:
    """Verdict of every response on every rubric (rules first, then the LLM judge); strict and loose accuracy."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from rubrics.io import RecordError
    from rubrics.judge_report import ajudge_files
    from rubrics.rules import NltkDataMissing
    from rubrics.verdicts import run_sync

    console, err = Console(), Console(stderr=True)

    def fail(message: str) -> NoReturn:
        common.fail(message, err)

    if bool(llm_base_url) != bool(llm_model):
        fail("--llm-base-url and --llm-model go together")
    for p in (items, responses):
        if not p.exists():
            fail(f"{p}: no such file")
    judge_obj = None
    if llm_base_url:
        from rubrics.judge import LLMJudge
        from rubrics.llm import LLMClient, LLMConfig

        judge_obj = LLMJudge(
            LLMClient(
                LLMConfig(
                    base_url=llm_base_url, model=llm_model, max_concurrency=llm_concurrency, max_retries=llm_retries
                )
            ),
            cache_dir=cache_dir,
            max_tokens=llm_max_tokens,
            refresh=refresh,
        )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("rules + LLM judge", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, description="LLM judge", completed=done, total=total)

        async def run():
            try:
                return await ajudge_files(items, responses, out, judge=judge_obj, progress=on_progress, title=title)
            finally:
                if judge_obj is not None:
                    await judge_obj.client.aclose()
                    judge_obj.close()

        try:
            report = run_sync(run())
        except (RecordError, NltkDataMissing) as exc:
            fail(str(exc))
        except (OSError, ValueError) as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    table = Table(title=f"{report.responses} responses, {report.rubrics} verdicts -> {out}")
    for col in ("metric", "strict", "loose"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    table.add_row(
        "prompt-level acc", f"{100 * report.strict.prompt_level:.2f}%", f"{100 * report.loose.prompt_level:.2f}%"
    )
    table.add_row(
        "instruction-level acc",
        f"{100 * report.strict.instruction_level:.2f}%",
        f"{100 * report.loose.instruction_level:.2f}%",
    )
    console.print(table)
    console.print(
        "methods: " + ", ".join(f"{k} {v}" for k, v in report.methods.items() if v),
        highlight=False,
        markup=False,
        emoji=False,
    )
    if report.unsupported:
        # rule ids such as ifbench:repeat:repeat_span must print as they are (no markup, no :emoji: codes)
        console.print(
            f"[yellow]unsupported rules[/] (counted as not followed): {escape(str(report.unsupported))}",
            highlight=False,
            emoji=False,
        )
    failed = sum(report.judge_failures.values())
    if failed:
        kinds = ", ".join(f"{k} {v}" for k, v in report.judge_failures.items() if v)
        line = (
            f"{failed} LLM verdicts failed ({kinds}; {report.judge_failure_rate:.0%} of judged): "
            "counted as not followed"
        )
        if report.judge_failure_rate > max_judge_failure_rate and not allow_judge_failures:
            fail(
                f"{line}; above --max-judge-failure-rate {max_judge_failure_rate:g} (pass --allow-judge-failures "
                "to accept)"
            )
        err.print(f"[bold yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
