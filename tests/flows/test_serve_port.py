"""``rtt serve --port P`` on non-default ports with REAL Prefect servers: it targets a server already answering on P
(left running on exit) or starts one whose UI calls the API on P (stopped on exit); SIGTERM and SIGINT stop it
cleanly: exit code 0, no "coroutine 'Runner.astop' was never awaited" warning, no traceback."""

from __future__ import annotations

import json
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RTT = Path(sys.executable).parent / "rtt"


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return json.loads(r.read().decode())
    except OSError:
        return None


def _wait(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1.0)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def _serve(server_env, port: int, tmp_path: Path, log: Path):
    import subprocess

    fh = open(log, "wb")
    return subprocess.Popen(
        [str(RTT), "serve", "--port", str(port), "--only", "build-rubric-dataset", "--run-dir", str(tmp_path / "run")],
        stdout=fh,
        stderr=subprocess.STDOUT,
        env=server_env,
        start_new_session=True,
    )


def _deployments(port: int) -> list[str]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/deployments/filter",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            return [d["name"] for d in json.loads(r.read().decode())]
    except OSError:
        return []


def _stop(proc, sig: int, log: Path) -> str:
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=60)
    except Exception:  # noqa: BLE001 - reported below
        proc.kill()
        raise AssertionError(f"rtt serve ignored {signal.Signals(sig).name}:\n{log.read_text()[-4000:]}") from None
    text = log.read_text(errors="replace")
    assert rc == 0, text[-4000:]
    assert "never awaited" not in text and "Traceback" not in text, text[-4000:]
    return text


@pytest.mark.prefect
@pytest.mark.slow
@pytest.mark.server
def test_serve_targets_or_starts_a_server_on_any_port_and_stops_cleanly_on_sigterm_and_sigint(tmp_path):
    import os

    from flows.server_process import healthy, start_server, ui_api_url
    from tests.helpers.prefect_server import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PYTHONWARNINGS="default",
    )

    # 1. a server already on a non-default port (started like rtt does): its UI calls that port, not 4200
    port = free_port()
    server = start_server("127.0.0.1", port, tmp_path / "server.log", env=env, services=False)
    try:
        assert ui_api_url("127.0.0.1", port) == f"http://127.0.0.1:{port}/api"
        log = tmp_path / "serve-target.log"
        proc = _serve(env, port, tmp_path, log)
        _wait(
            lambda: proc.poll() is None and "build-rubric-dataset" in _deployments(port),
            150,
            "the deployment on the targeted server",
            log,
        )
        text = _stop(proc, signal.SIGTERM, log)
        assert "started a Prefect server" not in text and "stopped (SIGTERM)" in text
        assert healthy("127.0.0.1", port)  # a targeted server is left running
    finally:
        server.stop()

    # 2. nothing on the port: rtt serve starts a server there (UI settings agree) and stops it on SIGINT
    port = free_port()
    log = tmp_path / "serve-start.log"
    env["PREFECT_HOME"] = str(tmp_path / "home2")  # a fresh database: the deployment appears once rtt registers it
    proc = _serve(env, port, tmp_path, log)
    try:
        _wait(
            lambda: proc.poll() is None and "build-rubric-dataset" in _deployments(port),
            240,
            "rtt serve to start a server and register the deployment",
            log,
        )
        assert _get(f"http://127.0.0.1:{port}/ui-settings")["api_url"] == f"http://127.0.0.1:{port}/api"
        text = _stop(proc, signal.SIGINT, log)
        assert f"started a Prefect server on http://127.0.0.1:{port}" in text and "stopped (SIGINT)" in text
        assert not healthy("127.0.0.1", port)  # the server it started went with it
    finally:
        if proc.poll() is None:
            proc.kill()


def test_make_targets_pass_the_port_to_server_ui_and_clients():
    import subprocess

    def dry(target: str) -> str:
        r = subprocess.run(
            ["make", "-n", target, "PREFECT_PORT=4301", "POOL=gpu"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout.replace("\\\n", " ")

    assert "rtt serve --host 127.0.0.1 --port 4301" in dry("serve")
    server = dry("prefect-server")
    assert "PREFECT_SERVER_API_PORT=4301" in server and "PREFECT_UI_API_URL=http://127.0.0.1:4301/api" in server
    assert "prefect server start --host 127.0.0.1 --port 4301" in server
    assert "rtt deploy --host 127.0.0.1 --port 4301 --work-pool gpu" in dry("deploy")
    assert "PREFECT_API_URL=http://127.0.0.1:4301/api" in dry("worker")


def test_server_env_sets_port_and_ui_api_url_together():
    import socket

    from flows.server_process import server_env

    env = server_env("127.0.0.1", 4301)
    assert env["PREFECT_SERVER_API_PORT"] == "4301" and env["PREFECT_UI_API_URL"] == "http://127.0.0.1:4301/api"
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4301/api"
    wide = server_env("0.0.0.0", 4302)  # browsers on other machines cannot call 0.0.0.0
    assert wide["PREFECT_UI_API_URL"] == f"http://{socket.gethostname()}:4302/api"
    assert wide["PREFECT_API_URL"] == "http://127.0.0.1:4302/api"
