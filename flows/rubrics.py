"""Prefect flows of the rubric stage: the flow ``build-rubric-dataset`` wraps
:func:`rubrics.build.build_rubric_dataset`.

The report is published as a table artifact (one row per source) and a markdown artifact (the full report),
keyed ``rubric-build-{name}``. Local file IO is not retried.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field, model_validator

import rubrics.build
from flows.artifacts import artifact_key as _artifact_key
from flows.artifacts import fit_markdown, wrap_rows
from rubrics.exporters import PitfallMode
from rubrics.importers import SourceSpec
from rubrics.report import BuildReport


class BuildRubricsParams(BaseModel):
    """Import rubric sources, validate, dedupe and split them (same options as rtt rubrics build)."""

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceSpec] = Field(
        min_length=1, description="Rubric files, folders or hub ids, each with its format and name."
    )
    out_dir: str = Field(min_length=1, description="Folder for train / val / test JSONL and report.json.")
    name: str = Field("rubrics", min_length=1, description="Dataset name (report and artifact key).")
    seed: int = Field(0, description="Seed of the split.")
    val_frac: float = Field(0.1, ge=0, le=1, description="Fraction of items in the validation split.")
    test_frac: float = Field(0.1, ge=0, le=1, description="Fraction of items in the test split.")
    strict: bool = Field(True, description="Fail on an invalid record (off: skip it and count it in the report).")
    export_rtt: bool = Field(False, description="Also write the splits in the RTT paper's format.")
    rtt_pitfalls: PitfallMode = Field(
        "negate",
        description="Pitfall rubrics (negative weight) in the RTT format: "
        "negate (rewritten as a must-not rubric), drop or keep.",
    )

    @model_validator(mode="after")
    def _fractions(self) -> BuildRubricsParams:
        if self.val_frac + self.test_frac > 1:
            raise ValueError("val_frac + test_frac must be at most 1")
        return self

    @property
    def split_fractions(self) -> tuple[float, float, float]:
        return (1.0 - self.val_frac - self.test_frac, self.val_frac, self.test_frac)


def artifact_key(name: str) -> str:
    """``rubric-build-<name>`` (see :func:`flows.artifacts.artifact_key`)."""
    return _artifact_key("rubric-build", name, default="dataset")


@task(name="build-rubric-dataset")
def build_task(params: BuildRubricsParams) -> BuildReport:
    return rubrics.build.build_rubric_dataset(
        params.sources,
        params.out_dir,
        seed=params.seed,
        split_fractions=params.split_fractions,
        strict=params.strict,
        name=params.name,
        export_rtt=params.export_rtt,
        rtt_pitfalls=params.rtt_pitfalls,
    )


@flow(name="build-rubric-dataset", log_prints=False)
def build_rubric_dataset(params: BuildRubricsParams) -> BuildReport:
    """Import, validate, dedupe and split rubric sources; publish the report as artifacts.

    Args:
        params: Sources, output folder and split of the rubric dataset.
    """
    report = build_task(params)
    key = artifact_key(params.name)
    create_table_artifact(
        table=wrap_rows(report.table_rows()),
        key=key,
        description=f"{report.name}: {report.items} items, {report.rubrics} rubrics, "
        f"{report.duplicates_dropped} duplicates dropped, {report.rejected_total} rejected",
    )
    create_markdown_artifact(
        markdown=fit_markdown(report.to_markdown()), key=f"{key}-report", description=f"Build report of {report.name}"
    )
    get_run_logger().info(
        "built %s: %d items (%s) in %s",
        report.name,
        report.items,
        ", ".join(f"{k} {v}" for k, v in report.splits.items()),
        report.out_dir,
    )
    return report
