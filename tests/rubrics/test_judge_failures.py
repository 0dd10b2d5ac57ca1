"""The judge's cache holds only decided verdicts under a key with the endpoint and answer-changing
settings; connection / HTTP / parse failures are distinct and fail the command above a threshold; rule ids print
verbatim; a missing NLTK resource is named."""

from __future__ import annotations

import json
import socket

from typer.testing import CliRunner

from flows.cli import app
from rubrics.exporters import write_items
from rubrics.schema import LLMVerifier, Rubric, RubricItem, RuleVerifier

ITEM = RubricItem(
    id="a",
    prompt="Write about cats.",
    rubrics=[
        Rubric(id="a0", text="Mentions cats.", verifier=LLMVerifier()),
        Rubric(id="a1", text="Is short.", verifier=LLMVerifier()),
    ],
)


def _files(tmp_path, items=(ITEM,), responses=(("a", "Cats purr."),)):
    items_path = tmp_path / "items.jsonl"
    write_items(items_path, list(items))
    resp = tmp_path / "r.jsonl"
    resp.write_text("".join(json.dumps({"item_id": i, "response": r}) + "\n" for i, r in responses))
    return items_path, resp


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _judge(items, resp, out, base_url, *extra):
    return CliRunner().invoke(
        app,
        [
            "rubrics",
            "judge",
            str(items),
            str(resp),
            "--out",
            str(out),
            "--llm-base-url",
            base_url,
            "--llm-model",
            "m",
            "--llm-retries",
            "0",
            *extra,
        ],
    )


def test_undecided_answers_are_not_cached_and_the_key_holds_max_tokens(tmp_path, scripted_openai):
    from tests.helpers.llm_server import Reply

    items, resp = _files(tmp_path)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    bad = scripted_openai(default=Reply(content="Let me think about whether"))  # cut by a tiny max_tokens
    res = _judge(items, resp, tmp_path / "o1", bad.base_url, *cache, "--llm-max-tokens", "4", "--allow-judge-failures")
    assert res.exit_code == 0 and bad.count == 2
    assert json.loads((tmp_path / "o1" / "report.json").read_text())["methods"]["parse_failure"] == 2
    good = scripted_openai(default=Reply(content="YES"))
    res = _judge(items, resp, tmp_path / "o2", good.base_url, *cache, "--llm-max-tokens", "64")
    assert res.exit_code == 0, res.output
    assert good.count == 2  # asked again: nothing undecided was cached, and max tokens are in the key
    assert json.loads((tmp_path / "o2" / "report.json").read_text())["methods"]["llm"] == 2
    res = _judge(items, resp, tmp_path / "o3", good.base_url, *cache, "--llm-max-tokens", "64")
    assert good.count == 2  # decided verdicts come from the cache
    res = _judge(items, resp, tmp_path / "o4", good.base_url, *cache, "--llm-max-tokens", "64", "--refresh")
    assert res.exit_code == 0 and good.count == 4  # --refresh asks again


def test_the_key_holds_the_endpoint(tmp_path, scripted_openai):
    from tests.helpers.llm_server import Reply

    items, resp = _files(tmp_path)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    one = scripted_openai(default=Reply(content="NO"))
    two = scripted_openai(default=Reply(content="YES"))
    assert _judge(items, resp, tmp_path / "o1", one.base_url, *cache).exit_code == 0
    assert _judge(items, resp, tmp_path / "o2", two.base_url, *cache).exit_code == 0
    assert two.count == 2


