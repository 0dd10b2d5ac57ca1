"""Drive the real Label Studio UI with headless Chromium (DevTools protocol): screenshot and offset probe.

* ``screenshot``: log in as the preset user, open a task's labelling view, wait for the pre-annotated regions
  and write a PNG (the README's ``docs/img/label-studio-review.png``); ``--data-manager``: the review tab's
  task table with its columns (``docs/img/label-studio-data-manager.png``).
* ``probe-offsets``: import one task whose response holds emoji, CJK, ``\\r\\n`` and double spaces, select
  substrings with real mouse drags, submit, and print the offsets Label Studio stored next to the Python
  code-point offsets: this is how the offset unit in ``annotation.offsets`` was established for a given server.

Needs Debian's ``chromium`` (and ``fonts-noto-color-emoji fonts-noto-cjk`` for legible screenshots).

    .venv/bin/python scripts/labelstudio_browser.py screenshot --project "RTT review" \\
        --out docs/img/label-studio-review.png
    .venv/bin/python scripts/labelstudio_browser.py probe-offsets
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
]

PROBE_JS = r"""
(() => {
  const hl = [...document.querySelectorAll('.htx-highlight')].map(e => e.textContent);
  const ts = [...document.querySelectorAll('.lsf-htx-richtext')];
  const t = ts[ts.length - 1];
  return JSON.stringify({highlights: hl, whiteSpace: t ? getComputedStyle(t).whiteSpace : null});
})()
"""

# Viewport point at the start (or end) of the first occurrence of a needle in the response's displayed text.
POINT_JS = r"""
((needle, atEnd) => {
  const boxes = [...document.querySelectorAll('.lsf-htx-richtext')];
  const root = boxes.reverse().find(b => b.textContent.includes(needle));  // the response is the last Text
  if (!root) return JSON.stringify({error: 'no text containing ' + needle});
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = []; let full = '';
  while (walker.nextNode()) { nodes.push([walker.currentNode, full.length]); full += walker.currentNode.data; }
  const at = full.indexOf(needle) + (atEnd ? needle.length : 0);
  const locate = (off) => {
    for (let i = nodes.length - 1; i >= 0; i--) if (nodes[i][1] <= off) return [nodes[i][0], off - nodes[i][1]];
  };
  const r = document.createRange();
  const [n, o] = locate(atEnd ? at - 1 : at);
  r.setStart(n, o); r.setEnd(n, o + 1);  // the first / last UTF-16 unit of the needle
  const b = r.getClientRects()[0];
  return JSON.stringify({x: atEnd ? b.right - 0.5 : b.left + 0.5, y: b.top + b.height / 2});
})
"""


def login_cookies(url: str, email: str, password: str) -> dict[str, str]:
    """A logged-in Django session: the cookies the browser gets after submitting the login form."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as c:
        page = c.get("/user/login/")
        csrf = c.cookies.get("csrftoken") or re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(
            1
        )
        r = c.post(
            "/user/login/",
            data={"email": email, "password": password, "csrfmiddlewaretoken": csrf, "persist_session": "on"},
            headers={"Referer": f"{url}/user/login/"},
        )
        if r.status_code != 302 or "sessionid" not in c.cookies:
            raise SystemExit(f"login as {email} failed (HTTP {r.status_code})")
        return dict(c.cookies.items())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One headless Chromium page over the DevTools protocol (bound to 127.0.0.1, killed on exit)."""

    def __init__(self, width: int = 1400, height: int = 1000):
        self.width, self.height, self._seq = width, height, 0

    async def __aenter__(self) -> Browser:
        import websockets

        chrome = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chrome:
            raise SystemExit("chromium not found: apt-get install -y chromium")
        port, self.profile = _free_port(), tempfile.mkdtemp(prefix="rtt-chromium-")
        self.proc = subprocess.Popen(
            [
                chrome,
                *CHROME_FLAGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={self.profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(150):
            try:
                page = next(
                    t
                    for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json()
                    if t.get("type") == "page"
                )
                break
            except (httpx.HTTPError, StopIteration, ValueError):
                await asyncio.sleep(0.2)
        else:
            raise SystemExit("chromium did not open its DevTools endpoint")
        self.ws = await websockets.connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20)
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        await self.call("Page.enable")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        os.killpg(self.proc.pid, 15)
        self.proc.wait(timeout=15)
        shutil.rmtree(self.profile, ignore_errors=True)

    async def call(self, method: str, **params):
        self._seq += 1
        seq = self._seq
        await self.ws.send(json.dumps({"id": seq, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == seq:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def eval(self, expr: str):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r["result"].get("value")

    async def open(self, url: str, cookies: dict[str, str]) -> None:
        host = re.sub(r"^https?://", "", url).split("/")[0].split(":")[0]
        for k, v in cookies.items():
            await self.call("Network.setCookie", name=k, value=v, domain=host, path="/")
        await self.call("Page.navigate", url=url)

    async def wait_for(self, expr: str, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = await self.eval(expr)
            if v:
                return v
            await asyncio.sleep(0.5)
        raise TimeoutError(f"page never satisfied: {expr[:80]}")

    async def mouse(self, kind: str, x: float, y: float, buttons: int = 1, count: int = 1) -> None:
        await self.call(
            "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", buttons=buttons, clickCount=count
        )

    async def drag(self, x1: float, y1: float, x2: float, y2: float) -> None:
        await self.mouse("mouseMoved", x1, y1, buttons=0)
        await self.mouse("mousePressed", x1, y1)
        for k in range(1, 6):
            await self.mouse("mouseMoved", x1 + (x2 - x1) * k / 5, y1 + (y2 - y1) * k / 5)
        await self.mouse("mouseReleased", x2, y2, buttons=0)

    async def click_text(self, selector: str, text: str) -> None:
        js = (
            f"(() => {{ const el = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find(e => e.textContent.trim().startsWith({json.dumps(text)})); if (!el) return null;"
            f" const r = el.getBoundingClientRect();"
            f" return JSON.stringify([r.left + r.width/2, r.top + r.height/2]); }})()"
        )
        pos = await self.wait_for(js, 30)
        x, y = json.loads(pos)
        await self.mouse("mousePressed", x, y)
        await self.mouse("mouseReleased", x, y, buttons=0)

    async def screenshot(self, out: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))


def _ctx(args):
    from annotation.project import LabelStudioSettings, connect

    settings = LabelStudioSettings.from_env()
    return settings, connect(settings), login_cookies(settings.url, args.email, args.password)


async def screenshot(args) -> dict:
    from annotation.project import get_project

    settings, client, cookies = _ctx(args)
    project = get_project(client, settings, args.project)
    if args.data_manager:  # the review tab of the Data Manager: columns, least confident first
        from annotation.project import REVIEW_VIEW_TITLE

        tab = next(v.id for v in client.views.list(project=project.id) if v.data.get("title") == REVIEW_VIEW_TITLE)
        url = f"{settings.url}/projects/{project.id}/data?tab={tab}"
        async with Browser(args.width, args.height) as b:
            await b.open(url, cookies)
            await b.wait_for("document.body.innerText.includes('label_source')", args.wait)
            await asyncio.sleep(2.0)
            await b.screenshot(args.out)
        return {"url": url, "out": str(args.out)}
    task = args.task or next(iter(client.tasks.list(project=project.id, fields="task_only", page_size=1))).id
    url = f"{settings.url}/projects/{project.id}/data?task={task}"
    async with Browser(args.width, args.height) as b:
        await b.open(url, cookies)
        await b.wait_for("document.querySelectorAll('.htx-highlight').length > 0", args.wait)
        await asyncio.sleep(2.0)  # let fonts and layout settle
        probe = json.loads(await b.eval(PROBE_JS))
        await b.screenshot(args.out)
    return {"url": url, "out": str(args.out), **probe}


PROBE_RESPONSE = "Emoji 😀 first,\r\nthen  two spaces and 中文 then 🎉 party\r\nend."
# (drag from the start of the first needle, to the end of the second)
PROBE_DRAGS = [
    ("😀", "first"),
    ("then  two", "then  two"),
    ("中文", "中文"),
    ("🎉", "party"),
    ("first", "then"),
    ("end.", "end."),
]


async def probe_offsets(args) -> dict:
    """Select each needle with a real mouse drag, submit, and compare stored offsets with code points."""
    from annotation.config import label_config

    settings, client, cookies = _ctx(args)
    title = f"rtt-offset-probe-{int(time.time())}"
    p = client.projects.create(title=title, label_config=label_config())
    task_ids = []
    for _ in PROBE_DRAGS:
        r = client.projects.import_tasks(
            id=p.id,
            request=[{"data": {"instruction": "", "criteria": "probe", "response": PROBE_RESPONSE}}],
            return_task_ids=True,
        )
        task_ids.append(r.task_ids[0])
    out = []
    async with Browser(args.width, args.height) as b:
        for (first, last), tid in zip(PROBE_DRAGS, task_ids, strict=True):
            await b.open(f"{settings.url}/projects/{p.id}/data?task={tid}", cookies)
            await b.wait_for("!!document.querySelector('.lsf-htx-richtext')", args.wait)
            await asyncio.sleep(1.0)
            await b.click_text(".lsf-label", "relevant")
            p1 = json.loads(await b.eval(f"{POINT_JS}({json.dumps(first)}, false)"))
            p2 = json.loads(await b.eval(f"{POINT_JS}({json.dumps(last)}, true)"))
            if "error" in p1 or "error" in p2:
                raise SystemExit(f"{first!r}..{last!r}: {p1.get('error') or p2.get('error')}")
            await b.drag(p1["x"], p1["y"], p2["x"], p2["y"])
            try:
                await b.wait_for("document.querySelectorAll('.htx-highlight').length > 0", 20)
            except TimeoutError:
                await b.screenshot(Path(tempfile.gettempdir()) / "rtt-probe-failed.png")
                raise SystemExit(
                    f"dragging {first!r}..{last!r} ({p1} -> {p2}) created no region; see "
                    f"{tempfile.gettempdir()}/rtt-probe-failed.png"
                ) from None
            if args.out and tid == task_ids[-1]:
                await b.screenshot(args.out)  # the last selection, before it is submitted
            await b.click_text("button", "Submit")
            deadline = time.monotonic() + 30
            anns = []
            while not anns and time.monotonic() < deadline:
                anns = client.annotations.list(id=tid)
                await asyncio.sleep(0.5)
            value = next(r["value"] for r in anns[0].result if r.get("type") == "labels")
            cs = PROBE_RESPONSE.index(first)
            ce = PROBE_RESPONSE.index(last, cs) + len(last)

            def u16(i: int) -> int:
                return len(PROBE_RESPONSE[:i].encode("utf-16-le")) // 2

            out.append(
                {
                    "selected": PROBE_RESPONSE[cs:ce],
                    "stored": [value["start"], value["end"]],
                    "stored_text": value.get("text"),
                    "codepoint": [cs, ce],
                    "utf16": [u16(cs), u16(ce)],
                }
            )
    client.projects.delete(id=p.id)
    unit = (
        "codepoint"
        if all(o["stored"] == o["codepoint"] for o in out)
        else "utf16"
        if all(o["stored"] == o["utf16"] for o in out)
        else "other"
    )
    return {"server": client.versions.get().release, "unit": unit, "regions": out}


def main(argv: list[str] | None = None) -> int:
    from annotation.server import DEFAULT_PASSWORD, DEFAULT_USERNAME

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("screenshot", "probe-offsets"):
        s = sub.add_parser(name)
        s.add_argument("--email", default=os.environ.get("LABEL_STUDIO_USERNAME", DEFAULT_USERNAME))
        s.add_argument("--password", default=os.environ.get("LABEL_STUDIO_PASSWORD", DEFAULT_PASSWORD))
        s.add_argument("--width", type=int, default=1400)
        s.add_argument("--height", type=int, default=1000)
        s.add_argument("--wait", type=float, default=60.0)
        if name == "screenshot":
            s.add_argument("--project", required=True)
            s.add_argument("--task", type=int, default=None)
            s.add_argument("--data-manager", action="store_true", help="the review tab's task table instead")
            s.add_argument("--out", type=Path, default=Path("docs/img/label-studio-review.png"))
        else:
            s.add_argument("--out", type=Path, default=None, help="screenshot of the last selection")
    a = ap.parse_args(argv)
    result = asyncio.run(screenshot(a) if a.cmd == "screenshot" else probe_offsets(a))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
