"""Per-rubric verdicts ``s[b, k]`` for a batch of (item, response) pairs: rules first, then the LLM judge.

``s`` is ``+1`` when the rubric's criterion holds for the response and ``-1`` otherwise; for a pitfall rubric
(``weight < 0``) ``+1`` still means "the criterion text holds" — the sign is applied downstream through
``weights``. Every rubric gets a ``method``:

* ``rule``: decided by a checker from :mod:`rubrics.rules` (strict, or IFEval-loose with ``loose=True``);
* ``llm``: decided by the LLM judge (the same verdict in strict and loose mode);
* ``unsupported``: a rule whose family / id has no checker or whose kwargs cannot build one;
* ``no_judge``: an LLM rubric and no judge was given;
* ``parse_failure``: the judge's answer could not be parsed;
* ``connection``: the judge call failed to reach the server (refused, reset, timed out);
* ``http_error``: the judge server answered with an error status;
* ``""``: padding (``rubric_mask`` False).

**Undecided verdicts** (``unsupported``, ``no_judge``, ``parse_failure``, ``connection``, ``http_error``) are stored as
``-1`` in ``s`` so that reward code that ignores ``decided`` is conservative, and ``decided`` is False there: mask them
out (or count them as failures, as the accuracy report does) explicitly.

Checkers are built once per (rule, kwargs) and cached process-wide; each distinct (checker, response) pair
is evaluated once, and the eight loose variants of a response are computed once for all its rubrics.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rubrics import rules
from rubrics.rules.base import RuleArgumentError, UnsupportedRule, loose_variants
from rubrics.schema import RubricItem, RuleVerifier

Method = Literal["rule", "llm", "unsupported", "no_judge", "parse_failure", "connection", "http_error", ""]
METHODS: tuple[str, ...] = ("rule", "llm", "unsupported", "no_judge", "parse_failure", "connection", "http_error")
JUDGE_FAILURES: tuple[str, ...] = ("connection", "http_error", "parse_failure")
UNDECIDED: frozenset[str] = frozenset({"unsupported", "no_judge", *JUDGE_FAILURES})


@dataclass
class VerdictCounters:
    """What happened while judging a batch."""

    rule: int = 0
    llm: int = 0
    unsupported: int = 0
    no_judge: int = 0
    parse_failure: int = 0
    connection: int = 0
    http_error: int = 0
    llm_cached: int = 0
    judge_errors: int = 0
    rule_errors: int = 0
    checkers_built: int = 0
    rule_evaluations: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class VerdictBatch:
    """Verdicts of ``B`` responses on their (ragged) rubrics, padded to ``R_max``.

    ``s`` int8 ``(B, R)`` in {+1, -1} (0 in padding); ``rubric_mask``, ``decided`` bool ``(B, R)``; ``method``
    str ``(B, R)``; ``weights`` float32 ``(B, R)`` (0 in padding); ``rubric_ids`` ragged lists;
    ``notes[b][k]`` says why a verdict is undecided (else None).
    """

    s: np.ndarray
    rubric_mask: np.ndarray
    decided: np.ndarray
    method: np.ndarray
    weights: np.ndarray
    rubric_ids: list[list[str]]
    item_ids: list[str]
    loose: bool = False
    notes: list[list[str | None]] = field(default_factory=list)
    counters: VerdictCounters = field(default_factory=VerdictCounters)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.s.shape)

    @property
    def satisfied(self) -> np.ndarray:
        """Decided and ``+1`` (bool ``(B, R)``)."""
        return self.decided & (self.s > 0)

    @property
    def followed(self) -> np.ndarray:
        """Decided and in the rubric's good direction: satisfied for weight >= 0, not satisfied for pitfalls."""
        good = np.where(self.weights >= 0, self.s > 0, self.s < 0)
        return self.rubric_mask & self.decided & good

    def prompt_level(self) -> np.ndarray:
        """Per response: every rubric followed (undecided counts as not followed), bool ``(B,)``."""
        return (self.followed | ~self.rubric_mask).all(axis=1) & self.rubric_mask.any(axis=1)

    def row(self, b: int) -> list[dict[str, Any]]:
        n = len(self.rubric_ids[b])
        return [
            {
                "id": self.rubric_ids[b][k],
                "s": int(self.s[b, k]),
                "decided": bool(self.decided[b, k]),
                "method": str(self.method[b, k]),
                **({"note": self.notes[b][k]} if self.notes and self.notes[b][k] else {}),
            }
            for k in range(n)
        ]


