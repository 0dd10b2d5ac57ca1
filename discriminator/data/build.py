"""Build the discriminator dataset: positives, minimal-modification negatives, span labels, splits.

:func:`build_dataset` is what ``rtt data negatives`` and the Prefect flow ``build_discriminator_data`` run.

Layout of ``out_dir``::

    shards/<source>/<item>.jsonl   append-only pair records per item (one line per rubric, any status)
    done.jsonl                     done index: one line per finished (source, item)
    spans.parquet                  one SpanRow per (criterion, response), split by item (atomic)
    paper/{train,val,test}.jsonl   optional RTT-paper discriminator JSONL (criteria, response, char_labels)
    report.json / report.md        per-family counts and acceptance rates, a sample of diffs

Shards and the done index are durable (see discriminator/data/shards.py). Re-running skips finished items and, inside an unfinished item, rubrics already recorded; consolidation
rewrites the outputs atomically from all shards.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from discriminator.data.compose import compose_positive
from discriminator.data.diff_labels import (
    SpanOptions,
    diff_spans,
    render_diff_markdown,
    spans_from_opcodes,
)
from discriminator.data.programmatic import family_key, make_negative, verify_pair
from discriminator.data.schema import SpanRow, spans_to_char_labels, write_rows
from discriminator.data.shards import DurableShards, ShardError  # noqa: F401 - re-exported
from rubrics.io import atomic_open, write_jsonl
from rubrics.schema import RubricItem, stable_id

Mode = Literal["programmatic", "llm", "both"]
Source = Literal["program", "llm"]
Status = Literal["accepted", "flagged", "rejected", "unsupported"]


class BuildConfig(BaseModel):
    """What to build and how strictly (shared by the CLI and the flow)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field("programmatic", description="How negatives are made: programmatic (offline rule edits), "
                       "llm (an LLM rewrites the response to break one rubric) or both.")
    policy: Literal["reject", "flag"] = Field("reject", description="Collateral flips (an edit that also breaks "
                                              "another rubric): reject drops the pair, flag keeps it flagged.")
    seed: int = Field(0, description="Random seed of the edits and of the split.")
    val_frac: float = Field(0.1, ge=0, le=1, description="Fraction of items in the validation split.")
    test_frac: float = Field(0.1, ge=0, le=1, description="Fraction of items in the test split.")
    spans: SpanOptions = Field(default_factory=SpanOptions, description="How a positive/negative diff becomes "
                               "labelled character spans.")
    paper_jsonl: bool = Field(False, description="Also write the paper's JSONL format next to spans.parquet.")
    llm_repairs: int = Field(1, ge=0, description="Repair turns after an unusable negative answer.")
    positive_attempts: int = Field(2, ge=1, description="Tries to obtain a positive response that follows every "
                                   "rubric.")
    sample_diffs: int = Field(12, ge=0, description="Diffs shown in report.md.")
    workers: int = Field(0, ge=0, description="Processes for programmatic pairs: 0 = one per CPU core when there "
                                              "are at least pool_min_items items, 1 = in this process.")
    pool_min_items: int = Field(200, ge=1, description="Smallest input that starts a process pool (workers=0).")
    content_match: Literal["minilm", "lexical"] = Field(
        "minilm", description="How the sentence carrying an LLM-judged criterion is found in a real response "
                              "(MiniLM embedding similarity, or word overlap); a judge, when set, chooses among them.")

    @model_validator(mode="after")
    def _fractions(self) -> "BuildConfig":
        if self.val_frac + self.test_frac > 1:
            raise ValueError("val_frac + test_frac must be at most 1")
        return self

    @property
    def sources(self) -> list[Source]:
        return {"programmatic": ["program"], "llm": ["llm"], "both": ["program", "llm"]}[self.mode]  # type: ignore[return-value]


