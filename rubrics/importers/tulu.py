"""Tulu 3 RLVR instruction-following rows (``allenai/RLVR-IFeval`` and successors).

Two ``ground_truth`` shapes exist, both JSON strings (the newer also as a Python literal):

* RLVR-IFeval: one constraint, ``{"func_name": "validate_lowercase", "N": null, "quantifier": null, ...}`` naming
  a checker of open-instruct's ``if_functions.py``; ``constraint_type`` / ``constraint`` describe it.
* IF_multi_constraints: ``[{"instruction_id": [...], "kwargs": [...]}]`` with IFEval ids.

A ``func_name`` maps to a ``RuleVerifier(family="tulu", rule_id=func_name, kwargs=non-null arguments)`` checked
with open-instruct's semantics (:mod:`rubrics.rules.tulu`; the IFEval rules of the same name differ, e.g. the
paragraph divider ``* * *`` vs ``***``). Every ``func_name`` is decided by a program, so none goes to the judge.
The multi-constraint shape keeps IFEval rule ids (family ``ifeval``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Mapping
from typing import Any

from rubrics.importers.base import (
    Context,
    FieldError,
    as_list,
    first_present,
    item_id,
    make_item,
    prompt_or_messages,
    rubric_id,
    rule,
)
from rubrics.importers.ifeval import rule_rubrics
from rubrics.rubric_text import quote, quoted_list
from rubrics.rules import tulu as tulu_rules
from rubrics.schema import RubricItem, RuleVerifier

META_KEYS = ("dataset", "constraint_type", "constraint")
ID_KEYS = ("id", "uid", "key")


def _count(args: Mapping[str, Any], key: str = "N") -> Any:  # an int, else the value as given
    value = args.get(key)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _quantified(args: Mapping[str, Any], noun: str, around: str) -> str:
    n, q = _count(args), args.get("quantifier")
    tail = f" ({around})" if q == "around" else ""
    return f"The response must contain {q} {n} {noun}{tail}."


TEXTS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "verify_keywords": lambda a: (
        f"The response must include the keywords {quoted_list(a['keyword_list'])} (case-insensitive)."
    ),
    "verify_keyword_frequency": lambda a: (
        f"The word {quote(a['word'])} must appear exactly {_count(a)} times in the response."
    ),
    "validate_forbidden_words": lambda a: (
        f"The response must not contain the words {quoted_list(a['forbidden_words'])}"
        " (case-insensitive, also inside other words)."
    ),
    "verify_letter_frequency": lambda a: (
        f"The letter {quote(a['letter'])} must appear exactly {_count(a)} times in the response (case-sensitive)."
    ),
    "validate_response_language": lambda a: f"The entire response must be in the language {quote(a['language'])}.",
    "verify_paragraph_count": lambda a: (
        f"The response must have exactly {_count(a)} paragraphs, separated by the markdown divider * * *."
    ),
    "validate_word_constraint": lambda a: _quantified(a, "words", f"within {tulu_rules._tolerance(_count(a))}"),
    "verify_sentence_constraint": lambda a: _quantified(a, "sentences", "within 1"),
    "validate_paragraphs": lambda a: (
        f"The response must have exactly {_count(a)} paragraphs separated by blank "
        f"lines, and paragraph {_count(a, 'i')} must start with {quote(a['first_word'])}."
    ),
    "verify_postscript": lambda a: (
        f"The response must end with a postscript starting with {quote(a['postscript_marker'])}."
    ),
    "validate_placeholders": lambda a: (
        f"The response must contain at least {_count(a)} placeholders in square brackets, such as [address]."
    ),
    "verify_bullet_points": lambda a: (
        f"The response must contain exactly {_count(a)} markdown bullet points (lines starting with * or -)."
    ),
    "validate_title": lambda a: (
        "The response must contain a title wrapped in double angular brackets, such as <<poem of joy>>."
    ),
    "validate_choice": lambda a: f"The response must contain one of the options {quoted_list(a['options'])}.",
    "validate_highlighted_sections": lambda a: (
        f"The response must highlight at least {_count(a)} sections with markdown, i.e. *highlighted section*."
    ),
    "validate_sections": lambda a: (
        f"The response must have at least {_count(a)} sections, each marked with "
        f"{quote(a['section_splitter'])} and its number."
    ),
    "validate_json_format": lambda a: "The entire response must be valid JSON.",
    "validate_repeat_prompt": lambda a: (
        f"The response must start by repeating the request {quote(a['original_prompt'])} without change."
    ),
    "validate_two_responses": lambda a: (
        "The response must give two different responses separated by six asterisks (******)."
    ),
    "validate_uppercase": lambda a: "The entire response must be in capital letters.",
    "validate_lowercase": lambda a: "The entire response must be in lowercase letters.",
    "validate_frequency_capital_words": lambda a: _quantified(
        a, "words in all capital letters", f"within {tulu_rules._tolerance(_count(a))}"
    ),
    "validate_end": lambda a: f"The response must end with the exact phrase {quote(a['end_phrase'])}.",
    "validate_quotation": lambda a: "The entire response must be wrapped in double quotation marks.",
    "validate_no_commas": lambda a: "The response must not contain any commas.",
}


def func_rule(name: str, args: Mapping[str, Any]) -> tuple[str, RuleVerifier]:
    """The rubric text and Tulu rule of one ``func_name`` and its non-null arguments (``FieldError`` on the
    first argument that does not fit)."""
    spec = tulu_rules.SPECS.get(name)
    if spec is None:
        raise FieldError("ground_truth.func_name", f"unknown checker {name!r} (known: {sorted(tulu_rules.SPECS)})")
    args = dict(args)
    if name == "validate_choice" and args.get("options") is not None:
        args["options"] = _options(args["options"])
    unknown = sorted(set(args) - set(spec.args))
    if unknown:
        raise FieldError(f"ground_truth.{unknown[0]}", f"not an argument of {name} (accepts {sorted(spec.args)})")
    kwargs = {}
    for arg, validate in spec.args.items():
        if arg not in args:
            raise FieldError(f"ground_truth.{arg}", f"missing (required by {name})")
        try:
            kwargs[arg] = validate(args[arg])
        except ValueError as exc:
            raise FieldError(f"ground_truth.{arg}", str(exc)) from None
    return TEXTS[name](kwargs), rule(tulu_rules.FAMILY, name, kwargs)


def _options(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value)
            if isinstance(parsed, (list, tuple)):
                return [str(v) for v in parsed]
        except (ValueError, SyntaxError):
            pass
        return [value]
    return [str(v) for v in as_list(value, "ground_truth.options")]


def parse_ground_truth(value: Any) -> Any:
    """A ``ground_truth`` JSON string (or Python literal, or already parsed value)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise FieldError("ground_truth", "neither JSON nor a Python literal") from None


