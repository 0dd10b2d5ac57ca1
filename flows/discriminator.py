"""Prefect flows of the discriminator stage: train, evaluate and export the token-level relevance discriminator.

Each flow wraps the library function of the same stage (``discriminator.train.train``,
``discriminator.evaluate.evaluate``, ``discriminator.export.export``) in one task and publishes its results
as artifacts (table of metrics + markdown report) keyed ``disc-train-*``, ``disc-eval-*``, ``disc-export-*``.
Training and local file IO are not retried (a failed run is resumed with ``resume=True``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, get_args

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field, model_validator

from discriminator.config import BASELINES, Baseline
from flows.artifacts import abs_path, fit_markdown, md_image
from flows.subprocess_launch import ACCELERATE_ENV


def artifact_key(prefix: str, name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return f"{prefix}-" + (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "run")


DISC_CONFIGS = Path(__file__).resolve().parents[1] / "discriminator" / "configs"
#: the training presets of discriminator/configs (a test checks this list against the folder)
DiscPreset = Literal["minilm", "tiny", "paper"]
#: TrainConfig fields that TrainDiscriminatorParams sets through its own typed fields
TYPED_OVERRIDES = (
    "backbone",
    "max_length",
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "eval_steps",
    "seed",
    "num_processes",
    "accelerate_config",
)


class TrainDiscriminatorParams(BaseModel):
    """Train the token-level relevance discriminator: training rows, output folder, a preset and optional
    overrides. Empty override fields keep the preset's value."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        min_length=1,
        description="Training rows (SpanRow Parquet or JSONL with train / val / test "
        "splits), usually the automatic spans RUN_DIR/data/spans.parquet.",
    )
    reviewed: str | None = Field(
        None,
        description="Reviewed spans written by pull-reviews (usually "
        "RUN_DIR/review/spans.parquet): used instead of data when this file exists; "
        "empty: always train on data.",
    )
    out: str = Field(
        "runs/discriminator",
        min_length=1,
        description="Run folder: checkpoints, the final model (out/model), train_summary.json and the loss curve.",
    )
    preset: DiscPreset = Field(
        "minilm",
        description="Training preset of discriminator/configs: minilm (the "
        "offline MiniLM-L6 encoder, CPU-friendly), tiny (smoke tests), paper (the paper's "
        "settings, GPU).",
    )
    config_file: str | None = Field(
        None, description="A YAML file of training options used instead of the preset; empty: the preset."
    )
    backbone: str | None = Field(None, description="Hugging Face id or folder of the backbone; empty: the preset's.")
    max_length: int | None = Field(
        None, ge=16, description="Longest prompt + response, in tokens; empty: the preset's."
    )
    learning_rate: float | None = Field(None, gt=0, description="Peak learning rate; empty: the preset's.")
    num_train_epochs: float | None = Field(None, gt=0, description="Training epochs; empty: the preset's.")
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps (overrides the epochs); empty: the preset's."
    )
    per_device_train_batch_size: int | None = Field(
        None, ge=1, description="Rows per device and step; empty: the preset's."
    )
    eval_steps: int | None = Field(
        None, ge=1, description="Evaluate (and checkpoint) every N steps; empty: the preset's."
    )
    seed: int | None = Field(None, description="Random seed; empty: the preset's.")
    num_processes: int | None = Field(
        None,
        ge=1,
        description="Training processes (GPUs); above 1 the flow starts accelerate launch; empty: the preset's.",
    )
    accelerate_config: str | None = Field(
        None,
        description="accelerate config file (DeepSpeed, FSDP) of a "
        "multi-process run; empty: the preset's, else $RTT_ACCELERATE_CONFIG "
        "of the machine running the flow.",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other training option by name (a field "
        "of discriminator.config.TrainConfig, e.g. pos_weight or logging_steps).",
    )
    resume: bool = Field(False, description="Continue from the last checkpoint in out.")
    overwrite: bool = Field(False, description="Delete an earlier run in out first.")

    @model_validator(mode="after")
    def _check_extra(self) -> TrainDiscriminatorParams:
        from discriminator.config import TrainConfig

        typed = sorted(set(self.extra) & {"data", "out", *TYPED_OVERRIDES})
        if typed:
            raise ValueError(f"extra: set {', '.join(typed)} with the field(s) of the same name, not in extra")
        unknown = sorted(set(self.extra) - set(TrainConfig.model_fields))
        if unknown:
            raise ValueError(f"extra: unknown training option(s) {', '.join(unknown)}")
        return self

    @classmethod
    def from_options(cls, config: str | None, options: dict[str, Any], **fields: Any) -> TrainDiscriminatorParams:
        """From a preset name or YAML path and a dict of TrainConfig options (typed ones become fields)."""
        opts = dict(options)
        for key in ("data", "out", *TYPED_OVERRIDES):
            if key in opts and key not in fields:
                fields[key] = opts.pop(key)
        if config is not None:
            path, presets = Path(config), get_args(DiscPreset)
            if config in presets:
                fields["preset"] = config
            elif path.parent.resolve() == DISC_CONFIGS and path.stem in presets:
                fields["preset"] = path.stem
            else:
                fields["config_file"] = str(path)
        return cls(extra=opts, **fields)

    def rows(self) -> str:
        """The rows trained on: the reviewed file when it exists, else ``data``."""
        return self.reviewed if self.reviewed and Path(self.reviewed).is_file() else self.data

    @property
    def config(self) -> str:
        """The YAML file of the options (``config_file`` or the preset's)."""
        return self.config_file or str(DISC_CONFIGS / f"{self.preset}.yaml")

    @property
    def overrides(self) -> dict[str, Any]:
        """The options set on top of :attr:`config` (JSON-ready)."""
        typed = {k: getattr(self, k) for k in TYPED_OVERRIDES if getattr(self, k) is not None}
        return {**self.extra, **typed, "data": self.rows(), "out": self.out}

    def machine_overrides(self) -> dict[str, Any]:
        """:attr:`overrides`, plus the machine's accelerate config (``$RTT_ACCELERATE_CONFIG``, a job variable of
        a GPU worker) when neither these parameters nor the preset name one."""
        from discriminator.config import TrainConfig

        machine = os.environ.get(ACCELERATE_ENV)
        if machine and TrainConfig.from_yaml(self.config, **self.overrides).accelerate_config is None:
            return {**self.overrides, "accelerate_config": machine}
        return self.overrides


class EvaluateDiscriminatorParams(BaseModel):
    """Evaluate a trained discriminator on the item-disjoint test split against baselines."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1, description="The trained model folder (RUN/model of train-discriminator or an exported folder)."
    )
    data: str = Field(min_length=1, description="SpanRow Parquet / JSONL with the test (and val) split.")
    out: str | None = Field(None, description="Folder for report.md, metrics.json and the plots; empty: none.")
    baselines: list[Baseline] | None = Field(
        None, description=f"Baselines to compare with ({', '.join(BASELINES)}); empty: the default set."
    )
    cort_policy: str | None = Field(
        None, description="Causal LM folder for the CoRT baseline; empty: the offline SmolLM2."
    )
    max_test_rows: int | None = Field(
        None, ge=1, description="Evaluate on a seeded random subset of test rows; empty: all."
    )
    max_val_rows: int | None = Field(
        None, ge=1, description="Tune thresholds on a seeded subset of val rows; empty: all."
    )
    greedy_base_url: str | None = Field(None, description="OpenAI-compatible endpoint of the greedy labeler baseline.")
    greedy_model: str | None = Field(None, description="Model name served at greedy_base_url.")


class ExportDiscriminatorParams(BaseModel):
    """Export a training run as a standard Hugging Face folder with a model card."""

    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, description="The training run folder (out of train-discriminator).")
    out: str = Field(min_length=1, description="Folder to write the exported model to.")
    name: str | None = Field(None, description="Model name in the card; empty: the run folder's name.")
    overwrite: bool = Field(False, description="Replace an existing export in out.")


def _metric_rows(metrics: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    keys = ("precision", "recall", "f1", "auroc", "accuracy", "threshold")
    return [{"method": name, **{k: round(float(m[k]), 4) for k in keys if k in m}} for name, m in metrics.items()]


@task(name="train-discriminator", retries=0)
def train_task(params: TrainDiscriminatorParams) -> dict[str, Any]:
    from discriminator.config import TrainConfig
    from discriminator.train import train

    overrides = params.machine_overrides()
    cfg = TrainConfig.from_yaml(params.config, **overrides)
    logger = get_run_logger()
    from flows.subprocess_launch import disc_launch, launch_disc_training

    launch = disc_launch(cfg)  # num_processes > 1: `accelerate launch` subprocesses, logs streamed here
    if launch is not None:
        return launch_disc_training(
            params.config, overrides, launch, logger, resume=params.resume, overwrite=params.overwrite
        )

    def progress(logs: dict[str, Any]) -> None:
        shown = {k: v for k, v in logs.items() if k in ("loss", "eval_loss", "eval_f1_best", "eval_auroc")}
        if shown:
            logger.info("step %s/%s %s", logs.get("step"), logs.get("max_steps"), shown)

    result = train(cfg, resume=params.resume, overwrite=params.overwrite, progress=progress, disable_tqdm=True)
    return {
        "out": str(result.out),
        "model_dir": str(result.model_dir),
        "val_metrics": result.val_metrics,
        "threshold": result.meta.threshold,
        "threshold_source": result.meta.threshold_source,
        "pos_weight": result.meta.pos_weight,
        "global_step": result.meta.extra.get("global_step"),
        "seconds": result.seconds,
    }


@flow(name="train-discriminator", log_prints=False)
def train_discriminator(params: TrainDiscriminatorParams) -> dict[str, Any]:
    """Train the discriminator (HF Trainer); publish validation metrics, the loss curve and the run summary.

    Args:
        params: Training rows, output folder, preset and optional overrides.
    """
    res = train_task(params)
    key = artifact_key("disc-train", Path(res["out"]).name)
    create_table_artifact(
        table=_metric_rows({"validation": res["val_metrics"]}),
        key=key,
        description=f"validation metrics of {res['model_dir']}",
    )
    create_markdown_artifact(
        key=f"{key}-summary",
        markdown=(
            f"# Discriminator training\n\nModel: {abs_path(res['model_dir'])} after {res['global_step']} steps "
            f"({res['seconds']:.0f} s), trained on {abs_path(params.rows())}. Decision threshold "
            f"{res['threshold']:.4f} ({res['threshold_source']}), pos_weight {res['pos_weight']}.\n\n"
            + md_image(Path(res["out"]) / "loss_curve.png", "loss curve")
            + "\n"
        ),
        description="discriminator training summary",
    )
    get_run_logger().info("trained %s: val F1 %.3f", res["model_dir"], res["val_metrics"].get("f1", 0.0))
    return res


@task(name="evaluate-discriminator", retries=0)
def evaluate_task(params: EvaluateDiscriminatorParams) -> dict[str, Any]:
    from discriminator.config import EvalConfig
    from discriminator.evaluate import evaluate

    kw: dict[str, Any] = {
        "model": params.model,
        "data": params.data,
        "out": params.out,
        "cort_policy": params.cort_policy,
        "max_test_rows": params.max_test_rows,
        "max_val_rows": params.max_val_rows,
        "greedy_base_url": params.greedy_base_url,
        "greedy_model": params.greedy_model,
    }
    if params.baselines is not None:
        kw["baselines"] = params.baselines
    logger = get_run_logger()
    report = evaluate(EvalConfig(**kw), progress=logger.info)
    return {
        "overall": report.overall,
        "markdown": report.markdown,
        "files": report.files,
        "counts": report.counts,
        "notes": report.notes,
    }


@flow(name="evaluate-discriminator", log_prints=False)
def evaluate_discriminator(params: EvaluateDiscriminatorParams) -> dict[str, Any]:
    """Evaluate on the item-disjoint test split against the baselines; publish the table and the report.

    Args:
        params: Model, rows and baselines of the evaluation.
    """
    res = evaluate_task(params)
    key = artifact_key(
        "disc-eval", Path(params.model).parent.name if Path(params.model).name == "model" else Path(params.model).name
    )
    create_table_artifact(
        table=_metric_rows(res["overall"]), key=key, description=f"test split, {res['counts']['test_rows']} rows"
    )
    plot = (res.get("files") or {}).get("pr_curve")
    markdown = fit_markdown(res["markdown"]) + (f"\n\n{md_image(plot, 'precision-recall curves')}\n" if plot else "")
    create_markdown_artifact(markdown=markdown, key=f"{key}-report", description="discriminator evaluation")
    return res


@task(name="export-discriminator", retries=0)
def export_task(params: ExportDiscriminatorParams) -> str:
    from discriminator.export import export

    return str(export(params.run, params.out, name=params.name, overwrite=params.overwrite))


@flow(name="export-discriminator", log_prints=False)
def export_discriminator(params: ExportDiscriminatorParams) -> str:
    """Export a run as a standard HF folder with a model card; publish the card.

    Args:
        params: Training run folder and export destination.
    """
    out = export_task(params)
    card = (Path(out) / "README.md").read_text(encoding="utf-8")
    create_markdown_artifact(
        markdown=card, key=artifact_key("disc-export", Path(out).name), description=f"model card of {out}"
    )
    return out
