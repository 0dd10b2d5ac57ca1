"""A source to import (:class:`SourceSpec`), format auto-detection and the record -> item loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rubrics.importers import generic, healthbench, ifeval, muldimif, rar, rtt, tulu
from rubrics.importers.base import Context, Converter, FieldError, ReadError, Record
from rubrics.importers.polarity import PitfallPolarity
from rubrics.importers.readers import Container, container_of, count_records, read_records
from rubrics.io import RecordError
from rubrics.rubric_text import RULE_FAMILIES, check_rule
from rubrics.rules import tulu as tulu_rules
from rubrics.rules.base import RuleArgumentError, UnsupportedRule
from rubrics.schema import RubricItem, RuleVerifier

RecordFormat = Literal["ifeval", "ifbench", "muldimif", "rar", "healthbench", "tulu", "rtt", "generic"]
FormatName = Literal[
    "auto", "ifeval", "ifbench", "muldimif", "rar", "healthbench", "tulu", "rtt", "generic", "jsonl", "parquet", "hf"
]
FORMATS: tuple[str, ...] = FormatName.__args__  # type: ignore[attr-defined]
ColumnRole = Literal["id", "prompt", "messages", "rubrics"]

CONVERTERS: dict[str, Converter] = {
    "ifeval": partial(ifeval.convert, family="ifeval"),
    "ifbench": partial(ifeval.convert, family="ifbench"),
    "muldimif": muldimif.convert,
    "rar": rar.convert,
    "healthbench": healthbench.convert,
    "tulu": tulu.convert,
    "rtt": rtt.convert,
    "generic": generic.convert,
}


class SourceSpec(BaseModel):
    """One rubric source: a file, a save_to_disk folder or a Hugging Face hub id, with its format and naming."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        description="A rubric file (JSONL, JSON, Parquet), a save_to_disk folder or a Hugging Face hub id.",
    )
    format: FormatName = Field(
        "auto",
        description="Record format; auto detects it from the first record, and "
        "jsonl / parquet / hf read that container and detect the records inside.",
    )
    name: str | None = Field(
        default=None,
        pattern=r"^[\w.\-]+$",
        description="Prefix of the item ids (name:original id); empty: the detected format.",
    )
    split: str | None = Field(None, description="Hugging Face split to read (hub ids and save_to_disk folders).")
    columns: dict[ColumnRole, str] = Field(
        default_factory=dict,
        description="Column names for the generic "
        "importer's roles (id, prompt, messages, rubrics) when they differ; dotted paths such as "
        "reward_model.rubrics reach nested fields.",
    )
    pitfall_polarity: PitfallPolarity = Field(
        default="auto",
        description="What a negative-weight criterion's text describes: describes-bad (kept as a pitfall), "
        "describes-good (becomes a requirement of weight |w|), or auto (the rubric's or record's 'polarity' "
        "field, else the format's convention, else a heuristic; counted in the report).",
    )

    @classmethod
    def parse(cls, text: str, **defaults: Any) -> SourceSpec:
        """``path`` or ``name=path`` (the CLI's SOURCE argument)."""
        name, sep, path = text.partition("=")
        if sep and name and not Path(text).exists() and "/" not in name:
            return cls(path=path, name=name, **defaults)
        return cls(path=text, **defaults)

    @property
    def container(self) -> Container | None:
        return self.format if self.format in ("jsonl", "parquet", "hf") else None

    @property
    def record_format(self) -> RecordFormat | None:
        return None if self.format in ("auto", "jsonl", "parquet", "hf") else self.format  # type: ignore[return-value]


def detect_format(rec: Mapping[str, Any]) -> RecordFormat:
    """Guess a record's format from its keys (canonical items first, then the benchmark shapes)."""
    if generic.is_canonical(rec):
        return "generic"
    if ifeval.looks_like(rec):
        return ifeval.guess_family(rec)  # type: ignore[return-value]
    if muldimif.looks_like(rec):
        return "muldimif"
    if healthbench.looks_like(rec):
        return "healthbench"
    if rtt.looks_like(rec):
        return "rtt"
    if tulu.looks_like(rec):
        return "tulu"
    if rar.looks_like(rec):
        return "rar"
    return "generic"


def validate_item(item: RubricItem) -> None:
    """Checks beyond the schema: an IFEval / IFBench / Tulu rule must name a registry checker and fit its
    arguments."""
    for i, r in enumerate(item.rubrics):
        v = r.verifier
        if isinstance(v, RuleVerifier) and v.family == "tulu":
            try:
                tulu_rules.check_kwargs(v.rule_id, v.kwargs)
            except (UnsupportedRule, RuleArgumentError) as exc:
                raise FieldError(f"rubrics[{i}].verifier", str(exc)) from None
        if isinstance(v, RuleVerifier) and v.family in RULE_FAMILIES:
            try:
                check_rule(v.family, v.rule_id, v.kwargs)
            except RuleArgumentError as exc:
                where = "rule_id" if exc.arg is None else f"kwargs.{exc.arg}"
                raise FieldError(f"rubrics[{i}].verifier.{where}", exc.reason) from None


