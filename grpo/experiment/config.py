"""Config of the learning experiment (``rtt experiment``, flow ``experiment``, ``bench_learning.py``).

One :class:`ExperimentConfig` = one policy, one task, shared training settings (steps, prompts per step,
group size, completion budget, optimiser, learning rate, temperature) and a list of *arms* that differ only
in the reward and the token term (:class:`ArmSpec`), each trained once per seed. Presets: ``cpu`` (SmolLM2
on 2 CPU cores), ``gpu`` (one H100), ``testbed`` and ``testbed-r1`` (the tiny self-pretrained testbed LM,
:mod:`grpo.experiment.testbed_lm`). Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grpo.experiment.task import TaskConfig
from grpo.renamed import refuse_renamed_response_advantage

Relevance = Literal["none", "discriminator", "oracle", "shuffled", "oracle-shuffled", "uniform", "cort"]


class ArmSpec(BaseModel):
    """One arm: the reward and the token term; everything else is shared by all arms."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Arm name (a folder name).")
    reward: Literal["aon", "csr", "weighted"] = Field("aon", description="Response reward: aon, csr or weighted.")
    beta: float = Field(0.0, ge=0, description="RTT token-term weight (0 = plain GRPO).")
    alpha: float = Field(1.0, description="Response-advantage weight.")
    token_norm: Literal["intra", "inter"] = Field("intra", description="Token normalisation.")
    combine: Literal["add", "mix"] = Field("add", description="How the two advantages combine.")
    token_credit: Literal["paper", "centred", "blame", "group_softmax", "weights"] = Field(
        "paper",
        description="Token term: paper (z-scored), centred (group-centred, bounded), blame (the failed "
        "rubrics' side of centred only), group_softmax (the authors' second mode), weights (mean-1 token weights "
        "on the response advantage).",
    )
    centred_scale: Literal["none", "std"] = Field(
        "none", description="centred and blame credit: also divide by the group std."
    )
    response_advantage: Literal["grpo", "gdpo"] = Field(
        "grpo",
        description="Response advantage: grpo (GRPO on the summed reward) or gdpo (per-rubric normalise-then-sum).",
    )
    relevance: Relevance = Field(
        "none",
        description="Relevance source: none, discriminator, oracle (rule spans), shuffled (permuted "
        "discriminator), oracle-shuffled (permuted oracle), uniform (every response token relevant to every rubric: "
        "the rubric-level credit without localisation, the control of a localised credit), cort.",
    )

    @field_validator("response_advantage", mode="before")
    @classmethod
    def _renamed(cls, v: Any) -> Any:
        refuse_renamed_response_advantage(v, fix="set response_advantage: grpo")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ArmSpec:
        if self.beta > 0 and self.relevance == "none":
            raise ValueError(f"arm {self.name!r}: beta > 0 needs a relevance source")
        if self.beta == 0 and self.relevance != "none":
            raise ValueError(
                f"arm {self.name!r}: relevance {self.relevance!r} is unused with beta 0 (set relevance: none)"
            )
        if self.token_credit == "weights" and self.combine != "add":
            raise ValueError(f"arm {self.name!r}: token_credit 'weights' needs combine 'add'")
        return self

    @property
    def needs_discriminator(self) -> bool:
        return self.relevance in ("discriminator", "shuffled")


DEFAULT_ARMS: list[dict[str, Any]] = [
    {"name": "grpo-aon", "reward": "aon", "beta": 0.0},
    {"name": "grpo-csr", "reward": "csr", "beta": 0.0},
    {"name": "rtt", "reward": "aon", "beta": 0.5, "relevance": "discriminator"},
    {"name": "rtt-oracle", "reward": "aon", "beta": 0.5, "relevance": "oracle"},
    {"name": "rtt-shuffled", "reward": "aon", "beta": 0.5, "relevance": "shuffled"},
    {"name": "rtt-cort", "reward": "aon", "beta": 0.5, "relevance": "cort"},
]

