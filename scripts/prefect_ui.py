"""Drive the Prefect UI with headless Chromium (DevTools protocol, the Browser of scripts/labelstudio_browser.py).

* ``check``: open every artifact of a flow run and report what does not render: broken images, table cells cut
  off by their table's frame, links relative to the UI's address. Exit code 1 when anything is found.
* ``shot``: screenshot one UI page (the README's docs/img/prefect-*.png), waiting for a CSS selector.

Needs Debian's ``chromium``.

    .venv/bin/python scripts/prefect_ui.py check --url http://127.0.0.1:4200 --flow-run <id>
    .venv/bin/python scripts/prefect_ui.py shot --url http://127.0.0.1:4200/deployments --wait '.p-table' --out x.png
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
READY_JS = ("(() => !!document.querySelector('.artifact-data-table, .markdown-renderer') && "
            "[...document.images].every(i => i.complete))()")


def artifacts_of(url: str, flow_run: str) -> list[dict]:
    """The artifacts of a flow run (key, type, id), through the server's REST API."""
    r = httpx.post(f"{url}/api/artifacts/filter", json={"flow_runs": {"id": {"any_": [flow_run]}}}, timeout=30)
    r.raise_for_status()
    return r.json()


async def check_artifacts(url: str, flow_run: str, shots: Path | None = None, width: int = 1400,
                          height: int = 1000) -> dict[str, dict]:
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


async def shot(url: str, out: Path, wait: str, width: int = 1400, height: int = 1000, settle: float = 2.0,
               timeout: float = 60.0) -> None:
    """Screenshot ``url`` once ``wait`` (a CSS selector) is on the page."""
    async with Browser(width, height) as b:
        await b.open(url, {})
        await b.wait_for(f"!!document.querySelector({json.dumps(wait)})", timeout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not await b.eval("[...document.images].every(i => i.complete)"):
            await asyncio.sleep(0.5)
        await asyncio.sleep(settle)
        await b.screenshot(out)


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
    args = ap.parse_args(argv)
    if args.cmd == "check":
        found = asyncio.run(check_artifacts(args.url.rstrip("/"), args.flow_run, args.shots))
        print(json.dumps(found, indent=2))
        return int(any(v["broken"] or v["clipped"] or v["relative"] for v in found.values()))
    asyncio.run(shot(args.url, args.out, args.wait, args.width, args.height))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
