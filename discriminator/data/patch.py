"""Exact text edits (:class:`Patch`) and the text units programmatic edits act on (words, sentences, lines, ...).

A patch records which characters of the original text it replaces, so the labels of a programmatic negative
are exact (no diff alignment needed): :meth:`Patch.opcodes` feeds
:func:`discriminator.data.diff_labels.spans_from_opcodes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from discriminator.data.diff_labels import Opcode

Unit = tuple[int, int]


@dataclass(frozen=True)
class Patch:
    """Non-overlapping replacements ``(start, end, new_text)`` on one text (sorted by ``start``)."""

    edits: tuple[tuple[int, int, str], ...]
    note: str = ""

    @staticmethod
    def of(edits: Iterable[tuple[int, int, str]], note: str = "") -> "Patch":
        ordered = tuple(sorted((int(s), int(e), str(t)) for s, e, t in edits if e > s or t))
        for (s0, e0, _), (s1, _, _) in zip(ordered, ordered[1:]):
            if s1 < e0:
                raise ValueError(f"overlapping edits at {s0}-{e0} and {s1}")
        return Patch(ordered, note)

    @property
    def empty(self) -> bool:
        return not self.edits

    def apply(self, text: str) -> str:
        out, pos = [], 0
        for s, e, new in self.edits:
            out += [text[pos:s], new]
            pos = e
        out.append(text[pos:])
        return "".join(out)

    def opcodes(self, text: str) -> list[Opcode]:
        ops: list[Opcode] = []
        pos = shift = 0
        for s, e, new in self.edits:
            if s > pos:
                ops.append(("equal", pos, s, pos + shift, s + shift))
            tag = "replace" if e > s and new else ("delete" if e > s else "insert")
            ops.append((tag, s, e, s + shift, s + shift + len(new)))
            shift += len(new) - (e - s)
            pos = e
        if pos < len(text):
            ops.append(("equal", pos, len(text), pos + shift, len(text) + shift))
        return ops


def replace(start: int, end: int, new: str, note: str = "") -> Patch:
    return Patch.of([(start, end, new)], note)


def insert(at: int, new: str, note: str = "") -> Patch:
    return Patch.of([(at, at, new)], note)


def delete(units: Iterable[Unit], note: str = "") -> Patch:
    return Patch.of([(s, e, "") for s, e in units], note)


# ----------------------------------------------------------------------------------------------- units

_WORD = re.compile(r"\w+")
_STOPS = ".!?。！？।॥۔؟"
_SENT = re.compile(rf"[^\s{_STOPS}][^{_STOPS}\n]*(?:[{_STOPS}]+|$)", re.M)
_BULLET = re.compile(r"^[ \t]*(?:[-*+•]|\d+[.)])[ \t]+\S.*$", re.M)
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.M)
TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+\S.*$", re.M)


def words(text: str) -> list[Unit]:
    return [m.span() for m in _WORD.finditer(text)]


def sentences(text: str) -> list[Unit]:
    """Sentence-like runs ending in terminal punctuation (or a line end)."""
    out = []
    for m in _SENT.finditer(text):
        s, e = m.span()
        while s < e and not text[s].isalnum():  # leading quotes / markup are not part of the sentence
            s += 1
        if s < e:
            out.append((s, e))
    return out


def lines(text: str) -> list[Unit]:
    out, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def paragraphs(text: str) -> list[Unit]:
    """Blocks separated by blank lines."""
    out = []
    for m in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", text):
        s, e = m.span()
        out.append((s, e - (1 if text[s:e].endswith("\n") else 0)))
    return out


def bullets(text: str) -> list[Unit]:
    return [m.span() for m in _BULLET.finditer(text)]


def headings(text: str) -> list[Unit]:
    return [m.span() for m in _HEADING.finditer(text)]


def table_rows(text: str, *, body_only: bool = True) -> list[Unit]:
    rows = [m.span() for m in _TABLE_ROW.finditer(text)]
    if body_only:
        keep: list[Unit] = []
        seen_sep = False
        for s, e in rows:
            if TABLE_SEP.match(text[s:e]):
                seen_sep = True
                keep = []  # rows before the separator are the header
                continue
            keep.append((s, e))
        if seen_sep:
            return keep
    return rows


def line_with_newline(text: str, unit: Unit) -> Unit:
    """Extend a line span to swallow its line break (for deleting whole lines)."""
    s, e = unit
    if e < len(text) and text[e] == "\n":
        return s, e + 1
    if s > 0 and text[s - 1] == "\n":
        return s - 1, e
    return s, e


def word_with_space(text: str, unit: Unit) -> Unit:
    """Extend a word span to swallow one adjacent space (for deleting words cleanly)."""
    s, e = unit
    if e < len(text) and text[e] == " ":
        return s, e + 1
    if s > 0 and text[s - 1] == " ":
        return s - 1, e
    return s, e


def sentence_with_space(text: str, unit: Unit) -> Unit:
    s, e = unit
    while e < len(text) and text[e] in " \t":
        e += 1
    if e == unit[1] and s > 0 and text[s - 1] == " ":
        s -= 1
    return s, e
