"""Minimal edits that break IFEval rules (registered in :mod:`discriminator.data.edits`)."""

from __future__ import annotations

import re

from discriminator.data import patch
from discriminator.data.edits.base import (
    EditContext,
    case_flips,
    comma_insertions,
    context_word,
    count_candidates,
    delete_units,
    duplicate,
    english_stopwords,
    insert_word,
    match_case,
    mid_order,
    occurrences,
    pos_tags,
    regex_units,
    register,
    replace_occurrences,
    replace_words,
    rule_kwargs,
    sentence_candidates,
    words_only,
)
from discriminator.data.patch import Patch
from discriminator.data.textbank import EN, NEUTRAL_NOUNS

# ----------------------------------------------------------------------------------------------- IFEval


@register("ifeval", "punctuation:no_comma")
def _no_comma(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(comma_insertions(ctx))


@register("ifeval", "length_constraints:number_words")
def _n_words(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(count_candidates(ctx, words_only, extend=patch.word_with_space, grow_by_sentences=True))


@register("ifeval", "length_constraints:number_sentences")
def _n_sentences(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(sentence_candidates(ctx))


@register("ifeval", "keywords:forbidden_words")
def _forbidden(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    words = [w for w in rule_kwargs(rubric).get("forbidden_words") or [] if w]

    def cands():
        for w in words[:3]:
            yield from replace_words(ctx, w, exclude=words)
            yield from insert_word(ctx, w)

    return ctx.pick(cands())


@register("ifeval", "keywords:existence")
def _existence(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    kws = [k for k in rule_kwargs(rubric).get("keywords") or [] if k]

    def cands():
        for k in kws:
            yield replace_occurrences(ctx, k, occurrences(text, k), avoid=kws)

    return ctx.pick(cands())


@register("ifeval", "keywords:frequency")
def _frequency(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    kw = rule_kwargs(rubric).get("keyword") or ""
    if not kw:
        return None
    occ = occurrences(text, kw)
    plain = mid_order(words_only(text, lambda w: len(w) >= 4 and kw.lower() not in w.lower()))

    def fewer(k):
        return replace_occurrences(ctx, kw, occ[-k:], avoid=[kw]) if k <= len(occ) else None

    def more(k):
        if k > len(plain):
            return None
        return Patch.of([(s, e, match_case(kw, text[s:e])) for s, e in plain[:k]])

    return ctx.pick([ctx.smallest(fewer, len(occ)), ctx.smallest(more, len(plain))])


@register("ifeval", "keywords:letter_frequency")
def _letter_frequency(item, rubric, text):
    """Move the count of a letter with whole, real words only (never planted letter runs or misspellings): swap
    the fewest words for words of the same part of speech from the response itself (else a neutral noun) that hold
    the letter fewer / more times, delete the fewest whole words holding it, or repeat the sentence richest in it.
    A mark that is not a letter (``!``, ``#``) may also be dropped. No such edit: unsupported (nothing planted)."""
    ctx = EditContext(item, rubric, text)
    letter = str(rule_kwargs(rubric).get("letter") or "").strip().lower()
    if len(letter) != 1:
        return None
    n = lambda w: w.lower().count(letter)  # noqa: E731
    words = mid_order(words_only(text, lambda w: len(w) >= 3))
    with_letter = sorted([u for u in words if n(text[u[0]:u[1]])], key=lambda u: -n(text[u[0]:u[1]]))
    fewer = _letter_swaps(text, with_letter, letter, fewer=True)
    more = _letter_swaps(text, words, letter, fewer=False)
    sents = [u for u in patch.sentences(text) if n(text[u[0]:u[1]])]
    richest = max(sents, key=lambda u: n(text[u[0]:u[1]])) if sents else None

    def swap(edits):
        return lambda k: Patch.of(edits[:k]) if k <= len(edits) else None

    def drop_words(k):
        return delete_units(text, with_letter[:k], patch.word_with_space) if k <= len(with_letter) else None

    def dup_words(k):
        if k > len(with_letter):
            return None
        return Patch.of([(e, e, " " + text[s:e]) for s, e in sorted(with_letter[:k])])

    # a mark that is not a letter ('!', '#'): dropping some of them is a natural edit (a lone one with its space)
    marks = [] if letter.isalnum() else [
        (i, i + 2) if text[i + 1:i + 2] == " " and (i == 0 or text[i - 1] == " ") else (i, i + 1)
        for i, c in enumerate(text) if c == letter]

    def drop_marks(k):
        return patch.delete(marks[-k:]) if k <= len(marks) else None

    return ctx.pick([
        ctx.smallest(swap(fewer), len(fewer)),
        ctx.smallest(drop_marks, len(marks)),
        ctx.smallest(drop_words, len(with_letter)),
        ctx.smallest(swap(more), len(more)),
        ctx.smallest(lambda k: duplicate(text, richest, k, " "), 20) if richest else None,
        ctx.smallest(dup_words, len(with_letter)),
    ])


LETTER_SWAP_WORDS = 24  # candidate words per direction: bounds the tagging work on long responses


def _letter_swaps(text: str, units: list, letter: str, *, fewer: bool) -> list[tuple[int, int, str]]:
    """``(start, end, new word)`` for words of ``units`` that have a same-part-of-speech stand-in holding
    ``letter`` fewer (``fewer``) or more times: the response's own most frequent such word
    (:func:`~discriminator.data.programmatic.context_word`), else, for a common noun, a neutral noun
    (:data:`~discriminator.data.textbank.NEUTRAL_NOUNS`, plural for a plural). Ordered by how much each swap
    moves the count (largest first)."""
    tags = {w.lower(): t for w, t in pos_tags(text)}
    stop = english_stopwords()
    out = []
    for s, e in units:
        old = text[s:e]
        low = old.lower()
        if low in stop:
            continue
        c = low.count(letter)
        fits = (lambda w, c=c: w.count(letter) < c) if fewer else (lambda w, c=c: w.count(letter) > c)
        # (mypy cannot infer a lambda with a default argument)
        new = context_word(text, old, reject=lambda w, fits=fits: not fits(w))  # type: ignore[misc]
        tag = tags.get(low)
        if new is None and (tag in ("NN", "NNS") or (not tags and len(old) >= 4)):
            plural = "s" if tag == "NNS" else ""
            new = next((w + plural for w in NEUTRAL_NOUNS if fits(w + plural) and w + plural != low), None)
        if new is not None:
            out.append((s, e, match_case(new, old), abs(new.lower().count(letter) - c)))
        if len(out) >= LETTER_SWAP_WORDS:
            break
    out.sort(key=lambda x: -x[3])
    return [(s, e, w) for s, e, w, _ in out]


@register("ifeval", "detectable_format:number_highlighted_sections")
def _highlights(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    units = regex_units(r"\*\*[^\n\*]*\*\*|\*[^\n\*]*\*")(text)

    def unmark(k):
        if k > len(units):
            return None
        edits = []
        for s, e in units[-k:]:
            inner = text[s:e].strip("*")
            edits.append((s, e, inner))
        return Patch.of(edits)

    return ctx.pick([ctx.smallest(unmark, len(units))])


@register("ifeval", "detectable_content:number_placeholders")
def _placeholders(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    units = regex_units(r"\[.*?\]")(text)

    def unbracket(k):
        if k > len(units):
            return None
        return Patch.of([(s, e, text[s + 1:e - 1]) for s, e in units[-k:]])

    return ctx.pick([ctx.smallest(unbracket, len(units))])


@register("ifeval", "detectable_format:number_bullet_lists")
def _bullets(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    units = regex_units(r"^[ \t]*(?:\*[^\*\n]|-).*$", re.MULTILINE)
    return ctx.pick(count_candidates(ctx, units, joiner="\n", extend=patch.line_with_newline))


@register("ifeval", "length_constraints:number_paragraphs")
def _paragraphs_stars(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    seps = regex_units(r"\*\*\*")(text)
    paras = patch.paragraphs(text)

    def cands():
        for s, e in reversed(seps):
            yield patch.delete([(s, e)])
        if paras:
            s, e = paras[-1]
            yield patch.insert(e, "\n\n***\n\n" + text[s:e])

    return ctx.pick(cands())


@register("ifeval", "length_constraints:nth_paragraph_first_word")
def _nth_first_word(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    nth = int(rule_kwargs(rubric).get("nth_paragraph") or 1)
    blocks = [m for m in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]*)*", text) if m.group().strip()]

    def cands():
        if nth <= len(blocks):
            b = blocks[nth - 1]
            first = re.search(r"\S+\s*", b.group())
            if first:
                yield patch.delete([(b.start() + first.start(), b.start() + first.end())])
        for m in re.finditer(r"\n\n", text):
            yield patch.replace(m.start(), m.end(), "\n")

    return ctx.pick(cands())


@register("ifeval", "detectable_format:title")
def _title(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    titles = regex_units(r"<<[^\n]+?>>")(text)
    if not titles:
        return None
    return ctx.pick([Patch.of([(s, s + 2, "") for s, _ in titles] + [(e - 2, e, "") for _, e in titles])])


@register("ifeval", "detectable_content:postscript")
def _postscript(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    marker = str(rule_kwargs(rubric).get("postscript_marker") or "patch.S.")
    if marker == "patch.patch.S":
        pat = r"p\.\s?p\.\s?s\.?\s?"
    elif marker == "patch.S.":
        pat = r"(?:p\.\s?)*p\.\s?s\.\s?"
    else:
        pat = re.escape(marker) + r"\s?"
    occ = occurrences(text, pat)
    return ctx.pick([patch.delete(occ) if occ else None])


@register("ifeval", "startend:end_checker")
def _end_checker(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    body = text.rstrip()

    def cands():
        stripped = body.rstrip('"')
        if stripped and not stripped[-1].isalnum():
            yield patch.delete([(len(stripped) - 1, len(stripped))])
        words = patch.words(stripped)
        if words:
            s, e = words[-1]
            yield patch.delete([patch.word_with_space(text, (s, e))])

    return ctx.pick(cands())


@register("ifeval", "startend:quotation")
def _quotation(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    body = text.rstrip()
    start = len(text) - len(text.lstrip())
    return ctx.pick([
        patch.delete([(len(body) - 1, len(body))]) if body.endswith('"') else None,
        patch.delete([(start, start + 1)]) if text[start:start + 1] == '"' else None,
    ])


@register("ifeval", "change_case:english_lowercase")
def _lowercase(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(case_flips(ctx, to_upper=True))


@register("ifeval", "change_case:english_capital")
def _capital(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(case_flips(ctx, to_upper=False))


@register("ifeval", "change_case:capital_word_frequency")
def _capital_frequency(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    upper = [u for u in patch.words(text) if text[u[0]:u[1]].isupper()]
    lower = mid_order(words_only(text, lambda w: w.islower() and len(w) >= 3))

    def fewer(k):
        if k > len(upper):
            return None
        return Patch.of([(s, e, text[s:e].capitalize()) for s, e in upper[-k:]])

    def more(k):
        if k > len(lower):
            return None
        return Patch.of([(s, e, text[s:e].upper()) for s, e in lower[:k]])

    return ctx.pick([ctx.smallest(fewer, len(upper)), ctx.smallest(more, len(lower))])


@register("ifeval", "combination:repeat_prompt", "startend:constrained_start")
def _first_word(item, rubric, text):
    """Both rules check how the response starts: dropping its first word breaks either."""
    ctx = EditContext(item, rubric, text)
    first = re.search(r"\S+\s*", text)
    return ctx.pick([patch.delete([first.span()]) if first else None])


@register("ifeval", "combination:two_responses")
def _two_responses(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    seps = regex_units(r"\n?\*{6}\n?")(text)
    return ctx.pick([patch.delete([u]) for u in seps])


@register("ifeval", "detectable_format:json_format")
def _json_format(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    body = text.rstrip().removesuffix("```").rstrip()
    starts = [m.start() for m in re.finditer(r"[\[{]", text)][:1]

    def cands():
        if body and body[-1] in "}]":
            yield patch.delete([(len(body) - 1, len(body))])
        for s in starts:
            yield patch.delete([(s, s + 1)])

    return ctx.pick(cands())


@register("ifeval", "detectable_format:multiple_sections")
def _sections(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    splitter = str(rule_kwargs(rubric).get("section_spliter") or "Section").strip()
    heads = [m.span(1) for m in re.finditer(r"(" + re.escape(splitter) + r")\s?\d+", text)]

    def fewer(k):
        if k > len(heads):
            return None
        return patch.delete([(s, e) for s, e in heads[-k:]])

    return ctx.pick([ctx.smallest(fewer, len(heads))])


@register("ifeval", "detectable_format:constrained_response")
def _constrained(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    occ = occurrences(text, r"My answer is (?:yes|no|maybe)\.", 0)
    return ctx.pick([patch.delete([(e - 1, e) for _, e in occ]) if occ else None])


@register("ifeval", "language:response_language")
def _language(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    sents = [u for u in patch.sentences(text) if len(patch.words(text[u[0]:u[1]])) >= 3 and not re.search(r"[<>*\[\]#|]", text[u[0]:u[1]])]
    english = (EN * (len(sents) // len(EN) + 1))[: len(sents)]

    def swap(order):
        def make(k):
            if k > len(order):
                return None
            return Patch.of([(s, e, english[i]) for i, (s, e) in enumerate(order[:k])])
        return make

    return ctx.pick([ctx.smallest(swap(sents[::-1]), len(sents)), ctx.smallest(swap(sents), len(sents))])
