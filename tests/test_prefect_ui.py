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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    from prefect_server import start_prefect_server

    server = start_prefect_server(tmp_path_factory.mktemp("prefect-ui-server"))
    yield server
    server.stop()


@pytest.mark.prefect
@pytest.mark.slow
def test_every_artifact_page_renders_without_broken_images_or_cut_off_cells(prefect_server, tmp_path):
    from prefect_ui import PROBLEMS_JS, check_artifacts

    from labelstudio_browser import Browser

    if not shutil.which("chromium"):
        pytest.fail("chromium not found: apt-get install -y chromium")
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "ui_report_flow.py"), str(tmp_path / "run")],
                       env=prefect_server.env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rubric_run, report_run = r.stdout.split()[-2:]
    shots = tmp_path / "shots"
    found = {**asyncio.run(check_artifacts(prefect_server.url, rubric_run, shots)),
             **asyncio.run(check_artifacts(prefect_server.url, report_run, shots))}
    assert {"rubric-build-ui-check", "rubric-build-ui-check-report", "rtt-pipeline-ui-check",
            "rtt-pipeline-ui-check-stages", "rtt-pipeline-ui-check-discriminator"} <= set(found)
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
