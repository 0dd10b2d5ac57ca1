"""``rtt disc ...``: train, evaluate, export and use the token-level relevance discriminator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from discriminator.config import BASELINES
from flows.cli.common import fail, parse_sets

app = typer.Typer(no_args_is_help=True)


@app.command("train")
def train_cmd(
    config: str | None = typer.Option(
        None, "--config", "-c", help="Preset (minilm, tiny, paper) or a YAML file of TrainConfig options."
    ),
    data: Path | None = typer.Option(None, "--data", help="SpanRow Parquet/JSONL (overrides the config)."),
    backbone: str | None = typer.Option(None, "--backbone", help="HF folder/id (default: bundled MiniLM-L6)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run folder (checkpoints, model/, loss curve)."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after N optimiser steps."),
    epochs: float | None = typer.Option(None, "--epochs", help="num_train_epochs."),
    lr: float | None = typer.Option(None, "--lr", help="learning_rate."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="per_device_train_batch_size."),
    grad_accum: int | None = typer.Option(None, "--grad-accum", help="gradient_accumulation_steps."),
    max_length: int | None = typer.Option(None, "--max-length", help="Input length cap (response end cut)."),
    seed: int | None = typer.Option(None, "--seed"),
    pos_weight: str | None = typer.Option(None, "--pos-weight", help="'auto', 'none' or a number."),
    threshold: str | None = typer.Option(None, "--threshold", help="'tune' (on validation) or a number."),
    eval_steps: int | None = typer.Option(None, "--eval-steps", help="Evaluate/checkpoint every N steps."),
    human_labels: str | None = typer.Option(
        None,
        "--human-labels",
        help="Several reviews of one pair: latest, "
        "majority (default) or adjudicated; human labels always replace "
        "the automatic row.",
    ),
    temperature_scaling: bool | None = typer.Option(
        None, "--temperature-scaling/--no-temperature-scaling", help="Fit a temperature on validation and store it."
    ),
    sets: list[str] = typer.Option([], "--set", help="Any TrainConfig field: --set warmup_ratio=0.05 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in --out."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete old checkpoints in --out first."),
) -> None:
    """Train a discriminator (HF Trainer; works under `accelerate launch`)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from discriminator.config import TrainConfig

    overrides: dict[str, Any] = {
        "data": data,
        "backbone": backbone,
        "out": out,
        "max_steps": max_steps,
        "num_train_epochs": epochs,
        "learning_rate": lr,
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum,
        "max_length": max_length,
        "seed": seed,
        "eval_steps": eval_steps,
        "human_labels": human_labels,
        "temperature_scaling": temperature_scaling,
    }
    no_pos_weight = pos_weight is not None and pos_weight.lower() == "none"
    if pos_weight is not None and not no_pos_weight:
        overrides["pos_weight"] = pos_weight
    if threshold is not None:
        overrides["threshold"] = threshold
    overrides = {k: v for k, v in overrides.items() if v is not None}  # options not given
    overrides.update(parse_sets(sets))  # --set key=null is an explicit None
    try:
        cfg = TrainConfig.from_yaml(config, **overrides)
        if no_pos_weight:
            cfg = cfg.model_copy(update={"pos_weight": None})
    except (ValueError, OSError) as exc:
        fail(str(exc))
    console = Console(stderr=True)
    console.print(f"training [bold]{cfg.backbone}[/] on {cfg.data} -> {cfg.out}", highlight=False)
    from discriminator.train import train

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("training", total=None)
        shown: dict[str, float] = {}

        def progress(logs: dict[str, Any]) -> None:
            for k in ("loss", "eval_loss", "eval_f1_best"):
                if k in logs:
                    shown[k] = float(logs[k])
            desc = "training " + " ".join(f"{k}={v:.3f}" for k, v in shown.items())
            bar.update(task, completed=logs.get("step", 0), total=logs.get("max_steps") or None, description=desc)

        try:
            result = train(cfg, resume=resume, overwrite=overwrite, progress=progress, disable_tqdm=True)
        except (FileExistsError, FileNotFoundError, ValueError) as exc:
            fail(str(exc))
    m = result.val_metrics
    res = result.meta.extra.get("label_resolution") or {}
    labels = (
        f"\nlabels: {res['human_resolved']} pairs from human review ({res['policy']}) replaced "
        f"{res['auto_replaced']} automatic rows; {res['rows_out']} of {res['rows_in']} rows kept"
        if res.get("human_resolved")
        else ""
    )
    Console().print(
        f"model: {result.model_dir}\nvalidation: F1 {m['f1']:.3f}  precision {m['precision']:.3f}  recall "
        f"{m['recall']:.3f}  AUROC {m['auroc']:.3f}  (threshold {result.meta.threshold:.3f}, temperature "
        f"{result.meta.temperature:.3g}, pos_weight {result.meta.pos_weight}){labels}\nloss curve: "
        f"{result.out / 'loss_curve.png'}  ({result.seconds:.0f} s)",
        highlight=False,
    )


