"""Non-finite numbers, corrupt checkpoints, --resample, orphaned pool workers and the rough edges."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from rubrics.exporters import read_items
from rubrics.importers import import_items
from rubrics.io import RecordError


def _lines(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(t + "\n" for t in texts))
    return path


# ----- 1. NaN / Infinity numbers are refused at the schema boundary, in every importer


def _hb(points: str, pid: str) -> str:
    return (
        f'{{"prompt": [{{"role": "user", "content": "Q {pid}?"}}], '
        '"rubrics": [{"criterion": "Says A.", "points": 3}, '
        f'{{"criterion": "Says B.", "points": {points}}}], "prompt_id": "{pid}"}}'
    )


@pytest.mark.parametrize("points", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_healthbench_non_finite_points_fail_naming_file_line_and_field(tmp_path, points):
    src = _lines(tmp_path / "hb.jsonl", [_hb("2", "p1"), _hb(points, "p2")])
    res = CliRunner().invoke(app, ["rubrics", "build", str(src), "--out", str(tmp_path / "out")])
    assert res.exit_code == 1, res.output
    assert f"{src}:2: field 'rubrics[1].weight': must be a finite number" in res.output
    assert not (tmp_path / "out").exists()


def test_lenient_build_skips_the_record_with_a_note_and_writes_a_readable_dataset(tmp_path):
    src = _lines(tmp_path / "hb.jsonl", [_hb("2", "p1"), _hb("NaN", "p2"), _hb("Infinity", "p3")])
    res = CliRunner().invoke(app, ["rubrics", "build", str(src), "--out", str(tmp_path / "out"), "--lenient"])
    assert res.exit_code == 0, res.output
    assert "2 records rejected" in res.output and "rubrics[1].weight" in res.output
    items = []
    for f in sorted((tmp_path / "out").glob("*.jsonl")) + sorted((tmp_path / "out").glob("*.parquet")):
        items += read_items(f)
    assert {it.id for it in items} == {"healthbench:p1"}  # 1 item, in jsonl and parquet alike
    for f in (tmp_path / "out").glob("*.parquet"):
        weights = [r["weight"] for row in pq.read_table(f).to_pylist() for r in row["rubrics"]]
        assert weights == [] or weights == [3.0, 2.0]


@pytest.mark.parametrize(
    "record, field, reason",
    [
        (
            '{"question": "Q?", "rubric": [{"title": "t", "description": "Says A.", "weight": NaN}]}',
            "rubrics[0].weight",
            "finite",
        ),
        (
            '{"question": "Q?", "rubric": [{"title": "t", "description": "Says A.", "weight": "inf"}]}',
            "rubrics[0].weight",
            "finite",
        ),
        (
            '{"id": "a", "prompt": "Write.", "rubrics": [{"id": "r", "text": "t", "verifier": {"kind": "rule", '
            '"family": "ifeval", "rule_id": "length_constraints:number_words", '
            '"kwargs": {"num_words": NaN, "relation": "less than"}}}]}',
            "rubrics[0].verifier.kwargs.num_words",
            "finite",
        ),
        (
            '{"id": "a", "prompt": "Write.", "meta": {"scores": [1, Infinity]}, "rubrics": [{"id": "r", "text": "t"}]}',
            "meta.scores[1]",
            "finite",
        ),
        (
            '{"key": 1, "prompt": "Write.", "instruction_id_list": ["length_constraints:number_words"], '
            '"kwargs": [{"num_words": NaN, "relation": "less than"}]}',
            "instruction_id_list[0]",
            "NaN",
        ),
    ],
)
def test_every_importer_refuses_non_finite_numbers_naming_the_field(tmp_path, record, field, reason):
    src = _lines(tmp_path / "in.jsonl", [record])
    with pytest.raises(RecordError) as err:
        import_items(str(src))
    assert err.value.line == 1 and err.value.field == field and reason in err.value.reason


def test_reading_a_canonical_file_with_a_non_finite_weight_names_line_and_field(tmp_path):
    good = '{"id": "a", "prompt": "Write.", "rubrics": [{"id": "r", "text": "t", "weight": 1}]}'
    bad = '{"id": "b", "prompt": "Write.", "rubrics": [{"id": "r", "text": "t", "weight": NaN}]}'
    with pytest.raises(RecordError, match=r"test.jsonl:2: field 'rubrics\[0\].weight'"):
        read_items(_lines(tmp_path / "test.jsonl", [good, bad]))


# ----- 2. a corrupt newest checkpoint: the newest intact one is used, the skipped one named


def _fake_checkpoint(folder: Path, *, truncate: int = 0) -> Path:
    """A checkpoint folder with a real safetensors file (and a torch-format zip), optionally cut short."""
    import zipfile

    import numpy as np
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    save_file({"w": np.arange(64, dtype=np.float32).reshape(8, 8)}, str(folder / "model.safetensors"))
    with zipfile.ZipFile(folder / "optimizer.pt", "w") as zf:
        zf.writestr("archive/data.pkl", b"x" * 100)
    (folder / "trainer_state.json").write_text('{"global_step": 1}')
    if truncate:
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-truncate])
    return folder


def test_checkpoint_checks_find_truncated_files_and_bad_state(tmp_path):
    from discriminator.checkpoints import checkpoint_problem

    assert checkpoint_problem(_fake_checkpoint(tmp_path / "ok")) is None
    assert "model.safetensors: truncated" in checkpoint_problem(_fake_checkpoint(tmp_path / "cut", truncate=10))
    head = _fake_checkpoint(tmp_path / "head")
    (head / "model.safetensors").write_bytes((head / "model.safetensors").read_bytes()[:20])
    assert "model.safetensors: truncated" in checkpoint_problem(head)
    opt = _fake_checkpoint(tmp_path / "opt")
    (opt / "optimizer.pt").write_bytes((opt / "optimizer.pt").read_bytes()[:50])
    assert "optimizer.pt" in checkpoint_problem(opt)
    state = _fake_checkpoint(tmp_path / "state")
    (state / "trainer_state.json").write_text('{"global_st')
    assert "trainer_state.json: not valid JSON" == checkpoint_problem(state)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "trainer_state.json").write_text("{}")
    assert "no model weights" in checkpoint_problem(empty)


def test_newest_intact_checkpoint_skips_and_sets_aside_the_broken_ones(tmp_path):
    from discriminator.checkpoints import checkpoints, newest_intact, resume_point

    _fake_checkpoint(tmp_path / "checkpoint-2")
    _fake_checkpoint(tmp_path / "checkpoint-4", truncate=10)
    cut = _fake_checkpoint(tmp_path / "checkpoint-6")
    (cut / "trainer_state.json").unlink()
    looked = resume_point(tmp_path, "last")  # the policy's way: decide, move nothing
    assert looked.path.name == "checkpoint-2" and [p.name for p, _ in looked.skipped] == [
        "checkpoint-6",
        "checkpoint-4",
    ]
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-4", "checkpoint-6"]
    choice = newest_intact(tmp_path)
    assert choice.path.name == "checkpoint-2" and choice.step == 2
    assert (
        "checkpoint-4: model.safetensors: truncated" in choice.note() and "resuming from checkpoint-2" in choice.note()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "corrupt-checkpoint-4"]
    with pytest.raises(
        ValueError,
        match=r"corrupt-checkpoint-4: resume_from_checkpoint: not an intact checkpoint: "
        r"model.safetensors: truncated",
    ):
        resume_point(tmp_path, str(tmp_path / "corrupt-checkpoint-4"))
    assert resume_point(tmp_path, None).path is None and resume_point(tmp_path, "false").path is None


def test_disc_train_resume_with_a_truncated_newest_checkpoint_uses_the_older_one(tiny_bert_dir, tmp_path):
    from discriminator.data.schema import write_rows
    from discriminator.splits import assign_splits
    from discriminator.synthetic import toy_rows

    data = tmp_path / "rows.parquet"
    write_rows(data, assign_splits(toy_rows(40, seed=0), 0.2, 0.2, seed=0))
    run = tmp_path / "run"
    args = [
        "disc",
        "train",
        "--config",
        "tiny",
        "--data",
        str(data),
        "--backbone",
        str(tiny_bert_dir),
        "--out",
        str(run),
        "--eval-steps",
        "2",
        "--set",
        "save_total_limit=3",
    ]
    res = CliRunner().invoke(app, [*args, "--max-steps", "4"])
    assert res.exit_code == 0, res.output
    weights = run / "checkpoint-4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # torn: "incomplete metadata"
    res = CliRunner().invoke(app, [*args, "--max-steps", "6", "--resume"])
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 2 and summary["global_step"] == 6
    assert len(summary["skipped_checkpoints"]) == 1
    assert summary["skipped_checkpoints"][0].startswith("checkpoint-4: model.safetensors: truncated")
    assert (run / "corrupt-checkpoint-4" / "model.safetensors").is_file()
    assert {p.name for p in run.glob("checkpoint-*")} >= {"checkpoint-4", "checkpoint-6"}


def test_pipeline_does_not_resume_from_a_corrupt_checkpoint(tmp_path):
    from flows.pipeline import disc_restart

    out = tmp_path / "disc"
    assert disc_restart(out, "cfg", "up") == {}
    (out / "config.yaml").write_text("cfg")
    _fake_checkpoint(out / "checkpoint-4", truncate=10)
    assert disc_restart(out, "cfg", "up") == {"resume": False, "overwrite": True}
    _fake_checkpoint(out / "checkpoint-2")
    assert disc_restart(out, "cfg", "up") == {"resume": True, "overwrite": False}


def test_policy_resume_skips_a_truncated_newest_checkpoint(
    tiny_policy_dir, tiny_decoder_disc_dir, ifeval_path, tmp_path
):
    cfg, out = tmp_path / "run.yaml", tmp_path / "out"
    cfg.write_text(
        json.dumps(
            {
                "name": "tiny",
                "model": {"name_or_path": str(tiny_policy_dir)},
                "data": {"train": str(ifeval_path), "format": "ifeval", "limit": 2},
                "rtt": {"beta": 0.5, "discriminator": str(tiny_decoder_disc_dir), "heatmap_every": 0},
                "grpo": {
                    "output_dir": str(out),
                    "use_cpu": True,
                    "bf16": False,
                    "gradient_checkpointing": False,
                    "max_steps": 2,
                    "per_device_train_batch_size": 4,
                    "num_generations": 4,
                    "max_completion_length": 8,
                    "save_strategy": "steps",
                    "save_steps": 1,
                    "logging_steps": 1,
                },
            }
        )
    )
    res = CliRunner().invoke(app, ["train", "policy", "--config", str(cfg), "--no-save"])
    assert res.exit_code == 0, res.output
    weights = out / "checkpoint-2" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    res = CliRunner().invoke(
        app,
        [
            "train",
            "policy",
            "--config",
            str(cfg),
            "--no-save",
            "--set",
            "grpo.max_steps=3",
            "--set",
            "grpo.resume_from_checkpoint=last",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert Path(summary["resumed_from"]).name == "checkpoint-1" and summary["steps"] == 3
    assert [s.split(":")[0] for s in summary["skipped_checkpoints"]] == ["checkpoint-2"]
    assert "model.safetensors: truncated" in summary["skipped_checkpoints"][0]
    res = CliRunner().invoke(
        app,
        [
            "train",
            "policy",
            "--config",
            str(cfg),
            "--no-save",
            "--set",
            f"grpo.resume_from_checkpoint={tmp_path / 'nowhere'}",
        ],
    )
    assert res.exit_code == 1 and "nowhere: resume_from_checkpoint: no such checkpoint folder" in res.output


# ----- 3. --resample rebuilds every pair made from the discarded samples


def test_resample_rebuilds_the_pairs_of_resampled_items(scripted_openai, tmp_path):
    from discriminator.data.schema import read_rows
    from rubrics.schema import Rubric, RubricItem, RuleVerifier
    from tests.helpers.llm_server import Reply

    items = [
        RubricItem(
            id=f"t:{i}",
            prompt=f"Write about topic {i} without commas.",
            rubrics=[
                Rubric(
                    id=f"t:{i}#0",
                    text="no commas",
                    verifier=RuleVerifier(family="ifeval", rule_id="punctuation:no_comma"),
                )
            ],
        )
        for i in range(3)
    ]
    server = scripted_openai(
        responder=lambda body, n: Reply(
            content=f"a plain answer sampled at temperature {body['temperature']} number {n}"
        )
    )
    src = tmp_path / "items.jsonl"
    src.write_text("".join(it.model_dump_json() + "\n" for it in items))
    out = tmp_path / "o"
    base = [
        "data",
        "negatives",
        "-i",
        str(src),
        "-o",
        str(out),
        "--positives-from",
        "policy",
        "--policy-base-url",
        server.base_url,
        "-k",
        "1",
        "--val-frac",
        "0",
        "--test-frac",
        "0",
    ]
    res = CliRunner().invoke(app, [*base, "--temperature", "0.8"])
    assert res.exit_code == 0, res.output
    assert {r.response for r in read_rows(out / "spans.parquet")} and all(
        "temperature 0.8" in r.response for r in read_rows(out / "spans.parquet")
    )
    res = CliRunner().invoke(app, [*base, "--temperature", "0.3", "--resample"])
    assert res.exit_code == 0, res.output
    assert "3 items (0 resumed)" in res.output and "rebuilt 3 item records" in res.output
    rows = read_rows(out / "spans.parquet")
    assert {r.item_id for r in rows} == {it.id for it in items}
    assert all("temperature 0.3" in r.response for r in rows)  # no pair of the discarded samples is left
    res = CliRunner().invoke(app, [*base, "--temperature", "0.3"])  # nothing changed: all resumed
    assert res.exit_code == 0 and "3 items (3 resumed)" in res.output and "rebuilt" not in res.output


# ----- 4. pool workers die with a killed command


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaps has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill9_of_a_multi_worker_build_leaves_no_pool_worker(tmp_path, ifeval_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from flows.cli import main; main()",
            "data",
            "negatives",
            "--items",
            str(ifeval_path),
            "--max-items",
            "200",
            "--workers",
            "2",
            "--out",
            str(out),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    deadline = time.monotonic() + 120
    while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = [c for c in _children(proc.pid) if _alive(c)]
    assert len(workers) == 2 and proc.poll() is None, "the pool did not start"
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "pool workers outlived the killed command"
    finally:
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)


# ----- 5. rough edges


FLOW_UNDER_TEMPORARY_API = """
import time
from prefect import flow, get_run_logger
from flows.prefect_local import temporary_api

