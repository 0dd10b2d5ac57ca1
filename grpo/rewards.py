"""Glue between rubric verdicts and RL rewards: the TRL reward function of RTT-GRPO.

:class:`RubricReward` is an ordinary (async) TRL reward function. For each completion it reads the row's
:class:`~rubrics.schema.RubricItem` (dataset column ``rubric_item``, JSON), asks
:func:`rubrics.verdicts.acompute_verdicts` for one verdict per rubric (rule checker first, LLM judge otherwise;
cached) and returns the response reward (``aon`` / ``csr`` / ``weighted`` / ``healthbench``). TRL then logs it like any
reward (``rewards/rtt_aon/mean`` ...) and the RTT trainer reuses the verdicts it keeps (:attr:`RubricReward.last`) for
the token-level term, so nothing is judged twice. It also works with a plain ``trl.GRPOTrainer``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from grpo.advantages import response_rewards
from rubrics.schema import RubricItem

logger = logging.getLogger(__name__)

RUBRIC_COLUMN = "rubric_item"
RewardKind = Literal["aon", "csr", "weighted", "healthbench"]
REWARD_KINDS = ("aon", "csr", "weighted", "healthbench")


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a list of chat messages (assistant contents joined)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = []
        for m in completion:
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant":
                c = m.get("content")
                parts.append(
                    c if isinstance(c, str) else "".join(x.get("text", "") for x in c or [] if isinstance(x, dict))
                )
        return "".join(parts)
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


def parse_item(value: Any, max_rubrics: int | None = None, *, row: int | None = None) -> RubricItem:
    """A :class:`RubricItem` from a dataset cell (JSON string, dict or model), keeping the first ``max_rubrics``."""
    try:
        if isinstance(value, RubricItem):
            item = value
        elif isinstance(value, str):
            item = RubricItem.model_validate_json(value)
        elif isinstance(value, dict):
            item = RubricItem.model_validate(value)
        else:
            raise TypeError(f"expected a RubricItem JSON string, got {type(value).__name__}")
    except (ValueError, TypeError) as exc:
        where = f"row {row}: " if row is not None else ""
        raise ValueError(f"{where}field {RUBRIC_COLUMN!r}: {exc}") from None
    if max_rubrics is not None and len(item.rubrics) > max_rubrics:
        item = item.model_copy(update={"rubrics": item.rubrics[:max_rubrics]})
    return item


def rubric_family(rubric) -> str:
    """``ifeval:length_constraints`` for a rule (family : id group), ``llm`` for a judged rubric."""
    v = rubric.verifier
    if getattr(v, "kind", None) == "rule":
        group = v.rule_id.split(":")[0] if ":" in v.rule_id else v.rule_id
        return f"{v.family}:{group}"
    return "llm"


@dataclass
class VerdictArrays:
    """Verdicts of one batch as arrays, with the *pass* sign: ``s = +1`` when the rubric is good for the response
    (a pitfall rubric, weight < 0, passes when its criterion is NOT met)."""

    s: np.ndarray  # (B, R) int8 ±1 on the slots the math uses (``use``), else 0
    rubric_mask: np.ndarray  # (B, R) bool: real rubric slot
    decided: np.ndarray  # (B, R) bool: a verdict was obtained (False: judge failure)
    use: np.ndarray  # (B, R) bool: slots fed to reward and token term
    weights: np.ndarray  # (B, R) float
    methods: list[list[str]]
    families: list[list[str]]

    def tensors(self, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(s, use mask, weights)`` as torch tensors."""
        return (
            torch.as_tensor(self.s, device=device),
            torch.as_tensor(self.use, device=device),
            torch.as_tensor(self.weights, dtype=torch.float32, device=device),
        )


def verdict_arrays(
    batch: Any, items: Sequence[RubricItem], *, undecided: Literal["fail", "skip"] = "fail"
) -> VerdictArrays:
    """Normalise a :class:`rubrics.verdicts.VerdictBatch` for the advantage math.

    ``undecided`` (the judge gave no parsable answer): ``fail`` counts the rubric as failed (conservative, the
    default: a response never earns AON through a judge error), ``skip`` leaves it out of reward and token term.
    """
    s = np.asarray(batch.s).astype(np.int8)
    b, r = s.shape
    mask = np.asarray(getattr(batch, "rubric_mask", s != 0)).astype(bool)
    decided = np.asarray(getattr(batch, "decided", mask)).astype(bool) & mask
    weights = getattr(batch, "weights", None)
    if weights is None:
        weights = np.zeros((b, r), dtype=np.float32)
        for i, it in enumerate(items):
            weights[i, : len(it.rubrics)] = [x.weight for x in it.rubrics]
    weights = np.asarray(weights, dtype=np.float32)
    raw_methods = getattr(batch, "method", None)
    methods = [[str(raw_methods[i][k]) if raw_methods is not None else "" for k in range(r)] for i in range(b)]
    families = [[rubric_family(x) for x in it.rubrics] + [""] * (r - len(it.rubrics)) for it in items]
    s = np.where(decided, s, 0).astype(np.int8)
    s = np.where(weights < 0, -s, s).astype(np.int8)  # VerdictBatch.s says "criterion holds"; pitfalls flip
    if undecided == "fail":
        s = np.where(mask & ~decided, -1, s).astype(np.int8)
        use = mask.copy()
    else:
        use = decided.copy()
    return VerdictArrays(s, mask, decided, use, weights, methods, families)