@app.command("eval")
def eval_cmd(
    model: Path | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Trained model folder (run/model or an export); with --family-holdout, or --train-config, optional.",
    ),
    data: Path = typer.Option(..., "--data", help="SpanRow file with train/val/test splits (or a test-only file)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder (default: <run>/eval)."),
    baselines: str | None = typer.Option(
        None, "--baselines", help=f"Comma list of {','.join(BASELINES)} (default: all)."
    ),
    cort_policy: str | None = typer.Option(None, "--cort-policy", help="Causal LM for CoRT (default SmolLM2)."),
    max_test_rows: int | None = typer.Option(None, "--max-test-rows", help="Evaluate on N sampled test rows."),
    max_val_rows: int | None = typer.Option(None, "--max-val-rows", help="Tune thresholds on N val rows."),
    greedy_base_url: str | None = typer.Option(None, "--greedy-base-url", help="Endpoint of the greedy labeler."),
    greedy_model: str | None = typer.Option(None, "--greedy-model", help="Model of the greedy labeler."),
    test_all: bool = typer.Option(
        False,
        "--test-all",
        help="Every row of --data is a test row (a held-out file "
        "of real responses); the checkpoint's threshold is used.",
    ),
    human_labels: str = typer.Option(
        "majority",
        "--human-labels",
        help="Several reviews of one pair: latest, "
        "majority or adjudicated (human labels always replace automatic ones).",
    ),
    family_holdout: bool = typer.Option(
        False,
        "--family-holdout",
        help="Leave-one-family-out sweep instead: "
        "train without family f (the --model's backbone and template), test on f.",
    ),
    source_holdout: bool = typer.Option(
        False,
        "--source-holdout",
        help="Leave-one-source-out sweep instead: "
        "train without the responses of model M (meta.response_model, else the "
        "positive source), test on M's rows of the unseen test items.",
    ),
    family_level: int = typer.Option(
        2, "--family-level", min=1, help="Family = the first N ':' parts (2: 'ifeval:punctuation')."
    ),
    holdout_max_steps: int = typer.Option(200, "--max-steps", min=1, help="Optimiser steps per holdout run."),
    holdout_config: Path | None = typer.Option(
        None, "--train-config", help="TrainConfig YAML for the holdout runs (backbone, lr, ...)."
    ),
    item_fraction: float = typer.Option(
        1.0, "--item-fraction", min=0.0, max=1.0, help="Holdout on a seeded random fraction of the items (cheaper)."
    ),
) -> None:
    """Token-level P/R/F1/AUROC on the item-disjoint test split beside the baselines, by positive source, with
    calibration (ECE, reliability diagram), per response source and length, threshold transfer; or a
    leave-one-family-out (--family-holdout) or leave-one-source-out (--source-holdout) sweep."""
    from rich.console import Console

    from discriminator.config import EvalConfig

    if family_holdout and source_holdout:
        fail("--family-holdout and --source-holdout are two sweeps: pass one")
    sweep = "source" if source_holdout else "family" if family_holdout else None
    if model is None and not (sweep and holdout_config):
        fail("--model is required (except for --family-holdout / --source-holdout with --train-config)")
    if out is None:
        out = (
            Path("runs") / f"disc-{sweep}-holdout"
            if model is None
            else model.parent / "eval"
            if model.name == "model"
            else Path("runs") / f"disc-eval-{model.name}"
        )
    if sweep:
        _family_holdout(
            model, data, out, family_level, holdout_max_steps, holdout_config, human_labels, item_fraction, by=sweep
        )
        return
    from discriminator.evaluate import evaluate

    kw: dict[str, Any] = {
        "model": model,
        "data": data,
        "out": out,
        "cort_policy": cort_policy,
        "max_test_rows": max_test_rows,
        "max_val_rows": max_val_rows,
        "greedy_base_url": greedy_base_url,
        "greedy_model": greedy_model,
        "test_all": test_all,
        "human_labels": human_labels,
    }
    if baselines:
        kw["baselines"] = [b.strip() for b in baselines.split(",") if b.strip()]
    err = Console(stderr=True)
    try:
        cfg = EvalConfig(**kw)
        with err.status("evaluating") as status:
            report = evaluate(cfg, progress=lambda msg: status.update(msg))
    except (ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0])
    from rich.table import Table

    def metric_table(title: str, per_method: dict, keys: tuple[str, ...]) -> Table:
        table = Table(title=title)
        table.add_column("method")
        for k in keys:
            table.add_column({"f1": "F1", "auroc": "AUROC"}.get(k, k), justify="right")
        for name, m in per_method.items():
            table.add_row(name, *(f"{m[k]:.3f}" for k in keys))
        return table

    Console().print(
        metric_table(
            f"test split: {report.counts['test_rows']} rows, {report.counts['test_tokens']} tokens",
            report.overall,
            ("precision", "recall", "f1", "auroc", "accuracy"),
        )
    )
    if report.characters:
        n = next(iter(report.characters.values()))["tokens"]
        Console().print(
            metric_table(
                f"character level: {n} non-space characters (comparable across tokenizers)",
                report.characters,
                ("precision", "recall", "f1", "auroc"),
            )
        )
    sources = sorted({s for per in report.per_positive_source.values() for s in per})
    by = Table(title="F1 / AUROC by positive source")
    by.add_column("method")
    for s in sources:
        n = next(iter(report.per_positive_source.values()))[s]["tokens"]
        by.add_column(f"{s} ({n} tokens)", justify="right")
    for name, per in report.per_positive_source.items():
        by.add_row(name, *(f"{per[s]['f1']:.3f} / {per[s]['auroc']:.3f}" for s in sources))
    Console().print(by)
    for title, table in (
        ("response source", report.per_response_source),
        ("response length (tokens)", report.per_length),
    ):
        groups = sorted({g for per in table.values() for g in per})
        if len(groups) < 2 and title == "response source":
            continue
        t = Table(title=f"F1 / AUROC by {title}")
        t.add_column("method")
        for g in groups:
            t.add_column(f"{g} ({next(iter(table.values()))[g]['tokens']} tokens)", justify="right")
        for name, per in table.items():
            t.add_row(name, *(f"{per[g]['f1']:.3f} / {per[g]['auroc']:.3f}" for g in groups))
        Console().print(t)
    if report.threshold_transfer:
        t = Table(title="threshold transfer (discriminator): F1 at the stored threshold, at the one used, best on test")
        for col in ("group", "tokens", "stored", "used", "best on test"):
            t.add_column(col, justify="left" if col == "group" else "right")
        for g, x in report.threshold_transfer.items():
            t.add_row(
                g,
                str(x["tokens"]),
                f"{x['f1_stored']:.3f} ({x['stored_threshold']:.3g})",
                f"{x['f1_used']:.3f} ({x['used_threshold']:.3g})",
                f"{x['f1_best']:.3f} ({x['best_threshold']:.3g})",
            )
        Console().print(t)
    cal = report.calibration
    line = f"calibration (discriminator): ECE {cal['ece']:.3f} (temperature {cal['checkpoint_temperature']:.3g})"
    if "after_val_temperature" in cal:
        line += (
            f"; with temperature {cal['val_fitted_temperature']:.3g} fitted on validation: ECE "
            f"{cal['after_val_temperature']['ece']:.3f}"
        )
    Console().print(line, highlight=False)
    for k, v in report.notes.items():
        Console().print(f"{k}: {v}", highlight=False)
    Console().print(
        f"report: {report.files.get('report')}  reliability diagram: {report.files.get('reliability')}", highlight=False
    )


