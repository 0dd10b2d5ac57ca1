"""Prefect flows of the policy stage: ``train_policy`` (RTT-GRPO) and ``evaluate_policy``.

Each wraps the library function (``grpo.run.run_training``, ``grpo.evaluate.run_evaluation``) in one task and
publishes the results as artifacts: a table of the final RTT / TRL metrics and the latest heatmap path
(``policy-train-*``), and the accuracy table plus the markdown report (``policy-eval-*``). Training is not
retried (resume with ``grpo.resume_from_checkpoint=last``: the newest intact checkpoint; or a checkpoint folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, ConfigDict, Field

from flows.artifacts import abs_path, artifact_key, fit_markdown, md_image
from grpo.evaluate import PolicyEvalConfig, PolicyEvalReport, run_evaluation

#: the RTT-GRPO presets of grpo/configs (a test checks this list against the folder)
PolicyPreset = Literal["cpu-smoke", "single-gpu", "multi-gpu", "paper", "paper-multinode"]
#: typed field -> the section.key it sets in the policy config
POLICY_FIELDS = {
    "model": "model.name_or_path",
    "train_data": "data.train",
    "train_limit": "data.limit",
    "discriminator": "rtt.discriminator",
    "reward": "rtt.reward",
    "beta": "rtt.beta",
    "token_credit": "rtt.token_credit",
    "relevance": "rtt.relevance",
    "output_dir": "grpo.output_dir",
    "max_steps": "grpo.max_steps",
    "learning_rate": "grpo.learning_rate",
    "num_generations": "grpo.num_generations",
    "accelerate_config": "accelerate_config",
}


class TrainPolicyParams(BaseModel):
    """Train a policy with RTT-GRPO: a preset, optional typed overrides, then free section.key=value overrides.
    Empty fields keep the preset's value."""

    model_config = ConfigDict(extra="forbid")

    preset: PolicyPreset = Field(
        "cpu-smoke",
        description="Preset of grpo/configs: cpu-smoke (SmolLM2-135M on CPU, "
        "minutes), single-gpu, multi-gpu (accelerate, DeepSpeed ZeRO-3), paper (one 8-GPU node, vLLM colocate), "
        "paper-multinode (training nodes + a vLLM server node + a judge server).",
    )
    config_file: str | None = Field(
        None, description="A YAML policy config used instead of the preset; empty: the preset."
    )
    model: str | None = Field(None, description="Policy model: Hugging Face id or folder; empty: the preset's.")
    train_data: list[str] | None = Field(
        None, description="Rubric item files to train on (e.g. RUN_DIR/rubrics/train.jsonl); empty: the preset's."
    )
    train_limit: int | None = Field(
        None, ge=1, description="Use the first N training prompts only; empty: the preset's."
    )
    discriminator: str | None = Field(
        None, description="Exported discriminator folder for the token term; empty: the preset's."
    )
    reward: Literal["aon", "csr", "weighted", "healthbench"] | None = Field(
        None,
        description="Sequence reward: aon (all rubrics met), csr (fraction met), weighted (|w|-weighted "
        "fraction met) or healthbench (achieved / total positive points, clipped to [0, 1]); empty: the preset's.",
    )
    beta: float | None = Field(None, ge=0, description="Weight of the token-level term; empty: the preset's.")
    token_credit: Literal["paper", "centred", "blame", "group_softmax", "weights"] | None = Field(
        None,
        description="Token term: paper (z-scored per response, the paper's), centred (verdicts centred within "
        "the group, bounded), blame (the failed rubrics' side of centred only: never pushes a token up), "
        "group_softmax (the authors' second mode) or weights (mean-1 token weights on the response advantage); "
        "empty: the preset's.",
    )
    relevance: Literal["discriminator", "rules", "rules+discriminator"] | None = Field(
        None,
        description="Where token relevance comes from: the discriminator, exact rule spans only, or rule spans "
        "where the rule has them and the discriminator for the other rubrics; empty: the preset's.",
    )
    output_dir: str | None = Field(
        None, description="Run folder: checkpoints, final policy, heatmaps, summary.json; empty: the preset's."
    )
    max_steps: int | None = Field(None, ge=1, description="Training steps; empty: the preset's.")
    learning_rate: float | None = Field(None, gt=0, description="Learning rate; empty: the preset's.")
    num_generations: int | None = Field(
        None, ge=2, description="Completions per prompt (the GRPO group); empty: the preset's."
    )
    accelerate_config: str | None = Field(
        None,
        description="accelerate config file: with several processes the "
        "flow starts accelerate launch; empty: the preset's, else "
        "$RTT_ACCELERATE_CONFIG of the machine running the flow.",
    )
    overrides: list[str] = Field(
        default_factory=list,
        description="Further section.key=value overrides (values "
        "parsed as YAML), applied after the fields above, e.g. grpo.beta=0.04.",
    )
    save: bool = Field(True, description="Save the final policy under output_dir/final.")

    @property
    def config(self) -> str:
        """The preset name or the YAML file (what :func:`grpo.train_config.load_config` takes)."""
        return self.config_file or self.preset

    def all_overrides(self) -> list[str]:
        """The typed fields as ``section.key=value`` strings, then :attr:`overrides`."""
        import json

        typed = [
            f"{key}={json.dumps(getattr(self, f))}" for f, key in POLICY_FIELDS.items() if getattr(self, f) is not None
        ]
        return typed + list(self.overrides)

    def machine_overrides(self) -> list[str]:
        """:meth:`all_overrides`, plus the machine's accelerate config (``$RTT_ACCELERATE_CONFIG``, a job variable
        of a GPU worker) when neither these parameters nor the preset name one."""
        import json
        import os

        from flows.subprocess_launch import ACCELERATE_ENV
        from grpo.train_config import load_config

        machine = os.environ.get(ACCELERATE_ENV)
        if machine and load_config(self.config, self.all_overrides()).accelerate_config is None:
            return [*self.all_overrides(), f"accelerate_config={json.dumps(machine)}"]
        return self.all_overrides()


