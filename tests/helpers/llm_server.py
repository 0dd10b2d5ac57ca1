"""Test servers for the LLM path.

* :func:`start_transformers_serve` — a REAL OpenAI-compatible server (``transformers serve``) on 127.0.0.1,
  serving a local model folder; waits for ``/v1/models``; :meth:`ServedModel.stop` kills it.
* :class:`ScriptedOpenAI` — a tiny scripted fake (``http.server`` thread) that answers ``/v1/chat/completions``
  with programmed statuses / delays and measures attempts and requests in flight (for retry, time-out and
  concurrency tests, where a real server cannot be told to fail).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----- the real server -----


@dataclass
class ServedModel:
    """A running ``transformers serve`` process (``model`` is the id to send: the served folder)."""

    base_url: str
    model: str
    process: subprocess.Popen
    log_path: Path
    startup_s: float

    def llm_config(self, **overrides: Any):
        """An :class:`rubrics.llm.LLMConfig` pointing at this server (fast-failing defaults for tests)."""
        from rubrics.llm import LLMConfig

        defaults: dict[str, Any] = {"timeout_s": 60.0, "max_retries": 2, "backoff_initial_s": 0.2, "max_tokens": 16}
        return LLMConfig(base_url=self.base_url, model=self.model, **{**defaults, **overrides})

    def log_tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)

    def __enter__(self) -> ServedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_transformers_serve(
    model_dir: str | os.PathLike,
    *,
    port: int | None = None,
    startup_timeout_s: float = 240.0,
    log_path: str | os.PathLike | None = None,
    threads: int | None = 1,
    extra_args: tuple[str, ...] = (),
) -> ServedModel:
    """Start ``transformers serve <model_dir>`` on 127.0.0.1 (CPU), wait until ``GET /v1/models`` answers 200.

    ``threads`` caps torch's CPU threads per generation: 1 avoids oversubscription when concurrent requests
    each run their own ``generate`` on a small shared machine (measured 3-6x faster than the default there)."""
    model_dir = str(Path(model_dir).resolve())
    port = port or free_port()
    log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="transformers-serve-", suffix=".log")[1])
    # /v1/models scans the hub cache and fails when the folder does not exist: give it an empty one.
    hub_cache = tempfile.mkdtemp(prefix="rtt-serve-hub-")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": hub_cache, "TOKENIZERS_PARALLELISM": "false"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        model_dir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--log-level",
        "warning",
        *extra_args,
    ]
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    served = ServedModel(f"http://127.0.0.1:{port}/v1", model_dir, proc, log_path, 0.0)
    try:
        wait_ready(served.base_url + "/models", startup_timeout_s, proc)
    except BaseException:
        served.stop()
        raise RuntimeError(f"transformers serve did not start; log {log_path}:\n{served.log_tail()}") from None
    served.startup_s = time.perf_counter() - t0
    return served


def wait_ready(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early when ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.25)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f}s")


def tiny_chat_model(path: str | os.PathLike) -> Path:
    """The tiny random Llama of ``tiny.py`` with sampling enabled by default: ``temperature=0`` requests decode
    greedily (empty text: special tokens), ``temperature>0`` ones sample garbage text."""
    from transformers import GenerationConfig

    from tests.helpers.tiny import tiny_causal_lm

    path = tiny_causal_lm(path)
    gen = GenerationConfig.from_pretrained(path)
    gen.do_sample, gen.temperature, gen.top_k = True, 1.0, 0
    gen.save_pretrained(path)
    return path


# ----- the scripted fake -----


@dataclass
class Reply:
    """One scripted answer: an HTTP ``status`` after ``delay_s``; 200 answers carry ``content``."""

    status: int = 200
    content: str = "YES"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None  # overrides the generated JSON body


def completion_body(content: str, model: str = "scripted") -> dict:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class ScriptedOpenAI:
    """A fake ``/v1/chat/completions`` on 127.0.0.1: answers follow ``script`` (then ``default``, or a
    ``responder(body, n)`` callable); records bodies, headers, attempts and the peak number in flight."""

    def __init__(
        self,
        script: list[Reply] | None = None,
        default: Reply | None = None,
        responder: Callable[[dict, int], Reply] | None = None,
    ):
        self.script = list(script or [])
        self.default = default or Reply()
        self.responder = responder
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def count(self) -> int:
        return len(self.bodies)

    def _next(self, body: dict) -> Reply:
        with self._lock:
            self.bodies.append(body)
            n = len(self.bodies)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.responder is not None:
                return self.responder(body, n)
            return self.script.pop(0) if self.script else self.default

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = fake._next(body)
                try:
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    if reply.status == 200:
                        payload = reply.body or completion_body(reply.content, body.get("model", "scripted"))
                    else:
                        payload = reply.body or {"error": {"message": f"scripted {reply.status}", "code": reply.status}}
                    self._send(reply.status, payload, reply.headers)
                finally:
                    fake._done()

        return Handler

    def start(self) -> ScriptedOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
