"""Async client for any OpenAI-compatible chat endpoint (vLLM, llama.cpp, ``transformers serve``, OpenAI).

* bounded concurrency (an ``asyncio.Semaphore`` of ``max_concurrency`` around every HTTP attempt),
* an optional requests-per-minute limiter,
* retries with exponential back-off and full jitter (``tenacity``) on 408/409/429/5xx, time-outs and
  connection errors only; other 4xx fail at once,
* structured output: ``response_format={"type": "json_schema"}`` when a schema is given, falling back to
  ``json_object`` and then to a prompt-only instruction when the server rejects a mode (the rejection is
  remembered for the rest of the client's life and counted in :attr:`ClientStats.json_fallbacks`),
* the API key lives in a :class:`~pydantic.SecretStr` and is never logged or shown in a ``repr``.

The client keeps one ``AsyncOpenAI`` per event loop, so the same :class:`LLMClient` serves
``asyncio.run`` calls made one after another (e.g. from the sync wrapper of the judge).
"""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import json
import logging
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

logger = logging.getLogger(__name__)
T = TypeVar("T")

JsonMode = Literal["auto", "json_schema", "json_object", "off"]
_LEVELS: tuple[str, ...] = ("json_schema", "json_object", "off")  # strongest first
_RETRY_STATUS = {408, 409, 429}
_FORMAT_REJECT_STATUS = {400, 404, 415, 422, 501}  # what servers answer to an unsupported response_format


class LLMConfig(BaseModel):
    """Where and how to call an OpenAI-compatible chat completions endpoint (/v1/chat/completions)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    base_url: str = Field(min_length=1, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(min_length=1, description="Model name the endpoint serves.")
    api_key: SecretStr | None = Field(None, description="API key; empty: $OPENAI_API_KEY, else 'EMPTY'.")
    max_concurrency: int = Field(8, ge=1, description="Requests in flight at most (per process).")
    timeout_s: float = Field(120.0, gt=0, description="Time limit of one request, in seconds.")
    max_retries: int = Field(5, ge=0, description="Retries after the first attempt.")
    backoff_initial_s: float = Field(1.0, gt=0, description="First back-off in seconds (doubles, full jitter).")
    backoff_max_s: float = Field(60.0, gt=0, description="Longest back-off between retries, in seconds.")
    temperature: float = Field(0.0, ge=0, description="Sampling temperature (0: greedy).")
    max_tokens: int = Field(1024, ge=1, description="Longest answer, in tokens.")
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens", description="request field for max_tokens (newer OpenAI models want max_completion_tokens)"
    )
    requests_per_minute: float | None = Field(None, gt=0, description="Client-side rate limit; empty: none.")
    json_mode: JsonMode = Field(
        "auto",
        description="auto: json_schema, falling back to json_object then prompt-only; "
        "json_schema / json_object: that mode only; off: prompt-only",
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra JSON fields sent with every request (server-specific options)."
    )

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    def secret(self) -> str:
        """The API key to send (explicit, else ``$OPENAI_API_KEY``, else ``"EMPTY"`` for local servers)."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return os.environ.get("OPENAI_API_KEY") or "EMPTY"


class ClientStats(BaseModel):
    """Counters of one :class:`LLMClient` (HTTP attempts, not logical calls, for ``requests``)."""

    calls: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    json_fallbacks: int = 0
    max_in_flight: int = 0
    total_latency_s: float = 0.0


@dataclass
class _LoopState:
    """What must belong to one event loop: the HTTP client, the semaphore, the rate limiter's lock."""

    client: Any
    semaphore: asyncio.Semaphore
    rate_lock: asyncio.Lock
    next_slot: float = 0.0
    in_flight: int = 0


class _FormatRejected(Exception):
    """Internal: the server refused the ``response_format`` that was sent."""

    def __init__(self, level: str, error: Exception):
        super().__init__(f"{level} rejected: {error}")
        self.level, self.error = level, error