def test_connection_and_http_failures_are_distinct_and_fail_the_command(tmp_path, scripted_openai):
    from tests.helpers.llm_server import Reply

    items, resp = _files(tmp_path)
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    res = _judge(items, resp, tmp_path / "o1", dead, "--allow-judge-failures")
    assert res.exit_code == 0
    report = json.loads((tmp_path / "o1" / "report.json").read_text())
    assert report["judge_failures"] == {"connection": 2, "http_error": 0, "parse_failure": 0}
    rows = [json.loads(x) for x in (tmp_path / "o1" / "verdicts.jsonl").read_text().splitlines()]
    assert {r["method"] for r in rows[0]["rubrics"]} == {"connection"}
    assert "2 LLM verdicts failed (connection 2" in res.output
    res = _judge(items, resp, tmp_path / "o2", dead)
    assert res.exit_code == 1 and "--allow-judge-failures" in res.output
    broken = scripted_openai(default=Reply(status=500))
    res = _judge(items, resp, tmp_path / "o3", broken.base_url)
    assert res.exit_code == 1
    report = json.loads((tmp_path / "o3" / "report.json").read_text())
    assert report["judge_failures"]["http_error"] == 2 and report["methods"]["parse_failure"] == 0


def test_rule_ids_are_printed_verbatim(tmp_path):
    item = RubricItem(
        id="x",
        prompt="Repeat the span.",
        rubrics=[
            Rubric(
                id="x0", text="no such rule", verifier=RuleVerifier(family="ifbench", rule_id="repeat:repeat_span_x")
            )
        ],
    )
    items, resp = _files(tmp_path, [item], [("x", "hello")])
    res = CliRunner().invoke(app, ["rubrics", "judge", str(items), str(resp), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "ifbench:repeat:repeat_span_x" in res.output
    assert "\U0001f501" not in res.output  # :repeat: is not turned into an emoji


def test_missing_nltk_resource_is_named_with_how_to_get_it():
    from rubrics.rules.nltk_data import missing_error

    exc = LookupError("\n****\n  Resource \x1b[93maveraged_perceptron_tagger_eng\x1b[0m not found.\n  Please use ...")
    msg = str(missing_error("ifbench:words:start_verb", exc))
    assert "'averaged_perceptron_tagger_eng'" in msg
    assert "python -m nltk.downloader averaged_perceptron_tagger_eng" in msg and "NLTK_DATA" in msg


def test_cli_names_the_missing_nltk_resource(tmp_path):
    """End to end in a fresh process whose NLTK_DATA lacks the tagger (downloads disabled: no network)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    nltk_dir = tmp_path / "nltk_data"
    shared = Path(os.environ.get("NLTK_DATA", ""))
    for sub in ("tokenizers/punkt_tab", "corpora/stopwords"):  # everything but the tagger
        if (shared / sub).is_dir():
            shutil.copytree(shared / sub, nltk_dir / sub)  # (NLTK refuses symlinks out of its path)
    item = RubricItem(
        id="v",
        prompt="Start with a verb.",
        rubrics=[
            Rubric(
                id="v0", text="starts with a verb", verifier=RuleVerifier(family="ifbench", rule_id="words:start_verb")
            )
        ],
    )
    items, resp = _files(tmp_path, [item], [("v", "Write the poem now.")])
    code = "import nltk; nltk.download = lambda *a, **k: False; from flows.cli import main; main()"
    env = {**os.environ, "PYTHONPATH": str(root), "NLTK_DATA": str(nltk_dir)}
    res = subprocess.run(
        [sys.executable, "-c", code, "rubrics", "judge", str(items), str(resp), "--out", str(tmp_path / "o")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-2000:]
    assert "averaged_perceptron_tagger_eng" in out and "nltk.downloader averaged_perceptron_tagger_eng" in out
    assert "Traceback" not in out


def test_error_messages_are_printed_verbatim(tmp_path):
    bad = tmp_path / "items.jsonl"
    bad.write_text(
        json.dumps(
            {
                "id": "x",
                "prompt": "p",
                "rubrics": [
                    {
                        "id": "x#0",
                        "text": "t",
                        "verifier": {
                            "kind": "rule",
                            "family": "ifbench",
                            "rule_id": "repeat:repeat_span",
                            "kwargs": {"[verify]": 1},
                        },
                    }
                ],
            }
        )
        + "\n"
    )
    res = CliRunner().invoke(app, ["rubrics", "build", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "kwargs.[verify]" in res.output  # the bracketed key is not swallowed as rich markup
