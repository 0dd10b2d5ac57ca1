"""Run a policy training from a config file (used by ``rtt train policy``, the Prefect flow and
``accelerate launch -m grpo.run``).

Multi-GPU::

    accelerate launch --config_file grpo/configs/accelerate/deepspeed_zero3.yaml -m grpo.run --config multi-gpu

The launch layout (:mod:`grpo.layout`) is resolved first with the actual process count (``WORLD_SIZE``): a
config with ``launch.prompts_per_step`` gets its per-device batch / accumulation derived, or is refused before
anything is loaded. Ready-made launchers: ``grpo/launch/single_node_colocate.sh`` (one 8-GPU node) and
``grpo/launch/slurm_multinode.sbatch`` (training nodes + ``trl vllm-serve`` node + judge node).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from grpo.train_config import PolicyTrainConfig, load_config

logger = logging.getLogger(__name__)


class TrainSummary(BaseModel):
    name: str
    output_dir: str
    model: str
    steps: int
    train_items: int
    seconds: float
    final_metrics: dict[str, Any]
    heatmaps: list[str]
    policy_evals: list[dict[str, Any]] = []
    saved_model: str | None = None
    resumed_from: str | None = None
    skipped_checkpoints: list[str] = []


def build_trainer(cfg: PolicyTrainConfig, **grpo_overrides: Any):
    """``(trainer, train_items)`` for ``cfg``: model, data, judge, discriminator, LoRA and the eval callback."""
    from grpo.dataset import build_prompt_dataset, load_items
    from grpo.evaluate import GenerationConfig, PolicyEvalCallback
    from grpo.judge import build_judge
    from grpo.layout import resolve_layout, world_size
    from grpo.rtt_grpo_trainer import RTTGRPOTrainer

    layout = resolve_layout(cfg, processes=world_size())  # refuses a process count that breaks the RL step
    args = cfg.grpo_args(**{**layout.grpo_overrides(), **grpo_overrides})
    if int(os.environ.get("RANK", "0")) == 0:
        logger.info("layout: %s", "; ".join(f"{k}: {v}" for k, v in layout.rows()))
    items = load_items(
        cfg.data.train,
        format=cfg.data.format,
        limit=cfg.data.limit,
        seed=cfg.data.seed,
        max_rubrics=cfg.rtt.max_rubrics,
    )
    train = build_prompt_dataset(items, system_prompt=cfg.data.system_prompt)
    eval_ds = None
    if cfg.data.eval:
        eval_items = load_items(
            cfg.data.eval, format=cfg.data.format, limit=cfg.data.eval_limit, max_rubrics=cfg.rtt.max_rubrics
        )
        eval_ds = build_prompt_dataset(eval_items, system_prompt=cfg.data.system_prompt)
    judge = build_judge(args.judge_config)
    peft_config = cfg.model.lora.peft_config() if cfg.model.lora else None
    trainer = RTTGRPOTrainer(
        cfg.model.resolve(), args=args, train_dataset=train, eval_dataset=eval_ds, judge=judge, peft_config=peft_config
    )
    if cfg.eval.every:
        subset = load_items(cfg.eval.benchmark, limit=cfg.eval.limit)
        PolicyEvalCallback(
            subset,
            every=cfg.eval.every,
            benchmark=cfg.eval.benchmark,
            judge=judge,
            generation=GenerationConfig(
                max_new_tokens=cfg.eval.max_new_tokens,
                batch_size=cfg.eval.batch_size,
                system_prompt=cfg.data.system_prompt,
            ),
        ).attach(trainer)
    return trainer, items


def run_training(cfg: PolicyTrainConfig, *, save: bool = True, **grpo_overrides: Any) -> TrainSummary:
    """Train, save the final policy (``<output_dir>/final``) and write ``<output_dir>/summary.json``."""
    t0 = time.perf_counter()
    from discriminator.checkpoints import resume_point

    trainer, items = build_trainer(cfg, **grpo_overrides)
    resume = resume_point(trainer.args.output_dir, trainer.args.resume_from_checkpoint)  # before any step
    if resume.note() and trainer.accelerator.is_main_process:
        logger.warning("%s: %s", trainer.args.output_dir, resume.note())
    trainer.train(resume_from_checkpoint=str(resume.path) if resume.path is not None else None)
    out = Path(trainer.args.output_dir)
    saved = None
    if save:
        saved = str(out / "final")
        trainer.save_model(saved)
    logs = [h for h in trainer.state.log_history if "loss" in h or any(k.startswith("rtt/") for k in h)]
    evals = []
    for cb in trainer.callback_handler.callbacks:
        for step, rep in getattr(cb, "reports", []):
            evals.append({"step": step, **rep.overall.model_dump()})
    summary = TrainSummary(
        name=cfg.name,
        output_dir=str(out),
        model=cfg.model.name_or_path,
        steps=trainer.state.global_step,
        train_items=len(items),
        seconds=time.perf_counter() - t0,
        final_metrics=logs[-1] if logs else {},
        heatmaps=sorted(str(p) for p in (out / "heatmaps").glob("*.html")),
        policy_evals=evals,
        saved_model=saved,
        resumed_from=str(resume.path) if resume.path is not None else None,
        skipped_checkpoints=[f"{p.name}: {why}" for p, why in resume.skipped],
    )
    if trainer.accelerator.is_main_process:
        from rubrics.io import write_text

        write_text(out / "summary.json", summary.model_dump_json(indent=2))
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m grpo.run", description="RTT-GRPO training from a config file")
    ap.add_argument("--config", required=True, help="preset name or YAML path")
    ap.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE")
    ns = ap.parse_args(argv)
    summary = run_training(load_config(ns.config, ns.overrides))
    print(json.dumps(summary.model_dump(), indent=2, default=str))


if __name__ == "__main__":
    main()
