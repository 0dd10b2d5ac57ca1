"""The LLM path against a scripted OpenAI-compatible HTTP server on 127.0.0.1 (deterministic answers):
valid negatives are accepted and labelled, bad answers are repaired or rejected and counted, the greedy
baseline's quotes are matched back to spans."""

from __future__ import annotations

import asyncio
import json

import pytest

from discriminator.data.build import BuildConfig, build_discriminator_dataset, llm_item
from discriminator.data.compose import compose_positive
from discriminator.data.greedy import greedy_label, match_quotes, parse_greedy
from discriminator.data.llm_generation import (
    GenerationStats,
    extract_modified,
    generate_negative,
    generate_positive,
)
from discriminator.data.programmatic import make_negative
from discriminator.data.schema import read_rows
from rubrics.llm import LLMClient, LLMConfig
from rubrics.schema import Rubric, RubricItem, RuleVerifier


@pytest.fixture(scope="module")
def item() -> RubricItem:
    rules = [("punctuation:no_comma", {}), ("length_constraints:number_words", {"relation": "at least", "num_words": 25}),
             ("keywords:existence", {"keywords": ["harbor"]})]
    return RubricItem(id="demo:1", prompt="Describe a harbor at dawn.", rubrics=[
        Rubric(id=f"demo:1#{i}", text=f"rule {rid}", verifier=RuleVerifier(family="ifeval", rule_id=rid, kwargs=kw))
        for i, (rid, kw) in enumerate(rules)
    ])


@pytest.fixture(scope="module")
def positive(item) -> str:
    return compose_positive(item).text


def _config(server, **kw) -> LLMConfig:
    return LLMConfig(base_url=server.base_url, model="scripted", max_retries=0, timeout_s=10, **kw)


def _call(server, fn, *args, config: dict | None = None, **kwargs):
    async def main():
        client = LLMClient(_config(server, **(config or {})))
        try:
            return await fn(client, *args, **kwargs)
        finally:
            await client.aclose()

    return asyncio.run(main())


def _with_comma(text: str) -> str:
    i = text.index(" ", len(text) // 2)
    return text[:i] + "," + text[i:]


def test_valid_negative_is_accepted_and_labelled(scripted_openai, item, positive):
    from tests.helpers.llm_server import Reply

    server = scripted_openai(default=Reply(content=json.dumps({"modified_response": _with_comma(positive)})))
    stats = GenerationStats()
    res = _call(server, generate_negative, item, item.rubrics[0], positive, stats=stats)
    assert res.status == "accepted" and res.collateral == [] and stats.accepted == 1
    body = server.bodies[0]
    assert body["response_format"]["type"] == "json_schema"  # structured output requested
    assert "modified_response" in json.dumps(body["response_format"])
    recs = _call(server, lambda c, *a, **k: llm_item(item, BuildConfig(), c, positive=positive,
                                                   skip={"demo:1#1", "demo:1#2"}))
    (rec,) = recs
    assert rec.status == "accepted" and rec.label_source == "diff"
    assert [rec.negative[s:e] for s, e in rec.negative_spans] == [","]


def test_unusable_answer_gets_one_repair_turn(scripted_openai, item, positive):
    from tests.helpers.llm_server import Reply

    good = json.dumps({"modified_response": _with_comma(positive)})
    server = scripted_openai(script=[Reply(content="Sure! Here is the modified text, no JSON."), Reply(content=good)])
    stats = GenerationStats()
    res = _call(server, generate_negative, item, item.rubrics[0], positive, stats=stats)
    assert res.status == "accepted" and res.attempts == 2 and stats.repairs == 1 and server.count == 2
    repair_turn = server.bodies[1]["messages"][-1]["content"]
    assert "could not be used" in repair_turn and "no JSON object" in repair_turn


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("not json at all", "invalid_json"),
        (json.dumps({"text": "x"}), "missing_field"),
        ("SAME", "unchanged"),
        ("REWORDED", "target_not_violated"),
        ("BOTH", "collateral"),
    ],
)
def test_bad_negatives_are_rejected_and_counted(scripted_openai, item, positive, answer, reason):
    from tests.helpers.llm_server import Reply

    if answer == "SAME":
        answer = json.dumps({"modified_response": positive})
    elif answer == "REWORDED":  # still comma-free: the target rubric is not violated
        answer = json.dumps({"modified_response": positive.replace("harbor", "harbor today", 1)})
    elif answer == "BOTH":  # breaks the target and drops the keyword: a collateral flip
        answer = json.dumps({"modified_response": _with_comma(positive).replace("harbor", "port")})
    server = scripted_openai(default=Reply(content=answer))
    stats = GenerationStats()
    res = _call(server, generate_negative, item, item.rubrics[0], positive, stats=stats)
    assert res.status == "rejected" and stats.rejected[reason] == 1, (res, stats)
    if reason == "collateral":
        assert res.collateral == ["demo:1#2"]
        flagged = _call(server, generate_negative, item, item.rubrics[0], positive, policy="flag")
        assert flagged.status == "flagged" and flagged.negative


