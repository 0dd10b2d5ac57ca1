"""Template positives: compose a response that satisfies every rule of an item, with no LLM.

Each supported rule adds requirements to a :class:`Blueprint` (a title, N paragraphs, keywords, a table,
a case, a wrapper...). :func:`compose_positive` renders the blueprint with a growing number of filler
sentences and returns the first rendering that every rule checker accepts (``rubrics.rules.check``).
Items whose rules conflict or are not covered (LLM rubrics, unknown rules) are reported as unsupported with
the reason. The text is plain and repetitive on purpose: it is a carrier for exact labels, not prose.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from discriminator.data import textbank
from discriminator.data.blueprint import Blueprint, Unsupported
from discriminator.data.programmatic import rule_passes
from rubrics.schema import RubricItem, RuleVerifier

__all__ = ["Blueprint", "ComposeResult", "Unsupported", "blueprint_for", "composable_rules", "compose_positive"]

Requirement = Callable[[Blueprint, dict[str, Any], RubricItem], None]
_REQUIREMENTS: dict[tuple[str, str], Requirement] = {}


def requirement(family: str, *rule_ids: str) -> Callable[[Requirement], Requirement]:
    def deco(fn: Requirement) -> Requirement:
        for rid in rule_ids:
            _REQUIREMENTS[(family, rid)] = fn
        return fn

    return deco


def composable_rules() -> list[str]:
    return sorted(f"{f}:{r}" for f, r in _REQUIREMENTS)


def _limit_value(lim: dict[str, Any] | None, default: int = 1) -> int | None:
    """The smallest count a MulDimIF :class:`Limit` accepts (None when no limit)."""
    if not lim:
        return None
    r: Any = lim.get("relation")
    if r == "between":
        return int(lim["min"])
    n = int(lim.get("num", default))
    return {"at least": n, "exactly": n, "more than": n + 1, "at most": min(n, default), "less than": max(0, min(n - 1, default))}.get(r, n)


# ----------------------------------------------------------------------------------------------- IFEval


@requirement("ifeval", "punctuation:no_comma")
def _r_no_comma(bp, kw, item):
    bp.no_comma = True


@requirement("ifeval", "length_constraints:number_words", "length_constraints:number_sentences")
def _r_counts(bp, kw, item):
    pass  # reached by the filler search


@requirement("ifeval", "keywords:forbidden_words")
def _r_forbidden(bp, kw, item):
    bp.avoid += [r"\b" + re.escape(w) + r"\b" for w in kw.get("forbidden_words") or []]


@requirement("ifeval", "keywords:existence")
def _r_existence(bp, kw, item):
    for k in kw.get("keywords") or []:
        bp.keywords[k] = max(bp.keywords.get(k, 0), 1)


@requirement("ifeval", "keywords:frequency")
def _r_frequency(bp, kw, item):
    k, n, rel = kw.get("keyword"), int(kw.get("frequency") or 1), kw.get("relation")
    if not k:
        return
    if rel == "less than":
        bp.avoid.append(re.escape(k))
        if bp.keywords.get(k, 0) >= n:
            raise Unsupported(f"keyword {k!r} needed at least and less than {n} times")
    else:
        bp.keywords[k] = max(bp.keywords.get(k, 0), n)


@requirement("ifeval", "keywords:letter_frequency")
def _r_letter(bp, kw, item):
    letter, n, rel = str(kw.get("letter") or "").lower(), int(kw.get("let_frequency") or 1), kw.get("let_relation")
    if rel == "less than":
        bp.letter_max[letter] = n - 1
    else:
        bp.letter_min[letter] = n


@requirement("ifeval", "detectable_format:number_highlighted_sections")
def _r_highlights(bp, kw, item):
    bp.highlights = max(bp.highlights, int(kw.get("num_highlights") or 1))


@requirement("ifeval", "detectable_content:number_placeholders")
def _r_placeholders(bp, kw, item):
    bp.placeholders = max(bp.placeholders, int(kw.get("num_placeholders") or 1))


@requirement("ifeval", "detectable_format:number_bullet_lists")
def _r_bullets(bp, kw, item):
    bp.bullets = int(kw.get("num_bullets") or 1)


@requirement("ifeval", "length_constraints:number_paragraphs")
def _r_paragraphs(bp, kw, item):
    bp.n_paragraphs = int(kw.get("num_paragraphs") or 1)
    bp.separator = "\n\n***\n\n"


@requirement("ifeval", "length_constraints:nth_paragraph_first_word")
def _r_nth(bp, kw, item):
    bp.n_paragraphs = int(kw.get("num_paragraphs") or 1)
    bp.first_words[int(kw.get("nth_paragraph") or 1)] = str(kw.get("first_word") or "")


@requirement("ifeval", "detectable_format:title")
def _r_title(bp, kw, item):
    bp.title = "A Short Practical Guide"


@requirement("ifeval", "detectable_content:postscript")
def _r_postscript(bp, kw, item):
    bp.postscript = str(kw.get("postscript_marker") or "P.S.")
    if bp.postscript == "P.P.S":
        bp.postscript = "P.P.S"


@requirement("ifeval", "startend:end_checker")
def _r_end(bp, kw, item):
    bp.end_phrase = str(kw.get("end_phrase") or "")


@requirement("ifeval", "startend:quotation")
def _r_quote(bp, kw, item):
    bp.wrap = "quote"


@requirement("ifeval", "change_case:english_lowercase")
def _r_lower(bp, kw, item):
    bp.case = "lower"


@requirement("ifeval", "change_case:english_capital")
def _r_upper(bp, kw, item):
    bp.case = "upper"


@requirement("ifeval", "change_case:capital_word_frequency")
def _r_capital_words(bp, kw, item):
    n, rel = int(kw.get("capital_frequency") or 1), kw.get("capital_relation")
    if rel == "less than":
        bp.no_caps = True
    else:
        bp.capital_min = max(bp.capital_min, n)


@requirement("ifeval", "combination:repeat_prompt")
def _r_repeat(bp, kw, item):
    bp.prefix = str(kw.get("prompt_to_repeat") or item.instruction).strip()


@requirement("ifeval", "combination:two_responses")
def _r_two(bp, kw, item):
    bp.two_responses = True


@requirement("ifeval", "detectable_format:json_format")
def _r_json(bp, kw, item):
    bp.wrap = "json"


@requirement("ifeval", "detectable_format:multiple_sections")
def _r_sections(bp, kw, item):
    bp.section_splitter = str(kw.get("section_spliter") or "Section").strip()
    bp.n_paragraphs = max(bp.n_paragraphs, int(kw.get("num_sections") or 1))


@requirement("ifeval", "detectable_format:constrained_response")
def _r_constrained(bp, kw, item):
    bp.answer = "My answer is yes."


@requirement("ifeval", "startend:constrained_start")
def _r_start(bp, kw, item):
    bp.prefix = str(kw.get("starter") or "")


@requirement("ifeval", "language:response_language")
def _r_language(bp, kw, item):
    bp.lang = str(kw.get("language") or "en")
    if bp.lang != "en" and bp.lang not in textbank.OTHER:
        raise Unsupported(f"no sentences for language {bp.lang!r}")


# ----------------------------------------------------------------------------------------------- MulDimIF


@requirement("muldimif", "Content/Keywords")
def _m_keywords(bp, kw, item):
    kws = kw.get("keywords") or []
    mode, n = kw.get("mode", "all"), int(kw.get("min_count") or 1)
    if mode == "none":
        bp.avoid += [r"(?<!\w)" + re.escape(k) + r"(?!\w)" for k in kws]
    elif mode == "any":
        bp.keywords[kws[0]] = max(bp.keywords.get(kws[0], 0), n)
    else:
        for k in kws:
            bp.keywords[k] = max(bp.keywords.get(k, 0), n)


@requirement("muldimif", "Content/Punctuation")
def _m_punct(bp, kw, item):
    bp.end_mark = str(kw.get("mark") or ".")
    bp.end_scope = kw.get("scope", "response")


@requirement("muldimif", "Content/Identifiers")
def _m_ident(bp, kw, item):
    bp.prefix = str(kw.get("prefix") or "")


@requirement("muldimif", "Language/English")
def _m_english(bp, kw, item):
    bp.case = kw.get("case", "title")


@requirement("muldimif", "Language/Chinese")
def _m_chinese(bp, kw, item):
    bp.lang = "zh-cn" if kw.get("script", "simplified") == "simplified" else "zh-tw"


@requirement("muldimif", "Length/Words", "Length/Sentences")
def _m_counts(bp, kw, item):
    pass


@requirement("muldimif", "Length/Paragraphs")
def _m_paragraphs(bp, kw, item):
    bp.n_paragraphs = max(1, _limit_value(kw) or 1)


@requirement("muldimif", "Format/Table")
def _m_table(bp, kw, item):
    rows = _limit_value(kw.get("rows"), default=3)
    cols = _limit_value(kw.get("cols"), default=3)
    if kw.get("optional") and not kw.get("rows") and not kw.get("cols"):
        return
    bp.table = (max(1, rows if rows is not None else 3), max(1, cols if cols is not None else 3))
    bp.table_optional = bool(kw.get("optional"))


@requirement("muldimif", "Format/Markdown")
def _m_markdown(bp, kw, item):
    levels = list(kw.get("require_levels") or [])
    want = _limit_value(kw.get("levels"), default=1)
    max_level = kw.get("max_level") or 6
    first = kw.get("first_heading_level")
    if first:
        levels = [first] + [lv for lv in levels if lv != first]
    if not levels:
        levels = [1]
    if want and len(set(levels)) < want:
        levels += [lv for lv in range(1, max_level + 1) if lv not in levels][: want - len(set(levels))]
    if kw.get("levels") and kw["levels"].get("relation") in ("at most", "less than", "exactly"):
        cap = _limit_value(kw["levels"], default=len(levels)) or 1
        levels = levels[: max(cap, 1)]
    bp.headings = [lv for lv in levels if lv <= max_level] or [1]
    bp.min_sections = max(bp.min_sections, len(bp.headings), int(kw.get("min_headings") or 0))
    bp.blockquote = bp.blockquote or bool(kw.get("blockquote"))


@requirement("muldimif", "Format/Json")
def _m_json(bp, kw, item):
    bp.json_depth = _limit_value(kw.get("depth"), default=2) or 1


@requirement("muldimif", "Format/XML")
def _m_xml(bp, kw, item):
    if kw.get("optional"):
        return
    bp.xml_attrs = _limit_value(kw.get("attributes"), default=1) or 0


@requirement("muldimif", "Format/Text")
def _m_text(bp, kw, item):
    bp.no_bullets = True


# ----------------------------------------------------------------------------------------------- driver

STALL = 24  # consecutive fills failing the same rule before the next rendering style
FILL_SCHEDULE = list(range(0, 64)) + list(range(64, 128, 2)) + list(range(128, 400, 4))


@dataclass
class ComposeResult:
    text: str | None
    reason: str = ""
    fill: int = 0
    tries: int = 0
    unverified: list[str] = field(default_factory=list)  # LLM-judged rubric ids the template ignored


def blueprint_for(item: RubricItem, *, skip_llm: bool = False) -> Blueprint:
    """Collect every rule's requirements; raise :class:`Unsupported` for a rubric no rule can satisfy.

    ``skip_llm`` ignores LLM-judged rubrics (the positive is then verified on the rule rubrics only)."""
    bp = Blueprint()
    if not any(r.is_rule for r in item.rubrics):
        raise Unsupported("no rule-checkable rubric")
    for r in item.rubrics:
        v = r.verifier
        if not isinstance(v, RuleVerifier):
            if skip_llm:
                continue
            raise Unsupported(f"rubric {r.id} needs an LLM judge")
        fn = _REQUIREMENTS.get((v.family, v.rule_id))
        if fn is None:
            raise Unsupported(f"no template for rule {v.family}:{v.rule_id}")
        fn(bp, dict(v.kwargs), item)
    if bp.no_bullets and bp.bullets:
        raise Unsupported("bullets both required and forbidden")
    return bp


def compose_positive(item: RubricItem, *, skip_llm: bool = True, offsets: tuple[int, ...] = (0, 11),
                     styles: tuple[int, ...] = (1, 2, 3, 0), max_tries: int = 400, stall: int = STALL) -> ComposeResult:
    """The first rendering (fewest filler sentences) that passes every rule of the item.

    A rendering style is abandoned after ``stall`` consecutive fills failing the same rule (a structural rule
    that filler cannot fix): most of the search time used to go to items no rendering satisfies.

    LLM-judged rubrics are skipped when ``skip_llm`` (listed in ``ComposeResult.unverified``)."""
    unverified = [r.id for r in item.rubrics if not r.is_rule]
    try:
        bp = blueprint_for(item, skip_llm=skip_llm)
        bp.bank()
    except Unsupported as exc:
        return ComposeResult(None, str(exc))
    prompt = item.instruction
    order = [r for r in item.rubrics if r.is_rule]
    variants = [bp] + ([dataclasses.replace(bp, table=None)] if bp.table and bp.table_optional else [])
    tries, last_fail = 0, ""
    for variant, offset, style in [(v, o, st) for v in variants for st in styles for o in offsets]:
        if tries >= max_tries:
            break
        i, streak = 0, 0
        while i < len(FILL_SCHEDULE) and tries < max_tries:
            fill = FILL_SCHEDULE[i]
            text = variant.render(fill, offset=offset, style=style)
            tries += 1
            failed = None
            for r in order:  # check the rubric that failed last time first (cheap counts before langdetect)
                if rule_passes(r, text, prompt) is not True:
                    failed = r
                    break
            if failed is None:
                return ComposeResult(text, "", fill, tries, unverified)
            streak = streak + 1 if order[0] is failed else 1
            order.remove(failed)
            order.insert(0, failed)
            last_fail = failed.id
            if _overshot(failed) or streak >= stall:  # more filler will not fix this rule: next rendering style
                break
            if _lower_bound(failed):  # gallop to the first fill where this rule passes, then go on linearly
                ok = lambda j: rule_passes(failed, variant.render(FILL_SCHEDULE[j], offset=offset, style=style), prompt)  # noqa: E731
                lo, step, hi = i, 1, None
                while i + step < len(FILL_SCHEDULE):
                    tries += 1
                    if ok(i + step):
                        hi = i + step
                        break
                    lo = i + step
                    step *= 2
                if hi is None:
                    break
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    tries += 1
                    lo, hi = (lo, mid) if ok(mid) else (mid, hi)
                i = hi
                continue
            i += 1
    return ComposeResult(None, f"no rendering satisfied every rule (last failing: {last_fail})", 0, tries)


def _relation(rubric) -> str | None:
    kw = rubric.verifier.kwargs
    return kw.get("relation") or kw.get("let_relation") or kw.get("capital_relation")


def _overshot(rubric) -> bool:
    """Stop growing when an upper-bound count rule fails: more filler only makes it worse."""
    return _relation(rubric) in ("less than", "at most")


def _lower_bound(rubric) -> bool:
    """A count rule that more filler eventually satisfies (words / sentences at least ...)."""
    return _relation(rubric) in ("at least", "more than") and rubric.verifier.rule_id in _GROWING


_GROWING = {"length_constraints:number_words", "length_constraints:number_sentences", "Length/Words", "Length/Sentences"}
