"""Every servable flow of the project, by deployment name (import paths, loaded lazily)."""

from __future__ import annotations

import importlib
from typing import Any

FLOWS: dict[str, str] = {
    "build-rubric-dataset": "flows.rubrics:build_rubric_dataset",
    "build-discriminator-data": "flows.data:build_discriminator_data",
    "push-for-review": "flows.review:push_for_review",
    "pull-reviews": "flows.review:pull_reviews",
    "train-discriminator": "flows.discriminator:train_discriminator",
    "evaluate-discriminator": "flows.discriminator:evaluate_discriminator",
    "export-discriminator": "flows.discriminator:export_discriminator",
    "train-policy": "flows.policy:train_policy",
    "evaluate-policy": "flows.policy:evaluate_policy",
    "rtt-pipeline": "flows.pipeline:rtt_pipeline",
    "experiment": "flows.experiment:experiment",
}


def load_flow(name: str) -> Any:
    """Import and return the flow object registered under ``name``."""
    try:
        target = FLOWS[name]
    except KeyError:
        raise KeyError(f"unknown flow {name!r}; known: {', '.join(FLOWS)}") from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)
