"""Character-span labels from a character-level diff between a positive and its minimal-modification negative.

The characters that differ between the two texts are the characters relevant to the rubric that was broken:
in the positive they are what satisfied it, in the negative what broke it (docs/guides/discriminator-data.md). Offsets are Python code points, ``end`` exclusive.

Decisions (all options of :class:`SpanOptions`):

* **Diff engine.** ``rapidfuzz.distance.Indel.opcodes`` (bit-parallel LCS, ~1000x faster than ``difflib`` on a
  4.5k-character response, see ``benchmarks/bench_negatives.py``); ``difflib`` and Levenshtein are options.
  Adjacent delete+insert runs are coalesced into one ``replace``; ``equal`` runs shorter than ``min_equal``
  characters between two edits are absorbed into the edit (they are alignment noise: "apple" -> "grape"
  shares "ap" and "e" by accident).
* **Insertions mark an anchor in the other text.** Text inserted into the negative (a comma, a forbidden
  word) has no characters in the positive; ``anchor="word"`` marks the whitespace-delimited tokens touching the
  insertion point on both sides (the place where the content is absent), ``"adjacent"`` the one character on
  each side, ``"none"`` nothing. Deletions mark the anchor in the negative the same way. A changed span made
  only of whitespace (a new paragraph break) also gets anchors in its own text.
* **Boundaries.** Spans never split a grapheme cluster (emoji with modifiers/ZWJ, combining marks, CRLF):
  they are snapped outwards to ``\\X`` boundaries. ``expand_words`` extends a span that cuts a word to the
  whole word (CJK ideographs and kana count as one-character words). Spans separated by at most ``merge_gap``
  characters of whitespace/punctuation are merged.
"""

from __future__ import annotations

import bisect
import difflib
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

import regex
from pydantic import BaseModel, ConfigDict, Field

from discriminator.data.schema import merge_spans

Opcode = tuple[str, int, int, int, int]  # (tag, a_start, a_end, b_start, b_end), difflib convention
Span = tuple[int, int]


