"""``rtt pipeline run``: the whole pipeline (``rtt-pipeline`` flow) from a YAML config, with rich progress.

Also the shared runner of ``rtt demo``. The flow runs in this process: against the Prefect server of
``PREFECT_API_URL`` when one is configured (the run shows up in its UI), else in Prefect's ephemeral mode (a
temporary local API started for this process, runs recorded in ``$PREFECT_HOME``).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path
from typing import Any

import typer

from flows.cli.common import fail

app = typer.Typer(no_args_is_help=True)

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = ROOT / "configs" / "demo.yaml"
STAGE_EVENT = re.compile(r"^\[stage\] (\S+) (start|ran|cached|skipped|failed)\b(.*)$", re.S)

#: process environment defaults for offline runs; values the user set win.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' "Loading weights" bars
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # a loaded 2-core machine needs more than Prefect's 20 s default to start the ephemeral API
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    # OpenMP threads sleep instead of spinning while waiting: on a small shared CPU, spinning torch threads
    # slowed MiniLM training steps 4x and SmolLM2 decoding 2x (measured on the 2-core dev machine under load)
    "OMP_WAIT_POLICY": "PASSIVE",
}


def prepare_env() -> None:
    """Offline defaults (never overriding what is set) and an ``nltk_data`` folder beside the checkout if present.

    Must run before Prefect / transformers are imported."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    shared_nltk = ROOT.parent / "shared" / "nltk_data"
    if "NLTK_DATA" not in os.environ and shared_nltk.is_dir():
        os.environ["NLTK_DATA"] = str(shared_nltk)


def prefect_mode() -> str:
    """``server <url>`` when an API URL is configured (env or profile), else ``ephemeral``."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return f"server {url}" if url else "ephemeral"


class _StageHandler:
    """A logging handler (built lazily: it subclasses logging.Handler) that turns the pipeline's ``[stage]``
    log records into rich progress updates and shows the latest log line of the running stage."""

    @staticmethod
    def make(progress: Any, overall: int, console: Any, planned: list[str], verbose: bool):
        import logging

        class Handler(logging.Handler):
            def __init__(self) -> None:
                super().__init__(level=logging.INFO)
                self.current: str | None = None
                self.started = time.monotonic()
                self.done = 0

            def emit(self, record: logging.LogRecord) -> None:
                try:
                    msg = record.getMessage()
                except Exception:  # noqa: BLE001 - a bad record must not break the run
                    return
                m = STAGE_EVENT.match(msg)
                if m:
                    self._stage(m.group(1), m.group(2), m.group(3).lstrip(": ").strip())
                elif record.levelno >= logging.ERROR and not verbose:
                    pass  # the stage's ✗ line and the final error line say it once (not once per logger)
                elif record.levelno >= logging.WARNING and not verbose:
                    from rich.markup import escape

                    console.print(
                        f"[yellow]{record.levelname.lower()}:[/] {escape(msg.splitlines()[0][:300])}",
                        highlight=False,
                        emoji=False,
                    )
                elif self.current:
                    line = msg.splitlines()[0] if msg else ""
                    progress.update(overall, description=f"[bold]{self.current}[/] {line[:90]}")

            def _stage(self, stage: str, event: str, detail: str) -> None:
                n = len(planned)
                if event == "start":
                    self.current, self.started = stage, time.monotonic()
                    progress.update(overall, description=f"[bold]{stage}[/] running")
                    return
                self.done += 1
                progress.update(overall, completed=min(self.done, n), description=f"[bold]{stage}[/] {event}")
                color = {"ran": "green", "cached": "cyan", "skipped": "yellow", "failed": "red"}[event]
                mark = {"ran": "✓", "cached": "↺", "skipped": "–", "failed": "✗"}[event]
                if event == "failed":  # the error itself is the command's final error line
                    detail = "(see the error below)"
                from rich.markup import escape

                console.print(
                    f"[{color}]{mark}[/] [bold]{stage:<17}[/] [{color}]{event:<8}[/] {escape(detail[:160])}",
                    highlight=False,
                    emoji=False,
                )
                self.current = None

        return Handler()


def run_pipeline(params: Any, *, verbose: bool = False, title: str = "RTT pipeline") -> Any:
    """Run the ``rtt-pipeline`` flow in this process with a rich progress display; return its report."""
    import logging
    import warnings

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from flows.pipeline import planned_stages, rtt_pipeline

    console = Console(stderr=True)
    planned = planned_stages(params)
    mode = prefect_mode()
    console.print(f"[bold]{title}[/] [dim]({params.name})[/] -> {params.root}", highlight=False)
    console.print(f"stages: {', '.join(planned)}", highlight=False)
    if mode == "ephemeral":
        console.print(
            "Prefect: no API URL configured -> ephemeral mode (a temporary local API for this process; "
            f"runs recorded in {os.environ.get('PREFECT_HOME', '~/.prefect')})",
            highlight=False,
        )
    else:
        console.print(f"Prefect: {mode} (the run appears in its UI)", highlight=False)

    muted: list[tuple[logging.Handler, int]] = []
    if not verbose:  # Prefect's own console lines would tear the live display; the handler below shows them
        for h in logging.getLogger().handlers:
            muted.append((h, h.level))
            h.setLevel(logging.CRITICAL + 1)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
    t0 = time.perf_counter()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        overall = progress.add_task("starting Prefect", total=len(planned))
        handler = _StageHandler.make(progress, overall, console, planned, verbose)
        loggers = [logging.getLogger()]  # flow / task run records propagate to the root logger
        for lg in loggers:
            lg.addHandler(handler)
        try:
            with contextlib.ExitStack() as stack:
                if mode == "ephemeral":
                    from flows.prefect_local import temporary_api

                    progress.update(overall, description="starting Prefect's temporary local API (ephemeral mode)")
                    ts = time.perf_counter()
                    stack.enter_context(temporary_api())  # dies with this process, even on kill -9
                    _warm_up_api()
                    console.print(f"[dim]Prefect temporary API up in {time.perf_counter() - ts:.1f} s[/]")
                report = rtt_pipeline(params)
        finally:
            for lg in loggers:
                lg.removeHandler(handler)
            for h, level in muted:
                h.setLevel(level)
    console.print(f"[dim]total {time.perf_counter() - t0:.0f} s[/]")
    return report


def _warm_up_api() -> None:
    """Start (ephemeral mode) or reach the API once, so its start-up cost is shown apart from the stages."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.api_healthcheck()


