"""``rtt train policy``: RTT-GRPO training of a policy from a config file (preset or YAML)."""

from __future__ import annotations

import typer

from flows.cli.common import fail

app = typer.Typer(no_args_is_help=True)


@app.command("policy")
def policy(
    config: str = typer.Option(
        ..., "--config", "-c", help="Preset (cpu-smoke, single-gpu, multi-gpu, paper, paper-multinode) or a YAML file."
    ),
    sets: list[str] = typer.Option(
        [], "--set", help="Override a config key: --set rtt.beta=0 --set grpo.max_steps=10 (value parsed as YAML)."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Validate and print the resolved config and launch layout (processes, prompts and completions per RL "
        "step, optimiser steps per RL step, generation, judge, discriminator placement); do not train. Works on any "
        "machine, GPUs or not.",
    ),
    processes: int | None = typer.Option(
        None, "--processes", min=1, help="Plan the layout for N training processes (with --dry-run)."
    ),
    nodes: int | None = typer.Option(
        None,
        "--nodes",
        min=1,
        help="Plan the layout for N training nodes of launch.gpus_per_node GPUs (with --dry-run).",
    ),
    save: bool = typer.Option(True, "--save/--no-save", help="Save the final policy to <output_dir>/final."),
) -> None:
    """Train a policy with RTT-GRPO (TRL GRPOTrainer + token-level rubric advantages).

    Multi-GPU: `accelerate launch --config_file grpo/configs/accelerate/deepspeed_zero3.yaml -m grpo.run
    --config multi-gpu` (same --set syntax); `--dry-run` prints the command for a layout.
    """
    import yaml
    from rich.console import Console
    from rich.table import Table

    from grpo.layout import resolve_layout, validation_overrides
    from grpo.train_config import ConfigError, load_config

    console = Console()
    if (processes is not None or nodes is not None) and not dry_run:
        fail(
            "--processes / --nodes plan a layout: use them with --dry-run (a real run takes its process count "
            "from accelerate launch)"
        )
    try:
        cfg = load_config(config, sets)
        layout = resolve_layout(cfg, processes=processes, nodes=nodes)
        # dry run: validate every field here, without this machine's GPU / bf16 support deciding
        args = cfg.grpo_args(**(validation_overrides(cfg, layout) if dry_run else layout.grpo_overrides()))
    except ConfigError as exc:
        fail(str(exc))
    if dry_run:
        resolved = cfg.model_dump(mode="json")
        resolved["grpo"] = {**resolved["grpo"], **layout.grpo_overrides()}
        console.print(yaml.safe_dump(resolved, sort_keys=False), highlight=False)
        console.print(f"output_dir: {args.output_dir}", highlight=False)
        table = Table(title=f"launch layout: {cfg.name}")
        table.add_column("setting")
        table.add_column("value", overflow="fold")
        for k, v in layout.rows():
            table.add_row(k, v)
        console.print(table)
        return
    from grpo.run import run_training

    try:
        summary = run_training(cfg, save=save)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    table = Table(title=f"{summary.name}: {summary.steps} steps in {summary.seconds:.0f} s")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in summary.final_metrics.items():
        if isinstance(v, (int, float)) and (k.startswith(("rtt/", "reward", "loss")) or k in ("grad_norm", "step")):
            table.add_row(k, f"{v:.4g}")
    console.print(table)
    console.print(f"output: {summary.output_dir}", highlight=False)
    if summary.resumed_from:
        skipped = f" (skipped {'; '.join(summary.skipped_checkpoints)})" if summary.skipped_checkpoints else ""
        console.print(f"resumed from: {summary.resumed_from}{skipped}", highlight=False)
    if summary.saved_model:
        console.print(f"policy: {summary.saved_model}", highlight=False)
    for h in summary.heatmaps[-1:]:
        console.print(f"latest heatmap: {h}", highlight=False)
