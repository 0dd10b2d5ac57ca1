"""Export a trained discriminator as a self-contained Hugging Face folder with a model card.

The folder holds ``model.safetensors`` (no pickle weights), ``config.json`` (``num_labels=1``, and the custom
key ``rtt_discriminator`` with the template, threshold, pos_weight, label-source statistics and backbone),
the tokenizer files, ``rtt_discriminator.json`` and ``README.md``. It loads with plain
``AutoModelForTokenClassification.from_pretrained`` and with the RTT paper's code (one-logit head). The export
is written to a temporary folder, checked by reloading it, then renamed into place: a complete folder or none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from discriminator.evaluate import TRAIN_ITEMS_FILE
from discriminator.model import META_FILE, DiscriminatorMeta, load_discriminator, save_discriminator

PLAIN_USAGE = """import json, torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

path = "{name}"
tok = AutoTokenizer.from_pretrained(path)
model = AutoModelForTokenClassification.from_pretrained(path).eval()
meta = json.load(open(f"{path}/rtt_discriminator.json"))
criteria, response = "Do not use any commas.", "Hello, world, the fox."

def ids(text):
    return tok(text, add_special_tokens=False)["input_ids"] if text else []

before, after = meta["template"].split("{response}")
prefix, resp = ids(before.replace("{rubric}", criteria)), ids(response)
single, x = tok("x")["input_ids"], ids("x")  # where the tokenizer puts its special tokens
k = next(i for i in range(len(single)) if single[i:i + len(x)] == x)
head, tail = single[:k], single[k + len(x):]
input_ids = torch.tensor([head + prefix + resp + ids(after) + tail])
with torch.no_grad():
    logits = model(input_ids=input_ids).logits[0, :, 0]