#: The token-credit comparison (issue: token credit that beats GRPO): the two response-level baselines, the paper's
#: term, the group-centred bounded term with its shuffled control, CoRT-style weights and the authors' second mode,
#: all with oracle relevance (exact rule spans), so the credit mechanism is tested apart from the discriminator.
CREDIT_ARMS: list[dict[str, Any]] = [
    {"name": "grpo-aon", "reward": "aon", "beta": 0.0},
    {"name": "gdpo", "reward": "aon", "beta": 0.0, "response_advantage": "gdpo"},
    {"name": "rtt-paper-oracle", "reward": "aon", "beta": 0.5, "relevance": "oracle", "token_credit": "paper"},
    {"name": "rtt-centred-oracle", "reward": "aon", "beta": 0.5, "relevance": "oracle", "token_credit": "centred"},
    {
        "name": "rtt-centred-shuffled",
        "reward": "aon",
        "beta": 0.5,
        "relevance": "oracle-shuffled",
        "token_credit": "centred",
    },
    {"name": "rtt-weights-oracle", "reward": "aon", "beta": 1.0, "relevance": "oracle", "token_credit": "weights"},
    {
        "name": "rtt-softmax-oracle",
        "reward": "aon",
        "beta": 0.5,
        "relevance": "oracle",
        "token_credit": "group_softmax",
    },
]


#: The testbed's second round: the group-centred credit against both baselines, with its two controls - shuffled
#: (the same credit on random tokens of the response) and uniform (the same credit on every token: rubric-level,
#: not localised) - and with a MiniLM discriminator trained on the testbed's own pairs
#: (benchmarks/task_discriminator.sh) in place of the oracle. Round one (CREDIT_ARMS, greedy evaluation) ruled out
#: paper, weights and group_softmax.
TESTBED_ARMS: list[dict[str, Any]] = [
    {"name": "grpo-aon", "reward": "aon", "beta": 0.0},
    {"name": "gdpo", "reward": "aon", "beta": 0.0, "response_advantage": "gdpo"},
    {"name": "rtt-centred-oracle", "reward": "aon", "beta": 0.5, "relevance": "oracle", "token_credit": "centred"},
    {
        "name": "rtt-centred-shuffled",
        "reward": "aon",
        "beta": 0.5,
        "relevance": "oracle-shuffled",
        "token_credit": "centred",
    },
    {"name": "rtt-centred-uniform", "reward": "aon", "beta": 0.5, "relevance": "uniform", "token_credit": "centred"},
    {"name": "rtt-centred-disc", "reward": "aon", "beta": 0.5, "relevance": "discriminator", "token_credit": "centred"},
]


class ReportConfig(BaseModel):
    """Which arms the report compares and how (see :mod:`grpo.experiment.stats`)."""

    model_config = ConfigDict(extra="forbid")

    baselines: list[str] = Field(
        default_factory=lambda: ["grpo-aon", "gdpo"],
        description="Every arm is compared against each of these that is present; the first "
        "one present is the sample-efficiency reference.",
    )
    controls: bool = Field(
        True,
        description="Also compare each token-credit arm against its controls when present: "
        "shuffled (X-oracle -> X-shuffled, X -> X-shuffled) and uniform "
        "(X-oracle / X-disc -> X-uniform: the same credit, not localised).",
    )
    comparisons: list[tuple[str, str]] | None = Field(
        None, description="Explicit (arm, against) pairs instead of the derived list."
    )
    final_window: int = Field(
        1,
        ge=1,
        description="Evaluations averaged per held-out prompt at the end of each run "
        "(1: the final one; 3: the last three, which damps the swings of greedy decoding from "
        "one evaluation to the next).",
    )
    n_boot: int = Field(10_000, ge=100, description="Bootstrap resamples.")
    level: float = Field(0.95, gt=0, lt=1, description="Confidence level of the intervals.")
    seed: int = Field(0, description="RNG seed of the bootstrap.")


