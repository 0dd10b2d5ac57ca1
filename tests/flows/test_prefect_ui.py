"""The artifacts render in the REAL Prefect UI: a real server, the real flows publishing their artifacts, and
headless Chromium opening every artifact page: no broken image, no table cell cut off by its frame, no link
relative to the UI's address (scripts/prefect_ui.py). Screenshots land in the test's folder (and in
$RTT_UI_SHOTS when set, for the README)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    from tests.helpers.prefect_server import start_prefect_server

    server = start_prefect_server(tmp_path_factory.mktemp("prefect-ui-server"))
    yield server
    server.stop()


@pytest.mark.prefect
@pytest.mark.slow
def test_every_artifact_page_renders_without_broken_images_or_cut_off_cells(prefect_server, tmp_path):
    from tests.helpers.scripts import load_script

    prefect_ui = load_script("prefect_ui")  # scripts/prefect_ui.py (and the Browser of scripts/labelstudio_browser.py)
    PROBLEMS_JS, check_artifacts, Browser = prefect_ui.PROBLEMS_JS, prefect_ui.check_artifacts, prefect_ui.Browser

    if not shutil.which("chromium"):
        pytest.fail("chromium not found: apt-get install -y chromium")
    r = subprocess.run(
        [sys.executable, str(ROOT / "tests/helpers/ui_report_flow.py"), str(tmp_path / "run")],
        env=prefect_server.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rubric_run, data_run, report_run = r.stdout.split()[-3:]
    shots = tmp_path / "shots"
    found = {}
    for run in (rubric_run, data_run, report_run):
        found.update(asyncio.run(check_artifacts(prefect_server.url, run, shots)))
    assert {
        "rubric-build-ui-check",
        "rubric-build-ui-check-report",
        "disc-data-data",
        "disc-data-data-report",
        "rtt-pipeline-ui-check",
        "rtt-pipeline-ui-check-stages",
        "rtt-pipeline-ui-check-discriminator",
    } <= set(found)
    for key, page in found.items():
        assert page["text"] > 200 and (page["cells"] or page["images"]), (key, page)  # the page did render
        assert page["broken"] == [] and page["clipped"] == [] and page["relative"] == [], (key, page)
    assert found["rtt-pipeline-ui-check"]["images"] == 3  # summary, loss curve, precision-recall: embedded

    async def run_page():  # the flow run's Artifacts tab (cards with previews)
        async with Browser(1400, 1000) as b:
            await b.open(f"{prefect_server.url}/runs/flow-run/{report_run}", {})
            await b.click_text("li.p-tab", "Artifacts")
            await b.wait_for("document.body.innerText.includes('rtt-pipeline-ui-check-stages')", 60)
            await asyncio.sleep(2)
            await b.screenshot(shots / "flow-run-artifacts.png")
            return await b.eval(PROBLEMS_JS)

    import json

    page = json.loads(asyncio.run(run_page()))
    assert page["broken"] == [], page
    if os.environ.get("RTT_UI_SHOTS"):
        dest = Path(os.environ["RTT_UI_SHOTS"])
        dest.mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy(png, dest / png.name)


def test_fit_markdown_wraps_long_cells_and_splits_wide_tables_keeping_the_rest():
    from flows.artifacts import cell_px, fit_markdown, fit_rows, wrap_text

    wrapped = wrap_text("ifeval:length_constraints:number_words", 24)
    assert wrapped == "ifeval:length_\nconstraints:number_words" and all(len(x) <= 24 for x in wrapped.split("\n"))
    assert wrap_text("short") == "short"
    head = "| family | " + " | ".join(f"column number {i}" for i in range(8)) + " |"
    md = (
        "# Title\n\nsome text | with a pipe\n\n"
        + head
        + "\n|"
        + "---|" * 9
        + "\n"
        + "| ifeval:detectable_format:number_highlighted_sections | "
        + " | ".join(["1"] * 8)
        + " |\n\nafter\n"
    )
    out = fit_markdown(md)
    assert out.startswith("# Title\n\nsome text | with a pipe\n\n") and out.endswith("\n\nafter\n")
    tables = [b for b in out.split("\n\n") if b.startswith("| family")]
    assert len(tables) >= 2 and all("ifeval:detectable_format:number_<br>highlighted_sections" in t for t in tables)
    assert sum(t.split("\n")[0].count("column number") for t in tables) == 8  # no column lost
    for t in tables:
        assert sum(cell_px(c) for c in t.split("\n")[0].strip("|").split("|")) <= 760
    rows = [{"family": "x" * 40, **{f"column number {i}": i for i in range(8)}}]
    parts = fit_rows(rows)
    assert len(parts) >= 2 and all(p[0]["family"] == "x" * 32 + "\n" + "x" * 8 for p in parts)
    assert {k for p in parts for k in p[0]} == set(rows[0])
