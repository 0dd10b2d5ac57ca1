"""The ``rtt-pipeline`` flow (real Prefect test harness) end to end on tiny models: every stage, resume from the
cache, transient failures retried, bad parameters rejected; and the ``accelerate launch`` log streaming."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_params(run_dir: Path, bert: Path, policy: Path, **updates):
    """The demo pipeline shrunk to tiny random models: seconds per stage."""
    from flows.pipeline import PipelineParams

    data = {
        "name": "tiny",
        "run_dir": str(run_dir),
        "discriminator": {
            "config": "tiny",
            "baselines": ["lexical", "all_relevant"],
            "overrides": {"backbone": str(bert), "max_steps": 4, "eval_steps": 2},
        },
        "policy": {
            "overrides": [
                f"model.name_or_path={policy}",
                "data.limit=2",
                "grpo.max_steps=1",
                "grpo.max_completion_length=8",
                "rtt.heatmap_every=1",
            ]
        },
        "policy_eval": {"limit": 2, "max_new_tokens": 8},
        "retries": {"retry_delay_seconds": 0},
    }
    data.update(updates)
    return PipelineParams.model_validate(data)


def _run_of(report_name: str):
    """Task runs of the latest ``rtt-pipeline`` flow run, and all its flow runs, read through the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, TaskRunFilter, TaskRunFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    async def go():
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["rtt-pipeline"])),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            run = runs[0]
            tasks = await client.read_task_runs(
                task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run.id]))
            )
            return run, tasks

    return asyncio.run(go())


def _count_flow_runs(name: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async def go():
        async with get_client() as client:
            return len(await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name]))))

    return asyncio.run(go())


