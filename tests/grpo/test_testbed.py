"""The learning testbed: its prompt set, pretraining text, tiny LM builder and preset (fast; no timing)."""

from __future__ import annotations

import os
import random

import pytest

from grpo.experiment.task import EXTRA_WORDS, TaskConfig, build_task
from grpo.experiment.testbed_corpus import response_for
from grpo.experiment.testbed_lm import pretrain_pairs

TB = dict(
    prompts="testbed",
    train_prompts=400,
    heldout_prompts=128,
    min_words=16,
    targets=["no_comma", "keyword", "forbidden", "lowercase"],
)


def test_testbed_task_is_deterministic_large_and_disjoint():
    train, held = build_task(TaskConfig(**TB))
    again = build_task(TaskConfig(**TB))
    assert [i.model_dump() for i in train + held] == [i.model_dump() for i in again[0] + again[1]]
    assert len(train) == 400 and len(held) == 128
    assert {i.split for i in train} == {"train"} and {i.split for i in held} == {"test"}
    assert len({i.id for i in train + held}) == 528
    assert not {i.prompt for i in train} & {i.prompt for i in held}
    train_topics = {i.meta["topic"].split()[-1] for i in train}
    held_topics = {i.meta["topic"].split()[-1] for i in held}
    assert held_topics and not train_topics & held_topics  # held-out topic nouns never trained on
    rules = {r.verifier.rule_id for i in train + held for r in i.rubrics}
    assert rules == {
        "length_constraints:number_words",
        "length_constraints:number_sentences",
        "keywords:existence",
        "keywords:frequency",
        "punctuation:no_comma",
        "keywords:forbidden_words",
        "change_case:english_lowercase",
    }
    assert {i.meta["target"] for i in held} == set(TB["targets"])
    other = build_task(TaskConfig(**(TB | {"split_seed": 7})))
    assert [i.prompt for i in other[1]] != [i.prompt for i in held]
    with pytest.raises(ValueError, match="at most"):
        build_task(TaskConfig(**(TB | {"heldout_prompts": 10_000})))


def test_pretraining_text_is_deterministic_and_meets_each_rubric_only_sometimes():
    from discriminator.rule_spans import rule_chars
    from rubrics.rules import check

    assert pretrain_pairs(TaskConfig(**TB), 50, seed=3) == pretrain_pairs(TaskConfig(**TB), 50, seed=3)
    assert pretrain_pairs(TaskConfig(**TB), 50, seed=3) != pretrain_pairs(TaskConfig(**TB), 50, seed=4)
    train, _ = build_task(TaskConfig(**TB))
    rng = random.Random(0)
    passed: dict[str, list[bool]] = {}
    aon = []
    for it in train[:160]:
        text = response_for(it, rng, EXTRA_WORDS)
        oks = []
        for r in it.rubrics:
            ok = check(r.verifier, text, prompt=it.prompt)
            kind = r.title if r.title != "target" else it.meta["target"]
            passed.setdefault(kind, []).append(ok)
            oks.append(ok)
            assert rule_chars(r, text, ok, it.prompt) is not None  # the oracle spans apply unchanged
        aon.append(all(oks))
    rates = {k: sum(v) / len(v) for k, v in passed.items()}
    assert set(rates) == {"words", "sentences", "topic", "no_repeat", "no_comma", "keyword", "forbidden", "lowercase"}
    assert all(0.15 <= r <= 0.9 for r in rates.values()), rates
    assert sum(aon) / len(aon) <= 0.2


