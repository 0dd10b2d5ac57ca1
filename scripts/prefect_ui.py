"""Drive the Prefect UI with headless Chromium (DevTools protocol, the Browser of scripts/labelstudio_browser.py).

* ``check``: open every artifact of a flow run and report what does not render: broken images, table cells cut
  off by their table's frame, links relative to the UI's address. Exit code 1 when anything is found.
* ``shot``: screenshot one UI page, waiting for a CSS selector.
* ``readme``: the README's screenshots from a running ``rtt serve``: the run form of train-discriminator, an
  ``rtt-pipeline`` run triggered through the API while it runs (its graph), and the finished run's report.

Needs Debian's ``chromium``.

    .venv/bin/python scripts/prefect_ui.py check --url http://127.0.0.1:4200 --flow-run <id>
    .venv/bin/python scripts/prefect_ui.py shot --url http://127.0.0.1:4200/deployments --wait '.p-table' --out x.png
    rtt serve --port 4200 --run-dir runs/ui &
    .venv/bin/python scripts/prefect_ui.py readme --url http://127.0.0.1:4200 --out docs/img \
        --set 'policy.overrides=["grpo.max_steps=2"]'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from labelstudio_browser import Browser  # noqa: E402

# What a reader of the artifact page would notice: images that did not load, cells whose right edge lies beyond
# the box that clips them (the UI never wraps a cell), and links in rendered markdown that are neither absolute
# nor in-page (a relative path resolves against the UI's own address).
PROBLEMS_JS = r"""
(() => {
  const clipper = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'hidden' || o === 'auto' || o === 'scroll' || o === 'clip') return p;
    }
    return document.documentElement;
  };
  const images = [...document.images];
  const broken = images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src').slice(0, 120));
  const clipped = [...document.querySelectorAll('td, th')].filter(td => {
    const r = td.getBoundingClientRect(), c = clipper(td).getBoundingClientRect();
    return r.width > 0 && r.right > c.right + 1;
  }).map(td => td.textContent.trim().slice(0, 80));
  const relative = [...document.querySelectorAll('.markdown-renderer a[href]')].map(a => a.getAttribute('href'))
    .filter(h => !/^(https?:|mailto:|#)/.test(h));
  return JSON.stringify({images: images.length, broken, clipped, relative,
                         cells: document.querySelectorAll('td').length,
                         text: (document.querySelector('main') || document.body).innerText.length});
})()
"""
# the artifact page is drawn once its data table or markdown is there and every image finished loading
READY_JS = (
    "(() => !!document.querySelector('.artifact-data-table, .markdown-renderer') && "
    "[...document.images].every(i => i.complete))()"
)


def artifacts_of(url: str, flow_run: str) -> list[dict]:
    """The artifacts of a flow run (key, type, id), through the server's REST API."""
    r = httpx.post(f"{url}/api/artifacts/filter", json={"flow_runs": {"id": {"any_": [flow_run]}}}, timeout=30)
    r.raise_for_status()
    return r.json()


async def check_artifacts(
    url: str, flow_run: str, shots: Path | None = None, width: int = 1400, height: int = 1000
) -> dict[str, dict]:
    """``{artifact key: problems}`` for every artifact of ``flow_run``; screenshots under ``shots`` if given."""
    out: dict[str, dict] = {}
    async with Browser(width, height) as b:
        for art in artifacts_of(url, flow_run):
            await b.open(f"{url}/artifacts/artifact/{art['id']}", {})
            await b.wait_for(READY_JS, 60)
            await asyncio.sleep(1.0)  # layout settles (fonts, table widths)
            out[art["key"]] = json.loads(await b.eval(PROBLEMS_JS))
            if shots is not None:
                await b.screenshot(shots / f"{art['key']}.png")
    return out