class PairRecord(BaseModel):
    """One (item, rubric) attempt: the pair when there is one, its labels, and its verification outcome."""

    model_config = ConfigDict(extra="forbid")

    item_id: str
    rubric_id: str
    source: Source
    family: str
    status: Status
    reason: str = ""
    criteria: str
    instruction: str | None = None
    positive: str | None = None
    negative: str | None = None
    positive_spans: list[tuple[int, int]] = Field(default_factory=list)
    negative_spans: list[tuple[int, int]] = Field(default_factory=list)
    label_source: Literal["diff", "program"] = "diff"
    collateral: list[str] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list)
    positive_status: str = ""
    note: str = ""
    positive_source: Literal["template", "given", "policy", "llm"] = Field(
        "template", description="where the positive came from: a template, a given response, a policy sample, an LLM")
    edit: Literal["break", "repair"] = Field(
        "break", description="break: the positive was edited into the negative; repair: a failing response (the "
                             "negative) was edited into the positive")
    sample: int = Field(0, ge=0, description="which response of the item (several policy samples per prompt)")
    verification: Literal["rule", "judge", "unverified"] = Field(
        "rule", description="what checked the target verdicts; unverified pairs never enter val/test")

    @property
    def key(self) -> str:
        """The record's key inside its item shard (one per rubric and response)."""
        return self.rubric_id if self.sample == 0 else f"{self.rubric_id}@{self.sample}"

    @property
    def pair_id(self) -> str:
        if self.sample == 0:
            return stable_id(self.item_id, self.rubric_id, self.source)
        return stable_id(self.item_id, self.rubric_id, self.source, self.sample)

    @property
    def usable(self) -> bool:
        return self.status in ("accepted", "flagged") and self.positive is not None and self.negative is not None


# ----------------------------------------------------------------------------------------------- shards


class ShardStore(DurableShards):
    """The build's shards of :class:`PairRecord` (see :class:`discriminator.data.shards.DurableShards`)."""

    record_type = PairRecord


# ----------------------------------------------------------------------------------------------- programmatic


def _records_from_pair(item: RubricItem, rubric, source: Source, positive: str, negative: str, *, policy: str,
                       ops: list | None, config: BuildConfig, note: str = "", positive_status: str = "") -> PairRecord:
    check = verify_pair(item, rubric, positive, negative)
    if ops is not None:
        pos_spans, neg_spans = spans_from_opcodes(positive, negative, ops, config.spans)
        label_source = "program"
    else:
        d = diff_spans(positive, negative, config.spans)
        pos_spans, neg_spans, label_source = d.positive_spans, d.negative_spans, "diff"
    base = dict(item_id=item.id, rubric_id=rubric.id, source=source, family=family_key(rubric), criteria=rubric.text,
                instruction=item.instruction, positive=positive, negative=negative, positive_spans=pos_spans,
                negative_spans=neg_spans, label_source=label_source, collateral=check.collateral,
                unverified=check.unverified, note=note, positive_status=positive_status)
    if not check.target_ok:
        why = "positive does not satisfy the target" if check.target_pos is not True else "target still satisfied"
        return PairRecord(**base, status="rejected", reason=why)
    if not pos_spans or not neg_spans:
        return PairRecord(**base, status="rejected", reason="no changed characters")
    if check.collateral:
        if policy == "reject":
            return PairRecord(**base, status="rejected", reason=f"{len(check.collateral)} other rubric(s) flipped")
        return PairRecord(**base, status="flagged", reason="collateral flips")
    return PairRecord(**base, status="accepted")


def programmatic_item(item: RubricItem, config: BuildConfig, *, positive: str | None = None,
                      skip: set[str] = frozenset(), responses: Sequence[str] | None = None,
                      positive_source: str = "given", judge: Any = None) -> list[PairRecord]:
    """Pairs of one item. Real responses (``responses``, or one given ``positive``) are broken where they pass a
    rule and repaired where they fail it (:func:`discriminator.data.positives.response_records`); without any, a
    template positive + one programmatic negative per rule rubric (``positive_source="template"``)."""
    if responses is None and positive is not None:
        responses = [positive]
    if responses:
        from discriminator.data.positives import response_records

        real = response_records(item, responses, positive_source, config, skip=skip, judge=judge)  # type: ignore[arg-type]
        if skip or any(r.usable for r in real):  # (a resumed item already made its choice)
            return real
        # no usable pair from the real responses: a template fallback (positive_source "template"), own keys
        fallback = programmatic_item(item, config)
        return real + [r.model_copy(update={"sample": len(responses)}) for r in fallback]
    unverified: list[str] = []
    if positive is None:
        composed = compose_positive(item)
        positive, unverified = composed.text, composed.unverified
        reason = composed.reason
    else:
        reason = ""
    out = []
    for rubric in item.rubrics:
        if rubric.id in skip:
            continue
        fam = family_key(rubric)
        common = dict(item_id=item.id, rubric_id=rubric.id, source="program", family=fam, criteria=rubric.text,
                      instruction=item.instruction)
        if not rubric.is_rule:
            out.append(PairRecord(**common, status="unsupported", reason="LLM-judged rubric (use --mode llm)"))
            continue
        if positive is None:
            out.append(PairRecord(**common, status="unsupported", reason=f"no template positive: {reason}"))
            continue
        edit = make_negative(item, rubric, positive)
        if edit.negative is None:
            out.append(PairRecord(**common, status="unsupported", positive=positive, reason=edit.reason))
            continue
        ops = edit.patch.opcodes(positive) if edit.patch is not None else None
        rec = _records_from_pair(item, rubric, "program", positive, edit.negative, policy=config.policy, ops=ops,
                                 config=config, note=edit.patch.note if edit.patch else "")
        rec.unverified = sorted(set(rec.unverified) | set(unverified))
        out.append(rec)
    return out


