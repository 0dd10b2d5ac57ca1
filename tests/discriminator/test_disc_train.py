"""Discriminator training: masked loss, a real learning check against the lexical baseline, export, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from discriminator.config import EvalConfig, TrainConfig
from discriminator.data.schema import write_rows
from discriminator.features import IGNORE
from discriminator.splits import assign_splits
from discriminator.synthetic import toy_rows
from discriminator.train import MaskedBCELoss, compute_metrics

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("toy") / "rows.parquet"
    write_rows(path, assign_splits(toy_rows(100, seed=0), 0.2, 0.2, seed=0))
    return path


def _cfg(data, out, backbone, **kw) -> TrainConfig:
    base = dict(
        data=data,
        out=out,
        backbone=str(backbone),
        learning_rate=1e-2,
        num_train_epochs=10,
        per_device_train_batch_size=16,
        warmup_ratio=0.05,
        eval_steps=40,
        logging_steps=10,
        early_stopping_patience=None,
        max_length=256,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(toy_data, tiny_bert_dir, tmp_path_factory):
    from discriminator.train import train

    out = tmp_path_factory.mktemp("run")
    return train(_cfg(toy_data, out, tiny_bert_dir), disable_tqdm=True)


def test_masked_bce_ignores_prompt_and_padding():
    labels = torch.tensor([[IGNORE, IGNORE, 1, 0, IGNORE], [IGNORE, 0, 0, 1, 1]], dtype=torch.float32)
    logits = torch.randn(2, 5, 1, requires_grad=True)
    loss_fn = MaskedBCELoss(pos_weight=3.0)
    loss = loss_fn({"logits": logits}, labels)
    loss.backward()
    mask = labels != IGNORE
    assert torch.all(logits.grad[..., 0][~mask] == 0)  # prompt / padding positions get no gradient
    other = logits.detach().clone()
    other[..., 0][~mask] = 1e4  # anything at ignored positions
    assert loss_fn({"logits": other}, labels).item() == pytest.approx(loss.item())
    z, y = logits.detach()[..., 0][mask], labels[mask]
    manual = -(3.0 * y * torch.nn.functional.logsigmoid(z) + (1 - y) * torch.nn.functional.logsigmoid(-z)).mean()
    assert loss.item() == pytest.approx(manual.item(), rel=1e-5)
    # with the Trainer's token count over an accumulated batch, the sum is divided by it
    assert loss_fn({"logits": logits}, labels, num_items_in_batch=14).item() == pytest.approx(
        manual.item() * mask.sum().item() / 14, rel=1e-5
    )


def test_validation_metrics_ignore_prompt_positions():
    from transformers import EvalPrediction

    labels = np.array([[IGNORE, 1, 0, 0], [IGNORE, IGNORE, 1, 0]])
    logits = np.array([[9.0, 2.0, -2.0, -3.0], [9.0, 9.0, 1.0, -1.0]])
    m = compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert m["precision"] == 1.0 and m["recall"] == 1.0 and m["auroc"] == 1.0  # the 9.0 prompt logits ignored


def test_learning_check_beats_lexical_baseline(trained, toy_data, tmp_path):
    from discriminator.evaluate import evaluate

    assert (trained.out / "loss_curve.png").stat().st_size > 1000
    assert (trained.model_dir / "rtt_discriminator.json").is_file()
    assert trained.meta.pos_weight_mode == "auto" and trained.meta.pos_weight > 2
    assert trained.meta.threshold_source == "validation-f1"
    losses = [h["loss"] for h in trained.log_history if "loss" in h]
    assert losses[-1] < losses[0]
    report = evaluate(
        EvalConfig(
            model=trained.model_dir,
            data=toy_data,
            out=tmp_path / "eval",
            baselines=["all_relevant", "random", "lexical", "greedy"],
        )
    )
    disc, lex = report.overall["discriminator"], report.overall["lexical overlap"]
    assert disc["f1"] >= lex["f1"] + 0.15, report.markdown
    assert disc["auroc"] >= 0.9 and disc["f1"] >= 0.6, report.markdown
    assert disc["f1"] > report.overall["all-relevant"]["f1"] + 0.3
    assert abs(report.overall["random (base rate)"]["auroc"] - 0.5) < 0.1
    assert report.counts["test_rows"] > 0 and set(report.per_family["discriminator"]) >= {"toy:keyword", "toy:no_comma"}
    for f in ("metrics.json", "report.md", "pr_curve.png"):
        assert (tmp_path / "eval" / f).stat().st_size > 100
    assert "greedy LLM labeler" in report.notes
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["overall"]["discriminator"]["f1"] == pytest.approx(disc["f1"])


def test_greedy_llm_labeler_baseline_over_http(trained, toy_data, scripted_openai):
    from discriminator.evaluate import evaluate
    from tests.helpers.llm_server import Reply

    def responder(body: dict, n: int) -> Reply:
        prompt = body["messages"][-1]["content"]
        if "commas" in prompt.split("# Response")[0]:
            return Reply(content='{"type": "partial relevant", "relevant texts": [","]}')
        return Reply(content='{"type": "all irrelevant"}' if n % 2 else "not json at all")

    fake = scripted_openai(responder=responder)
    report = evaluate(
        EvalConfig(
            model=trained.model_dir,
            data=toy_data,
            baselines=["greedy"],
            greedy_base_url=fake.base_url,
            greedy_model="scripted",
        )
    )
    greedy = report.per_family["greedy LLM labeler"]
    assert fake.count >= report.counts["test_rows"]
    assert greedy["toy:no_comma"]["f1"] == 1.0  # every quoted comma matched back to its span
    assert greedy["toy:keyword"]["recall"] == 0.0
    assert "answers unusable" in report.notes["greedy LLM labeler"]


def test_eval_refuses_leaked_test_items(trained, toy_data, tmp_path):
    from discriminator.data.schema import read_rows
    from discriminator.evaluate import evaluate

    rows = read_rows(toy_data)
    first_train = next(r.item_id for r in rows if r.split == "train")
    # 1) one row of a train item relabelled test: train and test share an item in the file
    i = next(k for k, r in enumerate(rows) if r.item_id == first_train)
    shared = rows[:i] + [rows[i].model_copy(update={"split": "test"})] + rows[i + 1 :]
    write_rows(tmp_path / "shared.parquet", shared)
    with pytest.raises(ValueError, match="share 1 item"):
        evaluate(EvalConfig(model=trained.model_dir, data=tmp_path / "shared.parquet", baselines=["lexical"]))
    # 2) a whole train item moved to test: the file looks disjoint, but the model was trained on it
    moved = [r.model_copy(update={"split": "test"}) if r.item_id == first_train else r for r in rows]
    write_rows(tmp_path / "moved.parquet", moved)
    with pytest.raises(ValueError, match="in the model's training set"):
        evaluate(EvalConfig(model=trained.model_dir, data=tmp_path / "moved.parquet", baselines=["lexical"]))


def test_export_roundtrip(trained, tmp_path):
    from transformers import AutoModelForTokenClassification

    from discriminator.export import export
    from discriminator.scoring import RelevanceScorer

    out = export(trained.out, tmp_path / "exported")
    files = {p.name for p in out.iterdir()}
    assert {"model.safetensors", "config.json", "rtt_discriminator.json", "README.md", "tokenizer.json"} <= files
    assert not any(f.endswith((".bin", ".pt", ".pth")) for f in files)
    plain = AutoModelForTokenClassification.from_pretrained(str(out))
    assert plain.config.num_labels == 1 and plain.config.rtt_discriminator["threshold"] == trained.meta.threshold
    card = (out / "README.md").read_text()
    assert "num_labels=1" in card and f"{trained.meta.threshold:.4f}" in card
    pairs = [
        ("Do not use any commas in your response.", "Hello, world, the fox."),
        ("Include the keyword 'banana' in your response.", "A banana and an apple."),
    ]
    a = RelevanceScorer.from_pretrained(trained.model_dir, device="cpu").score_tokens(pairs)
    b = RelevanceScorer.from_pretrained(out, device="cpu").score_tokens(pairs)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    with pytest.raises(FileExistsError):
        export(trained.out, out)


def test_resume_continues_from_checkpoint(toy_data, tiny_bert_dir, tmp_path):
    from discriminator.train import train

    cfg = _cfg(toy_data, tmp_path / "r", tiny_bert_dir, max_steps=6, eval_steps=3, logging_steps=1)
    first = train(cfg, disable_tqdm=True)
    assert first.meta.extra["global_step"] == 6 and (tmp_path / "r" / "checkpoint-6").is_dir()
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, disable_tqdm=True)
    steps: list[int] = []
    more = cfg.model_copy(update={"max_steps": 9})
    second = train(
        more,
        resume=True,
        disable_tqdm=True,
        progress=lambda logs: steps.append(logs["step"]) if "loss" not in logs and "eval_loss" not in logs else None,
    )
    assert second.meta.extra["global_step"] == 9
    assert sorted(set(steps)) == [7, 8, 9]  # only the missing steps ran
    logged = [h["step"] for h in second.log_history if "loss" in h]
    assert logged[:6] == [1, 2, 3, 4, 5, 6]  # history restored from the checkpoint
    with pytest.raises(FileNotFoundError, match="no intact checkpoint"):
        train(cfg.model_copy(update={"out": tmp_path / "empty"}), resume=True, disable_tqdm=True)


def test_decoder_backbone_and_missing_pad_token(toy_data, tiny_decoder_disc_dir, tmp_path):
    import shutil

    from transformers import AutoTokenizer

    from discriminator.features import ensure_pad_token
    from discriminator.scoring import RelevanceScorer
    from discriminator.train import train

    # a decoder checkpoint whose tokenizer has no pad token (as Llama / SmolLM ship)
    src = tmp_path / "nopad"
    shutil.copytree(tiny_decoder_disc_dir, src)
    tok = AutoTokenizer.from_pretrained(str(src))
    tok.pad_token = None
    tok.save_pretrained(src)
    assert AutoTokenizer.from_pretrained(str(src)).pad_token_id is None
    t2 = AutoTokenizer.from_pretrained(str(src))
    assert ensure_pad_token(t2) == t2.eos_token_id
    res = train(
        _cfg(toy_data, tmp_path / "dec", src, max_steps=4, eval_steps=2, threshold=0.5, pos_weight=4.0),
        disable_tqdm=True,
    )
    assert res.meta.pos_weight == 4.0 and res.meta.pos_weight_mode == "fixed" and res.meta.threshold == 0.5
    scorer = RelevanceScorer.from_pretrained(res.model_dir, device="cpu")
    assert type(scorer.model).__name__ == "LlamaForTokenClassification"
    (s,) = scorer.score_tokens([("Do not use any commas.", "one, two, three")])
    assert s.shape == (len(scorer.tokenizer("one, two, three", add_special_tokens=False)["input_ids"]),)
