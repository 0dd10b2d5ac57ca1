"""Minimal edits that break MulDimIF rules (registered in :mod:`discriminator.data.edits`)."""

from __future__ import annotations

import re

from discriminator.data import patch
from discriminator.data.edits.base import (
    EditContext,
    case_flips,
    count_candidates,
    delete_units,
    insert_word,
    keyword_pattern,
    occurrences,
    register,
    replace_occurrences,
    replace_words,
    rule_kwargs,
    sentence_candidates,
    words_only,
)
from discriminator.data.patch import Patch, Unit
from discriminator.data.textbank import EN

# ----------------------------------------------------------------------------------------------- MulDimIF


@register("muldimif", "Content/Keywords")
def _md_keywords(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    kw = rule_kwargs(rubric)
    kws = [k for k in kw.get("keywords") or [] if k]
    mode = kw.get("mode", "all")

    def cands():
        if mode == "none":
            for k in kws[:2]:
                yield from replace_words(ctx, k, exclude=kws)
                yield from insert_word(ctx, k)
            return
        if mode == "any":
            occ = sorted(u for k in kws for u in occurrences(text, keyword_pattern(k)))
            yield replace_occurrences(ctx, "|".join(kws), occ, avoid=kws, whole_word=False)
            return
        for k in kws:
            occ = occurrences(text, keyword_pattern(k))
            yield ctx.smallest(
                lambda n, occ=occ, k=k: replace_occurrences(ctx, k, occ[-n:], avoid=kws, whole_word=False)
                if n <= len(occ) else None,
                len(occ),
            )

    return ctx.pick(cands())


@register("muldimif", "Content/Punctuation")
def _md_punctuation(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    mark = str(rule_kwargs(rubric).get("mark") or ".")
    other = "!" if mark != "!" else "."
    ends = [m.span() for m in re.finditer(re.escape(mark) + r"(?=[\"'”’)\]»`]*\s*(?:\n|$))", text)]
    ends = ends or [m.span() for m in re.finditer(re.escape(mark), text)]
    return ctx.pick(patch.replace(s, e, other) for s, e in reversed(ends))


@register("muldimif", "Content/Identifiers")
def _md_identifier(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    prefix = str(rule_kwargs(rubric).get("prefix") or "")
    at = text.find(prefix) if prefix else -1
    return ctx.pick([patch.delete([(at, at + 1)]) if at >= 0 else None,
                     patch.delete([re.search(r"\S+\s*", text).span()]) if text.strip() else None])


@register("muldimif", "Language/English")
def _md_english(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    case = rule_kwargs(rubric).get("case", "title")
    if case == "lower":
        return ctx.pick(case_flips(ctx, to_upper=True))
    if case == "upper":
        return ctx.pick(case_flips(ctx, to_upper=False))
    return ctx.pick(case_flips(ctx, to_upper=False))


_SIMP_TO_TRAD = dict(zip("这个们来说时国会为对学发经过还后实现样点开关问题", "這個們來說時國會為對學發經過還後實現樣點開關問題"))


@register("muldimif", "Language/Chinese")
def _md_chinese(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    script = rule_kwargs(rubric).get("script", "simplified")
    table = _SIMP_TO_TRAD if script == "simplified" else {v: k for k, v in _SIMP_TO_TRAD.items()}
    hits = [i for i, c in enumerate(text) if c in table]

    def cands():
        for i in hits[:3]:
            yield patch.replace(i, i + 1, table[text[i]])
        cjk = [u for u in patch.sentences(text)]
        english = (EN * (len(cjk) // len(EN) + 1))[: len(cjk)]
        yield ctx.smallest(lambda k: Patch.of([(s, e, english[j]) for j, (s, e) in enumerate(cjk[:k])])
                           if k <= len(cjk) else None, len(cjk))

    return ctx.pick(cands())


@register("muldimif", "Length/Words")
def _md_words(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(count_candidates(ctx, words_only, extend=patch.word_with_space, grow_by_sentences=True))


@register("muldimif", "Length/Sentences")
def _md_sentences(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(sentence_candidates(ctx))


@register("muldimif", "Length/Paragraphs")
def _md_paragraphs(item, rubric, text):
    ctx = EditContext(item, rubric, text)

    def cands():
        yield from count_candidates(ctx, patch.paragraphs, joiner="\n\n")
        for m in reversed(list(re.finditer(r"\n\s*\n", text))):
            yield patch.replace(m.start(), m.end(), "\n")

    return ctx.pick(cands())


def _table_cells(text: str) -> list[list[Unit]]:
    """Per table row line: the spans of its cells including the leading ``|``."""
    out = []
    for s, e in patch.table_rows(text, body_only=False):
        line = text[s:e]
        bars = [s + i for i, c in enumerate(line) if c == "|"]
        out.append([(a, b) for a, b in zip(bars, bars[1:])])
    return out


def _table_block(rows: int, cols: int, words: int = 1) -> str:
    cell = " ".join(["plan"] * words)
    head = "| " + " | ".join(f"Col {c + 1}" for c in range(cols)) + " |"
    sep = "|" + "|".join(["---"] * cols) + "|"
    body = ["| " + " | ".join(cell for _ in range(cols)) + " |" for _ in range(rows)]
    return "\n".join([head, sep, *body])


@register("muldimif", "Format/Table")
def _md_table(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    kw = rule_kwargs(rubric)
    rows_all = patch.table_rows(text, body_only=False)
    cells = _table_cells(text)

    def cands():
        if kw.get("rows"):
            yield from count_candidates(ctx, patch.table_rows, joiner="\n", extend=patch.line_with_newline, add_cap=60)
        if kw.get("cols") and cells and all(len(r) >= 2 for r in cells):
            yield patch.delete([r[-1] for r in cells])
            yield ctx.smallest(lambda k: Patch.of([(r[-1][1], r[-1][1], text[r[-1][0]:r[-1][1]] * k) for r in cells]), 30)
        if kw.get("cell_words"):
            body = [c for r in cells[2:] for c in r[:1]]
            for a, b in body[:2]:
                yield ctx.smallest(lambda k, b=b: patch.insert(b, " plan" * k), 60)
        if not rows_all:  # no table: add the smallest violating one
            paras = patch.paragraphs(text)
            at = paras[0][1] if paras else len(text)
            yield ctx.smallest(lambda k: patch.insert(at, "\n\n" + _table_block(k, k, k) + "\n"), 30)
        seps = [u for u in rows_all if patch.TABLE_SEP.match(text[u[0]:u[1]])]
        for u in seps:
            yield patch.delete([patch.line_with_newline(text, u)])
        if rows_all:
            yield patch.delete([(rows_all[0][0], patch.line_with_newline(text, rows_all[-1])[1])])

    return ctx.pick(cands())


@register("muldimif", "Format/Markdown")
def _md_markdown(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    heads = [m for m in re.finditer(r"^([ \t]{0,3})(#{1,6})(?=[ \t])", text, re.MULTILINE)]

    def cands():
        for m in heads[:4]:  # a heading k levels deeper / shallower
            s, e = m.span(2)
            n = e - s
            yield ctx.smallest(lambda k, e=e, n=n: patch.insert(e, "#" * k) if n + k <= 6 else None, 6 - n)
            yield ctx.smallest(lambda k, s=s, n=n: patch.delete([(s, s + k)]) if k < n else None, n - 1)
        if len(heads) > 1:  # every heading one level deeper / shallower (word counts do not move)
            yield Patch.of([(m.end(2), m.end(2), "#") for m in heads]) if all(len(m.group(2)) < 6 for m in heads) else None
            yield Patch.of([(m.start(2), m.start(2) + 1, "") for m in heads]) if all(len(m.group(2)) > 1 for m in heads) else None
            yield Patch.of([(m.start(2), m.end(2) + (1 if text[m.end(2):m.end(2) + 1] == " " else 0), "") for m in heads])
        paras = patch.paragraphs(text)
        at = paras[0][1] if paras else len(text)
        for level in range(1, 7):  # one more heading of some level
            yield patch.insert(at, f"\n\n{'#' * level} Notes\n")
        lines = [patch.line_with_newline(text, (m.start(), text.find("\n", m.start()) if "\n" in text[m.start():] else len(text)))
                 for m in heads]
        yield patch.delete(lines[-1:]) if lines else None
        yield delete_units(text, [(a, b) for a, b in lines], lambda t, u: u) if lines else None
        for m in reversed(heads):  # drop a heading marker
            s = m.start(2)
            end = s + len(m.group(2))
            end += 1 if text[end:end + 1] == " " else 0
            yield patch.delete([(s, end)])
        quotes = [m.span(1) for m in re.finditer(r"^[ \t]{0,3}(>[ \t]?)", text, re.MULTILINE)]
        yield patch.delete(quotes) if quotes else None

    return ctx.pick(cands())


@register("muldimif", "Format/Json")
def _md_json(item, rubric, text):
    ctx = EditContext(item, rubric, text)

    def cands():
        for m in re.finditer(r'(:\s*)("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)', text):
            s, e = m.span(2)
            yield patch.replace(s, e, "[" + text[s:e] + "]")
            break
        closers = [i for i, c in enumerate(text) if c in "}]"]
        if closers:
            yield patch.delete([(closers[-1], closers[-1] + 1)])

    return ctx.pick(cands())


@register("muldimif", "Format/XML")
def _md_xml(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    tags = [m for m in re.finditer(r"<([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>", text)]

    def cands():
        for m in tags[:3]:
            at = m.end(2)
            yield ctx.smallest(lambda k, at=at: patch.insert(at, "".join(f' x{i}="{i}"' for i in range(k))), 12)
        for m in tags[:3]:
            attrs = list(re.finditer(r"\s+[\w:.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*')", m.group(2)))
            if attrs:
                base = m.start(2)
                yield patch.delete([(base + a.start(), base + a.end()) for a in attrs])

    return ctx.pick(cands())


@register("muldimif", "Format/Text")
def _md_text(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    lines = patch.lines(text)
    return ctx.pick(patch.insert(s, "- ") for s, _ in lines[:3])
