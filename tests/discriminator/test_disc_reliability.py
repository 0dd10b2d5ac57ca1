"""Discriminator presets in every command, a tokenizer that does not fit the checkpoint is an error,
an explicit ``early_stopping_patience: null`` override is honoured, a leftover summary does not force step 0."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest
from typer.testing import CliRunner

from discriminator.config import TrainConfig, resolve_config
from flows.cli import app


def test_disc_train_accepts_a_preset_name(tmp_path):
    assert resolve_config("minilm").name == "minilm.yaml"
    cfg = TrainConfig.from_yaml("tiny", data=tmp_path / "rows.parquet")
    assert cfg.learning_rate == 1e-2
    # the README's command: a missing --data is reported, not "No such file or directory: 'minilm'"
    res = CliRunner().invoke(
        app,
        [
            "disc",
            "train",
            "--config",
            "minilm",
            "--data",
            str(tmp_path / "none.parquet"),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert "No such file or directory: 'minilm'" not in res.output
    assert "none.parquet" in res.output and res.exit_code == 1
    res = CliRunner().invoke(app, ["disc", "train", "--config", "nosuchpreset", "--data", "x.parquet"])
    assert res.exit_code == 1 and "minilm" in res.output and "paper" in res.output


def test_explicit_null_override_is_honoured():
    cfg = TrainConfig.from_yaml("minilm", data="rows.parquet", early_stopping_patience=None)
    assert cfg.early_stopping_patience is None
    from flows.pipeline_params import PipelineParams

    p = PipelineParams.from_yaml("configs/demo.yaml")
    tp = p.disc_train_params()
    cfg = TrainConfig.from_yaml(tp.config, **tp.overrides)
    assert cfg.early_stopping_patience is None  # configs/demo.yaml sets it to null


def test_checkpoint_without_tokenizer_files_is_a_clear_error(tiny_bert_dir, tmp_path):
    from discriminator.model import DiscriminatorMeta, load_backbone, load_discriminator, read_meta, save_discriminator  # noqa: F401

    model, tok = load_backbone(tiny_bert_dir)
    meta = DiscriminatorMeta(backbone=str(tiny_bert_dir))
    ckpt = save_discriminator(model, tok, meta, tmp_path / "model")
    load_discriminator(ckpt, device="cpu")  # loads as saved
    (ckpt / "tokenizer.json").unlink()
    conf = json.loads((ckpt / "tokenizer_config.json").read_text())
    conf["tokenizer_class"] = "BertTokenizer"  # the slow class, which builds a 5-token vocabulary without vocab.txt
    (ckpt / "tokenizer_config.json").write_text(json.dumps(conf))
    with pytest.raises(
        ValueError,
        match=r"tokenizer has 5 tokens but the checkpoint's vocabulary has \d+ .*missing "
        r"tokenizer.json",
    ):
        load_discriminator(ckpt, device="cpu")


def test_leftover_summary_of_a_finished_run_does_not_restart_an_interrupted_one(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    from flows.pipeline import disc_restart

    out = tmp_path / "disc"
    out.mkdir()
    assert disc_restart(out, "cfg", "up") == {}
    (out / "train_summary.json").write_text("{}")  # from an earlier, finished run
    time.sleep(0.05)
    (out / "checkpoint-4").mkdir()  # the interrupted run's checkpoint, newer
    (out / "checkpoint-4" / "trainer_state.json").write_text("{}")
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(out / "checkpoint-4" / "model.safetensors"))
    (out / "config.yaml").write_text("cfg")
    assert disc_restart(out, "cfg", "up") == {"resume": True, "overwrite": False}
    os.utime(out / "train_summary.json")  # a summary newer than the checkpoints: that run finished
    assert disc_restart(out, "cfg", "up") == {"resume": False, "overwrite": True}
    shutil.rmtree(out / "checkpoint-4")


def test_combining_accent_falls_in_the_span_of_its_letter(tiny_bert_dir, tmp_path):
    import numpy as np

    from discriminator.projection import absorb_combining_marks
    from discriminator.scoring import RelevanceScorer

    text = "cafe\u0301 ok"
    assert absorb_combining_marks([(0, 4), (6, 8)], text) == [(0, 5), (6, 8)]
    scorer = RelevanceScorer.from_pretrained(tiny_bert_dir, device="cpu")
    _, offsets = scorer.encoder.tokenize_responses([text])
    covered = {i for s, e in offsets[0] for i in range(s, e)}
    assert 4 in covered  # the accent belongs to a token
    chars = scorer.score_chars([("Mentions a cafe.", text)], fill_value=-1.0)[0]
    assert chars[4] == chars[3] and chars[4] != -1.0
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"id": "r", "criteria": "Mentions a cafe.", "response": text}) + "\n")
    res = CliRunner().invoke(
        app,
        ["disc", "score", "--model", str(tiny_bert_dir), "--data", str(rows), "--out", str(tmp_path / "scored.jsonl")],
    )
    assert res.exit_code == 0, res.output
    row = json.loads((tmp_path / "scored.jsonl").read_text())
    assert any(s <= 4 < e for s, e, _ in row["tokens"])
    assert np.all(np.isfinite(chars))


def test_resume_skips_a_checkpoint_cut_while_saving(tiny_bert_dir, tmp_path):
    from discriminator.data.schema import write_rows
    from discriminator.splits import assign_splits
    from discriminator.synthetic import toy_rows
    from discriminator.train import train

    data = tmp_path / "rows.parquet"
    write_rows(data, assign_splits(toy_rows(40, seed=0), 0.2, 0.2, seed=0))
    cfg = TrainConfig.from_yaml(
        "tiny",
        data=data,
        out=tmp_path / "run",
        backbone=str(tiny_bert_dir),
        max_steps=4,
        eval_steps=2,
        save_total_limit=3,
    )
    train(cfg, disable_tqdm=True)
    (tmp_path / "run" / "checkpoint-4" / "trainer_state.json").unlink()  # as if killed while saving step 4
    result = train(cfg.model_copy(update={"max_steps": 6}), resume=True, disable_tqdm=True)
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 2 and result.meta.extra["global_step"] == 6
