"""MulDimIF rule checkers: constraint texts parsed into typed kwargs, and a checker per constraint family.

MulDimIF (``Junjie-Ye/MulDimIF``) gives every constraint as ``[category, subcategory, text]`` and its official
evaluator re-parses the text with regexes at every check. Here the text is parsed *once*, by
:func:`verifier_for`, into a :class:`~rubrics.schema.RuleVerifier` (``family="muldimif"``, ``rule_id`` such as
``"Length/Words"``, kwargs such as ``{"relation": "at most", "num": 150}``) that is stored with the rubric,
validated against a pydantic model and checked without re-parsing. A text that cannot be parsed into a
checkable rule gives ``None``: the rubric stays an LLM rubric.

Semantics follow the official evaluator where it is explicit: words are whitespace tokens (each CJK character
one word), table rows exclude the header and the ``---`` line, columns come from the header, a missing table
passes an optional table constraint ("if a table is used ..."), JSON nesting counts containers
(``{"a": {"b": 1}}`` is 2 levels), "capitalized letters for each word" means no word starts with a lowercase
letter, upper/lower case means ``text == text.upper()`` / ``text.lower()``. Constraints scoped to a part of
the answer that cannot be located reliably ("each row must ...", "each explanation must ...") are left to the
LLM judge.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rubrics.rules import text as text_utils
from rubrics.rules.base import Checker, RuleArgumentError, UnsupportedRule
from rubrics.schema import RuleVerifier

FAMILY: Final = "muldimif"

# ----------------------------------------------------------------------------------------------- numbers

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SPECIAL = {"a single": 1, "single": 1, "one single": 1, "a dozen": 12, "dozen": 12, "a hundred": 100,
            "one hundred": 100, "hundred": 100, "a couple of": 2, "a pair of": 2}  # fmt: skip
_UNIT_W = "|".join(sorted(_UNITS, key=len, reverse=True))
_TENS_W = "|".join(_TENS)
NUM = (
    r"(?:\d{1,3}(?:,\d{3})+|\d+|"
    + "|".join(re.escape(k) for k in sorted(_SPECIAL, key=len, reverse=True))
    + rf"|(?:{_TENS_W})(?:[- ](?:{_UNIT_W}))?|{_UNIT_W})"
)


def parse_number(s: str) -> int | None:
    """``"150"``, ``"1,500"``, ``"three"``, ``"twenty-five"``, ``"a single"`` -> int; otherwise ``None``."""
    s = re.sub(r"\s+", " ", s.strip().lower())
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+|\d+", s):
        return int(s.replace(",", ""))
    if s in _SPECIAL:
        return _SPECIAL[s]
    if s in _UNITS:
        return _UNITS[s]
    m = re.fullmatch(rf"({_TENS_W})(?:[- ]({_UNIT_W}))?", s)
    if m:
        return _TENS[m.group(1)] + (_UNITS[m.group(2)] if m.group(2) else 0)
    return None


# ------------------------------------------------------------------------------------------ count limits

Relation = Literal["at least", "at most", "exactly", "less than", "more than", "between"]


class Limit(BaseModel):
    """A count constraint: ``{"relation": "at most", "num": 150}`` or
    ``{"relation": "between", "min": 3, "max": 5}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relation: Relation
    num: int | None = Field(default=None, ge=0)
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Limit:
        if self.relation == "between":
            if self.min is None or self.max is None or self.min > self.max:
                raise ValueError("relation 'between' needs 0 <= min <= max")
        elif self.num is None:
            raise ValueError(f"relation {self.relation!r} needs 'num'")
        return self

    def ok(self, n: int) -> bool:
        r = self.relation
        if r == "between":
            return self.min <= n <= self.max  # type: ignore[operator]
        k = self.num
        return {"at least": n >= k, "at most": n <= k, "exactly": n == k, "less than": n < k, "more than": n > k}[r]  # type: ignore[operator]

    def flat(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


_GAP = r"(?:\s+(?!(?:and|or|to|but|with|in|per|each|words?|sentences?|paragraphs?|rows?|columns?)\b)[a-z][a-z'-]*){0,2}"
_ONLY = r"(?:only\s+|just\s+|up\s+to\s+)?"
_MIN = (
    r"at\s+least|a\s+minimum\s+of|minimum\s+of|no\s+less\s+than|no\s+fewer\s+than|not\s+less\s+than|"
    r"not\s+fewer\s+than|a\s+minimum\s+length\s+of|minimum\s+length\s+of|minimum"
)
_MAX = (
    r"at\s+most|no\s+more\s+than|not\s+more\s+than|a\s+maximum\s+of|maximum\s+of|a\s+maximum\s+length\s+of|"
    r"maximum\s+length\s+of|up\s+to|(?:do|does|must|should|shall|will|can|may|to)?\s*not\s+exceed(?:ing)?|"
    r"never\s+exceed(?:ing)?|without\s+exceeding|not\s+surpass(?:ing)?|no\s+longer\s+than|no\s+greater\s+than|"
    r"limited\s+to(?:\s+a\s+maximum\s+of)?|limit(?:ed)?\s+of|(?:a\s+)?limit(?:ation)?\s+of\s+no\s+more\s+than|"
    r"limit\s+(?:\w+\s+){0,3}?to(?:\s+a\s+maximum\s+of)?|restricted\s+to|capped\s+at|within|maximum|max"
)


def _norm(text: str) -> str:
    t = text.lower().replace("–", "-").replace("—", "-").replace("’", "'")
    t = re.sub(r"\ba\s+total\s+of\s+|\btotal\s+of\s+|\bin\s+total\b", " ", t)
    t = re.sub(r"(\d)-(word|sentence|paragraph|row|column)", r"\1 \2", t)
    return re.sub(r"\s+", " ", t).strip()


def find_limit(text: str, unit: str) -> Limit | None:
    """The first count constraint on ``unit`` (a regex for the singular noun) in a normalised text."""
    u = rf"(?:{unit})s?\b"

    def num(s: str) -> int | None:
        return parse_number(s)

    for pat in (
        rf"\bbetween\s+({NUM})\s+(?:and|to|-)\s+({NUM}){_GAP}\s+{u}",
        rf"\b(?:range\s+of|from)\s+({NUM})\s*(?:to|-)\s*({NUM}){_GAP}\s+{u}",
        rf"\b({NUM})\s*(?:-|to)\s*({NUM}){_GAP}\s+{u}",
    ):
        m = re.search(pat, text)
        if m and num(m.group(1)) is not None and num(m.group(2)) is not None:
            lo, hi = sorted((num(m.group(1)), num(m.group(2))))  # type: ignore[type-var]
            return Limit(relation="between", min=lo, max=hi)
    for pat, rel in (
        (rf"(?:{_MIN})\s+{_ONLY}({NUM}){_GAP}\s+{u}", "at least"),
        (rf"(?:{_MAX})\s+{_ONLY}({NUM}){_GAP}\s+{u}", "at most"),
        (rf"\b(?:less|fewer)\s+than\s+({NUM}){_GAP}\s+{u}", "less than"),
        (rf"\b(?:more|greater)\s+than\s+({NUM}){_GAP}\s+{u}", "more than"),
        (rf"\b(?:exactly|precisely|only|just)\s+({NUM}){_GAP}\s+{u}", "exactly"),
        (
            rf"\b{u}\s+(?:count\s+|limit\s+)?(?:must|should|shall|will|can|may|is|are|to)?\s*(?:not\s+exceed(?:ing)?|be\s+(?:at\s+most|no\s+more\s+than|limited\s+to|capped\s+at)|of\s+no\s+more\s+than|limit\s+of|limited\s+to|(?:does|do)\s+not\s+exceed|exceed(?:ing)?\s+no\s+more\s+than|at\s+most|up\s+to)\s+({NUM})\b",
            "at most",
        ),
        (
            rf"\b{u}\s+(?:must|should|shall)?\s*(?:be\s+)?(?:at\s+least|no\s+less\s+than|a\s+minimum\s+of)\s+({NUM})\b",
            "at least",
        ),
        (rf"\b({NUM}){_GAP}\s+{u}", "exactly"),
    ):
        for m in re.finditer(pat, text):
            n = num(m.group(1))
            if n is not None:
                return Limit(relation=rel, num=n)
    return None


_SCOPED = re.compile(r"\b(?:each|every|per|for\s+all|all\s+of\s+the)\b")

# ------------------------------------------------------------------------------------------- kwargs models


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CountArgs(Limit):
    """Length/Words, Length/Sentences, Length/Paragraphs: a :class:`Limit` on the whole response."""


class KeywordArgs(_Args):
    keywords: list[str] = Field(min_length=1)
    mode: Literal["all", "any", "none"] = "all"
    min_count: int = Field(default=1, ge=1)
    scope: Literal["response", "sentences"] = "response"


class PunctuationArgs(_Args):
    mark: str | list[str] = Field(description="the required final mark, or a list of accepted marks")
    scope: Literal["response", "sentences", "paragraphs"] = "response"

    @model_validator(mode="after")
    def _check(self) -> PunctuationArgs:
        if not self.marks or not all(0 < len(m) <= 3 for m in self.marks):
            raise ValueError("mark(s) must be 1-3 characters")
        return self

    @property
    def marks(self) -> tuple[str, ...]:
        return (self.mark,) if isinstance(self.mark, str) else tuple(self.mark)


class IdentifierArgs(_Args):
    prefix: str = Field(min_length=1)


class EnglishArgs(_Args):
    case: Literal["title", "upper", "lower"]
    scope: Literal["all", "table", "headings", "json"] = "all"


class ChineseArgs(_Args):
    script: Literal["simplified", "traditional"] = "simplified"


class TableArgs(_Args):
    rows: Limit | None = None
    cols: Limit | None = None
    cell_words: Limit | None = None
    optional: bool = False


class MarkdownArgs(_Args):
    levels: Limit | None = None
    require_levels: list[int] = Field(default_factory=list)
    max_level: int | None = Field(default=None, ge=1, le=6)
    first_heading_level: int | None = Field(default=None, ge=1, le=6)
    min_headings: int = Field(default=0, ge=0)
    blockquote: bool = False

    @model_validator(mode="after")
    def _some(self) -> MarkdownArgs:
        if not (self.levels or self.require_levels or self.max_level or self.first_heading_level
                or self.min_headings or self.blockquote):  # fmt: skip
            raise ValueError("no Markdown requirement given")
        return self


class JsonArgs(_Args):
    depth: Limit | None = None


class XmlArgs(_Args):
    attributes: Limit
    optional: bool = False


class TextArgs(_Args):
    no_bullets: bool = True


# -------------------------------------------------------------------------------------------- checkers


def _count_checker(measure: Callable[[str], int]) -> Callable[[CountArgs], Checker]:
    return lambda a: lambda r: a.ok(measure(r))


def _kw_pattern(word: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(p) for p in word.split())
    left = r"(?<!\w)" if re.match(r"\w", word) else ""
    right = r"(?!\w)" if re.search(r"\w$", word) else ""
    return re.compile(left + body + right, re.IGNORECASE)


def _keywords(a: KeywordArgs) -> Checker:
    pats = [_kw_pattern(k) for k in a.keywords]

    def one(r: str) -> bool:
        counts = [len(p.findall(r)) for p in pats]
        if a.mode == "none":
            return not any(counts)
        hits = [c >= a.min_count for c in counts]
        return all(hits) if a.mode == "all" else any(hits)

    if a.scope == "sentences":
        return lambda r: bool(text_utils.sentences(r)) and all(one(s) for s in text_utils.sentences(r))
    return one


_CLOSERS = "\"'”’)]»`"


def _ends(s: str, marks: tuple[str, ...]) -> bool:
    return s.rstrip().rstrip(_CLOSERS).rstrip().endswith(marks)


def _punctuation(a: PunctuationArgs) -> Checker:
    marks = a.marks
    if a.scope == "response":
        return lambda r: _ends(r, marks)
    if a.scope == "sentences":
        return lambda r: bool(text_utils.sentences(r)) and all(_ends(s, marks) for s in text_utils.sentences(r))
    return lambda r: bool(text_utils.paragraphs(r)) and all(_ends(p, marks) for p in text_utils.paragraphs(r))


def _identifier(a: IdentifierArgs) -> Checker:
    return lambda r: re.sub(r"^[\s#>*_]+", "", r).startswith(a.prefix)


def _scoped_text(r: str, scope: str) -> str:
    if scope == "table":
        cells = [c for t in text_utils.tables(r) for row in [t.header, *t.rows] for c in row]
        return " ".join(cells) if cells else r
    if scope == "headings":
        hs = text_utils.headings(r)
        return " ".join(h for _, h in hs) if hs else r
    if scope == "json":
        strings: list[str] = []

        def walk(v: object) -> None:
            if isinstance(v, dict):
                for k, x in v.items():
                    strings.append(str(k))
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
            elif isinstance(v, str):
                strings.append(v)

        for v in text_utils.json_values(r):
            walk(v)
        return " ".join(strings) if strings else r
    return r


def _title_case(s: str) -> bool:
    for tok in s.split():
        core = tok.lstrip("\"'“‘([{*_#>-•`")
        if core and core[0].isalpha() and core[0].islower():
            return False
    return True


def _english(a: EnglishArgs) -> Checker:
    test = {"title": _title_case, "upper": lambda s: s == s.upper(), "lower": lambda s: s == s.lower()}[a.case]
    return lambda r: test(_scoped_text(r, a.scope))


# (simplified, traditional) pairs of very frequent characters that differ between the two scripts.
_SIMP_TRAD = (
    "这這 个個 们們 来來 说說 时時 国國 会會 为為 对對 学學 发發 "
    "经經 过過 还還 后後 实實 现現 样樣 点點 开開 关關 问問 题題 "
    "让讓 进進 动動 种種 长長 从從 两兩 当當 机機 体體 电電 业業 东東 "
    "话話 见見 间間 应應 产產 书書 车車 门門 气氣 与與 万萬 无無 "
    "马馬 鸟鳥 鱼魚 龙龍 听聽 读讀 写寫 语語 认認 识識 员員 边邊 场場 "
    "报報 变變 区區 华華 设設 计計 总總 条條 处處 难難 页頁 类類 "
    "没沒 买買 卖賣 钱錢 图圖 头頭 义義 乐樂 热熱 观觀 须須 级級 "
    "网網 传傳 专專 统統 论論 许許 么麼 历歷 权權 际際 视視 质質 "
    "标標 决決 达達 运運 选選 给給 还還 并並 战戰 济濟 较較 结結 "
    "组組 织織 务務 备備 该該 节節 确確 连連 众眾 单單 简簡 体體"
)
_SIMP_ONLY = frozenset(p[0] for p in _SIMP_TRAD.split() if p[0] != p[1])
_TRAD_ONLY = frozenset(p[1] for p in _SIMP_TRAD.split() if p[0] != p[1])


def _chinese(a: ChineseArgs) -> Checker:
    wrong = _TRAD_ONLY if a.script == "simplified" else _SIMP_ONLY
    return lambda r: text_utils.cjk_ratio(r) >= 0.5 and not any(ch in wrong for ch in r)


def _table(a: TableArgs) -> Checker:
    def check(r: str) -> bool:
        ts = text_utils.tables(r)
        if not ts:
            return a.optional
        return all(
            (a.rows is None or a.rows.ok(len(t.rows)))
            and (a.cols is None or a.cols.ok(t.n_cols))
            and (
                a.cell_words is None
                or all(a.cell_words.ok(text_utils.count_words(c)) for row in t.rows for c in row if c)
            )
            for t in ts
        )

    return check


def _markdown(a: MarkdownArgs) -> Checker:
    def check(r: str) -> bool:
        hs = text_utils.headings(r)
        levels = {lv for lv, _ in hs}
        if a.blockquote and not text_utils.blockquotes(r):
            return False
        if len(hs) < a.min_headings:
            return False
        if a.levels is not None and not a.levels.ok(len(levels)):
            return False
        if any(lv not in levels for lv in a.require_levels):
            return False
        if a.max_level is not None and any(lv > a.max_level for lv in levels):
            return False
        if a.first_heading_level is not None:
            first = next((ln for ln in text_utils.strip_code(r).split("\n") if ln.strip()), "")
            m = re.match(r"^\s{0,3}(#{1,6})\s", first)
            if not m or len(m.group(1)) != a.first_heading_level:
                return False
        return True

    return check


def _json(a: JsonArgs) -> Checker:
    def check(r: str) -> bool:
        values = text_utils.json_values(r)
        if not values:
            return False
        return a.depth is None or a.depth.ok(max(text_utils.nesting_depth(v) for v in values))

    return check


def _xml(a: XmlArgs) -> Checker:
    def check(r: str) -> bool:
        counts = text_utils.xml_attribute_counts(r)
        if not counts:
            return a.optional
        if a.attributes.relation in ("at most", "less than"):
            return all(a.attributes.ok(c) for c in counts)
        return a.attributes.ok(max(counts))

    return check


def _text(a: TextArgs) -> Checker:
    return lambda r: not (a.no_bullets and text_utils.has_bullets(r))


def _n_sentences(r: str) -> int:
    return len(text_utils.sentences(r))


def _n_paragraphs(r: str) -> int:
    return len(text_utils.paragraphs(r))


RULES: dict[str, tuple[type[BaseModel], Callable[[Any], Checker]]] = {
    "Content/Keywords": (KeywordArgs, _keywords),
    "Content/Punctuation": (PunctuationArgs, _punctuation),
    "Content/Identifiers": (IdentifierArgs, _identifier),
    "Language/English": (EnglishArgs, _english),
    "Language/Chinese": (ChineseArgs, _chinese),
    "Length/Words": (CountArgs, _count_checker(text_utils.count_words)),
    "Length/Sentences": (CountArgs, _count_checker(_n_sentences)),
    "Length/Paragraphs": (CountArgs, _count_checker(_n_paragraphs)),
    "Format/Table": (TableArgs, _table),
    "Format/Markdown": (MarkdownArgs, _markdown),
    "Format/Json": (JsonArgs, _json),
    "Format/XML": (XmlArgs, _xml),
    "Format/Text": (TextArgs, _text),
}


class MulDimIFRegistry:
    family = FAMILY

    def rule_ids(self) -> list[str]:
        return sorted(RULES)

    def knows(self, rule_id: str) -> bool:
        return rule_id in RULES

    def needs_prompt(self, rule_id: str, kwargs: dict[str, Any]) -> bool:
        return False

    def build(self, rule_id: str, kwargs: dict[str, Any], prompt: str = "") -> Checker:
        if rule_id not in RULES:
            raise UnsupportedRule(FAMILY, rule_id, f"known MulDimIF rules: {sorted(RULES)}")
        model, factory = RULES[rule_id]
        try:
            args = model.model_validate(kwargs)
        except ValidationError as exc:
            errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'kwargs'}: {e['msg']}" for e in exc.errors())
            raise RuleArgumentError(errs, family=FAMILY, rule_id=rule_id) from None
        return factory(args)


