"""The policy-training config file of ``rtt train policy`` (YAML, validated with pydantic) and its presets; it
builds the trainer's :class:`~grpo.rtt_grpo_config.RTTGRPOConfig`.

A file has five sections: ``model``, ``data``, ``rtt`` (the RTT-specific knobs), ``judge`` (LLM judge for
rubrics without a rule checker; omit for rules only) and ``grpo`` (any :class:`trl.GRPOConfig` /
``TrainingArguments`` field, passed through unchanged), plus an optional ``eval`` section for the periodic
in-training policy evaluation and an optional ``launch`` section (nodes, GPUs, prompts per RL step: the
per-device batch arithmetic is then derived from the process count, see :mod:`grpo.layout`). Presets live in
``grpo/configs/<name>.yaml``; ``load_config`` accepts a preset name or a path, and ``--set section.key=value``
overrides (values parsed as YAML).

No torch / trl import here: building the trainer arguments (:meth:`PolicyTrainConfig.grpo_args`) imports
them lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grpo.renamed import refuse_renamed_response_advantage

PRESET_DIR = Path(__file__).with_name("configs")
PRESETS = ("cpu-smoke", "single-gpu", "multi-gpu", "paper", "paper-multinode")

DataFormat = Literal["auto", "rubrics", "ifeval", "muldimif", "ifbench"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSection(_Section):
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | str = "all-linear"

    def peft_config(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )


class ModelSection(_Section):
    #: a local folder, a hub id (needs the hub), or ``smollm2`` (the offline SmolLM2-135M-Instruct, converted
    #: from the bundled GGUF on first use).
    name_or_path: str
    dtype: Literal["auto", "float32", "bfloat16", "float16"] | None = None
    lora: LoraSection | None = None

    def resolve(self) -> str:
        if self.name_or_path == "smollm2":
            from rubrics.offline_models import smollm2_dir

            return str(smollm2_dir())
        return self.name_or_path


class DataSection(_Section):
    train: list[str] = Field(min_length=1)
    format: DataFormat = "auto"
    limit: int | None = Field(default=None, ge=1)
    eval: list[str] | None = None
    eval_limit: int | None = Field(default=None, ge=1)
    system_prompt: str | None = None
    seed: int = 0

    @field_validator("train", "eval", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class RTTSection(_Section):
    alpha: float = 1.0
    beta: float = Field(0.5, ge=0.0)
    token_norm: Literal["intra", "inter", "none"] = "intra"
    combine: Literal["add", "mix"] = "add"
    reward: Literal["aon", "csr", "weighted", "healthbench"] = "aon"
    eps: float = Field(1e-6, gt=0)
    #: ``grpo``: GRPO on the summed reward (unbiased group std + ``eps``, global batch, docs/method.md);
    #: ``trl``: TRL's own (its nanstd + 1e-4), so ``beta: 0`` is bit-for-bit TRL GRPO.
    response_advantage: Literal["grpo", "trl", "gdpo"] = Field(
        "grpo",
        description="Response advantage: 'grpo' (GRPO on the summed reward, unbiased group std), 'trl' "
        "(TRL's own) or 'gdpo' (each rubric z-scored within its group, summed, z-scored over the batch).",
    )
    token_credit: Literal["paper", "centred", "blame", "group_softmax", "weights"] = Field(
        "paper",
        description="Token term: 'paper' (z-scored s*w per response), 'centred' (verdicts centred within "
        "the group, bounded), 'blame' (the failed rubrics' side of 'centred' only: never pushes a token up), "
        "'group_softmax' (the authors' second mode) or 'weights' (mean-1 token weights "
        "multiplying the response advantage).",
    )
    centred_scale: Literal["none", "std"] = Field(
        "none",
        description="'centred' and 'blame' credit: verdicts minus the group mean ('none') or also divided by the "
        "group std.",
    )
    weight_cap: float = Field(4.0, ge=1.0, description="'weights' credit: cap of a token's relevance over its mean.")
    relevance: Literal["discriminator", "rules", "rules+discriminator"] = Field(
        "discriminator",
        description="Relevance source: the discriminator, exact rule spans only, or rule spans where "
        "the rule has them and the discriminator for the rest.",
    )
    #: discriminator folder (``rtt disc train`` output); required when the token term is on.
    discriminator: str | None = None
    relevance_reduce: Literal["max", "mean"] = "max"
    discriminator_token_budget: int = Field(16384, ge=64)
    max_rubrics: int = Field(20, ge=1)
    loose: bool = False
    heatmap_every: int = Field(0, ge=0)
    heatmap_count: int = Field(4, ge=1)
    compat_public_reshape: bool = False

    @field_validator("response_advantage", mode="before")
    @classmethod
    def _renamed(cls, v: Any) -> Any:
        refuse_renamed_response_advantage(v, fix="set rtt.response_advantage: grpo")
        return v

    @model_validator(mode="after")
    def _needs_disc(self) -> RTTSection:
        if self.needs_discriminator and not self.discriminator:
            raise ValueError(
                "rtt.discriminator is required when rtt.beta > 0 and rtt.token_norm != 'none' "
                "(unless rtt.relevance is 'rules')"
            )
        if self.token_credit == "weights" and self.combine != "add":
            raise ValueError("rtt.token_credit 'weights' multiplies the response advantage: it needs rtt.combine 'add'")
        return self

    @property
    def token_term_on(self) -> bool:
        return self.beta > 0 and self.token_norm != "none"

    @property
    def needs_discriminator(self) -> bool:
        return self.token_term_on and self.relevance != "rules"


class JudgeSection(_Section):
    """Passed to ``rubrics.llm.LLMConfig`` (OpenAI-compatible endpoint); unknown keys are checked there."""

    model_config = ConfigDict(extra="allow")

    base_url: str | None = None
    model: str | None = None


class EvalSection(_Section):
    every: int = Field(0, ge=0)  # 0: off
    benchmark: str = "ifeval"
    limit: int = Field(16, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    batch_size: int = Field(8, ge=1)


class LaunchSection(_Section):
    """Where the run goes and how big an RL step is; :func:`grpo.layout.resolve_layout` derives the rest."""

    nodes: int = Field(1, ge=1, description="Training nodes (machines that run training processes).")
    gpus_per_node: int = Field(8, ge=1, description="GPUs per training node.")
    reserved_gpus_per_node: int = Field(
        0, ge=0, description="GPUs per training node NOT running a training process (e.g. a local trl vllm-serve)."
    )
    processes: int | None = Field(
        None,
        ge=1,
        description="Training processes in all (default nodes x (gpus_per_node - reserved_gpus_per_node)); "
        "at run time the actual WORLD_SIZE wins.",
    )
    prompts_per_step: int | None = Field(
        None,
        ge=1,
        description="Prompts per RL step (one generation round; paper 64). Set: per_device_train_batch_size, "
        "gradient_accumulation_steps and steps_per_generation are derived from the process count so that it holds, "
        "or the config is refused. None: the grpo values are used as written.",
    )
    optimizer_steps_per_step: int = Field(
        1, ge=1, description="Optimiser steps (mini-batches) per RL step (paper recipe: 2 of 256 completions)."
    )
    max_per_device_batch: int = Field(8, ge=1, description="Largest per-device micro-batch the derivation may pick.")

    @model_validator(mode="after")
    def _gpus(self) -> LaunchSection:
        if self.reserved_gpus_per_node >= self.gpus_per_node:
            raise ValueError("reserved_gpus_per_node must be smaller than gpus_per_node")
        return self

    @property
    def planned_processes(self) -> int:
        return self.processes or self.nodes * (self.gpus_per_node - self.reserved_gpus_per_node)


class PolicyTrainConfig(_Section):
    name: str = "rtt-grpo"
    model: ModelSection
    data: DataSection
    rtt: RTTSection = Field(default_factory=RTTSection)
    judge: JudgeSection | None = None
    grpo: dict[str, Any] = Field(default_factory=dict)
    eval: EvalSection = Field(default_factory=EvalSection)
    launch: LaunchSection | None = None
    #: for ``accelerate launch --config_file`` (multi-GPU presets); informational for single-process runs.
    accelerate_config: str | None = None
    source: str | None = Field(default=None, exclude=True)

    @field_validator("grpo")
    @classmethod
    def _no_rtt_keys_in_grpo(cls, v: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(v) & set(RTT_FIELD_MAP.values()))
        if clash:
            raise ValueError(f"set {clash} in the 'rtt' section, not in 'grpo'")
        bad = grpo_range_error(v)
        if bad:
            raise ValueError(f"grpo.{bad[0]}: {bad[1]}")
        return v

    def grpo_args(self, **extra: Any):
        """The :class:`grpo.rtt_grpo_config.RTTGRPOConfig` for this file (unknown ``grpo`` keys are named)."""
        import dataclasses

        from grpo.rtt_grpo_config import RTTGRPOConfig

        known = {f.name for f in dataclasses.fields(RTTGRPOConfig)}
        unknown = sorted(set(self.grpo) - known)
        if unknown:
            raise ConfigError(self.source, f"grpo.{unknown[0]}", "not a GRPOConfig / TrainingArguments field")
        kw: dict[str, Any] = {"output_dir": f"runs/{self.name}", "report_to": [], **self.grpo}
        for key, field in RTT_FIELD_MAP.items():
            kw[field] = getattr(self.rtt, key)
        kw["judge_config"] = self.judge.model_dump(exclude_none=True) if self.judge else None
        if self.model.dtype and "model_init_kwargs" not in self.grpo:
            kw["model_init_kwargs"] = {"dtype": self.model.dtype}
        kw.update(extra)
        try:
            return RTTGRPOConfig(**kw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(self.source, "grpo", str(exc)) from None


#: numeric ``grpo`` fields checked at load time (TRL / transformers check some of them only after both models
#: are loaded): name -> (lower bound, lower inclusive, upper bound or None, integer required)
GRPO_RANGES: dict[str, tuple[float, bool, float | None, bool]] = {
    "learning_rate": (0, False, None, False),
    "num_train_epochs": (0, False, None, False),
    "max_steps": (-1, True, None, True),
    "per_device_train_batch_size": (1, True, None, True),
    "per_device_eval_batch_size": (1, True, None, True),
    "gradient_accumulation_steps": (1, True, None, True),
    "num_generations": (1, True, None, True),
    "max_completion_length": (1, True, None, True),
    "max_prompt_length": (1, True, None, True),
    "num_iterations": (1, True, None, True),
    "temperature": (0, True, None, False),
    "top_p": (0, False, 1, False),
    "top_k": (0, True, None, True),
    "beta": (0, True, None, False),
    "epsilon": (0, True, None, False),
    "warmup_ratio": (0, True, 1, False),
    "warmup_steps": (0, True, None, False),
    "weight_decay": (0, True, None, False),
    "max_grad_norm": (0, True, None, False),
    "adam_beta1": (0, True, 1, False),
    "adam_beta2": (0, True, 1, False),
    "adam_epsilon": (0, False, None, False),
    "logging_steps": (0, False, None, False),
    "save_steps": (0, False, None, False),
    "eval_steps": (0, False, None, False),
    "save_total_limit": (1, True, None, True),
    "seed": (0, True, None, True),
    "generation_batch_size": (1, True, None, True),
}


def grpo_range_error(grpo: Any) -> tuple[str, str] | None:
    """``(field, reason)`` of the first out-of-range numeric ``grpo`` field (see :data:`GRPO_RANGES`), else None."""
    if not isinstance(grpo, dict):
        return None
    for key, (lo, lo_incl, hi, integer) in GRPO_RANGES.items():
        if key not in grpo or grpo[key] is None:
            continue
        v = grpo[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
            return key, f"must be {'an integer' if integer else 'a number'}, got {v!r}"
        if v < lo or (v == lo and not lo_incl) or (hi is not None and v > hi):
            rng = f"{'>=' if lo_incl else '>'} {lo:g}" + (f" and <= {hi:g}" if hi is not None else "")
            return key, f"must be {rng}, got {v!r}"
    return None


#: ``rtt`` section key -> :class:`grpo.rtt_grpo_config.RTTGRPOConfig` field (``beta`` is TRL's KL coefficient there).
RTT_FIELD_MAP = {
    "alpha": "rtt_alpha",
    "beta": "rtt_beta",
    "token_norm": "rtt_token_norm",
    "combine": "rtt_combine",
    "reward": "rtt_reward",
    "eps": "rtt_eps",
    "response_advantage": "rtt_response_advantage",
    "discriminator": "discriminator_path",
    "relevance_reduce": "relevance_reduce",
    "discriminator_token_budget": "discriminator_token_budget",
    "max_rubrics": "max_rubrics",
    "loose": "verdicts_loose",
    "heatmap_every": "heatmap_every",
    "heatmap_count": "heatmap_count",
    "compat_public_reshape": "rtt_compat_public_reshape",
    "token_credit": "rtt_token_credit",
    "centred_scale": "rtt_centred_scale",
    "weight_cap": "rtt_weight_cap",
    "relevance": "rtt_relevance",
}


class ConfigError(ValueError):
    """A config problem, located: file and dotted key."""

    def __init__(self, path: str | None, key: str | None, reason: str):
        self.path, self.key, self.reason = path, key, reason
        where = path or "<config>"
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


def preset_path(name_or_path: str | Path) -> Path:
    """A preset name (``cpu-smoke``) or a path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(str(p), None, "config file not found")
        return p
    cand = PRESET_DIR / f"{name_or_path}.yaml"
    if cand.is_file():
        return cand
    raise ConfigError(str(name_or_path), None, f"neither a file nor a preset (presets: {', '.join(PRESETS)})")


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (value parsed as YAML; ``a.b.c=`` creates nested dicts)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(None, item, "override must look like key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(None, key, f"value is not valid YAML: {exc}") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(None, key, f"{part!r} is not a section")
            node = nxt
        node[parts[-1]] = value
    return data


def load_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> PolicyTrainConfig:
    """Read, override and validate a config; errors name the file and the dotted key."""
    path = preset_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), None, f"invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, "top level must be a mapping")
    data = apply_overrides(data, overrides)
    bad = grpo_range_error(data.get("grpo"))
    if bad:
        raise ConfigError(str(path), f"grpo.{bad[0]}", bad[1])
    try:
        cfg = PolicyTrainConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"]) or None
        raise ConfigError(str(path), key, err["msg"]) from None
    cfg.source = str(path)
    return cfg
