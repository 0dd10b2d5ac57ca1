"""The whole RTT pipeline as one Prefect flow, ``rtt-pipeline``: every stage flow chained as a subflow.

    rubrics -> data -> [review: push + pull, only with a Label Studio URL] -> disc-train -> disc-eval
            -> disc-export -> policy-train (RTT-GRPO) -> policy-eval (base and trained policy)

Each stage is one task of this flow that calls the stage's own flow (so the stage's tasks, logs and artifacts
show up nested under it in the UI). Resuming: the stage tasks persist their results under
``<run_dir>/.prefect/results`` with ``cache_policy=INPUTS + TASK_SOURCE``; the inputs of a stage are its
parameters plus a fingerprint of what its upstream stages wrote (their completion files). A re-run of the same
parameters therefore finishes every completed stage in state ``Cached`` without recomputing it; a stage whose
parameters or upstream outputs changed runs again, and so does every stage after it. A stage whose completion
files are missing, unreadable or changed since it wrote them (:mod:`flows.stage_outputs`) is recomputed
(``refresh_cache``), with one log line saying why. ``resume=False`` recomputes everything. Inside a stage the
discriminator training resumes from its last checkpoint when the run was interrupted with the same config.

Retries: only stages that may talk to a service (hub sources, LLM endpoints, Label Studio) are retried, and only
on transient errors (connection refused / reset, time-outs, HTTP 5xx); a bad file or parameter fails at once.
``retries.timeout_seconds`` bounds any stage. Pulling reviews is never cached (annotators keep working).

Artifacts: a table of the stages (status, time, key numbers) and the final markdown report (also written to
``<run_dir>/report.md`` with ``report.json`` and ``plots/summary.png``), keyed ``rtt-pipeline-<name>``.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE
from pydantic import BaseModel

from discriminator.checkpoints import checkpoints, newest_intact
from flows.pipeline_params import (  # noqa: F401 - re-exported: the flow's public names
    DEMO_DATA,
    DEMO_SOURCES,
    DISC_CONFIGS,
    ROOT,
    SERVICE_STAGES,
    STAGES,
    PipelineParams,
    StageName,
    demo_sources,
    describe_errors,
)
from flows.pipeline_report import PipelineReport, StageRecord, publish_report, stage_numbers

# ---------------------------------------------------------------------------------------------- helpers


def is_transient(exc: BaseException | None) -> bool:
    """Worth another try: connection problems, time-outs, HTTP 5xx / 429, or an error that says it is retryable
    (``exc.retryable``, e.g. :class:`annotation.project.ReviewError`); causes of wrapped errors are checked too."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "retryable", None) is not None:
            return bool(exc.retryable)
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return True
        if {c.__name__ for c in type(exc).__mro__} & TRANSIENT_NAMES:
            return True
        status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(status, int) and (status >= 500 or status == 429):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


#: exception class names of httpx / openai / requests meaning "the service did not answer properly"
TRANSIENT_NAMES = frozenset(
    {
        "TransportError",
        "TimeoutException",
        "NetworkError",
        "APIConnectionError",
        "APITimeoutError",
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
    }
)


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry only :func:`is_transient` failures."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as e:  # noqa: BLE001 - the failure itself
            exc = e
    return is_transient(exc)


def fingerprint(*paths: Path) -> str:
    """A short digest of files (a stage's completion files): changes whenever the stage wrote new outputs."""
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p).encode())
        h.update(p.read_bytes() if p.is_file() else b"<missing>")
    return h.hexdigest()[:16]


def _resolve_result(value: Any) -> Any:
    """An async stage flow called from this sync task returns a coroutine: run it to completion."""
    import inspect

    if inspect.isawaitable(value):
        from prefect.utilities.asyncutils import run_coro_as_sync

        return run_coro_as_sync(value)
    return value


# ---------------------------------------------------------------------------------------------- stage tasks
# Each task only calls its stage flow; ``upstream`` (fingerprint of the inputs on disk) is part of the cache key.


@task(name="rubrics")
def rubrics_stage(params: Any, upstream: str = "") -> Any:
    from flows.rubrics import build_rubric_dataset

    return build_rubric_dataset(params)


@task(name="data")
def data_stage(params: Any, upstream: str) -> Any:
    from flows.data import build_discriminator_data

    return _resolve_result(build_discriminator_data(params))


@task(name="review-push")
def push_stage(params: Any, upstream: str) -> Any:
    from flows.review import push_for_review

    return push_for_review(params)


@task(name="review-pull")
def pull_stage(params: Any, upstream: str) -> Any:
    from flows.review import pull_reviews

    return pull_reviews(params)


