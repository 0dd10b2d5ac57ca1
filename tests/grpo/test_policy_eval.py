"""Policy evaluation: scoring arithmetic, local and endpoint generation, CLI, Prefect flows, in-training callback."""

from __future__ import annotations

import json

import pytest

from grpo.evaluate import GenerationConfig, LocalGenerator, PolicyEvalConfig, evaluate_policy, score_responses
from rubrics.schema import Rubric, RubricItem, RuleVerifier


def _rule(rid: str, rule_id: str, **kw) -> Rubric:
    return Rubric(id=rid, text=rule_id, verifier=RuleVerifier(family="ifeval", rule_id=rule_id, kwargs=kw))


def test_prompt_and_rubric_accuracy_strict_and_loose():
    """Hand-checked counts. Item A: no commas + all lowercase; item B: no commas + an LLM rubric (no judge).
    r1 passes both of A; r2's only comma is in the first line, so it fails strictly and passes loosely
    (IFEval loose drops the first line); r3 (B) has no comma but the LLM rubric is undecided -> not followed.
    strict: prompts 1/3, rubrics (2 + 1 + 1)/6; loose: prompts 2/3, rubrics (2 + 2 + 1)/6."""
    a = RubricItem(
        id="a",
        prompt="Write about the sea.",
        rubrics=[_rule("a0", "punctuation:no_comma"), _rule("a1", "change_case:english_lowercase")],
    )
    b = RubricItem(
        id="b",
        prompt="Write about the sky.",
        rubrics=[_rule("b0", "punctuation:no_comma"), Rubric(id="b1", text="The answer is poetic.")],
    )
    responses = ["the sea is calm and blue", "sure, here it is\nthe sea is deep", "The sky is wide"]
    report, rows = score_responses([a, a, b], responses, benchmark="hand")
    o = report.overall
    assert (o.prompts, o.rubrics) == (3, 6)
    assert o.prompt_strict == pytest.approx(1 / 3) and o.prompt_loose == pytest.approx(2 / 3)
    assert o.rubric_strict == pytest.approx(4 / 6) and o.rubric_loose == pytest.approx(5 / 6)
    assert report.undecided == 1 and report.methods == {"rule": 5, "no_judge": 1}
    assert [r["prompt_strict"] for r in rows] == [True, False, False]
    assert rows[1]["rubrics"][0] == {**rows[1]["rubrics"][0], "strict": False, "loose": True}
    assert set(report.families) == {"ifeval", "llm"}
    assert report.families["llm"].rubric_strict == 0.0 and report.families["ifeval"].rubrics == 5


def test_local_generation_report_files(tiny_policy_dir, ifeval_path, tmp_path):
    from grpo.dataset import load_items

    items = load_items([str(ifeval_path)], format="ifeval", limit=3)
    gen = LocalGenerator(str(tiny_policy_dir))
    cfg = GenerationConfig(max_new_tokens=12, batch_size=2, temperature=0.7, seed=1)
    report = evaluate_policy(gen, items, benchmark="ifeval", generation=cfg, out_dir=tmp_path)
    rows = [json.loads(x) for x in (tmp_path / "responses.jsonl").read_text().splitlines()]
    assert [r["item_id"] for r in rows] == [it.id for it in items]  # batching sorted by length, output in order
    assert any(r["response"] for r in rows)
    n_rub = sum(len(r["rubrics"]) for r in rows)
    assert report.overall.rubrics == n_rub
    assert report.overall.rubric_strict == pytest.approx(sum(x["strict"] for r in rows for x in r["rubrics"]) / n_rub)
    assert report.overall.prompt_loose == pytest.approx(sum(r["prompt_loose"] for r in rows) / 3)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["overall"] == report.overall.model_dump()
    assert "| all | 3 |" in (tmp_path / "report.md").read_text()
    # same seed, same responses (reproducible sampling)
    again = gen.generate(items, cfg)
    assert again == [r["response"] for r in rows]


