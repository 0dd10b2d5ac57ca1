"""Path-or-hub resolution, staged output folders, the duplicate rule, empty inputs, BOM."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from rubrics import build as build_mod
from rubrics.build import build_rubric_dataset
from rubrics.importers import EmptyInputError, import_all, import_items
from rubrics.importers.readers import looks_like_hub_id, resolve_source
from rubrics.io import RecordError, staged_dir

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
GOOD = {"key": 1, "prompt": "Write a poem.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}


def lines(path: Path, rows: list[dict], prefix: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(prefix + b"".join((json.dumps(r) + "\n").encode() for r in rows))
    return path


# ----- 1. a missing relative path is a path, not a hub id


def test_only_a_bare_owner_name_is_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    assert looks_like_hub_id("google/IFEval")
    for p in ("in/does_not_exist.jsonl", "in/x", "./a/b", "a/b.parquet", "a/b/c", "/abs/x"):
        assert not looks_like_hub_id(p), p
    with pytest.raises(FileNotFoundError, match="in/does_not_exist.jsonl: no such file"):
        resolve_source("in/does_not_exist.jsonl")


@pytest.mark.parametrize("cmd", ["rubrics", "data"])
def test_missing_relative_path_fails_at_once_in_every_command(tmp_path, monkeypatch, cmd):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    args = (
        ["rubrics", "build", "in/does_not_exist.jsonl", "--out", "o"]
        if cmd == "rubrics"
        else ["data", "negatives", "--items", "in/does_not_exist.jsonl", "--out", "o"]
    )
    t0 = time.monotonic()
    res = CliRunner().invoke(app, args)
    assert time.monotonic() - t0 < 5
    assert res.exit_code == 1, res.output
    assert "in/does_not_exist.jsonl: no such file" in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


# ----- 2/3. the output folder is replaced as a whole


def test_rebuild_replaces_the_whole_folder_and_removes_orphaned_staging(tmp_path):
    out = tmp_path / "out"
    build_rubric_dataset([str(DEMO / "items.jsonl")], out, strict=True, export_rtt=True)
    assert (out / "rtt" / "train.jsonl").exists()
    orphan = tmp_path / ".staging-out-999999-deadbeef"  # a killed run's staging folder (pid gone)
    orphan.mkdir()
    (orphan / "train.jsonl").write_text("partial")
    build_rubric_dataset([str(DEMO / "items.jsonl")], out, strict=True)  # no --rtt this time
    assert not (out / "rtt").exists(), "files of the earlier build stay beside the new dataset"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_file_where_a_subfolder_goes_does_not_leave_a_mixed_folder(tmp_path):
    out = tmp_path / "out"
    build_rubric_dataset([str(DEMO / "items.jsonl")], out, strict=True)
    (out / "rtt").write_text("a regular file where the rtt/ folder goes")
    report = build_rubric_dataset(
        [str(DEMO / "items.jsonl"), str(DEMO / "rar_style.jsonl")], out, strict=True, export_rtt=True
    )
    assert (out / "rtt" / "train.jsonl").is_file()
    assert json.loads((out / "report.json").read_text())["items"] == report.items


def test_a_non_empty_folder_the_tool_did_not_write_is_refused(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(OSError, match="did not write"):
        build_rubric_dataset([str(DEMO / "items.jsonl")], out, strict=True)
    assert (out / "notes.txt").read_text() == "precious"


def test_write_errors_name_out_not_the_staging_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"

    def disk_full(path, items):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(build_mod, "write_items", disk_full)
    with pytest.raises(OSError) as exc:
        build_rubric_dataset([str(DEMO / "items.jsonl")], out, strict=True)
    assert str(out) in str(exc.value) and ".staging" not in str(exc.value)
    assert "No space left" in str(exc.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_staged_dir_restores_the_old_folder_moved_aside_by_a_killed_swap(tmp_path):
    out = tmp_path / "out"
    aside = tmp_path / ".staging-out-999999-cafe-old"  # killed between "move old aside" and "move new in"
    aside.mkdir()
    (aside / "report.json").write_text("{}")
    with staged_dir(out) as st:
        assert (out / "report.json").exists()  # restored before the new build starts
        (st / "report.json").write_text('{"new": 1}')
    assert json.loads((out / "report.json").read_text()) == {"new": 1}


# ----- 5. one duplicate rule everywhere


def test_conflicting_duplicate_ids_are_an_error_naming_both_lines_in_data_negatives(tmp_path):
    src = lines(tmp_path / "items.jsonl", [GOOD, {**GOOD, "prompt": "Write a different poem."}])
    with pytest.raises(RecordError) as exc:
        import_items(str(src))
    msg = str(exc.value)
    assert f"{src}:2" in msg and f"{src}:1" in msg
    res = CliRunner().invoke(app, ["data", "negatives", "--items", str(src), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "duplicate item id" in res.output
    res = CliRunner().invoke(app, ["data", "negatives", "--items", str(src), "--out", str(tmp_path / "o"), "--lenient"])
    assert res.exit_code == 0, res.output
    assert "1 records left out" in res.output and f"{src}:2" in res.output


def test_exact_duplicates_are_dropped_the_same_way_everywhere(tmp_path):
    src = lines(tmp_path / "items.jsonl", [GOOD, GOOD])
    got = import_all([str(src)])
    assert len(got.items) == 1 and got.duplicates == 1


# ----- rough edges: empty input, BOM


def test_empty_input_file_warns_and_exits_non_zero_unless_allowed(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(EmptyInputError, match="no records"):
        build_rubric_dataset([str(empty)], tmp_path / "o", strict=True)
    assert not (tmp_path / "o").exists()
    res = CliRunner().invoke(app, ["rubrics", "build", str(empty), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "--allow-empty" in res.output
    res = CliRunner().invoke(app, ["rubrics", "build", str(empty), "--out", str(tmp_path / "o"), "--allow-empty"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["data", "negatives", "--items", str(empty), "--out", str(tmp_path / "d")])
    assert res.exit_code == 1 and "no records" in res.output
    res = CliRunner().invoke(
        app, ["data", "negatives", "--items", str(empty), "--out", str(tmp_path / "d"), "--allow-empty"]
    )
    assert res.exit_code == 0, res.output


def test_utf8_bom_is_accepted(tmp_path):
    src = lines(tmp_path / "bom.jsonl", [GOOD, {**GOOD, "key": 2, "prompt": "Another poem."}], prefix=b"\xef\xbb\xbf")
    assert [it.id for it in import_items(str(src))] == ["ifeval:1", "ifeval:2"]
    report = build_rubric_dataset([str(src)], tmp_path / "o", strict=False)
    assert report.items == 2 and report.rejected_total == 0
    arr = tmp_path / "bom.json"
    arr.write_bytes(b"\xef\xbb\xbf" + json.dumps([GOOD]).encode())
    assert len(import_items(str(arr))) == 1
    from rubrics.io import iter_jsonl

    assert [o["key"] for _, o in iter_jsonl(src)] == [1, 2]


def test_orphans_of_live_processes_are_kept(tmp_path):
    live = tmp_path / f".staging-out-{os.getpid()}-abcd"
    live.mkdir()
    with staged_dir(tmp_path / "out") as st:
        (st / "x").write_text("1")
    assert live.exists()
