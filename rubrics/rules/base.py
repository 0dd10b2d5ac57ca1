"""Shared pieces of the rule registries: errors, the checker type and IFEval's strict/loose evaluation."""

from __future__ import annotations

from collections.abc import Callable

Checker = Callable[[str], bool]
"""A built rule: ``checker(response) -> followed``. Pure, reusable, safe to cache."""


class UnsupportedRule(KeyError):
    """No checker is registered for ``family:rule_id`` (the rubric then needs an LLM judge)."""

    def __init__(self, family: str, rule_id: str, reason: str = ""):
        self.family, self.rule_id, self.reason = family, rule_id, reason
        super().__init__(family, rule_id)

    def __str__(self) -> str:
        tail = f": {self.reason}" if self.reason else ""
        return f"unsupported rule family={self.family!r} rule_id={self.rule_id!r}{tail}"


class RuleArgumentError(ValueError):
    """A known rule got kwargs it cannot be built from (missing, unknown or ill-typed arguments).

    The checker registries name the rule (``family``, ``rule_id``); the rubric-text table
    (:func:`rubrics.rubric_text.check_rule`) names the offending argument ``arg`` (None: the rule id itself).
    """

    def __init__(self, reason: str, *, family: str | None = None, rule_id: str | None = None, arg: str | None = None):
        self.family, self.rule_id, self.arg, self.reason = family, rule_id, arg, reason
        message = f"{arg}: {reason}" if arg else reason
        super().__init__(f"rule {family}:{rule_id}: {message}" if family is not None else message)


def loose_variants(response: str) -> list[str]:
    """IFEval's eight loose-mode variants, in the official order.

    Original, ``*`` removed, first line removed, last line removed, both removed, and the three
    removals again with ``*`` deleted.
    """
    lines = response.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    return [
        response,
        response.replace("*", ""),
        first,
        last,
        both,
        first.replace("*", ""),
        last.replace("*", ""),
        both.replace("*", ""),
    ]


def evaluate(checker: Checker, response: str, *, loose: bool = False, variants: list[str] | None = None) -> bool:
    """Apply a checker as IFEval does: an empty response never follows; loose = any variant follows.

    ``variants`` lets a caller that checks many rules on one response compute the variants once.
    """
    if not response.strip():
        return False
    if not loose:
        return bool(checker(response))
    for variant in variants if variants is not None else loose_variants(response):
        if variant.strip() and checker(variant):
            return True
    return False
