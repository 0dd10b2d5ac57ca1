"""Parameters of the ``rtt-pipeline`` flow: one pydantic section per stage, validated at load time.

The same models give the CLI ``--help`` (``rtt pipeline defaults``), docs/reference/deployment-forms.md and the Prefect
run form (``rtt serve``), so every field carries its description here once. ``flows.pipeline`` holds the flow itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from discriminator.config import Baseline
from discriminator.data.build import BuildConfig
from rubrics.importers import SourceSpec
from rubrics.llm import LLMConfig

ROOT = Path(__file__).resolve().parents[1]
DEMO_DATA = ROOT / "data" / "demo"
DEMO_SOURCES = (
    "items.jsonl",
    "ifeval_style.jsonl",
    "muldimif_style.json",
    "rar_style.jsonl",
    "rtt_style.jsonl",
    "tulu_style.jsonl",
)
DISC_CONFIGS = ROOT / "discriminator" / "configs"

StageName = Literal[
    "rubrics", "data", "review", "disc-train", "disc-eval", "disc-export", "policy-train", "policy-eval"
]
STAGES: tuple[str, ...] = (
    "rubrics",
    "data",
    "review",
    "disc-train",
    "disc-eval",
    "disc-export",
    "policy-train",
    "policy-eval",
)
#: stages that may talk to a service: retried on transient errors
SERVICE_STAGES = frozenset({"rubrics", "data", "review", "disc-eval", "policy-eval"})


def demo_sources() -> list[SourceSpec]:
    """The bundled demo rubric files (``data/demo``), absolute paths."""
    return [SourceSpec(path=str(DEMO_DATA / name), name=name.split("_")[0].split(".")[0]) for name in DEMO_SOURCES]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RubricsStage(_Section):
    """Rubric dataset (build-rubric-dataset): import, dedupe, split."""

    sources: list[SourceSpec] = Field(
        default_factory=demo_sources,
        min_length=1,
        description="Rubric files, folders or hub ids (default: the bundled demo files of data/demo).",
    )
    name: str = Field("rubrics", min_length=1, description="Dataset name (report and artifact key).")
    seed: int = Field(0, description="Seed of the train / val / test split.")
    val_frac: float = Field(0.1, ge=0, le=1, description="Fraction of items in the validation split.")
    test_frac: float = Field(
        0.2, ge=0, le=1, description="Fraction of items held out: the policy is evaluated on this split."
    )
    strict: bool = Field(True, description="Fail on an invalid record (off: skip it and count it in the report).")


class DataStage(_Section):
    """Discriminator data (build-discriminator-data) from the train and val rubric splits."""

    build: BuildConfig = Field(
        default_factory=BuildConfig,
        description="How negatives and spans are built (mode programmatic, offline, by default).",
    )
    llm: LLMConfig | None = Field(None, description="Generator endpoint (needed by mode llm and both).")
    judge: LLMConfig | None = Field(None, description="Judge endpoint for LLM-judged rubrics; empty: none.")
    max_items: int | None = Field(None, ge=1, description="Use the first N rubric items only; empty: all.")
    batch_size: int = Field(16, ge=1, description="Items per task.")
    policy_positives: bool = Field(
        True,
        description="Make the pairs from the policy's own responses (the model of "
        "policy.config, K samples per prompt); false: template positives.",
    )
    samples: int = Field(2, ge=1, description="Policy responses sampled per prompt.")
    max_new_tokens: int = Field(128, ge=1, description="Tokens per sampled policy response.")
    temperature: float = Field(0.8, ge=0, description="Sampling temperature of the policy responses.")
    resample: bool = Field(
        False,
        description="Policy samples of an earlier run taken with other settings (policy "
        "model, samples, max_new_tokens, temperature, seed): discard them and sample again; "
        "false: such samples stop the data stage with an error.",
    )


class ReviewStage(_Section):
    """Label Studio review (push-for-review, then pull-reviews); skipped without a server URL."""

    url: str | None = Field(
        None, description="Label Studio URL; empty: $LABEL_STUDIO_URL, and without it the review is skipped."
    )
    api_key: SecretStr | None = Field(None, description="Label Studio API key; empty: $LABEL_STUDIO_API_KEY.")
    project: str | None = Field(
        None, description="Project title; empty: rtt- followed by the pipeline name (rtt-demo for the name demo)."
    )
    batch_size: int = Field(500, ge=1, le=10_000, description="Tasks per import request.")
    on_invalid: Literal["error", "skip"] = Field(
        "skip", description="An annotation that cannot be used (spans out of range...): skip it or fail the pull."
    )
    enabled: bool = Field(True, description="Off: never review, even with a URL.")

    def resolved_url(self) -> str | None:
        return (self.url or os.environ.get("LABEL_STUDIO_URL") or None) if self.enabled else None


class DiscriminatorStage(_Section):
    """Discriminator training, evaluation and export (train-, evaluate-, export-discriminator)."""

    config: str = Field(
        "minilm",
        description="Training preset of discriminator/configs (minilm, tiny, paper) or "
        "a YAML file of training options.",
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Training options set on top of the "
        "config (fields of discriminator.config.TrainConfig; data and out are set "
        "by the pipeline).",
    )
    baselines: list[Baseline] = Field(
        default_factory=lambda: ["all_relevant", "random", "lexical"],
        description="Baselines the discriminator is compared with on the test split.",
    )
    cort_policy: str | None = Field(
        None, description="Causal LM folder of the CoRT baseline; empty: the offline SmolLM2."
    )
    max_test_rows: int | None = Field(
        None, ge=1, description="Evaluate on a seeded random subset of test rows; empty: all."
    )

    def config_path(self) -> str:
        from discriminator.config import resolve_config  # the one preset-or-path rule of every command

        try:
            return str(resolve_config(self.config).resolve())
        except FileNotFoundError as exc:
            raise ValueError(f"discriminator.config: {exc}") from None


class PolicyStage(_Section):
    """Policy training with RTT-GRPO (train-policy) on the train split, with the exported discriminator."""

    config: str = Field(
        "cpu-smoke",
        description="Preset of grpo/configs (cpu-smoke, single-gpu, multi-gpu, paper) or a YAML policy config.",
    )
    overrides: list[str] = Field(
        default_factory=list,
        description="section.key=value overrides of the policy config (values parsed as YAML), applied last.",
    )


class PolicyEvalStage(_Section):
    """Policy evaluation (evaluate-policy) of the trained policy and, optionally, the base policy."""

    benchmark: str | None = Field(
        None, description="Benchmark name (ifeval, muldimif) or rubric item file; empty: the rubric test split."
    )
    limit: int | None = Field(8, ge=1, description="Evaluate the first N prompts; empty: all.")
    max_new_tokens: int = Field(128, ge=1, description="Longest answer, in tokens.")
    batch_size: int = Field(8, ge=1, description="Prompts generated together.")
    compare_base: bool = Field(True, description="Also evaluate the untrained policy on the same prompts.")
    judge: dict[str, Any] | None = Field(
        None,
        description="LLM judge endpoint (base_url, model...) for LLM-judged "
        "rubrics; empty: such rubrics count as not followed.",
    )


class RetryPolicy(_Section):
    """Retries of the service stages (transient errors only) and per-stage time limits."""

    retries: int = Field(2, ge=0, le=20, description="Retries of a service stage after a transient error.")
    retry_delay_seconds: float = Field(10.0, ge=0, description="Wait before a retry, in seconds.")
    timeout_seconds: dict[StageName, float] = Field(
        default_factory=dict,
        description='Time limit per stage in seconds, e.g. {"policy-train": 3600}; a stage not listed has none.',
    )


class PipelineParams(_Section):
    """Parameters of the whole pipeline, one section per stage; every default is the offline demo
    (configs/demo.yaml)."""

    name: str = Field("rtt", min_length=1, description="Run name (artifact keys, Label Studio project).")
    run_dir: str = Field(
        "runs/pipeline",
        description="Every stage writes under this folder (absolute, or "
        "relative to the working directory of the process running the flow).",
    )
    rubrics: RubricsStage = Field(default_factory=RubricsStage, description="Rubric dataset stage.")
    data: DataStage = Field(default_factory=DataStage, description="Discriminator data stage.")
    review: ReviewStage = Field(default_factory=ReviewStage, description="Label Studio review stage.")
    discriminator: DiscriminatorStage = Field(
        default_factory=DiscriminatorStage, description="Discriminator training, evaluation and export."
    )
    policy: PolicyStage = Field(default_factory=PolicyStage, description="RTT-GRPO policy training.")
    policy_eval: PolicyEvalStage = Field(default_factory=PolicyEvalStage, description="Policy evaluation.")
    retries: RetryPolicy = Field(default_factory=RetryPolicy, description="Retries and time limits.")
    stop_after: StageName | None = Field(None, description="Run the stages up to this one; empty: all.")
    resume: bool = Field(True, description="Reuse finished stages of an earlier run of run_dir (cache).")

    @field_validator("run_dir")
    @classmethod
    def _run_dir(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("run_dir must not be empty")
        return v

    @model_validator(mode="after")
    def _fractions(self) -> PipelineParams:
        if self.rubrics.val_frac + self.rubrics.test_frac >= 1:
            raise ValueError("rubrics.val_frac + rubrics.test_frac must be below 1 (the train split feeds training)")
        return self

    # ------------------------------------------------------------------------------------------ layout

    @property
    def root(self) -> Path:
        return Path(self.run_dir).expanduser().resolve()

    def path(self, what: str) -> Path:
        """Where each stage writes (stable: the cache and the deployments' defaults rely on it)."""
        rel = {
            "rubrics": "rubrics",
            "data": "data",
            "reviewed": "review/spans.parquet",
            "disc": "discriminator",
            "disc-eval": "discriminator/eval",
            "export": "discriminator-export",
            "policy": "policy",
            "policy-eval": "policy-eval",
            "policy-eval-base": "policy-eval-base",
            "results": ".prefect/results",
            "report": "report.md",
        }[what]
        return self.root / rel

    def wants(self, stage: str) -> bool:
        return self.stop_after is None or STAGES.index(stage) <= STAGES.index(self.stop_after)

    # ------------------------------------------------------------------------------------------ stage parameters

    def rubrics_params(self):
        from flows.rubrics import BuildRubricsParams

        r = self.rubrics
        return BuildRubricsParams(
            sources=r.sources,
            out_dir=str(self.path("rubrics")),
            name=r.name,
            seed=r.seed,
            val_frac=r.val_frac,
            test_frac=r.test_frac,
            strict=r.strict,
        )

    def data_params(self):
        from flows.data import DataFlowParams

        d, rb = self.data, self.path("rubrics")
        return DataFlowParams(
            inputs=[str(rb / "train.jsonl"), str(rb / "val.jsonl")],
            out_dir=str(self.path("data")),
            build=d.build,
            llm=d.llm,
            judge=d.judge,
            max_items=d.max_items,
            batch_size=d.batch_size,
            positives_from=self.policy_samples(),
        )

    def policy_samples(self):
        """What the data stage samples its positives from: the policy of ``policy.config`` (None: templates)."""
        from discriminator.data.policy_samples import PolicySampleConfig

        d = self.data
        if not d.policy_positives or d.build.mode == "llm":
            return None
        model = self.policy_config().model.name_or_path
        return PolicySampleConfig(
            model=model,
            k=d.samples,
            max_new_tokens=d.max_new_tokens,
            temperature=d.temperature,
            seed=self.rubrics.seed,
            resample=d.resample,
        )

    def review_project(self) -> str:
        return self.review.project or f"rtt-{self.name}"

    def push_params(self):
        from flows.review import LabelStudioConnection, PushForReviewParams

        rv = self.review
        return PushForReviewParams(
            rows=str(self.path("data") / "spans.parquet"),
            project=self.review_project(),
            batch_size=rv.batch_size,
            connection=LabelStudioConnection(url=rv.resolved_url(), api_key=rv.api_key),
        )

    def pull_params(self):
        from flows.review import LabelStudioConnection, PullReviewsParams

        rv = self.review
        return PullReviewsParams(
            project=self.review_project(),
            out=str(self.path("reviewed")),
            base=str(self.path("data") / "spans.parquet"),
            on_invalid=rv.on_invalid,
            connection=LabelStudioConnection(url=rv.resolved_url(), api_key=rv.api_key),
        )

    def training_rows(self) -> Path:
        """The discriminator's training rows: the reviewed file when reviews are pulled, else the built one."""
        return self.path("reviewed") if self.review.resolved_url() else self.path("data") / "spans.parquet"

    def disc_train_params(self, deployment: bool = False):
        """The train-discriminator parameters of this run. ``deployment``: the form's default, which trains on the
        reviewed spans whenever a pull has written them (the pipeline itself decides by its review settings)."""
        from flows.discriminator import TrainDiscriminatorParams

        d = self.discriminator
        rows = self.path("data") / "spans.parquet" if deployment else self.training_rows()
        reviewed = str(self.path("reviewed")) if deployment else None
        return TrainDiscriminatorParams.from_options(
            d.config_path(), d.overrides, data=str(rows), reviewed=reviewed, out=str(self.path("disc"))
        )

    def disc_eval_params(self):
        from flows.discriminator import EvaluateDiscriminatorParams

        d = self.discriminator
        return EvaluateDiscriminatorParams(
            model=str(self.path("disc") / "model"),
            data=str(self.training_rows()),
            out=str(self.path("disc-eval")),
            baselines=d.baselines,
            cort_policy=d.cort_policy,
            max_test_rows=d.max_test_rows,
        )

    def export_params(self):
        from flows.discriminator import ExportDiscriminatorParams

        return ExportDiscriminatorParams(
            run=str(self.path("disc")), out=str(self.path("export")), name=f"{self.name}-discriminator", overwrite=True
        )

    def policy_params(self):
        from flows.policy import TrainPolicyParams
        from grpo.train_config import PRESETS

        rb, cfg = self.path("rubrics"), self.policy.config
        where = {"preset": cfg} if cfg in PRESETS else {"config_file": cfg}
        return TrainPolicyParams(
            **where,
            train_data=[str(rb / "train.jsonl")],
            discriminator=str(self.path("export")),
            output_dir=str(self.path("policy")),
            overrides=[f"name={self.name}-policy", "data.format=auto", *self.policy.overrides],
            save=True,
        )

    def policy_config(self):
        """The validated policy config (errors name the file and the dotted key)."""
        from grpo.train_config import load_config

        p = self.policy_params()
        return load_config(p.config, p.all_overrides())

    def policy_eval_params(self, model: str, out: Path):
        from grpo.evaluate import GenerationConfig, PolicyEvalConfig

        e = self.policy_eval
        cfg = self.policy_config()
        return PolicyEvalConfig(
            model=model,
            benchmark=e.benchmark or str(self.path("rubrics") / "test.jsonl"),
            limit=e.limit,
            out=str(out),
            dtype=cfg.model.dtype,
            generation=GenerationConfig(
                max_new_tokens=e.max_new_tokens, batch_size=e.batch_size, system_prompt=cfg.data.system_prompt
            ),
            judge=e.judge,
        )

    def check(self) -> list[str]:
        """Build every stage's parameters and load the training configs now: a bad option fails before any work,
        with a message naming the field. Returns warnings."""
        from discriminator.config import EvalConfig, TrainConfig

        self.rubrics_params()
        self.data_params()
        if self.review.resolved_url():
            self.push_params()
            self.pull_params()
        p = self.disc_train_params()
        TrainConfig.from_yaml(p.config, **p.overrides)
        ev = self.disc_eval_params()
        try:
            EvalConfig(model=ev.model, data=ev.data, baselines=ev.baselines or [])
        except ValidationError as exc:
            raise ValueError(f"discriminator.baselines: {exc.errors()[0]['msg']}") from None
        self.export_params()
        cfg = self.policy_config()
        self.policy_eval_params(str(self.path("policy") / "final"), self.path("policy-eval"))
        if cfg.rtt.needs_discriminator and Path(cfg.rtt.discriminator or "") != self.path("export"):
            return [f"the policy uses the discriminator {cfg.rtt.discriminator}, not this run's export"]
        return []

    # ------------------------------------------------------------------------------------------ files

    @classmethod
    def from_yaml(cls, path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()) -> PipelineParams:
        """Load a YAML file of these parameters (None: all defaults), then ``section.key=value`` overrides (values
        parsed as YAML). Relative source paths that do not exist from the working directory resolve against the
        file's folder's parent (the repository for ``configs/demo.yaml``). Errors name the file and the field."""
        from grpo.train_config import ConfigError, apply_overrides

        where = str(path) if path is not None else "<defaults>"
        data: dict[str, Any] = {}
        if path is not None:
            try:
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except FileNotFoundError:
                raise ValueError(f"{path}: no such config file") from None
            except yaml.YAMLError as exc:
                raise ValueError(f"{path}: invalid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise ValueError(f"{path}: expected a mapping of pipeline parameters, got {type(data).__name__}")
        try:
            data = apply_overrides(data, list(overrides))
        except ConfigError as exc:
            raise ValueError(f"{where}: --set {exc.key}: {exc.reason}") from None
        try:
            params = cls.model_validate(data)
        except ValidationError as exc:
            raise ValueError(f"{where}: {describe_errors(exc)}") from None
        return params.resolve_sources(Path(path).resolve().parent.parent) if path is not None else params

    def resolve_sources(self, base: Path) -> PipelineParams:
        """Relative source paths that do not exist here but do under ``base`` become absolute paths there."""
        fixed = []
        for s in self.rubrics.sources:
            p = Path(s.path)
            if not p.is_absolute() and not p.exists() and (base / p).exists():
                s = s.model_copy(update={"path": str(base / p)})
            fixed.append(s)

        def here(value: str) -> str:
            p = Path(value)
            return str(base / p) if not p.is_absolute() and not p.exists() and (base / p).exists() else value

        # the same for data files named in policy.overrides (data.train / data.eval) and policy_eval.benchmark
        pol = [
            f"{k}={here(v)}" if k.strip() in ("data.train", "data.eval") else o
            for o in self.policy.overrides
            for k, _, v in [o.partition("=")]
        ]
        bench = here(self.policy_eval.benchmark) if self.policy_eval.benchmark else None
        return self.model_copy(
            update={
                "rubrics": self.rubrics.model_copy(update={"sources": fixed}),
                "policy": self.policy.model_copy(update={"overrides": pol}),
                "policy_eval": self.policy_eval.model_copy(update={"benchmark": bench}),
            }
        )


def describe_errors(exc: ValidationError) -> str:
    """``field 'a.b': message; ...`` for a pydantic error."""
    return "; ".join(f"field {'.'.join(map(str, e['loc'])) or '<root>'!r}: {e['msg']}" for e in exc.errors())
