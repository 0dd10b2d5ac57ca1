"""README.md is the front door: short, and everything it shows works - each `rtt ...` command line parses with the
real CLI, each `make` target exists, each link and file-tree entry names a file of the repository, its command
table is the CLI, and its Python example trains (with the tiny test models in place of its model paths)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 250


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _blocks(lang: str, text: str | None = None) -> list[str]:
    """The fenced code blocks of one language (``""`` = blocks without a language)."""
    text = _text() if text is None else text
    return [m.group(2) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M) if m.group(1) == lang]


def rtt_command_lines(text: str | None = None) -> list[list[str]]:
    """The argument lists of every shell line in a ```bash block that starts with ``rtt `` (continuation lines
    joined, comments dropped)."""
    out = []
    for block in _blocks("bash", text):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("rtt "):
                out.append(shlex.split(line, comments=True)[1:])
    return out


def _invoke(args: list[str]):
    from typer.testing import CliRunner

    from flows.cli import app

    return CliRunner().invoke(app, [*args, "--help"])


def test_readme_is_short():
    n = len(_text().splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines (at most {MAX_LINES}): move reference material into docs/"


def test_readme_rtt_commands_parse_with_the_real_cli():
    """Each command line names a real command and only options it has (``--help`` parses the whole line: an
    unknown command or option exits 2)."""
    lines = rtt_command_lines()
    assert len(lines) >= 5, "the README shows the stages as rtt command lines in a ```bash block"
    bad = []
    for args in lines:
        res = _invoke(args)
        if res.exit_code != 0 or "Usage" not in res.output:
            bad.append(f"rtt {shlex.join(args)}: exit {res.exit_code}\n{res.output[-600:]}")
    assert not bad, "README commands that do not parse:\n" + "\n".join(bad)


def test_a_broken_command_line_is_caught():
    """The check above can fail: a misspelt command and an unknown option do not parse."""
    wrong = rtt_command_lines("```bash\nrtt rubric build x --out y\nrtt disc train --data x --no-such-option 1\n```\n")
    assert [_invoke(args).exit_code for args in wrong] == [2, 2]


def test_readme_command_table_is_the_cli():
    """Every command of the generated CLI reference has its one-line row in the README, and every row is a
    command of the CLI."""
    reference = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    commands = re.findall(r"^\| \[`(rtt [^`]+)`\]", reference, re.M)
    assert len(commands) >= 15
    rows = re.findall(r"^\| `(rtt [^`]+)` \|", _text(), re.M)
    assert sorted(rows) == sorted(commands), (
        f"README table vs CLI: missing {sorted(set(commands) - set(rows))}, extra {sorted(set(rows) - set(commands))}"
    )
    for row in rows:
        assert _invoke(row.split()[1:]).exit_code == 0, row


def test_readme_make_targets_exist():
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M))
    named = set(re.findall(r"\bmake ([a-z][\w-]*)", _text()))
    assert {"demo", "test"} <= named
    assert named <= targets, f"make targets in README.md that the Makefile lacks: {sorted(named - targets)}"


def test_readme_links_name_files_of_the_repository():
    links = [m for m in re.findall(r"\]\(([^)\s]+)\)", _text()) if not re.match(r"[a-z]+:", m)]
    assert links
    missing = [link for link in links if not (ROOT / link.split("#")[0]).exists()]
    assert not missing, f"README links to missing files: {missing}"


def tree_entries(text: str | None = None) -> list[tuple[str, str]]:
    """``(path, comment)`` of every entry of the README's file tree (the block drawn with ``├──`` / ``└──``)."""
    block = next(b for b in _blocks("", text) if "├── " in b)
    parents: list[str] = []
    out = []
    for line in block.splitlines()[1:]:
        m = re.match(r"^((?:│   |    )*)[├└]── (\S+)\s*(?:# (.*))?$", line)
        assert m, f"not a tree line: {line!r}"
        depth = len(m.group(1)) // 4
        parents = parents[:depth] + [m.group(2).rstrip("/")]
        out.append(("/".join(parents), (m.group(3) or "").strip()))
    return out


def test_readme_file_tree_names_real_paths_with_a_comment_each():
    entries = tree_entries()
    assert len(entries) >= 20
    missing = [p for p, _ in entries if not (ROOT / p).exists()]
    assert not missing, f"README tree entries that do not exist: {missing}"
    silent = [p for p, c in entries if not c]
    assert not silent, f"README tree entries without a comment: {silent}"
    top = {p for p, _ in entries if "/" not in p}
    tracked = {
        "rubrics",
        "discriminator",
        "annotation",
        "grpo",
        "flows",
        "benchmarks",
        "tests",
        "docs",
        "configs",
        "data",
    }
    assert tracked <= top, f"top-level folders missing from the tree: {sorted(tracked - top)}"


def test_a_wrong_tree_entry_is_caught():
    entries = tree_entries("```\n.\n├── grpo/     # x\n│   └── no_such.py  # y\n└── tests/\n```\n")
    assert entries == [("grpo", "x"), ("grpo/no_such.py", "y"), ("tests", "")]
    assert not (ROOT / entries[1][0]).exists()


def readme_example(model: str, discriminator: str) -> str:
    """The README's Python example with its two model paths replaced (the lines must stay as they are)."""
    (code,) = _blocks("python")
    for name, value in (("MODEL", model), ("DISCRIMINATOR", discriminator)):
        code, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", code, count=1, flags=re.M)
        assert n == 1, f"the README example must set {name} = ... on one line of its own"
    return code


def test_readme_python_example_trains(tiny_policy_dir, tiny_decoder_disc_dir, tmp_path, monkeypatch):
    """The example as printed, in a fresh folder that has the repository's data/: two RTT-GRPO steps."""
    code = readme_example(str(tiny_policy_dir), str(tiny_decoder_disc_dir))
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "__readme__"}
    exec(compile(code, "README.md", "exec"), scope)
    trainer = scope["trainer"]
    assert trainer.state.global_step == scope["args"].max_steps == 2
    assert trainer.scorer is not None and trainer.last_rtt, "the token term ran with the discriminator"
    assert (tmp_path / "runs" / "readme-example").is_dir()
