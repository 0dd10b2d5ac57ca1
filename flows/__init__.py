"""Orchestration (stage 6): every stage as a Prefect flow, the whole pipeline, serving and deploying, and the
``rtt`` command line (:mod:`flows.cli`). The only package that imports Prefect.

:data:`flows.registry.FLOWS` names every flow by its deployment name (``build-rubric-dataset`` ...
``rtt-pipeline``, ``experiment``); :mod:`~flows.pipeline` chains the stage flows (parameters in
:mod:`~flows.pipeline_params`); :mod:`~flows.serve` and :mod:`~flows.deploy` run them as deployments
(``rtt serve``, ``rtt deploy``); :mod:`~flows.cli_docs` writes the generated reference pages. Flow modules import
Prefect at import time, so nothing is imported here.
"""

__all__ = [
    "artifacts",
    "cli",
    "cli_docs",
    "data",
    "deploy",
    "discriminator",
    "experiment",
    "param_docs",
    "pipeline",
    "pipeline_params",
    "pipeline_report",
    "policy",
    "prefect_local",
    "registry",
    "review",
    "rubrics",
    "serve",
    "server_process",
    "stage_outputs",
    "subprocess_launch",
]
