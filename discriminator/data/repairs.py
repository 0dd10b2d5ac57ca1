"""Minimal *repairs*: edit a response that fails a rule into one that passes it (the other direction of
:mod:`discriminator.data.programmatic`).

A small policy fails most rubrics, so its responses are negatives far more often than positives. A repair makes
the smallest change that satisfies the target rule while every other rule keeps its verdict (the same
verifier-guided search as the breaking edits, with the oracle inverted: ``EditContext(want_pass=True)``); the
repaired text is the positive and the original response the negative, so the labelled span is exactly what the
policy got wrong. Rules with no repair here (keyword insertion, JSON / Markdown / table structure) are reported
as such, never patched with template text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from discriminator.data import patch
from discriminator.data.edits.base import (
    EditContext,
    count_candidates,
    keyword_pattern,
    occurrences,
    replace_occurrences,
    rule_kwargs,
    rule_passes,
    sentence_candidates,
    words_only,
)
from discriminator.data.patch import Patch
from discriminator.data.programmatic import ProgramEdit, family_key
from rubrics.schema import Rubric, RubricItem, RuleVerifier

RepairFn = Callable[[EditContext], Iterator["Patch | None"]]
_REPAIRS: dict[tuple[str, str], RepairFn] = {}


def repair(family: str, *rule_ids: str) -> Callable[[RepairFn], RepairFn]:
    def deco(fn: RepairFn) -> RepairFn:
        for rid in rule_ids:
            _REPAIRS[(family, rid)] = fn
        return fn

    return deco


def repairable_rules() -> list[str]:
    return sorted(f"{f}:{r}" for f, r in _REPAIRS)


def make_repair(item: RubricItem, rubric: Rubric, response: str) -> ProgramEdit:
    """The smallest registered repair that makes ``response`` pass ``rubric`` (``ProgramEdit.negative`` holds the
    *repaired* text here); a reason when there is none."""
    v = rubric.verifier
    if not isinstance(v, RuleVerifier):
        return ProgramEdit(None, None, "LLM-judged rubric")
    fn = _REPAIRS.get((v.family, v.rule_id))
    if fn is None:
        return ProgramEdit(None, None, "no programmatic repair for " + family_key(rubric))
    if rule_passes(rubric, response, item.instruction) is not False:
        return ProgramEdit(None, None, "response does not fail the rubric")
    ctx = EditContext(item, rubric, response, want_pass=True)
    p = ctx.pick(fn(ctx))
    if p is None:
        return ProgramEdit(None, None, "no candidate repair satisfied the rule")
    return ProgramEdit(p, p.apply(response))


def _word_patch(text: str, change: Callable[[str], str]) -> Patch | None:
    """One edit per word whose form changes (the span covers those words only)."""
    edits = [(s, e, change(text[s:e])) for s, e in patch.words(text) if change(text[s:e]) != text[s:e]]
    return Patch.of(edits) if edits else None


def _tail(text: str) -> int:
    return len(text.rstrip())


# ----------------------------------------------------------------------------------------------- counts


@repair("ifeval", "length_constraints:number_words")
@repair("muldimif", "Length/Words")
def _r_words(ctx):
    yield from count_candidates(ctx, words_only, extend=patch.word_with_space, grow_by_sentences=True)


@repair("ifeval", "length_constraints:number_sentences")
@repair("muldimif", "Length/Sentences")
def _r_sentences(ctx):
    yield from sentence_candidates(ctx)


@repair("muldimif", "Length/Paragraphs")
def _r_paragraphs(ctx):
    yield from count_candidates(ctx, patch.paragraphs, joiner="\n\n")


# ----------------------------------------------------------------------------------------------- form


@repair("ifeval", "punctuation:no_comma")
def _r_no_comma(ctx):
    text = ctx.text
    commas = [m.span() for m in re.finditer(r",", text)]
    yield patch.delete(commas) if commas else None


@repair("ifeval", "change_case:english_lowercase")
def _r_lower(ctx):
    yield _word_patch(ctx.text, str.lower)


@repair("ifeval", "change_case:english_capital")
def _r_upper(ctx):
    yield _word_patch(ctx.text, str.upper)


@repair("muldimif", "Language/English")
def _r_md_case(ctx):
    case = rule_kwargs(ctx.rubric).get("case", "title")
    change = {"lower": str.lower, "upper": str.upper}.get(case, lambda w: w[:1].upper() + w[1:])
    yield _word_patch(ctx.text, change)


@repair("ifeval", "startend:quotation")
def _r_quotation(ctx):
    text = ctx.text
    s, e = len(text) - len(text.lstrip()), _tail(text)
    yield Patch.of([(s, s, '"'), (e, e, '"')])


@repair("ifeval", "startend:end_checker")
def _r_end_checker(ctx):
    phrase = str(rule_kwargs(ctx.rubric).get("end_phrase") or "").strip()
    if not phrase:
        return
    e = _tail(ctx.text)
    yield patch.insert(e, ("\n" if "\n" in ctx.text else " ") + phrase)
    yield patch.replace(e, len(ctx.text), " " + phrase)


@repair("muldimif", "Content/Punctuation")
def _r_md_punctuation(ctx):
    mark = str(rule_kwargs(ctx.rubric).get("mark") or ".")
    text = ctx.text
    e = _tail(text)
    if e and text[e - 1] in ".!?;:":
        yield patch.replace(e - 1, e, mark)
    yield patch.insert(e, mark)
    ends = [m.start() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    yield Patch.of([(i, i + 1, mark) for i in ends]) if ends else None


@repair("ifeval", "detectable_format:title")
def _r_title(ctx):
    text = ctx.text
    first = [text[s:e] for s, e in words_only(text)][:4]
    if first:  # the response's own opening words as its title
        yield patch.insert(len(text) - len(text.lstrip()), "<<" + " ".join(w.capitalize() for w in first) + ">>\n")


@repair("ifeval", "detectable_content:postscript")
def _r_postscript(ctx):
    marker = str(rule_kwargs(ctx.rubric).get("postscript_marker") or "patch.S.").strip()
    sents = patch.sentences(ctx.text)
    if sents:  # the response's own first sentence as the postscript
        s, e = sents[0]
        yield patch.insert(_tail(ctx.text), f"\n\n{marker} {ctx.text[s:e].strip()}")


@repair("ifeval", "startend:constrained_start")
@repair("muldimif", "Content/Identifiers")
def _r_start(ctx):
    kw = rule_kwargs(ctx.rubric)
    start = str(kw.get("starter") or kw.get("prefix") or "").strip()
    if start:
        at = len(ctx.text) - len(ctx.text.lstrip())
        yield patch.insert(at, start + " ")
        yield patch.insert(at, start + "\n")


@repair("ifeval", "combination:repeat_prompt")
def _r_repeat(ctx):
    prompt = str(rule_kwargs(ctx.rubric).get("prompt_to_repeat") or "").strip()
    if prompt:
        yield patch.insert(0, prompt + "\n")


@repair("ifeval", "keywords:forbidden_words")
def _r_forbidden(ctx):
    words = [w for w in rule_kwargs(ctx.rubric).get("forbidden_words") or [] if w]
    occ = sorted(u for w in words for u in occurrences(ctx.text, keyword_pattern(w)))
    yield replace_occurrences(ctx, "|".join(words), occ, avoid=words) if occ else None


@repair("ifeval", "detectable_format:constrained_response")
def _r_constrained(ctx):
    yield patch.insert(_tail(ctx.text), "\n\nMy answer is maybe.")
