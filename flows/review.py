"""Prefect flows of the review stage: ``push_for_review`` and ``pull_reviews`` (Label Studio).

Tasks that talk to the server are retried on transient failures (connection refused, time-outs, HTTP 5xx);
a bad token or a missing project fails at once. Pushing is idempotent, so a retried import never duplicates
tasks. Results are published as table artifacts keyed ``review-push-<project>`` / ``review-pull-<project>``.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from annotation.config import DEFAULT_INSTRUCTIONS
from annotation.project import LabelStudioSettings, ProjectRef, ReviewError, connect, ensure_project
from annotation.pull import ExportSnapshot, PullResult, fetch_reviews, merge_reviews
from annotation.push import PushResult, push_rows
from discriminator.data.schema import read_rows
from flows.artifacts import artifact_key as _artifact_key
from flows.artifacts import wrap_rows


class LabelStudioConnection(BaseModel):
    """Label Studio server and key; empty fields come from LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY (or the local
    server started by rtt review server)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="Label Studio URL; empty: $LABEL_STUDIO_URL or the local server.")
    api_key: SecretStr | None = Field(None, description="Label Studio API key; empty: $LABEL_STUDIO_API_KEY.")
    offset_unit: Literal["auto", "codepoint", "utf16"] | None = Field(
        None, description="How the server counts span offsets; empty or auto: detected from its version."
    )

    def settings(self) -> LabelStudioSettings:
        s = LabelStudioSettings.from_env(self.url, self.api_key.get_secret_value() if self.api_key else None)
        return s.model_copy(update={"offset_unit": self.offset_unit}) if self.offset_unit else s


class PushForReviewParams(BaseModel):
    """Push span rows to a Label Studio project for review (same options as rtt review push)."""

    model_config = ConfigDict(extra="forbid")

    rows: str = Field(min_length=1, description="SpanRow Parquet or JSONL to review (e.g. RUN_DIR/data/spans.parquet).")
    project: str = Field(min_length=1, description="Project title (created when missing).")
    batch_size: int = Field(500, ge=1, le=10_000, description="Tasks per import request.")
    model_version: str = Field("auto", description="Version label of the pre-annotations shown to reviewers.")
    instructions: str = Field(DEFAULT_INSTRUCTIONS, description="Instructions shown to annotators.")
    overlap: int | None = Field(
        None, ge=1, description="Reviewers per task; empty: 1 for a new project, else the project's setting is kept."
    )
    scorer: str | None = Field(
        None,
        description="Trained discriminator folder: per-row confidence for uncertainty "
        "sampling (least confident first); empty: the automatic labels' own score.",
    )
    connection: LabelStudioConnection = Field(
        default_factory=LabelStudioConnection, description="Label Studio server and key."
    )


