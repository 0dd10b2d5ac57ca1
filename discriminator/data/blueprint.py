"""The template of a programmatic positive: what it must contain (:class:`Blueprint`) and how it is rendered.

Requirements from the rules (:mod:`discriminator.data.compose`) fill a :class:`Blueprint`; :meth:`Blueprint.render`
turns it into plain, repetitive text with ``fill`` filler sentences. Rendering is the inner loop of the positive
search, so the filtered sentence bank and the filler sentences are computed once per blueprint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from discriminator.data import textbank

_RARE_LETTER_WORDS = {
    "q": "quick quiet queen quest quote quilt",
    "j": "jump joy jar jazz juice jolly",
    "z": "zoo zero zone zest zip buzz",
    "x": "box fox mix six wax tax",
    "k": "kite kind keep kick king kit",
    "v": "vivid view vote vast van vine",
    "w": "wow swim wind wall wave wide",
    "y": "yes yard yarn yell year toy",
}


class Unsupported(Exception):
    """The item cannot be composed programmatically (reason in the message)."""


@dataclass
class Blueprint:
    """What the positive must contain; :meth:`render` turns it into text."""

    lang: str = "en"
    prefix: str = ""  # text the response must start with (repeat the prompt, an identifier)
    title: str | None = None
    n_paragraphs: int = 1
    separator: str = "\n\n"
    section_splitter: str | None = None
    first_words: dict[int, str] = field(default_factory=dict)  # 1-based paragraph -> required first word
    headings: list[int] = field(default_factory=list)  # Markdown heading levels, one per section (cycled)
    min_sections: int = 1  # sections (heading + text); several share a paragraph when paragraphs are fewer
    blockquote: bool = False
    bullets: int = 0
    no_bullets: bool = False
    highlights: int = 0
    placeholders: int = 0
    keywords: dict[str, int] = field(default_factory=dict)  # keyword -> min occurrences
    avoid: list[str] = field(default_factory=list)  # regexes that must not occur
    letter_min: dict[str, int] = field(default_factory=dict)
    letter_max: dict[str, int] = field(default_factory=dict)
    capital_min: int = 0
    no_caps: bool = False
    no_comma: bool = False
    table: tuple[int, int] | None = None  # (rows, cols)
    table_optional: bool = False  # a table-free rendering is also acceptable
    xml_attrs: int | None = None
    json_depth: int | None = None
    answer: str | None = None  # "My answer is yes."
    postscript: str | None = None
    end_phrase: str | None = None
    end_mark: str | None = None
    end_scope: str = "response"
    case: str | None = None  # lower | upper | title
    wrap: str | None = None  # quote | json
    two_responses: bool = False
    notes: list[str] = field(default_factory=list)
    # memo of the rendering inner loop (not copied by dataclasses.replace: a changed blueprint recomputes them)
    _bank: list[str] | None = field(default=None, init=False, repr=False, compare=False)
    _fillers: dict[int, list[str]] = field(default_factory=dict, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ rendering

    def bank(self) -> list[str]:
        """The filler sentences this blueprint may use (computed once; requirements must be final)."""
        if self._bank is None:
            self._bank = self._make_bank()
        return self._bank

    def _make_bank(self) -> list[str]:
        base = list(textbank.sentences(self.lang))
        if self.lang == "en":
            base = base + textbank.LIPOGRAMS
        ok = [s for s in base if self._allowed(s)]
        for letter, mx in self.letter_max.items():
            # (mypy cannot infer a lambda with a default argument)
            ok.sort(key=lambda s, L=letter: s.lower().count(L))  # type: ignore[misc]
            ok = [s for s in ok if s.lower().count(letter) == 0] or ok[:3]
        if self.no_caps:
            ok = [s for s in ok if not re.search(r"\b[A-Z]{1,}\b", s)]
        if not ok:
            raise Unsupported("no filler sentence satisfies the word/letter restrictions")
        return ok

    def _allowed(self, s: str) -> bool:
        return not any(re.search(p, s, re.IGNORECASE) for p in self.avoid) and "," not in s

    def render(self, fill: int, *, offset: int = 0, style: int = 1) -> str:
        """Render with ``fill`` filler sentences; ``style`` 1/2/3 joins that many bank sentences into one, 0 uses
        very short sentences."""
        body = self._body(fill, offset, style)
        if self.two_responses:
            body = body + "\n******\n" + self._body(fill, offset + 7, style)
        return self._finish(body)

    def _filler(self, bank: list[str], i: int, style: int) -> str:
        memo = self._fillers.setdefault(style, [])
        while len(memo) <= i:
            memo.append(self._make_filler(bank, len(memo), style))
        return memo[i]

    def _make_filler(self, bank: list[str], i: int, style: int) -> str:
        if style == 0:
            return textbank.SHORT[i % len(textbank.SHORT)] if self.lang == "en" else bank[i % len(bank)]
        parts = [bank[(i * style + j) % len(bank)] for j in range(style)]
        if len(parts) == 1 or self.lang != "en":
            return " ".join(parts)
        joined = parts[0].rstrip(".!?")
        for p in parts[1:]:
            joined += " and " + p[:1].lower() + p[1:].rstrip(".!?")
        return joined + "."

    def _body(self, fill: int, offset: int, style: int = 1) -> str:
        bank = self.bank()
        pick = lambda i: bank[(offset + i) % len(bank)]  # noqa: E731
        required: list[str] = []
        for kw, n in self.keywords.items():
            required += [self._keyword_sentence(kw, i) for i in range(n)]
        if self.highlights:
            required += [f"*{pick(i).rstrip('.!?')}*." for i in range(self.highlights)]
        if self.placeholders:
            names = (textbank.PLACEHOLDERS * (self.placeholders // len(textbank.PLACEHOLDERS) + 1))[: self.placeholders]
            required += [f"{pick(i).rstrip('.!?')} [{name}]." for i, name in enumerate(names)]
        if self.capital_min:
            words = (textbank.UPPER_WORDS * (self.capital_min // len(textbank.UPPER_WORDS) + 1))[: self.capital_min]
            required += [" ".join(words[i:i + 5]) + "." for i in range(0, len(words), 5)]
        if self.answer:
            required.append(self.answer)
        n_blocks = max(1, self.n_paragraphs)
        n_sections = max(n_blocks, len(self.headings), self.min_sections)
        n_fill = max(fill, n_sections - len(required))
        sents = required + [self._filler(bank, offset + len(required) + i, style) for i in range(n_fill)]
        chunks = [sents[i::n_sections] for i in range(n_sections)]
        sections = []
        for i, chunk in enumerate(chunks, start=1):
            text = " ".join(chunk)
            if i in self.first_words:
                text = f"{self.first_words[i].capitalize()} {text[:1].lower()}{text[1:]}"
            lines = [text]
            if i == 1 and self.bullets:
                lines += [f"* {pick(50 + b)}" for b in range(self.bullets)]
            if i == 1 and self.blockquote:
                lines.append(f"> {pick(3)}")
            if self.headings:
                level = self.headings[(i - 1) % len(self.headings)]
                lines.insert(0, f"{'#' * level} {self._heading_text(i)}")
                if i == 1 and self.table:
                    lines.insert(1, self._table(*self.table))
            if self.section_splitter:
                lines.insert(0, f"{self.section_splitter} {i}")
            sections.append("\n".join(lines))
        # sections -> blocks (more headings than paragraphs: several sections share a block)
        per = -(-n_sections // n_blocks)
        blocks = ["\n".join(sections[j:j + per]) for j in range(0, n_sections, per)]
        if self.table and not self.headings:
            blocks.insert(0, self._table(*self.table))
        if self.xml_attrs is not None:
            attrs = " ".join(f'a{j}="{j}"' for j in range(self.xml_attrs))
            blocks.insert(0, f"<note {attrs}>{pick(9).rstrip('.')}</note>".replace("<note >", "<note>"))
        body = self.separator.join(blocks)
        return self._top_up(body, pick)

    def _top_up(self, body: str, pick: Callable[[int], str]) -> str:
        """Append sentences until every at-least letter count holds (counts only grow)."""
        extra: list[str] = []
        for letter, need in self.letter_min.items():
            have = (body + " ".join(extra)).lower().count(letter)
            vocab = _letter_words(letter, self.bank())
            i = 0
            while have < need and i < 400:
                s = self._letter_sentence(letter, vocab, i)
                extra.append(s)
                have += s.lower().count(letter)
                i += 1
        return body if not extra else body + " " + " ".join(extra)

    def _letter_sentence(self, letter: str, vocab: list[str], i: int) -> str:
        if not letter.isalpha():
            return {"!": "Wow!", "?": "Why not?"}.get(letter, f"Use {letter} here.")
        words = [vocab[(i * 5 + j) % len(vocab)] for j in range(5)]
        return " ".join(words).capitalize() + "."

    def _keyword_sentence(self, kw: str, i: int) -> str:
        templates = [
            "This part is about {kw} in detail.",
            "We return to {kw} once more.",
            "The idea of {kw} matters here.",
            "Think about {kw} for a moment.",
        ]
        if self.lang != "en":
            return f"{kw} {textbank.sentences(self.lang)[i % 4]}"
        return templates[i % len(templates)].format(kw=kw)

    def _heading_text(self, i: int) -> str:
        return ["Overview", "Details", "Summary", "Notes", "Background", "Outlook"][(i - 1) % 6]

    def _table(self, rows: int, cols: int) -> str:
        head = "| " + " | ".join(["Item", "Value", "Notes", "Owner", "Status", "Date", "Cost", "Area"][:cols]) + " |"
        sep = "|" + "|".join(["---"] * cols) + "|"
        body = [
            "| " + " | ".join(f"{['Plan', 'Team', 'Goal', 'Step', 'Tool', 'Task'][r % 6]} {r + 1}" if c == 0 else
                              ["Yes", "Good", "Open", "Done", "Soon", "Low", "High"][(r + c) % 7] for c in range(cols)) + " |"
            for r in range(rows)
        ]
        return "\n".join([head, sep, *body])

    def _finish(self, body: str) -> str:
        if self.end_mark and self.end_mark != "." and self.end_scope != "response":
            body = re.sub(r"\.(?=\s|$)", self.end_mark, body)
        parts = []
        if self.prefix:
            parts.append(self.prefix)
        if self.title:
            parts.append(f"<<{self.title}>>")
        head = "\n".join(parts)
        text = (head + "\n" + body) if head else body
        tail = []
        if self.postscript:
            tail.append(f"{self.postscript} {textbank.sentences(self.lang)[1]}")
        if self.end_phrase:
            tail.append(self.end_phrase)
        if tail:
            text = text + "\n" + "\n".join(tail)
        if self.end_mark and self.end_scope == "response":
            stripped = text.rstrip()
            if not stripped.endswith(self.end_mark):
                text = stripped.rstrip(".!?;:") + self.end_mark
        if self.case == "lower":
            text = text.lower()
        elif self.case == "upper":
            text = text.upper()
        elif self.case == "title":
            text = _title_case(text)
        if self.json_depth is not None:
            text = _json_with_depth(text, self.json_depth)
        if self.wrap == "quote":
            text = f'"{text}"'
        elif self.wrap == "json":
            text = json.dumps({"response": text}, ensure_ascii=False)
        return text


_TITLE_RX = re.compile(r"(?:^|(?<=[\s\"'“‘(\[{*_#>•`-]))[a-z]")


def _title_case(text: str) -> str:
    """Upper-case the first letter of every word (after whitespace or an opening quote/markup character)."""
    return _TITLE_RX.sub(_upper_match, text)


def _upper_match(m: re.Match) -> str:
    return m.group().upper()


def _letter_words(letter: str, bank: list[str]) -> list[str]:
    words = sorted({w.lower() for s in bank for w in re.findall(r"[A-Za-z]+", s) if letter in w.lower()})
    rare = _RARE_LETTER_WORDS.get(letter, "").split()
    return rare + words or [letter * 3]


def _json_with_depth(text: str, depth: int) -> str:
    value: Any = text
    for level in range(max(depth, 1)):
        value = {f"level{max(depth, 1) - level}": value}
    return "```json\n" + json.dumps(value, ensure_ascii=False, indent=2) + "\n```"