def test_extract_modified_tolerates_fences_and_names_the_problem():
    assert extract_modified('```json\n{"modified_response": "b"}\n```', "a") == "b"
    assert extract_modified("<think>hmm</think> {'modified_response': 'b',}", "a") == "b"
    with pytest.raises(ValueError, match="missing field"):
        extract_modified('{"response": "b"}', "a")
    with pytest.raises(ValueError, match="identical"):
        extract_modified('{"modified_response": "a"}', "a")


def test_positive_generation_is_verified(scripted_openai, item, positive):
    from tests.helpers.llm_server import Reply

    server = scripted_openai(script=[Reply(content="a short answer, with a comma"), Reply(content=positive)])
    stats = GenerationStats()
    res = _call(server, generate_positive, item, stats=stats)
    assert res.status == "verified" and res.text == positive
    assert stats.positives_failed == 1 and stats.positives_verified == 1
    assert server.bodies[1]["temperature"] > 0  # the retry samples


def _editor(item: RubricItem, positive: str):
    """A fake generator LLM: answers the positive prompt with ``positive`` and each negative prompt with the
    programmatic minimal edit of the target rubric named in the prompt."""
    from tests.helpers.llm_server import Reply

    def respond(body: dict, n: int) -> Reply:
        prompt = body["messages"][-1]["content"]
        if "# Target rubric" not in prompt:
            return Reply(content=positive)
        target = prompt.split("# Target rubric (must be violated)\n", 1)[1].split("\n", 1)[0]
        rubric = next(r for r in item.rubrics if r.text == target)
        negative = make_negative(item, rubric, positive).negative
        return Reply(content=json.dumps({"modified_response": negative}), delay_s=0.2)

    return respond


def test_llm_build_end_to_end_with_a_scripted_generator(scripted_openai, item, positive, tmp_path):
    server = scripted_openai(responder=_editor(item, positive))
    report = build_discriminator_dataset([item], tmp_path / "out", BuildConfig(mode="llm", paper_jsonl=True, val_frac=0, test_frac=0),
                           llm_config=_config(server, max_concurrency=4))
    assert report.pairs == 3 and report.rows == 6 and report.llm["accepted"] == 3
    assert server.count == 4 and server.max_in_flight >= 2  # the three negatives ran concurrently
    rows = read_rows(tmp_path / "out" / "spans.parquet")
    assert {r.label_source for r in rows} == {"diff"} and {r.polarity for r in rows} == {"positive", "negative"}
    assert all(r.char_spans for r in rows)
    paper = [json.loads(x) for x in (tmp_path / "out" / "paper" / "train.jsonl").read_text().splitlines()]
    assert len(paper) == 6 and all(len(p["char_labels"]) == len(p["response"]) for p in paper)
    # resumable: nothing is requested again
    again = build_discriminator_dataset([item], tmp_path / "out", BuildConfig(mode="llm", val_frac=0, test_frac=0),
                          llm_config=_config(server))
    assert server.count == 4 and again.items_skipped == 1 and again.pairs == 3


