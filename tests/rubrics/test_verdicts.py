"""Per-rubric verdicts (rubrics.verdicts), accuracy reports (rubrics.judge_report) and `rtt rubrics judge`."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rubrics.schema import LLMVerifier, Rubric, RubricItem, RuleVerifier
from rubrics.verdicts import acompute_verdicts, compute_verdicts


def rule(rid: str, family: str, rule_id: str, weight: float = 1.0, **kw) -> Rubric:
    return Rubric(id=rid, text=rule_id, weight=weight, verifier=RuleVerifier(family=family, rule_id=rule_id, kwargs=kw))


def llm(rid: str, text: str, weight: float = 1.0) -> Rubric:
    return Rubric(id=rid, text=text, weight=weight, verifier=LLMVerifier())


ITEM_A = RubricItem(
    id="a",
    prompt="Write about cats without commas.",
    rubrics=[
        rule("a0", "ifeval", "punctuation:no_comma"),
        rule("a1", "muldimif", "Length/Words", relation="at most", num=6),
        llm("a2", "Mentions cats."),
        rule("a3", "ifeval", "keywords:nope"),
        rule("a4", "muldimif", "Content/Keywords", weight=-1.0, keywords=["dog"]),  # pitfall: mentioning dogs
    ],
)
ITEM_B = RubricItem(id="b", prompt="Quote it.", rubrics=[rule("b0", "ifeval", "startend:quotation")])


class FakeJudge:
    """Answers YES when the criterion's last word occurs in the response, None (unparseable) for 'unclear'."""

    def __init__(self) -> None:
        self.calls = 0

    async def ajudge(self, requests, progress=None):
        self.calls += 1
        from rubrics.judge import JudgeVerdict

        out = []
        for r in requests:
            word = r.rubric.text.rstrip(".").split()[-1].lower()
            sat = None if word == "unclear" else word in r.response.lower()
            out.append(JudgeVerdict(satisfied=sat, raw="YES" if sat else "??", cached=word == "cats"))
        return out


def test_batch_shapes_methods_and_undecided():
    pairs = [
        (ITEM_A, "Cats purr and sleep."),
        (ITEM_B, 'Sure:\n"quoted"'),
        (ITEM_A, "A dog, cats, and many more words here."),
    ]
    vb = compute_verdicts(pairs)
    assert vb.shape == (3, 5) and vb.s.dtype == np.int8
    assert vb.rubric_mask.tolist() == [[True] * 5, [True] + [False] * 4, [True] * 5]
    assert vb.method[0].tolist() == ["rule", "rule", "no_judge", "unsupported", "rule"]
    assert vb.method[1].tolist() == ["rule", "", "", "", ""]
    assert vb.s[0].tolist() == [1, 1, -1, -1, -1]  # undecided verdicts are -1 ...
    assert vb.decided[0].tolist() == [True, True, False, False, True]  # ... and flagged
    assert vb.s[1].tolist() == [-1, 0, 0, 0, 0]  # strict: the preamble line breaks the quotation
    assert vb.s[2].tolist() == [-1, -1, -1, -1, 1]  # commas, 6+ words, the pitfall holds
    assert vb.weights[0].tolist() == [1, 1, 1, 1, -1] and vb.weights[1, 1:].tolist() == [0, 0, 0, 0]
    assert "keywords:nope" in vb.notes[0][3] and vb.notes[0][2]
    assert vb.counters.rule == 7 and vb.counters.unsupported == 2 and vb.counters.no_judge == 2
    # followed: pitfall not satisfied counts as followed; undecided never does
    assert vb.followed[0].tolist() == [True, True, False, False, True]
    assert vb.prompt_level().tolist() == [False, False, False]
    loose = compute_verdicts(pairs, loose=True)
    assert loose.s[1, 0] == 1 and loose.loose and not vb.loose
    assert vb.row(1) == [{"id": "b0", "s": -1, "decided": True, "method": "rule"}]


def test_llm_rubrics_go_to_the_judge():
    item = RubricItem(
        id="c",
        prompt="p",
        rubrics=[llm("c0", "Mentions cats."), llm("c1", "Is unclear."), rule("c2", "ifeval", "punctuation:no_comma")],
    )
    judge = FakeJudge()
    vb = compute_verdicts([(item, "cats here"), (item, "nothing")], judge=judge)
    assert judge.calls == 1  # one batched call
    assert vb.method.tolist() == [["llm", "parse_failure", "rule"], ["llm", "parse_failure", "rule"]]
    assert vb.s[:, 0].tolist() == [1, -1] and vb.decided[:, 1].tolist() == [False, False]
    assert vb.counters.llm == 2 and vb.counters.llm_cached == 2 and vb.counters.parse_failure == 2
    assert vb.prompt_level().tolist() == [False, False]


def test_async_api_and_running_event_loop():
    pairs = [(ITEM_B, '"q"')]

    async def main():
        a = await acompute_verdicts(pairs)
        b = compute_verdicts(pairs)  # sync API called from inside a running loop
        return a, b

    a, b = asyncio.run(main())
    assert a.s.tolist() == b.s.tolist() == [[1]]


def test_repeated_checks_are_deduplicated():
    item = RubricItem(id="d", prompt="p", rubrics=[rule(f"d{i}", "ifeval", "punctuation:no_comma") for i in range(4)])
    vb = compute_verdicts([(item, "x"), (item, "y, z")])
    assert vb.counters.rule == 8 and vb.counters.rule_evaluations == 2
    assert vb.s.tolist() == [[1] * 4, [-1] * 4]