# ----------------------------------------------------------------------------------------------- LLM


async def llm_item(item: RubricItem, config: BuildConfig, client: Any, *, judge: Any = None,
                   positive: str | None = None, skip: set[str] = frozenset(), stats: Any = None,
                   on_record: Callable[[PairRecord], None] | None = None) -> list[PairRecord]:
    """LLM positive (or the given one, trusted) + one LLM minimal-modification negative per rubric.

    ``on_record`` is called as soon as each record is known (the build appends it to the item's shard, so an
    interrupted run keeps every finished pair)."""
    from discriminator.data.llm_generation import (
        GenerationStats,
        PositiveResult,
        generate_negative,
        generate_positive,
    )

    stats = stats if stats is not None else GenerationStats()
    todo = [r for r in item.rubrics if r.id not in skip]
    if not todo:
        return []
    if positive is None:
        pos = await generate_positive(client, item, judge=judge, attempts=config.positive_attempts, stats=stats)
    else:
        pos = PositiveResult(text=positive, status="verified")
    emit = on_record or (lambda rec: None)

    source = "llm" if positive is None else "given"

    def common(r):
        return dict(item_id=item.id, rubric_id=r.id, source="llm", family=family_key(r), criteria=r.text,
                    instruction=item.instruction, positive_status=pos.status, positive_source=source)

    usable = pos.text is not None and (pos.status == "verified" or (pos.status == "unverified" and config.policy == "flag"))
    if not usable:
        out = [PairRecord(**common(r), status="unsupported", positive=pos.text,
                          reason=f"positive {pos.status}: {pos.reason or ', '.join(pos.undecided)}") for r in todo]
        for rec in out:
            emit(rec)
        return out
    text = pos.text
    assert text is not None

    async def one(r) -> PairRecord:
        res = await generate_negative(client, item, r, text, judge=judge, policy=config.policy,
                                      repairs=config.llm_repairs, stats=stats)
        if res.negative is None or res.status == "rejected":
            rec = PairRecord(**common(r), status="rejected", reason=res.reason, positive=text, negative=res.negative,
                             collateral=res.collateral)
        else:
            d = diff_spans(text, res.negative, config.spans)
            ok = bool(d.positive_spans and d.negative_spans)
            rec = PairRecord(**common(r), status=res.status if ok else "rejected",
                             reason=res.reason if ok else "no changed characters", positive=text,
                             negative=res.negative, positive_spans=d.positive_spans, negative_spans=d.negative_spans,
                             label_source="diff", collateral=res.collateral, unverified=res.undecided)
        emit(rec)
        return rec

    return list(await asyncio.gather(*(one(r) for r in todo)))


# ----------------------------------------------------------------------------------------------- rows, splits


