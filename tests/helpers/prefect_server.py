"""A REAL local Prefect server for tests: ``prefect server start`` on a free port of 127.0.0.1 with its own
PREFECT_HOME (SQLite), started in its own process group and stopped (group terminated) at the end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from flows.subprocess_launch import stop_group

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrefectServer:
    home: Path
    port: int
    proc: subprocess.Popen
    log_path: Path
    children: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a client process of this server (its own PREFECT_HOME, no analytics)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_API_URL=self.api_url,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            DO_NOT_TRACK="1",
            PREFECT_LOGGING_TO_API_ENABLED="true",
        )
        env.update(extra)
        return env

    def spawn(self, args: list[str], log_path: Path, **env: str) -> subprocess.Popen:
        """Start a client process (own process group, output to ``log_path``); stopped with the server."""
        fh = open(log_path, "wb")
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=self.env(**env), start_new_session=True)
        self.children.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [*self.children, self.proc]:
            stop_group(proc, grace=15.0)


def start_prefect_server(home: Path, timeout: float = 180.0) -> PrefectServer:
    """Start the server and wait for ``/api/health``; on failure the server log is in the error."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = home / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_UI_API_URL=f"http://127.0.0.1:{port}/api",
    )
    fh = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-services"],
        stdout=fh,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    server = PrefectServer(home, port, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    server.stop()
    raise TimeoutError(f"prefect server not healthy after {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
