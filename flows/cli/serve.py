"""``rtt serve`` and ``rtt deploy``: every flow of the project as a Prefect deployment, triggerable from the Prefect
UI - served in-process (``serve``) or registered to work pools for workers on other machines (``deploy``)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

CONFIG_HELP = "Pipeline YAML whose stages give the deployments' default parameters (default: configs/demo.yaml)."
PORT_HELP = (
    "Prefect server port: target the server answering on HOST:PORT, or start one there (its UI calling "
    "this port; stopped on exit). Without it: the server of PREFECT_API_URL."
)
NO_SERVER = (
    "no Prefect server configured: pass --port 4200 (rtt starts or targets a server there), or start one "
    "with `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
)


def connect(host: str, port: int | None):
    """Point this process at the server of ``--host/--port`` (started when none answers) before Prefect is
    imported; returns the started server (None when targeted or configured by PREFECT_API_URL)."""
    from flows.cli.common import fail
    from flows.cli.pipeline import prepare_env

    prepare_env()
    if port is None:
        return None
    from rich.console import Console

    from flows.server_process import ServerStartError, ensure_server

    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    log = home / f"rtt-server-{port}.log"
    err = Console(stderr=True)
    try:
        server, warnings = ensure_server(host, port, log)
    except ServerStartError as exc:
        fail(str(exc))
    for w in warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False, soft_wrap=True)
    if server.proc is not None:
        err.print(
            f"started a Prefect server on {server.url} (log {log}); it stops with this command",
            highlight=False,
            soft_wrap=True,
        )
        return server
    return None


def load_params(config: Path | None, run_dir: str | None):
    from flows.cli.pipeline import DEMO_CONFIG, fail
    from flows.pipeline import PipelineParams

    cfg = config or (DEMO_CONFIG if DEMO_CONFIG.is_file() else None)
    try:
        return cfg, PipelineParams.from_yaml(cfg, [f"run_dir={run_dir}"] if run_dir else [])
    except ValueError as exc:
        fail(str(exc))


def check_api(only: list[str]) -> None:
    from flows.cli.common import fail
    from flows.registry import FLOWS
    from flows.serve import api_problem, api_url

    if not api_url():
        fail(NO_SERVER)
    unknown = sorted(set(only) - set(FLOWS))
    if unknown:
        fail(f"unknown flow(s) {', '.join(unknown)}; known: {', '.join(FLOWS)}")
    problem = api_problem()
    if problem:
        fail(f"cannot reach the Prefect API at {api_url()}: {problem}")


def register(app: typer.Typer) -> None:
    """Add ``rtt serve`` and ``rtt deploy`` to the main ``rtt`` app."""

    @app.command("serve")
    def serve(
        config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        run_dir: str | None = typer.Option(None, "--run-dir", "-o", help="Override the config's run_dir."),
        only: list[str] = typer.Option([], "--only", help="Serve only this deployment (repeatable)."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Flow runs executed at the same time."),
        tag: list[str] = typer.Option([], "--tag", help="Extra tag on every deployment (repeatable)."),
        port: int | None = typer.Option(None, "--port", "-p", min=1, max=65535, help=PORT_HELP),
        host: str = typer.Option("127.0.0.1", "--host", help="Host of the Prefect server of --port."),
        describe: str | None = typer.Option(
            None,
            "--describe",
            help="Print the run form of this deployment "
            "(field, type, default, bounds, description) as markdown and exit.",
        ),
    ) -> None:
        """Serve all flows (every stage and the whole pipeline) as deployments of a Prefect server; trigger them
        from the UI's Deployments page. Runs execute in subprocesses of this command. Stop with Ctrl-C or SIGTERM
        (a server started by --port stops too)."""
        if describe is not None:
            from flows.cli.common import fail
            from flows.registry import FLOWS

            if describe not in FLOWS:
                fail(f"unknown deployment {describe!r}; known: {', '.join(FLOWS)}")
            from flows.param_docs import markdown

            typer.echo(markdown(describe), nl=False)
            return
        server = connect(host, port)
        try:
            from rich.console import Console

            from flows.cli.common import fail
            from flows.registry import FLOWS
            from flows.serve import ServeError, api_url, serve_all, ui_url

            cfg, params = load_params(config, run_dir)
            check_api(only)
            names = only or list(FLOWS)
            err = Console(stderr=True)
            err.print(
                f"serving {len(names)} deployments ({', '.join(names)}) on {api_url()}; defaults from "
                f"{cfg or 'built-in parameters'} (run_dir {params.root}); UI: {ui_url()}/deployments",
                highlight=False,
                soft_wrap=True,
            )
            try:
                received = serve_all(params, only=only or None, limit=limit, tags=tag or None)
            except ServeError as exc:
                fail(str(exc))
            err.print(f"stopped ({received or 'runner finished'})", highlight=False)
        finally:
            if server is not None:
                server.stop()

    @app.command("deploy")
    def deploy(
        work_pool: str = typer.Option(
            ...,
            "--work-pool",
            "-w",
            help="Work pool of the deployments (created as a process pool when missing, unless --no-create-pool).",
        ),
        training_pool: str | None = typer.Option(
            None,
            "--training-pool",
            help="Work pool of the training "
            "stages (train-discriminator, train-policy, evaluate-policy), "
            "e.g. a GPU node's; default: --work-pool.",
        ),
        job_vars: Path | None = typer.Option(
            None,
            "--job-vars",
            help="YAML of job variables by key: default, training, or a deployment name (env, working_dir, ...).",
        ),
        env: list[str] = typer.Option([], "--env", help="KEY=VALUE in the env of every deployment (repeatable)."),
        training_env: list[str] = typer.Option(
            [],
            "--training-env",
            help="KEY=VALUE in the env of the training stages only, e.g. CUDA_VISIBLE_DEVICES=0,1 (repeatable).",
        ),
        working_dir: str | None = typer.Option(
            None, "--working-dir", help="Working directory of the flow runs on the worker's machine."
        ),
        create_pool: bool = typer.Option(
            True, "--create-pool/--no-create-pool", help="Create missing pools as process pools."
        ),
        config: Path | None = typer.Option(None, "--config", "-c", help=CONFIG_HELP),
        run_dir: str | None = typer.Option(
            None,
            "--run-dir",
            "-o",
            help="Override the config's run_dir (a folder every worker sees, e.g. on a shared file system).",
        ),
        only: list[str] = typer.Option([], "--only", help="Deploy only this deployment (repeatable)."),
        tag: list[str] = typer.Option([], "--tag", help="Extra tag on every deployment (repeatable)."),
        port: int | None = typer.Option(
            None,
            "--port",
            "-p",
            min=1,
            max=65535,
            help=PORT_HELP + " A server started here stops when the command ends: use it only to target.",
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Host of the Prefect server of --port."),
    ) -> None:
        """Register the deployments of `rtt serve` to Prefect work pools: a worker on any machine (`prefect worker
        start --pool NAME --type process`) picks up the runs triggered from the UI. Job variables (env such as
        CUDA_VISIBLE_DEVICES, working_dir) are set per deployment."""
        from flows.cli.common import fail

        if port is not None:
            from flows.server_process import healthy

            if not healthy(host, port):
                fail(
                    f"no Prefect server answers on {host}:{port}: start it first (`rtt serve --port {port}` or "
                    "`prefect server start`), deployments must outlive this command"
                )
        connect(host, port)
        from rich.console import Console

        from flows.deploy import DeployError, DeployPlan, JobVariables, deploy_all

        cfg, params = load_params(config, run_dir)
        check_api(only)

        def pairs(items: list[str], what: str) -> dict[str, str]:
            out = {}
            for item in items:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    fail(f"{what} {item!r}: expected KEY=VALUE")
                out[key] = value
            return out

        try:
            plan = (
                DeployPlan.from_yaml(job_vars, work_pool=work_pool, training_pool=training_pool)
                if job_vars
                else DeployPlan(work_pool=work_pool, training_pool=training_pool)
            )
            jv = dict(plan.job_variables)
            if env or working_dir:
                base = jv.get("default", JobVariables())
                jv["default"] = base.model_copy(
                    update={
                        "env": {**base.env, **pairs(env, "--env")},
                        **({"working_dir": working_dir} if working_dir else {}),
                    }
                )
            if training_env:
                base = jv.get("training", JobVariables())
                jv["training"] = base.model_copy(update={"env": {**base.env, **pairs(training_env, "--training-env")}})
            plan = plan.model_copy(update={"job_variables": jv})
            rows = deploy_all(
                params, plan, only=only or None, tags=tag or None, pool_type="process" if create_pool else None
            )
        except DeployError as exc:
            fail(str(exc))
        from rich.table import Table

        table = Table("deployment", "pool", "job variables", title=f"defaults from {cfg or 'built-in parameters'}")
        for r in rows:
            table.add_row(r["deployment"], r["pool"], str(r["job_variables"] or ""))
        Console().print(table)
        pools = sorted({r["pool"] for r in rows})
        Console(stderr=True).print(
            "start a worker per pool on the machine that should run it: "
            + "; ".join(f"prefect worker start --pool {p} --type process" for p in pools),
            highlight=False,
            soft_wrap=True,
        )