@task(name="disc-train")
def disc_train_stage(params: Any, upstream: str) -> dict[str, Any]:
    from flows.discriminator import train_discriminator

    return train_discriminator(params.model_copy(update=_disc_restart(params, upstream)))


@task(name="disc-eval")
def disc_eval_stage(params: Any, upstream: str) -> dict[str, Any]:
    from flows.discriminator import evaluate_discriminator

    return evaluate_discriminator(params)


@task(name="disc-export")
def export_stage(params: Any, upstream: str) -> str:
    from flows.discriminator import export_discriminator

    return export_discriminator(params)


@task(name="policy-train")
def policy_train_stage(params: Any, upstream: str) -> dict[str, Any]:
    from flows.policy import train_policy

    return train_policy(params)


@task(name="policy-eval")
def policy_eval_stage(cfg: Any, upstream: str) -> Any:
    from flows.policy import evaluate_policy

    if not Path(cfg.model).exists():  # a config name such as ``smollm2``: the offline model folder
        from grpo.train_config import ModelSection

        cfg = cfg.model_copy(update={"model": ModelSection(name_or_path=cfg.model).resolve()})
    return evaluate_policy(cfg)


@task(name="pipeline-report", cache_policy=NO_CACHE)
def report_stage(report: PipelineReport) -> PipelineReport:
    return publish_report(report)


UPSTREAM_MARK = ".rtt-upstream"


def disc_restart(out: Path, config_yaml: str, upstream: str) -> dict[str, bool]:
    """How the discriminator stage starts in ``out``: ``{}`` (fresh folder), resume from the last checkpoint
    (same config, same upstream data, and no summary newer than that checkpoint: an interrupted run), or start
    over (old checkpoints removed). A ``train_summary.json`` left by an earlier *finished* run is older than the
    checkpoints of the interrupted one and does not force a restart from step 0."""
    if not checkpoints(out):
        out.mkdir(parents=True, exist_ok=True)
        (out / UPSTREAM_MARK).write_text(upstream, encoding="utf-8")
        return {}
    usable = newest_intact(out, set_aside=False).path  # (cut while saving or corrupt: not usable)
    if usable is None:
        (out / UPSTREAM_MARK).write_text(upstream, encoding="utf-8")
        return {"resume": False, "overwrite": True}
    newest = usable.stat().st_mtime
    summary = out / "train_summary.json"
    finished = summary.is_file() and summary.stat().st_mtime >= newest
    same = (
        (out / "config.yaml").is_file()
        and (out / "config.yaml").read_text(encoding="utf-8") == config_yaml
        and (out / UPSTREAM_MARK).is_file()
        and (out / UPSTREAM_MARK).read_text(encoding="utf-8") == upstream
        and not finished
    )
    if same:
        return {"resume": True, "overwrite": False}
    (out / UPSTREAM_MARK).write_text(upstream, encoding="utf-8")
    return {"resume": False, "overwrite": True}


def _disc_restart(params: Any, upstream: str) -> dict[str, bool]:
    from discriminator.config import TrainConfig

    cfg = TrainConfig.from_yaml(params.config, **params.overrides)
    decision = disc_restart(Path(cfg.out), cfg.dump_yaml(), upstream)
    if decision.get("resume"):
        get_run_logger().info("resuming the interrupted discriminator run in %s from its last checkpoint", cfg.out)
    return decision


# ---------------------------------------------------------------------------------------------- the flow


