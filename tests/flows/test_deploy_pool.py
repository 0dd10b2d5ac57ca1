"""``rtt deploy --work-pool`` against a REAL Prefect server with a REAL process worker
(``prefect worker start --pool NAME --type process``) on 127.0.0.1: the worker picks up a run triggered from the
deployment (what the UI's Run button does) and executes it with the deployment's job variables."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    from tests.helpers.prefect_server import start_prefect_server

    server = start_prefect_server(tmp_path_factory.mktemp("prefect-pool-server"))
    yield server
    server.stop()


def _wait(predicate, timeout: float, what: str, *logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1.0)
    tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def test_plan_merges_job_variables_default_training_then_deployment(tmp_path):
    from flows.deploy import DeployError, DeployPlan

    f = tmp_path / "jobs.yaml"
    f.write_text(
        "default: {env: {HF_HOME: /data/hf, A: '1'}, working_dir: /srv/rtt}\n"
        "training: {env: {CUDA_VISIBLE_DEVICES: '0,1'}}\n"
        "train-policy: {env: {A: '2'}, working_dir: /scratch}\n"
    )
    plan = DeployPlan.from_yaml(f, work_pool="cpu", training_pool="gpu")
    assert plan.pool_of("build-rubric-dataset") == "cpu" and plan.pool_of("train-policy") == "gpu"
    assert plan.variables_of("build-rubric-dataset") == {
        "env": {"HF_HOME": "/data/hf", "A": "1"},
        "working_dir": "/srv/rtt",
    }
    assert plan.variables_of("train-policy") == {
        "env": {"HF_HOME": "/data/hf", "A": "2", "CUDA_VISIBLE_DEVICES": "0,1"},
        "working_dir": "/scratch",
    }
    example = DeployPlan.from_yaml(ROOT / "configs" / "job-vars.example.yaml", work_pool="cpu")  # the README's
    assert example.variables_of("train-policy")["env"]["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert "RTT_ACCELERATE_CONFIG" not in example.variables_of("train-discriminator")["env"]
    f.write_text("train-polcy: {env: {A: '1'}}\n")
    with pytest.raises(DeployError, match=r"jobs\.yaml.*unknown key\(s\) train-polcy"):
        DeployPlan.from_yaml(f, work_pool="cpu")


@pytest.mark.prefect
@pytest.mark.slow
def test_deploy_to_a_work_pool_and_a_process_worker_runs_the_triggered_run(prefect_server, tmp_path):
    from prefect.client.orchestration import PrefectClient

    env = prefect_server.env(PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1", HF_HUB_OFFLINE="1")
    wd = tmp_path / "worker-wd"
    wd.mkdir()
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        json.dumps({"default": {"env": {"RTT_DEPLOY_MARK": "every"}}, "build-rubric-dataset": {"working_dir": str(wd)}})
    )
    deploy = [
        str(BIN / "rtt"),
        "deploy",
        "--work-pool",
        "cpu-pool",
        "--training-pool",
        "gpu-pool",
        "--job-vars",
        str(jobs),
        "--training-env",
        "CUDA_VISIBLE_DEVICES=0",
        "--run-dir",
        str(tmp_path / "run"),
        "--only",
        "build-rubric-dataset",
        "--only",
        "train-discriminator",
    ]
    r = subprocess.run(deploy, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "prefect worker start --pool cpu-pool --type process" in r.stderr

    # a job variable the pool's template does not know fails, naming the deployment
    jobs_bad = tmp_path / "bad.yaml"
    jobs_bad.write_text(json.dumps({"build-rubric-dataset": {"image": "rtt:latest"}}))
    bad = subprocess.run(
        [
            str(BIN / "rtt"),
            "deploy",
            "--work-pool",
            "cpu-pool",
            "--job-vars",
            str(jobs_bad),
            "--only",
            "build-rubric-dataset",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "deployment build-rubric-dataset: job variable(s) image unknown" in (
        bad.stdout + bad.stderr
    ).replace("\n", " ")

    def call(fn):
        async def go():
            async with PrefectClient(prefect_server.api_url) as client:
                return await fn(client)

        return asyncio.run(go())

    async def deployments(client):
        return {d.name: d for d in await client.read_deployments()}

    deps = call(deployments)
    rub, disc = deps["build-rubric-dataset"], deps["train-discriminator"]
    assert rub.work_pool_name == "cpu-pool" and disc.work_pool_name == "gpu-pool"
    assert rub.job_variables == {"env": {"RTT_DEPLOY_MARK": "every"}, "working_dir": str(wd)}
    assert disc.job_variables == {"env": {"RTT_DEPLOY_MARK": "every", "CUDA_VISIBLE_DEVICES": "0"}}
    assert disc.parameters["params"]["reviewed"] == str(tmp_path / "run" / "review" / "spans.parquet")

    worker_log = tmp_path / "worker.log"
    worker = prefect_server.spawn(
        [str(BIN / "prefect"), "worker", "start", "--pool", "cpu-pool", "--type", "process"],
        worker_log,
        PREFECT_WORKER_QUERY_SECONDS="1",
        HF_HUB_OFFLINE="1",
    )
    # a relative output folder: it lands in the deployment's working_dir on the worker's machine
    params = {
        "params": {
            "sources": [{"path": str(ROOT / "data" / "demo" / "items.jsonl")}],
            "out_dir": "rubrics-out",
            "name": "from pool",
        }
    }

    async def trigger(client):
        return await client.create_flow_run_from_deployment(rub.id, parameters=params)

    run = call(trigger)

    async def read(client):
        return await client.read_flow_run(run.id)

    def finished():
        assert worker.poll() is None, worker_log.read_text()[-4000:]
        fr = call(read)
        return fr if fr.state and fr.state.is_final() else None

    final = _wait(finished, 240, "the worker to run the triggered flow run", worker_log)
    assert final.state.is_completed(), (final.state, worker_log.read_text()[-4000:])
    report = json.loads((wd / "rubrics-out" / "report.json").read_text())
    assert report["items"] == 12 and report["name"] == "from pool"
    assert final.work_pool_name == "cpu-pool"  # run by the worker, in the working_dir of the deployment
