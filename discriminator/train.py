"""Training the token-level relevance discriminator with the Hugging Face ``Trainer``.

Only the loss is custom (``compute_loss_func``: masked BCE with an optional ``pos_weight``), so the run scales
out unchanged under ``accelerate launch`` / DeepSpeed / FSDP. Class imbalance is handled deliberately: the
positive class is up-weighted (``pos_weight``: ``"auto"`` = negatives/positives on the train split, capped; a
number; or none) and the decision threshold is tuned on validation for F1. Both choices are recorded in the
saved model's ``rtt_discriminator.json``.

Run folder::

    out/config.yaml          resolved config
    out/checkpoint-*/        Trainer checkpoints (resume with ``resume=True``)
    out/model/               the best checkpoint (validation F1), with rtt_discriminator.json
    out/loss_curve.png       train / validation loss and validation F1 against the step
    out/train_summary.json   metrics, threshold, timings, log history
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from discriminator.casing import has_case_markers
from discriminator.checkpoints import checkpoints, newest_intact
from discriminator.config import TrainConfig
from discriminator.data.schema import SpanRow
from discriminator.evaluate import TRAIN_ITEMS_FILE
from discriminator.features import IGNORE, DiscriminatorEncoder, Encoded
from discriminator.metrics import best_f1_threshold, token_metrics
from discriminator.model import DiscriminatorMeta, load_backbone, model_max_length, save_discriminator
from discriminator.splits import assign_splits, by_split, check_item_disjoint, load_rows_with_report, stats
from rubrics.io import write_text

log = logging.getLogger(__name__)


# -- data ---------------------------------------------------------------------------------------------------------
class TokenDataset(torch.utils.data.Dataset):
    """Encoded rows as ``{"input_ids", "attention_mask", "labels"}`` dicts (lists; the collator pads)."""

    def __init__(self, encoded: Sequence[Encoded]):
        self.items = [
            {"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels} for e in encoded
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


@dataclass
class SpanCollator:
    """Right-pads a batch; labels are float with ``IGNORE`` (-100) on prompt, special and padding positions."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        n = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            n = -(-n // self.pad_to_multiple_of) * self.pad_to_multiple_of
        ids = torch.full((len(features), n), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(features), n), dtype=torch.long)
        labels = torch.full((len(features), n), float(IGNORE), dtype=torch.float32)
        for i, f in enumerate(features):
            k = len(f["input_ids"])
            ids[i, :k] = torch.tensor(f["input_ids"], dtype=torch.long)
            mask[i, :k] = 1
            if f.get("labels") is not None:
                labels[i, :k] = torch.tensor(f["labels"], dtype=torch.float32)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def encode_rows(encoder: DiscriminatorEncoder, rows: Sequence[SpanRow]) -> tuple[list[Encoded], list[str]]:
    """Encoded rows, and the ids of rows skipped because their rubric prompt alone exceeds ``max_length``."""
    enc = encoder.encode(
        [r.criteria for r in rows],
        [r.response for r in rows],
        [r.char_spans for r in rows],
        names=[r.id for r in rows],
        skip_too_long=True,
    )
    out, skipped = [], []
    for e, r in zip(enc, rows):
        if e is None:
            skipped.append(r.id)
            continue
        e.meta = {"id": r.id, "family": r.family}
        out.append(e)
    return out, skipped


def label_counts(encoded: Sequence[Encoded]) -> tuple[int, int]:
    """(positives, negatives) over response tokens."""
    pos = neg = 0
    for e in encoded:
        lab = np.asarray(e.labels)
        pos += int((lab == 1).sum())
        neg += int((lab == 0).sum())
    return pos, neg


# -- loss and metrics ---------------------------------------------------------------------------------------------
class MaskedBCELoss:
    """``compute_loss_func`` for the Trainer: BCE on response tokens only, ``pos_weight`` on positives.

    With ``num_items_in_batch`` (the Trainer's count of non-ignored labels over the accumulated batch) the sum
    is divided by it, so gradient accumulation and multi-device runs average over tokens exactly.
    """

    def __init__(self, pos_weight: float | None = None):
        self.pos_weight = pos_weight

    def __call__(self, outputs, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None):
        logits = (outputs["logits"] if isinstance(outputs, dict) else outputs[0])[..., 0].float()
        mask = labels != IGNORE
        target = labels.clamp(min=0).to(logits.dtype)
        pw = None if self.pos_weight is None else torch.tensor(self.pos_weight, device=logits.device)
        loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pw, reduction="none")
        total = (loss * mask).sum()
        if num_items_in_batch is not None:
            return total / torch.as_tensor(num_items_in_batch, device=total.device).clamp(min=1)
        return total / mask.sum().clamp(min=1)


