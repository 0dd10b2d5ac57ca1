"""rubrics.llm: the OpenAI-compatible client against a real `transformers serve` and a scripted fake."""

from __future__ import annotations

import asyncio
import logging
import time

import openai
import pytest

from rubrics.llm import LLMClient, LLMConfig, backoff_s, is_retryable, parse_json_loose
from tests.helpers.llm_server import Reply

USER = [{"role": "user", "content": "Say hi."}]


def fast_config(base_url: str, **kw) -> LLMConfig:
    return LLMConfig(**{"base_url": base_url, "model": "m", "backoff_initial_s": 0.01, "backoff_max_s": 0.05, **kw})


def run(coro_fn):
    """Run an async body and close the client's loop-bound HTTP client at the end."""
    return asyncio.run(coro_fn())


# ----- against the real server -----


def test_real_server_chat_and_concurrent_batch(openai_server):
    client = LLMClient(openai_server.llm_config(max_concurrency=8))

    async def body():
        one = await client.chat(USER)
        batch = [[{"role": "user", "content": f"Question {i}: is the sky blue?"}] for i in range(16)]
        seen: list[tuple[int, int]] = []
        t0 = time.perf_counter()
        many = await client.chat_many(batch, progress=lambda d, t: seen.append((d, t)))
        rate = len(batch) / (time.perf_counter() - t0)
        sampled = await client.chat(USER, temperature=1.0, max_tokens=24, seed=3)
        await client.aclose()
        return one, many, seen, rate, sampled

    one, many, seen, rate, sampled = run(body)
    assert isinstance(one, str)
    assert all(isinstance(r, str) for r in many), many
    assert seen[-1] == (16, 16) and len(seen) == 16
    assert client.stats.requests == 18 and client.stats.failures == 0 and client.stats.retries == 0
    assert 1 < client.stats.max_in_flight <= 8  # the semaphore let several requests overlap, never more than 8
    assert isinstance(sampled, str) and sampled  # sampling from the random model gives (garbage) text
    print(f"transformers serve (tiny model): {rate:.1f} req/s at concurrency 8, startup {openai_server.startup_s:.1f}s")


def test_real_server_json_schema_request_is_accepted(openai_server):
    # transformers serve accepts response_format (and ignores it): no fallback, the schema is also in the prompt.
    client = LLMClient(openai_server.llm_config())
    schema = {"title": "answer", "type": "object", "properties": {"ok": {"type": "boolean"}}}
    text = asyncio.run(client.chat(USER, json_schema=schema))
    assert isinstance(text, str)
    assert client.stats.json_fallbacks == 0 and client.json_mode_in_use == "json_schema"
    with pytest.raises(ValueError):
        parse_json_loose(text)  # the random model does not write JSON


def test_real_server_client_error_is_not_retried(openai_server):
    # the server is pinned to its model: another model name is a 400, which must fail at once
    client = LLMClient(openai_server.llm_config(max_retries=4))
    with pytest.raises(openai.BadRequestError):
        asyncio.run(client.chat(USER, model="some/other-model"))
    assert client.stats.requests == 1 and client.stats.retries == 0 and client.stats.failures == 1


# ----- retries, back-off, time-outs (scripted fake) -----


def test_retries_on_429_and_5xx_then_succeeds(scripted_openai):
    fake = scripted_openai([Reply(429), Reply(500), Reply(503), Reply(200, "done")])
    client = LLMClient(fast_config(fake.base_url, max_retries=5))
    assert asyncio.run(client.chat(USER)) == "done"
    assert fake.count == 4
    assert client.stats.requests == 4 and client.stats.retries == 3 and client.stats.failures == 0


@pytest.mark.parametrize("status", [408, 409, 502])
def test_other_retryable_statuses(scripted_openai, status):
    fake = scripted_openai([Reply(status), Reply(200, "ok")])
    client = LLMClient(fast_config(fake.base_url))
    assert asyncio.run(client.chat(USER)) == "ok" and fake.count == 2


