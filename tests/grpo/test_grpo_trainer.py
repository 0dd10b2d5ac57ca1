"""RTTGRPOTrainer through the REAL TRL loop with a tiny policy and tiny discriminators (CPU, seconds)."""

from __future__ import annotations

import json

import pytest
import torch

from grpo.rewards import RUBRIC_COLUMN, RubricReward, rows_from_items, verdict_arrays
from rubrics.schema import Rubric, RubricItem, RuleVerifier


def _items(ifeval_path, n=2):
    from grpo.dataset import load_items

    return load_items([str(ifeval_path)], format="ifeval", limit=n)


def _impossible_items(n=2):
    """Rubrics no 16-token completion can satisfy: AON is 0 for every response."""
    rub = Rubric(
        id="r0",
        text="The response must contain at least 300 words.",
        verifier=RuleVerifier(
            family="ifeval",
            rule_id="length_constraints:number_words",
            kwargs={"relation": "at least", "num_words": 300},
        ),
    )
    return [RubricItem(id=f"hard{i}", prompt=f"Write an essay number {i}.", rubrics=[rub]) for i in range(n)]


def _args(tmp_path, **kw):
    from grpo.rtt_grpo_config import RTTGRPOConfig

    base = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=16,
        max_steps=2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        seed=0,
        learning_rate=1e-2,
        loss_type="grpo",
        temperature=1.0,
    )
    base.update(kw)
    return RTTGRPOConfig(**base)