def preprocess_logits(logits, labels):
    """Keep only the one logit per token (``(B, T)``) for metric accumulation."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits[..., 0].float()


def compute_metrics(eval_pred) -> dict[str, float]:
    """Validation metrics: P/R/F1/accuracy at 0.5, AUROC, and the best F1 over thresholds (``f1_best``)."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    probs = 1.0 / (1.0 + np.exp(-logits))
    m = token_metrics(probs, labels, 0.5)
    thr, f1b = best_f1_threshold(probs, labels)
    return {
        "precision": m["precision"],
        "recall": m["recall"],
        "f1": m["f1"],
        "accuracy": m["accuracy"],
        "auroc": m["auroc"],
        "f1_best": f1b,
        "best_threshold": thr,
    }


# -- the run ------------------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    out: Path
    model_dir: Path
    meta: DiscriminatorMeta
    val_metrics: dict[str, float]
    log_history: list[dict[str, Any]]
    seconds: float


def resolve_pos_weight(cfg: TrainConfig, pos: int, neg: int) -> tuple[float | None, str]:
    if cfg.pos_weight is None:
        return None, "none"
    if cfg.pos_weight == "auto":
        if pos == 0:
            raise ValueError("the train split has no relevant token: cannot learn (check the spans / filters)")
        return float(min(cfg.pos_weight_max, max(1.0, neg / pos))), "auto"
    return float(cfg.pos_weight), "fixed"


