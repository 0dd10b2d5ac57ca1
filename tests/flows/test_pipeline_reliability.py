"""Cached pipeline stages verify their outputs; the temporary Prefect API dies with `rtt pipeline run`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flows.test_pipeline_flow import tiny_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.prefect
def test_a_corrupt_cached_output_is_recomputed_not_reused(
    prefect_harness, tiny_bert_dir, tiny_policy_dir, tmp_path, monkeypatch
):
    from flows.pipeline import rtt_pipeline

    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    run_dir = tmp_path / "run"
    params = tiny_params(run_dir, tiny_bert_dir, tiny_policy_dir, stop_after="disc-train")
    first = rtt_pipeline(params)
    assert first.stage("disc-train").status == "ran"
    spans = run_dir / "data" / "spans.parquet"
    good = spans.read_bytes()
    spans.write_bytes(good[: len(good) // 2])  # half of the file: a torn copy
    again = rtt_pipeline(params)
    status = {s.stage: s.status for s in again.stages}
    assert status["data"] == "ran"  # not "cached" over a broken file
    assert spans.read_bytes() == good
    assert status["disc-train"] == "cached"  # the rebuilt data is identical: nothing downstream reruns
    # a readable but changed output (fingerprint mismatch) is recomputed too
    report = run_dir / "rubrics" / "report.json"
    report.write_text(report.read_text().replace('"items"', '"items" ', 1))
    third = rtt_pipeline(params)
    assert third.stage("rubrics").status == "ran"


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_kill9_of_pipeline_run_takes_its_temporary_prefect_api_down(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PYTHONPATH=str(ROOT), PREFECT_HOME=str(tmp_path / "prefect-home"), HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from flows.cli import main; main()",
            "pipeline",
            "run",
            "--config",
            str(ROOT / "configs" / "demo.yaml"),
            "--run-dir",
            str(tmp_path / "run"),
            "--stop-after",
            "data",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = None
    deadline = time.monotonic() + 180
    while server is None and time.monotonic() < deadline and proc.poll() is None:
        server = next((c for c in _children(proc.pid) if "prefect.server.api.server" in _cmdline(c)), None)
        time.sleep(0.1)
    assert server is not None, "no temporary Prefect API was started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 15
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    still = _alive(server)
    if still:
        os.kill(server, signal.SIGKILL)
    assert not still, "the temporary Prefect API outlived `rtt pipeline run`"


def test_a_stage_failure_is_one_error_line_not_one_per_logger():
    import logging

    from rich.console import Console
    from rich.progress import Progress

    from flows.cli.pipeline import _StageHandler

    console = Console(record=True, width=200)
    with Progress(console=console, transient=True) as progress:
        overall = progress.add_task("x", total=3)
        handler = _StageHandler.make(progress, overall, console, ["data", "disc-train"], verbose=False)
        err = "ArrowInvalid: Parquet file size is 0 bytes"
        for name in ("prefect.task_runs", "prefect.flow_runs", "prefect.flow_runs", "prefect.engine"):
            handler.emit(
                logging.LogRecord(name, logging.ERROR, __file__, 1, f"Finished in state Failed: {err}", None, None)
            )
        handler.emit(logging.LogRecord("p", logging.INFO, __file__, 1, "[stage] disc-train start", None, None))
        handler.emit(
            logging.LogRecord(
                "p", logging.ERROR, __file__, 1, f"[stage] disc-train failed after 1.0 s: {err}", None, None
            )
        )
        handler.emit(logging.LogRecord("p", logging.WARNING, __file__, 1, "[verify] data: x is unreadable", None, None))
    text = console.export_text()
    assert text.count("ArrowInvalid") == 0  # said once, by the command's final error line
    assert "disc-train" in text and "failed" in text and "[verify] data" in text