REGISTRY = MulDimIFRegistry()

# --------------------------------------------------------------------------------------------- parsers

_QUOTED = re.compile(r"""(?<![\w])'((?:[^'\n]|'(?=\w))+?)'(?![\w])|"([^"\n]+)"|“([^”\n]+)”|‘([^’\n]+)’""")
_NEGATED = re.compile(
    r"\b(?:must|should|do|does|shall|will|can|may)\s+not\s+(?:include|use|contain|mention|feature|appear)|"
    r"\bavoid(?:s|ing)?\b|\bwithout\s+(?:using|mentioning|including)\b|\bexclud|\brefrain\b|\bforbidden\b|\bprohibit|"
    r"\bnot\s+(?:be\s+)?(?:used|included|mentioned)\b|\bnever\s+(?:use|mention|include)"
)
_FREQ = re.compile(rf"\b(?:at\s+least\s+)?({NUM}|once|twice|thrice)\s+times?\b|\bat\s+least\s+(once|twice|thrice)\b")


def _quoted(text: str) -> list[str]:
    out = []
    for m in _QUOTED.finditer(text):
        q = next(g for g in m.groups() if g is not None).strip()
        q = q.rstrip(".,;:!?").strip() if len(q) > 1 else q
        if q and q not in out:
            out.append(q)
    return out


