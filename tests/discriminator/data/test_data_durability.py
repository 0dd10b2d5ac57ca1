"""The resumable discriminator-data folder - torn tails are redone, corrupt middles are named (and
``--repair`` redoes them), failed LLM calls are never done."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from discriminator.data.build import BuildConfig, ShardError, ShardStore, build_discriminator_dataset
from discriminator.data.schema import read_rows
from flows.cli import app
from rubrics.llm import LLMConfig
from rubrics.schema import Rubric, RubricItem, RuleVerifier

RULES = [("punctuation:no_comma", {}), ("keywords:existence", {"keywords": ["harbor"]}),
         ("change_case:english_lowercase", {})]


def _items(n: int = 3) -> list[RubricItem]:
    return [RubricItem(id=f"t:{k}", prompt=f"Describe harbor number {k}.", rubrics=[
        Rubric(id=f"t:{k}#{i}", text=f"rule {rid}", verifier=RuleVerifier(family="ifeval", rule_id=rid, kwargs=kw))
        for i, (rid, kw) in enumerate(RULES)]) for k in range(n)]


CFG = BuildConfig(val_frac=0, test_frac=0)


def _rows(out: Path) -> list[tuple[str, str]]:
    return sorted((r.id, r.response) for r in read_rows(out / "spans.parquet"))


@pytest.fixture
def built(tmp_path):
    items = _items()
    out = tmp_path / "out"
    report = build_discriminator_dataset(items, out, CFG)
    assert report.pairs > 0
    return items, out, _rows(out)


def test_torn_tail_of_a_done_items_shard_is_truncated_and_the_item_redone(built):
    items, out, rows = built
    shard = ShardStore(out).shard("program", items[1].id)
    data = shard.read_bytes()
    shard.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 20])  # the last line cut mid-way
    report = build_discriminator_dataset(items, out, CFG)
    assert report.items_skipped == 2  # the cut item is not "done" any more
    assert _rows(out) == rows  # nothing lost for good
    assert shard.read_bytes() == data  # the fragment was truncated, not glued to the next line


def test_torn_tail_of_done_jsonl_is_truncated_and_its_item_redone(built):
    items, out, rows = built
    done = out / "done.jsonl"
    data = done.read_bytes()
    done.write_bytes(data[:-15])  # the last done line torn
    report = build_discriminator_dataset(items, out, CFG)
    assert report.items_skipped == 2 and _rows(out) == rows
    lines = done.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(x) for x in lines[:-1])  # no fragment glued to a line
    report = build_discriminator_dataset(items, out, CFG)  # and a third run neither crashes nor redoes anything
    assert report.items_skipped == 3


def test_corrupt_middle_line_is_an_error_naming_file_and_line_and_repair_redoes_the_item(built):
    items, out, rows = built
    shard = ShardStore(out).shard("program", items[0].id)
    lines = shard.read_bytes().split(b"\n")
    lines[1] = lines[1][:30] + b"#garbage#" + lines[1][40:]
    shard.write_bytes(b"\n".join(lines))
    with pytest.raises(ShardError, match=rf"{shard.name}:2: corrupt line"):
        build_discriminator_dataset(items, out, CFG)
    res = CliRunner().invoke(app, ["data", "negatives", "--items", str(_jsonl(out.parent, items)), "--out", str(out),
                                   "--val-frac", "0", "--test-frac", "0"])
    assert res.exit_code == 1 and f"{shard.name}:2" in res.output and "--repair" in res.output
    assert "Traceback" not in res.output
    report = build_discriminator_dataset(items, out, CFG, repair=True)
    assert report.repaired and _rows(out) == rows
    assert (shard.parent / (shard.name + ".corrupt")).exists()


def test_corrupt_middle_line_of_done_jsonl_is_named_and_repaired(built):
    items, out, rows = built
    done = out / "done.jsonl"
    lines = done.read_bytes().split(b"\n")
    lines[0] = b"{not json"
    done.write_bytes(b"\n".join(lines))
    with pytest.raises(ShardError, match=r"done.jsonl:1: corrupt line"):
        build_discriminator_dataset(items, out, CFG)
    report = build_discriminator_dataset(items, out, CFG, repair=True)
    assert report.items_skipped == 2 and _rows(out) == rows


def _jsonl(folder: Path, items: list[RubricItem]) -> Path:
    path = folder / "items.jsonl"
    path.write_text("".join(it.model_dump_json() + "\n" for it in items))
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_llm_outage_marks_nothing_done_exits_non_zero_and_a_rerun_retries(tmp_path, scripted_openai):
    from tests.helpers.llm_server import Reply

    items = _items(2)
    src = _jsonl(tmp_path, items)
    out = tmp_path / "out"
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    res = CliRunner().invoke(app, ["data", "negatives", "--items", str(src), "--out", str(out), "--mode", "llm",
                                   "--llm-base-url", dead, "--llm-model", "m", "--llm-retries", "0"])
    assert res.exit_code == 1, res.output
    assert "2 items had failed LLM calls" in res.output
    done = out / "done.jsonl"
    assert not done.exists() or done.read_text() == ""
    server = scripted_openai(default=Reply(content="A harbor at dawn, quiet and grey."))
    cfg = BuildConfig(mode="llm", val_frac=0, test_frac=0)
    report = build_discriminator_dataset(items, out, cfg, llm_config=LLMConfig(base_url=server.base_url, model="m", max_retries=0))
    assert server.count > 0 and report.failed_items == 0  # the rerun asked again
    assert len(done.read_text().splitlines()) == 2


@pytest.mark.prefect
def test_flow_never_replays_a_cached_outage(prefect_harness, tmp_path, scripted_openai):
    """A batch whose LLM calls failed is not done and its cached task result is not reused: once the endpoint
    works again (same config, so the same task cache key), the next flow run asks it."""
    import asyncio

    from tests.helpers.llm_server import Reply

    from flows.data import DataFlowParams, build_discriminator_data

    items = _items(2)
    src = _jsonl(tmp_path, items)
    server = scripted_openai(default=Reply(status=503))
    params = DataFlowParams(inputs=[str(src)], out_dir=str(tmp_path / "out"), build={"mode": "llm"},
                            llm=LLMConfig(base_url=server.base_url, model="m", max_retries=0))
    first = asyncio.run(build_discriminator_data(params))
    assert first.failed_items == 2 and not (tmp_path / "out" / "done.jsonl").exists()
    server.default = Reply(content="A harbor at dawn, quiet and grey.")
    before = server.count
    second = asyncio.run(build_discriminator_data(params))
    assert server.count > before and second.failed_items == 0
    assert len((tmp_path / "out" / "done.jsonl").read_text().splitlines()) == 2