class PullReviewsParams(BaseModel):
    """Pull the reviews of a Label Studio project into span rows (same options as rtt review pull)."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(min_length=1, description="Project title.")
    out: str = Field(
        min_length=1, description="Reviewed rows to write (e.g. RUN_DIR/review/spans.parquet), replaced atomically."
    )
    base: str | None = Field(
        None,
        description="The pushed rows: their automatic labels are kept next to the "
        "human ones for the agreement table; empty: none.",
    )
    on_invalid: Literal["error", "skip"] = Field(
        "error", description="An annotation that cannot be used: fail, or skip it and list it in the summary."
    )
    human_labels: Literal["latest", "majority", "adjudicated"] = Field(
        "majority",
        description="How several reviews of one pair become the training label: latest, majority of "
        "reviewers per character, or adjudicated (Label Studio's ground-truth star); reported.",
    )
    connection: LabelStudioConnection = Field(
        default_factory=LabelStudioConnection, description="Label Studio server and key."
    )


def artifact_key(prefix: str, title: str) -> str:
    return _artifact_key(prefix, title, default="project")


def _transient(task, task_run, state) -> bool:
    """Retry only what may succeed on a second try (see :class:`ReviewError`)."""
    exc = state.data if isinstance(state.data, BaseException) else None
    return exc is None or not isinstance(exc, ReviewError) or exc.retryable


@task(name="ensure-review-project", retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_transient)
def ensure_project_task(params: PushForReviewParams) -> ProjectRef:
    settings = params.connection.settings()
    return ensure_project(connect(settings), settings, params.project, params.instructions, overlap=params.overlap)


@task(name="import-review-tasks", retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_transient)
def import_tasks_task(params: PushForReviewParams, project: ProjectRef) -> PushResult:
    settings = params.connection.settings()
    rows = read_rows(params.rows)
    if params.scorer:
        from annotation.uncertainty import with_discriminator_scores
        from discriminator.scoring import RelevanceScorer

        rows = with_discriminator_scores(
            rows, RelevanceScorer.from_pretrained(params.scorer), f"discriminator:{params.scorer}"
        )
    return push_rows(connect(settings), settings, project, rows, params.model_version, params.batch_size)


@flow(name="push-for-review", log_prints=False)
def push_for_review(params: PushForReviewParams) -> PushResult:
    """Create (or find) the review project and import the rows with pre-annotations, in batches.

    Args:
        params: Rows to review, Label Studio project and connection.
    """
    read_rows(params.rows)  # a bad file fails before anything is sent
    project = ensure_project_task(params)
    result = import_tasks_task(params, project)
    create_table_artifact(
        table=[
            {
                "project": result.title,
                "project_id": result.project_id,
                "model_version": result.model_version,
                "rows": result.rows,
                "pushed": result.pushed,
                "already_there": result.skipped_existing,
                "changed_since_push": len(result.changed_since_push),
                "batches": result.batches,
                "seconds": result.seconds,
            }
        ],
        key=artifact_key("review-push", params.project),
        description=f"Pushed {result.pushed} tasks to Label Studio project {result.title!r}",
    )
    log = get_run_logger()
    log.info(
        "pushed %d of %d rows to %r (%d already there) in %d batches",
        result.pushed,
        result.rows,
        result.title,
        result.skipped_existing,
        result.batches,
    )
    if result.changed_since_push:
        log.warning(
            "%d rows changed since they were pushed (not re-pushed): %s",
            len(result.changed_since_push),
            ", ".join(result.changed_since_push[:10]),
        )
    return result


@task(name="export-reviews", retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=_transient)
def export_task(params: PullReviewsParams) -> ExportSnapshot:
    settings = params.connection.settings()
    return fetch_reviews(connect(settings), settings, params.project)


@task(name="merge-reviews")
def merge_task(params: PullReviewsParams, snapshot: ExportSnapshot) -> PullResult:
    return merge_reviews(snapshot, params.out, params.base, params.on_invalid, params.human_labels)


@flow(name="pull-reviews", log_prints=False)
def pull_reviews(params: PullReviewsParams) -> PullResult:
    """Export the reviews, merge them as human rows into the output file (atomically) and report agreement.

    Args:
        params: Label Studio project and connection, and where the reviewed rows go.
    """
    snapshot = export_task(params)
    result = merge_task(params, snapshot)
    key = artifact_key("review-pull", params.project)
    create_table_artifact(
        table=wrap_rows(result.agreement.table()),
        key=key,
        description=f"Automatic vs human spans ({result.agreement.rows_compared} rows, "
        f"{result.agreement.annotators} annotators) in {params.out}",
    )
    s = result.stats
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=(
            f"# Pulled reviews of {params.project!r}\n\n"
            f"- tasks exported: {s.tasks}; annotated: {s.tasks_annotated}; skipped: {s.tasks_skipped}; "
            f"annotations used: {s.annotations_used}\n"
            f"- cancelled (skipped) annotations: {s.cancelled}; superseded: {s.superseded}\n"
            f"- human rows: {result.human_rows} ({result.retained_from_previous} kept from an earlier pull)\n"
            f"- automatic rows kept for comparison: {result.auto_rows}\n"
            f"- invalid annotations skipped: {len(s.invalid)}\n"
        ),
        description="Review pull summary",
    )
    get_run_logger().info("pulled %d human rows from %r into %s", result.human_rows, params.project, params.out)
    return result