def _train(policy_dir, items, args, scorer=None, spy=None, eval_items=None):
    from datasets import Dataset

    from grpo.rtt_grpo_trainer import RTTGRPOTrainer

    eval_ds = Dataset.from_list(rows_from_items(eval_items)) if eval_items else None
    trainer = RTTGRPOTrainer(
        str(policy_dir),
        args=args,
        train_dataset=Dataset.from_list(rows_from_items(items)),
        eval_dataset=eval_ds,
        scorer=scorer,
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    if spy is not None:
        orig = trainer._compute_loss

        def recording(model, inputs):
            spy.append({k: inputs[k].detach().clone() for k in ("advantages", "completion_ids", "completion_mask")})
            return orig(model, inputs)

        trainer._compute_loss = recording
    trainer.train()
    return trainer, before


def _changed(trainer, before) -> float:
    return max(float((p.detach() - before[n]).abs().max()) for n, p in trainer.model.named_parameters())


@pytest.fixture(scope="module")
def fast_scorer(tiny_decoder_disc_dir):
    """Discriminator sharing the tiny policy's vocabulary (the ids fast path)."""
    from discriminator.scoring import RelevanceScorer

    return RelevanceScorer.from_pretrained(tiny_decoder_disc_dir, device="cpu", token_budget=4096)


def test_loss_consumes_token_advantages(tiny_policy_dir, tiny_decoder_disc_dir, fast_scorer, ifeval_path, tmp_path):
    items = _items(ifeval_path)
    rtt_spy, grpo_spy = [], []
    rtt, before = _train(
        tiny_policy_dir,
        items,
        _args(tmp_path / "rtt", rtt_beta=0.5, discriminator_path=str(tiny_decoder_disc_dir)),
        fast_scorer,
        rtt_spy,
    )
    grpo, before0 = _train(tiny_policy_dir, items, _args(tmp_path / "grpo", rtt_beta=0.0), fast_scorer, grpo_spy)
    assert len(rtt_spy) == len(grpo_spy) == 2
    # the same first rollouts in both runs (same seed; the second step samples from different policies) ...
    assert torch.equal(rtt_spy[0]["completion_ids"], grpo_spy[0]["completion_ids"])
    for a, b in zip(rtt_spy, grpo_spy):
        # ... but RTT hands TRL's loss a (B, T) advantage that varies along the tokens of a response
        assert a["advantages"].shape == a["completion_ids"].shape
        m = a["completion_mask"].bool()
        spread = [float(row[mk].max() - row[mk].min()) for row, mk in zip(a["advantages"], m) if mk.sum() > 1]
        assert max(spread) > 1e-3
        # beta = 0 is plain GRPO: one value per response on its tokens
        adv0 = b["advantages"]
        assert all(
            float(row[mk].max() - row[mk].min()) < 1e-7 for row, mk in zip(adv0.expand_as(m).float(), m) if mk.any()
        )
    # the loss took the token term: same data and seed, different updated weights
    w_rtt = dict(rtt.model.named_parameters())
    diff = max(float((p.detach() - w_rtt[n].detach()).abs().max()) for n, p in grpo.model.named_parameters())
    assert diff > 1e-6
    # the advantages in the loss are the ones the trainer computed (rows reshuffled by TRL)
    last = rtt.last_rtt["adv"]
    got = rtt_spy[-1]["advantages"]
    assert sorted(map(tuple, got.round(decimals=5).tolist())) == sorted(map(tuple, last.round(decimals=5).tolist()))
    logs = [h for h in rtt.state.log_history if "rtt/tok_adv/std" in h]
    assert logs and logs[0]["rtt/tok_adv/std"] > 0 and logs[0]["rtt/judge/method/rule"] == 1.0
    assert any(k.startswith("rtt/pass_rate/ifeval:") for k in logs[0])
    assert "rewards/rtt_aon/mean" in logs[0]  # TRL's own reward logging keeps working


def test_all_fail_updates_policy_only_under_rtt(tiny_policy_dir, tiny_decoder_disc_dir, fast_scorer, tmp_path):
    items = _impossible_items()
    rtt, before = _train(
        tiny_policy_dir,
        items,
        _args(tmp_path / "rtt", max_steps=1, rtt_beta=0.5, discriminator_path=str(tiny_decoder_disc_dir)),
        fast_scorer,
    )
    grpo, before0 = _train(tiny_policy_dir, items, _args(tmp_path / "grpo", max_steps=1, rtt_beta=0.0), fast_scorer)
    assert torch.all(rtt.last_rtt["rewards"] == 0)
    assert _changed(rtt, before) > 1e-6
    assert _changed(grpo, before0) == 0.0  # all advantages 0: no gradient, Adam leaves the weights alone
    log = next(h for h in rtt.state.log_history if "rtt/groups/frac_zero_std" in h)
    assert log["rtt/groups/frac_zero_std"] == 1.0
    assert log["rtt/groups/frac_zero_std_with_token_signal"] == 1.0


def test_projection_path_inter_norm_and_heatmap(tiny_policy_dir, tiny_bert_dir, ifeval_path, tmp_path):
    """A discriminator with another vocabulary (BERT WordPiece): character projection; inter normalisation;
    HTML heatmap with rubrics and verdicts; TRL's evaluation loop goes through the same path."""
    items = _items(ifeval_path)
    args = _args(
        tmp_path,
        max_steps=1,
        rtt_token_norm="inter",
        rtt_combine="mix",
        rtt_beta=0.3,
        discriminator_path=str(tiny_bert_dir),
        heatmap_every=1,
        heatmap_count=2,
        relevance_reduce="mean",
        eval_strategy="steps",
        eval_steps=1,
        per_device_eval_batch_size=4,
        num_generations_eval=4,
    )
    trainer, _ = _train(tiny_policy_dir, items, args, eval_items=items[:1])
    assert any(h.get("eval_rtt/tok_adv/std", 0) > 0 for h in trainer.state.log_history)
    # last_rtt below is from the eval pass (after step 1): 4 responses of one prompt
    rel = trainer.last_rtt["relevance"]
    mask = trainer.last_rtt["mask"]
    assert rel.shape[0] == 4 and rel.shape[2] == mask.shape[1]
    assert float(rel.amax()) > 0 and float(rel.amin()) >= 0
    pages = sorted((tmp_path / "heatmaps").glob("*.html"))
    assert pages
    html = pages[0].read_text()
    assert any(it.rubrics[0].text in html for it in items) and html.count("class='resp'") == 2
    assert ("✓" in html) or ("✗" in html)
    # inter + mix: adv = (1 - b) A_resp + b A_tok, recomputed independently
    from grpo.advantages import rtt_advantages

    v = trainer.last_rtt["verdicts"]
    s, use, _ = v.arrays.tensors()
    gid = torch.zeros(4, dtype=torch.long)
    ref = rtt_advantages(
        s,
        rel,
        mask,
        gid,
        rubric_mask=use,
        rewards=trainer.last_rtt["rewards"],
        beta=0.3,
        token_norm="inter",
        combine="mix",
    )
    torch.testing.assert_close(trainer.last_rtt["adv"], ref.adv, atol=1e-5, rtol=1e-5)


def test_rubric_reward_in_plain_trl_grpo(tiny_policy_dir, ifeval_path, tmp_path):
    """The RubricReward is an ordinary TRL reward function (async, csr)."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    items = _items(ifeval_path)
    reward = RubricReward("csr")
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=8,
        max_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        logging_steps=1,
    )
    tr = GRPOTrainer(
        str(tiny_policy_dir), reward_funcs=reward, args=args, train_dataset=Dataset.from_list(rows_from_items(items))
    )
    tr.train()
    assert reward.last is not None and len(reward.last.texts) == 8
    assert "rewards/rtt_csr/mean" in tr.state.log_history[0]


def test_verdict_arrays_pitfall_and_undecided():
    """Pitfalls flip the verdict sign; undecided counts as failed ('fail') or is left out ('skip')."""
    import numpy as np

    from rubrics.verdicts import compute_verdicts

    rules = [
        Rubric(id="a", text="no commas", verifier=RuleVerifier(family="ifeval", rule_id="punctuation:no_comma")),
        Rubric(
            id="b",
            text="uses commas (pitfall)",
            weight=-1.0,
            verifier=RuleVerifier(family="ifeval", rule_id="punctuation:no_comma"),
        ),
        Rubric(id="c", text="is polite"),  # LLM rubric, no judge -> undecided
    ]
    item = RubricItem(id="x", prompt="Say hi.", rubrics=rules)
    batch = compute_verdicts([(item, "hi there"), (item, "hi, there")])
    fail = verdict_arrays(batch, [item, item], undecided="fail")
    assert fail.s.tolist() == [[1, -1, -1], [-1, 1, -1]]
    assert fail.use.all() and not fail.decided[:, 2].any()
    skip = verdict_arrays(batch, [item, item], undecided="skip")
    assert skip.s.tolist() == [[1, -1, 0], [-1, 1, 0]] and not skip.use[:, 2].any()
    assert np.array_equal(fail.families[0][:1], ["ifeval:punctuation"]) and fail.families[0][2] == "llm"


def test_config_validation_names_the_field(tmp_path):
    from grpo.rtt_grpo_config import RTTGRPOConfig

    with pytest.raises(ValueError, match="rtt_token_norm"):
        RTTGRPOConfig(output_dir=str(tmp_path), rtt_token_norm="bogus", use_cpu=True, bf16=False)
    with pytest.raises(ValueError, match="discriminator_path"):
        from grpo.rtt_grpo_trainer import RTTGRPOTrainer

        RTTGRPOTrainer(
            "unused", args=RTTGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False), train_dataset=None
        )


def test_the_old_response_advantage_name_design_is_refused_naming_the_new_one(tmp_path):
    """'design' (named after a design document) is now 'grpo': every place that takes the option says so."""
    import torch

    from grpo.advantages import rtt_advantages
    from grpo.experiment.config import ArmSpec, ExperimentConfigError, load_experiment
    from grpo.rtt_grpo_config import RTTGRPOConfig
    from grpo.train_config import ConfigError, load_config

    with pytest.raises(
        ValueError, match=r"rtt_response_advantage='design' is now called 'grpo'.*rtt_response_advantage='grpo'"
    ):
        RTTGRPOConfig(output_dir=str(tmp_path), rtt_response_advantage="design", use_cpu=True, bf16=False)
    assert RTTGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False).rtt_response_advantage == "grpo"
    with pytest.raises(ConfigError, match=r"rtt\.response_advantage: .*'design' is now called 'grpo'"):
        load_config("cpu-smoke", ["rtt.response_advantage=design"])
    assert load_config("cpu-smoke").rtt.response_advantage == "grpo"
    with pytest.raises(ValueError, match="'design' is now called 'grpo'.*response_advantage: grpo"):
        ArmSpec(name="a", response_advantage="design")
    with pytest.raises(ExperimentConfigError, match=r"response_advantage: .*'design' is now called 'grpo'"):
        load_experiment("cpu", ["arms=[{name: a, response_advantage: design}]"])
    v = torch.tensor([[1.0], [-1.0]])
    with pytest.raises(ValueError, match="response_advantage 'design' is now called 'grpo'"):
        rtt_advantages(
            v, torch.ones(2, 1, 3), torch.ones(2, 3), torch.zeros(2, dtype=torch.long), response_advantage="design"
        )


def test_presets_and_overrides(tmp_path):
    from grpo.train_config import PRESETS, ConfigError, load_config

    for name in PRESETS:
        cfg = load_config(name)
        args = cfg.grpo_args(bf16=False, use_cpu=True)  # bf16 presets need a GPU to validate bf16
        assert args.rtt_alpha == 1.0 and args.beta == 0.0 and args.loss_type == "grpo"
    paper = load_config("paper").grpo_args(bf16=False, use_cpu=True)
    assert (paper.rtt_beta, paper.epsilon, paper.epsilon_high, paper.num_generations) == (0.5, 0.2, 0.27, 8)
    assert (paper.learning_rate, paper.max_completion_length) == (1e-6, 4096)
    # the public recipe: sampling 0.99 / 0.99 / 100, 20 warm-up RL steps then linear decay, no IS correction
    assert (paper.temperature, paper.top_p, paper.top_k) == (0.99, 0.99, 100)
    assert (
        getattr(paper.lr_scheduler_type, "value", paper.lr_scheduler_type) == "linear"
        and paper.warmup_steps == 40
        and paper.max_steps == 1000
    )
    assert paper.vllm_importance_sampling_correction is False and paper.num_iterations == 1
    assert paper.rtt_token_norm == "intra" and paper.rtt_combine == "add" and paper.rtt_reward == "aon"
    assert load_config("single-gpu").model.lora is not None
    cfg = load_config("cpu-smoke", ["rtt.beta=0", "grpo.max_steps=3", "data.limit=2"])
    assert cfg.rtt.beta == 0 and cfg.grpo["max_steps"] == 3 and cfg.data.limit == 2
    with pytest.raises(ConfigError, match=r"rtt\.token_norm"):
        load_config("cpu-smoke", ["rtt.token_norm=sideways"])
    with pytest.raises(ConfigError, match=r"grpo\.not_a_field"):
        load_config("cpu-smoke", ["grpo.not_a_field=1"]).grpo_args()
    with pytest.raises(ConfigError, match="rtt.discriminator is required"):
        load_config("cpu-smoke", ["rtt.discriminator=null"])
    with pytest.raises(ConfigError, match="preset"):
        load_config("no-such-preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(str(bad))


def test_cli_train_policy_writes_model_and_summary(tiny_policy_dir, tiny_decoder_disc_dir, ifeval_path, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    cfg = tmp_path / "run.yaml"
    out = tmp_path / "out"
    cfg.write_text(
        json.dumps(
            {
                "name": "tiny",
                "model": {"name_or_path": str(tiny_policy_dir)},
                "data": {"train": str(ifeval_path), "format": "ifeval", "limit": 2},
                "rtt": {"beta": 0.5, "discriminator": str(tiny_decoder_disc_dir), "heatmap_every": 1},
                "grpo": {
                    "output_dir": str(out),
                    "use_cpu": True,
                    "bf16": False,
                    "gradient_checkpointing": False,
                    "max_steps": 1,
                    "per_device_train_batch_size": 8,
                    "num_generations": 4,
                    "max_completion_length": 8,
                    "save_strategy": "no",
                    "logging_steps": 1,
                },
            }
        )
    )
    res = CliRunner().invoke(app, ["train", "policy", "--config", str(cfg), "--set", "rtt.alpha=0.5"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["train_items"] == 2
    assert (out / "final" / "config.json").is_file() and summary["heatmaps"]
    res = CliRunner().invoke(app, ["train", "policy", "--config", str(cfg), "--set", "grpo.bogus=1"])
    assert res.exit_code == 1 and "grpo.bogus" in res.output
    assert RUBRIC_COLUMN == "rubric_item"


@pytest.mark.slow
@pytest.mark.parametrize("norm,credit,response_adv", [("inter", "paper", "grpo"), ("intra", "centred", "gdpo")])
def test_two_processes_match_one(
    norm, credit, response_adv, tiny_policy_dir, tiny_decoder_disc_dir, ifeval_path, tmp_path
):
    """torchrun, 2 CPU processes (gloo), one prompt group split across them (2 + 2 completions), rewards that vary
    inside the group, alpha 0.7, weighted reward, and a token term that needs the other process's data (the
    inter-sample normalisation; the group-centred credit with GDPO's batch-wide response advantage): each rank
    holds its own slice of the global response advantage, and what the two ranks compute equals the
    single-process computation on the whole group (and differs from either rank alone)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from grpo.advantages import rtt_advantages

    worker = Path(__file__).resolve().parents[1] / "helpers" / "grpo_ddp_worker.py"  # run by path
    port = 29500 + os.getpid() % 1000
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        str(worker),
        str(tmp_path),
        str(tiny_policy_dir),
        str(tiny_decoder_disc_dir),
        str(ifeval_path),
        norm,
        "2",
        credit,
        response_adv,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [d["nproc"] for d in ranks] == [2, 2] and [d["rank"] for d in ranks] == [0, 1]
    t = max(d["mask"].shape[1] for d in ranks)

    def cat(key):  # concatenate the ranks' (B, T) tensors, padded to the longer T
        return torch.cat([torch.nn.functional.pad(d[key].float(), [0, t - d[key].shape[-1]]) for d in ranks])

    s = torch.cat([d["s"] for d in ranks])
    use = torch.cat([d["use"] for d in ranks])
    weights = torch.cat([d["weights"] for d in ranks])
    r = s.shape[1]  # under inter + several processes the trainer pads rubrics to max_rubrics (20)
    rel = torch.cat([torch.nn.functional.pad(d["relevance"][:, :r], [0, t - d["relevance"].shape[-1]]) for d in ranks])
    mask, adv = cat("mask").bool(), cat("adv")
    kw = dict(
        rubric_mask=use,
        rubric_weights=weights,
        reward="weighted",
        token_norm=norm,
        alpha=0.7,
        beta=0.5,
        token_credit=credit,
        centred_scale="std",
        response_advantage=response_adv,
    )
    # the reference recomputes the rewards from the verdicts of both ranks: nothing taken from the trainer
    ref = rtt_advantages(s, rel, mask, torch.zeros(4, dtype=torch.long), **kw)
    # premise: the two ranks' halves of the group have different response advantages, so a wrong slice shows
    assert not torch.allclose(ref.resp_adv[:2], ref.resp_adv[2:], atol=1e-3), ref.reward
    for rank, d in enumerate(ranks):  # each rank holds ITS slice [rank*B, (rank+1)*B) of the global advantage
        sl = slice(2 * rank, 2 * rank + 2)
        torch.testing.assert_close(d["resp_adv"].float(), ref.resp_adv[sl].float(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(d["rewards"].float(), ref.reward[sl].float(), atol=1e-6, rtol=0)
    rewards = torch.cat([d["rewards"] for d in ranks])
    torch.testing.assert_close(ranks[0]["global_rewards"], rewards)
    torch.testing.assert_close(ranks[1]["global_rewards"], rewards)
    torch.testing.assert_close(adv * mask, ref.adv.float() * mask, atol=1e-5, rtol=1e-5)
    alone = rtt_advantages(
        s[:2],
        rel[:2],
        mask[:2],
        torch.zeros(2, dtype=torch.long),
        **{**kw, "rubric_mask": use[:2], "rubric_weights": weights[:2]},
    )
    assert not torch.allclose(alone.tok_adv * mask[:2], ref.tok_adv[:2] * mask[:2], atol=1e-4)


def test_healthbench_reward_through_the_trainer(tiny_policy_dir, tmp_path):
    """rtt_reward='healthbench': a pitfall never met (no 16-token completion has 300 words) adds nothing, the
    impossible requirement scores 0 of its 2 points -> 0; 'weighted' gives the same verdicts 3/5."""
    words = RuleVerifier(
        family="ifeval", rule_id="length_constraints:number_words", kwargs={"relation": "at least", "num_words": 300}
    )
    rubrics = [
        Rubric(id="need", text="At least 300 words.", weight=2.0, verifier=words),
        Rubric(id="pit", text="Writes at least 300 words.", weight=-3.0, verifier=words),
    ]
    items = [RubricItem(id=f"hb{i}", prompt=f"Write essay {i}.", rubrics=rubrics) for i in range(2)]
    hb, _ = _train(tiny_policy_dir, items, _args(tmp_path / "hb", max_steps=1, rtt_beta=0.0, rtt_reward="healthbench"))
    assert torch.all(hb.last_rtt["rewards"] == 0)
    w, _ = _train(tiny_policy_dir, items, _args(tmp_path / "w", max_steps=1, rtt_beta=0.0, rtt_reward="weighted"))
    assert torch.allclose(w.last_rtt["rewards"], torch.full_like(w.last_rtt["rewards"], 0.6))


# ----------------------------------------------------------------------------- trainer == reference, rewards varying


def _reference(trainer, **kw):
    """rtt_advantages recomputed from the trainer's verdicts and relevance only (rewards recomputed too)."""
    from grpo.advantages import rtt_advantages

    last = trainer.last_rtt
    s, use, weights = last["verdicts"].arrays.tensors()
    b = s.shape[0]
    gid = torch.arange(b) // trainer.num_generations
    rel = last["relevance"]
    if rel is None:
        rel = torch.zeros(b, s.shape[1], last["mask"].shape[1])
    return rtt_advantages(s, rel[:, : s.shape[1]], last["mask"], gid, rubric_mask=use, rubric_weights=weights, **kw)


@pytest.mark.parametrize("norm", ["intra", "inter"])
def test_trainer_advantages_equal_reference_with_varying_rewards(
    norm, tiny_policy_dir, tiny_decoder_disc_dir, fast_scorer, tmp_path
):
    """Non-default alpha, the weighted reward (a negative weight: abs() matters), both norms, rewards that vary
    inside each group: the (B, T) advantages the trainer hands TRL's loss are exactly rtt_advantages'."""
    from tests.helpers.grpo_items import varying_items

    spy = []
    args = _args(
        tmp_path,
        max_steps=1,
        rtt_alpha=0.7,
        rtt_beta=0.5,
        rtt_reward="weighted",
        rtt_token_norm=norm,
        discriminator_path=str(tiny_decoder_disc_dir),
    )
    tr, _ = _train(tiny_policy_dir, varying_items(), args, fast_scorer, spy)
    last = tr.last_rtt
    ref = _reference(tr, reward="weighted", alpha=0.7, beta=0.5, token_norm=norm)
    # the premise: rewards vary inside every group, so the response advantage is not 0
    for g in range(2):
        assert float(ref.reward[4 * g : 4 * g + 4].std()) > 0.05, ref.reward
    assert float(ref.resp_adv.abs().min()) > 0.1
    assert bool((last["verdicts"].arrays.weights < 0).any())
    torch.testing.assert_close(last["rewards"], ref.reward.float(), atol=1e-6, rtol=0)
    torch.testing.assert_close(last["resp_adv"], ref.resp_adv.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last["tok_adv"], ref.tok_adv.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last["adv"], ref.adv.float(), atol=1e-5, rtol=1e-5)
    # ... and those are what TRL's loss consumed (rows reshuffled by TRL)
    got = spy[-1]["advantages"]
    assert sorted(map(tuple, got.round(decimals=4).tolist())) == sorted(
        map(tuple, ref.adv.float().round(decimals=4).tolist())
    )


@pytest.mark.parametrize("response_advantage", ["trl", "grpo"])
def test_beta_zero_trl_mode_is_bit_for_bit_trl_grpo(response_advantage, tiny_policy_dir, tmp_path):
    """rtt_beta = 0 with rtt_response_advantage='trl' hands the loss exactly TRL GRPO's advantages and ends with
    exactly TRL GRPO's weights (same data, seed, reward function). The 'grpo' mode's eps (1e-6 vs TRL's 1e-4) does
    not."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from tests.helpers.grpo_items import varying_items

    items = varying_items()
    common = dict(
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=16,
        max_steps=2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        save_strategy="no",
        seed=0,
        learning_rate=1e-2,
        loss_type="grpo",
        temperature=1.0,
    )
    trl_spy, rtt_spy = [], []

    def spying(trainer, spy):
        orig = trainer._compute_loss

        def recording(model, inputs):
            spy.append(inputs["advantages"].detach().clone())
            return orig(model, inputs)

        trainer._compute_loss = recording
        return trainer

    ds = Dataset.from_list(rows_from_items(items))
    plain = spying(
        GRPOTrainer(
            str(tiny_policy_dir),
            reward_funcs=RubricReward("weighted"),
            args=GRPOConfig(output_dir=str(tmp_path / "trl"), **common),
            train_dataset=ds,
        ),
        trl_spy,
    )
    plain.train()
    rtt, _ = _train(
        tiny_policy_dir,
        items,
        _args(tmp_path / "rtt", rtt_beta=0.0, rtt_reward="weighted", rtt_response_advantage=response_advantage),
        spy=rtt_spy,
    )
    assert len(trl_spy) == len(rtt_spy) == 2
    assert float(trl_spy[0].abs().max()) > 0.1  # rewards vary: a real advantage, not all zeros
    rtt_adv = [x["advantages"] for x in rtt_spy]
    same_adv = all(torch.equal(a, b.unsqueeze(1).expand_as(a)) for a, b in zip(rtt_adv, trl_spy))
    w_trl = dict(plain.model.named_parameters())
    same_w = all(torch.equal(p.detach(), w_trl[n].detach()) for n, p in rtt.model.named_parameters())
    if response_advantage == "trl":
        assert same_adv and same_w
    else:  # eps 1e-6 instead of 1e-4: close (~1e-4 relative) but not equal
        assert not same_adv and not same_w
        a, b = rtt_adv[0], trl_spy[0]  # the same first rollouts (later ones come from different weights)
        torch.testing.assert_close(a, b.unsqueeze(1).expand_as(a), atol=2e-3, rtol=2e-3)


# ----------------------------------------------------------------------------- token credits and relevance sources


@pytest.mark.parametrize(
    "credit,response_adv",
    [("centred", "grpo"), ("blame", "grpo"), ("group_softmax", "grpo"), ("weights", "grpo"), ("paper", "gdpo")],
)
def test_trainer_token_credit_equals_reference(
    credit, response_adv, tiny_policy_dir, tiny_decoder_disc_dir, fast_scorer, tmp_path
):
    """Each token credit (and the GDPO response advantage) through the real TRL loop: the (B, T) advantages the
    trainer hands the loss are exactly rtt_advantages' on the trainer's own verdicts and relevance."""
    from tests.helpers.grpo_items import varying_items

    spy = []
    args = _args(
        tmp_path,
        max_steps=1,
        rtt_beta=0.5,
        rtt_reward="weighted",
        rtt_token_credit=credit,
        rtt_response_advantage=response_adv,
        discriminator_path=str(tiny_decoder_disc_dir),
    )
    tr, _ = _train(tiny_policy_dir, varying_items(), args, fast_scorer, spy)
    last = tr.last_rtt
    ref = _reference(tr, reward="weighted", beta=0.5, token_credit=credit, response_advantage=response_adv)
    assert float(ref.resp_adv.abs().max()) > 0.1  # premise: a signal to spread
    assert float(ref.tok_adv.abs().max()) > 0.0
    torch.testing.assert_close(last["resp_adv"], ref.resp_adv.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last["tok_adv"], ref.tok_adv.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last["adv"], ref.adv.float(), atol=1e-5, rtol=1e-5)
    got = spy[-1]["advantages"]
    assert sorted(map(tuple, got.round(decimals=4).tolist())) == sorted(
        map(tuple, ref.adv.float().round(decimals=4).tolist())
    )


@pytest.mark.parametrize("source", ["rules", "rules+discriminator"])
def test_rule_span_relevance_in_the_trainer(source, tiny_policy_dir, tiny_decoder_disc_dir, fast_scorer, tmp_path):
    """rtt_relevance: the rubrics whose rule has exact spans get exactly the checker's deciding characters
    projected onto the policy tokens (commas of a failed no-comma rubric, capitals of a failed lowercase one,
    nothing when passed); the letter-frequency rubric has none: 0 under 'rules' (no discriminator is even
    loaded), the discriminator's scores under 'rules+discriminator'. The source of every pair is logged and
    shown in the heatmap."""
    from discriminator.rule_spans import chars_onto_policy_tokens, rule_chars
    from tests.helpers.grpo_items import varying_items

    disc = {} if source == "rules" else {"discriminator_path": str(tiny_decoder_disc_dir)}
    args = _args(
        tmp_path,
        max_steps=1,
        rtt_beta=0.5,
        rtt_token_credit="centred",
        rtt_relevance=source,
        heatmap_every=1,
        heatmap_count=8,
        **disc,
    )
    tr, _ = _train(tiny_policy_dir, varying_items(), args, None if source == "rules" else fast_scorer)
    assert (tr.scorer is None) == (source == "rules")
    last = tr.last_rtt
    v, rel, ids, mask = last["verdicts"], last["relevance"], last["completion_ids"].cpu(), last["mask"]
    marked = 0
    for i, item in enumerate(v.items):
        n = int(mask[i].sum())
        if n == 0:
            continue
        for k in (0, 1):  # no_comma, lowercase: exact spans
            held = bool(v.arrays.s[i, k] > 0)
            want = chars_onto_policy_tokens(
                rule_chars(item.rubrics[k], v.texts[i], held), tr._tokenizer, ids[i, :n].tolist(), v.texts[i]
            )
            torch.testing.assert_close(rel[i, k, :n], want)
            assert last["relevance_sources"][(i, k)] == "rules"
            if held:
                assert float(rel[i, k].sum()) == 0.0  # a passed absence rule credits no token
            marked += int(want.sum() > 0)
        if source == "rules":
            assert float(rel[i, 2].abs().sum()) == 0.0 and last["relevance_sources"][(i, 2)] == "none"
        else:
            want = fast_scorer.score_for_policy(
                [item.rubrics[2].text],
                [v.texts[i]],
                policy_tokenizer=tr._tokenizer,
                response_token_ids=[ids[i, :n].tolist()],
            )[0]
            torch.testing.assert_close(rel[i, 2, :n], want.float()[:n], atol=1e-5, rtol=1e-5)
            assert last["relevance_sources"][(i, 2)] == "discriminator"
    assert marked > 0  # premise: some failed rubric had deciding characters (the random policy writes capitals)
    logged = [h for h in tr.state.log_history if "rtt/relevance/from_rules" in h]
    assert logged and logged[0]["rtt/relevance/from_rules"] == pytest.approx(2 / 3, abs=0.2)
    html = next((tmp_path / "heatmaps").glob("*.html")).read_text(encoding="utf-8")
    assert "from rules" in html and (("from discriminator" in html) == (source != "rules"))