@dataclass
class RubricVerdicts:
    """What the last reward call saw: items, completion texts, verdict arrays and the seconds it took."""

    items: list[RubricItem]
    texts: list[str]
    arrays: VerdictArrays
    raw: Any
    seconds: float


class RubricReward:
    """TRL reward function (async): rubric verdicts -> AON / CSR / weighted reward per completion.

    Args:
        kind: ``aon`` (all rubrics passed), ``csr`` (fraction passed), ``weighted`` (|w|-weighted fraction) or
            ``healthbench`` (achieved / total positive points, clipped to [0, 1]; see :mod:`grpo.advantages`).
        judge: an :class:`rubrics.judge.LLMJudge` for rubrics without a rule checker (None: rules only).
        loose: IFEval-style loose rule checking.
        max_rubrics: use the first ``max_rubrics`` rubrics of each item (paper: 20).
        undecided: see :func:`verdict_arrays`.
        verdict_fn: override of ``rubrics.verdicts.acompute_verdicts`` (async, same signature).
    """

    def __init__(
        self,
        kind: RewardKind = "aon",
        *,
        judge: Any = None,
        loose: bool = False,
        max_rubrics: int = 20,
        undecided: Literal["fail", "skip"] = "fail",
        verdict_fn: Any = None,
    ):
        if kind not in REWARD_KINDS:
            raise ValueError(f"unknown reward kind {kind!r}; expected one of {list(REWARD_KINDS)}")
        self.kind, self.judge, self.loose, self.max_rubrics, self.undecided = kind, judge, loose, max_rubrics, undecided
        self.verdict_fn = verdict_fn
        self.__name__ = f"rtt_{kind}"
        self.last: RubricVerdicts | None = None
        self._warned = False

    async def verdicts(self, items: Sequence[RubricItem], texts: Sequence[str]) -> RubricVerdicts:
        fn = self.verdict_fn
        if fn is None:
            from rubrics.verdicts import acompute_verdicts as fn
        t0 = time.perf_counter()
        raw = await fn(list(zip(items, texts)), judge=self.judge, loose=self.loose)
        arrays = verdict_arrays(raw, items, undecided=self.undecided)
        methods = np.asarray(getattr(raw, "method", np.zeros((0,), dtype=str)))
        if not self._warned and (methods == "no_judge").any():
            self._warned = True
            logger.warning(
                "some rubrics need an LLM judge and none is configured: they count as %s (set judge_config)",
                "failed" if self.undecided == "fail" else "absent",
            )
        return RubricVerdicts(list(items), list(texts), arrays, raw, time.perf_counter() - t0)

    def rewards(self, v: RubricVerdicts) -> list[float | None]:
        s, mask, weights = v.arrays.tensors()
        r = response_rewards(s, mask, weights, self.kind)
        # a completion with no usable verdict is unscorable (TRL: None -> NaN -> advantage 0)
        return [float(x) if bool(mask[i].any()) else None for i, x in enumerate(r.tolist())]

    async def __call__(self, prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float | None]:
        if RUBRIC_COLUMN not in kwargs:
            raise KeyError(f"dataset needs a {RUBRIC_COLUMN!r} column (RubricItem JSON) for the rubric reward")
        items = [parse_item(x, self.max_rubrics, row=i) for i, x in enumerate(kwargs[RUBRIC_COLUMN])]
        texts = [completion_text(c) for c in completions]
        self.last = await self.verdicts(items, texts)
        return self.rewards(self.last)


def rows_from_items(items: Sequence[RubricItem], *, system_prompt: str | None = None) -> list[dict[str, Any]]:
    """TRL dataset rows: conversational ``prompt`` plus the ``rubric_item`` JSON column."""
    rows = []
    for it in items:
        chat = it.chat()
        if system_prompt and not any(m["role"] == "system" for m in chat):
            chat = [{"role": "system", "content": system_prompt}, *chat]
        rows.append({"prompt": chat, RUBRIC_COLUMN: it.model_dump_json(), "item_id": it.id})
    return rows