def test_gives_up_after_max_retries(scripted_openai):
    fake = scripted_openai(default=Reply(500))
    client = LLMClient(fast_config(fake.base_url, max_retries=2))
    with pytest.raises(openai.InternalServerError):
        asyncio.run(client.chat(USER))
    assert fake.count == 3 and client.stats.retries == 2 and client.stats.failures == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_fail_immediately(scripted_openai, status):
    fake = scripted_openai(default=Reply(status))
    client = LLMClient(fast_config(fake.base_url, max_retries=5))
    with pytest.raises(openai.APIStatusError) as err:
        asyncio.run(client.chat(USER))
    assert err.value.status_code == status and fake.count == 1 and client.stats.retries == 0


def test_timeout_is_retried(scripted_openai):
    fake = scripted_openai([Reply(200, "late", delay_s=1.5), Reply(200, "on time")])
    client = LLMClient(fast_config(fake.base_url, timeout_s=0.4))
    assert asyncio.run(client.chat(USER)) == "on time"
    assert fake.count == 2 and client.stats.retries == 1


def test_connection_error_is_retried_then_raised():
    from tests.helpers.llm_server import free_port

    client = LLMClient(fast_config(f"http://127.0.0.1:{free_port()}/v1", max_retries=2))
    with pytest.raises(openai.APIConnectionError):
        asyncio.run(client.chat(USER))
    assert client.stats.requests == 3 and client.stats.retries == 2


def test_retry_after_header_is_honoured(scripted_openai):
    fake = scripted_openai([Reply(429, headers={"Retry-After": "0.5"}), Reply(200, "ok")])
    client = LLMClient(fast_config(fake.base_url, backoff_max_s=5))
    t0 = time.perf_counter()
    assert asyncio.run(client.chat(USER)) == "ok"
    assert time.perf_counter() - t0 >= 0.5


def test_backoff_is_exponential_with_jitter_and_capped():
    cfg = LLMConfig(base_url="http://x/v1", model="m", backoff_initial_s=0.5, backoff_max_s=3.0)
    upper = [backoff_s(a, cfg, rand=lambda lo, hi: hi) for a in range(1, 7)]
    assert upper == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert backoff_s(3, cfg, rand=lambda lo, hi: lo) == 0.0  # full jitter: anywhere in [0, cap]
    draws = {round(backoff_s(4, cfg), 6) for _ in range(50)}
    assert len(draws) > 10 and all(0 <= d <= 3.0 for d in draws)


def test_is_retryable_classification():
    assert not is_retryable(ValueError("x"))
    assert not is_retryable(KeyError("x"))


# ----- concurrency and rate limit -----


def test_concurrency_bound_is_respected_and_order_kept(scripted_openai):
    fake = scripted_openai(responder=lambda body, n: Reply(200, "echo:" + body["messages"][-1]["content"], 0.15))
    client = LLMClient(fast_config(fake.base_url, max_concurrency=3))
    batch = [[{"role": "user", "content": str(i)}] for i in range(12)]
    out = asyncio.run(client.chat_many(batch))
    assert out == [f"echo:{i}" for i in range(12)]
    assert fake.max_in_flight == 3 and client.stats.max_in_flight == 3


def test_chat_many_returns_failures_instead_of_raising(scripted_openai):
    def responder(body, n):
        return Reply(400) if body["messages"][-1]["content"] == "bad" else Reply(200, "fine")

    fake = scripted_openai(responder=responder)
    client = LLMClient(fast_config(fake.base_url))
    batch = [[{"role": "user", "content": c}] for c in ("a", "bad", "b")]
    out = asyncio.run(client.chat_many(batch))
    assert out[0] == "fine" and out[2] == "fine"
    assert isinstance(out[1], openai.BadRequestError)
    assert client.stats.failures == 1


def test_requests_per_minute_limiter(scripted_openai):
    fake = scripted_openai()
    client = LLMClient(fast_config(fake.base_url, requests_per_minute=600))  # one start every 0.1 s
    t0 = time.perf_counter()
    asyncio.run(client.chat_many([USER] * 5))
    assert time.perf_counter() - t0 >= 0.4 and fake.count == 5