start = len(head) + len(prefix)
probs = torch.sigmoid(logits[start:start + len(resp)] / meta.get("temperature", 1.0))  # one per response token
relevant = probs >= meta["threshold"]"""


def find_model_dir(run: str | Path) -> Path:
    """The model folder of a run (``run/model``) or ``run`` itself when it is a model folder."""
    run = Path(run)
    for cand in (run / "model", run):
        if (cand / "config.json").is_file():
            return cand
    raise FileNotFoundError(f"{run}: no trained model (expected {run / 'model'} with config.json)")


def find_eval_metrics(run: Path) -> dict[str, Any] | None:
    for cand in (run / "eval" / "metrics.json", run / "metrics.json"):
        if cand.is_file():
            return json.loads(cand.read_text(encoding="utf-8"))
    return None


def model_card(meta: DiscriminatorMeta, metrics: dict[str, Any] | None, name: str) -> str:
    """A README.md model card: what it is, how to load it, how it was trained and how it scores."""
    front = [
        "---",
        "library_name: transformers",
        "pipeline_tag: token-classification",
        "tags: [rubrics-to-tokens, rtt, token-relevance, reward-modeling]",
        f"base_model: {meta.backbone if '/' in meta.backbone and not meta.backbone.startswith('/') else 'local'}",
        "---",
        "",
    ]
    tpl = meta.template.replace("\n", "\\n")
    body = [
        f"# {name}: token-level relevance discriminator",
        "",
        "Scores, for a (criterion, response) pair, the probability that each response token is relevant to the",
        "criterion. It is the Token-Level Relevance Discriminator of *Rubrics to Tokens* (RTT, arXiv 2604.02795):",
        f"a one-logit token-classification head (`num_labels=1`, sigmoid per token) on `{meta.backbone}`.",
        "",
        "## Input format",
        "",
        f"Prompt template (the same at training and scoring time): `{tpl}`.",
        "The prompt and the response are tokenized separately and concatenated between the tokenizer's special",
        f"tokens; only response positions are scored. Maximum input length: {meta.max_length} tokens.",
        "",
        "## Usage",
        "",
        "```python",
        "from discriminator.scoring import RelevanceScorer",
        f'scorer = RelevanceScorer.from_pretrained("{name}")',
        'probs = scorer.score_tokens([("Do not use any commas.", "Hello, world")])[0]',
        "relevant = probs >= scorer.threshold",
        "```",
        "",
        "## Plain transformers",
        "",
        "Without this project: build the input by hand from the stored template (prompt and response tokenized",
        "separately, between the tokenizer's own special tokens), then `sigmoid(logit / temperature)` on the",
        "response positions gives the same probabilities as `RelevanceScorer` (for inputs within max length):",
        "",
        "```python",
        *PLAIN_USAGE.replace("{name}", name).splitlines(),
        "```",
        "",
        "## Training",
        "",
        f"- decision threshold: {meta.threshold:.4f} ({meta.threshold_source})",
        f"- temperature: {meta.temperature:.4f} (probabilities are sigmoid(logit / temperature))",
        f"- class imbalance: pos_weight = {meta.pos_weight if meta.pos_weight is not None else 'none'} "
        f"({meta.pos_weight_mode})",
        f"- train tokens: {json.dumps(meta.token_stats)}",
        f"- label sources (train rows): {json.dumps(meta.label_source_stats)}",
        "- validation: "
        + ", ".join(
            f"{k} {v:.3f}"
            for k, v in meta.val_metrics.items()
            if k in ("precision", "recall", "f1", "auroc", "accuracy")
        ),
    ]
    if metrics and metrics.get("overall"):
        body += [
            "",
            "## Test split (item-disjoint)",
            "",
            "| method | precision | recall | F1 | AUROC |",
            "|---|---|---|---|---|",
        ]
        for m, v in metrics["overall"].items():
            auroc = v.get("auroc")
            auroc_s = "n/a" if auroc is None or auroc != auroc else f"{auroc:.3f}"
            body.append(f"| {m} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {auroc_s} |")
    return "\n".join(front + body) + "\n"


def export(run: str | Path, out: str | Path, *, name: str | None = None, overwrite: bool = False) -> Path:
    """Write the exported folder ``out`` from a run (or model) folder; return ``out``."""
    from transformers import AutoModelForTokenClassification

    run, out = Path(run), Path(out)
    src = find_model_dir(run)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out}: exists and is not empty (pass --overwrite)")
    model, tokenizer, meta = load_discriminator(src, device="cpu", dtype=torch.float32)
    meta = meta.model_copy(update={"extra": {**meta.extra, "exported_from": str(src)}})
    metrics = find_eval_metrics(run) or find_eval_metrics(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        save_discriminator(model, tokenizer, meta, tmp)
        for f in tmp.glob("*.bin"):
            f.unlink()
        if (src / TRAIN_ITEMS_FILE).is_file():
            shutil.copy2(src / TRAIN_ITEMS_FILE, tmp / TRAIN_ITEMS_FILE)
        if metrics:
            (tmp / "eval_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(model_card(meta, metrics, name or out.name), encoding="utf-8")
        # check: plain HF loading gives the same logits as the source model
        reloaded = AutoModelForTokenClassification.from_pretrained(str(tmp), dtype=torch.float32).eval()
        if (
            reloaded.config.num_labels != 1
            or not (tmp / "model.safetensors").is_file()
            and not list(tmp.glob("model-*.safetensors"))
        ):
            raise RuntimeError(f"{tmp}: export check failed (num_labels or safetensors weights)")
        ids = tokenizer("export check", return_tensors="pt")
        with torch.inference_mode():
            a = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
            b = reloaded(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
        if not torch.allclose(a, b, atol=1e-5):
            raise RuntimeError("export check failed: reloaded logits differ from the trained model's")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def exported_files(out: Path) -> list[str]:
    return sorted(p.name for p in Path(out).iterdir())


__all__ = ["export", "find_model_dir", "model_card", "META_FILE"]