def is_retryable(exc: BaseException) -> bool:
    """408/409/429/5xx, time-outs and connection errors are transient; any other error is not."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
    return False


def backoff_s(
    attempt: int,
    config: LLMConfig,
    exc: BaseException | None = None,
    rand: Callable[[float, float], float] = random.uniform,
) -> float:
    """Sleep before retry number ``attempt`` (1-based): full jitter over ``initial * 2**(attempt-1)`` capped at
    ``backoff_max_s``; a server's ``Retry-After`` is honoured (still capped)."""
    cap = min(config.backoff_max_s, config.backoff_initial_s * 2 ** (attempt - 1))
    delay = rand(0.0, cap)
    after = _retry_after_s(exc) if exc is not None else None
    return min(config.backoff_max_s, max(delay, after)) if after is not None else delay


def _retry_after_s(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    """Async chat client with bounded concurrency, retries and JSON-mode fallback (see module doc)."""

    def __init__(self, config: LLMConfig):
        self.config = config
        self.stats = ClientStats()
        self._stats_lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._json_level = _LEVELS.index("json_schema" if config.json_mode == "auto" else config.json_mode)
        self._bg_loop: asyncio.AbstractEventLoop | None = None
        self._bg_thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LLMClient(base_url={self.config.base_url!r}, model={self.config.model!r})"

    @property
    def json_mode_in_use(self) -> str:
        """The strongest structured-output mode not (yet) rejected by the server."""
        return _LEVELS[self._json_level]

    # ----- per-loop resources -----

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            from openai import AsyncOpenAI

            cfg = self.config
            client = AsyncOpenAI(base_url=cfg.base_url, api_key=cfg.secret(), timeout=cfg.timeout_s, max_retries=0)
            state = _LoopState(client, asyncio.Semaphore(cfg.max_concurrency), asyncio.Lock())
            self._loops[loop] = state
        return state

    def run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this client's own event loop (a daemon thread, started on first use)
        and return its result. Works with or without a running loop in the calling thread, and reuses the
        HTTP connections between calls."""
        thread: threading.Thread | None
        with self._stats_lock:
            if self._bg_loop is None or self._bg_loop.is_closed():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="rtt-llm-loop", daemon=True)
                thread.start()
                self._bg_loop, self._bg_thread = loop, thread
            loop, thread = self._bg_loop, self._bg_thread
        if threading.current_thread() is thread:
            coro.close()
            raise RuntimeError("run_sync() called from the client's own loop; await the coroutine instead")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def close(self) -> None:
        """Stop the background loop of :meth:`run_sync` (closing its HTTP client)."""
        loop, self._bg_loop = self._bg_loop, None
        if loop is None or loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.aclose(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        if self._bg_thread is not None:
            self._bg_thread.join(30)
        loop.close()

    async def aclose(self) -> None:
        """Close the HTTP client bound to the running loop (call before the loop ends)."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state.client.close()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _bump(self, **delta: float) -> None:
        with self._stats_lock:
            for k, v in delta.items():
                setattr(self.stats, k, getattr(self.stats, k) + v)

    # ----- public API -----

    async def chat(self, messages: list[dict], *, json_schema: dict | None = None, **overrides: Any) -> str:
        """One chat completion; returns the assistant text. ``overrides`` go to the request
        (``temperature``, ``max_tokens``, ``model``, ``seed``, ``stop``, ``extra_body`` ...)."""
        self._bump(calls=1)
        try:
            if json_schema is None:
                return await self._with_retries(messages, None, None, overrides)
            return await self._chat_structured(messages, json_schema, overrides)
        except Exception:
            self._bump(failures=1)
            raise

    async def chat_many(
        self,
        batch: Sequence[list[dict]],
        *,
        json_schema: dict | None = None,
        progress: Callable[[int, int], None] | None = None,
        **overrides: Any,
    ) -> list[str | Exception]:
        """Run many chats concurrently (bounded by ``max_concurrency``); results keep the input order and
        failures are returned as the exception instead of being raised. ``progress(done, total)`` is called
        after each completion."""
        total, done = len(batch), 0

        async def one(messages: list[dict]) -> str | Exception:
            nonlocal done
            try:
                return await self.chat(messages, json_schema=json_schema, **overrides)
            except Exception as exc:  # noqa: BLE001 - returned to the caller by design
                return exc
            finally:
                done += 1
                if progress is not None:
                    progress(done, total)

        return list(await asyncio.gather(*(one(m) for m in batch)))

    # ----- structured output -----

    async def _chat_structured(self, messages: list[dict], schema: dict, overrides: dict) -> str:
        # The schema is always restated in the prompt: some servers accept response_format and ignore it.
        sent = with_json_instruction(messages, schema)
        idx = self._json_level
        while True:
            level = _LEVELS[idx]
            try:
                text = await self._with_retries(sent, level, schema, overrides)
            except _FormatRejected as rej:  # never raised for "off", so idx stays in range
                if self.config.json_mode != "auto":
                    raise rej.error from None
                self._bump(json_fallbacks=1)
                logger.warning(
                    "server rejected response_format %s (%s); falling back to %s",
                    level,
                    _describe(rej.error),
                    _LEVELS[idx + 1],
                )
                idx += 1
                continue
            if idx > self._json_level:  # remembered only once a weaker mode worked
                self._json_level = idx
            return text

    # ----- HTTP with retries -----

    async def _with_retries(self, messages: list[dict], level: str | None, schema: dict | None, overrides: dict) -> str:
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

        cfg = self.config

        def wait(rs) -> float:
            return backoff_s(rs.attempt_number, cfg, rs.outcome.exception() if rs.outcome else None)

        def before_sleep(rs) -> None:
            self._bump(retries=1)
            exc = rs.outcome.exception()
            logger.warning(
                "LLM request failed (%s, attempt %d/%d); retrying in %.2fs",
                _describe(exc),
                rs.attempt_number,
                cfg.max_retries + 1,
                rs.next_action.sleep,
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.max_retries + 1),
            wait=wait,
            retry=retry_if_exception(is_retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(messages, level, schema, overrides)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, messages: list[dict], level: str | None, schema: dict | None, overrides: dict) -> str:
        import openai

        state = self._state()
        cfg = self.config
        overrides = dict(overrides)
        extra_body = {**cfg.extra_body, **(overrides.pop("extra_body", None) or {})}
        kwargs: dict[str, Any] = {
            "model": overrides.pop("model", cfg.model),
            "messages": messages,
            "temperature": overrides.pop("temperature", cfg.temperature),
            cfg.max_tokens_param: overrides.pop("max_tokens", cfg.max_tokens),
        }
        known = _create_params()
        for k, v in overrides.items():  # server-specific options (top_k, min_p, ...) travel in the body
            (kwargs.__setitem__(k, v) if k in known else extra_body.__setitem__(k, v))
        if level == "json_schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": _schema_format(schema or {})}
        elif level == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        if extra_body:
            kwargs["extra_body"] = extra_body

        await self._throttle(state)
        async with state.semaphore:
            state.in_flight += 1
            with self._stats_lock:
                self.stats.requests += 1
                self.stats.max_in_flight = max(self.stats.max_in_flight, state.in_flight)
            t0 = time.perf_counter()
            try:
                resp = await state.client.chat.completions.create(**kwargs)
            except openai.APIStatusError as exc:
                if level in ("json_schema", "json_object") and exc.status_code in _FORMAT_REJECT_STATUS:
                    raise _FormatRejected(level, exc) from exc
                raise
            finally:
                state.in_flight -= 1
                self._bump(total_latency_s=time.perf_counter() - t0)
        if not resp.choices:
            raise ValueError(f"{cfg.base_url}: response without choices")
        return resp.choices[0].message.content or ""

    async def _throttle(self, state: _LoopState) -> None:
        rpm = self.config.requests_per_minute
        if not rpm:
            return
        interval = 60.0 / rpm
        async with state.rate_lock:
            now = time.monotonic()
            slot = max(now, state.next_slot)
            state.next_slot = slot + interval
        if slot > now:
            await asyncio.sleep(slot - now)