def test_one_client_serves_several_event_loops(scripted_openai):
    fake = scripted_openai()
    client = LLMClient(fast_config(fake.base_url))
    for _ in range(3):
        assert asyncio.run(client.chat(USER)) == "YES"
    assert fake.count == 3


def test_run_sync_reuses_one_background_loop_and_closes(scripted_openai):
    fake = scripted_openai()
    client = LLMClient(fast_config(fake.base_url))
    assert client.run_sync(client.chat(USER)) == "YES"
    thread = client._bg_thread
    assert client.run_sync(client.chat(USER)) == "YES" and client._bg_thread is thread and thread.is_alive()

    async def inside_a_loop():
        return client.run_sync(client.chat(USER))  # a caller that already runs an event loop

    assert asyncio.run(inside_a_loop()) == "YES"
    client.close()
    assert not thread.is_alive()
    assert client.run_sync(client.chat(USER)) == "YES" and fake.count == 4  # restarts on demand
    client.close()


# ----- request shape and structured output -----


def test_overrides_and_extra_body_reach_the_server(scripted_openai):
    fake = scripted_openai()
    client = LLMClient(fast_config(fake.base_url, extra_body={"top_k": 5}, temperature=0.3, max_tokens=7))
    asyncio.run(client.chat(USER))
    asyncio.run(
        client.chat(
            USER, temperature=0.9, max_tokens=3, seed=11, extra_body={"min_p": 0.1}, top_p=0.5, repetition_penalty=1.1
        )
    )
    newer = LLMClient(fast_config(fake.base_url, max_tokens=9, max_tokens_param="max_completion_tokens"))
    asyncio.run(newer.chat(USER))
    first, second, third = fake.bodies
    assert first["temperature"] == 0.3 and first["max_tokens"] == 7 and first["top_k"] == 5
    assert "response_format" not in first
    assert second["temperature"] == 0.9 and second["max_tokens"] == 3 and second["seed"] == 11
    assert second["top_k"] == 5 and second["min_p"] == 0.1 and second["top_p"] == 0.5
    assert second["repetition_penalty"] == 1.1  # not an OpenAI field: sent in the body all the same
    assert third["max_completion_tokens"] == 9 and "max_tokens" not in third


def _format_rejecting(accept: set[str]):
    def responder(body, n):
        rf = (body.get("response_format") or {}).get("type", "none")
        return Reply(200, '{"ok": true}') if rf in accept else Reply(400 if rf == "json_schema" else 422)

    return responder


def test_json_mode_falls_back_and_remembers(scripted_openai):
    fake = scripted_openai(responder=_format_rejecting({"none"}))
    client = LLMClient(fast_config(fake.base_url))
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}

    async def body():
        first = await client.chat(USER, json_schema=schema)
        rest = await client.chat_many([USER] * 4, json_schema=schema)
        return first, rest

    first, rest = run(body)
    assert parse_json_loose(first) == {"ok": True} and all(parse_json_loose(r) == {"ok": True} for r in rest)
    kinds = [(b.get("response_format") or {}).get("type") for b in fake.bodies]
    assert kinds == ["json_schema", "json_object", None, None, None, None, None]
    assert client.stats.json_fallbacks == 2 and client.json_mode_in_use == "off"
    assert "JSON schema" in fake.bodies[-1]["messages"][-1]["content"]  # prompt-only mode states the schema


def test_json_mode_stops_at_json_object_when_supported(scripted_openai):
    fake = scripted_openai(responder=_format_rejecting({"json_object", "none"}))
    client = LLMClient(fast_config(fake.base_url))
    asyncio.run(client.chat(USER, json_schema={"type": "object"}))
    asyncio.run(client.chat(USER, json_schema={"type": "object"}))
    kinds = [(b.get("response_format") or {}).get("type") for b in fake.bodies]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert client.json_mode_in_use == "json_object" and client.stats.json_fallbacks == 1
    sent = fake.bodies[0]["response_format"]["json_schema"]
    assert sent["name"] == "response" and sent["schema"] == {"type": "object"}


