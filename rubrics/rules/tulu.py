"""Tulu 3 RLVR checkers (``family="tulu"``): one rule per ``func_name`` of open-instruct's ``if_functions.py``.

Tulu's RLVR-IFeval rows name a checker (``func_name``) and its arguments (``N``, ``quantifier``, ``word``, ...);
open-instruct's reward calls ``IF_FUNCTIONS_MAP[func_name](answer, **non-null arguments)`` on the answer with
the thinking section removed and surrounding whitespace stripped. Those checkers differ from the IFEval rules
of the same name in many details (``verify_paragraph_count`` splits on ``* * *``, IFEval's
``number_paragraphs`` on ``***``; word counts are whitespace tokens, not NLTK words; keyword checks are
substring tests, not word-boundary regexes; ...), so each ``func_name`` is its own rule here, written to the
semantics of open-instruct (``allenai/open-instruct``, ``open_instruct/if_functions.py``) and checked against
it one by one in ``tests/rubrics/test_importers_wild.py``. ``rule_id`` is the ``func_name``; ``kwargs`` are the
row's non-null arguments, validated when the checker is built.

Deliberate differences (documented in the README's Tulu table):

* ``validate_choice``: when ``options`` is a string (RLVR-IFeval stores a tuple literal), open-instruct iterates
  its *characters*, so almost any response passes; the importer parses the literal into the option list and
  the checker tests the options.
* ``validate_response_language``: ``langdetect`` is seeded (deterministic); text without letters, on which
  ``langdetect`` raises, counts as not followed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rubrics.rules.base import Checker, RuleArgumentError, UnsupportedRule

FAMILY = "tulu"
QUANTIFIERS = ("at least", "at most", "around")
PARAGRAPH_DIVIDER = "* * *"
_SENTENCE_SPLIT = re.compile(r"(?<!\w\.\w.)(?<![A-Z][a-z]\.)(?<=\.|\?|!)\s")


def _int(name: str) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
            raise ValueError(f"{name} must be an integer, got {v!r}")
        return int(v)

    return check


def _str(name: str) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise ValueError(f"{name} must be a string, got {v!r}")
        return v

    return check


def _strs(name: str) -> Callable[[Any], list[str]]:
    def check(v: Any) -> list[str]:
        if isinstance(v, tuple):
            v = list(v)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValueError(f"{name} must be a list of strings, got {v!r}")
        return v

    return check


def _quantifier(v: Any) -> str:
    if v not in QUANTIFIERS:
        raise ValueError(f"quantifier must be one of {list(QUANTIFIERS)}, got {v!r}")
    return v


def _letter(v: Any) -> str:
    if not isinstance(v, str) or len(v) != 1:
        raise ValueError(f"letter must be a single character, got {v!r}")
    return v


def _quantified(count: int, n: int, quantifier: str, around: int) -> bool:
    if quantifier == "at least":
        return count >= n
    if quantifier == "at most":
        return count <= n
    return abs(count - n) <= around


def _tolerance(n: int) -> int:
    """open-instruct's "around N" tolerance for words and capital words: 10% of N (rounded), at least 1."""
    return max(round(n * 0.1), 1)


def _paragraph_count(text: str, n: int) -> bool:
    cleaned = "\n".join(line.strip() for line in text.splitlines()).strip()
    parts = cleaned.split(PARAGRAPH_DIVIDER)
    return all(p.strip() for p in parts) and len(parts) == n


def _nth_paragraph(text: str, n: int, first_word: str, i: int) -> bool:
    parts = text.split("\n\n")
    if len(parts) != n:
        return False
    try:
        return parts[i - 1].strip().startswith(first_word)  # 1-based; i = 0 is the last part, as in Python
    except IndexError:
        return False


def _postscript(text: str, postscript_marker: str) -> bool:
    at = text.find(postscript_marker)
    return at >= 0 and len(text[at:].strip()) > len(postscript_marker)


def _sections(text: str, n: int, splitter: str) -> bool:
    pattern = r"\s?" + re.escape(splitter) + r"\s?\d+\s?"
    return len(re.split(pattern, text, flags=re.IGNORECASE)) - 1 >= n


def _json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _two_responses(text: str) -> bool:
    if text.count("******") != 1:
        return False
    first, second = (p.strip() for p in text.split("******"))
    return first != second


def _language(text: str, language: str) -> bool:
    import langdetect

    langdetect.DetectorFactory.seed = 0
    try:
        return langdetect.detect(text) == language
    except langdetect.LangDetectException:
        return False


@dataclass(frozen=True)
class Spec:
    """Arguments (name -> validator) and the check ``(text, **args) -> bool`` of one ``func_name``."""

    args: Mapping[str, Callable[[Any], Any]]
    check: Callable[..., bool]


