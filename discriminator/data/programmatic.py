"""Programmatic minimal-modification negatives for verifiable rubrics (the offline default, no LLM).

Each edit (:mod:`discriminator.data.edits`, one module per dataset family) is registered per
``(family, rule_id)``: ``edit(item, rubric, positive) -> Patch | None``. A
:class:`~discriminator.data.patch.Patch` records the exact characters it replaces, so the labels are exact.
Edits are *verifier-guided*: they propose candidate patches from smallest to largest (one comma, one word,
the fewest sentences...) and keep the first one the rule's own checker (``rubrics.rules.check``) rejects while
every other rule of the item keeps its verdict; when no candidate is clean, the first one that breaks the
target is returned and the collateral flips are reported by :func:`verify_pair`. Count rules use a
smallest-k search (exponential then binary) over "delete k units" / "duplicate k units", so they work for any
relation (at least / at most / exactly / between) without re-implementing the checker's arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from discriminator.data.edits import edit_for, supported_rules
from discriminator.data.edits.base import MAX_TRIES, EditContext, register, rule_passes
from discriminator.data.patch import Patch
from rubrics.schema import Rubric, RubricItem, RuleVerifier

__all__ = [
    "MAX_TRIES",
    "EditContext",
    "PairCheck",
    "ProgramEdit",
    "edit_for",
    "family_key",
    "make_negative",
    "register",
    "rule_passes",
    "supported_rules",
    "verify_pair",
]


def family_key(rubric: Rubric) -> str:
    """``"ifeval:punctuation:no_comma"``, ``"muldimif:Length/Words"``; ``"llm"`` for judged rubrics."""
    v = rubric.verifier
    return f"{v.family}:{v.rule_id}" if isinstance(v, RuleVerifier) else "llm"


# ----------------------------------------------------------------------------------------------- driver


@dataclass
class PairCheck:
    """Verification of a (positive, negative) pair for one target rubric."""

    target_pos: bool | None
    target_neg: bool | None
    collateral: list[str] = field(default_factory=list)  # other rubric ids whose verdict flipped
    unverified: list[str] = field(default_factory=list)  # other rubric ids without a rule checker

    @property
    def target_ok(self) -> bool:
        return self.target_pos is True and self.target_neg is False


def verify_pair(item: RubricItem, rubric: Rubric, positive: str, negative: str,
                verdicts: Callable[[Rubric, str], bool | None] | None = None) -> PairCheck:
    """Target must pass on the positive and fail on the negative; other rubrics' flips are listed."""
    prompt = item.instruction
    judge = verdicts or (lambda r, t: rule_passes(r, t, prompt))
    out = PairCheck(judge(rubric, positive), judge(rubric, negative))
    for r in item.rubrics:
        if r.id == rubric.id:
            continue
        a, b = judge(r, positive), judge(r, negative)
        if a is None or b is None:
            out.unverified.append(r.id)
        elif a != b:
            out.collateral.append(r.id)
    return out


@dataclass
class ProgramEdit:
    patch: Patch | None
    negative: str | None
    reason: str = ""  # why there is no negative ("unsupported rule", "no candidate broke the rule", ...)


def make_negative(item: RubricItem, rubric: Rubric, positive: str) -> ProgramEdit:
    """Run the registered edit for the rubric's rule; never raises for a bad candidate."""
    fn = edit_for(rubric)
    if fn is None:
        return ProgramEdit(None, None, "no programmatic edit for " + family_key(rubric))
    if rule_passes(rubric, positive, item.instruction) is not True:
        return ProgramEdit(None, None, "positive does not satisfy the rubric")
    out = fn(item, rubric, positive)
    if out is None:
        return ProgramEdit(None, None, "no candidate edit broke the rule")
    if isinstance(out, str):
        return ProgramEdit(None, out)
    return ProgramEdit(out, out.apply(positive))
