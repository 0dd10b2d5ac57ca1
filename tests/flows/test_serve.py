"""``rtt serve`` against a REAL local Prefect server: every registered flow becomes a deployment, and a run
created from a deployment through the API (what the UI's "Run" button does) executes and completes."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from flows.registry import FLOWS

ROOT = Path(__file__).resolve().parents[2]
RTT = Path(sys.executable).parent / "rtt"


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` on a free port of 127.0.0.1, own PREFECT_HOME (~20-40 s); stopped afterwards."""
    from tests.helpers.prefect_server import start_prefect_server

    server = start_prefect_server(tmp_path_factory.mktemp("prefect-server"))
    yield server
    server.stop()


def _wait(predicate, timeout: float, what: str, log: Path | None = None, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def test_build_deployments_defaults_follow_the_pipeline_layout(tmp_path):
    from flows.pipeline import PipelineParams
    from flows.serve import build_deployments

    params = PipelineParams.from_yaml(ROOT / "configs" / "demo.yaml", [f"run_dir={tmp_path / 'run'}"])
    deps = {d.name: d for d in build_deployments(params)}
    assert set(deps) == set(FLOWS)
    assert deps["build-rubric-dataset"].entrypoint == "flows.rubrics.build_rubric_dataset"
    rubric = deps["build-rubric-dataset"].parameters["params"]
    assert rubric["out_dir"] == str(tmp_path / "run" / "rubrics") and Path(rubric["sources"][0]["path"]).is_absolute()
    policy = deps["train-policy"].parameters["params"]
    assert policy["discriminator"] == str(tmp_path / "run" / "discriminator-export")
    assert deps["rtt-pipeline"].parameters["params"]["run_dir"] == str(tmp_path / "run")
    assert all("rtt" in d.tags for d in deps.values())
    with pytest.raises(Exception, match="unknown flow"):
        build_deployments(params, only=["no-such-flow"])


@pytest.mark.prefect
@pytest.mark.slow
def test_rtt_serve_registers_all_flows_and_runs_a_stage_triggered_through_the_api(prefect_server, tmp_path):
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, LogFilter, LogFilterFlowRunId
    from prefect.exceptions import PrefectHTTPStatusError

    serve_log = tmp_path / "serve.log"
    proc = prefect_server.spawn(
        [
            str(RTT),
            "serve",
            "--config",
            str(ROOT / "configs" / "demo.yaml"),
            "--run-dir",
            str(tmp_path / "run"),
            "--tag",
            "test",
        ],
        serve_log,
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        HF_HUB_OFFLINE="1",
    )

    def call(fn):
        async def go():
            async with PrefectClient(prefect_server.api_url) as client:
                return await fn(client)

        return asyncio.run(go())

    async def deployments(client):
        return {d.name: d for d in await client.read_deployments()}

    def all_there():
        assert proc.poll() is None, serve_log.read_text()[-4000:]
        deps = call(deployments)
        return deps if set(FLOWS) <= set(deps) else None

    deps = _wait(all_there, 150, "every deployment to appear", serve_log)
    assert set(deps) == set(FLOWS)
    dep = deps["build-rubric-dataset"]
    assert dep.entrypoint == "flows.rubrics.build_rubric_dataset" and "test" in dep.tags
    assert "params" in dep.parameter_openapi_schema["properties"]  # the UI form

    # bad parameters are refused by the server, naming the field (the UI shows the same message)
    async def bad_run(client):
        return await client.create_flow_run_from_deployment(dep.id, parameters={"params": {"out_dir": "x"}})

    with pytest.raises(PrefectHTTPStatusError, match="sources"):
        call(bad_run)

    out = tmp_path / "rubrics-from-ui"
    params = {
        "params": {
            "sources": [{"path": str(ROOT / "data" / "demo" / "items.jsonl")}],
            "out_dir": str(out),
            "name": "from ui",
        }
    }

    async def trigger(client):
        return await client.create_flow_run_from_deployment(dep.id, parameters=params)

    run = call(trigger)

    async def read(client):
        return await client.read_flow_run(run.id)

    final = _wait(
        lambda: (lambda r: r if r.state and r.state.is_final() else None)(call(read)),
        180,
        "the triggered flow run to finish",
        serve_log,
    )
    assert final.state.is_completed(), (final.state, serve_log.read_text()[-4000:])
    report = json.loads((out / "report.json").read_text())
    assert report["items"] == 12 and report["name"] == "from ui"

    async def evidence(client):
        arts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["rubric-build-from-ui"]))
        )
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        return arts, logs

    def logged():  # the run's log lines reach the API through a batching worker: poll until they are there
        arts, logs = call(evidence)
        return (arts, logs) if any("built from ui: 12 items" in lg.message for lg in logs) else None

    arts, logs = _wait(logged, 60, "the flow run's log line 'built from ui: 12 items'", serve_log)
    assert arts and arts[0].type == "table"
