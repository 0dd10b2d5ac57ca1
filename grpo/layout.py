"""The launch layout of a policy run: processes, RL-step arithmetic, generation, judge and discriminator placement.

Torch-free and hardware-free: ``rtt train policy --dry-run`` prints it on any machine, and ``grpo.run`` applies
it at start-up with the actual process count (``WORLD_SIZE``).

Batch arithmetic (TRL 1.16). One RL step = one generation round of ``generation_batch_size`` completions
(``prompts_per_step x num_generations``), consumed by ``steps_per_generation`` micro-steps of
``per_device_train_batch_size`` completions per process; one optimiser step = ``gradient_accumulation_steps``
micro-steps. So with ``P`` processes::

    completions per RL step       C = P * per_device * steps_per_generation
    completions per optimiser step M = P * per_device * gradient_accumulation_steps
    optimiser steps per RL step     = steps_per_generation / gradient_accumulation_steps   (x num_iterations)

With ``launch.prompts_per_step`` set, ``M = C / launch.optimizer_steps_per_step`` must split evenly over the ``P``
processes; ``per_device`` is the largest divisor of ``M / P`` not above ``launch.max_per_device_batch`` (or the
configured ``grpo.per_device_train_batch_size``) and the rest is accumulation. A process count that does not
divide ``M`` is refused (naming the fields) instead of silently training on fewer prompts per step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from grpo.train_config import PRESET_DIR, ConfigError, PolicyTrainConfig

REPO = Path(__file__).resolve().parents[1]
DERIVED = ("per_device_train_batch_size", "gradient_accumulation_steps", "steps_per_generation")


class Layout(BaseModel):
    """A resolved launch layout (every number the run will use)."""

    config: str = Field(description="Config name.")
    nodes: int = Field(description="Training nodes.")
    processes: int = Field(description="Training processes (one per GPU).")
    per_device_train_batch_size: int = Field(description="Completions per process per micro-step.")
    gradient_accumulation_steps: int = Field(description="Micro-steps per optimiser step.")
    steps_per_generation: int = Field(description="Micro-steps per generation round (RL step).")
    num_generations: int = Field(description="Completions (rollouts) per prompt.")
    prompts_per_step: int = Field(description="Prompts per RL step.")
    completions_per_step: int = Field(description="Completions per RL step.")
    completions_per_optimizer_step: int = Field(description="Completions per optimiser step (mini-batch).")
    optimizer_steps_per_step: float = Field(description="Optimiser steps per RL step (x num_iterations).")
    max_steps: int | None = Field(description="grpo.max_steps (TRL counts optimiser steps).")
    rl_steps: float | None = Field(description="RL steps = max_steps / optimiser steps per RL step.")
    derived: bool = Field(description="Per-device batch / accumulation derived from the process count.")
    generation: str = Field(description="Where completions are generated.")
    judge: str = Field(description="LLM judge endpoint (rule rubrics need none).")
    discriminator: str = Field(description="Where the relevance discriminator lives.")
    distributed: str = Field(description="Accelerate / DeepSpeed set-up.")
    launch_command: str = Field(description="How to start it.")

    def grpo_overrides(self) -> dict[str, Any]:
        """The ``grpo`` values this layout fixes (only when derived)."""
        return {k: getattr(self, k) for k in DERIVED} if self.derived else {}

    def rows(self) -> list[tuple[str, str]]:
        rl = f"{self.rl_steps:g}" if self.rl_steps is not None else "-"
        return [
            (
                "nodes x processes",
                f"{self.nodes} x {self.processes // max(self.nodes, 1)} = {self.processes}"
                if self.processes % max(self.nodes, 1) == 0
                else f"{self.nodes} nodes, {self.processes} processes",
            ),
            (
                "prompts x rollouts per RL step",
                f"{self.prompts_per_step} x {self.num_generations} = {self.completions_per_step} completions",
            ),
            (
                "optimiser steps per RL step",
                f"{self.optimizer_steps_per_step:g} of {self.completions_per_optimizer_step} completions",
            ),
            (
                "per-device batch x grad. accum. x processes",
                f"{self.per_device_train_batch_size} x "
                f"{self.gradient_accumulation_steps} x {self.processes}"
                + (" (derived)" if self.derived else " (as written)"),
            ),
            ("steps_per_generation", str(self.steps_per_generation)),
            (
                "optimiser steps (max_steps) / RL steps",
                f"{self.max_steps if self.max_steps is not None else '-'} / {rl}",
            ),
            ("generation", self.generation),
            ("judge", self.judge),
            ("discriminator", self.discriminator),
            ("distributed", self.distributed),
            ("launch", self.launch_command),
        ]


def world_size() -> int:
    """The process count of the current launch (``WORLD_SIZE`` from accelerate / torchrun; 1 otherwise)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _accelerate(cfg: PolicyTrainConfig) -> dict[str, Any]:
    if not cfg.accelerate_config:
        return {}
    p = Path(cfg.accelerate_config)
    if not p.is_absolute() and not p.exists():
        p = REPO / p
    if not p.is_file():
        raise ConfigError(cfg.source, "accelerate_config", f"file not found: {cfg.accelerate_config}")
    return yaml.safe_load(p.read_text(encoding="utf-8")) or {}


