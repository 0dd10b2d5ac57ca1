"""Leave-one-family-out evaluation: does the discriminator generalise to a kind of criterion it never saw?

For every family ``f`` (the first ``family_level`` ``:``-parts of ``SpanRow.family``, e.g. ``ifeval:punctuation``)
a fresh discriminator is trained on the other families only - and without any item that has an ``f`` row, so
the held-out responses are unseen too - then evaluated on all rows of ``f`` beside the lexical and all-relevant
baselines (``discriminator.evaluate``, thresholds tuned on the fold's validation split). Each run is capped at
``max_steps`` optimiser steps to keep the sweep cheap; the backbone, template and length come from the model
given (or from a TrainConfig YAML).

Leave-one-source-out (``by="source"``): the same sweep over *who wrote the response* (``meta.response_model``,
else the positive source; :func:`discriminator.evaluate.response_source`): the fold for model ``M`` trains on the
train / val rows of every other source and is tested on ``M``'s rows of the test items (the split is by item,
so the test items are unseen as well as the model).

Outputs in ``out``: ``<family>/`` (fold data, run, eval), ``holdout.json`` and ``holdout.md``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from discriminator.data.schema import SpanRow, write_rows
from discriminator.splits import assign_splits, load_rows
from rubrics.io import write_text

HOLDOUT_METHODS = ("discriminator", "lexical overlap", "all-relevant")


class HoldoutConfig(BaseModel):
    """Options of the leave-one-family-out sweep (``rtt disc eval --family-holdout``)."""

    model_config = ConfigDict(extra="forbid")

    model: Path | None = Field(
        None,
        description="trained discriminator whose backbone / template / max length "
        "the runs reuse (not needed with train_config)",
    )
    data: Path = Field(description="SpanRow file with several families")
    out: Path = Field(description="folder for the fold runs and the table")
    by: Literal["family", "source"] = Field(
        "family",
        description="hold out one rubric family, or one response source (the model that wrote the responses) at a time",
    )
    family_level: int = Field(2, ge=1, description="family = the first N ':'-separated parts")
    max_steps: int = Field(200, ge=1, description="optimiser steps per fold run")
    train_config: Path | None = Field(
        None, description="TrainConfig YAML for the fold runs (default: the model's backbone with the default recipe)"
    )
    min_test_rows: int = Field(2, ge=1, description="families with fewer rows are skipped")
    item_fraction: float = Field(1.0, gt=0, le=1, description="keep a seeded random fraction of the items (cheaper)")
    seed: int = Field(0, description="seed of the item sample")
    human_labels: Literal["latest", "majority", "adjudicated"] = "majority"


class HoldoutRow(BaseModel):
    family: str
    train_rows: int
    val_rows: int
    test_rows: int
    metrics: dict[str, dict[str, float]] = Field(description="method -> overall test metrics")
    per_length: dict[str, dict[str, dict[str, float]]] = Field(
        default_factory=dict, description="method -> response-length bucket (<=128 / <=512 / ...) -> metrics"
    )
    threshold: dict[str, float] = Field(
        default_factory=dict,
        description="the discriminator's threshold transfer: F1 at the stored / used threshold and the best F1 on test",
    )
    seconds: float


class HoldoutResult(BaseModel):
    rows: list[HoldoutRow]
    skipped: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)


def family_group(family: str, level: int) -> str:
    return ":".join(family.split(":")[:level])


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "family"


def sample_items(rows: list[SpanRow], fraction: float, seed: int = 0) -> list[SpanRow]:
    """The rows of a seeded random ``fraction`` of the items (sorted ids shuffled), in the original order."""
    if fraction >= 1:
        return rows
    items = sorted({r.item_id for r in rows})
    random.Random(seed).shuffle(items)
    keep = set(items[: int(len(items) * fraction)])
    return [r for r in rows if r.item_id in keep]


def fold_rows(rows: list[SpanRow], family: str, level: int) -> tuple[list[SpanRow], list[SpanRow]]:
    """(train + val rows without family ``family`` or its items, every row of ``family`` as test)."""
    test = [r.model_copy(update={"split": "test"}) for r in rows if family_group(r.family, level) == family]
    held_items = {r.item_id for r in test}
    rest = [
        r
        for r in rows
        if family_group(r.family, level) != family and r.item_id not in held_items and r.split in ("train", "val")
    ]
    return rest, test


def source_fold_rows(rows: list[SpanRow], source: str) -> tuple[list[SpanRow], list[SpanRow]]:
    """(train + val rows of every other response source, ``source``'s rows of the test split as test)."""
    from discriminator.evaluate import response_source

    test = [r for r in rows if r.split == "test" and response_source(r) == source]
    held_items = {r.item_id for r in test}
    rest = [
        r for r in rows if response_source(r) != source and r.split in ("train", "val") and r.item_id not in held_items
    ]
    return rest, test


def family_holdout(cfg: HoldoutConfig, progress: Callable[[str], None] | None = None) -> HoldoutResult:
    """Run the sweep; one fold per family (or response source, ``cfg.by``) with at least ``min_test_rows`` rows
    and something left to train on."""
    from discriminator.config import EvalConfig, TrainConfig
    from discriminator.evaluate import evaluate, response_source
    from discriminator.model import read_meta
    from discriminator.train import train

    say = progress or (lambda msg: None)
    if cfg.train_config:
        base = TrainConfig.from_yaml(cfg.train_config, data=cfg.data)
    else:
        meta = read_meta(cfg.model)
        base = TrainConfig(
            data=cfg.data,
            backbone=meta.backbone,
            template=meta.template,
            max_length=meta.max_length,
            case_markers="on" if meta.case_markers else "off",
        )
    rows = sample_items(load_rows(cfg.data, human_labels=cfg.human_labels), cfg.item_fraction, cfg.seed)
    rows = assign_splits(rows, base.val_fraction, base.test_fraction, base.seed)
    if cfg.by == "source":
        families = sorted({response_source(r) for r in rows})
        if len(families) < 2:
            raise ValueError(
                f"{cfg.data}: leave-one-source-out needs rows of at least 2 response sources "
                f"(meta.response_model or positive_source), found {families}"
            )
    else:
        families = sorted({family_group(r.family, cfg.family_level) for r in rows})
        if len(families) < 2:
            raise ValueError(
                f"{cfg.data}: leave-one-family-out needs at least 2 families at level "
                f"{cfg.family_level}, found {families}"
            )
    out = Path(cfg.out)
    result = HoldoutResult(rows=[])
    for k, fam in enumerate(families):
        t0 = time.time()
        rest, test = source_fold_rows(rows, fam) if cfg.by == "source" else fold_rows(rows, fam, cfg.family_level)
        n_train = sum(r.split == "train" for r in rest)
        n_val = len(rest) - n_train
        if len(test) < cfg.min_test_rows or not n_train or not n_val:
            result.skipped[fam] = f"{len(test)} test rows, {n_train} train / {n_val} val rows left"
            continue
        say(f"[{k + 1}/{len(families)}] without {fam}: training on {n_train} rows")
        fold = out / _slug(fam)
        fold.mkdir(parents=True, exist_ok=True)
        write_rows(fold / "rows.parquet", [*rest, *test])
        tcfg = base.model_copy(
            update={
                "data": fold / "rows.parquet",
                "out": fold / "run",
                "max_steps": cfg.max_steps,
                "eval_steps": cfg.max_steps,
                "early_stopping_patience": None,
                "families": None,
                "human_labels": cfg.human_labels,
            }
        )
        res = train(tcfg, overwrite=True, disable_tqdm=True)
        say(f"[{k + 1}/{len(families)}] scoring {len(test)} rows of {fam}")
        rep = evaluate(
            EvalConfig(
                model=res.model_dir,
                data=fold / "rows.parquet",
                out=fold / "eval",
                baselines=["all_relevant", "lexical"],
                human_labels=cfg.human_labels,
            )
        )
        by_length = {m: rep.per_length[m] for m in HOLDOUT_METHODS}
        result.rows.append(
            HoldoutRow(
                family=fam,
                train_rows=n_train,
                val_rows=n_val,
                test_rows=len(test),
                metrics={m: rep.overall[m] for m in HOLDOUT_METHODS},
                per_length=by_length,
                threshold=rep.threshold_transfer.get("overall", {}),
                seconds=round(time.time() - t0, 1),
            )
        )
    if not result.rows:
        raise ValueError(f"{cfg.data}: no family could be held out ({result.skipped})")
    write_text(out / "holdout.json", result.model_dump_json(indent=2) + "\n")
    write_text(out / "holdout.md", render_holdout(result, cfg))
    result.files = {"json": str(out / "holdout.json"), "report": str(out / "holdout.md")}
    return result


def _f(v: float) -> str:
    return "n/a" if v != v else f"{v:.3f}"


def render_holdout(result: HoldoutResult, cfg: HoldoutConfig) -> str:
    what = "source" if cfg.by == "source" else "family"
    how = (
        "trains on every other response source for {n} steps, then is tested on this source's rows of the "
        "test items (unseen items)"
        if cfg.by == "source"
        else "trains without the family (and its items) for {n} steps, then is tested on every row of it"
    )
    lines = [
        f"# Leave-one-{what}-out",
        "",
        f"Data `{cfg.data}`; each run {how.format(n=cfg.max_steps)}. F1 / AUROC:",
        "",
        f"| held-out {what} | train rows | test rows | "
        + " | ".join(HOLDOUT_METHODS)
        + " | F1 stored thr / best on test |",
        "|---|---|---|" + "---|" * len(HOLDOUT_METHODS) + "---|",
    ]
    for r in result.rows:
        cells = [f"{_f(r.metrics[m]['f1'])} / {_f(r.metrics[m]['auroc'])}" for m in HOLDOUT_METHODS]
        thr = f"{_f(r.threshold['f1_stored'])} / {_f(r.threshold['f1_best'])}" if r.threshold else "n/a"
        lines.append(f"| {r.family} | {r.train_rows} | {r.test_rows} | " + " | ".join(cells) + f" | {thr} |")
    buckets = sorted(
        {b for r in result.rows for b in r.per_length.get("discriminator", {})},
        key=lambda b: (b.startswith(">"), int(b.lstrip("<=>"))),
    )
    if buckets:
        lines += [
            "",
            "Per response length (tokens), F1 / AUROC: discriminator; lexical overlap; all-relevant",
            "",
            f"| held-out {what} | " + " | ".join(buckets) + " |",
            "|---|" + "---|" * len(buckets),
        ]
        for r in result.rows:
            cells = []
            for b in buckets:
                ms = [r.per_length.get(m, {}).get(b) for m in HOLDOUT_METHODS]
                cells.append(
                    "; ".join(f"{_f(x['f1'])} / {_f(x['auroc'])}" for x in ms if x)
                    + (f" ({int(ms[0]['tokens'])} tok)" if ms[0] else "")
                    if any(ms)
                    else "-"
                )
            lines.append(f"| {r.family} | " + " | ".join(cells) + " |")
    if result.skipped:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v})" for k, v in result.skipped.items())]
    return "\n".join(lines) + "\n"


__all__ = ["HoldoutConfig", "family_holdout", "fold_rows", "source_fold_rows"]