def test_testbed_lm_builder_saves_a_loadable_chat_model(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grpo.experiment.testbed_lm import TestbedLMSpec, ensure_testbed_lm

    spec = TestbedLMSpec(pairs=120, vocab_size=400, hidden=32, layers=1, heads=2, steps=4, batch=8, ckpt_every=2)
    path = ensure_testbed_lm(tmp_path / "lm", spec, log=lambda _m: None)
    assert not (tmp_path / "lm.partial").exists() and not (tmp_path / "lm.lock").exists()
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert model.config.num_hidden_layers == 1 and model.config.hidden_size == 32
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Write a short paragraph about the old mill."}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert prompt.endswith("<|assistant|>")
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    text = "The children watch the waves, near the gate."
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text  # byte-level: exact round trip
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    ensure_testbed_lm(path, spec, log=lambda _m: None)  # cached: not rebuilt
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    w0 = AutoModelForCausalLM.from_pretrained(path).model.embed_tokens.weight.clone()
    ensure_testbed_lm(path, TestbedLMSpec(**(spec.__dict__ | {"seed": 1})), log=lambda _m: None)  # other spec
    assert not torch.equal(AutoModelForCausalLM.from_pretrained(path).model.embed_tokens.weight, w0)


def test_testbed_lm_build_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM

    import grpo.experiment.testbed_lm as tl

    spec = tl.TestbedLMSpec(pairs=120, vocab_size=400, hidden=32, layers=1, heads=2, steps=4, batch=8, ckpt_every=2)
    whole = tl.build_testbed_lm(tmp_path / "a", spec, log=lambda _m: None)
    # interrupted right after the step-2 checkpoint, then resumed: the same weights as the uninterrupted build
    real_save = torch.save
    calls = []

    def save_then_die(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        calls.append(f)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        tl.build_testbed_lm(tmp_path / "b", spec, log=lambda _m: None)
    monkeypatch.setattr(torch, "save", real_save)
    assert calls and not (tmp_path / "b.partial" / "ckpt.pt").exists()  # killed before the rename
    os.replace(calls[0], tmp_path / "b.partial" / "ckpt.pt")
    logs = []
    tl.build_testbed_lm(tmp_path / "b", spec, log=logs.append)
    assert any("resuming at step 2" in m for m in logs)
    a = AutoModelForCausalLM.from_pretrained(whole).state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "b").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_testbed_preset_validates():
    from grpo.experiment.config import load_experiment

    cfg = load_experiment("testbed")
    assert cfg.model == "testbed" and cfg.task.prompts == "testbed"
    assert cfg.steps >= 200 and len(cfg.seeds) >= 5 and cfg.task.heldout_prompts >= 100
    assert [a.name for a in cfg.arms][0] == "grpo-aon"
    train, held = build_task(cfg.task)
    assert len(held) >= 100 and len(train) >= cfg.steps * cfg.prompts_per_step // 2
    cfg2 = load_experiment("testbed", ["arms=[{name: b0, beta: 0}, {name: o, beta: 0.5, relevance: oracle}]"])
    assert [a.name for a in cfg2.arms] == ["b0", "o"]
    # round two: sampled evaluation, the controls of the centred credit and the discriminator arm; round one kept
    assert cfg.eval_samples >= 4 and cfg.report.final_window == 3 and cfg.discriminator
    assert {"rtt-centred-shuffled", "rtt-centred-uniform", "rtt-centred-disc"} <= {a.name for a in cfg.arms}
    r1 = load_experiment("testbed-r1")
    assert r1.eval_samples == 0 and len(r1.seeds) == 5 and r1.discriminator is None and r1.out != cfg.out
    assert r1.task == cfg.task and r1.steps == cfg.steps


def test_round_three_confirms_on_seeds_the_screen_never_saw():
    """The screen picks the arm on its seeds; the confirmation runs on other seeds (a choice made on the same seeds
    would flatter it), with both baselines and both controls of the chosen credit, on round two's task and budget."""
    from grpo.experiment.config import load_experiment
    from grpo.experiment.stats import shuffled_control, uniform_control

    r2, screen, r3 = (load_experiment(n) for n in ("testbed", "testbed-screen", "testbed-r3"))
    assert not set(screen.seeds) & set(r3.seeds) and len(r3.seeds) >= 5
    assert screen.out != r3.out != r2.out
    names = {a.name for a in r3.arms}
    assert {"grpo-aon", "gdpo"} <= names
    chosen = "rtt-centred-oracle-b1"
    assert shuffled_control(chosen, names) == "rtt-centred-shuffled-b1"
    assert uniform_control(chosen, names) == "rtt-centred-uniform-b1"
    assert {(a.token_credit, a.beta) for a in r3.arms if a.relevance != "none"} == {("centred", 1.0), ("blame", 1.0)}
    for cfg in (screen, r3):
        assert cfg.task == r2.task and cfg.steps == r2.steps and cfg.learning_rate == r2.learning_rate
        assert cfg.eval_samples == r2.eval_samples and cfg.report.final_window == 3
