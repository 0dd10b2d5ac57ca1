"""The build's report: per-family counts and acceptance rates, why pairs were not produced, sample diffs
(``report.json`` / ``report.md``)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from discriminator.data.diff_labels import render_diff_markdown
from discriminator.data.records import BuildConfig, PairRecord
from discriminator.data.schema import SpanRow


class FamilyStats(BaseModel):
    family: str
    source: str
    attempted: int = 0
    accepted: int = 0
    flagged: int = 0
    rejected: int = 0
    unsupported: int = 0
    collateral_flips: int = 0  # other rubrics flipped, summed over the pairs that had a negative

    @property
    def produced(self) -> int:
        return self.accepted + self.flagged

    @property
    def coverage(self) -> float:
        return self.produced / self.attempted if self.attempted else 0.0

    @property
    def acceptance(self) -> float:
        tried = self.accepted + self.flagged + self.rejected
        return self.produced / tried if tried else 0.0


class BuildReport(BaseModel):
    out_dir: str
    mode: str
    items: int = 0
    items_skipped: int = 0  # already done (resume)
    pairs: int = 0
    rows: int = 0
    splits: dict[str, int] = Field(default_factory=dict)
    families: list[FamilyStats] = Field(default_factory=list)
    reasons: dict[str, int] = Field(default_factory=dict)
    llm: dict[str, Any] = Field(default_factory=dict)
    positive_sources: dict[str, int] = Field(
        default_factory=dict, description="pairs per positive source and edit direction, e.g. 'policy/repair'")
    template_fallback_items: int = Field(0, description="items whose pairs use a template positive")
    unverified_pairs: int = Field(0, description="pairs no checker or judge verified (kept out of val/test)")
    given: dict[str, Any] = Field(default_factory=dict, description="how --positives rows matched the items")
    files: dict[str, str] = Field(default_factory=dict)
    samples: list[str] = Field(default_factory=list)
    failed_items: int = Field(0, description="items with a failed LLM call: not done, retried by a rerun")
    failures: list[str] = Field(default_factory=list, description="the first failures, 'item: reason'")
    repaired: list[str] = Field(default_factory=list, description="what --repair redid")
    rebuilt: list[str] = Field(default_factory=list, description="source/item whose earlier records came from "
                               "other inputs (resampled positives, an edited item): discarded and built again")

    def table_rows(self) -> list[dict[str, Any]]:
        return [
            {"family": f.family, "source": f.source, "attempted": f.attempted, "accepted": f.accepted,
             "flagged": f.flagged, "rejected": f.rejected, "unsupported": f.unsupported,
             "collateral_flips": f.collateral_flips, "coverage": round(f.coverage, 3),
             "acceptance": round(f.acceptance, 3)}
            for f in self.families
        ]

    def to_markdown(self) -> str:
        lines = [f"# Discriminator data ({self.mode})", "",
                 f"{self.items} items, {self.pairs} pairs, {self.rows} rows; splits "
                 + ", ".join(f"{k} {v}" for k, v in self.splits.items()), "",
                 "| family | source | attempted | accepted | flagged | rejected | unsupported | collateral flips "
                 "| coverage |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for f in self.families:
            lines.append(f"| {f.family} | {f.source} | {f.attempted} | {f.accepted} | {f.flagged} | {f.rejected} | "
                         f"{f.unsupported} | {f.collateral_flips} | {f.coverage:.1%} |")
        if self.positive_sources:
            lines += ["", "Pairs by positive source / edit: " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.positive_sources.items()))
                + f"; template fallback items {self.template_fallback_items}; unverified pairs {self.unverified_pairs}"]
        if self.reasons:
            lines += ["", "## Why pairs were not produced", ""]
            lines += [f"- {k}: {v}" for k, v in sorted(self.reasons.items(), key=lambda kv: -kv[1])[:20]]
        if self.samples:
            lines += ["", "## Sample diffs (`[-removed-]{+added+}`)", ""]
            lines += self.samples
        return "\n".join(lines) + "\n"


def _reason_key(reason: str) -> str:
    return re.sub(r"\d+", "N", reason.split(":")[0])[:80]


def make_report(records: Sequence[PairRecord], rows: Sequence[SpanRow], config: BuildConfig, out_dir: Path) -> BuildReport:
    fams: dict[tuple[str, str], FamilyStats] = {}
    reasons: Counter = Counter()
    for rec in records:
        f = fams.setdefault((rec.family, rec.source), FamilyStats(family=rec.family, source=rec.source))
        f.attempted += 1
        setattr(f, rec.status, getattr(f, rec.status) + 1)
        f.collateral_flips += len(rec.collateral)
        if rec.status in ("rejected", "unsupported"):
            reasons[f"{rec.status}: {_reason_key(rec.reason)}"] += 1
    usable = [r for r in records if r.usable]
    sources = Counter(f"{r.positive_source}/{r.edit}" for r in usable)
    template_items = {r.item_id for r in records if r.positive_source == "template" and r.source == "program"}
    report = BuildReport(out_dir=str(out_dir), mode=config.mode, items=len({r.item_id for r in records}),
                         positive_sources=dict(sources), template_fallback_items=len(template_items),
                         unverified_pairs=sum(r.verification == "unverified" for r in usable),
                         pairs=sum(r.usable for r in records), rows=len(rows),
                         splits=dict(Counter(r.split for r in rows if r.split)),
                         families=sorted(fams.values(), key=lambda f: (f.source, f.family)), reasons=dict(reasons))
    shown: set[str] = set()
    for rec in records:
        if len(report.samples) >= config.sample_diffs:
            break
        if not rec.usable or rec.family in shown:
            continue
        shown.add(rec.family)
        from discriminator.data.diff_labels import char_opcodes

        diff = render_diff_markdown(rec.positive or "", rec.negative or "",
                                    char_opcodes(rec.positive or "", rec.negative or ""), context=30)
        report.samples.append(f"- **{rec.family}** ({rec.source}, {rec.item_id}): `{diff[:400]}`")
    return report