@flow
def chatty():
    for i in range(50):
        get_run_logger().info("line %d", i)

with temporary_api():
    chatty()
print("SUMMARY", flush=True)
"""


@pytest.mark.slow  # a subprocess starts Prefect's temporary API server for one flow (~11 s on a busy 2-core box)
def test_a_flow_under_the_temporary_api_exits_promptly_without_a_logging_error(tmp_path):
    import os
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_LOGGING_TO_API_ENABLED": "true",
    }  # as a user has it (the test session turns it off)
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", FLOW_UNDER_TEMPORARY_API],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "SUMMARY"
        t_summary = time.monotonic()
        _, err = proc.communicate(timeout=120)
        lingered = time.monotonic() - t_summary
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Error logging to API" not in err and "All connection attempts failed" not in err
    assert lingered < 5, f"{lingered:.1f} s between the summary and the exit"


def test_llm_retries_applies_to_the_policy_endpoint(scripted_openai, tmp_path):
    from rubrics.schema import Rubric, RubricItem
    from tests.helpers.llm_server import Reply

    server = scripted_openai(default=Reply(status=500))
    src = tmp_path / "items.jsonl"
    src.write_text(
        RubricItem(id="t:0", prompt="Write.", rubrics=[Rubric(id="t:0#0", text="Is short.")]).model_dump_json() + "\n"
    )
    res = CliRunner().invoke(
        app,
        [
            "data",
            "negatives",
            "-i",
            str(src),
            "-o",
            str(tmp_path / "o"),
            "--positives-from",
            "policy",
            "--policy-base-url",
            server.base_url,
            "-k",
            "1",
            "--llm-retries",
            "1",
        ],
    )
    assert res.exit_code == 1 and "could not be sampled" in res.output
    assert server.count == 2  # the first attempt and one retry (the default was 6 attempts)


def test_experiment_dry_run_checks_the_discriminator_folder(tmp_path):
    missing = tmp_path / "no-disc"
    res = CliRunner().invoke(app, ["experiment", "--config", "cpu", "--dry-run", "--set", f"discriminator={missing}"])
    assert res.exit_code == 1
    assert f"discriminator: {missing}: no such folder" in res.output and "'rtt'" in res.output
    missing.mkdir()
    res = CliRunner().invoke(app, ["experiment", "--config", "cpu", "--dry-run", "--set", f"discriminator={missing}"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        app,
        [
            "experiment",
            "--config",
            "cpu",
            "--dry-run",
            "--arm",
            "grpo-aon",
            "--set",
            f"discriminator={tmp_path / 'still-missing'}",
        ],
    )  # an arm that needs none
    assert res.exit_code == 0, res.output


def test_judge_refuses_a_lone_surrogate_at_read_time_before_any_request(scripted_openai, tmp_path):
    from rubrics.exporters import write_items
    from rubrics.schema import LLMVerifier, Rubric, RubricItem
    from tests.helpers.llm_server import Reply

    server = scripted_openai(default=Reply(content="YES"))
    items = tmp_path / "items.jsonl"
    write_items(
        items,
        [
            RubricItem(
                id="a",
                prompt="Write about cats.",
                rubrics=[Rubric(id="a0", text="Mentions cats.", verifier=LLMVerifier())],
            )
        ],
    )
    resp = tmp_path / "r.jsonl"
    resp.write_text(
        '{"item_id": "a", "response": "Cats purr."}\n{"item_id": "a", "response": "A cat \\ud83c here."}\n'
    )  # the pair \\udf31 is missing
    res = CliRunner().invoke(
        app,
        [
            "rubrics",
            "judge",
            str(items),
            str(resp),
            "--out",
            str(tmp_path / "o"),
            "--llm-base-url",
            server.base_url,
            "--llm-model",
            "m",
            "--llm-retries",
            "0",
        ],
    )
    assert res.exit_code == 1
    assert f"{resp}:2: field 'response': lone surrogate U+D83C at character 6" in res.output
    assert server.count == 0 and not (tmp_path / "o").exists()


def test_a_lone_surrogate_in_an_item_file_names_line_and_field(tmp_path):
    src = _lines(
        tmp_path / "in.jsonl",
        [
            '{"id": "a", "prompt": "Write.", "rubrics": [{"id": "r", "text": "ok"}]}',
            '{"id": "b", "prompt": "Write \\udc00.", "rubrics": [{"id": "r", "text": "t"}]}',
        ],
    )
    with pytest.raises(RecordError) as err:
        import_items(str(src))
    assert (err.value.line, err.value.field) == (2, "prompt") and "lone surrogate U+DC00" in err.value.reason
    assert import_items(
        str(
            _lines(
                tmp_path / "ok.jsonl",
                ['{"id": "c", "prompt": "A flower \\ud83c\\udf31.", "rubrics": [{"id": "r", "text": "t"}]}'],
            )
        )
    )[0].prompt.endswith("\U0001f331.")


def test_unmatched_positives_id_names_the_lenient_hint_once(tmp_path):
    from rubrics.schema import Rubric, RubricItem

    src = tmp_path / "items.jsonl"
    src.write_text(
        RubricItem(id="t:0", prompt="Write.", rubrics=[Rubric(id="t:0#0", text="Is short.")]).model_dump_json() + "\n"
    )
    pos = _lines(tmp_path / "pos.jsonl", ['{"item_id": "nope", "response": "Hi."}'])
    res = CliRunner().invoke(
        app, ["data", "negatives", "-i", str(src), "-o", str(tmp_path / "o"), "--positives", str(pos)]
    )
    assert res.exit_code == 1 and f"{pos}:1: field 'item_id'" in res.output
    assert res.output.count("--lenient") == 1, res.output


@pytest.mark.parametrize(
    "body, ctype",
    [
        (b'{"hello": "world", "id": "x"}', "application/json"),
        (b"<html><body>It works!</body></html>", "text/html"),
        (b"[1, 2]", "application/json"),
    ],
)
def test_review_push_to_a_server_that_is_not_label_studio_says_so(tmp_path, body, ctype):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Any200(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    from discriminator.data.schema import SpanRow, write_rows

    rows = tmp_path / "rows.jsonl"
    write_rows(
        rows,
        [
            SpanRow(
                id="r1",
                item_id="i",
                rubric_id="i#0",
                criteria="Is short.",
                response="Hi.",
                char_spans=[],
                label_source="program",
                split="train",
            )
        ],
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), Any200)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        res = CliRunner(env={"LABEL_STUDIO_API_KEY": "k"}).invoke(
            app, ["review", "push", str(rows), "--url", url, "--project", "p"]
        )
    finally:
        server.shutdown()
        server.server_close()
    assert res.exit_code == 1
    assert f"{url} is not a Label Studio server" in res.output
    assert "Traceback" not in res.output and "validation error" not in res.output.lower()