@task(name="train-policy")
def train_task(params: TrainPolicyParams) -> dict[str, Any]:
    from flows.subprocess_launch import launch_policy_training, policy_launch
    from grpo.run import run_training
    from grpo.train_config import load_config

    overrides = params.machine_overrides()
    cfg = load_config(params.config, overrides)
    launch = policy_launch(cfg)  # accelerate_config with num_processes > 1: `accelerate launch -m grpo.run`
    if launch is not None:
        return launch_policy_training(params.config, overrides, launch, get_run_logger())
    return run_training(cfg, save=params.save).model_dump()


@task(name="evaluate-policy")
def evaluate_task(cfg: PolicyEvalConfig) -> PolicyEvalReport:
    return run_evaluation(cfg)


@flow(name="train-policy", log_prints=False)
def train_policy(params: TrainPolicyParams) -> dict[str, Any]:
    """Train a policy with RTT-GRPO from a config; publish the final metrics as an artifact.

    Args:
        params: Preset, typed overrides and free section.key=value overrides of the policy config.
    """
    summary = train_task(params)
    key = artifact_key("policy-train", summary["name"])
    rows = [
        {"metric": k, "value": round(float(v), 6)}
        for k, v in summary["final_metrics"].items()
        if isinstance(v, (int, float))
    ]
    create_table_artifact(
        table=rows, key=key, description=f"{summary['name']}: {summary['steps']} steps, output {summary['output_dir']}"
    )
    lines = [
        f"# {summary['name']}",
        "",
        f"- steps: {summary['steps']}",
        f"- output: {abs_path(summary['output_dir'])}",
        f"- policy: {abs_path(summary['saved_model']) if summary['saved_model'] else 'not saved'}",
        f"- seconds: {summary['seconds']:.0f}",
    ]
    lines += [
        f"- policy eval step {e['step']}: prompt strict {e['prompt_strict']:.3f}, rubric strict "
        f"{e['rubric_strict']:.3f}"
        for e in summary["policy_evals"]
    ]
    lines += [md_image(h, f"token-advantage heatmap {Path(h).stem} (HTML)") for h in summary["heatmaps"][-3:]]
    create_markdown_artifact(markdown="\n".join(lines) + "\n", key=f"{key}-summary", description="RTT-GRPO run")
    get_run_logger().info("trained %s: %d steps -> %s", summary["name"], summary["steps"], summary["output_dir"])
    return summary


@flow(name="evaluate-policy", log_prints=False)
def evaluate_policy(cfg: PolicyEvalConfig) -> PolicyEvalReport:
    """Evaluate a policy on a benchmark (strict / loose, prompt- and rubric-level); publish the table.

    Args:
        cfg: Policy, benchmark, generation settings and optional judge.
    """
    report = evaluate_task(cfg)
    key = artifact_key("policy-eval", f"{report.benchmark}-{report.model.rstrip('/').split('/')[-1]}")
    header = ["subset", "prompts", "rubrics", "prompt_strict", "prompt_loose", "rubric_strict", "rubric_loose"]
    create_table_artifact(
        table=[dict(zip(header, r)) for r in report.table_rows()],
        key=key,
        description=f"{report.benchmark}: {report.overall.prompts} prompts, model {report.model}",
    )
    create_markdown_artifact(
        markdown=fit_markdown(report.markdown()), key=f"{key}-report", description="policy evaluation"
    )
    get_run_logger().info(
        "%s on %s: prompt strict %.3f, rubric strict %.3f",
        report.model,
        report.benchmark,
        report.overall.prompt_strict,
        report.overall.rubric_strict,
    )
    return report
