"""Issue 11: real processes killed with SIGKILL mid-run, then resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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


def test_kill9_during_data_negatives_then_resume_gives_the_uninterrupted_result(tmp_path, ifeval_path):
    from discriminator.data.schema import read_rows

    args = ["data", "negatives", "--items", str(ifeval_path), "--max-items", "40", "--val-frac", "0.1",
            "--test-frac", "0.1"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*CLI, *args, "--out", str(killed)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    _wait_for(lambda: _lines(killed / "done.jsonl") >= 6, proc, 120, "6 items done")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    n_done = _lines(killed / "done.jsonl")
    assert 6 <= n_done < 40, "the kill came too late to test a resume"
    assert not (killed / "spans.parquet").exists()

    resumed = subprocess.run([*CLI, *args, "--out", str(killed)], env=_env(), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resumed)" in resumed.stdout and "(0 resumed)" not in resumed.stdout
    clean = tmp_path / "clean"
    fresh = subprocess.run([*CLI, *args, "--out", str(clean)], env=_env(), capture_output=True, text=True,
                           timeout=300)
    assert fresh.returncode == 0, fresh.stderr

    def rows(out: Path):
        return sorted((r.id, r.response, tuple(map(tuple, r.char_spans)), r.split) for r in read_rows(out / "spans.parquet"))

    assert rows(killed) == rows(clean)
    assert _lines(killed / "done.jsonl") == 40  # each item exactly once: the killed run's items were not redone