N, Q = _int("N"), _quantifier
SPECS: dict[str, Spec] = {
    "verify_keywords": Spec(
        {"keyword_list": _strs("keyword_list")},
        lambda t, keyword_list: all(k.lower() in t.lower() for k in keyword_list),
    ),
    "verify_keyword_frequency": Spec(
        {"word": _str("word"), "N": N},
        lambda t, word, N: sum(w == word.lower() for w in re.findall(r"\b\w+\b", t.lower())) == N,
    ),
    "validate_forbidden_words": Spec(
        {"forbidden_words": _strs("forbidden_words")},
        lambda t, forbidden_words: not any(w.lower() in t.lower() for w in forbidden_words),
    ),
    "verify_letter_frequency": Spec({"letter": _letter, "N": N}, lambda t, letter, N: t.count(letter) == N),
    "validate_response_language": Spec({"language": _str("language")}, _language),
    "verify_paragraph_count": Spec({"N": N}, lambda t, N: _paragraph_count(t, N)),
    "validate_word_constraint": Spec(
        {"N": N, "quantifier": Q}, lambda t, N, quantifier: _quantified(len(t.split()), N, quantifier, _tolerance(N))
    ),
    "verify_sentence_constraint": Spec(
        {"N": N, "quantifier": Q},
        lambda t, N, quantifier: _quantified(len(_SENTENCE_SPLIT.split(t)), N, quantifier, 1),
    ),
    "validate_paragraphs": Spec(
        {"N": N, "first_word": _str("first_word"), "i": _int("i")},
        lambda t, N, first_word, i: _nth_paragraph(t, N, first_word, i),
    ),
    "verify_postscript": Spec({"postscript_marker": _str("postscript_marker")}, _postscript),
    "validate_placeholders": Spec({"N": N}, lambda t, N: len(re.findall(r"\[(.*?)\]", t)) >= N),
    "verify_bullet_points": Spec(
        {"N": N}, lambda t, N: sum(ln.strip().startswith(("*", "-")) for ln in t.split("\n")) == N
    ),
    "validate_title": Spec({}, lambda t: bool(re.findall(r"<<(.*?)>>", t))),
    "validate_choice": Spec({"options": _strs("options")}, lambda t, options: any(o in t for o in options)),
    "validate_highlighted_sections": Spec({"N": N}, lambda t, N: len(re.findall(r"\*(.*?)\*", t)) >= N),
    "validate_sections": Spec(
        {"N": N, "section_splitter": _str("section_splitter")},
        lambda t, N, section_splitter: _sections(t, N, section_splitter),
    ),
    "validate_json_format": Spec({}, _json),
    "validate_repeat_prompt": Spec(
        {"original_prompt": _str("original_prompt")}, lambda t, original_prompt: t.startswith(original_prompt)
    ),
    "validate_two_responses": Spec({}, _two_responses),
    "validate_uppercase": Spec({}, lambda t: t == t.upper()),
    "validate_lowercase": Spec({}, lambda t: t == t.lower()),
    "validate_frequency_capital_words": Spec(
        {"N": N, "quantifier": Q},
        lambda t, N, quantifier: _quantified(len(re.findall(r"\b[A-Z]+\b", t)), N, quantifier, _tolerance(N)),
    ),
    "validate_end": Spec({"end_phrase": _str("end_phrase")}, lambda t, end_phrase: t.endswith(end_phrase)),
    "validate_quotation": Spec({}, lambda t: t.startswith('"') and t.endswith('"')),
    "validate_no_commas": Spec({}, lambda t: "," not in t),
}


def check_kwargs(rule_id: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The validated arguments of ``rule_id`` (non-null ``kwargs``); :class:`RuleArgumentError` when they do not
    fit (unknown, missing or ill-typed), :class:`UnsupportedRule` for an unknown ``func_name``."""
    spec = SPECS.get(rule_id)
    if spec is None:
        raise UnsupportedRule(FAMILY, rule_id, f"known Tulu checkers: {sorted(SPECS)}")
    kw = {k: v for k, v in kwargs.items() if v is not None}
    unknown = sorted(set(kw) - set(spec.args))
    if unknown:
        raise RuleArgumentError(
            f"unknown kwargs {unknown}; accepted: {sorted(spec.args)}", family=FAMILY, rule_id=rule_id
        )
    missing = [a for a in spec.args if a not in kw]
    if missing:
        raise RuleArgumentError(f"missing kwargs {missing}", family=FAMILY, rule_id=rule_id)
    try:
        return {k: validate(kw[k]) for k, validate in spec.args.items()}
    except ValueError as exc:
        raise RuleArgumentError(str(exc), family=FAMILY, rule_id=rule_id) from None


class TuluRegistry:
    family = FAMILY

    def rule_ids(self) -> list[str]:
        return sorted(SPECS)

    def knows(self, rule_id: str) -> bool:
        return rule_id in SPECS

    def needs_prompt(self, rule_id: str, kwargs: dict[str, Any]) -> bool:
        return False

    def build(self, rule_id: str, kwargs: dict[str, Any], prompt: str = "") -> Checker:
        args = check_kwargs(rule_id, kwargs)
        fn = SPECS[rule_id].check

        def checker(text: str) -> bool:
            return bool(fn(text.strip(), **args))  # open-instruct checks the stripped answer

        return checker


REGISTRY = TuluRegistry()
