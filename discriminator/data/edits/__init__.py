"""Programmatic minimal-modification edits, one module per dataset family (:mod:`.ifeval`, :mod:`.muldimif`).

The families register their edits in :data:`~discriminator.data.edits.base.REGISTRY` when first needed;
:func:`edit_for` finds the edit of a rubric's rule. The shared oracle and primitives live in :mod:`.base`.
"""

from __future__ import annotations

from discriminator.data.edits.base import REGISTRY, EditFn
from rubrics.schema import Rubric, RuleVerifier

__all__ = ["edit_for", "supported_rules"]


def _load_families() -> None:
    """Register the edits of every family (on first use: their modules import :mod:`.base`, never this package)."""
    from discriminator.data.edits import ifeval, muldimif  # noqa: F401


def edit_for(rubric: Rubric) -> EditFn | None:
    _load_families()
    v = rubric.verifier
    if not isinstance(v, RuleVerifier):
        return None
    return REGISTRY.get((v.family, v.rule_id))


def supported_rules() -> list[str]:
    _load_families()
    return sorted(f"{f}:{r}" for f, r in REGISTRY)
