"""Real processes killed with SIGKILL mid-run, then resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-c", "from flows.cli import main; main()"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", "HF_HUB_OFFLINE": "1"}


def _wait_for(predicate, proc: subprocess.Popen, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"process ended (rc {proc.returncode}) before {what}:\n{out[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow  # CLI subprocesses build negatives, killed and resumed (~9 s on a busy 2-core box)
def test_kill9_during_data_negatives_then_resume_gives_the_uninterrupted_result(tmp_path, ifeval_path):
    from discriminator.data.schema import read_rows

    args = [
        "data",
        "negatives",
        "--items",
        str(ifeval_path),
        "--max-items",
        "40",
        "--val-frac",
        "0.1",
        "--test-frac",
        "0.1",
    ]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*CLI, *args, "--out", str(killed)], env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    _wait_for(lambda: _lines(killed / "done.jsonl") >= 6, proc, 120, "6 items done")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    n_done = _lines(killed / "done.jsonl")
    assert 6 <= n_done < 40, "the kill came too late to test a resume"
    assert not (killed / "spans.parquet").exists()

    resumed = subprocess.run(
        [*CLI, *args, "--out", str(killed)], env=_env(), capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed)" in resumed.stdout and "(0 resumed)" not in resumed.stdout
    clean = tmp_path / "clean"
    fresh = subprocess.run([*CLI, *args, "--out", str(clean)], env=_env(), capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr

    def rows(out: Path):
        return sorted(
            (r.id, r.response, tuple(map(tuple, r.char_spans)), r.split) for r in read_rows(out / "spans.parquet")
        )

    assert rows(killed) == rows(clean)
    assert _lines(killed / "done.jsonl") == 40  # each item exactly once: the killed run's items were not redone


@pytest.mark.slow  # CLI subprocesses train a discriminator, killed and resumed (~12 s on a busy 2-core box)
def test_kill9_during_discriminator_training_resumes_from_its_checkpoint(tmp_path, tiny_bert_dir):
    import json

    from discriminator.data.schema import write_rows
    from discriminator.splits import assign_splits
    from discriminator.synthetic import toy_rows

    data = tmp_path / "rows.parquet"
    write_rows(data, assign_splits(toy_rows(60, seed=0), 0.2, 0.2, seed=0))
    run = tmp_path / "run"
    (run).mkdir()
    (run / "train_summary.json").write_text('{"global_step": 99}')  # left by an earlier finished run
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
        "--max-steps",
        "30",
        "--eval-steps",
        "3",
        "--set",
        "logging_steps=1",
        "--set",
        "save_total_limit=3",
        "--overwrite",
    ]
    env = {**_env(), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def checkpointed() -> bool:
        return any((p / "trainer_state.json").exists() for p in run.glob("checkpoint-*"))

    _wait_for(checkpointed, proc, 240, "a checkpoint")
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert not (run / "train_summary.json").exists()  # the stale summary went when the new run started
    steps = sorted(int(p.name.split("-")[1]) for p in run.glob("checkpoint-*") if (p / "trainer_state.json").exists())
    assert steps and steps[-1] < 30, "the kill came too late to test a resume"

    from flows.pipeline import disc_restart

    assert disc_restart(run, (run / "config.yaml").read_text(), "up") == {"resume": False, "overwrite": True}
    # (no upstream mark in a CLI run: the pipeline would start over; the CLI resumes on request)
    done = subprocess.run(
        [*CLI, *[a for a in args if a != "--overwrite"], "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["global_step"] == 30
    assert summary["resumed_from_step"] >= steps[-1] > 0  # not step 0
