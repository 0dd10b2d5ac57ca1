"""The discriminator is loaded replicated, eval, no grad while a DeepSpeed ZeRO-3 config is active (CPU).

An active ZeRO-3 config is what ``accelerate launch --config_file grpo/configs/accelerate/deepspeed_zero3.yaml``
leaves behind once the TrainingArguments exist: transformers' weak reference to an ``HfDeepSpeedConfig`` with
stage 3. Here the real config object (accelerate's ``HfDeepSpeedConfig``) is registered the same way, and a
stand-in ``deepspeed`` module records every ``deepspeed.zero.Init`` a load enters (DeepSpeed itself needs a GPU
build); the real multi-GPU step is not run here."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
import torch


class ShardedLoad(RuntimeError):
    pass


@pytest.fixture
def active_zero3(monkeypatch):
    """An active ZeRO-3 config + a ``deepspeed`` whose ``zero.Init`` records its config and refuses to run."""
    from accelerate.utils.deepspeed import HfDeepSpeedConfig
    from transformers.integrations import deepspeed as hf_ds

    import discriminator.scoring  # noqa: F401
    import grpo.rtt_grpo_trainer  # noqa: F401  (TRL probes for deepspeed at import: import before the stand-in)

    entered: list = []

    class Init:
        def __init__(self, config_dict_or_path=None, **kw):
            entered.append(config_dict_or_path)
            raise ShardedLoad("deepspeed.zero.Init entered: this load would be partitioned")

    fake = types.ModuleType("deepspeed")
    fake.__spec__ = importlib.machinery.ModuleSpec("deepspeed", None)  # probes see no installed distribution
    fake.zero = types.SimpleNamespace(Init=Init, GatheredParameters=None)
    monkeypatch.setitem(sys.modules, "deepspeed", fake)
    cfg = HfDeepSpeedConfig({"zero_optimization": {"stage": 3}, "train_micro_batch_size_per_gpu": 1})
    saved = hf_ds._hf_deepspeed_config_weak_ref
    hf_ds.set_hf_deepspeed_config(cfg)
    assert hf_ds.is_deepspeed_zero3_enabled()
    yield types.SimpleNamespace(entered=entered, config=cfg)
    hf_ds._hf_deepspeed_config_weak_ref = saved


def _full_copy(model, folder) -> None:
    from safetensors.torch import load_file

    on_disk = load_file(str(folder / "model.safetensors"))
    params = dict(model.named_parameters())
    for name, t in on_disk.items():
        if name in params:
            assert params[name].shape == t.shape and params[name].numel() == t.numel() > 0, name
            assert torch.equal(params[name].detach(), t.to(params[name].dtype)), name
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_plain_load_would_be_sharded(active_zero3, tiny_decoder_disc_dir):
    """The control: without the guard the discriminator load enters deepspeed.zero.Init (the audit's failure)."""
    from discriminator.scoring import RelevanceScorer

    with pytest.raises(ShardedLoad):
        RelevanceScorer.from_pretrained(tiny_decoder_disc_dir, device="cpu")
    assert active_zero3.entered and active_zero3.entered[0]["zero_optimization"]["stage"] == 3


@pytest.mark.parametrize("which", ["tiny_decoder_disc_dir", "tiny_bert_dir"])
def test_frozen_load_is_replicated_eval_no_grad(tiny_decoder_disc_dir, tiny_bert_dir, active_zero3, which, request):
    from transformers.integrations import is_deepspeed_zero3_enabled

    from grpo.frozen import load_frozen_scorer

    folder = request.getfixturevalue(which)
    scorer = load_frozen_scorer(str(folder), device="cpu", token_budget=4096)
    assert active_zero3.entered == []  # never entered zero.Init
    assert is_deepspeed_zero3_enabled()  # and the config is active again for whatever comes next
    _full_copy(scorer.model, folder)
    scores = scorer.score_tokens([("Do not use any commas.", "hello world, this is a test")])
    assert scores[0].numel() > 0 and torch.isfinite(scores[0]).all()


def test_freeze_refuses_a_partitioned_model():
    from grpo.frozen import freeze

    m = torch.nn.Linear(2, 2)
    m.weight.ds_id = 7  # what deepspeed.zero.Init leaves on a partitioned parameter
    with pytest.raises(RuntimeError, match="ZeRO-3 partitioned"):
        freeze(m, "disc")


def test_trainer_loads_its_discriminator_outside_zero3(
    active_zero3, monkeypatch, tiny_policy_dir, tiny_decoder_disc_dir, ifeval_path, tmp_path
):
    """The trainer's own load path, with ZeRO-3 active when it loads the discriminator (as under accelerate):
    a full, frozen copy, and the token term works on it."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from transformers.integrations import deepspeed as hf_ds

    from grpo.dataset import load_items
    from grpo.rewards import rows_from_items
    from grpo.rtt_grpo_config import RTTGRPOConfig
    from grpo.rtt_grpo_trainer import RTTGRPOTrainer

    saved = hf_ds._hf_deepspeed_config_weak_ref
    hf_ds._hf_deepspeed_config_weak_ref = None  # the policy itself: an ordinary model for this CPU test
    policy = AutoModelForCausalLM.from_pretrained(str(tiny_policy_dir))
    args = RTTGRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,
        save_strategy="no",
        rtt_beta=0.5,
        discriminator_path=str(tiny_decoder_disc_dir),
    )
    hf_ds._hf_deepspeed_config_weak_ref = saved  # ZeRO-3 active from here on, as once TrainingArguments exist
    from trl import GRPOTrainer

    orig = GRPOTrainer.__init__

    def init_then_check(self, *a, **kw):
        orig(self, *a, **kw)
        assert hf_ds.is_deepspeed_zero3_enabled()  # still active when the trainer loads the discriminator

    monkeypatch.setattr(GRPOTrainer, "__init__", init_then_check)
    items = load_items([str(ifeval_path)], format="ifeval", limit=1)
    tr = RTTGRPOTrainer(policy, args=args, train_dataset=Dataset.from_list(rows_from_items(items)))
    assert active_zero3.entered == []
    _full_copy(tr.scorer.model, tiny_decoder_disc_dir)
    assert tr.scorer.model.device == tr.accelerator.device