@pytest.mark.prefect
@pytest.mark.slow
def test_pipeline_runs_every_stage_then_resumes_from_cache(
    prefect_harness, tiny_bert_dir, tiny_policy_dir, tmp_path, monkeypatch
):
    from prefect.artifacts import Artifact

    from flows.pipeline import planned_stages, rtt_pipeline

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    run_dir = tmp_path / "run"
    params = tiny_params(run_dir, tiny_bert_dir, tiny_policy_dir)
    disc_runs_before = _count_flow_runs("train-discriminator")

    report = rtt_pipeline(params)
    status = {s.stage: s.status for s in report.stages}
    assert list(status) == planned_stages(params)
    assert status.pop("review") == "skipped" and set(status.values()) == {"ran"}, status
    assert "Label Studio" in report.stage("review").note
    # the discriminator trained on pairs made of the policy's own sampled responses
    from discriminator.data.schema import read_rows

    assert (run_dir / "data" / "policy_samples.jsonl").is_file()
    sources = {r.positive_source for r in read_rows(run_dir / "data" / "spans.parquet")}
    assert "policy" in sources and sources <= {"policy", "template"}, sources
    # every stage wrote its outputs under run_dir
    for rel in (
        "rubrics/train.jsonl",
        "data/spans.parquet",
        "discriminator/model/config.json",
        "discriminator/eval/metrics.json",
        "discriminator-export/model.safetensors",
        "policy/final/config.json",
        "policy/summary.json",
        "policy-eval/report.json",
        "policy-eval-base/report.json",
        "report.md",
        "report.json",
        "plots/summary.png",
    ):
        assert (run_dir / rel).exists(), rel
    assert report.stage("rubrics").numbers["items"] == 39
    assert report.stage("disc-train").numbers["steps"] == 4 and report.stage("policy-train").numbers["steps"] == 1
    md = (run_dir / "report.md").read_text()
    assert "## Discriminator" in md and "| discriminator |" in md and "| trained | final | 2 |" in md
    assert "![summary](plots/summary.png)" in md and "[policy](policy)" in md
    # the policy trained with this run's exported discriminator
    assert json.loads((run_dir / "policy" / "summary.json").read_text())["steps"] == 1
    # artifacts: markdown report + tables, and each stage flow's own artifacts (stages ran as subflows)
    assert Artifact.get("rtt-pipeline-tiny").type == "markdown"
    rows = Artifact.get("rtt-pipeline-tiny-stages").data
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert [r["stage"] for r in rows] == planned_stages(params)
    assert Artifact.get("rtt-pipeline-tiny-discriminator") is not None
    assert Artifact.get("rtt-pipeline-tiny-policy") is not None
    assert Artifact.get("disc-train-discriminator") is not None
    assert _count_flow_runs("train-discriminator") == disc_runs_before + 1

    # second run, same parameters: every stage comes from the cache, nothing is recomputed
    stamp = (run_dir / "discriminator" / "train_summary.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    again = rtt_pipeline(params)
    assert time.perf_counter() - t0 < 60
    assert {s.stage: s.status for s in again.stages if s.stage != "review"} == {
        k: "cached" for k in planned_stages(params) if k != "review"
    }
    assert (run_dir / "discriminator" / "train_summary.json").stat().st_mtime_ns == stamp
    assert _count_flow_runs("train-discriminator") == disc_runs_before + 1  # no new subflow run
    run, tasks = _run_of("rtt-pipeline")
    stage_tasks = [t for t in tasks if t.name.split("-")[0] in ("rubrics", "data", "disc", "policy")]
    assert stage_tasks and all(t.state.name == "Cached" for t in stage_tasks), [
        (t.name, t.state.name) for t in stage_tasks
    ]
    assert again.stage("disc-train").numbers == report.stage("disc-train").numbers

    # a stage whose output was removed is recomputed; the stages before it stay cached
    (run_dir / "policy-eval" / "report.json").unlink()
    third = rtt_pipeline(params)
    status = {s.stage: s.status for s in third.stages}
    assert status["policy-eval"] == "ran" and status["policy-train"] == "cached" and status["disc-train"] == "cached"
    assert (run_dir / "policy-eval" / "report.json").is_file()


@pytest.mark.prefect
def test_transient_failure_is_retried_and_permanent_one_is_not(
    prefect_harness, tiny_bert_dir, tiny_policy_dir, tmp_path, monkeypatch
):
    import rubrics.build
    from flows.pipeline import rtt_pipeline

    real = rubrics.build.build_rubric_dataset
    calls: list[str] = []

    def flaky(*args, **kwargs):
        calls.append("call")
        if len(calls) == 1:
            raise ConnectionResetError("injected: connection reset by the hub")
        return real(*args, **kwargs)

    monkeypatch.setattr(rubrics.build, "build_rubric_dataset", flaky)
    params = tiny_params(tmp_path / "flaky", tiny_bert_dir, tiny_policy_dir, stop_after="rubrics")
    report = rtt_pipeline(params)
    assert len(calls) == 2 and report.stage("rubrics").status == "ran"
    assert [s.status for s in report.stages[1:]] == ["skipped"] * 7
    _, tasks = _run_of("rtt-pipeline")
    rubric_task = next(t for t in tasks if t.name.startswith("rubrics"))
    assert rubric_task.run_count == 2 and rubric_task.state.is_completed()

    def broken(*args, **kwargs):
        calls.append("broken")
        raise ValueError("injected: not a transient problem")

    monkeypatch.setattr(rubrics.build, "build_rubric_dataset", broken)
    calls.clear()
    with pytest.raises(ValueError, match="not a transient"):
        rtt_pipeline(tiny_params(tmp_path / "broken", tiny_bert_dir, tiny_policy_dir, stop_after="rubrics"))
    assert calls == ["broken"]  # no retry
    partial = (tmp_path / "broken" / "report.md").read_text()
    assert "FAILED" in partial and "not a transient problem" in partial


@pytest.mark.prefect
def test_bad_parameters_are_rejected_naming_the_field(prefect_harness, tiny_bert_dir, tiny_policy_dir, tmp_path):
    from pydantic import ValidationError

    from flows.pipeline import PipelineParams, rtt_pipeline

    with pytest.raises(ValidationError, match=r"policy_eval\.limit"):
        PipelineParams(policy_eval={"limit": 0})
    with pytest.raises(ValidationError, match="val_frac"):
        PipelineParams(rubrics={"val_frac": 0.5, "test_frac": 0.6})
    # through the flow's parameter validation (what a UI / API call goes through)
    with pytest.raises(Exception, match=r"stop_after"):
        rtt_pipeline(params={"run_dir": str(tmp_path / "x"), "stop_after": "everything"})
    # semantic checks run before any stage: nothing is written
    bad = tiny_params(tmp_path / "bad", tiny_bert_dir, tiny_policy_dir)
    bad = bad.model_copy(update={"policy": bad.policy.model_copy(update={"overrides": ["rtt.token_norm=sideways"]})})
    with pytest.raises(ValueError, match=r"rtt\.token_norm"):
        rtt_pipeline(bad)
    assert not (tmp_path / "bad" / "rubrics").exists()
    with pytest.raises(ValueError, match=r"discriminator\.baselines[\s\S]*oracle"):  # a typed list now
        tiny_params(
            tmp_path / "bad2", tiny_bert_dir, tiny_policy_dir, discriminator={"config": "tiny", "baselines": ["oracle"]}
        )

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("run_dir: out\ndiscriminator:\n  max_test_rows: -3\n")
    r = CliRunner().invoke(app, ["pipeline", "run", "--config", str(cfg)])
    assert r.exit_code == 1 and "bad.yaml" in r.output and "discriminator.max_test_rows" in r.output
    r = CliRunner().invoke(app, ["pipeline", "run", "--config", str(cfg), "--stop-after", "nowhere"])
    assert r.exit_code == 1 and "--stop-after must be one of" in r.output


def test_demo_config_is_valid_and_resolves_the_bundled_data(tmp_path, monkeypatch):
    from flows.pipeline import PipelineParams, planned_stages

    monkeypatch.chdir(tmp_path)  # relative data/demo paths resolve against the repository
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    p = PipelineParams.from_yaml(ROOT / "configs" / "demo.yaml", ["policy_eval.limit=3"])
    assert all(Path(s.path).is_file() and Path(s.path).is_absolute() for s in p.rubrics.sources)
    assert p.policy_eval.limit == 3 and p.data.build.mode == "programmatic"
    assert p.policy_config().model.name_or_path == "smollm2"
    sampled = p.data_params().positives_from  # the data stage makes its pairs from the policy's own responses
    assert sampled is not None and sampled.model == "smollm2" and sampled.k == 2 and sampled.max_new_tokens == 64
    off = PipelineParams.from_yaml(ROOT / "configs" / "demo.yaml", ["data.policy_positives=false"])
    assert off.data_params().positives_from is None
    assert sampled.resample is False  # samples of other settings stop the data stage unless data.resample is set
    again = PipelineParams.from_yaml(ROOT / "configs" / "demo.yaml", ["data.resample=true"])
    assert again.data_params().positives_from.resample is True
    assert planned_stages(p)[2] == "review"
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    assert planned_stages(p)[2:4] == ["review-push", "review-pull"]
    assert str(p.training_rows()).endswith("review/spans.parquet")


@pytest.mark.prefect
@pytest.mark.slow
def test_distributed_discriminator_training_runs_under_accelerate_launch(
    prefect_harness, tiny_bert_dir, tmp_path, caplog
):
    """num_processes: 2 in the training config: the flow launches 2 CPU processes (DDP, gloo) through
    `accelerate launch`, streams their output into the flow run logger and returns the usual summary."""
    from discriminator.data.schema import write_rows
    from discriminator.splits import assign_splits
    from discriminator.synthetic import toy_rows
    from flows.discriminator import TrainDiscriminatorParams, train_discriminator
    from flows.subprocess_launch import LaunchConfig, accelerate_command

    rows = tmp_path / "rows.parquet"
    write_rows(rows, assign_splits(toy_rows(24, seed=1), 0.25, 0.25, seed=0))
    launch = LaunchConfig(num_processes=2)
    cmd = accelerate_command("flows.subprocess_launch", ["disc-train"], launch)
    assert (
        cmd[1:3] == ["-m", "accelerate.commands.launch"]
        and "--multi_gpu" in cmd
        and launch.env() == {"ACCELERATE_USE_CPU": "1"}
    )  # no CUDA here
    with caplog.at_level(logging.INFO, logger="prefect.task_runs"):
        res = train_discriminator(
            TrainDiscriminatorParams(
                preset="tiny",
                data=str(rows),
                backbone=str(tiny_bert_dir),
                out=str(tmp_path / "ddp"),
                max_steps=2,
                eval_steps=2,
                num_processes=2,
            )
        )
    assert res["global_step"] == 2 and Path(res["model_dir"], "config.json").is_file()
    assert json.loads((tmp_path / "ddp" / "train_summary.json").read_text())["global_step"] == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "prefect.task_runs"]
    assert any(m.startswith("trained ") and "val F1" in m for m in lines), lines[-20:]
    assert any("rank1" in m or "rank 1" in m for m in lines) or len(lines) > 5