def parse_keywords(text: str) -> dict[str, Any] | None:
    kws = _quoted(text)
    if not kws:
        m = re.search(r"\b(?:key\s*words?|terms?|phrases?|words?)\s+([A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*)*)", text)
        if not m or m.group(1).lower() in {"the", "that", "this", "and"}:
            return None
        kws = [m.group(1).rstrip(".")]
    t = _norm(text)
    if not re.search(r"key\s*words?|terms?|phrases?|words?|includ|incorporat|mention|contain|feature|use", t):
        return None
    out: dict[str, Any] = {"keywords": kws}
    scoped = re.search(r"\b(?:each|every)\s+(\w+)", t)
    if scoped:
        if not scoped.group(1).startswith("sentence"):
            return None
        out["scope"] = "sentences"
    if _NEGATED.search(t):
        out["mode"] = "none"
    elif re.search(r"\b(?:at\s+least\s+one\s+of|one\s+of\s+the|either|any\s+of\s+the)\b", t):
        out["mode"] = "any"
    m = _FREQ.search(t)
    if m and out.get("mode") != "none":
        word = m.group(1) or m.group(2)
        n = {"once": 1, "twice": 2, "thrice": 3}.get(word) or parse_number(word)
        if n and n > 1:
            out["min_count"] = n
    return out