class _Slot:
    __slots__ = ("b", "k", "item", "rubric", "response")

    def __init__(self, b: int, k: int, item: RubricItem, rubric: Any, response: str):
        self.b, self.k, self.item, self.rubric, self.response = b, k, item, rubric, response


def _empty(pairs: Sequence[tuple[RubricItem, str]], loose: bool) -> VerdictBatch:
    B = len(pairs)
    R = max((len(it.rubrics) for it, _ in pairs), default=0)
    batch = VerdictBatch(
        s=np.zeros((B, R), dtype=np.int8),
        rubric_mask=np.zeros((B, R), dtype=bool),
        decided=np.zeros((B, R), dtype=bool),
        method=np.full((B, R), "", dtype="<U16"),
        weights=np.zeros((B, R), dtype=np.float32),
        rubric_ids=[[r.id for r in it.rubrics] for it, _ in pairs],
        item_ids=[it.id for it, _ in pairs],
        loose=loose,
        notes=[[None] * len(it.rubrics) for it, _ in pairs],
    )
    for b, (it, _) in enumerate(pairs):
        n = len(it.rubrics)
        batch.rubric_mask[b, :n] = True
        batch.weights[b, :n] = [r.weight for r in it.rubrics]
        batch.s[b, :n] = -1
    return batch


def _rule_verdicts(
    slots: list[tuple[int, int, Any, str]], batches: dict[bool, VerdictBatch], prompts: list[str]
) -> None:
    """Group rule slots ``(b, k, rubric, response)`` by built checker, evaluate each (checker, response) once per
    mode, and write the verdicts into the arrays with one fancy-indexed assignment per mode."""
    from rubrics.rules.ifverifiable import CHECK_ERRORS

    errors_before = sum(CHECK_ERRORS.values())
    built_before = rules.cache_info().misses
    groups: dict[int, tuple[Any, list[tuple[int, int, str]]]] = {}
    looked_up: dict[tuple[int, str], Any] = {}  # one cache lookup per (verifier object, prompt) in the batch
    for b, k, rubric, response in slots:
        v: RuleVerifier = rubric.verifier
        key = (id(v), prompts[b])
        checker = looked_up.get(key)
        if checker is None:
            try:
                checker = looked_up[key] = rules.get_checker(v, prompts[b])
            except (UnsupportedRule, RuleArgumentError) as exc:
                checker = looked_up[key] = exc
        if isinstance(checker, Exception):
            for batch in batches.values():
                batch.method[b, k] = "unsupported"
                batch.notes[b][k] = str(checker)
                batch.counters.unsupported += 1
            continue
        groups.setdefault(id(checker), (checker, []))[1].append((b, k, response))

    variants: dict[int, list[str]] = {}
    for loose, batch in batches.items():
        bs: list[int] = []
        ks: list[int] = []
        vals: list[int] = []
        for checker, members in groups.values():
            memo: dict[int, int] = {}
            for b, k, response in members:
                val = memo.get(b)
                if val is None:
                    if loose and b not in variants:
                        variants[b] = loose_variants(response)
                    ok = rules.evaluate(checker, response, loose=loose, variants=variants.get(b) if loose else None)
                    val = memo[b] = 1 if ok else -1
                    batch.counters.rule_evaluations += 1
                bs.append(b)
                ks.append(k)
                vals.append(val)
        if bs:
            idx = (np.asarray(bs), np.asarray(ks))
            batch.s[idx] = np.asarray(vals, dtype=np.int8)
            batch.decided[idx] = True
            batch.method[idx] = "rule"
        batch.counters.rule += len(bs)
    for batch in batches.values():
        batch.counters.checkers_built += rules.cache_info().misses - built_before
        batch.counters.rule_errors += sum(CHECK_ERRORS.values()) - errors_before