def test_run_streaming_reports_failures_and_time_outs(tmp_path):
    from flows.subprocess_launch import LaunchError, run_streaming

    seen: list[str] = []

    class Log:
        def info(self, fmt, *args):
            seen.append(fmt % args)

    tail = run_streaming([sys.executable, "-c", "print('a'); print('b', flush=True)"], Log())
    assert tail == ["a", "b"] and seen == ["a", "b"]
    with pytest.raises(LaunchError, match=r"status 3.*\n.*boom"):
        run_streaming([sys.executable, "-c", "print('boom'); raise SystemExit(3)"])
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError):
        run_streaming([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1)
    assert time.perf_counter() - t0 < 30


@pytest.mark.prefect
@pytest.mark.labelstudio
def test_review_stages_run_only_with_a_label_studio_url(
    prefect_harness, labelstudio, tiny_bert_dir, tiny_policy_dir, tmp_path, monkeypatch
):
    """With a URL (here the REAL local server of the session) the rows are pushed and the reviews pulled into
    review/spans.parquet, which the discriminator then trains on; pulling is never cached."""
    from discriminator.data.schema import read_rows
    from flows.pipeline import rtt_pipeline

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    params = tiny_params(
        tmp_path / "reviewed",
        tiny_bert_dir,
        tiny_policy_dir,
        stop_after="review",
        review={
            "url": labelstudio.url,
            "api_key": labelstudio.api_key.get_secret_value(),
            "project": f"rtt pipeline {tmp_path.name}",
        },
    )
    report = rtt_pipeline(params)
    status = {s.stage: s.status for s in report.stages}
    assert status["review-push"] == "ran" and status["review-pull"] == "ran" and status["disc-train"] == "skipped"
    rows = read_rows(tmp_path / "reviewed" / "data" / "spans.parquet")
    assert report.stage("review-push").numbers["pushed"] == len(rows)
    pulled = read_rows(tmp_path / "reviewed" / "review" / "spans.parquet")
    assert len(pulled) == len(rows) and report.stage("review-pull").numbers["human rows"] == 0
    assert str(params.training_rows()).endswith("review/spans.parquet")

    again = {s.stage: s.status for s in rtt_pipeline(params).stages}
    assert again["review-push"] == "cached" and again["review-pull"] == "ran"