def _largest_divisor(n: int, cap: int) -> int:
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def _int(g: dict[str, Any], key: str, default: int | None) -> int | None:
    v = g.get(key, default)
    return None if v is None else int(v)


def resolve_layout(cfg: PolicyTrainConfig, *, processes: int | None = None, nodes: int | None = None) -> Layout:
    """The layout of ``cfg`` for ``processes`` (default: ``launch`` plan, else 1) on ``nodes`` training nodes.

    Raises :class:`ConfigError` naming the fields when the numbers cannot give the configured RL step."""
    g = cfg.grpo
    src = cfg.source
    la = cfg.launch
    if nodes is not None and nodes < 1:
        raise ConfigError(src, "--nodes", "must be >= 1")
    if processes is not None and processes < 1:
        raise ConfigError(src, "--processes", "must be >= 1")
    n_nodes = nodes or (la.nodes if la else 1)
    if processes is None:
        if la is None:
            processes = 1
        elif nodes is not None:
            processes = nodes * (la.gpus_per_node - la.reserved_gpus_per_node)
        else:
            processes = la.planned_processes
    p = processes
    ng = _int(g, "num_generations", 8)
    num_iter = _int(g, "num_iterations", 1) or 1
    given_pd = _int(g, "per_device_train_batch_size", None)
    given_ga = _int(g, "gradient_accumulation_steps", None)
    given_spg = _int(g, "steps_per_generation", None)
    given_gbs = _int(g, "generation_batch_size", None)

    if la is not None and la.prompts_per_step is not None:
        derived = True
        c = la.prompts_per_step * ng
        k = la.optimizer_steps_per_step
        if c % k:
            raise ConfigError(
                src,
                "launch.optimizer_steps_per_step",
                f"{c} completions per RL step (launch.prompts_per_step {la.prompts_per_step} x "
                f"grpo.num_generations {ng}) do not split into {k} optimiser steps",
            )
        m = c // k
        if m % p:
            fits = [d for d in range(1, m + 1) if m % d == 0 and d <= 4 * max(p, 8)]
            raise ConfigError(
                src,
                "launch.processes",
                f"{p} training processes cannot hold {la.prompts_per_step} prompts x {ng} rollouts per RL "
                f"step: {m} completions per optimiser step (launch.optimizer_steps_per_step {k}) do not "
                f"split over {p} processes (grpo.per_device_train_batch_size x "
                f"grpo.gradient_accumulation_steps would have to be {m}/{p}). Use a process count that "
                f"divides {m} (e.g. {', '.join(map(str, fits[-6:]))}) or change launch.prompts_per_step",
            )
        per_rank = m // p
        if given_pd is not None:
            if per_rank % given_pd:
                raise ConfigError(
                    src,
                    "grpo.per_device_train_batch_size",
                    f"{given_pd} does not divide the {per_rank} completions each of {p} processes takes per "
                    f"optimiser step ({m} / {p}); leave it out to have it derived",
                )
            pd = given_pd
        else:
            pd = _largest_divisor(per_rank, la.max_per_device_batch)
        ga = per_rank // pd
        if given_ga is not None and given_ga != ga:
            raise ConfigError(
                src,
                "grpo.gradient_accumulation_steps",
                f"{given_ga} gives {p * pd * given_ga} completions per optimiser step with {p} processes x "
                f"per-device {pd}; {m} needed ({la.prompts_per_step} x {ng} / {k}); leave it out to have it "
                "derived",
            )
        spg = ga * k
        if given_spg is not None and given_spg != spg:
            raise ConfigError(src, "grpo.steps_per_generation", f"{given_spg} != derived {spg}; leave it out")
        if given_gbs is not None and given_gbs != c:
            raise ConfigError(
                src, "grpo.generation_batch_size", f"{given_gbs} != {c} completions per RL step; leave it out"
            )
        prompts = la.prompts_per_step
    else:
        derived = False
        pd = given_pd if given_pd is not None else 8
        ga = given_ga if given_ga is not None else 1
        if given_spg is not None:
            spg = given_spg
        elif given_gbs is not None:
            if given_gbs % (pd * p):
                raise ConfigError(
                    src,
                    "grpo.generation_batch_size",
                    f"{given_gbs} is not a multiple of per_device_train_batch_size {pd} x {p} processes",
                )
            spg = given_gbs // (pd * p)
        else:
            spg = ga
        c = p * pd * spg
        if c % ng:
            raise ConfigError(
                src,
                "grpo.per_device_train_batch_size",
                f"{pd} per device x {p} processes x {spg} steps_per_generation = {c} completions per RL "
                f"step, not a whole number of groups of grpo.num_generations {ng} (fields: "
                "grpo.per_device_train_batch_size, grpo.gradient_accumulation_steps, launch.processes)",
            )
        k = spg // ga if spg % ga == 0 else spg / ga
        m = p * pd * ga
        prompts = c // ng
    opt_per_rl = k * num_iter
    max_steps = _int(g, "max_steps", None)
    if max_steps is not None and max_steps < 0:
        max_steps = None
    rl_steps = (max_steps / opt_per_rl) if max_steps else None

    acc = _accelerate(cfg)
    return Layout(
        config=cfg.name,
        nodes=n_nodes,
        processes=p,
        per_device_train_batch_size=pd,
        gradient_accumulation_steps=ga,
        steps_per_generation=spg,
        num_generations=ng,
        prompts_per_step=prompts,
        completions_per_step=c,
        completions_per_optimizer_step=m,
        optimizer_steps_per_step=opt_per_rl,
        max_steps=max_steps,
        rl_steps=rl_steps,
        derived=derived,
        generation=_generation(g, p, n_nodes),
        judge=_judge(cfg),
        discriminator=_discriminator(cfg, p),
        distributed=_distributed(cfg, acc, p),
        launch_command=_command(cfg, acc, p, n_nodes),
    )


