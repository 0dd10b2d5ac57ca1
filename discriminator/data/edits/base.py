"""The edit kit: the registry, the rule oracle and the edit primitives the breaking edits and the repairs share.

An edit is registered per ``(family, rule_id)`` with :func:`register`; :class:`EditContext` is the oracle it
consults (does a candidate break the target rule and leave the other rules alone?); the rest are candidate
generators and text helpers (one module per dataset family composes them: :mod:`.ifeval`, :mod:`.muldimif`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from discriminator.data import patch
from discriminator.data.patch import Patch, Unit
from discriminator.data.textbank import NEUTRAL_WORDS
from rubrics.schema import Rubric, RubricItem, RuleVerifier

EditFn = Callable[[RubricItem, Rubric, str], "Patch | str | None"]
REGISTRY: dict[tuple[str, str], EditFn] = {}

MAX_TRIES = 48  # checker calls one edit may spend picking a clean candidate


def register(family: str, *rule_ids: str) -> Callable[[EditFn], EditFn]:
    def deco(fn: EditFn) -> EditFn:
        for rid in rule_ids:
            REGISTRY[(family, rid)] = fn
        return fn

    return deco


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
    """The oracle an edit consults: does a candidate break the target (or, with ``want_pass``, repair it) and
    leave the other rules alone?"""

    def __init__(self, item: RubricItem, rubric: Rubric, text: str, max_tries: int = MAX_TRIES, *,
                 want_pass: bool = False):
        self.item, self.rubric, self.text = item, rubric, text
        self.want_pass = want_pass  # a repair: candidates must make the target pass (the same search, inverted)
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
        return self.passes(new) == self.want_pass

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


def mid_order(units: list[Unit]) -> list[Unit]:
    """Units ordered from the middle outwards (edits away from the start/end phrases first)."""
    n = len(units)
    order = sorted(range(n), key=lambda i: (abs(i - (n - 1) / 2), i))
    return [units[i] for i in order]


def _neutral(ctx: EditContext, avoid: Iterable[str] = (), replaced: str = "") -> str:
    """A stand-in for a removed word that reads naturally: the response's own most frequent content word of the
    same part of speech as ``replaced`` (so the edit does not plant an odd word a model could key on), else a
    neutral noun."""
    avoid_l = [a.lower() for a in avoid if a]
    clash = lambda w: any(a in w or w in a for a in avoid_l)  # noqa: E731
    if replaced:
        word = context_word(ctx.text, replaced, clash)
        if word:
            return word
    for w in NEUTRAL_WORDS:
        if not clash(w):
            return w
    return "xyz"


def context_word(text: str, replaced: str, reject: Callable[[str], bool] = lambda w: False) -> str | None:
    """The most frequent content word of ``text`` tagged like ``replaced`` (NLTK's perceptron tagger), or None."""
    tagged = pos_tags(text)
    want = next((t for w, t in tagged if w.lower() == replaced.lower()), None)
    if want is None:
        return None
    counts: dict[str, list] = {}  # lower-case word -> [exact-tag hits, hits, surface form]
    for w, t in tagged:
        lw = w.lower()
        if t[:2] == want[:2] and len(lw) >= 4 and w.isalpha() and lw not in english_stopwords() and lw != replaced.lower() \
                and not reject(lw):
            c = counts.setdefault(lw, [0, 0, w])
            c[0] += t == want
            c[1] += 1
    if not counts:
        return None
    best = max(counts, key=lambda w: (counts[w][0] > 0, counts[w][1], -len(w)))
    surface = counts[best][2]
    return surface if want.startswith("NNP") else best


TAG_WORDS = 160  # words tagged per text: enough to find its frequent words, bounded cost on long texts


@functools.lru_cache(maxsize=256)
def pos_tags(text: str) -> tuple[tuple[str, str], ...]:
    tagger = _tagger()
    if tagger is None:
        return ()
    return tuple(tagger.tag(re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text)[:TAG_WORDS]))


@functools.lru_cache(maxsize=1)
def _tagger():
    """NLTK's perceptron tagger, loaded once (``nltk.pos_tag`` reloads its weights on every call)."""
    try:
        from nltk.tag.perceptron import PerceptronTagger

        return PerceptronTagger()
    except (LookupError, OSError):  # no tagger data: no context words, the neutral list is used
        return None


@functools.lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    try:
        from nltk.corpus import stopwords

        return frozenset(stopwords.words("english"))
    except LookupError:
        return frozenset({"the", "and", "that", "this", "with", "from", "have", "were", "they", "their", "there"})


def words_only(text: str, pred: Callable[[str], bool] = lambda w: True) -> list[Unit]:
    return [(s, e) for s, e in patch.words(text) if text[s:e].isalpha() and pred(text[s:e])]