def test_explicit_json_mode_does_not_fall_back(scripted_openai):
    fake = scripted_openai(responder=_format_rejecting({"none"}))
    client = LLMClient(fast_config(fake.base_url, json_mode="json_schema"))
    with pytest.raises(openai.BadRequestError):
        asyncio.run(client.chat(USER, json_schema={"type": "object"}))
    off = LLMClient(fast_config(fake.base_url, json_mode="off"))
    asyncio.run(off.chat(USER, json_schema={"type": "object"}))
    assert "response_format" not in fake.bodies[-1]
    assert "JSON schema" in fake.bodies[-1]["messages"][-1]["content"]  # prompt-only structured output
    assert off.stats.json_fallbacks == 0


# ----- secrets -----


def test_api_key_never_shown_in_repr_or_logs(scripted_openai, caplog):
    secret = "sk-test-Zq8Xv2SECRETvalue"
    fake = scripted_openai([Reply(429), Reply(200, "ok"), Reply(401)])
    cfg = fast_config(fake.base_url, api_key=secret)
    client = LLMClient(cfg)
    with caplog.at_level(logging.DEBUG):
        assert asyncio.run(client.chat(USER)) == "ok"
        with pytest.raises(openai.AuthenticationError) as err:
            asyncio.run(client.chat(USER))
    assert fake.headers[0]["authorization"] == f"Bearer {secret}"  # it is sent ...
    shown = [
        repr(cfg),
        str(cfg),
        cfg.model_dump_json(),
        repr(cfg.model_dump()),
        repr(client),
        str(client),
        repr(client.stats),
        caplog.text,
        str(err.value),
        repr(err.value),
    ]
    assert caplog.text  # debug logging of openai/httpx did run
    for text in shown:  # ... and never shown
        assert secret not in text


def test_api_key_fallbacks(scripted_openai, monkeypatch):
    fake = scripted_openai()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    asyncio.run(LLMClient(fast_config(fake.base_url)).chat(USER))
    monkeypatch.delenv("OPENAI_API_KEY")
    asyncio.run(LLMClient(fast_config(fake.base_url)).chat(USER))
    assert [h["authorization"] for h in fake.headers] == ["Bearer sk-from-env", "Bearer EMPTY"]


def test_config_validation():
    with pytest.raises(ValueError):
        LLMConfig(base_url="http://x/v1", model="m", max_concurrency=0)
    with pytest.raises(ValueError):
        LLMConfig(base_url="http://x/v1", model="m", json_mode="xml")
    with pytest.raises(ValueError):
        LLMConfig(base_url="http://x/v1", model="m", unknown_field=1)
    assert LLMConfig(base_url="http://x/v1/", model="m").base_url == "http://x/v1"


# ----- tolerant JSON -----


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}', {"a": 1}),
        ('Here you go:\n```json\n{"a": [1, 2]}\n```\nDone.', {"a": [1, 2]}),
        ("Sure! The result is {'a': 'x y', 'b': True, 'c': None} as asked", {"a": "x y", "b": True, "c": None}),
        ("{'type': 'all relevant'}", {"type": "all relevant"}),
        ('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
        ('<think>maybe {bad</think>\n{"verdict": "yes"}', {"verdict": "yes"}),
        ('prefix [{"x": "a}b"}, {"y": 2}] suffix', [{"x": "a}b"}, {"y": 2}]),
        ("{'quote': 'he said \"hi\"', 'n': 2,}", {"quote": 'he said "hi"', "n": 2}),
        (
            '{"type": "partial relevant", "relevant texts": ["a, b", "c"]}',
            {"type": "partial relevant", "relevant texts": ["a, b", "c"]},
        ),
    ],
)
def test_parse_json_loose(text, expected):
    assert parse_json_loose(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "no json here", "{unclosed", "YES"])
def test_parse_json_loose_raises(text):
    with pytest.raises(ValueError):
        parse_json_loose(text)