def _generation(g: dict[str, Any], p: int, nodes: int) -> str:
    if not g.get("use_vllm"):
        return f"transformers generate() inside each of the {p} training processes"
    mode = g.get("vllm_mode", "colocate")
    if mode == "colocate":
        util = g.get("vllm_gpu_memory_utilization", 0.3)
        tp = g.get("vllm_tensor_parallel_size", 1)
        sleep = "on" if g.get("vllm_enable_sleep_mode") else "off"
        return (
            f"vLLM colocate: one engine per training GPU ({p} engines, tensor_parallel {tp}, "
            f"gpu_memory_utilization {util}, sleep mode {sleep})"
        )
    url = (
        g.get("vllm_server_base_url")
        or f"http://{g.get('vllm_server_host', '0.0.0.0')}:{g.get('vllm_server_port', 8000)}"
    )
    return f"vLLM server (`trl vllm-serve`) at {url}, on its own GPUs outside the {p} training processes"


def _judge(cfg: PolicyTrainConfig) -> str:
    if cfg.judge is None or not cfg.judge.base_url:
        return "none: rule checkers only (LLM rubrics stay undecided)"
    model = f" ({cfg.judge.model})" if cfg.judge.model else ""
    return f"external OpenAI-compatible endpoint {cfg.judge.base_url}{model}"


def _discriminator(cfg: PolicyTrainConfig, p: int) -> str:
    if not cfg.rtt.token_term_on:
        return "not loaded (token term off: rtt.beta = 0 or rtt.token_norm = none)"
    return (
        f"{cfg.rtt.discriminator}: one full copy on each of the {p} training processes (loaded outside ZeRO-3 "
        "zero.Init, eval mode, no grad)"
    )


def _distributed(cfg: PolicyTrainConfig, acc: dict[str, Any], p: int) -> str:
    if not acc:
        return "single process" if p == 1 else f"{p} processes (accelerate defaults: DDP)"
    kind = acc.get("distributed_type", "?")
    ds = acc.get("deepspeed_config") or {}
    stage = f" ZeRO-{ds['zero_stage']}" if "zero_stage" in ds else ""
    return f"{kind}{stage}, mixed precision {acc.get('mixed_precision', 'no')} ({cfg.accelerate_config})"


def _command(cfg: PolicyTrainConfig, acc: dict[str, Any], p: int, nodes: int) -> str:
    conf = cfg.source or cfg.name
    if cfg.source and Path(cfg.source).resolve().parent == PRESET_DIR.resolve():
        conf = Path(cfg.source).stem  # a preset: its name
    if p == 1 and nodes == 1:
        return f"rtt train policy --config {conf}"
    parts = ["accelerate launch"]
    if cfg.accelerate_config:
        parts.append(f"--config_file {cfg.accelerate_config}")
    parts.append(f"--num_processes {p}")
    if nodes > 1:
        parts.append(
            f"--num_machines {nodes} --machine_rank $NODE_RANK --main_process_ip $HEAD_NODE --main_process_port 29500"
        )
    parts.append(f"-m grpo.run --config {conf}")
    return " ".join(parts)


def validation_overrides(cfg: PolicyTrainConfig, layout: Layout) -> dict[str, Any]:
    """Overrides that let ``cfg.grpo_args`` validate every other field on THIS machine and one process: no
    bf16 / GPU requirement, and the global batch arithmetic folded into one process (same divisibility)."""
    g = cfg.grpo
    out: dict[str, Any] = {
        "bf16": False,
        "fp16": False,
        "use_cpu": True,
        "per_device_train_batch_size": layout.processes * layout.per_device_train_batch_size,
        "gradient_accumulation_steps": layout.gradient_accumulation_steps,
        "steps_per_generation": layout.steps_per_generation,
        "generation_batch_size": None,
    }
    if "per_device_eval_batch_size" in g:
        out["per_device_eval_batch_size"] = int(g["per_device_eval_batch_size"]) * layout.processes
    return out
