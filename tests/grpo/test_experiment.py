"""The learning experiment's wiring (rtt experiment / flow experiment / bench_learning.py) with tiny models.

What is checked here is that the comparison is fair and the controls are what they claim: identical prompts,
order, seeds, starting weights and generation settings across arms; oracle relevance = the checker's spans;
the shuffled control keeps each response's relevance multiset; grpo-aon (beta 0) = the plain trainer.
Whether a policy *learns* is measured by the benchmark, never here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from grpo.experiment.config import ArmSpec, ExperimentConfig, ExperimentConfigError, load_experiment
from grpo.experiment.relevance import rule_chars, shuffle_relevance
from grpo.experiment.task import TaskConfig, build_task
from rubrics import rules
from rubrics.schema import Rubric, RuleVerifier


def _rubric(rule_id, **kw):
    return Rubric(id="r:x", text=rule_id, verifier=RuleVerifier(family="ifeval", rule_id=rule_id, kwargs=kw))


def _tiny_cfg(tmp_path, policy, disc, **kw):
    data = {
        "name": "tiny",
        "out": str(tmp_path / "exp"),
        "model": str(policy),
        "discriminator": str(disc),
        "task": {"train_prompts": 4, "heldout_prompts": 2},
        "seeds": [0],
        "steps": 2,
        "eval_every": 1,
        "prompts_per_step": 2,
        "num_generations": 2,
        "max_completion_length": 12,
        "learning_rate": 1e-2,
        "eval_batch_size": 4,
        "cort_token_budget": 2048,
    }
    data.update(kw)
    return ExperimentConfig.model_validate(data)


# ----------------------------------------------------------------------------------------------- task


def test_task_splits_rubrics_and_form_pins():
    train, held = build_task(TaskConfig())
    assert len(train) == 32 and len(held) == 16
    assert not {it.meta["topic"] for it in train} & {it.meta["topic"] for it in held}
    assert build_task(TaskConfig())[1] == held  # deterministic, independent of any run seed
    for it in train + held:
        assert 3 <= len(it.rubrics) <= 5
        assert all(rules.is_supported(r.verifier) for r in it.rubrics)
    it = next(i for i in train if i.meta["target"] == "no_comma")
    kw = it.meta["keyword"]
    good = (
        f"The {kw} were lovely today and everyone in town came to see them. "
        "We stayed until the evening light faded away."
    )
    assert all(rules.check(r.verifier, good) for r in it.rubrics), [
        r.id for r in it.rubrics if not rules.check(r.verifier, good)
    ]

    def fails(text):
        return {r.id.rsplit(":", 1)[1] for r in it.rubrics if not rules.check(r.verifier, text)}

    assert "words" in fails(f"The {kw} are nice.")  # gaming by shortening (learning-probe.md, CSR)
    assert {"sentences", "no_repeat"} <= fails(" ".join([kw] * 20))  # gaming by repetition (RTT in the probe)


# ----------------------------------------------------------------------------------------------- config


def test_config_errors_name_the_arm_and_key(tmp_path):
    with pytest.raises(ValueError, match="arm 'x': beta > 0 needs a relevance source"):
        ArmSpec(name="x", beta=0.5)
    with pytest.raises(ValueError, match="discriminator: required by arm"):
        ExperimentConfig(arms=[{"name": "r", "beta": 0.5, "relevance": "shuffled"}])
    with pytest.raises(ExperimentConfigError, match="steps"):
        load_experiment("cpu", ["steps=0"])
    bad = tmp_path / "e.yaml"
    bad.write_text("arms: [{name: a}, {name: a}]\n")
    with pytest.raises(ExperimentConfigError, match=r"e\.yaml.*duplicate arm"):
        load_experiment(str(bad))
    cfg = load_experiment("cpu", ["arms=[{name: b0}, {name: b1, beta: 1.0, relevance: oracle}]"])  # a beta sweep
    assert [a.beta for a in cfg.arms] == [0.0, 1.0]


# ----------------------------------------------------------------------------------------------- oracle


@pytest.mark.parametrize(
    "rubric,text,expected",
    [
        (_rubric("punctuation:no_comma"), "a, b, c", [",", ","]),
        (_rubric("change_case:english_lowercase"), "Hello World now", ["H", "W"]),
        (
            _rubric("keywords:forbidden_words", forbidden_words=["very", "is"]),
            "This is very nice, isn't it",
            ["is", "very"],
        ),
        (
            _rubric("keywords:frequency", keyword="sun", relation="less than", frequency=2),
            "sun and sun and Sun",
            ["sun", "Sun"],
        ),
    ],
)
def test_oracle_spans_are_what_fails_the_checker(rubric, text, expected):
    """The marked characters are exactly the violation: deleting them makes the checker pass, and they are
    the expected strings."""
    assert not rules.check(rubric.verifier, text)
    rel = rule_chars(rubric, text, passed=False)
    marked = [text[s:e] for s, e in _runs(rel)]
    assert marked == expected
    if rubric.verifier.rule_id == "change_case:english_lowercase":
        fixed = "".join(c.lower() if r else c for c, r in zip(text, rel))
    else:
        fixed = "".join(c for c, r in zip(text, rel) if not r)
    assert rules.check(rubric.verifier, fixed)


def test_oracle_spans_for_passing_rubrics():
    ex = _rubric("keywords:existence", keywords=["tide"])
    text = "The tide rolls in. Tides are slow."
    rel = rule_chars(ex, text, passed=True)
    assert [text[s:e] for s, e in _runs(rel)] == ["tide"]  # the first occurrence suffices; "Tides" is an extra
    assert rules.check(ex.verifier, "".join(c if r else " " for c, r in zip(text, rel)))  # the marks alone pass
    words = _rubric("length_constraints:number_words", relation="less than", num_words=4)
    t2 = "one two three four five"
    assert [t2[s:e] for s, e in _runs(rule_chars(words, t2, passed=False))] == ["four", "five"]
    # a rule without an explicit span rule: the programmatic minimal edit's characters (passing) / nothing (failing)
    title = _rubric("detectable_format:title")
    assert rule_chars(title, "<<My Poem>> roses are red", passed=True).sum() > 0
    assert rule_chars(title, "no title here", passed=False).sum() == 0


def _runs(rel):
    out, start = [], None
    for i, v in enumerate(list(rel) + [0]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i))
            start = None
    return out


# ----------------------------------------------------------------------------------------------- shuffle


def test_shuffle_keeps_each_rows_multiset_and_padding():
    g = torch.Generator().manual_seed(0)
    rel = torch.rand(3, 2, 7)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] + [0] * 6]).bool()
    rel[~mask.unsqueeze(1).expand_as(rel)] = 0
    out = shuffle_relevance(rel, mask, g)
    for b in range(3):
        n = int(mask[b].sum())
        for k in range(2):
            assert torch.equal(out[b, k, :n].sort().values, rel[b, k, :n].sort().values)
            assert torch.equal(out[b, k, n:], rel[b, k, n:])
    assert not torch.equal(out[0], rel[0])  # it did permute


# ----------------------------------------------------------------------------------------------- trainers


def _one_trainer(cfg, arm_name, seed=0, scorer=None, items=None):
    from grpo.dataset import build_prompt_dataset
    from grpo.experiment.runner import ArmTrainer, grpo_args

    arm = cfg.arm(arm_name)
    train = items or build_task(cfg.task)[0]
    return ArmTrainer(
        cfg.model,
        args=grpo_args(cfg, arm, seed, cfg.out + f"/{arm_name}"),
        train_dataset=build_prompt_dataset(train),
        arm=arm,
        scorer=scorer,
    )


def test_grpo_aon_with_beta_0_equals_the_plain_trainer(tiny_policy_dir, tiny_decoder_disc_dir, tmp_path):
    from grpo.dataset import build_prompt_dataset
    from grpo.experiment.runner import grpo_args
    from grpo.rtt_grpo_trainer import RTTGRPOTrainer
    from rubrics.schema import RubricItem

    cfg = _tiny_cfg(tmp_path, tiny_policy_dir, tiny_decoder_disc_dir, num_generations=4, steps=3)
    # a rule a random tiny policy meets sometimes, so AON varies inside groups and the update is not zero
    items = [
        RubricItem(
            id=f"c{i}",
            prompt=f"Write about topic {i} in at least 4 words.",
            rubrics=[_rubric("length_constraints:number_words", relation="at least", num_words=4)],
        )
        for i in range(4)
    ]
    arm_tr = _one_trainer(cfg, "grpo-aon", items=items)
    before = {n: p.detach().clone() for n, p in arm_tr.model.named_parameters()}
    arm_tr.train()
    args = grpo_args(cfg, cfg.arm("grpo-aon"), 0, tmp_path / "plain")
    assert args.rtt_beta == 0 and args.rtt_reward == "aon"
    plain = RTTGRPOTrainer(str(tiny_policy_dir), args=args, train_dataset=build_prompt_dataset(items))
    plain.train()
    a, b = dict(arm_tr.model.named_parameters()), dict(plain.model.named_parameters())
    assert a.keys() == b.keys()
    assert any(not torch.equal(a[n], before[n]) for n in a)  # it trained
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert torch.equal(arm_tr.last_rtt["adv"], plain.last_rtt["adv"])


def test_oracle_and_shuffled_relevance_inside_the_trainer(tiny_policy_dir, tiny_decoder_disc_dir, tmp_path):
    from discriminator.scoring import RelevanceScorer
    from grpo.experiment.relevance import chars_onto_policy_tokens
    from grpo.rtt_grpo_trainer import RTTGRPOTrainer

    # absence targets: random text fails them on characters that are there (capitals, commas) to be marked
    task = {"train_prompts": 4, "heldout_prompts": 2, "targets": ["lowercase", "no_comma"]}
    cfg = _tiny_cfg(tmp_path, tiny_policy_dir, tiny_decoder_disc_dir, steps=1, task=task)
    oracle = _one_trainer(cfg, "rtt-oracle")
    oracle.train()
    last = oracle.last_rtt
    v, rel, mask = last["verdicts"], last["relevance"], last["mask"]
    checked = 0
    # recompute from the checker's spans, row by row
    for i, item in enumerate(v.items):
        n = int(mask[i].sum())
        for k, r in enumerate(item.rubrics):
            ids = oracle._last_completion_ids[i, :n].tolist()
            want = chars_onto_policy_tokens(
                rule_chars(r, v.texts[i], bool(v.arrays.s[i, k] > 0), item.instruction),
                oracle._tokenizer,
                ids,
                v.texts[i],
            )
            assert torch.equal(rel[i, k, :n].cpu(), want[:n]), (i, k)
            checked += 1
    assert checked > 0 and rel.sum() > 0
    scorer = RelevanceScorer.from_pretrained(tiny_decoder_disc_dir, device="cpu", token_budget=2048)
    sh = _one_trainer(cfg, "rtt-shuffled", scorer=scorer)
    sh.train()
    ids, cmask = sh._last_completion_ids, sh.last_rtt["mask"]
    v = sh.last_rtt["verdicts"]
    plain = RTTGRPOTrainer.relevance(sh, v, ids, cmask)
    shuffled = sh.relevance(v, ids, cmask)
    for i in range(len(v.items)):
        n = int(cmask[i].sum())
        for k in range(plain.shape[1]):
            assert torch.equal(shuffled[i, k, :n].sort().values, plain[i, k, :n].sort().values)
    assert not torch.equal(shuffled, plain)


@pytest.mark.slow  # trains six tiny-policy arms through the CLI (~10 s on a busy 2-core box)
def test_experiment_arms_identical_inputs_report_and_resume(tiny_policy_dir, tiny_decoder_disc_dir, tmp_path):
    """Through the CLI: six arms, one seed; identical prompts/order, weights and generation settings; report
    files; a second invocation trains nothing."""
    import yaml
    from typer.testing import CliRunner

    from flows.cli import app

    cfg = _tiny_cfg(tmp_path, tiny_policy_dir, tiny_decoder_disc_dir)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    res = CliRunner().invoke(app, ["experiment", "--config", str(path)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "exp"
    results = {a.name: json.loads((out / "runs" / a.name / "seed0" / "result.json").read_text()) for a in cfg.arms}
    assert set(results) == {"grpo-aon", "grpo-csr", "rtt", "rtt-oracle", "rtt-shuffled", "rtt-cort"}
    ref = results["grpo-aon"]
    assert len(ref["seen"]) == 2 and ref["seen"][0]
    for name, r in results.items():
        assert r["seen"] == ref["seen"], name
        assert r["generation"] == ref["generation"], name
        assert r["init_checksum"] == ref["init_checksum"], name
        assert [e["step"] for e in r["evals"]] == [0, 1, 2]
        assert r["evals"][0]["responses"] == ref["evals"][0]["responses"]
        assert {"rubric_strict", "prompt_loose", "distinct2", "repetition", "kl_init", "ppl_init", "kinds"} <= set(
            r["evals"][-1]
        )
    assert results["rtt"]["train"][-1].get("rtt/tok_adv/std") is not None
    heldout_ids = [it.id for it in build_task(cfg.task)[1]]
    for ev in ref["evals"]:  # per held-out prompt, in item order: what the report's bootstrap resamples
        pp = ev["per_prompt"]
        assert pp["item_ids"] == heldout_ids and set(pp["prompt_strict"]) <= {0, 1}
        assert np.mean(pp["prompt_strict"]) == pytest.approx(ev["prompt_strict"])
        assert np.average(pp["rubric_strict"], weights=pp["rubrics"]) == pytest.approx(ev["rubric_strict"])
    report = json.loads((out / "report.json").read_text())
    assert report["summary"] and set(report["arms"]) == set(results)
    assert ("rtt", "rtt-shuffled") in {(c["arm"], c["against"]) for c in report["comparisons"]}
    assert all(c["paired"] == "seed x prompt" for c in report["comparisons"])
    assert (out / "curves.png").stat().st_size > 1000 and "Does it learn?" in (out / "report.md").read_text()
    stamp = (out / "runs" / "rtt" / "seed0" / "result.json").stat().st_mtime_ns
    res2 = CliRunner().invoke(app, ["experiment", "--config", str(path), "--arm", "rtt"])
    assert res2.exit_code == 0 and "skipped" in res2.output
    assert (out / "runs" / "rtt" / "seed0" / "result.json").stat().st_mtime_ns == stamp


def test_summary_line_says_no_difference_within_noise():
    from grpo.experiment.report import summary_line

    def arm(vals):
        return {
            "seeds": [0, 1, 2],
            "final": {"rubric_strict": (float(np.mean(vals)), float(np.std(vals, ddof=1)))},
            "final_by_seed": {s: {"rubric_strict": v} for s, v in enumerate(vals)},
            "collapse": {},
        }

    tie = summary_line({"a": arm([0.5, 0.6, 0.4]), "b": arm([0.55, 0.45, 0.5])})
    assert "no difference beyond seed noise" in tie
    lead = summary_line({"a": arm([0.7, 0.72, 0.69]), "b": arm([0.5, 0.52, 0.51])})
    assert "a leads by +0.193" in lead
    # unequal progress: compared on the seeds both arms finished, not on each arm's own seeds
    part = arm([0.9])
    part["seeds"], part["final_by_seed"] = [5], {5: {"rubric_strict": 0.9}}
    line = summary_line({"a": arm([0.7, 0.72, 0.69]), "c": part})
    assert "no seed has finished for every arm" in line
    part["seeds"], part["final_by_seed"] = [0], {0: {"rubric_strict": 0.6}}
    assert "on seed(s) [0]: a 0.700" in summary_line({"a": arm([0.7, 0.72, 0.69]), "c": part})


@pytest.mark.prefect
def test_experiment_flow_runs_arms_and_publishes_the_report(
    prefect_harness, tiny_policy_dir, tiny_decoder_disc_dir, tmp_path
):
    import yaml
    from prefect.artifacts import Artifact

    from flows.experiment import ExperimentParams, experiment
    from flows.registry import FLOWS, load_flow

    assert load_flow("experiment") is experiment and "experiment" in FLOWS
    cfg = _tiny_cfg(tmp_path, tiny_policy_dir, tiny_decoder_disc_dir, steps=1, seeds=[0, 1])
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    res = experiment(ExperimentParams(config=str(path), arms=["grpo-csr", "rtt-oracle"]))
    assert res["runs_done"] == {"grpo-csr": [0, 1], "rtt-oracle": [0, 1]}
    art = Artifact.get("experiment-tiny")
    assert art is not None and "Does it learn?" in art.data and res["summary"] in art.data


def test_demo_data_is_the_learning_task_and_the_verdict_line(tmp_path, monkeypatch):
    from pathlib import Path

    from flows.cli.demo import learning_verdict
    from flows.pipeline import PipelineParams
    from grpo.dataset import load_items

    monkeypatch.chdir(tmp_path)  # the demo's task files resolve against the repository from anywhere
    p = PipelineParams.from_yaml(Path(__file__).resolve().parents[2] / "configs" / "demo.yaml")
    assert Path(p.policy_config().data.train[0]).is_file() and Path(p.policy_eval.benchmark).is_file()

    root = Path(__file__).resolve().parents[2]
    train, held = build_task(TaskConfig())
    assert load_items(str(root / "data/demo/learning_train.jsonl")) == train
    assert load_items(str(root / "data/demo/learning_heldout.jsonl")) == held
    demo = root / "configs" / "demo.yaml"
    run = tmp_path / "demo"
    assert learning_verdict(demo, str(run)) is None  # nothing evaluated yet

    def rep(rs, ps):
        return json.dumps({"overall": {"rubric_strict": rs, "prompt_strict": ps, "prompts": 16}})

    (run / "policy-eval-base").mkdir(parents=True)
    (run / "policy-eval").mkdir()
    (run / "policy-eval-base" / "report.json").write_text(rep(0.5, 0.0))
    (run / "policy-eval" / "report.json").write_text(rep(0.6, 0.125))
    line = learning_verdict(demo, str(run))
    assert "beats the base policy" in line and "0.500 -> 0.600" in line and "seed 0" in line
    (run / "policy-eval" / "report.json").write_text(rep(0.5, 0.125))
    assert "does not beat" in learning_verdict(demo, str(run)) and "rtt experiment" in learning_verdict(demo, str(run))


def test_run_lock_lets_workers_share_an_output_folder(tmp_path):
    import os
    import subprocess
    import sys

    from rubrics.io import take_pid_lock

    lock = tmp_path / "seed0.lock"
    assert take_pid_lock(lock) and lock.read_text() == str(os.getpid())
    assert not take_pid_lock(lock)  # held by a live process (us)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(dead.stdout.strip())  # a crashed worker's lock
    assert take_pid_lock(lock) and lock.read_text() == str(os.getpid())


@pytest.mark.slow  # a worker subprocess trained, killed and resumed (~12 s on a busy 2-core box)
def test_a_run_killed_mid_way_resumes_from_its_checkpoint(tiny_policy_dir, tiny_decoder_disc_dir, tmp_path):
    """kill -9 of a real worker process after its first checkpoint: the rerun continues from the newest complete
    checkpoint (not from step 0), keeps the evaluations made before the kill and is fed the same prompts in the
    same order as an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    from grpo.experiment.runner import resumable_checkpoint, run_experiment

    def cfg_file(out):
        cfg = _tiny_cfg(
            tmp_path,
            tiny_policy_dir,
            tiny_decoder_disc_dir,
            steps=6,
            eval_every=2,
            checkpoint_every=1,
            out=str(out),
            arms=[{"name": "grpo-aon", "beta": 0.0}],
        )
        path = tmp_path / f"{Path(out).name}.yaml"
        path.write_text(yaml.safe_dump(cfg.model_dump()), encoding="utf-8")
        return path

    killed = cfg_file(tmp_path / "killed")
    code = (
        "import sys; from grpo.experiment.config import load_experiment; "
        "from grpo.experiment.runner import run_experiment; "
        "run_experiment(load_experiment(sys.argv[1]), log=lambda m: None)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(killed)],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    work = tmp_path / "killed" / "runs" / "grpo-aon" / "seed0.partial"
    deadline = time.time() + 300
    while resumable_checkpoint(work) is None:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert not (work.parent / "seed0" / "result.json").exists()  # premise: killed before the end
    ckpt, progress = resumable_checkpoint(work)
    from grpo.experiment.config import load_experiment

    res = run_experiment(load_experiment(killed), log=lambda m: None)
    result = json.loads((work.parent / "seed0" / "result.json").read_text())
    assert result["steps"] == 6 and 1 <= result["resumed_from_step"] < 6
    assert result["resumed_from_step"] >= progress["step"]
    assert [e["step"] for e in result["evals"]] == [0, 2, 4, 6]
    assert not work.exists() and res["arms"]["grpo-aon"]["seeds"] == [0]
    plain = run_experiment(
        load_experiment(cfg_file(tmp_path / "plain")).model_copy(update={"checkpoint_every": 0}), log=lambda m: None
    )
    assert plain["arms"]["grpo-aon"]["seeds"] == [0]
    full = json.loads((tmp_path / "plain" / "runs" / "grpo-aon" / "seed0" / "result.json").read_text())
    assert full["resumed_from_step"] == 0 and result["seen"] == full["seen"]


def test_sampled_heldout_evaluation_is_the_mean_over_k_answers(tiny_policy_dir, tiny_decoder_disc_dir, tmp_path):
    """eval_samples k: each held-out prompt's rates are the means over its k sampled answers (recomputed here from
    an independent generation with the same seed), the seed depends on run seed and step only, and evaluating
    leaves the global RNG where it was (training's random stream does not move)."""
    from grpo.evaluate import GenerationConfig, LocalGenerator, score_responses
    from grpo.experiment.runner import HeldOut, load_policy

    cfg = _tiny_cfg(tmp_path, tiny_policy_dir, tiny_decoder_disc_dir, eval_samples=3, max_completion_length=8)
    heldout = build_task(cfg.task)[1]
    model, tok = load_policy(cfg, cfg.model)
    held = HeldOut(cfg, heldout, model, tok, seed=2)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    ev = held(model, tok, 5)
    assert torch.equal(torch.get_rng_state(), before)
    assert ev["decoding"] == {"mode": "sampled", "samples": 3, "temperature": cfg.temperature}
    items = [it for it in heldout for _ in range(3)]
    gen = GenerationConfig(
        max_new_tokens=8, temperature=cfg.temperature, batch_size=cfg.eval_batch_size, seed=2 * 10_007 + 5
    )
    responses = LocalGenerator(model, tok).generate(items, gen)
    _, rows = score_responses(items, responses)
    pp = ev["per_prompt"]
    assert pp["item_ids"] == [it.id for it in heldout] and len(ev["responses"]) == len(heldout)
    for j in range(len(heldout)):
        mine = rows[3 * j : 3 * j + 3]
        assert pp["prompt_strict"][j] == pytest.approx(np.mean([r["prompt_strict"] for r in mine]))
        assert pp["rubric_strict"][j] == pytest.approx(
            np.mean([np.mean([x["strict"] for x in r["rubrics"]]) for r in mine])
        )
        assert ev["responses"][j] == responses[3 * j]
    assert np.mean(pp["prompt_strict"]) == pytest.approx(ev["prompt_strict"])
    assert np.average(pp["rubric_strict"], weights=pp["rubrics"]) == pytest.approx(ev["rubric_strict"])
    again = held(model, tok, 5)
    assert again["responses"] == ev["responses"] and again["per_prompt"] == pp  # same seed and step: same answers
    other = HeldOut(cfg, heldout, model, tok, seed=2)(model, tok, 6)
    assert other["responses"] != ev["responses"]  # another step: other random numbers
    greedy = HeldOut(cfg.model_copy(update={"eval_samples": 0}), heldout, model, tok)
    assert greedy.decoding == {"mode": "greedy"} and set(greedy(model, tok, 0)["per_prompt"]["prompt_strict"]) <= {0, 1}


def test_base_eval_is_redone_when_the_cache_used_another_decoding(tiny_policy_dir, tiny_decoder_disc_dir, tmp_path):
    from grpo.experiment.runner import base_eval, load_policy

    cfg = _tiny_cfg(tmp_path, tiny_policy_dir, tiny_decoder_disc_dir, max_completion_length=6)
    heldout = build_task(cfg.task)[1]
    model, tok = load_policy(cfg, cfg.model)
    greedy = base_eval(cfg, heldout, model, tok, log=lambda _m: None)
    assert greedy["decoding"] == {"mode": "greedy"}
    logs: list[str] = []
    sampled = base_eval(cfg.model_copy(update={"eval_samples": 2}), heldout, model, tok, log=logs.append)
    assert sampled["decoding"]["mode"] == "sampled" and any("evaluating again" in m for m in logs)
    cached = json.loads((tmp_path / "exp" / "base" / "eval.json").read_text())
    assert cached["decoding"] == sampled["decoding"]


def test_uniform_relevance_is_the_rubric_level_credit_without_localisation(
    tiny_policy_dir, tiny_decoder_disc_dir, tmp_path
):
    """relevance: uniform marks every response token for every rubric the item uses; with the centred credit the
    token term is then one value per response (sum_k a_k c_k / sum_k a_k): no token is singled out."""
    cfg = _tiny_cfg(
        tmp_path,
        tiny_policy_dir,
        tiny_decoder_disc_dir,
        steps=1,
        num_generations=4,
        arms=[{"name": "rtt-centred-uniform", "beta": 0.5, "relevance": "uniform", "token_credit": "centred"}],
    )
    tr = _one_trainer(cfg, "rtt-centred-uniform")
    tr.train()
    last = tr.last_rtt
    rel, mask, v, tok = last["relevance"], last["mask"].bool(), last["verdicts"], last["tok_adv"]
    use = torch.as_tensor(v.arrays.use)
    assert torch.equal(rel, (use[:, :, None] & mask[:, None, :]).to(rel.dtype))
    assert set(last["relevance_sources"].values()) == {"uniform"}
    for i in range(rel.shape[0]):
        row = tok[i][mask[i]]
        assert torch.allclose(row, row[0].expand_as(row)), i