class ExperimentConfig(BaseModel):
    """Everything one comparison needs; arms x seeds runs, each resumable on its own."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("learning", description="Experiment name.")
    out: str = Field(
        "runs/experiment", description="Output folder (runs/<arm>/seed<k>/, report.md, report.json, curves.png)."
    )
    model: str = Field(
        "smollm2",
        description="Policy: a local folder, 'smollm2' (the offline SmolLM2-135M-Instruct) or "
        "'testbed' (the tiny self-pretrained testbed LM, runs/testbed-lm, built on first use).",
    )
    discriminator: str | None = Field(None, description="Discriminator folder for the discriminator / shuffled arms.")
    task: TaskConfig = Field(default_factory=TaskConfig, description="The prompt set and its rubrics.")
    arms: list[ArmSpec] = Field(
        default_factory=lambda: [ArmSpec(**a) for a in DEFAULT_ARMS],
        description="Arms to compare (name, reward, beta, relevance, ...).",
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2], min_length=1, description="Seeds; one run per (arm, seed)."
    )
    steps: int = Field(12, ge=1, description="Optimizer steps per run.")
    prompts_per_step: int = Field(4, ge=1, description="Distinct prompts per step.")
    num_generations: int = Field(4, ge=2, description="Completions per prompt (the GRPO group).")
    max_completion_length: int = Field(48, ge=1, description="Generation budget (tokens) in training and evaluation.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature in training.")
    learning_rate: float = Field(2e-5, gt=0, description="AdamW learning rate (constant schedule).")
    eval_every: int = Field(4, ge=1, description="Held-out evaluation every N steps (and at step 0 and the end).")
    eval_samples: int = Field(
        0,
        ge=0,
        description="Held-out decoding: 0 = greedy (one answer per prompt); k > 0 = k answers per prompt sampled "
        "at the training temperature, each prompt's pass rates the mean over its k answers (the expected pass rate: "
        "far less jumpy than one greedy answer). The sampling seed depends on the run seed and the step only, so "
        "every arm of a seed is evaluated on the same random numbers; training's own random stream is left untouched.",
    )
    eval_batch_size: int = Field(16, ge=1, description="Prompts per held-out generation batch.")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="Policy weights dtype.")
    use_cpu: bool = Field(True, description="Train on CPU even when a GPU is present.")
    grpo: dict[str, Any] = Field(default_factory=dict, description="Extra trl.GRPOConfig fields shared by all arms.")
    initial_samples: int = Field(2, ge=1, description="Samples per train prompt for the initial pass rates.")
    checkpoint_every: int = Field(
        0,
        ge=0,
        description="Save a resumable checkpoint (weights, optimizer, RNG, the run's evaluations so far) every N "
        "steps; an interrupted run then continues from its newest complete checkpoint "
        "(0: off, an interrupted run restarts).",
    )
    cort_token_budget: int = Field(4096, ge=64, description="Padded tokens per CoRT scoring batch.")
    report: ReportConfig = Field(default_factory=ReportConfig, description="Comparisons and bootstrap of the report.")

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        names = [a.name for a in self.arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arms: duplicate arm name(s) {dup}")
        if not self.arms:
            raise ValueError("arms: at least one arm")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds: duplicates")
        if any(a.needs_discriminator for a in self.arms) and not self.discriminator:
            need = [a.name for a in self.arms if a.needs_discriminator]
            raise ValueError(f"discriminator: required by arm(s) {need}")
        return self

    def arm(self, name: str) -> ArmSpec:
        for a in self.arms:
            if a.name == name:
                return a
        raise KeyError(f"unknown arm {name!r}; arms: {[a.name for a in self.arms]}")


PRESETS: dict[str, dict[str, Any]] = {
    # 2 CPU cores: 6 arms x 3 seeds x 12 steps of 2 prompts x 4 completions x 48 tokens, evaluations at 0, 6, 12
    "cpu": {
        "name": "learning-cpu",
        "out": "runs/experiment-cpu",
        "discriminator": "runs/disc-minilm/model",
        "steps": 12,
        "eval_every": 6,
        "prompts_per_step": 2,
        "num_generations": 4,
        "max_completion_length": 48,
        "learning_rate": 3e-5,
    },
    # one H100 / H200: the token-credit arms (all but group_softmax) with oracle relevance x 3 seeds, every run a
    # parallel worker process (benchmarks/learning_gpu.sh): bf16, 8 prompts x 8 completions of 48 tokens, 30 steps,
    # 24 held-out prompts
    "gpu": {
        "name": "learning-gpu",
        "out": "runs/experiment-gpu",
        "discriminator": None,
        "use_cpu": False,
        "dtype": "bfloat16",
        "steps": 30,
        "eval_every": 10,
        "prompts_per_step": 8,
        "num_generations": 8,
        "max_completion_length": 48,
        "learning_rate": 2e-5,
        "eval_batch_size": 24,
        "task": {"train_prompts": 24, "heldout_prompts": 24},
        "arms": CREDIT_ARMS[:6],
    },
    # the learning testbed (grpo/experiment/testbed_lm.py, benchmarks/testbed.sh): a tiny LM pretrained by the project
    # on its own text - a fast, powered test of the credit mechanism on 2 CPU cores, not a claim about real models;
    # 4 sampled answers per held-out prompt, the report on the mean of the last three evaluations; 6 arms x 5 seeds
    # keep all runs within 90 minutes on 2 cores (more seeds: --set seeds=[0,...,9], resumed)
    "testbed": {
        "name": "testbed",
        "out": "runs/experiment-testbed-r2",
        "model": "testbed",
        "discriminator": "runs/task-disc-testbed/disc/model",
        "task": {
            "prompts": "testbed",
            "train_prompts": 400,
            "heldout_prompts": 128,
            "min_words": 16,
            "targets": ["no_comma", "keyword", "forbidden", "lowercase"],
        },
        "arms": TESTBED_ARMS,
        "seeds": [0, 1, 2, 3, 4],
        "steps": 200,
        "eval_every": 25,
        "eval_samples": 4,
        "report": {"final_window": 3},
        "prompts_per_step": 4,
        "num_generations": 8,
        "max_completion_length": 48,
        "temperature": 1.0,
        "learning_rate": 1e-4,
        "eval_batch_size": 64,
        "initial_samples": 2,
    },
}
# round one of the testbed (docs/learning-testbed-report.md): every token credit of CREDIT_ARMS, greedy evaluation
PRESETS["testbed-r1"] = {
    **PRESETS["testbed"],
    "out": "runs/experiment-testbed",
    "discriminator": None,
    "arms": CREDIT_ARMS,
    "seeds": [0, 1, 2, 3, 4],
    "eval_samples": 0,
    "report": {"final_window": 1},
}
# round two's follow-up: the same centred credit with a larger token term. At beta 0.5 the token advantage's std
# is about 0.07 against a response advantage of about 0.8, so localisation may not matter because the term is
# small; beta 2 and 4 ask whether it matters once the term carries weight (oracle against its shuffled control).
# The baselines and the beta-0.5 arms are round two's runs (the same config: copied into `out`, they are skipped).
_BETA_ARMS = [
    {**arm, "name": f"{arm['name']}-b{beta:g}", "beta": beta}
    for beta in (2.0, 4.0)
    for arm in TESTBED_ARMS
    if arm["name"] in ("rtt-centred-oracle", "rtt-centred-shuffled")
]
PRESETS["testbed-beta"] = {
    **PRESETS["testbed"],
    "out": "runs/experiment-testbed-r2-beta",
    "discriminator": None,
    "arms": [a for a in TESTBED_ARMS if a["name"] in ("grpo-aon", "gdpo", "rtt-centred-oracle", "rtt-centred-shuffled")]
    + _BETA_ARMS,
    "report": {
        "final_window": 3,
        "comparisons": [
            pair
            for b in ("b2", "b4")
            for pair in (
                (f"rtt-centred-oracle-{b}", "grpo-aon"),
                (f"rtt-centred-oracle-{b}", "gdpo"),
                (f"rtt-centred-oracle-{b}", f"rtt-centred-shuffled-{b}"),
                (f"rtt-centred-oracle-{b}", "rtt-centred-oracle"),
                (f"rtt-centred-shuffled-{b}", "grpo-aon"),
            )
        ]
        + [("rtt-centred-oracle", "grpo-aon"), ("rtt-centred-oracle", "rtt-centred-shuffled")],
    },
}

# round three (semantics of discriminator/rule_spans.py: only the occurrences that suffice are credited up, a failed
# "at least N" marks nothing). A screen on seeds 0-1 chose the arm to confirm: the centred credit at beta 1 and 4,
# and "blame" (its failed side alone) at beta 1 and 4, against GRPO-AON (docs/results/2026-12-08-token-credit.md).
_CENTRED = {"reward": "aon", "relevance": "oracle", "token_credit": "centred"}
_BLAME = {"reward": "aon", "relevance": "oracle", "token_credit": "blame"}
PRESETS["testbed-screen"] = {
    **PRESETS["testbed"],
    "out": "runs/experiment-testbed-screen",
    "discriminator": None,
    "arms": [
        {"name": "grpo-aon", "reward": "aon", "beta": 0.0},
        {"name": "rtt-centred-oracle-b4", **_CENTRED, "beta": 4.0},
        {"name": "rtt-blame-oracle-b4", **_BLAME, "beta": 4.0},
        {"name": "rtt-centred-oracle-b1", **_CENTRED, "beta": 1.0},
        {"name": "rtt-blame-oracle-b1", **_BLAME, "beta": 1.0},
    ],
    "seeds": [0, 1],
}
# the confirmation, on five fresh seeds (2-6: none of the screen's, so the choice cannot flatter it): the chosen
# centred credit at beta 1 against both baselines and its two controls - shuffled (the same values on random tokens
# of the response) and uniform (on every token: rubric-level, not localised) - and blame at beta 1 beside it.
PRESETS["testbed-r3"] = {
    **PRESETS["testbed"],
    "out": "runs/experiment-testbed-r3",
    "discriminator": None,
    "arms": [
        {"name": "grpo-aon", "reward": "aon", "beta": 0.0},
        {"name": "gdpo", "reward": "aon", "beta": 0.0, "response_advantage": "gdpo"},
        {"name": "rtt-centred-oracle-b1", **_CENTRED, "beta": 1.0},
        {"name": "rtt-centred-shuffled-b1", **_CENTRED, "beta": 1.0, "relevance": "oracle-shuffled"},
        {"name": "rtt-centred-uniform-b1", **_CENTRED, "beta": 1.0, "relevance": "uniform"},
        {"name": "rtt-blame-oracle-b1", **_BLAME, "beta": 1.0},
    ],
    "seeds": [2, 3, 4, 5, 6],
}
# the same runs extended to ten seeds (7-11 added) for the arms the acceptance compares: on seeds 2-6 the centred
# credit beat both controls and GDPO but its interval against GRPO-AON touched 0 (+0.039 [-0.000, +0.076]); the
# five-seed result stays the pre-registered one, this is reported beside it
PRESETS["testbed-r3-ext"] = {
    **PRESETS["testbed-r3"],
    "arms": [
        a for a in PRESETS["testbed-r3"]["arms"] if a["name"] not in ("rtt-centred-uniform-b1", "rtt-blame-oracle-b1")
    ],
    "seeds": list(range(2, 12)),
}


class ExperimentConfigError(ValueError):
    """A config problem, located: file (or preset) and dotted key."""


def load_experiment(name_or_path: str | Path = "cpu", overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """A preset name (cpu, gpu) or a YAML file, with ``key.sub=value`` overrides (values parsed as YAML)."""
    from grpo.train_config import ConfigError, apply_overrides

    src = str(name_or_path)
    if src in PRESETS:
        data = dict(PRESETS[src])
    else:
        path = Path(src)
        if not path.is_file():
            raise ExperimentConfigError(f"{src}: neither a preset ({', '.join(PRESETS)}) nor a YAML file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ExperimentConfigError(f"{src}: invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ExperimentConfigError(f"{src}: top level must be a mapping")
    try:
        data = apply_overrides(data, list(overrides))
        return ExperimentConfig.model_validate(data)
    except ConfigError as exc:
        raise ExperimentConfigError(f"{src}: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"]) or "<top>"
        raise ExperimentConfigError(f"{src}: {key}: {err['msg']}") from None