_MARKS = (
    (r"period|full\s+stop|\bdot\b", "."),
    (r"exclamation(?:\s+(?:mark|point))?", "!"),
    (r"question\s+mark", "?"),
    (r"semicolon", ";"),
    (r"ellipsis", "..."),
    (r"colon", ":"),
)


def parse_punctuation(text: str) -> dict[str, Any] | None:
    t = _norm(text)
    if not re.search(r"\bend|\bconclud|\bfinish|\bterminat|ending\s+punctuation|final\s+punctuation", t):
        return None
    if re.search(r"\b(?:not|never)\s+(?:end|conclude|finish)|\bavoid\b|\btables?\b", t):
        return None
    found = sorted((m.start(), mark) for pat, mark in _MARKS for m in [re.search(pat, t)] if m)
    if not found:
        return None
    marks = [mark for _, mark in found]
    out: dict[str, Any] = {"mark": marks[0] if len(marks) == 1 or not re.search(r"\bor\b", t) else marks}
    m = re.search(
        r"\b(?:each|every)\s+(?:of\s+the\s+)?(\w+)|\ball\s+(?:of\s+the\s+)?(sentences|paragraphs|sections)\b", t
    )
    if m:
        noun = m.group(1) or m.group(2)
        if noun.startswith("sentence"):
            out["scope"] = "sentences"
        elif noun.startswith(("paragraph", "section")):
            out["scope"] = "paragraphs"
        else:
            return None
    return out


