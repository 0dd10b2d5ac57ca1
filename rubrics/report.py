"""The build report: what was read, kept, dropped and rejected, as JSON (pydantic) and markdown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from statistics import mean, median

from pydantic import BaseModel, ConfigDict, Field

from rubrics.schema import RubricItem, RuleVerifier

MAX_LISTED = 1000  # rejections / duplicates listed in full; the counts are always exact


class Rejection(BaseModel):
    """A record left out: where it is and why."""

    source: str
    path: str | None = None
    line: int | None = None
    field: str | None = None
    reason: str

    @property
    def where(self) -> str:
        return ":".join(str(p) for p in (self.path, self.line) if p is not None) or "<input>"


class Duplicate(BaseModel):
    """An item dropped because an item with the same content (``RubricItem.content_hash``) came first."""

    id: str
    kept: str
    path: str | None = None
    line: int | None = None


class SourceStats(BaseModel):
    name: str
    path: str
    format: str
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0


class RubricStats(BaseModel):
    """Rubrics-per-item distribution."""

    histogram: dict[str, int] = Field(default_factory=dict)  # "n rubrics" -> items
    min: int = 0
    median: float = 0.0
    mean: float = 0.0
    max: int = 0


class BuildReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    out_dir: str
    seed: int
    split_fractions: tuple[float, float, float]
    strict: bool
    sources: list[SourceStats] = Field(default_factory=list)
    items: int = 0
    rubrics: int = 0
    pitfalls: int = 0
    pitfall_polarity: dict[str, int] = Field(
        default_factory=dict,
        description="Negative-weight source criteria by decision, 'how:polarity' -> count (how: declared / record "
        "/ format / heuristic); describes-good ones became requirements (see rubrics.importers.polarity).",
    )
    splits: dict[str, int] = Field(default_factory=dict)
    verifiers: dict[str, int] = Field(default_factory=dict)  # ifeval / ifbench / muldimif / custom / llm
    families: dict[str, int] = Field(default_factory=dict)  # "ifeval:punctuation", "muldimif:Length", "llm"
    rubrics_per_item: RubricStats = Field(default_factory=RubricStats)
    duplicates_dropped: int = 0
    duplicates: list[Duplicate] = Field(default_factory=list)
    rejected_total: int = 0
    rejected: list[Rejection] = Field(default_factory=list)
    files: dict[str, str] = Field(default_factory=dict)
    elapsed_s: float = 0.0

    def add_rejection(self, rej: Rejection) -> None:
        self.rejected_total += 1
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append(rej)

    def add_duplicate(self, dup: Duplicate) -> None:
        self.duplicates_dropped += 1
        if len(self.duplicates) < MAX_LISTED:
            self.duplicates.append(dup)

    def count_items(self, items: Iterable[RubricItem]) -> None:
        """Fill the item / rubric / split / family statistics."""
        per_item: list[int] = []
        splits: Counter[str] = Counter()
        verifiers: Counter[str] = Counter()
        families: Counter[str] = Counter()
        polarity: Counter[str] = Counter()
        pitfalls = 0
        for it in items:
            decisions = it.meta.get("pitfall_polarity")
            if isinstance(decisions, dict):
                polarity.update(str(v) for v in decisions.values())
            per_item.append(len(it.rubrics))
            splits[it.split or "none"] += 1
            for r in it.rubrics:
                verifiers[r.verifier.family if isinstance(r.verifier, RuleVerifier) else "llm"] += 1
                families[rubric_family(r.verifier)] += 1
                pitfalls += r.weight < 0
        self.items, self.rubrics, self.pitfalls = len(per_item), sum(per_item), pitfalls
        self.pitfall_polarity = dict(sorted(polarity.items()))
        self.splits = {k: splits.get(k, 0) for k in ("train", "val", "test")} | {
            k: v for k, v in splits.items() if k not in ("train", "val", "test")
        }
        self.verifiers = dict(verifiers.most_common())
        self.families = dict(sorted(families.items(), key=lambda kv: (-kv[1], kv[0])))
        hist = Counter(per_item)
        self.rubrics_per_item = RubricStats(
            histogram={str(k): hist[k] for k in sorted(hist)},
            min=min(per_item, default=0),
            median=float(median(per_item)) if per_item else 0.0,
            mean=round(mean(per_item), 3) if per_item else 0.0,
            max=max(per_item, default=0),
        )

    def table_rows(self) -> list[dict[str, object]]:
        """One row per source (the CLI summary table and the Prefect table artifact)."""
        return [s.model_dump() for s in self.sources]

    def to_markdown(self) -> str:
        f = self.split_fractions
        lines = [
            f"# Rubric dataset `{self.name}`",
            "",
            f"**{self.items}** items, **{self.rubrics}** rubrics ({self.pitfalls} pitfalls) in `{self.out_dir}`; "
            f"seed {self.seed}, split {f[0]:g}/{f[1]:g}/{f[2]:g}, {'strict' if self.strict else 'lenient'}; "
            f"{self.duplicates_dropped} duplicates dropped, {self.rejected_total} records rejected; "
            f"{self.elapsed_s:.2f} s.",
            "",
            "## Sources",
            "",
            "| source | path | format | read | imported | duplicates | rejected |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {s.name} | `{s.path}` | {s.format} | {s.read} | {s.imported} | {s.duplicates} | {s.rejected} |"
            for s in self.sources
        ]
        if self.pitfall_polarity:
            lines += [
                "",
                "## Pitfall polarity",
                "",
                "Negative-weight source criteria: describes-bad stay pitfalls, describes-good became requirements.",
                "",
                "| decided by | polarity | criteria |",
                "|---|---|---:|",
            ]
            for key, n in self.pitfall_polarity.items():
                how, _, pol = key.partition(":")
                lines.append(f"| {how} | {pol} | {n} |")
        lines += ["", "## Splits", "", "| split | items |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in self.splits.items()]
        lines += ["", "## Verifiers", "", "| verifier | rubrics |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in self.verifiers.items()]
        lines += ["", "## Rubric families", "", "| family | rubrics |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in self.families.items()]
        s = self.rubrics_per_item
        lines += [
            "",
            "## Rubrics per item",
            "",
            f"min {s.min}, median {s.median:g}, mean {s.mean:g}, max {s.max}",
            "",
            "| rubrics | items |",
            "|---:|---:|",
        ]
        lines += [f"| {k} | {v} |" for k, v in s.histogram.items()]
        if self.duplicates_dropped:
            lines += [
                "",
                f"## Duplicates dropped ({self.duplicates_dropped})",
                "",
                "| dropped | kept | where |",
                "|---|---|---|",
            ]
            lines += [
                f"| {d.id} | {d.kept} | {_cell(':'.join(str(p) for p in (d.path, d.line) if p))} |"
                for d in self.duplicates
            ]
        if self.rejected_total:
            lines += [
                "",
                f"## Rejected records ({self.rejected_total})",
                "",
                "| where | field | reason |",
                "|---|---|---|",
            ]
            lines += [f"| {_cell(r.where)} | {_cell(r.field or '')} | {_cell(r.reason)} |" for r in self.rejected]
            if self.rejected_total > len(self.rejected):
                lines.append(f"\n... and {self.rejected_total - len(self.rejected)} more (see report.json counts).")
        if self.files:
            lines += ["", "## Files", ""] + [f"- `{v}` ({k})" for k, v in self.files.items()]
        return "\n".join(lines) + "\n"


def rubric_family(verifier) -> str:
    """``"{family}:{rule-id prefix}"`` for rules (``ifeval:punctuation``, ``muldimif:Length``), else ``llm``."""
    if not isinstance(verifier, RuleVerifier):
        return "llm"
    prefix = verifier.rule_id.split(":", 1)[0].split("/", 1)[0]
    return f"{verifier.family}:{prefix}"


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 200 else text[:197] + "..."