def assign_splits(item_ids: Iterable[str], seed: int, fractions: tuple[float, float, float]) -> dict[str, str]:
    """Exact-proportion split: items ordered by their seeded hash, cut at the fractions."""
    ids = sorted(set(item_ids), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    n = len(ids)
    n_train = round(n * fractions[0])
    n_val = round(n * fractions[1]) if n - n_train > 0 else 0
    out = {}
    for k, i in enumerate(ids):
        out[i] = "train" if k < n_train else ("val" if k < n_train + n_val else "test")
    return out


def rows_from_records(records: Iterable[PairRecord], splits: dict[str, str]) -> list[SpanRow]:
    """Two rows per usable pair: the positive (+1, what satisfied the rubric) and the negative (-1, what broke it)."""
    rows = []
    for rec in records:
        if not rec.usable:
            continue
        split = splits.get(rec.item_id)
        if rec.verification == "unverified" and split in ("val", "test"):
            continue  # unverified pairs train but never score (a split-less row would be re-split downstream)
        meta = {"source": rec.source, "status": rec.status, "edit": rec.edit, "sample": rec.sample}
        if rec.collateral:
            meta["collateral"] = rec.collateral
        if rec.unverified:
            meta["unverified"] = rec.unverified
        for polarity, text, spans, verdict in (("positive", rec.positive, rec.positive_spans, 1),
                                               ("negative", rec.negative, rec.negative_spans, -1)):
            rows.append(SpanRow(
                id=f"{rec.pair_id}:{polarity[:3]}", item_id=rec.item_id, rubric_id=rec.rubric_id, pair_id=rec.pair_id,
                criteria=rec.criteria, response=text, instruction=rec.instruction, char_spans=spans,
                label_source=rec.label_source, polarity=polarity, verdict=verdict, family=rec.family,
                split=split,
                positive_source=rec.positive_source, verification=rec.verification, meta=meta,  # type: ignore[arg-type]
            ))
    return rows


def paper_record(row: SpanRow, tokenizer: Any = None) -> dict[str, Any]:
    """The RTT paper's discriminator row: ``criteria``, ``response`` and per-character (or per-token) 0/1 labels."""
    rec: dict[str, Any] = {"criteria": row.criteria, "response": row.response}
    if tokenizer is None:
        rec["char_labels"] = spans_to_char_labels(row.char_spans, len(row.response))
        return rec
    enc = tokenizer(row.response, add_special_tokens=False, return_offsets_mapping=True)
    labels = spans_to_char_labels(row.char_spans, len(row.response))
    rec["token_ids"] = list(enc["input_ids"])
    rec["token_labels"] = [int(any(labels[s:e])) if e > s else 0 for s, e in enc["offset_mapping"]]
    return rec


# ----------------------------------------------------------------------------------------------- report


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


# ----------------------------------------------------------------------------------------------- driver


ProgressFn = Callable[[str, int, int], None]


def consolidate(out_dir: str | os.PathLike, config: BuildConfig, *, tokenizer: Any = None,
                items: Sequence[RubricItem] | None = None, store: ShardStore | None = None) -> BuildReport:
    """Read every shard and (re)write ``spans.parquet``, the optional paper JSONL and the report, atomically."""
    out = Path(out_dir)
    store = store or ShardStore(out)
    records = store.all_records()
    if items is not None:  # restrict to the requested items (a shared out dir may hold more)
        wanted = {it.id for it in items}
        records = [r for r in records if r.item_id in wanted]
    fractions = (1.0 - config.val_frac - config.test_frac, config.val_frac, config.test_frac)
    splits = assign_splits((r.item_id for r in records if r.usable), config.seed, fractions)
    rows = rows_from_records(records, splits)
    files = {"spans": str(out / "spans.parquet")}
    write_rows(out / "spans.parquet", rows)
    if config.paper_jsonl:
        for split in ("train", "val", "test"):
            path = out / "paper" / f"{split}.jsonl"
            write_jsonl(path, (paper_record(r, tokenizer) for r in rows if r.split == split))
            files[f"paper_{split}"] = str(path)
    report = make_report(records, rows, config, out)
    report.files = files
    with atomic_open(out / "report.json") as fh:
        fh.write(report.model_dump_json(indent=2))
    with atomic_open(out / "report.md") as fh:
        fh.write(report.to_markdown())
    return report


def build_dataset(items: Sequence[RubricItem], out_dir: str | os.PathLike, config: BuildConfig | None = None, *,
                  llm_config: Any = None, judge_config: Any = None,
                  positives: dict[str, str] | dict[str, list[str]] | None = None, positive_source: str = "given",
                  progress: ProgressFn | None = None, tokenizer: Any = None, repair: bool = False) -> BuildReport:
    """Build (or resume) the dataset for ``items`` into ``out_dir`` and consolidate it.

    ``positives`` maps item ids to real responses (``positive_source``: ``given`` responses or ``policy``
    samples); items without one get a template positive (counted in the report). Items whose LLM calls failed are
    not marked done (``report.failed_items``); a corrupt shard line raises :class:`ShardError` unless ``repair``
    (then its item is redone)."""
    config = config or BuildConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    store = ShardStore(out, repair=repair)
    positives = positives or {}
    skipped = 0
    llm_stats = None
    if "program" in config.sources:
        todo = [it for it in items if not store.is_done("program", it.id)]
        skipped += len(items) - len(todo)
        from discriminator.data.pool import programmatic_records

        recorded = {it.id: store.recorded("program", it.id) for it in todo}
        jobs = [(it, positives.get(it.id), frozenset(recorded[it.id])) for it in todo]
        judge = _content_judge(judge_config) if judge_config is not None and positives else None
        try:
            for k, (item, new) in enumerate(programmatic_records(jobs, config, positive_source=positive_source,
                                                                 judge=judge), start=1):
                store.append_many(new)
                store.mark_done("program", item.id, len(recorded[item.id]) + len(new))
                if progress:
                    progress("program", k, len(todo))
        finally:
            if judge is not None:
                judge.client.close()
    if "llm" in config.sources:
        if llm_config is None:
            raise ValueError("mode 'llm'/'both' needs an LLM endpoint (llm_config: base URL and model)")
        todo = [it for it in items if not store.is_done("llm", it.id)]
        skipped += len(items) - len(todo)
        llm_stats = asyncio.run(_run_llm(store, todo, config, llm_config, judge_config, positives, progress))
    report = consolidate(out, config, tokenizer=tokenizer, items=items, store=store)
    report.items_skipped = skipped
    report.repaired = store.repaired
    if llm_stats is not None:
        report.failed_items = llm_stats.pop("failed_items", 0)
        report.failures = llm_stats.pop("failures", [])
        report.llm = llm_stats
    with atomic_open(out / "report.json") as fh:
        fh.write(report.model_dump_json(indent=2))
    return report


def run_item_sync(store: ShardStore, item: RubricItem, config: BuildConfig, *, positive: str | None = None) -> list[PairRecord]:
    """Programmatic records of one item, skipping rubrics already recorded; marks the item done."""
    recorded = store.recorded("program", item.id)
    new = programmatic_item(item, config, positive=positive, skip=set(recorded))
    store.append_many(new)
    store.mark_done("program", item.id, len(recorded) + len(new))
    return [*recorded.values(), *new]


def _content_judge(judge_config: Any) -> Any:
    from rubrics.judge import LLMJudge
    from rubrics.llm import LLMClient

    return LLMJudge(LLMClient(judge_config))


def call_failed(rec: PairRecord) -> bool:
    """A record that only says an LLM request failed (connection, HTTP error): never stored, never done."""
    return rec.positive_status == "error" or rec.reason.startswith(("request_error", "request failed"))


def write_item_records(store: ShardStore, source: str, item_id: str, records: Sequence[PairRecord]) -> bool:
    """Append computed records (e.g. returned by a cached flow task) and mark the item done, unless some LLM call
    of the item failed: then only the good records are kept and the item stays to do (returns False)."""
    recorded = store.recorded(source, item_id)
    failed = [r for r in records if call_failed(r)]
    store.append_many([r for r in records if r.key not in recorded and not call_failed(r)])
    if failed:
        return False
    store.mark_done(source, item_id, len(set(recorded) | {r.key for r in records}))
    return True


async def _run_llm(store: ShardStore, items: Sequence[RubricItem], config: BuildConfig, llm_config: Any,
                   judge_config: Any, positives: dict[str, str], progress: ProgressFn | None) -> dict[str, Any]:
    from discriminator.data.llm_generation import GenerationStats
    from rubrics.llm import LLMClient

    client = LLMClient(llm_config)
    judge = None
    if judge_config is not None:
        from rubrics.judge import LLMJudge

        judge = LLMJudge(LLMClient(judge_config))
    stats = GenerationStats()
    done = 0
    # items run concurrently; the client's semaphore bounds the requests in flight
    sem = asyncio.Semaphore(max(1, llm_config.max_concurrency))

    failures: list[str] = []

    def keep(rec: PairRecord) -> None:
        if not call_failed(rec):  # a failed request is not a result: the rerun asks again
            store.append(rec)

    async def one(item: RubricItem) -> None:
        nonlocal done
        async with sem:
            recorded = store.recorded("llm", item.id)
            # a resumed item keeps the positive its finished pairs were made from
            earlier = next((r.positive for r in recorded.values() if r.positive), None)
            given = positives.get(item.id)
            given = given[0] if isinstance(given, list) else given
            records = await llm_item(item, config, client, judge=judge, positive=earlier or given,
                                     skip=set(recorded), stats=stats, on_record=keep)
            failed = [r for r in records if call_failed(r)]
            if failed:
                failures.append(f"{item.id}: {failed[0].reason}")
            else:
                store.mark_done("llm", item.id, len(recorded) + len(records))
        done += 1
        if progress:
            progress("llm", done, len(items))

    try:
        await asyncio.gather(*(one(it) for it in items))
    finally:
        await client.aclose()
        if judge is not None:
            await judge.client.aclose()
    out = stats.model_dump()
    out["rejected"] = dict(stats.rejected)
    out["client"] = client.stats.model_dump()
    out["failed_items"] = len(failures)
    out["failures"] = failures[:20]
    return out


def group_by_family(records: Iterable[PairRecord]) -> dict[str, list[PairRecord]]:
    out: dict[str, list[PairRecord]] = defaultdict(list)
    for r in records:
        out[r.family].append(r)
    return out