def parse_identifiers(text: str) -> dict[str, Any] | None:
    t = text.lower()
    if _SCOPED.search(t) or not re.search(r"\b(?:start|begin)s?\b", t):
        return None
    if not re.search(r"\b(?:answer|response|reply|output|text|it|you)\b|^(?:start|begin)", t):
        return None
    q = _quoted(text)
    return {"prefix": q[0]} if len(q) == 1 and len(q[0]) > 1 else None


def parse_english(text: str) -> dict[str, Any] | None:
    t = _norm(text)
    if re.search(r"\b(?:all\s+)?upper\s*-?\s*case|\ball\s+(?:capital\s+letters|caps|capitals)\b|\bcapitalized\s+form\b|"
                 r"\bentirely\s+in\s+capital|\bblock\s+letters", t):  # fmt: skip
        case = "upper"
    elif re.search(r"\blower\s*-?\s*case\b|\bno\s+capital\s+letters\b|\bsmall\s+letters\b", t):
        case = "lower"
    elif re.search(r"capitali[sz]|\bcapital\s+letter|\btitle\s+case|\binitial\s+capital", t) and re.search(
        r"\bwords?\b|\bcapitalized\s+letters\b|\btitle\s+case", t
    ):
        case = "title"
    else:
        return None
    scope = "all"
    if re.search(r"\btables?\b", t):
        scope = "table"
    elif re.search(r"\bjson\b", t):
        scope = "json"
    elif re.search(r"\bheadings?\b", t):
        scope = "headings"
    return {"case": case, "scope": scope}