def test_report_matches_ifeval_reporting():
    from rubrics.judge_report import build_report, to_markdown

    pairs = [(ITEM_A, "Cats purr and sleep."), (ITEM_B, '"quoted"')]
    modes = {loose: compute_verdicts(pairs, loose=loose) for loose in (False, True)}
    rep = build_report([it for it, _ in pairs], modes[False], modes[True])
    assert rep.strict.prompts == 2 and rep.strict.prompts_followed == 1 and rep.strict.prompt_level == 0.5
    assert rep.strict.instructions == 6 and rep.strict.instructions_followed == 4
    assert rep.strict.tier0["ifeval:punctuation"] == 1.0 and rep.strict.tier1["llm"] == 0.0
    assert rep.unsupported == {"ifeval:keywords:nope": 1}
    assert rep.undecided == {"unsupported": 1, "no_judge": 1, "parse_failure": 0, "connection": 0, "http_error": 0}
    md = to_markdown(rep)
    assert "| prompt-level accuracy (%) | 50.00 |" in md and "`ifeval:keywords:nope`" in md


@pytest.fixture
def judge_files(tmp_path, ifeval_path):
    """The real IFEval items (built by `rtt rubrics build`) and synthetic responses in the official format."""
    from flows.cli import app
    from rubrics.rules.synthetic import ifeval_response

    rows = [json.loads(line) for line in ifeval_path.read_text().splitlines()][:40]
    src = tmp_path / "ifeval.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(
        app, ["rubrics", "build", str(src), "--out", str(tmp_path / "ds"), "--val-frac", "0", "--test-frac", "0"]
    )
    assert res.exit_code == 0, res.output
    responses = tmp_path / "responses.jsonl"
    expected = []
    with responses.open("w") as fh:
        for i, r in enumerate(rows):
            want = i % 2 == 0
            resp = ifeval_response(r["instruction_id_list"][0], r["kwargs"][0], r["prompt"], want)
            if resp is None:  # no satisfying text can be built (e.g. a language): use the violating one
                want, resp = False, ifeval_response(r["instruction_id_list"][0], r["kwargs"][0], r["prompt"], False)
            expected.append(want)
            key = {"prompt": r["prompt"]} if i % 3 else {"key": r["key"]}
            fh.write(json.dumps({**key, "response": resp}) + "\n")
    return tmp_path / "ds" / "train.parquet", responses, rows, expected


def test_cli_judge_on_ifeval(judge_files, tmp_path):
    from flows.cli import app

    items, responses, rows, expected = judge_files
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["rubrics", "judge", str(items), str(responses), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "prompt-level" in res.output
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    report = json.loads((out / "report.json").read_text())
    assert len(verdicts) == 40 and report["responses"] == 40
    assert report["methods"]["rule"] == sum(len(r["instruction_id_list"]) for r in rows)
    # the targeted first instruction follows the construction: satisfied on even rows, violated on odd ones
    for i, v in enumerate(verdicts):
        assert v["rubrics"][0]["followed_strict"] == expected[i], v
    n_ok = sum(v["follow_all_strict"] for v in verdicts)
    assert report["strict"]["prompts_followed"] == n_ok
    assert report["loose"]["instruction_level"] >= report["strict"]["instruction_level"]
    assert "Accuracy per rule" in (out / "report.md").read_text()


def test_cli_judge_bad_input_names_file_and_line(judge_files, tmp_path):
    from flows.cli import app

    items = judge_files[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "nope", "response": "x"}) + "\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["rubrics", "judge", str(items), str(bad), "--out", str(out)])
    assert res.exit_code == 1 and "bad.jsonl:1" in res.output and "prompt" in res.output
    assert not out.exists()  # nothing half-written
    bad.write_text(json.dumps({"key": 1000}) + "\n")
    res = CliRunner().invoke(app, ["rubrics", "judge", str(items), str(bad), "--out", str(out)])
    assert res.exit_code == 1 and "'response'" in res.output


def test_cli_judge_llm_rubrics_over_http(tmp_path, scripted_openai):
    """LLM rubrics go over HTTP to an OpenAI-compatible server; verdicts are cached on disk."""
    from flows.cli import app
    from rubrics.exporters import write_items
    from tests.helpers.llm_server import Reply

    def responder(body, n):  # YES when the response under judgement mentions cats
        user = body["messages"][-1]["content"]
        return Reply(content="YES" if "cats" in user.split("Response:")[1].split("Criterion:")[0].lower() else "NO")

    server = scripted_openai(responder=responder)
    items = tmp_path / "items.jsonl"
    write_items(items, [ITEM_A, ITEM_B])
    responses = tmp_path / "r.jsonl"
    responses.write_text(
        "".join(
            json.dumps({"item_id": i, "response": r}) + "\n"
            for i, r in (("a", "Cats purr."), ("a", "Dogs bark."), ("b", '"q"'))
        )
    )
    args = [
        "rubrics",
        "judge",
        str(items),
        str(responses),
        "--llm-base-url",
        server.base_url,
        "--llm-model",
        "scripted",
        "--llm-max-tokens",
        "4",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["methods"] == {
        "rule": 7,
        "llm": 2,
        "unsupported": 2,
        "no_judge": 0,
        "parse_failure": 0,
        "connection": 0,
        "http_error": 0,
    }
    assert report["strict"]["tier1"]["llm"] == 0.5 and server.count == 2
    assert server.bodies[0]["max_tokens"] == 4
    rows = [json.loads(x) for x in (tmp_path / "out" / "verdicts.jsonl").read_text().splitlines()]
    assert [r["rubrics"][2]["strict"] for r in rows[:2]] == [1, -1]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out2")])  # second run: from the cache
    assert res.exit_code == 0 and server.count == 2
    assert json.loads((tmp_path / "out2" / "report.json").read_text())["counters"]["strict.llm_cached"] == 2
