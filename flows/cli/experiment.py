"""``rtt experiment``: the learning experiment - the same policy trained under several arms x seeds."""

from __future__ import annotations

import typer

from flows.cli.common import fail


def experiment(
    config: str = typer.Option("cpu", "--config", "-c", help="Preset (cpu, gpu) or an experiment YAML file."),
    sets: list[str] = typer.Option(
        [],
        "--set",
        help="Override a key: --set steps=20 --set task.min_words=10 "
        "--set 'arms=[{name: b0, beta: 0}, {name: b05, beta: 0.5, relevance: oracle}]'.",
    ),
    arms: list[str] = typer.Option([], "--arm", help="Run only this arm (repeatable; default all)."),
    seeds: list[int] = typer.Option([], "--seed", help="Run only this seed (repeatable; default all)."),
    out: str = typer.Option(None, "--out", help="Output folder (default: the config's `out`)."),
    report_only: bool = typer.Option(False, "--report-only", help="Only rewrite report.md / report.json / curves.png."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print the resolved config and task."),
) -> None:
    """The learning experiment: train one policy under several arms (grpo-aon, grpo-csr, rtt, rtt-oracle, rtt-shuffled,
    rtt-cort) x seeds with identical prompts, order, weights and budgets; evaluate greedily on held-out prompts
    every N steps; write report.md, report.json and curves.png. Resumable: finished (arm, seed) runs are reused.
    """
    import yaml
    from rich.console import Console

    from grpo.experiment.config import ExperimentConfigError, load_experiment

    console = Console()
    overrides = list(sets) + ([f"out={out}"] if out else [])
    try:
        cfg = load_experiment(config, overrides)
        for a in arms:
            cfg.arm(a)
    except (ExperimentConfigError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    if not report_only:
        problem = _missing_discriminator(cfg, arms)
        if problem:
            fail(problem)
    if dry_run:
        from grpo.experiment.task import build_task

        console.print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), highlight=False)
        train, held = build_task(cfg.task)
        console.print(f"{len(train)} train / {len(held)} held-out prompts; first: {train[0].prompt}", highlight=False)
        return
    from grpo.experiment.report import write_report

    if report_only:
        write_report(cfg, log=lambda m: console.print(m, highlight=False))
        return
    from grpo.experiment.runner import run_experiment

    try:
        run_experiment(
            cfg, arms=list(arms) or None, seeds=list(seeds) or None, log=lambda m: console.print(m, highlight=False)
        )
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    console.print(f"report: {cfg.out}/report.md", highlight=False)


def _missing_discriminator(cfg, arms: list[str]) -> str | None:
    """Why the discriminator the chosen arms need cannot be used (a missing folder), else None: checked before a
    dry run passes and before any arm trains."""
    from pathlib import Path

    need = [a.name for a in cfg.arms if a.needs_discriminator and (not arms or a.name in arms)]
    if not need or not cfg.discriminator:
        return None
    path = Path(cfg.discriminator)
    if path.is_dir():
        return None
    what = "is not a folder" if path.exists() else "no such folder"
    return (
        f"discriminator: {path}: {what} (needed by arm(s) {need}); train one (rtt disc train) or --set "
        "discriminator=PATH"
    )


def register(app: typer.Typer) -> None:
    app.command("experiment")(experiment)