def parse_chinese(text: str) -> dict[str, Any] | None:
    t = text.lower()
    if "traditional" in t or "繁體" in text or "繁体" in text:
        return {"script": "traditional"}
    if "chinese" in t or "中文" in text or "简体" in text:
        return {"script": "simplified"}
    return None


def _parse_count(text: str, unit: str) -> dict[str, Any] | None:
    t = _norm(text)
    if _SCOPED.search(t) or re.search(r"\b(?:tables?|cells?|titles?|headings?|bullet|list\s+items?)\b", t):
        return None
    t = re.sub(r"\bsingle\s+(?=" + unit + ")", "one ", t)
    lim = find_limit(t, unit)
    return lim.flat() if lim else None


def parse_words(text: str) -> dict[str, Any] | None:
    return _parse_count(text, "word")


def parse_sentences(text: str) -> dict[str, Any] | None:
    return _parse_count(text, "sentence")


def parse_paragraphs(text: str) -> dict[str, Any] | None:
    return _parse_count(text, "paragraph")


_OPTIONAL = re.compile(
    r"\bif\b|\bany\s+(?:tables?|tabular)|\bwhen(?:ever)?\b|\bshould\s+you\b|\bin\s+case\b|\bany\s+\w+\s+(?:tables?|tabular)"
)


