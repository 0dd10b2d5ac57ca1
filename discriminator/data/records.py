"""What a discriminator-data build is configured with and what it records: :class:`BuildConfig`, one
:class:`PairRecord` per (item, rubric, response) attempt, and the durable :class:`ShardStore` that holds them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from discriminator.data.diff_labels import SpanOptions
from discriminator.data.shards import DurableShards
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


class ShardStore(DurableShards):
    """The build's shards of :class:`PairRecord` (see :class:`discriminator.data.shards.DurableShards`)."""

    record_type = PairRecord


def call_failed(rec: PairRecord) -> bool:
    """A record that only says an LLM request failed (connection, HTTP error): never stored, never done."""
    return rec.positive_status == "error" or rec.reason.startswith(("request_error", "request failed"))


def item_inputs(item: RubricItem, positives: Sequence[str] | str | None, positive_source: str) -> str:
    """Fingerprint of what an item's pair records are derived from: its content and its positives (given
    responses or policy samples). Resampling or editing either makes the item's shard stale."""
    given = [positives] if isinstance(positives, str) else list(positives or [])
    return stable_id(item.content_hash(), positive_source if given else "template", given)


def todo_items(store: ShardStore, source: str, items: Sequence[RubricItem],
               positives: Mapping[str, Sequence[str] | str], positive_source: str) -> list[RubricItem]:
    """The items of ``source`` still to build: not done, or done from other inputs (resampled positives, an edited
    item), whose stale records are discarded first (:meth:`DurableShards.claim`)."""
    for it in items:
        store.claim(source, it.id, item_inputs(it, positives.get(it.id), positive_source))
    return [it for it in items if not store.is_done(source, it.id)]


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


def group_by_family(records: Iterable[PairRecord]) -> dict[str, list[PairRecord]]:
    out: dict[str, list[PairRecord]] = defaultdict(list)
    for r in records:
        out[r.family].append(r)
    return out
