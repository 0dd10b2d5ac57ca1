"""The discriminator model: any HF backbone with a one-logit token-classification head, plus its metadata.

A saved discriminator is a standard Hugging Face folder (``config.json`` + ``model.safetensors`` + tokenizer)
that ``AutoModelForTokenClassification.from_pretrained`` loads as is (``num_labels=1``: the logit at position t
scores token t, ``sigmoid`` gives the relevance probability). Everything needed to *use* it the same way it was
trained (prompt template, max length, decision threshold, class-imbalance handling, label sources) is stored in
``rtt_discriminator.json`` beside it and mirrored under the custom key ``rtt_discriminator`` of ``config.json``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from discriminator.casing import CaseMarkers, add_case_markers, wants_case_markers
from discriminator.features import ensure_pad_token
from discriminator.template import DEFAULT_TEMPLATE, PromptTemplate

META_FILE = "rtt_discriminator.json"
CONFIG_KEY = "rtt_discriminator"


class DiscriminatorMeta(BaseModel):
    """How to use a trained discriminator; written at training time, carried through export."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["rtt-discriminator"] = "rtt-discriminator"
    version: int = 1
    backbone: str
    template: str = DEFAULT_TEMPLATE
    max_length: int = 512
    case_markers: bool = False  # the tokenizer marks letter case (discriminator/casing.py); informational
    threshold: float = 0.5
    threshold_source: str = "default"  # "validation-f1", "fixed" or "default"
    # probabilities are sigmoid(logit / temperature); fitted on validation when temperature scaling is on
    temperature: float = Field(1.0, gt=0)
    pos_weight: float | None = None
    pos_weight_mode: str = "none"  # "auto" (neg/pos on train), "fixed" or "none"
    label_source_stats: dict[str, int] = Field(default_factory=dict)
    family_stats: dict[str, int] = Field(default_factory=dict)
    token_stats: dict[str, float] = Field(default_factory=dict)  # train positives / negatives / base rate
    val_metrics: dict[str, float] = Field(default_factory=dict)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def prompt_template(self) -> PromptTemplate:
        return PromptTemplate(text=self.template)


def auto_dtype(device: torch.device | str, dtype: torch.dtype | str | None = None) -> torch.dtype:
    """``dtype`` if given, else bf16 on a CUDA device that supports it, else float32."""
    if dtype is not None:
        return getattr(torch, dtype) if isinstance(dtype, str) else dtype
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def load_backbone(name_or_path: str | Path, dtype: torch.dtype | None = None, case_markers: CaseMarkers = "off"):
    """A one-logit token classifier on ``name_or_path`` (encoder or decoder) and its fast tokenizer.

    ``case_markers`` (:mod:`discriminator.casing`): ``auto`` marks letter case for a lowercasing tokenizer,
    ``on`` always, ``off`` never (a tokenizer that already carries the markers keeps them).
    """
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    if wants_case_markers(tokenizer, case_markers):
        tokenizer = add_case_markers(tokenizer)
    kwargs: dict[str, Any] = {"num_labels": 1, "id2label": {0: "relevant"}, "label2id": {"relevant": 0}}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AutoModelForTokenClassification.from_pretrained(str(name_or_path), **kwargs)
    if model.config.num_labels != 1:
        raise ValueError(f"{name_or_path}: expected a one-logit head, got num_labels={model.config.num_labels}")
    ensure_pad_token(tokenizer, model)
    tokenizer.padding_side = "right"
    return model, tokenizer


def model_max_length(model, tokenizer, requested: int | None = None) -> int:
    """The largest usable input length: ``requested`` capped by the tokenizer and position embeddings."""
    caps = [requested] if requested else []
    tml = getattr(tokenizer, "model_max_length", None)
    if tml and tml < 1_000_000:
        caps.append(int(tml))
    mpe = getattr(model.config, "max_position_embeddings", None)
    if mpe:
        caps.append(int(mpe))
    return min(caps) if caps else 512


def read_meta(path: str | Path) -> DiscriminatorMeta:
    """Metadata of a saved discriminator (``rtt_discriminator.json``, else the ``config.json`` custom key)."""
    path = Path(path)
    if (path / META_FILE).is_file():
        try:
            return DiscriminatorMeta.model_validate_json((path / META_FILE).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path / META_FILE}: invalid discriminator metadata: {exc}") from None
    cfg = path / "config.json"
    if cfg.is_file():
        data = json.loads(cfg.read_text(encoding="utf-8"))
        if CONFIG_KEY in data:
            return DiscriminatorMeta.model_validate(data[CONFIG_KEY])
        return DiscriminatorMeta(backbone=data.get("_name_or_path") or str(path))
    raise FileNotFoundError(f"{path}: not a model folder (no config.json)")


def save_discriminator(model, tokenizer, meta: DiscriminatorMeta, out_dir: str | Path) -> Path:
    """Save weights (safetensors), tokenizer, config (with the metadata key) and ``rtt_discriminator.json``."""
    from rubrics.io import write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.num_labels = 1
    model.config.id2label = {0: "relevant"}
    model.config.label2id = {"relevant": 0}
    setattr(model.config, CONFIG_KEY, meta.model_dump(mode="json"))
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    write_text(out_dir / META_FILE, meta.model_dump_json(indent=2) + "\n")
    return out_dir


def load_discriminator(path: str | Path, device: torch.device | str | None = None, dtype=None):
    """``(model, tokenizer, meta)`` of a saved discriminator, in eval mode on ``device``."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    path = Path(path)
    meta = read_meta(path)
    device = torch.device(device) if device is not None else default_device()
    dtype = auto_dtype(device, dtype)
    model = AutoModelForTokenClassification.from_pretrained(str(path), dtype=dtype)
    if model.config.num_labels != 1:
        raise ValueError(f"{path}: expected num_labels=1, got {model.config.num_labels}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{path}: cannot load the tokenizer ({_tokenizer_files(path)}): {str(exc).strip().splitlines()[0]}"
        ) from None
    check_tokenizer_fits(tokenizer, model, path)
    ensure_pad_token(tokenizer, model)
    tokenizer.padding_side = "right"
    return model.to(device).eval(), tokenizer, meta


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def _tokenizer_files(path: Path) -> str:
    missing = [f for f in TOKENIZER_FILES if not (path / f).exists()]
    return f"missing {', '.join(missing)}" if missing else "tokenizer files present"


def check_tokenizer_fits(tokenizer, model, path: str | Path) -> None:
    """Refuse a tokenizer that does not match the checkpoint's vocabulary: more tokens than embedding rows
    (ids out of range), or far fewer (a fallback tokenizer built from special tokens when the vocabulary files
    are missing, which scores every response as unknown tokens)."""
    vocab = getattr(model.config, "vocab_size", None)
    if not vocab:
        return
    n = len(tokenizer)
    if n > vocab or n < vocab // 2:
        raise ValueError(
            f"{path}: the tokenizer has {n} tokens but the checkpoint's vocabulary has {vocab} "
            f"({_tokenizer_files(Path(path))}); copy the tokenizer files of the backbone into the folder"
        )


def token_logits(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``(batch, seq)`` float32 logits of the one-logit head."""
    out = model(input_ids=input_ids, attention_mask=attention_mask)
    return out.logits[..., 0].float()
