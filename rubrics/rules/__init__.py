"""Programmatic rubric checkers (``RuleVerifier``): IFEval, IFBench, MulDimIF and Tulu registries behind one API.

>>> from rubrics.schema import RuleVerifier
>>> v = RuleVerifier(family="ifeval", rule_id="punctuation:no_comma")
>>> check(v, "No commas here.")
True

Checkers are built once per ``(family, rule_id, kwargs[, prompt])`` and cached (:func:`get_checker`);
``loose=True`` applies IFEval's loose protocol (any of 8 response variants passes). An empty response
never follows a rule. Unknown families / rule ids raise :class:`UnsupportedRule`; kwargs a rule cannot be
built from raise :class:`RuleArgumentError`.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Protocol

from rubrics.rules.base import Checker, RuleArgumentError, UnsupportedRule, evaluate, loose_variants
from rubrics.rules.nltk_data import NltkDataMissing
from rubrics.schema import RuleVerifier

__all__ = [
    "Checker",
    "NltkDataMissing",
    "RuleArgumentError",
    "UnsupportedRule",
    "check",
    "evaluate",
    "get_checker",
    "is_supported",
    "loose_variants",
    "registry",
    "supported_rule_ids",
]


class Registry(Protocol):
    family: str

    def rule_ids(self) -> list[str]: ...

    def knows(self, rule_id: str) -> bool: ...

    def needs_prompt(self, rule_id: str, kwargs: dict[str, Any]) -> bool: ...

    def build(self, rule_id: str, kwargs: dict[str, Any], prompt: str = "") -> Checker: ...


_REGISTRIES: dict[str, Registry] = {}


def registry(family: str) -> Registry:
    """The checker registry of a family (``ifeval``, ``ifbench``, ``muldimif``, ``tulu``)."""
    found = _REGISTRIES.get(family)
    if found is None:
        found = _REGISTRIES[family] = _load_registry(family)
    return found


def _load_registry(family: str) -> Registry:
    if family in ("ifeval", "ifbench"):
        from rubrics.rules.ifverifiable import IFBENCH, IFEVAL

        return IFEVAL if family == "ifeval" else IFBENCH  # type: ignore[return-value]
    if family == "muldimif":
        from rubrics.rules.muldimif import REGISTRY

        return REGISTRY
    if family == "tulu":
        from rubrics.rules.tulu import REGISTRY as TULU

        return TULU  # type: ignore[return-value]
    raise UnsupportedRule(family, "*", "no rule registry for this family (use an LLM rubric)")


def supported_rule_ids(family: str) -> list[str]:
    """Every rule id the family's registry can check (``[]`` for a family without a registry)."""
    try:
        return registry(family).rule_ids()
    except UnsupportedRule:
        return []


def is_supported(verifier: RuleVerifier) -> bool:
    """Whether a checker is registered for ``verifier.family`` / ``verifier.rule_id`` (kwargs not validated)."""
    try:
        return registry(verifier.family).knows(verifier.rule_id)
    except UnsupportedRule:
        return False


def _kwargs_key(kwargs: dict[str, Any]) -> str:
    return json.dumps(kwargs, sort_keys=True, ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=65536)
def _cached(family: str, rule_id: str, kwargs_key: str, prompt: str | None) -> Checker:
    return registry(family).build(rule_id, json.loads(kwargs_key), prompt or "")


def get_checker(verifier: RuleVerifier, prompt: str = "") -> Checker:
    """The built checker of a verifier, cached; the prompt is part of the key only for rules that read it."""
    reg = registry(verifier.family)
    if not reg.knows(verifier.rule_id):
        raise UnsupportedRule(verifier.family, verifier.rule_id, f"not in the {verifier.family} registry")
    uses_prompt = reg.needs_prompt(verifier.rule_id, verifier.kwargs)
    return _cached(verifier.family, verifier.rule_id, _kwargs_key(verifier.kwargs), prompt if uses_prompt else None)


def check(verifier: RuleVerifier, response: str, *, prompt: str = "", loose: bool = False) -> bool:
    """Whether ``response`` follows the rule (strict, or IFEval-loose)."""
    return evaluate(get_checker(verifier, prompt), response, loose=loose)


def cache_info() -> Any:
    return _cached.cache_info()


def clear_cache(*, memos: bool = True) -> None:
    """Forget built checkers and (``memos``) the per-text measurement memos."""
    _cached.cache_clear()
    if memos:
        clear_memos()


def clear_memos() -> None:
    """Forget per-text memos (MulDimIF text measurements, memoised language detection)."""
    from rubrics.rules import ifverifiable, text

    text.clear_memos()
    if ifverifiable._MEMO_LANGDETECT is not None:
        ifverifiable._MEMO_LANGDETECT.detect.cache_clear()
