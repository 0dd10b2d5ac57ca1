"""A self-contained HTML token heatmap: each response's tokens coloured by their advantage.

Green = positive advantage (reinforced), red = negative (discouraged), intensity = |advantage| relative to the
largest in the file. Hovering a token shows its joint advantage, token term and per-rubric relevance. Each
response lists its rubrics with verdicts (✓ passed, ✗ failed, ? undecided), reward and response advantage.
No torch: inputs are plain lists.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from rubrics.io import write_text


@dataclass
class HeatmapRubric:
    text: str
    verdict: int  # +1 passed, -1 failed, 0 undecided
    method: str = ""  # how the verdict was reached: rule / judge
    relevance_source: str = ""  # where the relevance came from: rules / discriminator / oracle / ...


@dataclass
class HeatmapResponse:
    prompt: str
    tokens: list[str]
    adv: list[float]
    tok_adv: list[float]
    relevance: list[list[float]]  # per rubric, per token
    rubrics: list[HeatmapRubric]
    reward: float
    resp_adv: float
    group: int = 0
    extra: dict[str, str] = field(default_factory=dict)


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:70em}
.resp{border:1px solid #ccc;border-radius:6px;padding:.8em;margin:1em 0}
.prompt{white-space:pre-wrap;color:#333;background:#f6f6f6;padding:.4em;border-radius:4px}
.toks{font-family:ui-monospace,monospace;white-space:pre-wrap;line-height:1.7;margin-top:.6em}
.toks span{border-radius:2px}
.rub{margin:.1em 0;font-size:.9em}.ok{color:#1a7f37}.bad{color:#cf222e}.und{color:#9a6700}
.meta{font-size:.85em;color:#555}
"""


def _colour(v: float, scale: float) -> str:
    a = min(abs(v) / scale, 1.0) if scale > 0 else 0.0
    rgb = "26,127,55" if v >= 0 else "207,34,46"
    return f"background:rgba({rgb},{a * 0.85:.3f})"


def _visible(tok: str) -> str:
    return tok.replace("\n", "⏎\n").replace("\t", "⇥\t")


def render_heatmap(responses: Sequence[HeatmapResponse], *, title: str = "RTT token advantages") -> str:
    """The HTML page for ``responses``."""
    scale = max((abs(a) for r in responses for a in r.adv), default=0.0)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>colour scale: |advantage| = {scale:.3f} is full intensity; green positive, red negative. "
        "Hover a token for its joint advantage, token term and relevance per rubric.</p>",
    ]
    for i, r in enumerate(responses):
        parts.append("<div class='resp'>")
        extra = "".join(f" · {html.escape(k)} {html.escape(v)}" for k, v in r.extra.items())
        parts.append(
            f"<div class='meta'>response {i} · group {r.group} · reward {r.reward:.3f} · "
            f"A_resp {r.resp_adv:+.3f}{extra}</div>"
        )
        parts.append(f"<div class='prompt'>{html.escape(r.prompt)}</div>")
        for k, rub in enumerate(r.rubrics):
            cls, mark = {1: ("ok", "✓"), -1: ("bad", "✗")}.get(rub.verdict, ("und", "?"))
            mass = sum(r.relevance[k]) if k < len(r.relevance) else 0.0
            method = f" [{html.escape(rub.method)}]" if rub.method else ""
            src = f", from {html.escape(rub.relevance_source)}" if rub.relevance_source else ""
            parts.append(
                f"<div class='rub {cls}'>{mark} R{k}: {html.escape(rub.text)}{method} "
                f"<span class='meta'>(relevance mass {mass:.2f}{src})</span></div>"
            )
        parts.append("<div class='toks'>")
        for t, tok in enumerate(r.tokens):
            rel = ", ".join(f"R{k}={r.relevance[k][t]:.2f}" for k in range(len(r.relevance)) if t < len(r.relevance[k]))
            tip = f"A={r.adv[t]:+.3f} tok={r.tok_adv[t]:+.3f} {rel}"
            parts.append(
                f"<span style='{_colour(r.adv[t], scale)}' title='{html.escape(tip)}'>"
                f"{html.escape(_visible(tok))}</span>"
            )
        parts.append("</div></div>")
    parts.append("</body></html>")
    return "".join(parts)


def write_heatmap(path: str | os.PathLike, responses: Sequence[HeatmapResponse], *, title: str | None = None) -> str:
    """Write the page atomically; returns the path."""
    write_text(path, render_heatmap(responses, title=title or "RTT token advantages"))
    return str(path)