class _Runner:
    """Runs stage tasks with the pipeline's cache / retry / timeout options and records what happened."""

    def __init__(self, params: PipelineParams, report: PipelineReport):
        self.params, self.report = params, report
        self.store = params.path("results")
        self.log = get_run_logger()
        self.earlier = report.previous_seconds()

    def run(
        self, stage: str, fn, args: tuple, *, done: list[Path], label: str | None = None, cache: bool = True
    ) -> Any:
        from flows.stage_outputs import output_problem, record_outputs

        label = label or stage
        p = self.params
        problem = output_problem(self.store, label, done) if p.resume and cache else None
        if problem and all(f.exists() for f in done):  # (missing files are the normal "not run yet" case)
            self.log.warning("[verify] %s: %s; recomputing the stage", label, problem)
        refresh = not p.resume or problem is not None
        opts: dict[str, Any] = {
            "persist_result": True,
            "result_storage": self.store,
            "cache_result_in_memory": True,
            "cache_policy": (INPUTS + TASK_SOURCE) if cache else NO_CACHE,
            "refresh_cache": refresh,
            "timeout_seconds": p.retries.timeout_seconds.get(stage),
        }
        if stage in SERVICE_STAGES:
            opts.update(
                retries=p.retries.retries,
                retry_delay_seconds=p.retries.retry_delay_seconds,
                retry_condition_fn=retry_if_transient,
            )
        self.log.info("[stage] %s start", label)
        t0 = time.perf_counter()
        state = fn.with_options(**opts)(*args, return_state=True)
        seconds = time.perf_counter() - t0
        if state.is_failed() or state.is_crashed() or state.is_cancelled():
            self.report.stages.append(
                StageRecord(stage=label, status="failed", seconds=seconds, note=(state.message or "")[:500])
            )
            self.log.error("[stage] %s failed after %.1f s: %s", label, seconds, state.message)
            state.result()  # raises the stage's exception
        result = state.result()
        status = "cached" if state.name == "Cached" else "ran"
        if status == "ran":
            record_outputs(self.store, label, done)
        rec = StageRecord(
            stage=label,
            status=status,
            seconds=seconds,
            **stage_numbers(stage, result),
            computed_seconds=self.earlier.get(label) if status == "cached" else None,
        )
        self.report.stages.append(rec)
        self.log.info("[stage] %s %s in %.1f s%s", label, status, seconds, f": {rec.summary()}" if rec.numbers else "")
        return result

    def skip(self, stage: str, note: str) -> None:
        self.report.stages.append(StageRecord(stage=stage, status="skipped", note=note))
        self.log.info("[stage] %s skipped: %s", stage, note)


# The flow's default parameters, built once at import exactly as a call in the signature would be; Prefect reads
# this default from the signature for the run form / parameter schema.
_DEFAULT_PARAMS = PipelineParams()


@flow(name="rtt-pipeline", log_prints=False)
def rtt_pipeline(params: PipelineParams = _DEFAULT_PARAMS) -> PipelineReport:
    """The whole pipeline: rubric dataset -> discriminator data -> (review) -> discriminator train / eval /
    export -> RTT-GRPO policy training -> policy evaluation; resumable, with a final report.

    Args:
        params: Every stage's settings, the run folder and the retry policy (defaults: the offline demo).
    """
    log = get_run_logger()
    t0 = time.time()
    for warning in params.check():
        log.warning(warning)
    root = params.root
    root.mkdir(parents=True, exist_ok=True)
    report = PipelineReport(name=params.name, run_dir=str(root), started=t0)
    run = _Runner(params, report)
    log.info("pipeline %r in %s (resume=%s)", params.name, root, params.resume)
    try:
        _run_stages(params, run)
    except BaseException as exc:
        report.failed = f"{type(exc).__name__}: {exc}"[:2000]
        report.seconds = time.time() - t0
        _try_publish(report)
        raise
    report.seconds = time.time() - t0
    state = report_stage(report, return_state=True)
    final = state.result()
    log.info("report: %s", final.files.get("report.md"))
    return final


def _try_publish(report: PipelineReport) -> None:
    try:
        publish_report(report)
    except Exception as exc:  # noqa: BLE001 - reporting must not hide the stage's error
        get_run_logger().warning("could not write the report of the failed run: %s", exc)


