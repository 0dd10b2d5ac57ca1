"""``rtt eval policy``: instruction-following accuracy of a policy (local model or OpenAI-compatible endpoint)."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli.common import fail

app = typer.Typer(no_args_is_help=True)


@app.command("policy")
def policy(
    model: str = typer.Option(
        ..., "--model", "-m", help="Local model folder / hub id, or with --base-url the served model name."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."
    ),
    benchmark: str = typer.Option("ifeval", "--benchmark", "-b", help="ifeval, muldimif, ifbench or a rubric FILE."),
    format: str = typer.Option("auto", "--format", "-f", help="Record format of a FILE (auto-detected)."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Evaluate the first N prompts."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder (default runs/eval-<benchmark>-<model>)."),
    max_new_tokens: int = typer.Option(1024, "--max-new-tokens", min=1),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Local generation batch size."),
    max_concurrency: int = typer.Option(8, "--max-concurrency", min=1, help="Concurrent endpoint requests."),
    system_prompt: str | None = typer.Option(None, "--system-prompt"),
    dtype: str | None = typer.Option(None, "--dtype", help="Local model dtype: float32, bfloat16, float16."),
    judge_base_url: str | None = typer.Option(
        None, "--judge-base-url", help="LLM judge endpoint for rubrics without a rule."
    ),
    judge_model: str | None = typer.Option(None, "--judge-model"),
    judge_cache: Path | None = typer.Option(None, "--judge-cache", help="On-disk judge verdict cache folder."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Generate one response per prompt, check each rubric (strict and loose) and report prompt-level and
    rubric-level accuracy as a table, report.json / report.md and responses.jsonl."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from grpo.evaluate import TABLE_HEADER, GenerationConfig, PolicyEvalConfig, run_evaluation

    if bool(judge_base_url) != bool(judge_model):
        fail("--judge-base-url and --judge-model go together")
    judge = None
    if judge_base_url:
        judge = {"base_url": judge_base_url, "model": judge_model, "max_tokens": 8}
        if judge_cache:
            judge["cache_dir"] = str(judge_cache)
    if out is None:
        tag = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(model.rstrip("/")).name)
        out = Path("runs") / f"eval-{Path(benchmark).stem}-{tag}"
    try:
        cfg = PolicyEvalConfig(
            model=model,
            base_url=base_url,
            benchmark=benchmark,
            format=format,
            limit=limit,
            out=str(out),
            dtype=dtype,
            max_concurrency=max_concurrency,
            judge=judge,
            generation=GenerationConfig(
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                batch_size=batch_size,
                system_prompt=system_prompt,
                seed=seed,
            ),
        )
    except ValueError as exc:
        fail(str(exc))
    err = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            report = run_evaluation(cfg, progress=on_progress)
        except (FileNotFoundError, ValueError, RuntimeError) as exc:
            fail(str(exc).splitlines()[0])
    table = Table(title=f"{report.benchmark} — {report.model}")
    for i, col in enumerate(TABLE_HEADER):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in report.table_rows():
        table.add_row(*row)
    console = Console()
    console.print(table)
    if report.undecided:
        console.print(
            f"{report.undecided} rubric verdicts undecided (counted as not followed): {report.methods}", highlight=False
        )
    console.print(f"report: {out / 'report.json'}", highlight=False)
