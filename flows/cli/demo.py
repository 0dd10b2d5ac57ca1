"""``rtt demo`` (what ``make demo`` runs): the whole pipeline on the bundled demo data, offline, on CPU.

The embedded default is ``configs/demo.yaml``: the demo rubrics of ``data/demo``, programmatic negatives,
review skipped unless ``LABEL_STUDIO_URL`` is set, the bundled MiniLM-L6 discriminator, a short RTT-GRPO run of
the offline SmolLM2-135M-Instruct policy and its evaluation (base vs trained) on the held-out prompts.
Re-running resumes: finished stages are reused from the cache of the run folder.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``rtt demo`` to the main ``rtt`` app."""

    @app.command("demo")
    def demo(
        run_dir: str = typer.Option("runs/demo", "--run-dir", "-o", help="Output folder of the demo run."),
        config: Path | None = typer.Option(
            None, "--config", "-c", help="Pipeline YAML (default: the embedded configs/demo.yaml)."
        ),
        stop_after: str | None = typer.Option(None, "--stop-after", help="Last stage to run."),
        fresh: bool = typer.Option(False, "--fresh", help="Recompute every stage instead of resuming."),
        sets: list[str] = typer.Option([], "--set", help="section.key=value on top of the config (repeatable)."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every Prefect log line."),
    ) -> None:
        """Run the whole pipeline on the bundled demo data (offline, CPU, about 5-8 minutes on 2 cores)."""
        from flows.cli.pipeline import DEMO_CONFIG, fail, run_from_config

        cfg = config or DEMO_CONFIG
        if not cfg.is_file():
            fail(f"{cfg}: demo config not found (run from a checkout of the repository, or pass --config)")
        run_from_config(cfg, run_dir, None, stop_after, fresh, sets, verbose, title="RTT demo")
        line = learning_verdict(cfg, run_dir, sets)
        if line:
            from rich.console import Console

            Console().print(line, highlight=False)


def learning_verdict(config: Path, run_dir: str, sets: list[str] = ()) -> str | None:
    """One line: did the trained policy beat the base policy on the held-out prompts at rubric level (strict)?
    ``None`` when the run has no base / trained evaluation (e.g. ``--stop-after`` an earlier stage)."""
    import json

    from flows.pipeline import PipelineParams

    p = PipelineParams.from_yaml(config, [*sets, f"run_dir={run_dir}"])
    reports = {}
    for which, key in (("base", "policy-eval-base"), ("trained", "policy-eval")):
        f = p.path(key) / "report.json"
        if not f.is_file():
            return None
        reports[which] = json.loads(f.read_text(encoding="utf-8"))["overall"]
    seed = p.policy_config().grpo.get("seed", 0)
    b, t = reports["base"], reports["trained"]
    nums = (
        f"rubric strict {b['rubric_strict']:.3f} -> {t['rubric_strict']:.3f}, prompt strict "
        f"{b['prompt_strict']:.3f} -> {t['prompt_strict']:.3f} on {t['prompts']} held-out prompts, seed {seed}"
    )
    if t["rubric_strict"] > b["rubric_strict"]:
        return (
            f"[green]The trained policy beats the base policy[/]: {nums}. "
            "Arms and seeds side by side: `rtt experiment`."
        )
    return (
        f"[yellow]The trained policy does not beat the base policy here[/] ({nums}): this short CPU run is too "
        "small to show learning; see `rtt experiment` (the learning experiment, docs/guides/experiment.md) "
        "for the measured comparison."
    )
