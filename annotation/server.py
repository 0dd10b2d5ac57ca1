"""Install, start and stop a local Label Studio server (its own virtual environment, SQLite, 127.0.0.1 only).

The Label Studio *server* pins Django/DRF versions that conflict with Prefect, so it lives in its own venv
(default ``.venv-labelstudio``); the project itself talks to it only over HTTP with ``label-studio-sdk``.
A started server is described by ``<data_dir>/server.json`` (URL, port, PID), so ``stop`` and ``status`` work
from another process. Run ``python -m annotation.server --help`` (used by the Makefile targets).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel, SecretStr

LABEL_STUDIO_VERSION = "1.23.2"
DEFAULT_VENV = Path(".venv-labelstudio")
DEFAULT_DATA_DIR = Path("data/labelstudio")
DEFAULT_PORT = 8080
DEFAULT_USERNAME = "reviewer@localhost"
# A fixed local-only development credential: the server binds 127.0.0.1 and its data dir is private (0700).
# Override it with LABEL_STUDIO_PASSWORD / LABEL_STUDIO_USER_TOKEN for anything shared.
DEFAULT_PASSWORD = "rtt-review-local"
DEFAULT_TOKEN = "rtt-local-review-token-0001"
STATE_FILE = "server.json"
DB_FILE = "label_studio.sqlite3"
TEMPLATE_DIR = "rtt-db-template"  # inside the venv: a migrated, empty database copied into new data dirs


class LabelStudioServerError(RuntimeError):
    """The local Label Studio server could not be installed, started or reached."""


class ServerInfo(BaseModel):
    """A running local server, as written to ``<data_dir>/server.json``."""

    url: str
    port: int
    pid: int
    data_dir: Path
    venv: Path = DEFAULT_VENV
    log_path: Path
    username: str
    api_key: SecretStr
    started_at: float
    boot_seconds: float


def ls_executable(venv: str | os.PathLike = DEFAULT_VENV) -> Path:
    """The ``label-studio`` entry point of ``venv``; a clear error when the venv is missing."""
    exe = (Path(venv) / "bin" / "label-studio").absolute()
    if not exe.is_file():
        raise LabelStudioServerError(
            f"Label Studio is not installed in {venv} (no {exe}); run `make labelstudio-install` "
            f"(or `python -m annotation.server install --venv {venv}`)"
        )
    return exe


def install(
    venv: str | os.PathLike = DEFAULT_VENV, version: str = LABEL_STUDIO_VERSION, python: str | None = None
) -> Path:
    """Create ``venv`` and pip-install ``label-studio==version`` into it, non-interactively; idempotent."""
    venv = Path(venv)
    stamp = venv / f".installed-label-studio-{version}"
    if stamp.is_file() and (venv / "bin" / "label-studio").is_file():
        build_template(venv)
        return ls_executable(venv)
    py = python or os.environ.get("PYTHON", "python3")
    if not (venv / "bin" / "python").is_file():
        subprocess.run([py, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    subprocess.run([*pip, "--upgrade", "pip"], check=True, env=env)
    subprocess.run([*pip, f"label-studio=={version}"], check=True, env=env)
    stamp.touch()
    build_template(venv)
    return ls_executable(venv)


def build_template(venv: str | os.PathLike = DEFAULT_VENV, timeout: float = 1200.0) -> Path:
    """Migrate an empty SQLite database once (minutes on a busy 2-core machine) and keep it in the venv.

    Every new data dir starts from a copy, so a first boot costs about as much as a restart (seconds). The
    template holds no user, token or secret key (those are made per data dir).
    """
    import shutil
    import tempfile

    target = Path(venv) / TEMPLATE_DIR / DB_FILE
    if target.is_file():
        return target
    exe = ls_executable(venv)
    with tempfile.TemporaryDirectory(prefix="rtt-ls-template-") as tmp:
        env = server_env(Path(tmp), "template@rtt.invalid", "", "")
        for k in ("LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_USER_TOKEN"):
            env.pop(k)
        # any non-server command applies the migrations first; `user` then just reports "no such user"
        subprocess.run(
            [str(exe), "user", "--username", "template@rtt.invalid"],
            cwd=tmp,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / DB_FILE, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)
    return target


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((host, port)) == 0


def server_env(data_dir: Path, username: str, password: str, token: str) -> dict[str, str]:
    """Environment of the server process: preset user + token, local data dir, no telemetry or update checks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_", "VIRTUAL_ENV"))}
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_USERNAME": username,
            "LABEL_STUDIO_PASSWORD": password,
            "LABEL_STUDIO_USER_TOKEN": token,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
            "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
            "LABEL_STUDIO_SENTRY_DSN": "",
            "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
            "LABEL_STUDIO_CI": "false",  # CI=true would load Label Studio's own migration linter
            "LABEL_STUDIO_HOST": "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_healthy(
    url: str, timeout: float = 180.0, proc: subprocess.Popen | None = None, log_path: Path | None = None
) -> None:
    """Poll ``{url}/health`` until it answers ``{"status": "UP"}``; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise LabelStudioServerError(
                f"Label Studio exited with code {proc.returncode} while starting{_log_tail(log_path)}"
            )
        try:
            r = httpx.get(f"{url}/health", timeout=2.0)
            if r.status_code == 200 and r.json().get("status") == "UP":
                return
            last = f"HTTP {r.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            last = type(exc).__name__
        time.sleep(0.5)
    raise LabelStudioServerError(
        f"Label Studio at {url} not healthy after {timeout:.0f} s ({last}){_log_tail(log_path)}"
    )


def _log_tail(log_path: Path | None, n: int = 20) -> str:
    if not log_path or not Path(log_path).is_file():
        return ""
    lines = Path(log_path).read_text(errors="replace").splitlines()[-n:]
    return f"; last lines of {log_path}:\n" + "\n".join(lines)


def start(
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    port: int | None = None,
    venv: str | os.PathLike = DEFAULT_VENV,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 240.0,
) -> ServerInfo:
    """Start Label Studio on ``127.0.0.1:port`` with a preset user and API token and wait for ``/health``.

    A new data dir starts from the migrated template database of :func:`build_template` when there is one
    (then the first boot takes seconds, like a restart; without it, migrating takes minutes). Credentials
    default to ``LABEL_STUDIO_USERNAME`` / ``LABEL_STUDIO_PASSWORD`` / ``LABEL_STUDIO_USER_TOKEN`` (else the
    local defaults above). If a server from ``data_dir`` is already running, it is returned as is.
    """
    exe = ls_executable(venv)
    data_dir = Path(data_dir).absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    running = status(data_dir)
    if running is not None:
        return running
    username = username or os.environ.get("LABEL_STUDIO_USERNAME") or DEFAULT_USERNAME
    password = password or os.environ.get("LABEL_STUDIO_PASSWORD") or DEFAULT_PASSWORD
    token = token or os.environ.get("LABEL_STUDIO_USER_TOKEN") or DEFAULT_TOKEN
    port = port or free_port()
    if _port_in_use(port):  # label-studio would silently move to the next port
        raise LabelStudioServerError(f"port {port} on 127.0.0.1 is already in use")
    log_path = data_dir / "server.log"
    t0 = time.monotonic()
    template = Path(venv) / TEMPLATE_DIR / DB_FILE
    if not (data_dir / DB_FILE).exists() and template.is_file():
        import shutil

        shutil.copyfile(template, data_dir / DB_FILE)
    cmd = [
        str(exe),
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(data_dir, username, password, token),
            start_new_session=True,
            cwd=data_dir,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout, proc, log_path)
    except BaseException:
        _kill_group(proc.pid)
        raise
    info = ServerInfo(
        url=url,
        port=port,
        pid=proc.pid,
        data_dir=data_dir,
        venv=Path(venv).absolute(),
        log_path=log_path,
        username=username,
        api_key=SecretStr(token),
        started_at=time.time(),
        boot_seconds=round(time.monotonic() - t0, 2),
    )
    state = info.model_dump(mode="json")
    state["api_key"] = token
    from rubrics.io import write_text

    write_text(data_dir / STATE_FILE, json.dumps(state, indent=2))
    os.chmod(data_dir / STATE_FILE, 0o600)
    return info


def _alive(pid: int) -> bool:
    from rubrics.io import pid_alive

    if not pid_alive(pid):
        return False
    try:  # a zombie child of this process counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _kill_group(pid: int, grace: float = 15.0) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def read_state(data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> ServerInfo | None:
    path = Path(data_dir).absolute() / STATE_FILE
    if not path.is_file():
        return None
    return ServerInfo.model_validate_json(path.read_text())


def status(data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> ServerInfo | None:
    """The server started from ``data_dir`` if its process is alive and healthy, else None."""
    info = read_state(data_dir)
    if info is None or not _alive(info.pid):
        return None
    try:
        r = httpx.get(f"{info.url}/health", timeout=3.0)
        return info if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


def stop(data_dir: str | os.PathLike = DEFAULT_DATA_DIR) -> bool:
    """Stop the server started from ``data_dir`` (kill its process group); True if one was running."""
    info = read_state(data_dir)
    if info is None:
        return False
    was_alive = _alive(info.pid)
    if was_alive:
        _kill_group(info.pid)
    (Path(data_dir).absolute() / STATE_FILE).unlink(missing_ok=True)
    return was_alive


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m annotation.server", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("install", "start", "stop", "status"):
        s = sub.add_parser(name)
        s.add_argument("--venv", default=str(DEFAULT_VENV))
        s.add_argument("--data-dir", default=os.environ.get("RTT_LABELSTUDIO_DATA_DIR", str(DEFAULT_DATA_DIR)))
        if name == "start":
            s.add_argument("--port", type=int, default=int(os.environ.get("RTT_LABELSTUDIO_PORT", DEFAULT_PORT)))
    a = p.parse_args(argv)
    info: ServerInfo | None
    try:
        if a.cmd == "install":
            t0 = time.monotonic()
            exe = install(a.venv)
            print(f"Label Studio {LABEL_STUDIO_VERSION} ready: {exe} ({time.monotonic() - t0:.0f} s)")
        elif a.cmd == "start":
            info = start(a.data_dir, port=a.port, venv=a.venv)
            print(
                f"Label Studio up at {info.url} (pid {info.pid}, boot {info.boot_seconds:.1f} s, log {info.log_path})"
            )
            print(
                f"  log in as {info.username}; API: export LABEL_STUDIO_URL={info.url} "
                f"LABEL_STUDIO_API_KEY=<token in {Path(a.data_dir) / STATE_FILE}>"
            )
        elif a.cmd == "stop":
            print("stopped" if stop(a.data_dir) else "no running server for this data dir")
        else:
            info = status(a.data_dir)
            print(f"running at {info.url} (pid {info.pid})" if info else "not running")
            return 0 if info else 1
    except LabelStudioServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