@functools.cache
def _create_params() -> frozenset[str]:
    """Keyword arguments that ``chat.completions.create`` of the installed ``openai`` accepts."""
    from openai.resources.chat.completions import AsyncCompletions

    return frozenset(inspect.signature(AsyncCompletions.create).parameters) - {"self"}


def _describe(exc: BaseException | None) -> str:
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


def _schema_format(schema: dict) -> dict:
    """Accept either a bare JSON schema or OpenAI's ``{"name", "schema", "strict"}`` wrapper."""
    if "schema" in schema and "name" in schema:
        return schema
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title", "response")))[:64] or "response"
    return {"name": name, "schema": schema}


def with_json_instruction(messages: list[dict], schema: dict) -> list[dict]:
    """Append an instruction to answer with JSON that follows ``schema`` (prompt-only structured output)."""
    note = (
        "Respond with a single JSON object only, no prose and no code fences. "
        f"It must follow this JSON schema: {json.dumps(_schema_format(schema)['schema'], ensure_ascii=False)}"
    )
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m.get("role") == "user" and isinstance(m.get("content"), str):
            m["content"] = f"{m['content']}\n\n{note}"
            return out
    return [*out, {"role": "user", "content": note}]


# ----- tolerant JSON extraction -----

_FENCE = re.compile(r"```(?:json|JSON|javascript|js)?\s*\n?(.*?)```", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)