def test_cli_eval_policy_through_real_endpoint(openai_server, ifeval_path, tmp_path):
    """`rtt eval policy --base-url` against a real OpenAI-compatible server (transformers serve)."""
    from typer.testing import CliRunner

    from flows.cli import app

    out = tmp_path / "ep"
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "policy",
            "--base-url",
            openai_server.base_url,
            "--model",
            openai_server.model,
            "--benchmark",
            str(ifeval_path),
            "--limit",
            "2",
            "--max-new-tokens",
            "8",
            "--temperature",
            "0.7",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    rep = json.loads((out / "report.json").read_text())
    assert rep["overall"]["prompts"] == 2 and rep["model"] == openai_server.model
    assert "report.json" in res.output and "input_data" in res.output
    res = CliRunner().invoke(app, ["eval", "policy", "--model", "x", "--benchmark", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 1 and "missing.jsonl" in res.output


def test_benchmark_names_resolve(monkeypatch, tmp_path, shared_dir):
    from grpo.dataset import load_items, resolve_source

    monkeypatch.setenv("RTT_DATA_DIR", str(shared_dir / "data"))
    path, fmt = resolve_source("muldimif")
    assert path.endswith("muldimif/test.json") and fmt == "muldimif"
    items = load_items("muldimif", limit=2)
    assert len(items) == 2 and all(r.is_rule for r in items[0].rubrics)
    monkeypatch.setenv("RTT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RTT_SHARED_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="ifbench"):
        resolve_source("ifbench")


def test_flows_evaluate_and_train_policy(
    prefect_harness, tiny_policy_dir, tiny_decoder_disc_dir, ifeval_path, tmp_path
):
    from prefect.client.orchestration import get_client

    from flows.policy import TrainPolicyParams, evaluate_policy, train_policy

    cfg = PolicyEvalConfig(
        model=str(tiny_policy_dir),
        benchmark=str(ifeval_path),
        format="ifeval",
        limit=2,
        out=str(tmp_path / "ev"),
        generation=GenerationConfig(max_new_tokens=8),
    )
    report = evaluate_policy(cfg)
    assert report.overall.prompts == 2 and (tmp_path / "ev" / "report.json").is_file()

    run_cfg = tmp_path / "run.yaml"
    run_cfg.write_text(
        json.dumps(
            {
                "name": "flow-tiny",
                "model": {"name_or_path": str(tiny_policy_dir)},
                "data": {"train": str(ifeval_path), "format": "ifeval", "limit": 2},
                "rtt": {"beta": 0.5, "discriminator": str(tiny_decoder_disc_dir)},
                "grpo": {
                    "output_dir": str(tmp_path / "train"),
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
                "eval": {"every": 1, "benchmark": str(ifeval_path), "limit": 2, "max_new_tokens": 8},
            }
        )
    )
    summary = train_policy(TrainPolicyParams(config_file=str(run_cfg), save=False))
    assert summary["steps"] == 1 and "rtt/tok_adv/std" in summary["final_metrics"]
    # the in-training evaluation callback ran at step 1 and logged through the trainer
    assert summary["policy_evals"] and summary["policy_evals"][0]["step"] == 1
    assert (tmp_path / "train" / "policy_eval" / "step_000001" / "report.json").is_file()
    assert "policy_eval/prompt_strict" in summary["final_metrics"]

    async def keys():
        async with get_client() as client:
            return {a.key for a in await client.read_artifacts()}

    import asyncio

    found = asyncio.run(keys())
    assert "policy-train-flow-tiny" in found and any(k.startswith("policy-eval-") for k in found)


def test_policy_eval_callback_is_made_once_and_listed_in_all():
    """The lazily made TrainerCallback subclass is one class (isinstance and repeated imports agree) and the
    ``__all__`` entry resolves (``from grpo.evaluate import *``)."""
    import grpo.evaluate as ev

    first = ev.PolicyEvalCallback
    assert ev.PolicyEvalCallback is first and first.__name__ == "PolicyEvalCallback"
    from transformers import TrainerCallback

    assert issubclass(first, TrainerCallback)
    namespace: dict = {}
    exec("from grpo.evaluate import *", namespace)
    assert namespace["PolicyEvalCallback"] is first and all(name in namespace for name in ev.__all__)