def _family_holdout(
    model: Path | None,
    data: Path,
    out: Path,
    level: int,
    max_steps: int,
    config: Path | None,
    human_labels: str,
    item_fraction: float,
    by: str = "family",
) -> None:
    from rich.console import Console
    from rich.table import Table

    from discriminator.holdout import HoldoutConfig, family_holdout

    err = Console(stderr=True)
    try:
        cfg = HoldoutConfig(
            model=model,
            data=data,
            out=out,
            family_level=level,
            max_steps=max_steps,
            train_config=config,
            human_labels=human_labels,
            item_fraction=item_fraction,
            by=by,
        )
        with err.status(f"leave-one-{by}-out") as status:
            result = family_holdout(cfg, progress=lambda msg: status.update(msg))
    except (ValueError, OSError) as exc:
        fail(str(exc).splitlines()[0])
    table = Table(title=f"leave-one-{by}-out ({max_steps} steps per run; F1 / AUROC on the held-out {by})")
    for col in (
        f"held-out {by}",
        "train rows",
        "test rows",
        "discriminator",
        "lexical overlap",
        "all-relevant",
        "F1 stored thr / best",
    ):
        table.add_column(col, justify="left" if col.startswith("held-out") else "right")
    for r in result.rows:
        table.add_row(
            r.family,
            str(r.train_rows),
            str(r.test_rows),
            *(
                f"{r.metrics[m]['f1']:.3f} / {r.metrics[m]['auroc']:.3f}"
                for m in ("discriminator", "lexical overlap", "all-relevant")
            ),
            f"{r.threshold['f1_stored']:.3f} / {r.threshold['f1_best']:.3f}" if r.threshold else "n/a",
        )
    Console().print(table)
    buckets = sorted(
        {b for r in result.rows for b in r.per_length.get("discriminator", {})},
        key=lambda b: (b.startswith(">"), int(b.lstrip("<=>"))),
    )
    if buckets:
        lt = Table(title="discriminator F1 / AUROC by response length (tokens)")
        lt.add_column(f"held-out {by}")
        for b in buckets:
            lt.add_column(b, justify="right")
        for r in result.rows:
            d = r.per_length.get("discriminator", {})
            lt.add_row(r.family, *(f"{d[b]['f1']:.3f} / {d[b]['auroc']:.3f}" if b in d else "-" for b in buckets))
        Console().print(lt)
    Console().print(f"report: {result.files.get('report')}", highlight=False)