async def shot(
    url: str, out: Path, wait: str, width: int = 1400, height: int = 1000, settle: float = 2.0, timeout: float = 60.0
) -> None:
    """Screenshot ``url`` once ``wait`` (a CSS selector) is on the page."""
    async with Browser(width, height) as b:
        await b.open(url, {})
        await b.wait_for(f"!!document.querySelector({json.dumps(wait)})", timeout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not await b.eval("[...document.images].every(i => i.complete)"):
            await asyncio.sleep(0.5)
        await asyncio.sleep(settle)
        await b.screenshot(out)


def deployment_id(url: str, name: str) -> str:
    r = httpx.post(f"{url}/api/deployments/filter", json={"deployments": {"name": {"any_": [name]}}}, timeout=30)
    r.raise_for_status()
    found = r.json()
    if not found:
        raise SystemExit(f"no deployment {name!r} on {url}: is `rtt serve` running?")
    return found[0]["id"]


async def readme_shots(url: str, out: Path, overrides: list[str], timeout: float = 3600.0) -> dict[str, str]:
    """Run form, running pipeline graph, finished report: ``prefect-run-form.png``, ``prefect-pipeline-graph.png``,
    ``prefect-pipeline-artifacts.png`` (and ``prefect-pipeline-report.png``) under ``out``."""
    from flows.pipeline import PipelineParams

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    form = out / "prefect-run-form.png"
    await shot(
        f"{url}/deployments/deployment/{deployment_id(url, 'train-discriminator')}/run", form, "form", height=1300
    )
    files["form"] = str(form)
    dep = httpx.get(f"{url}/api/deployments/{deployment_id(url, 'rtt-pipeline')}", timeout=30).json()
    base = PipelineParams.model_validate(dep["parameters"]["params"])
    from grpo.train_config import apply_overrides

    params = PipelineParams.model_validate(apply_overrides(base.model_dump(mode="json"), overrides))
    run = httpx.post(
        f"{url}/api/deployments/{dep['id']}/create_flow_run",
        json={"parameters": {"params": params.model_dump(mode="json")}},
        timeout=30,
    )
    run.raise_for_status()
    run_id = run.json()["id"]
    started = time.monotonic()

    def policy_training() -> bool:  # the stage task of the pipeline, e.g. policy-train-c62
        r = httpx.post(
            f"{url}/api/task_runs/filter",
            timeout=30,
            json={"flow_runs": {"id": {"any_": [run_id]}}, "task_runs": {"name": {"like_": "policy-train"}}},
        )
        return r.status_code == 200 and bool(r.json())

    while not policy_training() and time.monotonic() - started < timeout:  # most stages in: a full graph
        await asyncio.sleep(5)
    graph = out / "prefect-pipeline-graph.png"
    await shot(f"{url}/runs/flow-run/{run_id}", graph, "canvas", settle=6.0)
    files["graph"] = str(graph)
    while time.monotonic() - started < timeout:
        state = httpx.get(f"{url}/api/flow_runs/{run_id}", timeout=30).json()["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            break
        await asyncio.sleep(10)
    else:
        raise SystemExit(f"flow run {run_id} not finished after {timeout:.0f} s")
    if state != "COMPLETED":
        raise SystemExit(f"flow run {run_id} ended {state}")
    report = next(
        a for a in artifacts_of(url, run_id) if a["type"] == "markdown" and a["key"].startswith("rtt-pipeline-")
    )
    art = out / "prefect-pipeline-report.png"
    await shot(f"{url}/artifacts/artifact/{report['id']}", art, ".markdown-renderer", height=1800)
    files["report"] = str(art)
    async with Browser(1400, 1000) as b:
        await b.open(f"{url}/runs/flow-run/{run_id}", {})
        await b.click_text("li.p-tab", "Artifacts")
        await b.wait_for("document.body.innerText.includes('Flow run')", 60)
        await asyncio.sleep(3)
        await b.screenshot(out / "prefect-pipeline-artifacts.png")
    files["artifacts"] = str(out / "prefect-pipeline-artifacts.png")
    files["run"] = run_id
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="report artifacts of a flow run that do not render")
    c.add_argument("--url", required=True, help="Prefect server, e.g. http://127.0.0.1:4200")
    c.add_argument("--flow-run", required=True)
    c.add_argument("--shots", type=Path, help="folder for one screenshot per artifact")
    s = sub.add_parser("shot", help="screenshot one page")
    s.add_argument("--url", required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--wait", default="main", help="CSS selector to wait for")
    s.add_argument("--width", type=int, default=1400)
    s.add_argument("--height", type=int, default=1000)
    r = sub.add_parser("readme", help="the README's screenshots from a running rtt serve")
    r.add_argument("--url", required=True)
    r.add_argument("--out", type=Path, default=Path("docs/img"))
    r.add_argument("--set", action="append", default=[], help="section.key=value override of the pipeline run")
    args = ap.parse_args(argv)
    if args.cmd == "readme":
        print(json.dumps(asyncio.run(readme_shots(args.url.rstrip("/"), args.out, args.set)), indent=2))
        return 0
    if args.cmd == "check":
        found = asyncio.run(check_artifacts(args.url.rstrip("/"), args.flow_run, args.shots))
        print(json.dumps(found, indent=2))
        return int(any(v["broken"] or v["clipped"] or v["relative"] for v in found.values()))
    asyncio.run(shot(args.url, args.out, args.wait, args.width, args.height))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
