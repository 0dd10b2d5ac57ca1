"""Real responses as positives: --positives matching (key / prompt / item id, unmatched rows), policy samples
(local HF model and an OpenAI-compatible endpoint), edits in both directions, positive_source on every row,
natural replacement words, and sentence-level content negatives (unverified, or verified by a judge)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discriminator.data.build import BuildConfig, build_discriminator_dataset, programmatic_item
from discriminator.data.positives import load_positives, response_records
from discriminator.data.schema import read_rows
from discriminator.data.textbank import NEUTRAL_WORDS
from rubrics.io import RecordError
from rubrics.schema import LLMVerifier, Rubric, RubricItem, RuleVerifier


def _rule(i: int, rid: str, kw: dict | None = None, fam: str = "ifeval") -> Rubric:
    return Rubric(id=f"x#{i}", text=rid, verifier=RuleVerifier(family=fam, rule_id=rid, kwargs=kw or {}))


def _item(iid: str, prompt: str, *rubrics: Rubric, key: int | None = None) -> RubricItem:
    rubrics = tuple(r.model_copy(update={"id": f"{iid}#{i}"}) for i, r in enumerate(rubrics))
    return RubricItem(id=iid, prompt=prompt, rubrics=list(rubrics), meta={"key": key} if key is not None else {})


NO_COMMA = _rule(0, "punctuation:no_comma")
LOWER = _rule(1, "change_case:english_lowercase")
ITEMS = [
    _item("ifeval:11", "Describe a harbour at dawn without commas.", NO_COMMA, key=11),
    _item("ifeval:12", "Write about trains in lowercase.", LOWER, key=12),
    _item("mine:3", "Tell me about bread.", NO_COMMA),
]
PASSING = "the harbour wakes slowly and the boats drift out to sea while gulls circle above the quiet water"
FAILING = "The harbour wakes slowly, and the boats drift out to sea, while gulls circle above the water."


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# ----------------------------------------------------------------------------------------------- matching


def test_positives_match_by_item_id_key_and_prompt(tmp_path):
    path = _jsonl(tmp_path / "p.jsonl", [
        {"item_id": "mine:3", "response": "bread is good"},
        {"key": 11, "response": PASSING},
        {"prompt": "  write about TRAINS in lowercase. ", "response": "trains run on time"},  # IFEval response format
        {"key": "11", "response": FAILING},  # a second response of the same item
    ])
    got, report = load_positives(path, ITEMS)
    assert got == {"mine:3": ["bread is good"], "ifeval:11": [PASSING, FAILING], "ifeval:12": ["trains run on time"]}
    assert report.matched == 4 and report.by == {"item_id": 1, "key": 2, "prompt": 1} and not report.unmatched
    assert report.items_without == 0


def test_unmatched_positive_is_an_error_naming_the_line_or_reported_when_lenient(tmp_path):
    path = _jsonl(tmp_path / "p.jsonl", [{"item_id": "mine:3", "response": "ok"},
                                         {"item_id": "ifeval:999", "response": "lost"}])
    with pytest.raises(RecordError) as exc:
        load_positives(path, ITEMS)
    assert "p.jsonl:2:" in str(exc.value) and "item_id" in str(exc.value) and "ifeval:999" in str(exc.value)
    got, report = load_positives(path, ITEMS, lenient=True)
    assert got == {"mine:3": ["ok"]}
    assert [(u.line, u.field, u.value) for u in report.unmatched] == [(2, "item_id", "ifeval:999")]
    assert report.items_without == 2


def test_cli_unmatched_positive_fails_and_lenient_reports_it(tmp_path):
    from flows.cli import app

    items = tmp_path / "items.jsonl"
    items.write_text("".join(it.model_dump_json() + "\n" for it in ITEMS))
    pos = _jsonl(tmp_path / "p.jsonl", [{"key": 11, "response": PASSING}, {"item_id": "nope", "response": "x"}])
    runner = CliRunner()
    bad = runner.invoke(app, ["data", "negatives", "-i", str(items), "-o", str(tmp_path / "a"), "--positives", str(pos)])
    assert bad.exit_code == 1 and "p.jsonl:2:" in bad.output and "'nope' matches no item" in bad.output
    assert not (tmp_path / "a" / "spans.parquet").exists()
    ok = runner.invoke(app, ["data", "negatives", "-i", str(items), "-o", str(tmp_path / "b"), "--positives", str(pos),
                             "--lenient", "--test-frac", "0", "--val-frac", "0"])
    assert ok.exit_code == 0, ok.output
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["given"]["unmatched"] == [{"line": 2, "field": "item_id", "value": "nope"}]
    rows = read_rows(tmp_path / "b" / "spans.parquet")
    by_item = {r.item_id: r.positive_source for r in rows}
    assert by_item["ifeval:11"] == "given"  # the matched response
    assert by_item.get("mine:3") in (None, "template")  # no response: a template, marked as such
    assert all(r.positive_source in ("given", "template") for r in rows)


# ----------------------------------------------------------------------------------------------- both directions


def test_passing_response_is_broken_and_failing_one_repaired():
    item = ITEMS[0]
    cfg = BuildConfig()
    broken, repaired = response_records(item, [PASSING, FAILING], "policy", cfg)
    assert (broken.status, broken.edit, broken.positive_source, broken.sample) == ("accepted", "break", "policy", 0)
    assert broken.positive == PASSING and broken.negative.count(",") == 1
    assert (repaired.status, repaired.edit, repaired.sample) == ("accepted", "repair", 1)
    assert repaired.negative == FAILING and "," not in repaired.positive
    # the labelled span in the (original, failing) negative is exactly the policy's commas
    assert [FAILING[s:e] for s, e in repaired.negative_spans] == [",", ","] or \
        all("," in FAILING[s:e] for s, e in repaired.negative_spans)
    assert repaired.positive_spans  # the deletion point is anchored in the positive
    assert broken.key == "ifeval:11#0" and repaired.key == "ifeval:11#0@1" and broken.pair_id != repaired.pair_id


def test_repairs_in_both_directions_for_case_and_counts():
    item = _item("t:1", "Write about the sea in lowercase.", _rule(0, "change_case:english_lowercase"),
                 _rule(1, "length_constraints:number_words", {"relation": "less than", "num_words": 12}))
    text = "The Sea is calm today. Waves roll in slowly and the sand stays warm."
    recs = {r.rubric_id: r for r in response_records(item, [text], "policy", BuildConfig(policy="flag"))}
    lower, words = recs["t:1#0"], recs["t:1#1"]
    assert lower.edit == "repair" and lower.positive == text.lower() and lower.negative == text
    assert sorted(text[s:e] for s, e in lower.negative_spans) == ["The Sea", "Waves"]
    assert words.edit == "repair" and len(words.positive.split()) < 12 and words.negative == text


def test_rows_record_the_positive_source_in_the_parquet(tmp_path):
    rep = build_discriminator_dataset(ITEMS[:2], tmp_path / "out", BuildConfig(val_frac=0, test_frac=0),
                        positives={"ifeval:11": [PASSING, FAILING]}, positive_source="policy")
    rows = read_rows(tmp_path / "out" / "spans.parquet")
    assert {(r.item_id, r.positive_source) for r in rows} == {("ifeval:11", "policy"), ("ifeval:12", "template")}
    assert rep.positive_sources == {"policy/break": 1, "policy/repair": 1, "template/break": 1}
    assert rep.template_fallback_items == 1
    assert {r.meta["edit"] for r in rows if r.item_id == "ifeval:11"} == {"break", "repair"}
    # resumable: a second run records nothing new and writes the same rows
    again = build_discriminator_dataset(ITEMS[:2], tmp_path / "out", BuildConfig(val_frac=0, test_frac=0),
                          positives={"ifeval:11": [PASSING, FAILING]}, positive_source="policy")
    assert again.items_skipped == 2 and again.pairs == rep.pairs


def test_item_without_a_usable_real_pair_falls_back_to_a_template_marked_as_such():
    item = _item("f:1", "Write in JSON.", _rule(0, "detectable_format:json_format"))
    recs = programmatic_item(item, BuildConfig(), responses=["no json here at all"], positive_source="policy")
    policy = [r for r in recs if r.positive_source == "policy"]
    template = [r for r in recs if r.positive_source == "template"]
    assert policy and not any(r.usable for r in policy) and policy[0].edit == "repair"
    assert template and template[0].usable and template[0].sample == 1 and template[0].key == "f:1#0@1"


def test_template_rows_say_template():
    recs = programmatic_item(ITEMS[0], BuildConfig())
    assert recs and all(r.positive_source == "template" for r in recs)


def test_removed_keyword_is_replaced_by_a_word_of_the_response():
    kw = _rule(0, "keywords:existence", {"keywords": ["war"]})
    item = _item("k:1", "Write about history.", kw)
    text = ("The war began in 1914. Soldiers fought the war in trenches across Europe. "
            "Every battle changed the lives of families, and the battle lines barely moved.")
    (rec,) = response_records(item, [text], "given", BuildConfig())
    assert rec.status == "accepted" and "war" not in rec.negative.lower()
    new_words = set(rec.negative.lower().split()) - set(text.lower().split())
    assert not new_words & set(NEUTRAL_WORDS)  # no planted stand-in ("item", "thing" ...)
    assert "battle" in rec.negative.lower().split()  # the response's own noun took the keyword's place


# ----------------------------------------------------------------------------------------------- content rubrics


CONTENT = Rubric(id="c:1#0", text="The response mentions the price of the ticket.", verifier=LLMVerifier())
CONTENT_ITEM = RubricItem(id="c:1", prompt="Describe the museum visit.", rubrics=[CONTENT])
VISIT = ("We arrived at the museum early in the morning. The ticket price was twelve dollars for adults. "
         "The paintings in the east wing were the highlight of the day.")


def test_content_negative_drops_the_sentence_that_carries_the_criterion_unverified(tmp_path):
    (rec,) = response_records(CONTENT_ITEM, [VISIT], "policy", BuildConfig(content_match="lexical"))
    assert rec.status == "accepted" and rec.verification == "unverified"
    assert "price" not in rec.negative and [VISIT[s:e].strip() for s, e in rec.positive_spans] == \
        ["The ticket price was twelve dollars for adults."]
    test = build_discriminator_dataset([CONTENT_ITEM], tmp_path / "t", BuildConfig(content_match="lexical", val_frac=0, test_frac=1),
                         positives={"c:1": [VISIT]}, positive_source="policy")
    assert test.unverified_pairs == 1 and read_rows(tmp_path / "t" / "spans.parquet") == []  # never in test metrics
    build_discriminator_dataset([CONTENT_ITEM], tmp_path / "o", BuildConfig(content_match="lexical", val_frac=0, test_frac=0),
                  positives={"c:1": [VISIT]}, positive_source="policy")
    rows = read_rows(tmp_path / "o" / "spans.parquet")
    assert len(rows) == 2 and all(r.verification == "unverified" and r.split == "train" for r in rows)  # trains


def test_minilm_ranking_finds_the_sentence_too():
    from discriminator.data.content import rank_sentences

    ranked = rank_sentences(CONTENT.text, VISIT, "minilm")
    assert "price" in VISIT[ranked[0][0]:ranked[0][1]]


def _judge_config(server):
    from rubrics.llm import LLMConfig

    return LLMConfig(base_url=server.base_url, model="judge", max_retries=0, timeout_s=10)


def test_content_negative_verified_by_a_judge(scripted_openai, tmp_path):
    from tests.helpers.llm_server import Reply

    def respond(body, n):
        text = json.dumps(body["messages"])
        return Reply(content="YES" if "twelve dollars" in text else "NO")

    server = scripted_openai(responder=respond)
    build_discriminator_dataset([CONTENT_ITEM], tmp_path / "o", BuildConfig(content_match="lexical", val_frac=0, test_frac=1),
                  positives={"c:1": [VISIT]}, positive_source="policy", judge_config=_judge_config(server))
    rows = read_rows(tmp_path / "o" / "spans.parquet")
    assert len(rows) == 2 and all(r.verification == "judge" and r.split == "test" for r in rows)
    assert server.count >= 2


def test_judge_outage_is_not_a_verified_pair(scripted_openai, tmp_path):
    from tests.helpers.llm_server import Reply

    server = scripted_openai(default=Reply(status=500))
    rep = build_discriminator_dataset([CONTENT_ITEM], tmp_path / "o", BuildConfig(content_match="lexical"),
                        positives={"c:1": [VISIT]}, positive_source="policy", judge_config=_judge_config(server))
    assert rep.pairs == 0 and any("judge failed" in k for k in rep.reasons)


# ----------------------------------------------------------------------------------------------- policy samples


def test_local_policy_samples_k_per_prompt_and_resumes(tmp_path):
    from tests.helpers.tiny import tiny_causal_lm

    from discriminator.data.policy_samples import (
        LocalSampler,
        PolicySampleConfig,
        sample_policy,
    )

    model = tiny_causal_lm(tmp_path / "lm")
    cfg = PolicySampleConfig(model=str(model), k=3, max_new_tokens=8, batch_size=6)
    got = sample_policy(ITEMS[:2], cfg, tmp_path / "s.jsonl", sampler=LocalSampler(str(model)))
    assert set(got) == {"ifeval:11", "ifeval:12"} and all(len(v) == 3 for v in got.values())

    class Boom:
        def sample(self, *a, **k):
            raise AssertionError("resumed items must not be sampled again")

    assert sample_policy(ITEMS[:2], cfg, tmp_path / "s.jsonl", sampler=Boom()) == got


@pytest.mark.slow  # waits out the sampler's retry back-off on the failing request (~16 s of sleeps)
def test_endpoint_policy_samples_and_a_failed_request_records_nothing(scripted_openai, tmp_path):
    from tests.helpers.llm_server import Reply

    from discriminator.data.policy_samples import PolicySampleConfig, sample_policy

    def respond(body, n):
        if "trains" in json.dumps(body["messages"]):
            return Reply(status=500)
        return Reply(content=f"sample with seed {body.get('seed')}")

    server = scripted_openai(responder=respond)
    cfg = PolicySampleConfig(model="policy", base_url=server.base_url, k=2, seed=5)
    with pytest.raises(RuntimeError, match="1 of 2 items"):
        sample_policy(ITEMS[:2], cfg, tmp_path / "s.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [(x["item_id"], x["responses"]) for x in lines] == [
        ("ifeval:11", ["sample with seed 5", "sample with seed 6"])]


def test_cli_positives_from_an_endpoint_builds_policy_rows(scripted_openai, tmp_path):
    from tests.helpers.llm_server import Reply

    from flows.cli import app

    server = scripted_openai(responder=lambda body, n: Reply(content=FAILING if n % 2 else PASSING))
    items = tmp_path / "items.jsonl"
    items.write_text(ITEMS[0].model_dump_json() + "\n")
    res = CliRunner().invoke(app, ["data", "negatives", "-i", str(items), "-o", str(tmp_path / "o"),
                                   "--positives-from", "policy", "--policy-base-url", server.base_url, "-k", "2",
                                   "--val-frac", "0", "--test-frac", "0"])
    assert res.exit_code == 0, res.output
    rows = read_rows(tmp_path / "o" / "spans.parquet")
    assert {r.positive_source for r in rows} == {"policy"} and len(rows) == 4
    assert {r.meta["edit"] for r in rows} == {"break", "repair"}
    assert "policy/break 1" in res.output and "policy/repair 1" in res.output


def test_minilm_encoder_loads_once_under_concurrent_threads(monkeypatch):
    """Prefect runs data batches in threads: the encoder is loaded once, never by two threads at the same time
    (concurrent from_pretrained calls can leave transformers' tie_weights / init_weights patched to no-ops)."""
    import threading
    import time

    from discriminator.data import content

    content._load_encoder.cache_clear()
    active, calls, overlap = [0], [0], [False]

    def slow_load():
        active[0] += 1
        calls[0] += 1
        overlap[0] |= active[0] > 1
        time.sleep(0.05)
        active[0] -= 1
        return ("tok", "model", None)

    monkeypatch.setattr(content, "_load_encoder", functools.lru_cache(maxsize=1)(slow_load))
    threads = [threading.Thread(target=content._encoder) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls[0] == 1 and not overlap[0]