def print_summary(report: Any) -> None:
    """Stage table, the two result tables and where the report and plots are."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"RTT pipeline {report.name}: {report.seconds:.0f} s", title_justify="left")
    for col in ("stage", "status", "seconds", "key numbers"):
        table.add_column(col, justify="right" if col == "seconds" else "left", overflow="fold")
    for s in report.stages:
        status = s.status + (f" (took {s.computed_seconds:.0f} s before)" if s.computed_seconds is not None else "")
        table.add_row(s.stage, status, f"{s.seconds:.1f}", s.summary(6) or s.note)
    console.print(table)
    for title, rows in (
        ("Discriminator vs baselines (test split)", report.disc_rows()),
        ("Policy before / after training (held-out prompts)", report.policy_rows()),
    ):
        if not rows:
            continue
        t = Table(title=title, title_justify="left")
        for col in rows[0]:
            t.add_column(str(col), justify="left" if col in ("method", "policy", "model") else "right")
        for r in rows:
            t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()])
        console.print(t)
    console.print(f"[bold]report:[/] {report.files.get('report.md')}", highlight=False)
    plots = report.plot_paths()
    if plots:
        console.print("[bold]plots:[/] " + ", ".join(plots.values()), highlight=False)
    console.print(f"[bold]outputs:[/] {report.run_dir}", highlight=False)


def run_from_config(
    config: Path | None,
    run_dir: str | None,
    name: str | None,
    stop_after: str | None,
    fresh: bool,
    sets: list[str],
    verbose: bool,
    title: str,
) -> None:
    """Shared body of ``rtt pipeline run`` and ``rtt demo``."""
    prepare_env()
    from flows.pipeline import STAGES, PipelineParams

    overrides = list(sets)
    if run_dir:
        overrides.append(f"run_dir={run_dir}")
    if name:
        overrides.append(f"name={name}")
    if stop_after:
        if stop_after not in STAGES:
            fail(f"--stop-after must be one of {', '.join(STAGES)}, got {stop_after!r}")
        overrides.append(f"stop_after={stop_after}")
    if fresh:
        overrides.append("resume=false")
    try:
        params = PipelineParams.from_yaml(config, overrides)
    except ValueError as exc:
        fail(str(exc))
    try:
        report = run_pipeline(params, verbose=verbose, title=title)
    except KeyboardInterrupt:
        from rich.console import Console

        Console(stderr=True).print(
            "[yellow]interrupted[/]: re-run the same command to resume (finished stages are reused)", highlight=False
        )
        raise typer.Exit(130) from None
    except Exception as exc:  # the stage error, already logged by Prefect
        report_md = params.root / "report.md"
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        extra = f"; partial report: {report_md}" if report_md.is_file() else ""
        fail(f"pipeline failed: {type(exc).__name__}: {msg}{extra} (re-run the same command to resume)")
    print_summary(report)


@app.command("run")
def run_cmd(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML of PipelineParams (default: all defaults)."),
    run_dir: str | None = typer.Option(None, "--run-dir", "-o", help="Output folder (overrides run_dir)."),
    name: str | None = typer.Option(None, "--name", help="Run name (artifact keys, review project)."),
    stop_after: str | None = typer.Option(None, "--stop-after", help="Last stage to run (e.g. disc-export)."),
    fresh: bool = typer.Option(False, "--fresh", help="Recompute every stage (ignore the cache of run_dir)."),
    sets: list[str] = typer.Option([], "--set", help="section.key=value (YAML value), e.g. --set policy_eval.limit=4."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every Prefect log line."),
) -> None:
    """Run the whole pipeline (rubrics -> data -> review -> discriminator -> RTT-GRPO -> evaluation); resumable."""
    run_from_config(config, run_dir, name, stop_after, fresh, sets, verbose, title="RTT pipeline")


@app.command("defaults")
def defaults_cmd(
    config: Path | None = typer.Option(None, "--config", "-c", help="Start from this YAML (default: built-ins)."),
) -> None:
    """Print the full pipeline parameters (defaults filled in) as YAML: a starting point for --config."""
    prepare_env()
    import json

    import yaml

    from flows.pipeline import PipelineParams

    try:
        params = PipelineParams.from_yaml(config)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(yaml.safe_dump(json.loads(params.model_dump_json()), sort_keys=False, allow_unicode=True))