@app.command("export")
def export_cmd(
    run: Path = typer.Option(..., "--run", help="Run folder (with model/) or a model folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Export folder (HF format, safetensors, model card)."),
    name: str | None = typer.Option(None, "--name", help="Model name in the card (default: folder name)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing non-empty --out."),
) -> None:
    """Export a trained discriminator as a standard Hugging Face folder with a model card."""
    from rich.console import Console

    from discriminator.export import export, exported_files

    try:
        path = export(run, out, name=name, overwrite=overwrite)
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as exc:
        fail(str(exc))
    Console().print(f"exported {path}: {', '.join(exported_files(path))}", highlight=False)


@app.command("score")
def score_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="Trained or exported model folder."),
    criteria: str | None = typer.Option(None, "--criteria", "-c", help="One criterion (with --response)."),
    response: str | None = typer.Option(None, "--response", "-r", help="One response text."),
    data: Path | None = typer.Option(None, "--data", help="JSONL/Parquet of rows with criteria + response."),
    out: Path | None = typer.Option(None, "--out", "-o", help="JSONL output for --data."),
    token_budget: int = typer.Option(16384, "--token-budget", help="Padded tokens per micro-batch."),
) -> None:
    """Score relevance of response tokens: one pair (coloured on the terminal) or a file of pairs (JSONL)."""
    from rich.console import Console
    from rich.text import Text

    from discriminator.scoring import RelevanceScorer

    if (criteria is None) != (response is None) or (criteria is None) == (data is None):
        fail("give either --criteria and --response, or --data (with --out)")
    if data is not None and out is None:
        fail("--data needs --out")
    try:
        scorer = RelevanceScorer.from_pretrained(model, token_budget=token_budget)
    except (OSError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    if criteria is not None:
        ids, offsets = scorer.encoder.tokenize_responses([response])
        probs = scorer.score_tokens([(criteria, response)])[0].numpy()
        text = Text()
        pos = 0
        for (s, e), p in zip(offsets[0], probs):
            if s > pos:
                text.append(response[pos:s])
            if e > max(s, pos):
                weak = "yellow" if p >= 0.5 * scorer.threshold else ""
                style = "bold black on yellow" if p >= scorer.threshold else weak
                text.append(response[max(s, pos) : e], style=style)
                pos = e
        text.append(response[pos:])
        Console().print(text)
        Console(stderr=True).print(f"threshold {scorer.threshold:.3f}; highlighted: relevant", highlight=False)
        return
    _score_file(scorer, data, out)


def _score_file(scorer, data: Path, out: Path) -> None:
    import numpy as np
    from rich.console import Console

    from discriminator.data.schema import char_labels_to_spans, read_rows
    from rubrics.io import RecordError, iter_jsonl, write_jsonl

    records: list[dict[str, Any]] = []
    try:
        if str(data).endswith(".parquet"):
            records = [{"id": r.id, "criteria": r.criteria, "response": r.response} for r in read_rows(data)]
        else:
            for line, obj in iter_jsonl(data):
                for f in ("criteria", "response"):
                    if not isinstance(obj.get(f), str):
                        raise RecordError(data, line, f, "missing or not a string")
                records.append(
                    {"id": obj.get("id", str(line)), "criteria": obj["criteria"], "response": obj["response"]}
                )
    except (RecordError, OSError, ValueError) as exc:
        fail(str(exc).splitlines()[0])
    pairs = [(r["criteria"], r["response"]) for r in records]
    chars = scorer.score_chars(pairs)
    _, offsets = scorer.encoder.tokenize_responses([p[1] for p in pairs])
    tokens = scorer.score_tokens(pairs)
    rows = []
    for r, c, offs, tok in zip(records, chars, offsets, tokens):
        spans = char_labels_to_spans((np.asarray(c) >= scorer.threshold).astype(int).tolist())
        rows.append(
            {
                **r,
                "spans": [list(s) for s in spans],
                "tokens": [[int(s), int(e), round(float(p), 4)] for (s, e), p in zip(offs, tok.tolist())],
            }
        )
    write_jsonl(out, rows)
    Console().print(f"scored {len(rows)} pairs -> {out}", highlight=False)
