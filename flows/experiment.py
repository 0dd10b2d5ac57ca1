"""Prefect flow ``experiment``: the learning experiment (arms x seeds), one task per (arm, seed).

Each (arm, seed) run is a task (resumable: a finished run's ``result.json`` is reused, so re-running the flow
continues where it stopped); after every run the report is rewritten, and at the end the report's table and
summary line are published as artifacts.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from flows.artifacts import artifact_key


class ExperimentParams(BaseModel):
    """Which experiment to run: a preset (cpu, gpu) or YAML file, overrides, and optionally a subset."""

    model_config = ConfigDict(extra="forbid")

    config: str = Field("cpu", description="Preset (cpu, gpu) or an experiment YAML file.")
    overrides: list[str] = Field(default_factory=list, description="key.sub=value overrides, e.g. steps=20.")
    arms: list[str] | None = Field(None, description="Run only these arms (default: all arms of the config).")
    seeds: list[int] | None = Field(None, description="Run only these seeds (default: all seeds of the config).")


@task(name="train-arm")
def arm_task(params: ExperimentParams, arm: str, seed: int) -> dict[str, Any]:
    from grpo.experiment.config import load_experiment
    from grpo.experiment.report import write_report
    from grpo.experiment.runner import run_one

    cfg = load_experiment(params.config, params.overrides)
    logger = get_run_logger()
    res = run_one(cfg, cfg.arm(arm), seed, log=logger.info)
    if res is None:
        return {"arm": arm, "seed": seed, "final": None, "note": "running in another process"}
    write_report(cfg, log=lambda _m: None)
    return {"arm": arm, "seed": seed, "final": {k: v for k, v in res["evals"][-1].items() if k != "responses"}}


@task(name="experiment-report")
def report_task(params: ExperimentParams) -> dict[str, Any]:
    from grpo.experiment.config import load_experiment
    from grpo.experiment.report import write_report

    cfg = load_experiment(params.config, params.overrides)
    return write_report(cfg, log=get_run_logger().info)


@flow(name="experiment", log_prints=False)
def experiment(params: ExperimentParams = ExperimentParams()) -> dict[str, Any]:  # noqa: B008
    """Train the same policy under several arms (GRPO, RTT-GRPO, controls) x seeds and compare held-out pass
    rates, diversity and drift; publish the report.

    Args:
        params: The experiment preset or file, its overrides, and which arms and seeds to run.
    """
    from pathlib import Path

    from grpo.experiment.config import load_experiment
    from grpo.experiment.runner import base_eval, initial_pass_rates, load_policy, model_path
    from grpo.experiment.task import build_task

    cfg = load_experiment(params.config, params.overrides)
    arms = params.arms or [a.name for a in cfg.arms]
    for a in arms:
        cfg.arm(a)  # unknown names fail before any training
    seeds = params.seeds if params.seeds is not None else cfg.seeds
    init, tok = load_policy(cfg, model_path(cfg))
    initial_pass_rates(cfg, init, tok, get_run_logger().info)
    base_eval(cfg, build_task(cfg.task)[1], init, tok, get_run_logger().info)
    del init
    for seed in seeds:
        for arm in arms:
            arm_task(params, arm, seed)
    report = report_task(params)
    md = (Path(cfg.out) / "report.md").read_text(encoding="utf-8")
    create_markdown_artifact(markdown=md, key=artifact_key("experiment", cfg.name), description=report["summary"])
    return {
        "summary": report["summary"],
        "pairwise": report["pairwise"],
        "out": cfg.out,
        "runs_done": report["runs_done"],
    }