class SpanOptions(BaseModel):
    """How a diff becomes character spans."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Literal["indel", "levenshtein", "difflib"] = Field("indel", description="Character diff algorithm.")
    min_equal: int = Field(3, ge=0, description="Equal runs shorter than this between two edits join the edit.")
    anchor: Literal["word", "adjacent", "none"] = Field("word", description="Where a pure insertion is anchored in "
                                                        "the other text: the word around it, the adjacent "
                                                        "characters, or nowhere.")
    expand_words: bool = Field(True, description="Grow spans to whole words.")
    merge_gap: int = Field(2, ge=0, description="Merge spans separated by at most this many non-word characters.")


@dataclass
class DiffLabels:
    """Spans in both texts plus the opcodes they came from."""

    positive_spans: list[Span]
    negative_spans: list[Span]
    opcodes: list[Opcode] = field(default_factory=list)

    @property
    def n_edits(self) -> int:
        return sum(op[0] != "equal" for op in self.opcodes)

    @property
    def changed(self) -> bool:
        return self.n_edits > 0


# ----------------------------------------------------------------------------------------------- opcodes


def char_opcodes(a: str, b: str, *, algorithm: str = "indel", min_equal: int = 3) -> list[Opcode]:
    """Code-point opcodes turning ``a`` into ``b`` (covering both texts completely, in order)."""
    if a == b:
        return [("equal", 0, len(a), 0, len(b))] if a else []
    if algorithm == "difflib":
        raw = [tuple(op) for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()]
    elif algorithm in ("indel", "levenshtein"):
        from rapidfuzz.distance import Indel, Levenshtein

        mod = Indel if algorithm == "indel" else Levenshtein
        raw = [(o.tag, o.src_start, o.src_end, o.dest_start, o.dest_end) for o in mod.opcodes(a, b)]
    else:
        raise ValueError(f"unknown diff algorithm {algorithm!r}")
    return _slide(a, b, _coalesce(raw, min_equal))


def _coalesce(ops: list[tuple], min_equal: int) -> list[Opcode]:
    """Merge consecutive non-equal ops into one and absorb short equal runs between edits."""
    ops = [tuple(o) for o in ops if o[1] != o[2] or o[3] != o[4]]
    # absorb short equal runs that sit between two edits
    marked = []
    for k, op in enumerate(ops):
        if op[0] == "equal" and 0 < k < len(ops) - 1 and (op[2] - op[1]) < min_equal:
            marked.append(("replace", *op[1:]))
        else:
            marked.append(op)
    out: list[Opcode] = []
    for tag, i1, i2, j1, j2 in marked:
        if out and tag != "equal" and out[-1][0] != "equal":
            _, pi1, _, pj1, _ = out[-1]
            out[-1] = ("replace", pi1, i2, pj1, j2)
        else:
            out.append((tag, i1, i2, j1, j2))
    return [_retag(op) for op in out]


def _boundary(text: str, pos: int) -> bool:
    return pos <= 0 or pos >= len(text) or not (is_word_char(text[pos - 1]) and is_word_char(text[pos]))


def _slide(a: str, b: str, ops: list[Opcode]) -> list[Opcode]:
    """Slide pure insertions/deletions inside repetitive text to word boundaries.

    "one two three" -> "one three" aligns as ``one t[-wo t-]hree``; the same edit can sit anywhere its text
    rotates through, and ``one [-two -]three`` is the one a reader means.
    """
    ops = list(ops)
    k = 0
    while k < len(ops):
        tag, i1, i2, j1, j2 = ops[k]
        k += 1
        if tag not in ("insert", "delete"):
            continue
        prev = ops[k - 2] if k >= 2 and ops[k - 2][0] == "equal" else None
        nxt = ops[k] if k < len(ops) and ops[k][0] == "equal" else None
        text, s, e = (a, i1, i2) if tag == "delete" else (b, j1, j2)
        lo = -(prev[2] - prev[1]) if prev else 0
        hi = (nxt[2] - nxt[1]) if nxt else 0
        left = 0
        while left > lo and text[s + left - 1] == text[e + left - 1]:
            left -= 1
        right = 0
        while right < hi and text[s + right] == text[e + right]:
            right += 1
        if left == right:
            continue
        best = max(
            range(left, right + 1),
            key=lambda d: (
                _boundary(text, s + d)
                + _boundary(text, e + d)
                + is_word_char(text[s + d])
                + (e + d == len(text) or text[e + d - 1].isspace()),
                -abs(d),
            ),
        )
        if best == 0:
            continue
        ops[k - 1] = (tag, i1 + best, i2 + best, j1 + best, j2 + best)
        if nxt:
            ops[k] = (nxt[0], nxt[1] + best, nxt[2], nxt[3] + best, nxt[4])
        elif best < 0:  # text moved from before the edit to after it: a new trailing equal run
            ops.insert(k, ("equal", i2 + best, i2, j2 + best, j2))
        if prev:
            ops[k - 2] = (prev[0], prev[1], prev[2] + best, prev[3], prev[4] + best)
        elif best > 0:  # text moved from after the edit to before it (an edit at the start): a new leading equal run
            ops.insert(k - 1, ("equal", i1, i1 + best, j1, j1 + best))
            k += 1
    return [op for op in ops if op[1] != op[2] or op[3] != op[4]]


def _retag(op: tuple) -> Opcode:
    tag, i1, i2, j1, j2 = op
    if tag == "equal":
        return op
    if i1 == i2:
        return ("insert", i1, i2, j1, j2)
    if j1 == j2:
        return ("delete", i1, i2, j1, j2)
    return ("replace", i1, i2, j1, j2)


def apply_opcodes(a: str, b_source: str, ops: list[Opcode]) -> str:
    """Rebuild the target text: ``a`` for equal runs, the target's characters for edits (a reconstruction check)."""
    parts = []
    for tag, i1, i2, j1, j2 in ops:
        parts.append(a[i1:i2] if tag == "equal" else b_source[j1:j2])
    return "".join(parts)


def invert_opcodes(ops: list[Opcode]) -> list[Opcode]:
    """Opcodes of the reverse diff (``b`` into ``a``)."""
    swap = {"insert": "delete", "delete": "insert"}
    return [(swap.get(t, t), j1, j2, i1, i2) for t, i1, i2, j1, j2 in ops]


# ----------------------------------------------------------------------------------------------- spans


def diff_spans(positive: str, negative: str, options: SpanOptions | None = None) -> DiffLabels:
    """Relevant spans in both texts from their character-level diff."""
    options = options or SpanOptions()
    ops = char_opcodes(positive, negative, algorithm=options.algorithm, min_equal=options.min_equal)
    pos, neg = spans_from_opcodes(positive, negative, ops, options)
    return DiffLabels(pos, neg, ops)


def spans_from_opcodes(a: str, b: str, ops: list[Opcode], options: SpanOptions | None = None) -> tuple[list[Span], list[Span]]:
    """Spans in ``a`` and ``b`` for the non-equal opcodes (exact edit positions from a program go here too)."""
    options = options or SpanOptions()
    raw_a: list[Span] = []
    raw_b: list[Span] = []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        if i2 > i1:
            raw_a.append((i1, i2))
            if not a[i1:i2].strip():
                raw_a += _anchor(a, i1, i2, options.anchor)
        else:
            raw_a += _anchor(a, i1, i1, options.anchor)
        if j2 > j1:
            raw_b.append((j1, j2))
            if not b[j1:j2].strip():
                raw_b += _anchor(b, j1, j2, options.anchor)
        else:
            raw_b += _anchor(b, j1, j1, options.anchor)
    return _finish(a, raw_a, options), _finish(b, raw_b, options)