def looks_like(rec: Mapping[str, Any]) -> bool:
    if "ground_truth" not in rec or "rubrics" in rec or not ("messages" in rec or "prompt" in rec):
        return False
    try:
        gt = parse_ground_truth(rec["ground_truth"])
    except FieldError:
        return False
    if isinstance(gt, list) and len(gt) == 1:
        gt = gt[0]
    return isinstance(gt, Mapping) and ("func_name" in gt or "instruction_id" in gt)


def convert(rec: Mapping[str, Any], ctx: Context) -> RubricItem:
    prompt, messages = prompt_or_messages(rec)
    if rec.get("ground_truth") is None:
        raise FieldError("ground_truth", "missing")
    gt = parse_ground_truth(rec["ground_truth"])
    iid = item_id(ctx.source, rec.get(first_present(rec, ID_KEYS) or "id"), messages or prompt, gt)
    if isinstance(gt, Mapping) and "func_name" in gt:
        rubrics = [_func_rubric(iid, gt)]
    elif isinstance(gt, (list, Mapping)):
        rubrics = _instruction_rubrics(iid, [gt] if isinstance(gt, Mapping) else gt)
    else:
        raise FieldError("ground_truth", f"expected an object or a list, got {type(gt).__name__}")
    meta = {k: rec[k] for k in META_KEYS if rec.get(k) is not None}
    return make_item(id=iid, prompt=prompt, messages=messages, rubrics=rubrics, source=ctx.source, meta=meta)


def _func_rubric(iid: str, gt: Mapping[str, Any]) -> dict[str, Any]:
    name = gt["func_name"]
    args = {k: v for k, v in gt.items() if k != "func_name" and v is not None}
    text, verifier = func_rule(name, args)
    return {"id": rubric_id(iid, 0), "text": text, "title": name, "verifier": verifier, "source": "tulu"}


def _instruction_rubrics(iid: str, groups: list[Any]) -> list[dict[str, Any]]:
    rubrics: list[dict[str, Any]] = []
    for g, group in enumerate(groups):
        name = f"ground_truth[{g}]"
        if not isinstance(group, Mapping) or "instruction_id" not in group:
            raise FieldError(name, "expected {'instruction_id': [...], 'kwargs': [...]}")
        ids = as_list(group["instruction_id"], f"{name}.instruction_id")
        kwargs = as_list(group["kwargs"], f"{name}.kwargs") if group.get("kwargs") is not None else [{}] * len(ids)
        rubrics += rule_rubrics(
            iid,
            "ifeval",
            ids,
            kwargs,
            ids_field=f"{name}.instruction_id",
            kwargs_field=f"{name}.kwargs",
            offset=len(rubrics),
        )
    if not rubrics:
        raise FieldError("ground_truth", "empty: the item has no rubrics")
    for r in rubrics:
        r["source"] = "tulu"
    return rubrics
