"""Programmatic minimal-modification negatives for verifiable rubrics (the offline default, no LLM).

Each edit is registered per ``(family, rule_id)``: ``edit(item, rubric, positive) -> Patch | None``. A
:class:`~discriminator.data.patch.Patch` records the exact characters it replaces, so the labels are exact.
Edits are *verifier-guided*: they propose candidate patches from smallest to largest (one comma, one word,
the fewest sentences...) and keep the first one the rule's own checker (``rubrics.rules.check``) rejects while
every other rule of the item keeps its verdict; when no candidate is clean, the first one that breaks the
target is returned and the collateral flips are reported by :func:`verify_pair`. Count rules use a
smallest-k search (exponential then binary) over "delete k units" / "duplicate k units", so they work for any
relation (at least / at most / exactly / between) without re-implementing the checker's arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from discriminator.data import patch as P
from discriminator.data.patch import Patch, Unit
from discriminator.data.textbank import EN, NEUTRAL_WORDS
from rubrics.schema import Rubric, RubricItem, RuleVerifier

EditFn = Callable[[RubricItem, Rubric, str], "Patch | str | None"]
_REGISTRY: dict[tuple[str, str], EditFn] = {}

MAX_TRIES = 48  # checker calls one edit may spend picking a clean candidate


def register(family: str, *rule_ids: str) -> Callable[[EditFn], EditFn]:
    def deco(fn: EditFn) -> EditFn:
        for rid in rule_ids:
            _REGISTRY[(family, rid)] = fn
        return fn

    return deco


def edit_for(rubric: Rubric) -> EditFn | None:
    v = rubric.verifier
    if not isinstance(v, RuleVerifier):
        return None
    return _REGISTRY.get((v.family, v.rule_id))


def supported_rules() -> list[str]:
    return sorted(f"{f}:{r}" for f, r in _REGISTRY)


def family_key(rubric: Rubric) -> str:
    """``"ifeval:punctuation:no_comma"``, ``"muldimif:Length/Words"``; ``"llm"`` for judged rubrics."""
    v = rubric.verifier
    return f"{v.family}:{v.rule_id}" if isinstance(v, RuleVerifier) else "llm"


# ----------------------------------------------------------------------------------------------- oracle


_CHECKERS: dict[tuple[int, str], tuple[RuleVerifier, Any]] = {}
_VERDICTS: dict[tuple[int, str, str], tuple[RuleVerifier, bool | None]] = {}


def rule_passes(rubric: Rubric, text: str, prompt: str = "") -> bool | None:
    """The rule verdict, or ``None`` when the rubric is not rule-checkable (LLM rubric, unknown rule, bad kwargs).

    Built checkers and verdicts are memoised per verifier object (edits, the positive search and the pair
    verification ask the same (rule, text) question many times per item)."""
    from rubrics import rules

    v = rubric.verifier
    if not isinstance(v, RuleVerifier):
        return None
    memo_key = (id(v), prompt, text)
    known = _VERDICTS.get(memo_key)
    if known is not None and known[0] is v:
        return known[1]
    key = (id(v), prompt)
    hit = _CHECKERS.get(key)
    if hit is None or hit[0] is not v:
        try:
            checker = rules.get_checker(v, prompt)
        except (rules.UnsupportedRule, rules.RuleArgumentError):
            checker = None
        if len(_CHECKERS) > 20000:
            _CHECKERS.clear()
        hit = _CHECKERS[key] = (v, checker)
    verdict = None if hit[1] is None else bool(rules.evaluate(hit[1], text))
    if len(_VERDICTS) > 50000:
        _VERDICTS.clear()
    _VERDICTS[memo_key] = (v, verdict)
    return verdict


class EditContext:
    """The oracle an edit consults: does a candidate break the target and leave the other rules alone?"""

    def __init__(self, item: RubricItem, rubric: Rubric, text: str, max_tries: int = MAX_TRIES):
        self.item, self.rubric, self.text = item, rubric, text
        self.prompt = item.instruction
        self.tries = max_tries
        self.protected = _protected_spans(item, rubric, text)
        self.others = {}
        for r in item.rubrics:
            if r.id != rubric.id:
                verdict = rule_passes(r, text, self.prompt)
                if verdict is not None:
                    self.others[r.id] = (r, verdict)

    def passes(self, text: str) -> bool:
        return bool(rule_passes(self.rubric, text, self.prompt))

    def breaks(self, p: Patch | None) -> bool:
        if p is None or p.empty:
            return False
        new = p.apply(self.text)
        if not new.strip():  # an empty response fails every rule: not a minimal modification
            return False
        self.tries -= 1
        return not self.passes(new)

    def collateral(self, text: str) -> list[str]:
        return [rid for rid, (r, v) in self.others.items() if rule_passes(r, text, self.prompt) != v]

    def pick(self, candidates: Iterable[Patch | None]) -> Patch | None:
        """First candidate that breaks the target without collateral flips; else the first that breaks it."""
        dirty = None
        for p in candidates:
            if self.tries <= 0:
                break
            if p is None or not self.breaks(p):
                continue
            if not self._touches_protected(p) and not self.collateral(p.apply(self.text)):
                return p
            dirty = dirty or p
        return dirty

    def _touches_protected(self, p: Patch) -> bool:
        return any(s < pe and ps < max(e, s + 1) for s, e, _ in p.edits for ps, pe in self.protected)

    def smallest(self, make: Callable[[int], Patch | None], kmax: int) -> Patch | None:
        """The patch ``make(k)`` with the smallest ``k`` in ``1..kmax`` that breaks the target (monotone in k)."""
        if kmax < 1:
            return None
        k, lo, found = 1, 0, None
        while k <= kmax:
            p = make(k)
            if p is None:
                break
            if self.breaks(p):
                found = (k, p)
                break
            lo = k
            if k == kmax:
                break
            k = min(kmax, k * 2)
        if found is None:
            return None
        hi, best = found
        while hi - lo > 1 and self.tries > 0:
            mid = (lo + hi) // 2
            p = make(mid)
            if p is not None and self.breaks(p):
                hi, best = mid, p
            else:
                lo = mid
        return best


# ----------------------------------------------------------------------------------------------- helpers


def _protected_spans(item: RubricItem, target: Rubric, text: str) -> list[Unit]:
    """Text other rules pin down verbatim (a repeated prompt, a required opening): edits avoid it."""
    out = []
    for r in item.rubrics:
        v = r.verifier
        if r.id == target.id or not isinstance(v, RuleVerifier):
            continue
        if v.rule_id in ("combination:repeat_prompt", "startend:constrained_start", "Content/Identifiers"):
            fixed = str(v.kwargs.get("prompt_to_repeat") or v.kwargs.get("starter") or v.kwargs.get("prefix")
                        or (item.instruction if v.rule_id == "combination:repeat_prompt" else ""))
            at = text.lower().find(fixed.strip().lower()) if fixed.strip() else -1
            if at >= 0:
                out.append((at, at + len(fixed.strip())))
    return out


def style_like(word: str, text: str) -> str:
    """Case a new word like the text around it (all-lower text -> lower, all-upper -> upper)."""
    letters = [c for c in text if c.isalpha()]
    if letters and not any(c.isupper() for c in letters):
        return word.lower()
    if letters and not any(c.islower() for c in letters if c.lower() != c.upper()):
        return word.upper()
    return word


def _mid_order(units: list[Unit]) -> list[Unit]:
    """Units ordered from the middle outwards (edits away from the start/end phrases first)."""
    n = len(units)
    order = sorted(range(n), key=lambda i: (abs(i - (n - 1) / 2), i))
    return [units[i] for i in order]


def _neutral(ctx: EditContext, avoid: Iterable[str] = ()) -> str:
    avoid_l = [a.lower() for a in avoid if a]
    for w in NEUTRAL_WORDS:
        if not any(a in w or w in a for a in avoid_l):
            return w
    return "xyz"


def _words_only(text: str, pred: Callable[[str], bool] = lambda w: True) -> list[Unit]:
    return [(s, e) for s, e in P.words(text) if text[s:e].isalpha() and pred(text[s:e])]


def _delete_units(text: str, units: list[Unit], extend: Callable[[str, Unit], Unit]) -> Patch | None:
    if not units:
        return None
    spans = sorted(extend(text, u) for u in units)
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return P.delete([tuple(m) for m in merged])  # type: ignore[misc]


def _duplicate(text: str, unit: Unit, k: int, joiner: str) -> Patch:
    s, e = unit
    return P.insert(e, (joiner + text[s:e]) * k)


def count_candidates(ctx: EditContext, units_fn: Callable[[str], list[Unit]], *, joiner: str = " ",
                     extend: Callable[[str, Unit], Unit] = lambda t, u: u, add_cap: int = 400) -> Iterator[Patch | None]:
    """Delete the fewest units (from the end but keeping the last, from the end, from the start) or duplicate
    the fewest units (the second-to-last, the last) until the target breaks."""
    text = ctx.text
    units = units_fn(text)
    n = len(units)
    if n:
        yield ctx.smallest(lambda k: _delete_units(text, units[max(0, n - 1 - k): n - 1], extend) if k < n else None, n - 1)
        yield ctx.smallest(lambda k: _delete_units(text, units[n - k:], extend), n)
        yield ctx.smallest(lambda k: _delete_units(text, units[1: 1 + k], extend) if k < n else None, n - 1)
        src = units[-2] if n >= 2 else units[-1]
        yield ctx.smallest(lambda k: _duplicate(text, src, k, joiner), add_cap)
        yield ctx.smallest(lambda k: _duplicate(text, units[-1], k, joiner), add_cap)


def _regex_units(pattern: str, flags: int = 0) -> Callable[[str], list[Unit]]:
    rx = re.compile(pattern, flags)
    return lambda text: [m.span() for m in rx.finditer(text)]


def _replace_words(ctx: EditContext, new_word: str, *, exclude: Iterable[str] = ()) -> Iterator[Patch]:
    """Replace one plain word (4+ letters, middle of the text first) by ``new_word`` (keeps word counts)."""
    text = ctx.text
    ex = {e.lower() for e in exclude if e}
    cands = _words_only(text, lambda w: len(w) >= 4 and w.lower() not in ex and not any(x in w.lower() for x in ex))
    for s, e in _mid_order(cands)[:6]:
        yield P.replace(s, e, _match_case(new_word, text[s:e]))


def _match_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new.lower() if old.islower() else new


def _insert_word(ctx: EditContext, word: str) -> Iterator[Patch]:
    text = ctx.text
    for s, e in _mid_order(_words_only(text))[:4]:
        yield P.insert(e, " " + style_like(word, text))


def _occurrences(text: str, pattern: str, flags: int = re.IGNORECASE) -> list[Unit]:
    try:
        return [m.span() for m in re.finditer(pattern, text, flags) if m.end() > m.start()]
    except re.error:
        return [m.span() for m in re.finditer(re.escape(pattern), text, flags)]


def _enclosing_word(text: str, s: int, e: int) -> Unit:
    while s > 0 and (text[s - 1].isalnum() or text[s - 1] in "_-'"):
        s -= 1
    while e < len(text) and (text[e].isalnum() or text[e] in "_-'"):
        e += 1
    return s, e


def _replace_occurrences(ctx: EditContext, pattern: str, units: list[Unit], *, avoid: Iterable[str] = (),
                         whole_word: bool = True) -> Patch | None:
    if not units:
        return None
    text = ctx.text
    word = _neutral(ctx, [*avoid, pattern])
    edits = []
    last = -1
    for s, e in units:
        ws, we = _enclosing_word(text, s, e) if whole_word else (s, e)
        if ws < last:
            continue
        edits.append((ws, we, _match_case(word, text[ws:we])))
        last = we
    return Patch.of(edits)


def _keyword_pattern(word: str) -> str:
    body = r"\s+".join(re.escape(p) for p in word.split())
    left = r"(?<!\w)" if re.match(r"\w", word) else ""
    right = r"(?!\w)" if re.search(r"\w$", word) else ""
    return left + body + right


def _case_flips(ctx: EditContext, to_upper: bool, whole: bool = False) -> Iterator[Patch]:
    """Change the case of the first letter (or the whole word) of one word; words in order of appearance."""
    text = ctx.text
    words = _words_only(text, lambda w: (w[0].islower() if to_upper else w[0].isupper()) or (whole and w != (w.upper() if to_upper else w.lower())))
    for s, e in words[:MAX_TRIES]:
        w = text[s:e]
        new = (w.upper() if to_upper else w.lower()) if whole else ((w[0].upper() if to_upper else w[0].lower()) + w[1:])
        if new != w:
            yield P.replace(s, e, new)


def _comma_insertions(ctx: EditContext) -> Iterator[Patch]:
    text = ctx.text
    spots = [m.start() for m in re.finditer(r"(?<=[A-Za-z]) (?=[A-Za-z])", text)]
    spots = spots or [m.start() for m in re.finditer(r"(?<=\w) ", text)]
    n = len(spots)
    for i in sorted(range(n), key=lambda i: (abs(i - n / 2), i))[:5]:
        yield P.insert(spots[i], ",")
    if not spots and text:
        yield P.insert(len(text.rstrip()), ",")


# ----------------------------------------------------------------------------------------------- IFEval


def _kw(rubric: Rubric) -> dict[str, Any]:
    return dict(rubric.verifier.kwargs) if isinstance(rubric.verifier, RuleVerifier) else {}


@register("ifeval", "punctuation:no_comma")
def _no_comma(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(_comma_insertions(ctx))


@register("ifeval", "length_constraints:number_words")
def _n_words(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(count_candidates(ctx, _words_only, extend=P.word_with_space))


def sentence_candidates(ctx: EditContext) -> Iterator[Patch | None]:
    """Merge k sentence pairs (drop the stop between them) or split k sentences (a stop after their middle
    word) first: the word count does not move. Then delete/duplicate whole sentences."""
    text = ctx.text
    joints = [m.start(1) for m in re.finditer(r"\w([.!?])[ ]+(?=[A-Za-z])", text)]
    joints = _mid_order([(j, j + 1) for j in joints])
    middles = []
    for s, e in P.sentences(text):
        ws = [u for u in P.words(text[s:e])]
        if len(ws) >= 4:
            middles.append(s + ws[len(ws) // 2 - 1][1])
    middles = [(m, m) for m in middles]
    yield ctx.smallest(lambda k: P.delete(sorted(joints[:k])) if k <= len(joints) else None, len(joints))
    yield ctx.smallest(lambda k: Patch.of([(m, m, ".") for m, _ in middles[-k:]]) if k <= len(middles) else None,
                       len(middles))
    yield from count_candidates(ctx, P.sentences, extend=P.sentence_with_space)


@register("ifeval", "length_constraints:number_sentences")
def _n_sentences(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(sentence_candidates(ctx))


@register("ifeval", "keywords:forbidden_words")
def _forbidden(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    words = [w for w in _kw(rubric).get("forbidden_words") or [] if w]

    def cands():
        for w in words[:3]:
            yield from _replace_words(ctx, w, exclude=words)
            yield from _insert_word(ctx, w)

    return ctx.pick(cands())


@register("ifeval", "keywords:existence")
def _existence(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    kws = [k for k in _kw(rubric).get("keywords") or [] if k]

    def cands():
        for k in kws:
            yield _replace_occurrences(ctx, k, _occurrences(text, k), avoid=kws)

    return ctx.pick(cands())


@register("ifeval", "keywords:frequency")
def _frequency(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    kw = _kw(rubric).get("keyword") or ""
    if not kw:
        return None
    occ = _occurrences(text, kw)
    plain = _mid_order(_words_only(text, lambda w: len(w) >= 4 and kw.lower() not in w.lower()))

    def fewer(k):
        return _replace_occurrences(ctx, kw, occ[-k:], avoid=[kw]) if k <= len(occ) else None

    def more(k):
        if k > len(plain):
            return None
        return Patch.of([(s, e, _match_case(kw, text[s:e])) for s, e in plain[:k]])

    return ctx.pick([ctx.smallest(fewer, len(occ)), ctx.smallest(more, len(plain))])


@register("ifeval", "keywords:letter_frequency")
def _letter_frequency(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    letter = str(_kw(rubric).get("letter") or "").strip().lower()
    if len(letter) != 1:
        return None
    low = text.lower()
    with_letter = sorted(
        [u for u in P.words(text) if letter in low[u[0]:u[1]]], key=lambda u: -low[u[0]:u[1]].count(letter)
    )
    chars = [i for i, c in enumerate(low) if c == letter]

    def drop_words(k):
        return _delete_units(text, with_letter[:k], P.word_with_space) if k <= len(with_letter) else None

    def drop_chars(k):
        return P.delete([(i, i + 1) for i in chars[-k:]]) if k <= len(chars) else None

    def dup_words(k):
        if not with_letter:
            return None
        src = with_letter[:k] if k <= len(with_letter) else with_letter * (k // len(with_letter) + 1)
        return Patch.of([(e, e, " " + text[s:e]) for s, e in sorted(set(src[:k]))]) if k <= len(with_letter) else None

    def add_chars(k):
        words = _words_only(text)
        at = words[len(words) // 2][1] if words else len(text)
        return P.insert(at, " " + letter * k)

    return ctx.pick([
        ctx.smallest(drop_words, len(with_letter)),
        ctx.smallest(drop_chars, len(chars)),
        ctx.smallest(dup_words, len(with_letter)),
        ctx.smallest(add_chars, 200),
    ])


@register("ifeval", "detectable_format:number_highlighted_sections")
def _highlights(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    units = _regex_units(r"\*\*[^\n\*]*\*\*|\*[^\n\*]*\*")(text)

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
    units = _regex_units(r"\[.*?\]")(text)

    def unbracket(k):
        if k > len(units):
            return None
        return Patch.of([(s, e, text[s + 1:e - 1]) for s, e in units[-k:]])

    return ctx.pick([ctx.smallest(unbracket, len(units))])


@register("ifeval", "detectable_format:number_bullet_lists")
def _bullets(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    units = _regex_units(r"^[ \t]*(?:\*[^\*\n]|-).*$", re.M)
    return ctx.pick(count_candidates(ctx, units, joiner="\n", extend=P.line_with_newline))


@register("ifeval", "length_constraints:number_paragraphs")
def _paragraphs_stars(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    seps = _regex_units(r"\*\*\*")(text)
    paras = P.paragraphs(text)

    def cands():
        for s, e in reversed(seps):
            yield P.delete([(s, e)])
        if paras:
            s, e = paras[-1]
            yield P.insert(e, "\n\n***\n\n" + text[s:e])

    return ctx.pick(cands())


@register("ifeval", "length_constraints:nth_paragraph_first_word")
def _nth_first_word(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    nth = int(_kw(rubric).get("nth_paragraph") or 1)
    blocks = [m for m in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]*)*", text) if m.group().strip()]

    def cands():
        if nth <= len(blocks):
            b = blocks[nth - 1]
            first = re.search(r"\S+\s*", b.group())
            if first:
                yield P.delete([(b.start() + first.start(), b.start() + first.end())])
        for m in re.finditer(r"\n\n", text):
            yield P.replace(m.start(), m.end(), "\n")

    return ctx.pick(cands())


@register("ifeval", "detectable_format:title")
def _title(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    titles = _regex_units(r"<<[^\n]+?>>")(text)
    if not titles:
        return None
    return ctx.pick([Patch.of([(s, s + 2, "") for s, _ in titles] + [(e - 2, e, "") for _, e in titles])])


@register("ifeval", "detectable_content:postscript")
def _postscript(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    marker = str(_kw(rubric).get("postscript_marker") or "P.S.")
    if marker == "P.P.S":
        pat = r"p\.\s?p\.\s?s\.?\s?"
    elif marker == "P.S.":
        pat = r"(?:p\.\s?)*p\.\s?s\.\s?"
    else:
        pat = re.escape(marker) + r"\s?"
    occ = _occurrences(text, pat)
    return ctx.pick([P.delete(occ) if occ else None])


@register("ifeval", "startend:end_checker")
def _end_checker(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    body = text.rstrip()

    def cands():
        stripped = body.rstrip('"')
        if stripped and not stripped[-1].isalnum():
            yield P.delete([(len(stripped) - 1, len(stripped))])
        words = P.words(stripped)
        if words:
            s, e = words[-1]
            yield P.delete([P.word_with_space(text, (s, e))])

    return ctx.pick(cands())


@register("ifeval", "startend:quotation")
def _quotation(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    body = text.rstrip()
    start = len(text) - len(text.lstrip())
    return ctx.pick([
        P.delete([(len(body) - 1, len(body))]) if body.endswith('"') else None,
        P.delete([(start, start + 1)]) if text[start:start + 1] == '"' else None,
    ])


@register("ifeval", "change_case:english_lowercase")
def _lowercase(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(_case_flips(ctx, to_upper=True))


@register("ifeval", "change_case:english_capital")
def _capital(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(_case_flips(ctx, to_upper=False))


@register("ifeval", "change_case:capital_word_frequency")
def _capital_frequency(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    upper = [u for u in P.words(text) if text[u[0]:u[1]].isupper()]
    lower = _mid_order(_words_only(text, lambda w: w.islower() and len(w) >= 3))

    def fewer(k):
        if k > len(upper):
            return None
        return Patch.of([(s, e, text[s:e].capitalize()) for s, e in upper[-k:]])

    def more(k):
        if k > len(lower):
            return None
        return Patch.of([(s, e, text[s:e].upper()) for s, e in lower[:k]])

    return ctx.pick([ctx.smallest(fewer, len(upper)), ctx.smallest(more, len(lower))])


@register("ifeval", "combination:repeat_prompt")
def _repeat_prompt(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    first = re.search(r"\S+\s*", text)
    return ctx.pick([P.delete([first.span()]) if first else None])


@register("ifeval", "combination:two_responses")
def _two_responses(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    seps = _regex_units(r"\n?\*{6}\n?")(text)
    return ctx.pick([P.delete([u]) for u in seps])


@register("ifeval", "detectable_format:json_format")
def _json_format(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    body = text.rstrip().removesuffix("```").rstrip()
    starts = [m.start() for m in re.finditer(r"[\[{]", text)][:1]

    def cands():
        if body and body[-1] in "}]":
            yield P.delete([(len(body) - 1, len(body))])
        for s in starts:
            yield P.delete([(s, s + 1)])

    return ctx.pick(cands())


@register("ifeval", "detectable_format:multiple_sections")
def _sections(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    splitter = str(_kw(rubric).get("section_spliter") or "Section").strip()
    heads = [m.span(1) for m in re.finditer(r"(" + re.escape(splitter) + r")\s?\d+", text)]

    def fewer(k):
        if k > len(heads):
            return None
        return P.delete([(s, e) for s, e in heads[-k:]])

    return ctx.pick([ctx.smallest(fewer, len(heads))])


@register("ifeval", "detectable_format:constrained_response")
def _constrained(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    occ = _occurrences(text, r"My answer is (?:yes|no|maybe)\.", 0)
    return ctx.pick([P.delete([(e - 1, e) for _, e in occ]) if occ else None])


@register("ifeval", "startend:constrained_start")
def _constrained_start(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    first = re.search(r"\S+\s*", text)
    return ctx.pick([P.delete([first.span()]) if first else None])


@register("ifeval", "language:response_language")
def _language(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    sents = [u for u in P.sentences(text) if len(P.words(text[u[0]:u[1]])) >= 3 and not re.search(r"[<>*\[\]#|]", text[u[0]:u[1]])]
    english = (EN * (len(sents) // len(EN) + 1))[: len(sents)]

    def swap(order):
        def make(k):
            if k > len(order):
                return None
            return Patch.of([(s, e, english[i]) for i, (s, e) in enumerate(order[:k])])
        return make

    return ctx.pick([ctx.smallest(swap(sents[::-1]), len(sents)), ctx.smallest(swap(sents), len(sents))])


# ----------------------------------------------------------------------------------------------- MulDimIF


@register("muldimif", "Content/Keywords")
def _md_keywords(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    kw = _kw(rubric)
    kws = [k for k in kw.get("keywords") or [] if k]
    mode = kw.get("mode", "all")

    def cands():
        if mode == "none":
            for k in kws[:2]:
                yield from _replace_words(ctx, k, exclude=kws)
                yield from _insert_word(ctx, k)
            return
        if mode == "any":
            occ = sorted(u for k in kws for u in _occurrences(text, _keyword_pattern(k)))
            yield _replace_occurrences(ctx, "|".join(kws), occ, avoid=kws, whole_word=False)
            return
        for k in kws:
            occ = _occurrences(text, _keyword_pattern(k))
            yield ctx.smallest(
                lambda n, occ=occ, k=k: _replace_occurrences(ctx, k, occ[-n:], avoid=kws, whole_word=False)
                if n <= len(occ) else None,
                len(occ),
            )

    return ctx.pick(cands())


@register("muldimif", "Content/Punctuation")
def _md_punctuation(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    mark = str(_kw(rubric).get("mark") or ".")
    other = "!" if mark != "!" else "."
    ends = [m.span() for m in re.finditer(re.escape(mark) + r"(?=[\"'”’)\]»`]*\s*(?:\n|$))", text)]
    ends = ends or [m.span() for m in re.finditer(re.escape(mark), text)]
    return ctx.pick(P.replace(s, e, other) for s, e in reversed(ends))


@register("muldimif", "Content/Identifiers")
def _md_identifier(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    prefix = str(_kw(rubric).get("prefix") or "")
    at = text.find(prefix) if prefix else -1
    return ctx.pick([P.delete([(at, at + 1)]) if at >= 0 else None,
                     P.delete([re.search(r"\S+\s*", text).span()]) if text.strip() else None])


@register("muldimif", "Language/English")
def _md_english(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    case = _kw(rubric).get("case", "title")
    if case == "lower":
        return ctx.pick(_case_flips(ctx, to_upper=True))
    if case == "upper":
        return ctx.pick(_case_flips(ctx, to_upper=False))
    return ctx.pick(_case_flips(ctx, to_upper=False))


_SIMP_TO_TRAD = dict(zip("这个们来说时国会为对学发经过还后实现样点开关问题", "這個們來說時國會為對學發經過還後實現樣點開關問題"))


@register("muldimif", "Language/Chinese")
def _md_chinese(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    script = _kw(rubric).get("script", "simplified")
    table = _SIMP_TO_TRAD if script == "simplified" else {v: k for k, v in _SIMP_TO_TRAD.items()}
    hits = [i for i, c in enumerate(text) if c in table]

    def cands():
        for i in hits[:3]:
            yield P.replace(i, i + 1, table[text[i]])
        cjk = [u for u in P.sentences(text)]
        english = (EN * (len(cjk) // len(EN) + 1))[: len(cjk)]
        yield ctx.smallest(lambda k: Patch.of([(s, e, english[j]) for j, (s, e) in enumerate(cjk[:k])])
                           if k <= len(cjk) else None, len(cjk))

    return ctx.pick(cands())


@register("muldimif", "Length/Words")
def _md_words(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(count_candidates(ctx, _words_only, extend=P.word_with_space))


@register("muldimif", "Length/Sentences")
def _md_sentences(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    return ctx.pick(sentence_candidates(ctx))


@register("muldimif", "Length/Paragraphs")
def _md_paragraphs(item, rubric, text):
    ctx = EditContext(item, rubric, text)

    def cands():
        yield from count_candidates(ctx, P.paragraphs, joiner="\n\n")
        for m in reversed(list(re.finditer(r"\n\s*\n", text))):
            yield P.replace(m.start(), m.end(), "\n")

    return ctx.pick(cands())


def _table_cells(text: str) -> list[list[Unit]]:
    """Per table row line: the spans of its cells including the leading ``|``."""
    out = []
    for s, e in P.table_rows(text, body_only=False):
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
    kw = _kw(rubric)
    rows_all = P.table_rows(text, body_only=False)
    cells = _table_cells(text)

    def cands():
        if kw.get("rows"):
            yield from count_candidates(ctx, P.table_rows, joiner="\n", extend=P.line_with_newline, add_cap=60)
        if kw.get("cols") and cells and all(len(r) >= 2 for r in cells):
            yield P.delete([r[-1] for r in cells])
            yield ctx.smallest(lambda k: Patch.of([(r[-1][1], r[-1][1], text[r[-1][0]:r[-1][1]] * k) for r in cells]), 30)
        if kw.get("cell_words"):
            body = [c for r in cells[2:] for c in r[:1]]
            for a, b in body[:2]:
                yield ctx.smallest(lambda k, b=b: P.insert(b, " plan" * k), 60)
        if not rows_all:  # no table: add the smallest violating one
            paras = P.paragraphs(text)
            at = paras[0][1] if paras else len(text)
            yield ctx.smallest(lambda k: P.insert(at, "\n\n" + _table_block(k, k, k) + "\n"), 30)
        seps = [u for u in rows_all if P.TABLE_SEP.match(text[u[0]:u[1]])]
        for u in seps:
            yield P.delete([P.line_with_newline(text, u)])
        if rows_all:
            yield P.delete([(rows_all[0][0], P.line_with_newline(text, rows_all[-1])[1])])

    return ctx.pick(cands())


@register("muldimif", "Format/Markdown")
def _md_markdown(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    heads = [m for m in re.finditer(r"^([ \t]{0,3})(#{1,6})(?=[ \t])", text, re.M)]

    def cands():
        for m in heads[:4]:  # a heading k levels deeper / shallower
            s, e = m.span(2)
            n = e - s
            yield ctx.smallest(lambda k, e=e, n=n: P.insert(e, "#" * k) if n + k <= 6 else None, 6 - n)
            yield ctx.smallest(lambda k, s=s, n=n: P.delete([(s, s + k)]) if k < n else None, n - 1)
        if len(heads) > 1:  # every heading one level deeper / shallower (word counts do not move)
            yield Patch.of([(m.end(2), m.end(2), "#") for m in heads]) if all(len(m.group(2)) < 6 for m in heads) else None
            yield Patch.of([(m.start(2), m.start(2) + 1, "") for m in heads]) if all(len(m.group(2)) > 1 for m in heads) else None
            yield Patch.of([(m.start(2), m.end(2) + (1 if text[m.end(2):m.end(2) + 1] == " " else 0), "") for m in heads])
        paras = P.paragraphs(text)
        at = paras[0][1] if paras else len(text)
        for level in range(1, 7):  # one more heading of some level
            yield P.insert(at, f"\n\n{'#' * level} Notes\n")
        lines = [P.line_with_newline(text, (m.start(), text.find("\n", m.start()) if "\n" in text[m.start():] else len(text)))
                 for m in heads]
        yield P.delete(lines[-1:]) if lines else None
        yield _delete_units(text, [(a, b) for a, b in lines], lambda t, u: u) if lines else None
        for m in reversed(heads):  # drop a heading marker
            s = m.start(2)
            end = s + len(m.group(2))
            end += 1 if text[end:end + 1] == " " else 0
            yield P.delete([(s, end)])
        quotes = [m.span(1) for m in re.finditer(r"^[ \t]{0,3}(>[ \t]?)", text, re.M)]
        yield P.delete(quotes) if quotes else None

    return ctx.pick(cands())


@register("muldimif", "Format/Json")
def _md_json(item, rubric, text):
    ctx = EditContext(item, rubric, text)

    def cands():
        for m in re.finditer(r'(:\s*)("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)', text):
            s, e = m.span(2)
            yield P.replace(s, e, "[" + text[s:e] + "]")
            break
        closers = [i for i, c in enumerate(text) if c in "}]"]
        if closers:
            yield P.delete([(closers[-1], closers[-1] + 1)])

    return ctx.pick(cands())


@register("muldimif", "Format/XML")
def _md_xml(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    tags = [m for m in re.finditer(r"<([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>", text)]

    def cands():
        for m in tags[:3]:
            at = m.end(2)
            yield ctx.smallest(lambda k, at=at: P.insert(at, "".join(f' x{i}="{i}"' for i in range(k))), 12)
        for m in tags[:3]:
            attrs = list(re.finditer(r"\s+[\w:.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*')", m.group(2)))
            if attrs:
                base = m.start(2)
                yield P.delete([(base + a.start(), base + a.end()) for a in attrs])

    return ctx.pick(cands())


@register("muldimif", "Format/Text")
def _md_text(item, rubric, text):
    ctx = EditContext(item, rubric, text)
    lines = P.lines(text)
    return ctx.pick(P.insert(s, "- ") for s, _ in lines[:3])


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
