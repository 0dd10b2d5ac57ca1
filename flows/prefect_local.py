"""A temporary local Prefect API whose lifetime is tied to this process.

Prefect's ephemeral mode starts ``uvicorn prefect.server.api.server:create_app`` as a child and stops it from an
``atexit`` hook, which never runs when the parent is killed (``kill -9``, OOM): every such kill left a server
running. :func:`temporary_api` starts the same server itself, with ``PR_SET_PDEATHSIG`` (Linux: the kernel
sends SIGKILL to the child when the parent dies) and in its own process group, points this process's Prefect
settings at it, and stops it on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator


def die_with_parent(sig: int = signal.SIGKILL):
    """A ``preexec_fn``: the child gets ``sig`` when the process that started it dies (Linux; else a no-op)."""
    from rubrics.lifetime import die_with_parent as _die_with_parent

    parent = os.getpid()

    def preexec() -> None:
        os.setsid()  # own process group: a terminal's Ctrl-C goes to the parent, which stops it cleanly
        _die_with_parent(parent, sig)

    return preexec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def temporary_api(timeout_s: float | None = None) -> Iterator[str]:
    """Start a local Prefect API on 127.0.0.1 for the duration of the block and yield its URL; Prefect calls in
    the block use it (``PREFECT_API_URL``). The server dies with this process even on ``kill -9``."""
    import httpx
    import prefect
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    port = _free_port()
    env = {
        **os.environ,
        **get_current_settings().to_environment_variables(exclude_unset=True),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    env.pop("PREFECT_API_URL", None)
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    proc = subprocess.Popen(cmd, env=env, preexec_fn=die_with_parent(), stdin=subprocess.DEVNULL)  # noqa: PLW1509
    url = f"http://127.0.0.1:{port}/api"
    try:
        limit = timeout_s or float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))
        deadline = time.monotonic() + limit
        with httpx.Client() as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the temporary Prefect API exited with code {proc.returncode} at start-up")
                try:
                    if client.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the temporary Prefect API did not answer within {limit:.0f} s")
                time.sleep(0.1)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            try:
                yield url
            finally:
                flush_to_api()  # while the API is still up: else the last batch is retried at exit, then lost
    finally:
        _stop(proc)


def flush_to_api(timeout_s: float = 15.0) -> None:
    """Send the log and event batches still queued for the Prefect API and stop their workers (Prefect drains
    them at interpreter exit, which is after a temporary API has gone: minutes of retries, then ``--- Error
    logging to API --- All connection attempts failed``)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with contextlib.suppress(Exception):  # best effort: nothing to flush must not fail the command
            worker.drain_all(timeout=timeout_s, at_exit=False)
