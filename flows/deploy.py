"""``rtt deploy``: the deployments of ``rtt serve``, registered to Prefect work pools instead of served in-process.

A worker polls its pool (``prefect worker start --pool NAME --type process`` on any machine that has this project
installed and sees the run folder) and executes each triggered run in a subprocess, with the deployment's job
variables: ``env`` (``CUDA_VISIBLE_DEVICES``, ``NCCL_*``, ``HF_HOME``...), ``working_dir`` and, on Docker or
Kubernetes pools, their own fields (``image``, ``namespace``...), passed through as given.

Job variables come from a :class:`DeployPlan`: ``default`` applies to every deployment, ``training`` on top of it to
the GPU stages (:data:`TRAINING`), and a deployment's own entry last (``env`` maps are merged key by key). The
training stages can go to their own pool (``training_pool``): data stages on the machine with the UI, training on a
GPU node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flows.registry import FLOWS

#: the stages that want an accelerator: with ``training_pool`` set they go to that pool
TRAINING = ("train-discriminator", "train-policy", "evaluate-policy")
#: job variables of the process worker (other pool types accept their own fields)
PROCESS_VARIABLES = ("command", "env", "labels", "name", "stream_output", "working_dir")


class DeployError(RuntimeError):
    """``rtt deploy`` cannot register the deployments (bad plan, unknown pool type...)."""


class JobVariables(BaseModel):
    """Job variables of one deployment (fields of the work pool's base job template)."""

    model_config = ConfigDict(extra="allow")

    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment of the flow-run process, e.g. CUDA_VISIBLE_DEVICES, HF_HOME, NCCL_SOCKET_IFNAME.",
    )
    working_dir: str | None = Field(
        None,
        description="Working directory of the flow-run process on the worker's "
        "machine (relative run folders resolve against it); empty: the worker's.",
    )

    def dump(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=False)


class DeployPlan(BaseModel):
    """Which pool each deployment goes to, and its job variables."""

    model_config = ConfigDict(extra="forbid")

    work_pool: str = Field(min_length=1, description="Work pool of every deployment.")
    training_pool: str | None = Field(
        None,
        description="Work pool of the training stages (train-discriminator, "
        "train-policy, evaluate-policy); empty: work_pool.",
    )
    job_variables: dict[str, JobVariables] = Field(
        default_factory=dict,
        description="Job variables by key: "
        "default (every deployment), training (the training stages), or "
        "a deployment name; later keys win, env maps are merged.",
    )

    @model_validator(mode="after")
    def _keys(self) -> DeployPlan:
        unknown = sorted(set(self.job_variables) - {"default", "training", *FLOWS})
        if unknown:
            raise ValueError(
                f"job_variables: unknown key(s) {', '.join(unknown)}; use default, training or a "
                f"deployment name ({', '.join(FLOWS)})"
            )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path, **fields: Any) -> DeployPlan:
        """A YAML mapping of ``job_variables`` keys (``default``, ``training``, deployment names) to job variables,
        optionally under a top-level ``job_variables:`` with ``work_pool`` / ``training_pool`` next to it; keyword
        fields override the file's. Errors name the file and the field."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise DeployError(f"{path}: no such job-variables file") from None
        except yaml.YAMLError as exc:
            raise DeployError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise DeployError(f"{path}: expected a mapping, got {type(data).__name__}")
        if "job_variables" not in data:
            data = {"job_variables": data}
        data.update({k: v for k, v in fields.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errs = "; ".join(f"field {'.'.join(map(str, e['loc']))!r}: {e['msg']}" for e in exc.errors())
            raise DeployError(f"{path}: {errs}") from None

    def pool_of(self, name: str) -> str:
        return self.training_pool if self.training_pool and name in TRAINING else self.work_pool

    def variables_of(self, name: str) -> dict[str, Any]:
        """The merged job variables of deployment ``name``."""
        out: dict[str, Any] = {}
        for key in ("default", "training" if name in TRAINING else None, name):
            jv = self.job_variables.get(key) if key else None
            if jv is None:
                continue
            d = jv.dump()
            env = {**out.get("env", {}), **d.pop("env", {})}
            out.update(d)
            if env:
                out["env"] = env
        return out


def ensure_pool(name: str, pool_type: str = "process") -> bool:
    """Create the work pool ``name`` (default base job template of ``pool_type``) if missing; True if created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            pass
        else:
            if pool.type != pool_type:
                raise DeployError(f"work pool {name!r} exists with type {pool.type!r}, not {pool_type!r}")
            return False
        template: dict[str, Any] = {}
        if pool_type == "process":
            from prefect.workers.process import ProcessWorker

            template = ProcessWorker.get_default_base_job_template()
        else:
            raise DeployError(
                f"work pool {name!r} does not exist: create it first (`prefect work-pool create {name} "
                f"--type {pool_type}`), then deploy to it"
            )
        client.create_work_pool(WorkPoolCreate(name=name, type=pool_type, base_job_template=template))
        return True


def check_variables(plan: DeployPlan, names: list[str]) -> None:
    """Job variables that the pool's base job template does not know fail here, naming deployment and field."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        known: dict[str, set[str]] = {}
        for pool in {plan.pool_of(n) for n in names}:
            tmpl = client.read_work_pool(pool).base_job_template or {}
            known[pool] = set((tmpl.get("variables") or {}).get("properties") or {})
    for n in names:
        pool = plan.pool_of(n)
        bad = sorted(set(plan.variables_of(n)) - known[pool])
        if bad and known[pool]:
            raise DeployError(
                f"deployment {n}: job variable(s) {', '.join(bad)} unknown to work pool {pool!r} "
                f"(known: {', '.join(sorted(known[pool]))})"
            )


def deploy_all(
    params: Any,
    plan: DeployPlan,
    *,
    only: list[str] | None = None,
    tags: list[str] | None = None,
    pool_type: str | None = "process",
) -> list[dict[str, Any]]:
    """Register every (or ``only`` the named) deployment to its pool with its job variables; ``pool_type``
    creates missing pools of that type (None: they must exist). Returns one row per deployment."""
    from flows.serve import build_deployments

    deployments = build_deployments(params, only, tags)
    names = [d.name for d in deployments]
    for pool in dict.fromkeys(plan.pool_of(n) for n in names):
        if pool_type:
            ensure_pool(pool, pool_type)
    check_variables(plan, names)
    rows = []
    for dep in deployments:
        dep.work_pool_name = plan.pool_of(dep.name)
        dep.job_variables = plan.variables_of(dep.name)
        dep_id = dep.apply()
        rows.append(
            {
                "deployment": f"{dep.flow_name}/{dep.name}",
                "id": str(dep_id),
                "pool": dep.work_pool_name,
                "job_variables": dep.job_variables,
            }
        )
    return rows
