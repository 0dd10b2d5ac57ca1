"""A Prefect server on any host and port whose UI works (``rtt serve --port``, ``rtt deploy --port``).

The UI served by ``prefect server start`` asks ``/ui-settings`` for the API address, which is
``PREFECT_UI_API_URL`` or else ``http://PREFECT_SERVER_API_HOST:PREFECT_SERVER_API_PORT/api`` - so a server started
with only ``--port 4300`` draws a UI that calls the API on 4200. :func:`server_env` sets the four variables
together; :func:`ensure_server` targets a server already answering on the port (warning when its UI points
elsewhere) or starts one as a child process group, stopped by :meth:`LocalServer.stop`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from flows.subprocess_launch import stop_group


class ServerStartError(RuntimeError):
    """The Prefect server did not start (the message holds the tail of its log)."""


def base_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


WILDCARD = ("0.0.0.0", "::")


def server_env(host: str, port: int) -> dict[str, str]:
    """Environment of a server on ``host:port`` and of its clients: API port, UI API URL and client URL agree.
    A server bound to every interface (0.0.0.0) is reached by browsers through this machine's host name and by
    local clients through 127.0.0.1."""
    import socket

    ui = base_url(socket.gethostname() if host in WILDCARD else host, port)
    local = base_url("127.0.0.1" if host in WILDCARD else host, port)
    return {
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": f"{ui}/api",
        "PREFECT_API_URL": f"{local}/api",
        "PREFECT_UI_URL": ui,
    }


def _get_json(url: str, timeout: float = 3.0) -> object | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8")) if r.status == 200 else None
    except (OSError, ValueError):
        return None


def healthy(host: str, port: int) -> bool:
    """True when a Prefect API answers ``/api/health`` on ``host:port``."""
    return _get_json(f"{base_url('127.0.0.1' if host in WILDCARD else host, port)}/api/health") is True


def ui_api_url(host: str, port: int) -> str | None:
    """The API address the server's UI calls (its ``/ui-settings``), None when it does not say."""
    data = _get_json(f"{base_url('127.0.0.1' if host in WILDCARD else host, port)}/ui-settings")
    return data.get("api_url") if isinstance(data, dict) else None


@dataclass
class LocalServer:
    """A Prefect server on ``host:port``: ``proc`` is None when it was already running (only targeted)."""

    host: str
    port: int
    proc: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return base_url("127.0.0.1" if self.host in WILDCARD else self.host, self.port)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def stop(self, grace: float = 15.0) -> None:
        """Stop the server this process started (its whole process group); a targeted server is left alone."""
        if self.proc is not None:
            stop_group(self.proc, grace=grace)


def start_server(
    host: str,
    port: int,
    log_path: Path,
    *,
    timeout: float = 180.0,
    services: bool = True,
    env: dict[str, str] | None = None,
) -> LocalServer:
    """``prefect server start`` on ``host:port`` in its own process group, waiting for ``/api/health``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {}), **server_env(host, port)}
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    if not services:
        cmd.append("--no-services")
    with open(log_path, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    server = LocalServer(host, port, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(
                f"prefect server on {server.url} exited ({proc.returncode}); log {log_path}:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        if healthy(host, port):
            return server
        time.sleep(0.5)
    server.stop()
    raise ServerStartError(
        f"prefect server on {server.url} not healthy after {timeout:.0f} s; log {log_path}:\n"
        + log_path.read_text(errors="replace")[-3000:]
    )


def ensure_server(host: str, port: int, log_path: Path, *, timeout: float = 180.0) -> tuple[LocalServer, list[str]]:
    """Target the server answering on ``host:port``, or start one; returns it and warnings (a targeted server
    whose UI calls another API address). Sets the client variables of :func:`server_env` in ``os.environ`` so
    this process and the flow runs it starts talk to that server."""
    warnings: list[str] = []
    if healthy(host, port):
        server = LocalServer(host, port)
        ui_api = ui_api_url(host, port)
        if ui_api and ui_api.rstrip("/") != server_env(host, port)["PREFECT_UI_API_URL"]:
            warnings.append(
                f"the server on {server.url} serves a UI that calls the API at {ui_api}: restart it with "
                f"PREFECT_SERVER_API_PORT={port} PREFECT_UI_API_URL={server.api_url} (or let rtt start "
                "it on a free port)"
            )
    else:
        server = start_server(host, port, log_path, timeout=timeout)
    os.environ.update({k: v for k, v in server_env(host, port).items() if k in ("PREFECT_API_URL", "PREFECT_UI_URL")})
    return server, warnings