def delete_units(text: str, units: list[Unit], extend: Callable[[str, Unit], Unit]) -> Patch | None:
    if not units:
        return None
    spans = sorted(extend(text, u) for u in units)
    merged: list[list[int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return patch.delete([tuple(m) for m in merged])  # type: ignore[misc]


def duplicate(text: str, unit: Unit, k: int, joiner: str) -> Patch:
    s, e = unit
    return patch.insert(e, (joiner + text[s:e]) * k)


def count_candidates(ctx: EditContext, units_fn: Callable[[str], list[Unit]], *, joiner: str = " ",
                     extend: Callable[[str, Unit], Unit] = lambda t, u: u, add_cap: int = 400,
                     grow_by_sentences: bool = False) -> Iterator[Patch | None]:
    """Delete the fewest units (from the end but keeping the last, from the end, from the start) or duplicate
    the fewest units (the last sentence when ``grow_by_sentences``, the second-to-last unit, the last) until the
    target breaks."""
    text = ctx.text
    units = units_fn(text)
    n = len(units)
    if n:
        yield ctx.smallest(lambda k: delete_units(text, units[max(0, n - 1 - k): n - 1], extend) if k < n else None, n - 1)
        yield ctx.smallest(lambda k: delete_units(text, units[n - k:], extend), n)
        yield ctx.smallest(lambda k: delete_units(text, units[1: 1 + k], extend) if k < n else None, n - 1)
        if grow_by_sentences:  # more words: repeat whole sentences (a real failure mode) before single words
            sents = patch.sentences(text)
            if sents:
                yield ctx.smallest(lambda k: duplicate(text, sents[-1], k, " "), 40)
        src = units[-2] if n >= 2 else units[-1]
        yield ctx.smallest(lambda k: duplicate(text, src, k, joiner), add_cap)
        yield ctx.smallest(lambda k: duplicate(text, units[-1], k, joiner), add_cap)


def regex_units(pattern: str, flags: int = 0) -> Callable[[str], list[Unit]]:
    rx = re.compile(pattern, flags)
    return lambda text: [m.span() for m in rx.finditer(text)]


def replace_words(ctx: EditContext, new_word: str, *, exclude: Iterable[str] = ()) -> Iterator[Patch]:
    """Replace one plain word (4+ letters, middle of the text first) by ``new_word`` (keeps word counts)."""
    text = ctx.text
    ex = {e.lower() for e in exclude if e}
    cands = words_only(text, lambda w: len(w) >= 4 and w.lower() not in ex and not any(x in w.lower() for x in ex))
    for s, e in mid_order(cands)[:6]:
        yield patch.replace(s, e, match_case(new_word, text[s:e]))


def match_case(new: str, old: str) -> str:
    if old.isupper() and len(old) > 1:
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new.lower() if old.islower() else new


def insert_word(ctx: EditContext, word: str) -> Iterator[Patch]:
    text = ctx.text
    for s, e in mid_order(words_only(text))[:4]:
        yield patch.insert(e, " " + style_like(word, text))


def occurrences(text: str, pattern: str, flags: int = re.IGNORECASE) -> list[Unit]:
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


def replace_occurrences(ctx: EditContext, pattern: str, units: list[Unit], *, avoid: Iterable[str] = (),
                         whole_word: bool = True) -> Patch | None:
    if not units:
        return None
    text = ctx.text
    ws0, we0 = _enclosing_word(text, *units[0]) if whole_word else units[0]
    word = _neutral(ctx, [*avoid, pattern], replaced=text[ws0:we0] if text[ws0:we0].isalpha() else "")
    edits = []
    last = -1
    for s, e in units:
        ws, we = _enclosing_word(text, s, e) if whole_word else (s, e)
        if ws < last:
            continue
        edits.append((ws, we, match_case(word, text[ws:we])))
        last = we
    return Patch.of(edits)


def keyword_pattern(word: str) -> str:
    body = r"\s+".join(re.escape(p) for p in word.split())
    left = r"(?<!\w)" if re.match(r"\w", word) else ""
    right = r"(?!\w)" if re.search(r"\w$", word) else ""
    return left + body + right


def case_flips(ctx: EditContext, to_upper: bool, whole: bool = False) -> Iterator[Patch]:
    """Change the case of the first letter (or the whole word) of one word; words in order of appearance."""
    text = ctx.text
    words = words_only(text, lambda w: (w[0].islower() if to_upper else w[0].isupper()) or (whole and w != (w.upper() if to_upper else w.lower())))
    for s, e in words[:MAX_TRIES]:
        w = text[s:e]
        new = (w.upper() if to_upper else w.lower()) if whole else ((w[0].upper() if to_upper else w[0].lower()) + w[1:])
        if new != w:
            yield patch.replace(s, e, new)


def comma_insertions(ctx: EditContext) -> Iterator[Patch]:
    text = ctx.text
    spots = [m.start() for m in re.finditer(r"(?<=[A-Za-z]) (?=[A-Za-z])", text)]
    spots = spots or [m.start() for m in re.finditer(r"(?<=\w) ", text)]
    n = len(spots)
    for i in sorted(range(n), key=lambda i: (abs(i - n / 2), i))[:5]:
        yield patch.insert(spots[i], ",")
    if not spots and text:
        yield patch.insert(len(text.rstrip()), ",")


def rule_kwargs(rubric: Rubric) -> dict[str, Any]:
    return dict(rubric.verifier.kwargs) if isinstance(rubric.verifier, RuleVerifier) else {}


def sentence_candidates(ctx: EditContext) -> Iterator[Patch | None]:
    """Merge k sentence pairs (drop the stop between them) or split k sentences (a stop after their middle
    word) first: the word count does not move. Then delete/duplicate whole sentences."""
    text = ctx.text
    stops = [m.start(1) for m in re.finditer(r"\w([.!?])[ ]+(?=[A-Za-z])", text)]
    joints = mid_order([(j, j + 1) for j in stops])
    mids = []
    for s, e in patch.sentences(text):
        ws = [u for u in patch.words(text[s:e])]
        if len(ws) >= 4:
            mids.append(s + ws[len(ws) // 2 - 1][1])
    middles = [(m, m) for m in mids]
    yield ctx.smallest(lambda k: patch.delete(sorted(joints[:k])) if k <= len(joints) else None, len(joints))
    yield ctx.smallest(lambda k: Patch.of([(m, m, ".") for m, _ in middles[-k:]]) if k <= len(middles) else None,
                       len(middles))
    yield from count_candidates(ctx, patch.sentences, extend=patch.sentence_with_space)