def parse_table(text: str) -> dict[str, Any] | None:
    t = _norm(text)
    t = re.sub(r"\b(?:a\s+)?single\s+(?=row|column)", "one ", t)
    mentions_table = bool(re.search(r"\btables?\b|\btabular\b", t))
    cell_words = None
    if re.search(r"\b(?:each|every)\s+(?:cell|entry)\b", t) and mentions_table:
        cell_words = find_limit(t, "word")
        if cell_words is None:
            return None
        t = re.sub(
            rf"(?:{_MIN}|{_MAX}|\b(?:less|fewer|more)\s+than|\bbetween|\bexactly)?\s*{NUM}(?:\s*(?:-|to|and)\s*{NUM})?\s+words?",
            " ",
            t,
        )
    elif re.search(
        r"\b(?:each|every|per)\s+(?:row|cell|entry|column|slide|item)\s+(?:must|should|shall|has|have|contains?|includes?|needs)",
        t,
    ):
        return None
    rows, cols = find_limit(t, "row"), find_limit(t, "column")
    if rows and cols:  # "not exceed three rows and two columns": the relation is shared
        if re.search(rf"{NUM}\s+rows?\s+(?:and|or|,)\s+{NUM}\s+columns?", t) and cols.relation == "exactly":
            cols = Limit(**{**cols.flat(), "relation": rows.relation})
        elif re.search(rf"{NUM}\s+columns?\s+(?:and|or|,)\s+{NUM}\s+rows?", t) and rows.relation == "exactly":
            rows = Limit(**{**rows.flat(), "relation": cols.relation})
    if rows and rows.relation != "between" and re.search(r"\bincluding\s+(?:the\s+)?headers?\b", t) and rows.num:
        rows = Limit(relation=rows.relation, num=rows.num - 1)
    if rows is None and cols is None and cell_words is None and not mentions_table:
        return None
    if (
        rows is None
        and cols is None
        and cell_words is None
        and not re.search(r"\b(?:in|as|use|using|include|including|present|with|format)\b", t)
    ):
        return None
    out: dict[str, Any] = {}
    if rows:
        out["rows"] = rows.flat()
    if cols:
        out["cols"] = cols.flat()
    if cell_words:
        out["cell_words"] = cell_words.flat()
    out["optional"] = bool(_OPTIONAL.search(t)) or not mentions_table
    return out


def _levels_in(t: str) -> list[int]:
    found: list[int] = []
    for m in re.finditer(r"\blevel\s*([1-6])\b|\bh([1-6])\b", t):
        found.append(int(m.group(1) or m.group(2)))
    for m in re.finditer(r"\bheading\s+levels?\s+([1-6])((?:\s*(?:,|and|&|or)\s*[1-6])*)", t):
        found.extend(int(x) for x in re.findall(r"[1-6]", m.group(1) + m.group(2)))
    for m in re.finditer(r"(?:^|[\s'\"(“‘])(#{1,6})(?=[\s'\"”’),]|$)", t):
        found.append(len(m.group(1)))
    return sorted(set(found))


def parse_markdown(text: str) -> dict[str, Any] | None:
    t = _norm(text)
    out: dict[str, Any] = {}
    if re.search(r"block\s*-?\s*quotes?", t):
        out["blockquote"] = True
    if re.search(r"\bheadings?\b|\bh[1-6]\b|#", t):
        if re.search(r"\b(?:each|every)\b|separate\s+heading", t):
            return out or None
        u = re.sub(r"\b(?:different|distinct)\s+(?=heading|levels)", "", t)
        u = re.sub(r"\blevels?\s+of\s+headings?\b", "heading levels", u)
        u = re.sub(
            rf"\bheadings?\s+(?:with|at|of|using|in)\s+((?:at\s+least|exactly|at\s+most|a\s+maximum\s+of|no\s+more\s+than)\s+)?({NUM})\s+levels?\b",
            r"\1\2 heading levels",
            u,
        )
        max_level = None
        m = re.search(
            r"(?:up\s+to|not\s+exceed(?:ing)?|no\s+(?:deeper|lower)\s+than|maximum\s+(?:heading\s+)?level\s+(?:of\s+)?)\s*(?:heading\s+)?level\s*([1-6])\b",
            u,
        )
        if m:
            max_level = int(m.group(1))
            u = u[: m.start()] + u[m.end() :]
            out["max_level"] = max_level
        lim = find_limit(u, r"heading\s+level")
        if lim is None and re.search(r"\bheadings?\b", u):
            lim = find_limit(u, r"level")
        if lim:
            out["levels"] = lim.flat()
        req = [lv for lv in _levels_in(u) if max_level is None or lv <= max_level]
        if req and not (lim and lim.relation in ("at most", "less than")):
            out["require_levels"] = req
        if req and re.search(r"\b(?:begin|start)s?\s+with\b|\bat\s+the\s+beginning\b", u) and len(req) == 1:
            out["first_heading_level"] = req[0]
        bare = re.sub(r"\bheadings?\s+levels?\b|\bsub-?headings?\b|\blevels?\s*[1-6]\b|\bh[1-6]\b", " ", u)
        many = find_limit(bare, r"heading")
        if many and many.relation in ("at least", "exactly") and many.num:
            out["min_headings"] = many.num
        elif not re.search(r"\bany\s+headings?\b|\bif\b", u):  # "any headings used must ..." is conditional
            out["min_headings"] = 1
    return out or None