def parse_json_loose(text: str) -> Any:
    """Extract the JSON value a model meant: handles ``<think>`` blocks, code fences, prose around the
    object, trailing commas, single quotes and Python literals (``True``/``None``). Raises ``ValueError``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty model output: no JSON found")
    text = _THINK.sub("", text).strip()
    candidates = [m.group(1).strip() for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        for chunk in [cand, *_balanced_chunks(cand)]:
            for attempt in (chunk, _repair(chunk)):
                try:
                    return json.loads(attempt)
                except (json.JSONDecodeError, ValueError):
                    pass
            try:
                value = ast.literal_eval(chunk)
                if isinstance(value, (dict, list)):
                    return json.loads(json.dumps(value))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
    snippet = text[:80].replace("\n", " ")
    raise ValueError(f"no JSON object found in model output: {snippet!r}")


def _balanced_chunks(text: str) -> list[str]:
    """Substrings that start at ``{``/``[`` and end at the matching bracket (quotes respected)."""
    out: list[str] = []
    i = 0
    while i < len(text) and len(out) < 8:
        if text[i] not in "{[":
            i += 1
            continue
        depth, quote, j = 0, None, i
        while j < len(text):
            c = text[j]
            if quote:
                if c == "\\":
                    j += 1
                elif c == quote:
                    quote = None
            elif c in "\"'":
                quote = c
            elif c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    out.append(text[i : j + 1])
                    break
            j += 1
        i += 1 if j >= len(text) else (j + 1)
    return out


def _repair(text: str) -> str:
    """Rewrite near-JSON into JSON: single-quoted strings, trailing commas, Python literals."""
    out: list[str] = []
    i, n = 0, len(text)
    words = {"True": "true", "False": "false", "None": "null"}
    while i < n:
        c = text[i]
        if c in "\"'":
            quote, j, buf = c, i + 1, []
            while j < n and text[j] != quote:
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    buf.append(nxt if nxt == "'" else "\\" + nxt)
                    j += 2
                    continue
                buf.append('\\"' if text[j] == '"' else text[j])
                j += 1
            out.append('"' + "".join(buf) + '"')
            i = j + 1
        elif c == ",":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] in "}]":
                i += 1  # trailing comma
                continue
            out.append(c)
            i += 1
        elif c.isalpha():
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            out.append(words.get(word, word))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)
