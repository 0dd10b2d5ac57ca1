"""rubrics.judge + rubrics.cache: YES/NO parsing, verdict cache, end-to-end against real servers."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from rubrics.cache import DiskCache
from rubrics.judge import TEMPLATES, JudgeRequest, LLMJudge, judge_messages, parse_yes_no
from rubrics.llm import LLMClient, LLMConfig
from rubrics.schema import Rubric, RubricItem
from tests.helpers.llm_server import Reply

ITEM = RubricItem(
    id="poem-1",
    prompt="Write a two-line poem about the sea. Do not use any commas.",
    rubrics=[
        Rubric(id="r-commas", text="The response contains no commas."),
        Rubric(id="r-sea", text="The poem is about the sea."),
        Rubric(id="r-pitfall", text="The response is longer than two lines.", weight=-1.0),
    ],
)
RESPONSES = ["The sea is wide and blue\nIts waves roll in anew", "Mountains, rivers, and trees,\nall green."]


def requests_for(responses=RESPONSES) -> list[JudgeRequest]:
    return [JudgeRequest(item=ITEM, rubric=r, response=resp) for resp in responses for r in ITEM.rubrics]


def fake_config(url: str, **kw) -> LLMConfig:
    return LLMConfig(**{"base_url": url, "model": "judge-m", "backoff_initial_s": 0.01, "max_retries": 1, **kw})


# ----- parsing -----


@pytest.mark.parametrize(
    "text, expected",
    [
        ("YES", True),
        ("NO", False),
        ("yes.", True),
        ("No", False),
        ("**Yes**", True),
        ("__NO__", False),
        ("Answer: no.", False),
        ("Answer: YES", True),
        ("The answer is no", False),
        ("Verdict - yes", True),
        ("Final answer: **YES**", True),
        ("<think>it has commas, so no? wait yes</think>\nYES", True),
        ("<think>\nhmm\n</think>\n\nNO", False),
        ('{"verdict": "yes"}', True),
        ('```json\n{"verdict": "NO"}\n```', False),
        ("{'satisfied': true}", True),
        ('{"answer": false}', False),
        ("No, the response uses commas.", False),
        ("Yes, every line is about the sea.", True),
        ("The response avoids commas.\nYES", True),
        ("I think the answer is: Yes", True),
        # ambiguous or absent
        ("", None),
        ("   ", None),
        (None, None),
        ("maybe", None),
        ("yes or no", None),
        ("Nobody knows", None),
        ("<think>unfinished reasoning, yes", None),
        ("It has no commas but I'd say yes", None),
        ('{"foo": "bar"}', None),
        ("Yesterday was sunny", None),
    ],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) is expected


# ----- prompt -----


def test_prompt_holds_instruction_criterion_and_response_and_ignores_the_sign():
    req_pos, req_pit = JudgeRequest(item=ITEM, rubric=ITEM.rubrics[0], response="R"), requests_for(["R"])[2]
    msgs = judge_messages(req_pos, TEMPLATES["v1"])
    assert msgs[0]["role"] == "system" and "YES or NO" in msgs[0]["content"]
    user = msgs[1]["content"]
    assert ITEM.prompt in user and "The response contains no commas." in user and "\nR\n" in user
    pit = judge_messages(req_pit, TEMPLATES["v1"])[1]["content"]
    assert pit == user.replace("The response contains no commas.", "The response is longer than two lines.")
    with pytest.raises(ValueError, match="unknown judge template"):
        LLMJudge(LLMClient(fake_config("http://127.0.0.1:9/v1")), template_version="v999")


def test_multi_turn_items_show_the_conversation():
    turns = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Now a haiku"},
    ]
    item = RubricItem(id="mt", messages=turns, rubrics=[Rubric(id="a", text="c")])
    user = judge_messages(JudgeRequest(item=item, rubric=item.rubrics[0], response="x"), TEMPLATES["v1"])[1]["content"]
    assert "[user]\nHi" in user and "[assistant]\nHello" in user and "Now a haiku" in user


# ----- against the real servers -----


def test_judge_end_to_end_tiny_server_counts_parse_failures_and_caches(openai_server, tmp_path):
    reqs = requests_for()
    client = LLMClient(openai_server.llm_config(max_tokens=8))
    judge = LLMJudge(client, cache_dir=tmp_path / "cache")
    first = judge.judge(reqs)
    assert len(first) == len(reqs) and all(v.error is None and v.raw is not None and not v.cached for v in first)
    unparsed = sum(v.satisfied is None for v in first)
    assert judge.stats.calls == len(reqs) and judge.stats.parse_failures == unparsed
    assert unparsed > 0  # the random model cannot answer YES/NO: failures are counted, nothing crashes
    sent = client.stats.requests

    again = LLMJudge(client, cache_dir=tmp_path / "cache")  # a new judge (as after a restart), same cache folder
    second = again.judge(reqs)
    # only decided verdicts were cached: the unparsed ones are asked again, the decided ones are not
    assert client.stats.requests == sent + unparsed
    assert again.stats.cache_hits == len(reqs) - unparsed and again.stats.calls == unparsed
    for a, b in zip(first, second):
        if a.satisfied is not None:
            assert b.cached and b.raw == a.raw and b.satisfied == a.satisfied
        else:
            assert not b.cached


# ----- cache keys, errors, dedupe (scripted fake) -----


def test_cache_key_covers_model_template_response_and_rubric_text(scripted_openai, tmp_path):
    fake = scripted_openai(default=Reply(200, "YES"))
    client = LLMClient(fake_config(fake.base_url))
    base = JudgeRequest(item=ITEM, rubric=ITEM.rubrics[0], response="abc")
    judge = LLMJudge(client, cache_dir=tmp_path)
    assert judge.judge([base])[0].satisfied is True and fake.count == 1
    assert judge.judge([base])[0].cached and fake.count == 1

    edited = ITEM.model_copy(update={"rubrics": [Rubric(id="r-commas", text="At most one comma.")]})
    variants = [
        base.model_copy(update={"response": "abc "}),
        JudgeRequest(item=edited, rubric=edited.rubrics[0], response="abc"),
        JudgeRequest(item=ITEM, rubric=ITEM.rubrics[1], response="abc"),
    ]
    assert not any(v.cached for v in judge.judge(variants)) and fake.count == 4
    other_model = LLMJudge(LLMClient(fake_config(fake.base_url, model="judge-2")), cache_dir=tmp_path)
    assert not other_model.judge([base])[0].cached and fake.count == 5
    assert len(DiskCache(tmp_path, "judge_verdicts")) == 5


def test_failed_calls_are_reported_not_cached(scripted_openai, tmp_path):
    fake = scripted_openai([Reply(400), Reply(200, "NO")])
    judge = LLMJudge(LLMClient(fake_config(fake.base_url)), cache_dir=tmp_path)
    req = requests_for(["x"])[:1]
    [v] = judge.judge(req)
    assert v.satisfied is None and v.raw is None and "BadRequestError" in v.error and judge.stats.errors == 1
    assert judge.stats.parse_failures == 0
    [v] = judge.judge(req)  # asked again: errors are not cached
    assert v.satisfied is False and not v.cached and fake.count == 2


def test_identical_requests_are_asked_once(scripted_openai):
    fake = scripted_openai(default=Reply(200, "Answer: no"))
    judge = LLMJudge(LLMClient(fake_config(fake.base_url)))
    req = requests_for(["same"])[0]
    out = judge.judge([req, req, req])
    assert [v.satisfied for v in out] == [False, False, False] and fake.count == 1


def test_json_verdict_mode_falls_back(scripted_openai):
    def responder(body, n):
        if (body.get("response_format") or {}).get("type") == "json_schema":
            return Reply(400)
        return Reply(200, '```json\n{"verdict": "YES"}\n```')

    fake = scripted_openai(responder=responder)
    client = LLMClient(fake_config(fake.base_url))
    out = LLMJudge(client, json_verdict=True).judge(requests_for(["a"]))
    assert [v.satisfied for v in out] == [True, True, True]
    assert client.json_mode_in_use == "json_object" and client.stats.json_fallbacks >= 1


def test_sync_judge_works_inside_a_running_loop(scripted_openai):
    fake = scripted_openai(default=Reply(200, "YES"))
    judge = LLMJudge(LLMClient(fake_config(fake.base_url)))

    async def inside():
        return judge.judge(requests_for(["a"]))  # called from a coroutine: runs on a worker thread

    assert [v.satisfied for v in asyncio.run(inside())] == [True] * 3


def test_progress_callback(scripted_openai):
    fake = scripted_openai()
    seen: list[tuple[int, int]] = []
    LLMJudge(LLMClient(fake_config(fake.base_url))).judge(requests_for(), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6) and len(seen) == 6


# ----- the on-disk cache -----


def _write_many(args):
    path, worker, n = args
    with DiskCache(path, "judge_verdicts") as cache:
        for i in range(n):
            cache.put(f"{worker}-{i}", {"raw": f"v{worker}-{i}"})
        cache.put_many({f"{worker}-batch-{i}": {"raw": "b"} for i in range(n)})
    return n


def test_disk_cache_concurrent_processes_and_restart(tmp_path):
    with concurrent.futures.ProcessPoolExecutor(3) as pool:
        assert sum(pool.map(_write_many, [(tmp_path, w, 60) for w in range(3)])) == 180
    reopened = DiskCache(tmp_path, "judge_verdicts")
    assert len(reopened) == 360
    got = reopened.get_many([f"{w}-{i}" for w in range(3) for i in range(60)] + ["missing"])
    assert len(got) == 180 and got["2-59"] == {"raw": "v2-59"} and "missing" not in got
    assert reopened.get("missing") is None
    reopened.clear()
    assert len(reopened) == 0
    with pytest.raises(ValueError, match="identifier"):
        DiskCache(tmp_path, "bad name; DROP")


def test_corrupt_cache_file_is_named(tmp_path):
    (tmp_path / "cache.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match=r"cache\.sqlite: not a usable cache database"):
        DiskCache(tmp_path)