def parse_json(text: str) -> dict[str, Any] | None:
    t = _norm(text)
    if "json" not in t and "nesting" not in t:
        return None
    u = re.sub(r"\blevels?\s+of\s+(?:object\s+)?nesting\b", "nesting levels", t)
    u = re.sub(r"\bobject\s+nesting\s+levels?\b", "nesting levels", u)
    m = re.search(rf"\bnesting\s+level\s+of\s+({NUM})\b", u)
    if m:
        lim: Limit | None = Limit(relation="exactly", num=parse_number(m.group(1)))
    else:
        lim = find_limit(u, r"nesting\s+level")
        if lim is None:
            m = re.search(
                rf"\bnesting\s+levels?\s+(?:(?:must|should|do|does|to)\s+)?(?:not\s+exceed(?:ing)?|be\s+limited\s+to|limited\s+to|of\s+at\s+most|at\s+most)\s+({NUM})\b",
                u,
            )
            if m:
                lim = Limit(relation="at most", num=parse_number(m.group(1)))
    if lim is None and "nesting" in t:
        return None
    return {"depth": lim.flat()} if lim else {}


def parse_xml(text: str) -> dict[str, Any] | None:
    t = _norm(text)
    lim = find_limit(t, "attribute")
    if lim is None:
        m = re.search(rf"\battributes?\s+(?:must|should)\s+be\s+(?:exactly\s+)?({NUM})\b", t)
        if not m:
            return None
        lim = Limit(relation="exactly", num=parse_number(m.group(1)))
    return {"attributes": lim.flat(), "optional": bool(re.search(r"\bif\b|\bany\b", t))}


def parse_text(text: str) -> dict[str, Any] | None:
    t = _norm(text)
    if re.search(r"\bno\s+bullet(?:\s+points?|s)?\b|\b(?:do\s+not|don't|must\s+not|should\s+not)\s+use\s+bullet", t):
        return {"no_bullets": True}
    return None


PARSERS: dict[str, Callable[[str], dict[str, Any] | None]] = {
    "Content/Keywords": parse_keywords,
    "Content/Punctuation": parse_punctuation,
    "Content/Identifiers": parse_identifiers,
    "Language/English": parse_english,
    "Language/Chinese": parse_chinese,
    "Length/Words": parse_words,
    "Length/Sentences": parse_sentences,
    "Length/Paragraphs": parse_paragraphs,
    "Format/Table": parse_table,
    "Format/Markdown": parse_markdown,
    "Format/Json": parse_json,
    "Format/XML": parse_xml,
    "Format/Text": parse_text,
}

_ROUTES = (
    (r"keyword", "Content/Keywords"),
    (r"punctuation", "Content/Punctuation"),
    (r"identifier", "Content/Identifiers"),
    (r"chinese", "Language/Chinese"),
    (r"english", "Language/English"),
    (r"paragraph", "Length/Paragraphs"),
    (r"sentence", "Length/Sentences"),
    (r"\bwords?\b|word count", "Length/Words"),
    (r"json|nesting", "Format/Json"),
    (r"xml|attribute", "Format/XML"),
    (r"table|row limit|column limit", "Format/Table"),
    (r"markdown|heading|block quote", "Format/Markdown"),
    (r"^format/text$", "Format/Text"),
)


def route(category: str, subcategory: str) -> str | None:
    """The canonical rule id for a MulDimIF ``(category, subcategory)`` pair (``None``: no checker family)."""
    key = f"{category.strip()}/{subcategory.strip()}".lower()
    sub = subcategory.lower()
    for pat, rule in _ROUTES:  # the subcategory is more specific than the category ("Format/Table: Row limit")
        if re.search(pat, sub):
            return rule
    for pat, rule in _ROUTES:
        if re.search(pat, key):
            return rule
    return None


def verifier_for(category: str, subcategory: str, text: str) -> RuleVerifier | None:
    """Parse one MulDimIF constraint into a checkable rule, or ``None`` when it needs an LLM judge."""
    rule_id = route(category, subcategory)
    if rule_id is None or not text or not text.strip():
        return None
    kwargs = PARSERS[rule_id](text.strip())
    if kwargs is None and rule_id in ("Length/Words", "Content/Punctuation") and re.search(r"\btables?\b", text, re.I):
        rule_id, kwargs = (
            "Format/Table",
            parse_table(text.strip()),
        )  # "each cell in the table must contain at most 10 words"
        if kwargs is not None and "cell_words" not in kwargs:
            return None
    if kwargs is None:
        return None
    try:
        REGISTRY.build(rule_id, kwargs)
    except RuleArgumentError:
        return None
    return RuleVerifier(family=FAMILY, rule_id=rule_id, kwargs=kwargs)