def _run_stages(p: PipelineParams, run: _Runner) -> None:
    rb, data = p.path("rubrics"), p.path("data")
    rb_done = [rb / "report.json"]
    rubrics = run.run("rubrics", rubrics_stage, (p.rubrics_params(), ""), done=rb_done)
    run.report.outputs["rubrics"] = str(rb)
    if not p.wants("data"):
        return _skip_rest(run, "data", p)
    data_done = [data / "report.json", data / "spans.parquet"]
    run.run("data", data_stage, (p.data_params(), fingerprint(*rb_done)), done=data_done)
    run.report.outputs["data"] = str(data)
    rows_fp = fingerprint(*data_done)

    if not p.wants("review"):
        return _skip_rest(run, "review", p)
    if p.review.resolved_url():
        run.run("review", push_stage, (p.push_params(), rows_fp), done=[], label="review-push")
        run.run("review", pull_stage, (p.pull_params(), rows_fp), done=[], label="review-pull", cache=False)
        rows_fp = fingerprint(p.path("reviewed"))
        run.report.outputs["review"] = str(p.path("reviewed"))
    else:
        run.skip(
            "review",
            "no Label Studio URL configured (set LABEL_STUDIO_URL or review.url); the "
            "discriminator trains on the automatic labels",
        )
    del rubrics

    if not p.wants("disc-train"):
        return _skip_rest(run, "disc-train", p)
    disc = p.path("disc")
    train_done = [disc / "train_summary.json", disc / "model" / "config.json"]
    run.run("disc-train", disc_train_stage, (p.disc_train_params(), rows_fp), done=train_done)
    run.report.outputs["discriminator"] = str(disc)
    disc_fp = fingerprint(train_done[0])

    if not p.wants("disc-eval"):
        return _skip_rest(run, "disc-eval", p)
    eval_done = [p.path("disc-eval") / "metrics.json"]
    ev = run.run("disc-eval", disc_eval_stage, (p.disc_eval_params(), disc_fp), done=eval_done)
    run.report.disc_eval = ev
    run.report.outputs["discriminator evaluation"] = str(p.path("disc-eval"))

    if not p.wants("disc-export"):
        return _skip_rest(run, "disc-export", p)
    export_done = [p.path("export") / "README.md", p.path("export") / "config.json"]
    run.run("disc-export", export_stage, (p.export_params(), fingerprint(*eval_done, train_done[0])), done=export_done)
    run.report.outputs["exported discriminator"] = str(p.path("export"))
    export_fp = fingerprint(*export_done)

    if not p.wants("policy-train"):
        return _skip_rest(run, "policy-train", p)
    pol = p.path("policy")
    pol_done = [pol / "summary.json"]
    summary = run.run(
        "policy-train", policy_train_stage, (p.policy_params(), fingerprint(*rb_done) + export_fp), done=pol_done
    )
    run.report.policy_train = summary
    run.report.outputs["policy"] = str(pol)

    if not p.wants("policy-eval"):
        return _skip_rest(run, "policy-eval", p)
    if p.policy_eval.compare_base:
        base_cfg = p.policy_eval_params(p.policy_config().model.name_or_path, p.path("policy-eval-base"))
        base = run.run(
            "policy-eval",
            policy_eval_stage,
            (base_cfg, fingerprint(*rb_done)),
            done=[p.path("policy-eval-base") / "report.json"],
            label="policy-eval-base",
        )
        run.report.policy_eval["base"] = base
        run.report.outputs["base policy evaluation"] = str(p.path("policy-eval-base"))
    model = summary.get("saved_model") or str(pol / "final")
    trained = run.run(
        "policy-eval",
        policy_eval_stage,
        (p.policy_eval_params(model, p.path("policy-eval")), fingerprint(*rb_done, *pol_done)),
        done=[p.path("policy-eval") / "report.json"],
    )
    run.report.policy_eval["trained"] = trained
    run.report.outputs["policy evaluation"] = str(p.path("policy-eval"))
    return None


def planned_stages(p: PipelineParams) -> list[str]:
    """The stage labels a run of ``p`` reports, in order (for progress displays)."""
    out: list[str] = []
    for stage in STAGES:
        if stage == "review" and p.review.resolved_url() and p.wants(stage):
            out += ["review-push", "review-pull"]
        elif stage == "policy-eval" and p.policy_eval.compare_base and p.wants(stage):
            out += ["policy-eval-base", "policy-eval"]
        else:
            out.append(stage)
    return out


def _skip_rest(run: _Runner, first: str, p: PipelineParams) -> None:
    for stage in STAGES[STAGES.index(first) :]:
        run.skip(stage, f"stop_after={p.stop_after}")


def stage_defaults(params: PipelineParams | None = None) -> dict[str, dict[str, Any]]:
    """Default parameters of every stage deployment: the stage as this pipeline would run it (JSON-ready)."""
    p = params or PipelineParams()

    def dump(m: BaseModel) -> dict[str, Any]:
        return json.loads(m.model_dump_json(exclude_none=True))

    out = {
        "build-rubric-dataset": {"params": dump(p.rubrics_params())},
        "build-discriminator-data": {"params": dump(p.data_params())},
        "train-discriminator": {"params": dump(p.disc_train_params())},
        "evaluate-discriminator": {"params": dump(p.disc_eval_params())},
        "export-discriminator": {"params": dump(p.export_params())},
        "train-policy": {"params": dump(p.policy_params())},
        "evaluate-policy": {"cfg": dump(p.policy_eval_params(str(p.path("policy") / "final"), p.path("policy-eval")))},
        "rtt-pipeline": {"params": dump(p)},
    }
    if p.review.resolved_url():
        out["push-for-review"] = {"params": dump(p.push_params())}
        out["pull-reviews"] = {"params": dump(p.pull_params())}
    else:
        pull = {
            "project": p.review_project(),
            "out": str(p.path("reviewed")),
            "base": str(p.path("data") / "spans.parquet"),
        }
        out["push-for-review"] = {
            "params": {"rows": str(p.path("data") / "spans.parquet"), "project": p.review_project()}
        }
        out["pull-reviews"] = {"params": pull}
    return out