@dataclass(frozen=True)
class Imported:
    """The outcome for one record: an item, or the located error that rejected it."""

    item: RubricItem | None
    error: RecordError | None
    path: str | None
    line: int | None


class SourceReader:
    """Iterate a source's records as :class:`Imported` outcomes; ``format`` / ``name`` are known after the
    first record has been read."""

    def __init__(self, spec: SourceSpec):
        self.spec = spec
        self.container: Container = spec.container or container_of(spec.path)
        self.format: RecordFormat | None = spec.record_format
        self.name: str | None = spec.name

    def total(self) -> int | None:
        try:
            return count_records(self.spec.path, self.container)
        except OSError:
            return None

    def __iter__(self) -> Iterator[Imported]:
        convert: Callable[[Mapping[str, Any], Context], RubricItem] | None = None
        ctx: Context | None = None
        for rec in read_records(self.spec.path, self.container, split=self.spec.split):
            if isinstance(rec, ReadError):
                yield Imported(None, RecordError(rec.path, rec.line, rec.field, rec.reason), rec.path, rec.line)
                continue
            if convert is None:
                self.format = self.format or detect_format(rec.data)
                self.name = self.name or (self.format if self.format != "generic" else _stem(self.spec.path))
                convert = CONVERTERS[self.format]
                ctx = Context(self.name, dict(self.spec.columns.items()), self.spec.pitfall_polarity)
            assert ctx is not None  # set together with convert
            yield self._convert(rec, convert, ctx)

    @staticmethod
    def _convert(rec: Record, convert: Converter, ctx: Context) -> Imported:
        try:
            item = convert(rec.data, ctx)
            validate_item(item)
        except FieldError as exc:
            return Imported(None, RecordError(rec.path, rec.line, exc.field, exc.reason), rec.path, rec.line)
        return Imported(item, None, rec.path, rec.line)


class DuplicateIndex:
    """The one duplicate rule of every command that reads items.

    A second item with the same id *and* the same content, or with the same content under another id, is an
    exact duplicate: dropped and counted. A second item with the same id and *different* content is an error
    naming both places (``--lenient``: reported and left out)."""

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[str, str | None, int | None]] = {}  # id -> (content hash, path, line)
        self.by_hash: dict[str, str] = {}  # content hash -> kept id

    def check(self, item: RubricItem, path: str | None, line: int | None) -> RecordError | str | None:
        """None: new (and remembered); the kept id (str): an exact duplicate to drop; RecordError: a conflict."""
        digest = item.content_hash()
        seen = self.by_id.get(item.id)
        if seen is not None and seen[0] != digest:
            where = ":".join(str(p) for p in seen[1:] if p is not None) or "<input>"
            return RecordError(
                path,
                line,
                "id",
                f"duplicate item id {item.id!r} with different content (first at "
                f"{where}); give sources distinct names (name=path) or fix one of the records",
            )
        if seen is not None or digest in self.by_hash:
            return self.by_hash.get(digest, item.id)
        self.by_id[item.id] = (digest, path, line)
        self.by_hash[digest] = item.id
        return None


class EmptyInputError(ValueError):
    """An input file holds no records at all (pass ``allow_empty`` / ``--allow-empty`` to accept that)."""


@dataclass
class ImportResult:
    """Items of several sources after the duplicate rule, with what was left out."""

    items: list[RubricItem]
    rejected: list[RecordError]
    duplicates: int
    empty_sources: list[str]


def import_all(specs: list[SourceSpec | str], *, strict: bool = True, allow_empty: bool = False) -> ImportResult:
    """Items of every source with one shared :class:`DuplicateIndex` (strict: raise the first bad record or
    conflicting duplicate; lenient: leave them out and list them). A source with no records raises
    :class:`EmptyInputError` unless ``allow_empty``."""
    index = DuplicateIndex()
    result = ImportResult([], [], 0, [])
    for spec in specs:
        spec = SourceSpec.parse(spec) if isinstance(spec, str) else spec
        read = 0
        for out in SourceReader(spec):
            read += 1
            error = out.error
            if out.item is not None:
                dup = index.check(out.item, out.path, out.line)
                if isinstance(dup, str):
                    result.duplicates += 1
                    continue
                error = dup
            if error is not None:
                if strict:
                    raise error
                result.rejected.append(error)
                continue
            assert out.item is not None  # an Imported carries an item or an error
            result.items.append(out.item)
        if read == 0:
            result.empty_sources.append(spec.path)
    if result.empty_sources and not allow_empty:
        raise EmptyInputError(
            f"{', '.join(result.empty_sources)}: no records (an empty input; pass --allow-empty to accept it)"
        )
    return result


def import_items(spec: SourceSpec | str, *, strict: bool = True) -> list[RubricItem]:
    """All items of one source (strict: raise the first :class:`RecordError`; lenient: skip bad records); the
    duplicate rule of :class:`DuplicateIndex` applies. An empty source gives an empty list."""
    return import_all([spec], strict=strict, allow_empty=True).items


def _stem(path: str) -> str:
    stem = Path(path.rstrip("/")).name.split(".")[0]
    return "".join(c if c.isalnum() or c in "_-." else "-" for c in stem) or "items"
