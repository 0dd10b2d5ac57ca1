"""LLM judge: one YES/NO question per (response, criterion), with an on-disk verdict cache.

The prompt template is versioned (:data:`TEMPLATES`); the cache key holds the judge model and endpoint, the
answer-changing settings (max tokens, temperature, JSON verdict), the template version, the item and rubric ids,
a hash of the instruction + criterion text and the sha256 of the response, so changing any of them asks again.
Only decided (YES/NO) verdicts are cached; failed calls and unparseable answers are asked again. A pitfall
rubric (``weight < 0``) is asked exactly like any other: the verdict says whether the *criterion text* holds;
the sign is applied downstream.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from rubrics.cache import DiskCache, cache_key, sha256_text
from rubrics.llm import LLMClient, parse_json_loose
from rubrics.schema import Rubric, RubricItem

logger = logging.getLogger(__name__)


class JudgeTemplate(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    user: str  # format fields: {instruction}, {response}, {criterion}


TEMPLATES: dict[str, JudgeTemplate] = {
    "v1": JudgeTemplate(
        system=(
            "You are a strict and impartial grader. You decide whether a response satisfies one criterion. "
            "Judge only that criterion. Reply with exactly one word: YES or NO."
        ),
        user=(
            "Instruction:\n{instruction}\n\n"
            "Response:\n{response}\n\n"
            "Criterion:\n{criterion}\n\n"
            "Does the response satisfy the criterion? Answer YES or NO."
        ),
    ),
}

VERDICT_SCHEMA: dict[str, Any] = {
    "title": "verdict",
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["YES", "NO"]}},
    "required": ["verdict"],
}


class JudgeRequest(BaseModel):
    """Judge ``response`` (to ``item``'s instruction) against one of its rubrics."""

    item: RubricItem
    rubric: Rubric
    response: str


FailureKind = Literal["connection", "http_error", "parse_failure"]


class JudgeVerdict(BaseModel):
    """``satisfied`` is None when the call failed or the answer could not be parsed; ``failure`` says which:
    ``connection`` (refused, reset, timed out), ``http_error`` (an error status from the server) or
    ``parse_failure`` (an answer without a YES/NO verdict)."""

    satisfied: bool | None
    raw: str | None
    cached: bool = False
    error: str | None = None
    failure: FailureKind | None = None


class JudgeStats(BaseModel):
    calls: int = 0
    cache_hits: int = 0
    parse_failures: int = 0
    errors: int = 0
    connection_errors: int = 0
    http_errors: int = 0


def failure_kind(exc: BaseException) -> FailureKind:
    """Classify a failed judge call: the server was unreachable, answered with an error status, or sent
    something that is not a completion."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a dependency of rubrics.llm
        openai = None  # type: ignore[assignment]
    if openai is not None:
        if isinstance(exc, openai.APIConnectionError):  # also APITimeoutError
            return "connection"
        if isinstance(exc, openai.APIStatusError):
            return "http_error"
    if isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return "connection"
    return "parse_failure"


def render_instruction(item: RubricItem) -> str:
    """The instruction as the judge sees it: the prompt, or the conversation when there are several turns."""
    chat = item.chat()
    if len(chat) == 1:
        return chat[0]["content"]
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in chat)


def judge_messages(req: JudgeRequest, template: JudgeTemplate) -> list[dict[str, str]]:
    user = template.user.format(
        instruction=render_instruction(req.item), response=req.response, criterion=req.rubric.text
    )
    return [{"role": "system", "content": template.system}, {"role": "user", "content": user}]


# ----- parsing -----

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.S | re.I)
_MARKUP = re.compile(r"[*_`#>]+")
_LABELLED = re.compile(
    r"\b(?:final\s+answer|final\s+verdict|answer|verdict|judg(?:e)?ment|decision|result|satisfied)\b"
    r"(?:\s*(?:is\b|:|=|-))+\s*[\"'(\[]*\s*(yes|no|true|false)\b",
    re.I,
)
_LEADING = re.compile(r"^\W*(yes|no)\b", re.I)
_WORD = re.compile(r"\b(yes|no)\b", re.I)
_JSON_KEYS = ("verdict", "answer", "satisfied", "result", "judgement", "judgment", "decision", "label")


def _word_to_bool(word: str) -> bool | None:
    word = word.strip().strip(".!\"' ").lower()
    if word in ("yes", "true", "y", "satisfied"):
        return True
    if word in ("no", "false", "n", "not satisfied", "unsatisfied"):
        return False
    return None


def parse_yes_no(text: str | None) -> bool | None:
    """Read a YES/NO verdict from free text: ``"YES"``, ``"**Yes**"``, ``"Answer: no."``,
    ``"<think>...</think> YES"``, ``{"verdict": "yes"}``. None when absent or ambiguous."""
    if not text or not text.strip():
        return None
    text = _THINK_BLOCK.sub(" ", text)
    if re.search(r"<think>", text, re.I):  # an unfinished reasoning block holds no answer
        return None
    if "{" in text:
        try:
            obj = parse_json_loose(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            lowered = {str(k).lower(): v for k, v in obj.items()}
            for key in _JSON_KEYS:
                if key in lowered:
                    val = lowered[key]
                    return val if isinstance(val, bool) else _word_to_bool(str(val))
    clean = _MARKUP.sub(" ", text).strip()
    labelled = _LABELLED.findall(clean)
    if labelled:
        return _word_to_bool(labelled[-1])
    if re.match(r"^\W*(yes|no)\s*(or|/)\s*(yes|no)\b", clean, re.I):
        return None
    lead = _LEADING.match(clean)
    if lead:
        return _word_to_bool(lead.group(1))
    lines = [ln.strip() for ln in clean.splitlines() if ln.strip()]
    if lines:
        last = re.fullmatch(r"\W*(yes|no)\W*", lines[-1], re.I)
        if last:
            return _word_to_bool(last.group(1))
    words = {w.lower() for w in _WORD.findall(clean)}
    return _word_to_bool(words.pop()) if len(words) == 1 else None


# ----- the judge -----


class LLMJudge:
    """Ask an OpenAI-compatible model YES/NO per criterion; cache verdicts on disk when ``cache_dir`` is set."""

    def __init__(
        self,
        client: LLMClient,
        *,
        cache_dir: Path | str | None = None,
        template_version: str = "v1",
        template: JudgeTemplate | None = None,
        json_verdict: bool = False,
        max_tokens: int | None = None,
        refresh: bool = False,
    ):
        if template is None:
            if template_version not in TEMPLATES:
                raise ValueError(f"unknown judge template version {template_version!r}; known: {sorted(TEMPLATES)}")
            template = TEMPLATES[template_version]
        self.client = client
        self.template = template
        self.template_version = template_version
        self.json_verdict = json_verdict
        self.max_tokens = max_tokens
        self.refresh = refresh
        self.cache = DiskCache(cache_dir, "judge_verdicts") if cache_dir is not None else None
        self.stats = JudgeStats()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LLMJudge({self.client!r}, template_version={self.template_version!r}, cache={self.cache!r})"

    def key(self, req: JudgeRequest) -> str:
        """Cache key: judge model and endpoint, the settings that change the answer (max tokens, JSON verdict),
        template version (+ text), item id, rubric id, content and response hashes."""
        return cache_key(
            "judge-v2",
            self.client.config.model,
            str(self.client.config.base_url).rstrip("/"),
            self.max_tokens,
            getattr(self.client.config, "temperature", None),
            self.template_version,
            sha256_text(self.template.model_dump_json())[:16],
            req.item.id,
            req.rubric.id,
            sha256_text(json.dumps([render_instruction(req.item), req.rubric.text]))[:16],
            sha256_text(req.response),
            self.json_verdict,
        )

    def _bump(self, **delta: int) -> None:
        with self._lock:
            for k, v in delta.items():
                setattr(self.stats, k, getattr(self.stats, k) + v)

    def _verdict(self, raw: str, cached: bool) -> JudgeVerdict:
        satisfied = parse_yes_no(raw)
        if satisfied is None:
            self._bump(parse_failures=1)
            logger.debug("unparseable judge answer: %r", raw[:200])
            return JudgeVerdict(satisfied=None, raw=raw, cached=cached, failure="parse_failure")
        return JudgeVerdict(satisfied=satisfied, raw=raw, cached=cached)

    async def ajudge(
        self, requests: Sequence[JudgeRequest], *, progress: Callable[[int, int], None] | None = None
    ) -> list[JudgeVerdict]:
        """Verdicts in request order. Cached answers are re-parsed (no HTTP); identical requests are asked once.
        Only decided verdicts are cached: a failed call (``error`` and ``failure`` set) or an unparseable answer
        is asked again next time. ``refresh=True`` on the judge ignores cached entries (and overwrites them)."""
        keys = [self.key(r) for r in requests]
        found = self.cache.get_many(keys) if self.cache is not None and not self.refresh else {}
        out: list[JudgeVerdict | None] = [None] * len(requests)
        todo: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            if isinstance(found.get(k, {}).get("raw"), str) and parse_yes_no(found[k]["raw"]) is not None:
                out[i] = self._verdict(found[k]["raw"], cached=True)
                self._bump(cache_hits=1)
            else:
                todo.setdefault(k, []).append(i)

        total, done = len(todo), 0
        overrides: dict[str, Any] = {} if self.max_tokens is None else {"max_tokens": self.max_tokens}
        schema = VERDICT_SCHEMA if self.json_verdict else None

        async def ask(k: str, idx: list[int]) -> None:
            nonlocal done
            req = requests[idx[0]]
            self._bump(calls=1)
            try:
                raw = await self.client.chat(judge_messages(req, self.template), json_schema=schema, **overrides)
            except Exception as exc:  # noqa: BLE001 - reported in the verdict
                kind = failure_kind(exc)
                self._bump(errors=1, connection_errors=int(kind == "connection"), http_errors=int(kind == "http_error"))
                verdict = JudgeVerdict(
                    satisfied=None, raw=None, error=f"{type(exc).__name__}: {exc}"[:500], failure=kind
                )
            else:
                verdict = self._verdict(raw, cached=False)
                if self.cache is not None and verdict.satisfied is not None:
                    self.cache.put(
                        k,
                        {
                            "raw": raw,
                            "satisfied": verdict.satisfied,
                            "model": self.client.config.model,
                            "template_version": self.template_version,
                            "item_id": req.item.id,
                            "rubric_id": req.rubric.id,
                        },
                    )
            for n, i in enumerate(idx):
                out[i] = verdict if n == 0 else verdict.model_copy()
            if len(idx) > 1 and verdict.satisfied is None and verdict.error is None:
                self._bump(parse_failures=len(idx) - 1)
            done += 1
            if progress is not None:
                progress(done, total)

        await asyncio.gather(*(ask(k, idx) for k, idx in todo.items()))
        assert all(v is not None for v in out)
        return out  # type: ignore[return-value]

    def judge(
        self, requests: Sequence[JudgeRequest], *, progress: Callable[[int, int], None] | None = None
    ) -> list[JudgeVerdict]:
        """Synchronous :meth:`ajudge` (runs on the client's background loop, so it also works when called from
        inside a running event loop)."""
        return self.client.run_sync(self.ajudge(requests, progress=progress))

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
