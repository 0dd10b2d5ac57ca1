"""The learning experiment (``rtt experiment``, Prefect flow ``experiment``, ``benchmarks/bench_learning.py``): one
policy trained under several arms (GRPO, RTT-GRPO, controls) x seeds, evaluated on held-out prompts.

Modules: :mod:`~grpo.experiment.config` (:class:`ExperimentConfig`, :class:`ArmSpec`, the presets,
:func:`load_experiment`; torch-free), :mod:`~grpo.experiment.task` (the prompts and their rule rubrics,
:func:`build_task`; torch-free), :mod:`~grpo.experiment.runner` (train and evaluate each arm x seed:
:func:`run_experiment`, :func:`run_one`), :mod:`~grpo.experiment.relevance` (the arms' relevance sources),
:mod:`~grpo.experiment.metrics` (diversity and drift), :mod:`~grpo.experiment.stats` (paired bootstrap
comparisons), :mod:`~grpo.experiment.report` (:func:`write_report`), and the testbed's tiny LM
(:mod:`~grpo.experiment.testbed_lm`, :mod:`~grpo.experiment.testbed_corpus`). The names below are imported on first
use, so importing the torch-free modules does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ArmSpec": "config",
    "ExperimentConfig": "config",
    "ExperimentConfigError": "config",
    "load_experiment": "config",
    "TaskConfig": "task",
    "build_task": "task",
    "run_experiment": "runner",
    "run_one": "runner",
    "write_report": "report",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