def _bf16(cfg: TrainConfig) -> bool:
    if cfg.bf16 == "auto":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return bool(cfg.bf16)


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    disable_tqdm: bool | None = None,
) -> TrainResult:
    """Train a discriminator per ``cfg``; return where the best model went and its validation metrics."""
    from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed

    t0 = time.time()
    out = Path(cfg.out)
    existing = checkpoints(out)
    resume_from: Path | None = None
    skipped_ckpts: list[str] = []
    if resume:
        choice = newest_intact(out)  # unusable newer ones (cut while saving, truncated weights) set aside
        if choice.note():
            log.warning("%s: %s", out, choice.note())
        resume_from = choice.path
        if resume_from is None:
            raise FileNotFoundError(
                f"{out}: --resume given but no intact checkpoint-* folder to resume from"
                + (f" ({choice.note()})" if choice.skipped else "")
            )
        existing = checkpoints(out)
        skipped_ckpts = [f"{p.name}: {why}" for p, why in choice.skipped]
    if existing and not resume:
        if not overwrite:
            raise FileExistsError(f"{out}: holds checkpoints from an earlier run; pass --resume or --overwrite")
        for p in existing:
            shutil.rmtree(p)
    out.mkdir(parents=True, exist_ok=True)
    # a summary of an earlier finished run must not outlive the checkpoints of this one: an interrupted run then
    # has checkpoints and no summary, which is what "resume it" means (flows.pipeline.disc_restart)
    (out / "train_summary.json").unlink(missing_ok=True)
    resumed_from = int(resume_from.name.split("-")[-1]) if resume_from is not None else 0
    write_text(out / "config.yaml", cfg.dump_yaml())
    set_seed(cfg.seed)

    rows, resolution = load_rows_with_report(
        cfg.data, cfg.label_sources, cfg.families, cfg.human_labels, cfg.adjudicators
    )
    if resolution is not None and (resolution.human_resolved or resolution.disputed):
        log.info(
            "labels: %d pairs from human review (%d automatic rows replaced, %d changed), %d disputed left out",
            resolution.human_resolved,
            resolution.auto_replaced,
            resolution.auto_changed,
            len(resolution.disputed),
        )
    rows = assign_splits(rows, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    splits = by_split(rows)
    train_rows, val_rows = splits["train"], splits["val"]
    if cfg.max_train_rows:
        train_rows = train_rows[: cfg.max_train_rows]
    if not train_rows or not val_rows:
        raise ValueError(f"{cfg.data}: need train and val rows, got {len(train_rows)} train / {len(val_rows)} val")
    check_item_disjoint(train_rows, val_rows, ("train", "val"))
    check_item_disjoint(train_rows, splits["test"], ("train", "test"))

    model, tokenizer = load_backbone(cfg.backbone, case_markers=cfg.case_markers)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    max_length = model_max_length(model, tokenizer, cfg.max_length)
    encoder = DiscriminatorEncoder(tokenizer, cfg.template, max_length)
    (train_enc, skipped), (val_enc, val_skipped) = encode_rows(encoder, train_rows), encode_rows(encoder, val_rows)
    if skipped or val_skipped:
        log.warning(
            "skipped %d train / %d val rows whose rubric prompt exceeds max_length=%d (first: %s)",
            len(skipped),
            len(val_skipped),
            max_length,
            (skipped or val_skipped)[0],
        )
    if not train_enc or not val_enc:
        raise ValueError(f"no train or val row fits max_length={max_length}")
    pos, neg = label_counts(train_enc)
    pos_weight, pw_mode = resolve_pos_weight(cfg, pos, neg)
    truncated = sum(e.truncated for e in train_enc)
    log.info(
        "train %d rows (%d truncated), val %d rows; %d/%d positive tokens; pos_weight=%s",
        len(train_enc),
        truncated,
        len(val_enc),
        pos,
        pos + neg,
        pos_weight,
    )

    per_epoch = "epoch" if cfg.eval_steps is None else "steps"
    args = TrainingArguments(
        output_dir=str(out),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        seed=cfg.seed,
        bf16=_bf16(cfg),
        eval_strategy=per_epoch,
        save_strategy=per_epoch,
        eval_steps=cfg.eval_steps,
        save_steps=cfg.eval_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=cfg.metric_for_best_model,
        greater_is_better=not cfg.metric_for_best_model.endswith("loss"),
        logging_strategy="steps",
        logging_steps=cfg.logging_steps,
        train_sampling_strategy=cfg.train_sampling_strategy,
        dataloader_num_workers=cfg.dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to=cfg.report_to or "none",
        remove_unused_columns=False,
        disable_tqdm=disable_tqdm if disable_tqdm is not None else False,
    )
    callbacks: list[Any] = []
    if cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(cfg.early_stopping_patience, cfg.early_stopping_threshold))
    if progress is not None:

        class _Progress(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                progress({"step": state.global_step, "max_steps": state.max_steps})

            def on_log(self, args, state, control, logs=None, **kw):
                progress({"step": state.global_step, "max_steps": state.max_steps, **(logs or {})})

        callbacks.append(_Progress())

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=TokenDataset(train_enc),
        eval_dataset=TokenDataset(val_enc),
        data_collator=SpanCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        compute_loss_func=MaskedBCELoss(pos_weight),
        compute_metrics=compute_metrics,
        preprocess_logits_for_metrics=preprocess_logits,
        callbacks=callbacks,
    )
    trainer.loss_is_scaled_for_ga = True  # MaskedBCELoss divides by num_items_in_batch of the accumulated batch
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)

    # validation predictions of the best model: threshold tuning
    pred = trainer.predict(TokenDataset(val_enc), metric_key_prefix="val")
    val_logits = np.asarray(pred.predictions, dtype=np.float64)
    temperature = 1.0
    if cfg.temperature_scaling:
        from discriminator.calibration import fit_temperature

        temperature = fit_temperature(val_logits, pred.label_ids)
        log.info("temperature scaling: T = %.3f (fitted on validation)", temperature)
    val_probs = 1.0 / (1.0 + np.exp(-val_logits / temperature))
    if cfg.threshold == "tune":
        threshold, _ = best_f1_threshold(val_probs, pred.label_ids)
        thr_source = "validation-f1"
    else:
        threshold, thr_source = float(cfg.threshold), "fixed"
    val_metrics = token_metrics(val_probs, pred.label_ids, threshold)

    meta = DiscriminatorMeta(
        backbone=str(cfg.backbone),
        template=cfg.template,
        max_length=max_length,
        case_markers=has_case_markers(tokenizer),
        threshold=threshold,
        threshold_source=thr_source,
        temperature=temperature,
        pos_weight=pos_weight,
        pos_weight_mode=pw_mode,
        label_source_stats=stats(train_rows)["label_source"],
        family_stats=stats(train_rows)["family"],
        token_stats={
            "positives": pos,
            "negatives": neg,
            "base_rate": pos / max(1, pos + neg),
            "truncated_rows": truncated,
            "skipped_rows": len(skipped) + len(val_skipped),
            "train_rows": len(train_enc),
            "val_rows": len(val_enc),
        },
        val_metrics={k: float(v) for k, v in val_metrics.items()},
        extra={
            "global_step": trainer.state.global_step,
            "best_checkpoint": trainer.state.best_model_checkpoint,
            "val_fraction": cfg.val_fraction,
            "test_fraction": cfg.test_fraction,
            "split_seed": cfg.seed,
            "data": str(cfg.data),
            "label_resolution": resolution.model_dump(exclude={"disputed"}) if resolution is not None else None,
        },
    )
    model_dir = save_discriminator(trainer.model, tokenizer, meta, out / "model")
    write_text(model_dir / TRAIN_ITEMS_FILE, json.dumps(sorted({r.item_id for r in train_rows})) + "\n")
    history = list(trainer.state.log_history)
    from discriminator.plots import plot_loss_curve

    plot_loss_curve(history, out / "loss_curve.png")
    seconds = time.time() - t0
    summary = {
        "val_metrics": meta.val_metrics,
        "threshold": threshold,
        "pos_weight": pos_weight,
        "global_step": trainer.state.global_step,
        "resumed_from_step": resumed_from,
        "skipped_checkpoints": skipped_ckpts,
        "seconds": seconds,
        "log_history": history,
    }
    write_text(out / "train_summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    return TrainResult(out, model_dir, meta, meta.val_metrics, history, seconds)