async def _llm_verdicts(
    slots: list[_Slot], batches: dict[bool, VerdictBatch], judge: Any, progress: Callable[[int, int], None] | None
) -> None:
    if not slots:
        return
    if judge is None:
        for sl in slots:
            for batch in batches.values():
                batch.method[sl.b, sl.k] = "no_judge"
                batch.notes[sl.b][sl.k] = "LLM rubric and no judge configured"
                batch.counters.no_judge += 1
        return
    from rubrics.judge import JudgeRequest

    requests = [JudgeRequest(item=sl.item, rubric=sl.rubric, response=sl.response) for sl in slots]
    kwargs = {"progress": progress} if progress is not None else {}
    verdicts = await judge.ajudge(requests, **kwargs)
    if len(verdicts) != len(requests):
        raise RuntimeError(f"the judge returned {len(verdicts)} verdicts for {len(requests)} requests")
    for sl, verdict in zip(slots, verdicts):
        for batch in batches.values():
            if verdict.satisfied is None:
                err = getattr(verdict, "error", None)
                kind = getattr(verdict, "failure", None) or "parse_failure"
                batch.method[sl.b, sl.k] = kind
                batch.notes[sl.b][sl.k] = f"judge call failed: {err}" if err else "unparseable judge answer"
                setattr(batch.counters, kind, getattr(batch.counters, kind) + 1)
                batch.counters.judge_errors += bool(err)
                continue
            batch.s[sl.b, sl.k] = 1 if verdict.satisfied else -1
            batch.decided[sl.b, sl.k] = True
            batch.method[sl.b, sl.k] = "llm"
            batch.counters.llm += 1
            batch.counters.llm_cached += bool(getattr(verdict, "cached", False))


async def acompute_verdict_modes(
    pairs: Sequence[tuple[RubricItem, str]],
    *,
    judge: Any = None,
    modes: Sequence[bool] = (False, True),
    progress: Callable[[int, int], None] | None = None,
) -> dict[bool, VerdictBatch]:
    """Verdicts in several modes at once (``{False: strict, True: loose}``); the LLM judge is asked once."""
    batches = {bool(m): _empty(pairs, bool(m)) for m in modes}
    if not batches:
        raise ValueError("modes must not be empty")
    prompts = [it.instruction for it, _ in pairs]
    rule_slots: list[tuple[int, int, Any, str]] = []
    llm_slots: list[_Slot] = []
    for b, (item, response) in enumerate(pairs):
        if not isinstance(response, str):
            raise TypeError(f"pair {b} (item {item.id!r}): response must be a str, got {type(response).__name__}")
        for k, rubric in enumerate(item.rubrics):
            if isinstance(rubric.verifier, RuleVerifier):
                rule_slots.append((b, k, rubric, response))
            else:
                llm_slots.append(_Slot(b, k, item, rubric, response))
    _rule_verdicts(rule_slots, batches, prompts)
    await _llm_verdicts(llm_slots, batches, judge, progress)
    return batches


async def acompute_verdicts(
    pairs: Sequence[tuple[RubricItem, str]],
    *,
    judge: Any = None,
    loose: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> VerdictBatch:
    """Async :func:`compute_verdicts`."""
    return (await acompute_verdict_modes(pairs, judge=judge, modes=(loose,), progress=progress))[bool(loose)]


def run_sync(coro: Any) -> Any:
    """Run a coroutine from sync code, also when an event loop is already running (on a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rtt-verdicts") as pool:
        return pool.submit(asyncio.run, coro).result()


def compute_verdicts(
    pairs: Sequence[tuple[RubricItem, str]],
    *,
    judge: Any = None,
    loose: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> VerdictBatch:
    """Verdicts of each response on each rubric of its item (see the module docstring).

    ``judge``: an object with ``async ajudge(list[JudgeRequest]) -> list[JudgeVerdict]`` (an
    :class:`rubrics.judge.LLMJudge`); without one, LLM rubrics get method ``no_judge``.
    """
    return run_sync(acompute_verdicts(pairs, judge=judge, loose=loose, progress=progress))