def test_greedy_answers_become_spans(scripted_openai):
    from tests.helpers.llm_server import Reply

    response = "The harbor was calm.  Boats   rested at the pier, and gulls circled."
    quotes = ["harbor was calm", "Boats rested at the pier", "gulls circeld", "a sentence that is not there"]
    server = scripted_openai(script=[
        Reply(content=json.dumps({"type": "partial relevant", "relevant texts": quotes})),
        Reply(content='{"type": "all relevant"}'),
        Reply(content="no idea"), Reply(content='{"type": "maybe"}'),
    ])
    res = _call(server, greedy_label, "Mentions the harbor.", response)
    assert [response[s:e] for s, e in res.spans] == ["harbor was calm", "Boats   rested at the pier", "gulls circled"]
    assert res.matched == {"exact": 1, "whitespace": 1, "fuzzy": 1} and res.unmatched == quotes[3:]
    assert _call(server, greedy_label, "c", response).spans == [(0, len(response))]
    bad = _call(server, greedy_label, "c", response)
    assert bad.error and "unknown answer type" in bad.error and bad.spans == []


def test_greedy_parser_and_matcher_edge_cases():
    assert parse_greedy('{"type": "all_irrelevant"}').type == "all irrelevant"
    with pytest.raises(ValueError):
        parse_greedy('{"type": "partial relevant", "relevant texts": []}')
    r = match_quotes("a b a b", ["a b"])
    assert r.spans == [(0, 7)] or r.spans == [(0, 3), (4, 7)]  # every occurrence, merged when touching
    assert match_quotes("short", ["shrt"], fuzzy_threshold=90).unmatched == ["shrt"]  # too short for fuzzy


def test_cli_greedy_labels_rows(scripted_openai, item, positive, tmp_path):
    from tests.helpers.llm_server import Reply
    from typer.testing import CliRunner

    from discriminator.data.build import programmatic_item, rows_from_records
    from discriminator.data.schema import write_rows
    from flows.cli import app

    rows = rows_from_records(programmatic_item(item, BuildConfig(), positive=positive), {})
    write_rows(tmp_path / "rows.jsonl", rows)
    server = scripted_openai(responder=lambda body, n: Reply(content=json.dumps(
        {"type": "partial relevant", "relevant texts": ["harbor"]} if n % 2 else {"type": "???"})))
    res = CliRunner().invoke(app, ["data", "greedy", "--rows", str(tmp_path / "rows.jsonl"), "--out",
                                   str(tmp_path / "greedy.parquet"), "--llm-base-url", server.base_url,
                                   "--llm-model", "fake", "--max-concurrency", "2"])
    assert res.exit_code == 0, res.output
    out = read_rows(tmp_path / "greedy.parquet")
    assert out and len(out) <= len(rows) and {r.label_source for r in out} == {"greedy"}
    assert all(r.response[s:e].lower() == "harbor" for r in out for s, e in r.char_spans)
    assert "unusable answers" in res.output


def test_interrupted_item_resumes_at_the_pair_level(scripted_openai, item, positive, tmp_path):
    from discriminator.data.build import ShardStore

    server = scripted_openai(responder=_editor(item, positive))
    cfg = BuildConfig(mode="llm", val_frac=0, test_frac=0)
    build_discriminator_dataset([item], tmp_path / "out", cfg, llm_config=_config(server))
    assert server.count == 4
    # simulate a crash after two of the three pairs: no done mark, a torn last line
    store = ShardStore(tmp_path / "out")
    shard = store.shard("llm", item.id)
    lines = shard.read_text().splitlines()
    shard.write_text("\n".join(lines[:2]) + "\n" + lines[2][:25])
    (tmp_path / "out" / "done.jsonl").unlink()
    fresh = scripted_openai(responder=_editor(item, positive))
    report = build_discriminator_dataset([item], tmp_path / "out", cfg, llm_config=_config(fresh))
    assert fresh.count == 1  # only the missing negative; the positive comes from the shard
    assert report.pairs == 3 and report.llm["accepted"] == 1
