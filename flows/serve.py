"""Serve every flow of :data:`flows.registry.FLOWS` as a Prefect deployment (``rtt serve``).

``prefect.serve`` registers the deployments with the Prefect server of ``PREFECT_API_URL`` and keeps polling
it; a run triggered from the UI (or ``prefect deployment run 'train-policy/train-policy'``) executes in a
subprocess of this server process. Each deployment's default parameters are the stage as the pipeline of the
given config would run it (absolute paths under its ``run_dir``), so "Quick run" in the UI works as is, and
every field can be edited in the run form (the pydantic parameter models become the form).

Long stages (discriminator and policy training) are launched through ``accelerate launch`` by their flows when
their config asks for several processes (:mod:`flows.subprocess_launch`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from pathlib import Path
from typing import Any

from prefect.runner import Runner

from flows.pipeline import PipelineParams, stage_defaults
from flows.registry import FLOWS, load_flow

TAGS = ("rtt",)


class ServeError(RuntimeError):
    """``rtt serve`` cannot start (no API configured, unknown flow name...)."""


def api_url() -> str | None:
    """The Prefect API URL in effect (environment or active profile), None in ephemeral mode."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def api_problem() -> str | None:
    """None when the configured API answers its health check, else why not."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            err = client.api_healthcheck()
    except Exception as exc:  # noqa: BLE001 - reported to the user
        return f"{type(exc).__name__}: {exc}"
    return f"{type(err).__name__}: {err}" if err else None


def ui_url() -> str | None:
    """The UI address of the configured server (``.../api`` -> the UI root), None without a server."""
    from prefect.settings import get_current_settings

    s = get_current_settings()
    if s.ui_url:
        return str(s.ui_url).rstrip("/")
    url = s.api.url
    return url[: -len("/api")] if url and url.endswith("/api") else url


def absolute(params: PipelineParams) -> PipelineParams:
    """``params`` with ``run_dir`` and the rubric source paths absolute (deployment runs start elsewhere)."""
    sources = [
        s.model_copy(update={"path": str(Path(s.path).resolve())}) if Path(s.path).exists() else s
        for s in params.rubrics.sources
    ]
    return params.model_copy(
        update={"run_dir": str(params.root), "rubrics": params.rubrics.model_copy(update={"sources": sources})}
    )


def summary(doc: str | None) -> str | None:
    """The first paragraph of a flow's docstring on one line (the deployment's description in the UI)."""
    if not doc:
        return None
    return " ".join(doc.strip().split("\n\n")[0].split())


def build_deployments(
    params: PipelineParams | None = None,
    only: list[str] | None = None,
    tags: list[str] | None = None,
    version: str | None = None,
) -> list[Any]:
    """One ``RunnerDeployment`` per registered flow (named like the registry key), with default parameters."""
    from prefect.types.entrypoint import EntrypointType

    unknown = sorted(set(only or ()) - set(FLOWS))
    if unknown:
        raise ServeError(f"unknown flow(s) {', '.join(unknown)}; known: {', '.join(FLOWS)}")
    params = absolute(params or PipelineParams())
    defaults = stage_defaults(params)
    # the form trains on the reviewed spans as soon as a pull has written them
    defaults["train-discriminator"] = {
        "params": json.loads(params.disc_train_params(deployment=True).model_dump_json(exclude_none=True))
    }
    deployments = []
    for name in FLOWS:
        if only and name not in only:
            continue
        fl = load_flow(name)
        deployments.append(
            fl.to_deployment(
                name=name,
                parameters=defaults.get(name),
                description=summary(fl.description),
                tags=[*TAGS, *(tags or [])],
                version=version,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return deployments


class GracefulRunner(Runner):
    """A Prefect runner that stops cleanly on SIGTERM and SIGINT.

    Prefect's own SIGTERM handler calls the synchronous ``Runner.stop()`` from inside the running event loop,
    which only creates the coroutine ``Runner.astop`` (never awaited: a RuntimeWarning) and then exits in the
    middle of the loop. Here both signals schedule ``astop()`` on the loop (thread-safe wake-up): the polling
    loop ends, the runner's context exits normally and ``start()`` returns; ``received`` names the signal."""

    received: str | None = None
    _stop_task: Any = None

    def handle_sigterm(self, signum: int | None = None, frame: Any = None) -> None:
        self.received = signal.Signals(signum).name if signum else "SIGTERM"
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # still registering the deployments: stop right there
            raise StopServing(self.received) from None
        loop.call_soon_threadsafe(self._stop_soon, loop)

    def install_handlers(self) -> None:
        """Route SIGTERM and SIGINT to :meth:`handle_sigterm` (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self.handle_sigterm)

    def _stop_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._stop_task is not None:
            return
        if not self.started:  # start() has not entered its loop yet: try again shortly
            loop.call_later(0.2, self._stop_soon, loop)
            return
        self._logger.info("%s received, stopping the runner", self.received)
        self._stop_task = loop.create_task(self.astop())

    async def start(self, *args: Any, **kw: Any) -> None:
        self.install_handlers()  # Runner.start installs its SIGTERM one again: the same method
        await super().start(*args, **kw)


class StopServing(BaseException):
    """A signal arrived before the runner's loop started (raised from the handler, caught by :func:`serve_all`)."""


def serve_all(
    params: PipelineParams | None = None,
    *,
    only: list[str] | None = None,
    limit: int | None = None,
    tags: list[str] | None = None,
) -> str | None:
    """Register the deployments and serve them until SIGTERM / SIGINT (needs a Prefect server: PREFECT_API_URL).
    Returns the name of the signal that stopped it."""
    if not api_url():
        raise ServeError(
            "no Prefect server configured: run `rtt serve --port 4200` (starts one), or start one with "
            "`prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    runner = GracefulRunner(limit=limit, pause_on_shutdown=False)
    runner.install_handlers()
    try:
        for deployment in build_deployments(params, only, tags):
            runner.add_deployment(deployment)
        asyncio.run(runner.start())
    except StopServing as stop:
        return str(stop)
    return runner.received
