"""What the ``rtt`` command groups share: the error exit and ``--set KEY=VALUE`` parsing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["fail", "parse_sets"]


def fail(message: str, console: Console | None = None) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with status 1.

    The message is printed verbatim: rich markup in it is escaped and emoji codes are not expanded. ``console``:
    the stderr console a live progress display is drawing on (default: a new one)."""
    from rich.console import Console
    from rich.markup import escape

    (console or Console(stderr=True)).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True, emoji=False
    )
    raise typer.Exit(1)


def parse_sets(sets: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as a dict, each value parsed as YAML (``--set key=null`` is an explicit None)."""
    import yaml

    out: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            fail(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out