def _anchor(text: str, start: int, end: int, mode: str) -> list[Span]:
    """Spans marking the place around ``[start, end)`` (an insertion point when start == end)."""
    if mode == "none" or not text:
        return []
    if mode == "adjacent":
        out = []
        if start > 0:
            out.append((start - 1, start))
        if end < len(text):
            out.append((end, end + 1))
        return out
    out = []
    left = start
    while left > 0 and text[left - 1].isspace():
        left -= 1
    if left > 0:
        s = left
        while s > 0 and not text[s - 1].isspace():
            s -= 1
        out.append((s, left))
    right = end
    while right < len(text) and text[right].isspace():
        right += 1
    if right < len(text):
        e = right
        while e < len(text) and not text[e].isspace():
            e += 1
        out.append((right, e))
    return out


def _finish(text: str, spans: list[Span], options: SpanOptions) -> list[Span]:
    if not spans:
        return []
    spans = [(max(0, s), min(len(text), e)) for s, e in spans]
    if options.expand_words:
        spans = [_expand_word(text, s, e) for s, e in spans]
    spans = snap_to_graphemes(text, spans)
    spans = merge_spans(spans)
    return _merge_gaps(text, spans, options.merge_gap)


def is_word_char(c: str) -> bool:
    """Letters, digits, underscore and combining marks; a CJK ideograph or kana is a word on its own."""
    if c == "_":
        return True
    if _is_cjk(c):
        return False
    return c.isalnum() or unicodedata.category(c).startswith("M")


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return (
        0x3040 <= o <= 0x30FF  # hiragana, katakana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3FFFF
    )


def _expand_word(text: str, s: int, e: int) -> Span:
    while 0 < s < len(text) and is_word_char(text[s - 1]) and is_word_char(text[s]):
        s -= 1
    while 0 < e < len(text) and is_word_char(text[e - 1]) and is_word_char(text[e]):
        e += 1
    return s, e


def grapheme_boundaries(text: str) -> list[int]:
    """Sorted extended-grapheme-cluster boundaries (0 and len included)."""
    return [m.start() for m in regex.finditer(r"\X", text)] + [len(text)]


def snap_to_graphemes(text: str, spans: list[Span]) -> list[Span]:
    """Widen each span to whole extended grapheme clusters. ASCII text (the common case) has a boundary between
    any two characters but inside ``\\r\\n``, so only non-ASCII text pays for the full cluster scan."""
    if text.isascii():
        out = []
        for s, e in spans:
            if 0 < s < len(text) and text[s - 1] == "\r" and text[s] == "\n":
                s -= 1
            if 0 < e < len(text) and text[e - 1] == "\r" and text[e] == "\n":
                e += 1
            out.append((s, e))
        return out
    bounds = grapheme_boundaries(text)
    return [_snap(bounds, s, e) for s, e in spans]


def _snap(bounds: list[int], s: int, e: int) -> Span:
    i = bisect.bisect_right(bounds, s) - 1
    j = bisect.bisect_left(bounds, e)
    return bounds[max(i, 0)], bounds[min(j, len(bounds) - 1)]


def _merge_gaps(text: str, spans: list[Span], gap: int) -> list[Span]:
    out: list[Span] = []
    for s, e in spans:
        if out and s - out[-1][1] <= gap and not any(is_word_char(c) for c in text[out[-1][1] : s]):
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def spans_text(text: str, spans: list[Span]) -> list[str]:
    return [text[s:e] for s, e in spans]


def render_diff_markdown(positive: str, negative: str, ops: list[Opcode], *, context: int = 40) -> str:
    """A compact human-readable diff: ``[-removed-]{+added+}`` with ``context`` characters around each edit."""
    parts: list[str] = []
    for k, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            seg = positive[i1:i2]
            if len(seg) > 2 * context:
                head = seg[:context] if k > 0 else ""
                tail = seg[-context:] if k < len(ops) - 1 else ""
                seg = f"{head} … {tail}"
            parts.append(seg)
        else:
            if i2 > i1:
                parts.append(f"[-{positive[i1:i2]}-]")
            if j2 > j1:
                parts.append(f"{{+{negative[j1:j2]}+}}")
    return "".join(parts).replace("\n", "⏎")
