"""Helpers shared by every flow's Prefect artifacts: keys and small markdown renderers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def artifact_key(prefix: str, name: str, default: str = "run") -> str:
    """``{prefix}-{slug of name}``: Prefect artifact keys allow lowercase letters, digits and dashes only.

    ``default`` stands in for a name with no usable character (``artifact_key("disc-train", "//")`` is
    ``disc-train-run``)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", str(name).lower()).strip("-")
    return f"{prefix}-{slug or default}"


def fmt_cell(value: Any, digits: int = 3) -> str:
    """A table cell: floats with at most ``digits`` decimals (no trailing zeros), None as an em dash, pipes
    escaped."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        if abs(value) >= 1000:
            return f"{value:.0f}"
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    return str(value).replace("|", "\\|").replace("\n", " ")


#: characters per line of a text cell: the Prefect UI never wraps table cells, so long ones are cut off
CELL_WIDTH = 32


#: the width a table may take in the Prefect UI's artifact page at a 1400 px wide window, and an estimate of
#: what a cell takes (the UI font averages under 8 px a character; cells have 24 px of padding)
TABLE_BUDGET_PX = 760
CHAR_PX, CELL_PAD_PX = 8, 26


def wrap_text(text: str, width: int = CELL_WIDTH, sep: str = "\n") -> str:
    """``text`` as lines of at most ``width`` characters joined by ``sep`` (a table artifact cell renders ``\n``
    as a line break; a markdown table needs ``<br>``). Breaks after spaces, ``:``, ``/``, ``_`` and commas, so
    rubric families (``ifeval:length_constraints:number_words``) and paths wrap too."""
    text = str(text)
    if len(text) <= width:
        return text
    lines, line = [], ""
    for piece in re.split(r"(?<=[\s:/_,])", text):
        while len(piece) > width:  # one unbreakable run longer than a line
            if line:
                lines.append(line)
                line = ""
            lines.append(piece[:width])
            piece = piece[width:]
        if len(line) + len(piece) > width and line:
            lines.append(line)
            line = ""
        line += piece
    lines.append(line)
    return sep.join(x.strip() for x in lines if x.strip())


def cell_px(text: str) -> int:
    """Estimated rendered width of a table cell (its longest line)."""
    return max((len(x) for x in re.split(r"<br>|\n", str(text))), default=0) * CHAR_PX + CELL_PAD_PX


def column_groups(widths: Sequence[int], budget: int = TABLE_BUDGET_PX) -> list[list[int]]:
    """Column indices per table so that each fits ``budget``: the first column is repeated in every group."""
    if sum(widths) <= budget or len(widths) <= 2:
        return [list(range(len(widths)))]
    groups: list[list[int]] = [[0]]
    for i in range(1, len(widths)):
        if len(groups[-1]) > 1 and sum(widths[j] for j in groups[-1]) + widths[i] > budget:
            groups.append([0])
        groups[-1].append(i)
    return groups


def fit_rows(
    rows: Sequence[Mapping[str, Any]], width: int = CELL_WIDTH, budget: int = TABLE_BUDGET_PX
) -> list[list[dict[str, Any]]]:
    """``rows`` for ``create_table_artifact`` that the UI shows uncut: long text cells wrapped, and the columns
    split over several tables (each repeating the first column) when they are too wide together."""
    wrapped = wrap_rows(rows, width)
    if not wrapped:
        return [wrapped]
    cols = list(dict.fromkeys(k for r in wrapped for k in r))
    widths = [max([cell_px(c), *(cell_px(fmt_cell(r.get(c))) for r in wrapped)]) for c in cols]
    return [[{cols[i]: r.get(cols[i]) for i in g} for r in wrapped] for g in column_groups(widths, budget)]


def fit_markdown(markdown: str, width: int = CELL_WIDTH, budget: int = TABLE_BUDGET_PX) -> str:
    """``markdown`` whose tables the UI shows uncut: long text cells wrapped with ``<br>``, too wide tables split
    by columns (each part repeating the first column). Other lines are kept as they are."""
    lines = markdown.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not (
            lines[i].lstrip().startswith("|")
            and i + 1 < len(lines)
            and re.fullmatch(r"\s*\|?(\s*:?-{3,}:?\s*\|)+\s*:?-*:?\s*", lines[i + 1])
        ):
            out.append(lines[i])
            i += 1
            continue
        block = [lines[i], lines[i + 1]]
        i += 2
        while i < len(lines) and lines[i].lstrip().startswith("|"):
            block.append(lines[i])
            i += 1
        out += _fit_table_lines(block, width, budget)
    return "\n".join(out)


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip() for c in re.split(r"(?<!\\)\|", body)]


def _fit_table_lines(block: list[str], width: int, budget: int) -> list[str]:
    head, align, rows = _cells(block[0]), _cells(block[1]), [_cells(x) for x in block[2:]]
    n = len(head)
    rows = [(r + [""] * n)[:n] for r in rows]
    align = (align + ["---"] * n)[:n]

    def numeric(text: str) -> bool:
        return bool(re.fullmatch(r"[-+]?[\d.,%/ ]+|—|n/a", text))

    rows = [[c if numeric(c) or "<br>" in c else wrap_text(c, width, "<br>") for c in r] for r in rows]
    widths = [max([cell_px(head[j]), *(cell_px(r[j]) for r in rows)]) for j in range(n)]
    parts: list[str] = []
    for k, g in enumerate(column_groups(widths, budget)):
        if k:
            parts.append("")
        parts.append("| " + " | ".join(head[j] for j in g) + " |")
        parts.append("|" + "|".join(align[j] for j in g) + "|")
        parts += ["| " + " | ".join(r[j] for j in g) + " |" for r in rows]
    return parts


def wrap_rows(rows: Sequence[Mapping[str, Any]], width: int = CELL_WIDTH) -> list[dict[str, Any]]:
    """``rows`` with every long text cell wrapped (for ``create_table_artifact``)."""
    return [{k: wrap_text(v, width) if isinstance(v, str) else v for k, v in r.items()} for r in rows]


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, wrap: int | None = None
) -> str:
    """A GitHub markdown table of ``rows`` (dicts); columns default to the union of keys in first-seen order.
    ``wrap``: text cells longer than that many characters break into lines (``<br>``)."""
    if not rows:
        return "_(no rows)_\n"
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows) for c in cols]

    def cell(v: Any) -> str:
        text = fmt_cell(v)
        return wrap_text(text, wrap, "<br>") if wrap and isinstance(v, str) else text

    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    out += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def rel_path(path: str | Path, base: str | Path | None = None) -> str:
    """``path`` relative to ``base`` when inside it (POSIX form), else as given."""
    p = Path(path)
    if base is not None:
        try:
            return p.resolve().relative_to(Path(base).resolve()).as_posix()
        except ValueError:
            pass
    return p.as_posix()


def md_link(path: str | Path, base: str | Path | None = None, label: str | None = None) -> str:
    """A markdown link to a local file/folder, relative to ``base`` (the report's folder) when inside it."""
    target = rel_path(path, base)
    return f"[{label or target}]({target})"


IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
#: plots larger than this are not embedded in an artifact (the path is shown instead)
MAX_EMBED_BYTES = 2_000_000


def data_uri(path: str | Path) -> str:
    """``data:image/png;base64,...`` of an image file (PNG, JPEG, SVG by suffix)."""
    import base64

    p = Path(path)
    mime = IMAGE_TYPES.get(p.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"


def md_image(path: str | Path, alt: str) -> str:
    """A markdown image that renders anywhere (the Prefect UI included): the file embedded as a data URI, followed
    by its absolute path; a missing or too large file becomes a line naming it instead of a broken image."""
    p = Path(path).resolve()
    if not p.is_file():
        return f"- {alt}: `{p}` (missing)"
    if p.suffix.lower() not in IMAGE_TYPES:  # e.g. an HTML heatmap: open the file itself
        return f"- {alt}: `{p}`"
    if p.stat().st_size > MAX_EMBED_BYTES:
        return f"- {alt}: `{p}` ({p.stat().st_size / 1e6:.1f} MB, not embedded)"
    return f"![{alt}]({data_uri(p)})\n\n_{alt}: `{p}`_"


def abs_path(path: str | Path) -> str:
    """An output location for the Prefect UI: the absolute path as inline code (a relative markdown link would
    resolve against the UI's address)."""
    return f"`{Path(path).expanduser().resolve()}`"
