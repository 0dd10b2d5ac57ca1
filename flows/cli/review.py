"""``rtt review ...``: push span rows to Label Studio for human review, pull the reviews back, show status.

Connection: ``--url`` / ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` (the key is read from the environment
only, never printed); without them, the local server started by ``make labelstudio-start`` is used.
"""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli.common import fail

app = typer.Typer(no_args_is_help=True)

URL_HELP = "Label Studio URL (default: $LABEL_STUDIO_URL, else the local server of `make labelstudio-start`)."
UNIT_HELP = "Offset unit of the server's text regions: auto (by server version), codepoint or utf16."


def _settings(url: str | None, offset_unit: str):
    from annotation.project import LabelStudioSettings

    s = LabelStudioSettings.from_env(url=url)
    return s.model_copy(update={"offset_unit": offset_unit}) if offset_unit != "auto" else s


@app.command("push")
def push(
    rows: Path = typer.Argument(..., exists=True, dir_okay=False, help="SpanRow file (.parquet or .jsonl)."),
    project: str = typer.Option(..., "--project", "-p", help="Project title (found or created)."),
    batch_size: int = typer.Option(500, "--batch-size", min=1, max=10_000, help="Tasks per import request."),
    model_version: str = typer.Option(
        "auto",
        "--model-version",
        help="Prediction model_version (e.g. diff-v1); the project shows it once its predictions are imported.",
    ),
    overlap: int | None = typer.Option(
        None,
        "--overlap",
        min=1,
        help="Reviewers per task (Label Studio's "
        "maximum annotations; default 1 for a new project, unchanged otherwise).",
    ),
    scorer: Path | None = typer.Option(
        None,
        "--scorer",
        exists=True,
        file_okay=False,
        help="Trained "
        "discriminator: per-row confidence from its probabilities orders the "
        "review (least confident first) instead of a per-labeller prior.",
    ),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    offset_unit: str = typer.Option("auto", "--offset-unit", help=UNIT_HELP),
) -> None:
    """Push rows as review tasks with their automatic spans as pre-annotations (idempotent)."""
    from pydantic import ValidationError
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from annotation.project import ReviewError, connect, ensure_project
    from annotation.push import push_rows
    from discriminator.data.schema import read_rows
    from rubrics.io import RecordError

    console = Console()
    try:
        data = read_rows(rows)
    except (RecordError, ValidationError, ValueError, OSError) as exc:
        fail(f"{rows}: {exc}")
    if scorer is not None:
        from annotation.uncertainty import with_discriminator_scores
        from discriminator.scoring import RelevanceScorer

        try:
            with console.status(f"scoring {len(data)} rows with {scorer}"):
                data = with_discriminator_scores(
                    data, RelevanceScorer.from_pretrained(scorer), f"discriminator:{scorer}"
                )
        except (OSError, ValueError) as exc:
            fail(f"{scorer}: {exc}")
    try:
        settings = _settings(url, offset_unit)
        client = connect(settings)
        ref = ensure_project(client, settings, project, overlap=overlap)
        with Progress(
            TextColumn("[bold]push"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            job = bar.add_task("push", total=len(data))
            result = push_rows(
                client, settings, ref, data, model_version, batch_size, progress=lambda n: bar.advance(job, n)
            )
    except ReviewError as exc:
        fail(str(exc))
    console.print(
        f"{result.title} (project {result.project_id}{', new' if ref.created else ''}): pushed {result.pushed} of "
        f"{result.rows} rows in {result.batches} batches, {result.skipped_existing} already there "
        f"({result.tasks_per_second:.0f} tasks/s); {settings.url}/projects/{result.project_id}/data",
        highlight=False,
        soft_wrap=True,
    )
    if result.model_version_set:
        console.print(
            f"project model version is now {model_version!r} (reviewers see these predictions)", highlight=False
        )
    if scorer is None and len({r.meta.get("score") for r in data}) <= 1 and result.pushed:
        console.print(
            "[yellow]note:[/] every task got its labeller's prior confidence, so 'least confident first' "
            "cannot order them; pass --scorer MODEL for per-row discriminator uncertainty",
            highlight=False,
            soft_wrap=True,
        )
    if result.changed_since_push:
        console.print(
            f"[yellow]warning:[/] {len(result.changed_since_push)} rows changed since they were pushed and "
            f"were not re-pushed: {', '.join(result.changed_since_push[:5])}",
            highlight=False,
            soft_wrap=True,
        )


@app.command("pull")
def pull(
    project: str = typer.Option(..., "--project", "-p", help="Project title."),
    out: Path = typer.Option(..., "--out", "-o", help="Reviewed rows (.parquet or .jsonl), merged atomically."),
    base: Path | None = typer.Option(
        None, "--base", exists=True, dir_okay=False, help="The pushed rows; kept in the output for comparison."
    ),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Skip (and list) annotations that do not match the response instead of failing."
    ),
    human_labels: str = typer.Option(
        "majority",
        "--human-labels",
        help="How several reviews of one pair become "
        "the training label: latest, majority or adjudicated (reported here; "
        "`rtt disc train` applies the same rule).",
    ),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
    offset_unit: str = typer.Option("auto", "--offset-unit", help=UNIT_HELP),
) -> None:
    """Pull reviews as label_source='human' rows and report automatic-vs-human agreement."""
    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

    from annotation.project import ReviewError, connect
    from annotation.pull import agreement_path, pull_reviews
    from rubrics.io import RecordError

    console = Console()
    try:
        settings = _settings(url, offset_unit)
        with console.status(f"exporting {project!r} from {settings.url}"):
            result = pull_reviews(
                connect(settings), settings, project, out, base, "skip" if skip_invalid else "error", human_labels
            )
    except (ReviewError, RecordError, ValidationError, OSError, ValueError) as exc:
        fail(f"{exc} ({out} unchanged)")
    s = result.stats
    console.print(
        f"{out}: {result.rows_written} rows ({result.human_rows} human from {s.annotations_used} annotations on "
        f"{s.tasks_annotated} annotated tasks, {result.auto_rows} automatic); {s.tasks_skipped} tasks skipped, "
        f"{s.cancelled} skipped/cancelled annotations, superseded {s.superseded}, kept from an earlier pull "
        f"{result.retained_from_previous}",
        highlight=False,
        soft_wrap=True,
    )
    if result.resolution is not None:
        r = result.resolution
        console.print(
            f"training labels ({r.policy}): {r.human_resolved} pairs from human review replace their automatic "
            f"rows ({r.auto_changed} changed, {r.multi_reviewer} with several reviewers"
            f"{f', {len(r.disputed)} disputed and left out' if r.disputed else ''}); "
            f"`rtt disc train --data {out}` trains on {r.rows_out} rows",
            highlight=False,
            soft_wrap=True,
        )
    table = Table(
        title=f"automatic vs human ({result.agreement.rows_compared} rows, {result.agreement.annotators} annotators)"
    )
    for col in ("level", "precision", "recall", "f1", "kappa (human-human)"):
        table.add_column(col)
    for row in result.agreement.table():
        table.add_row(*("-" if v is None else str(v) for v in row.values()))
    console.print(table)
    console.print(f"agreement: {agreement_path(out)}", highlight=False, soft_wrap=True)
    for msg in s.invalid[:20]:
        console.print("[yellow]skipped:[/]", msg, markup=True, highlight=False, soft_wrap=True)


@app.command("status")
def status(
    project: str = typer.Option(..., "--project", "-p", help="Project title."),
    url: str | None = typer.Option(None, "--url", help=URL_HELP),
) -> None:
    """Task, annotation and prediction counts of a review project."""
    from rich.console import Console

    from annotation.project import ReviewError, connect, project_status

    try:
        settings = _settings(url, "auto")
        st = project_status(connect(settings), settings, project)
    except ReviewError as exc:
        fail(str(exc))
    Console().print(
        f"{st.title} (project {st.id}, config {st.config_version}, model version {st.model_version or '-'}): "
        f"{st.tasks} tasks, {st.tasks_with_annotations} with annotations, {st.annotations} annotations, "
        f"{st.skipped_annotations} skipped, {st.predictions} predictions, {st.overlap or 1} reviewer(s) per task; "
        f"{st.url}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("server")
def server(
    action: str = typer.Argument(..., help="install | start | stop | status"),
    data_dir: Path = typer.Option(
        Path("data/labelstudio"),
        "--data-dir",
        envvar="RTT_LABELSTUDIO_DATA_DIR",
        help="SQLite database, media and server.json of the local server.",
    ),
    venv: Path = typer.Option(Path(".venv-labelstudio"), "--venv", help="Label Studio's own virtual env."),
    port: int = typer.Option(8080, "--port", envvar="RTT_LABELSTUDIO_PORT", help="Port on 127.0.0.1."),
) -> None:
    """Manage the local Label Studio server (own venv, SQLite, bound to 127.0.0.1)."""
    from annotation.server import main

    args = [action, "--venv", str(venv), "--data-dir", str(data_dir)] + (
        ["--port", str(port)] if action == "start" else []
    )
    if action not in ("install", "start", "stop", "status"):
        fail(f"unknown action {action!r}: install, start, stop or status")
    raise typer.Exit(main(args))
