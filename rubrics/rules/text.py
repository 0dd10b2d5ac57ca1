"""Text measurements shared by the MulDimIF checkers: words, sentences, paragraphs, Markdown, tables, JSON, XML."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

# The measurements below are memoised per text: in a batch every rubric of a response (and every loose
# variant shared between rubrics) measures the same string, so each is parsed once.
_MEMOISED: list = []


def _memo(fn):
    cached = functools.lru_cache(maxsize=8192)(fn)
    _MEMOISED.append(cached)
    return cached


def clear_memos() -> None:
    for fn in _MEMOISED:
        fn.cache_clear()


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df]")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})(?:\s+|$)(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HRULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_SENT_END = re.compile(r"(?<=[.!?。！？])[\"'”’)\]]*\s+")


@_memo
def strip_code(text: str) -> str:
    """Drop fenced code blocks (their ``#`` lines are not headings, their lines not prose)."""
    out, fenced = [], False
    for line in text.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


@_memo
def count_words(text: str) -> int:
    """Whitespace tokens that hold a letter or digit (Markdown symbols are not words); each CJK character counts one."""
    cjk = len(_CJK.findall(text))
    if cjk:
        text = _CJK.sub(" ", text)
    return cjk + sum(1 for tok in text.split() if any(ch.isalnum() for ch in tok))


@_memo
def prose_lines(text: str) -> tuple[str, ...]:
    """Non-empty lines that are not code, headings, table rows, separators or rules; list markers removed."""
    lines = []
    for line in strip_code(text).split("\n"):
        s = line.strip()
        if not s or _HEADING.match(s) or s.startswith("|") or _TABLE_SEP.match(s) or _HRULE.match(s):
            continue
        s = re.sub(r"^(?:[-*+•]|\d+[.)])\s+", "", s)
        s = re.sub(r"^>\s*", "", s)
        if any(ch.isalnum() for ch in s):
            lines.append(s)
    return tuple(lines)


@_memo
def sentences(text: str) -> tuple[str, ...]:
    """Sentences of the prose: each line split after ``.``, ``!`` or ``?`` (and CJK stops); a line without one
    counts once."""
    out: list[str] = []
    for line in prose_lines(text):
        out.extend(s for s in _SENT_END.split(line) if any(ch.isalnum() for ch in s))
    return tuple(out)


@_memo
def paragraphs(text: str) -> tuple[str, ...]:
    """Blocks separated by blank lines, ignoring blocks made only of headings, rules or code."""
    blocks = re.split(r"\n\s*\n", strip_code(text).strip())
    return tuple(b for b in blocks if prose_lines(b))


@_memo
def headings(text: str) -> tuple[tuple[int, str], ...]:
    """ATX Markdown headings ``(level, title)`` outside code fences."""
    out = []
    for line in strip_code(text).split("\n"):
        m = _HEADING.match(line)
        if m and m.group(2).strip().strip("#").strip():
            out.append((len(m.group(1)), m.group(2).strip()))
    return tuple(out)


@_memo
def blockquotes(text: str) -> int:
    return sum(1 for line in strip_code(text).split("\n") if re.match(r"^\s{0,3}>\s*\S", line))


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def n_cols(self) -> int:
        return len(self.header)


def _cells(line: str) -> tuple[str, ...]:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return tuple(c.strip() for c in re.split(r"(?<!\\)\|", s))


@_memo
def tables(text: str) -> tuple[Table, ...]:
    """Markdown pipe tables: runs of lines holding ``|``; data rows exclude the header and the ``---`` line."""
    found: list[Table] = []
    block: list[str] = []

    def flush() -> None:
        rows = [ln for ln in block if ln.strip()]
        block.clear()
        has_sep = len(rows) > 1 and _TABLE_SEP.match(rows[1])
        if not rows or (not has_sep and not all(r.strip().startswith("|") for r in rows)):
            return
        if not has_sep and len(rows) < 2 and rows[0].count("|") < 2:
            return
        header = _cells(rows[0])
        body = tuple(_cells(r) for r in rows[1:] if not _TABLE_SEP.match(r))
        found.append(Table(header=header, rows=body))

    for line in strip_code(text).split("\n"):
        s = line.strip()
        if s.startswith("|") or (block and "|" in s and s) or (not block and s.count("|") >= 2):
            block.append(line)
        else:
            if block:
                flush()
    if block:
        flush()
    return tuple(found)


def _json_candidates(text: str) -> list[str]:
    fenced = re.findall(r"```(?:json|JSON|Json)?\s*\n(.*?)```", text, flags=re.S)
    return fenced + [text]


@_memo
def json_values(text: str) -> tuple[object, ...]:
    """Every JSON object/array found in the text (fenced blocks first, then raw ``{`` / ``[`` positions)."""
    decoder = json.JSONDecoder()
    found: list[object] = []
    for cand in _json_candidates(text):
        i = 0
        while i < len(cand):
            j = min((p for p in (cand.find("{", i), cand.find("[", i)) if p >= 0), default=-1)
            if j < 0:
                break
            try:
                value, end = decoder.raw_decode(cand, j)
            except ValueError:
                i = j + 1
                continue
            if isinstance(value, (dict, list)):
                found.append(value)
            i = end
        if found:
            return tuple(found)
    return tuple(found)


def nesting_depth(value: object) -> int:
    """Container nesting level as MulDimIF counts it: ``{"a": 1}`` -> 1, ``{"a": {"b": 1}}`` -> 2, arrays count too."""
    if isinstance(value, dict):
        return 1 + max((nesting_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((nesting_depth(v) for v in value), default=0)
    return 0


_XML_TAG = re.compile(r"<([A-Za-z_][\w.\-:]*)((?:\s+[A-Za-z_][\w.\-:]*\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>")
_XML_ATTR = re.compile(r"[A-Za-z_][\w.\-:]*\s*=\s*(?:\"[^\"]*\"|'[^']*')")


@_memo
def xml_attribute_counts(text: str) -> tuple[int, ...]:
    """Attribute count of every XML start tag in the text."""
    return tuple(len(_XML_ATTR.findall(m.group(2))) for m in _XML_TAG.finditer(text))


@_memo
def has_bullets(text: str) -> bool:
    return any(re.match(r"^\s*(?:[-*+•])\s+\S", ln) for ln in strip_code(text).split("\n"))


@_memo
def cjk_ratio(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return (sum(1 for ch in letters if _CJK.match(ch)) / len(letters)) if letters else 0.0
