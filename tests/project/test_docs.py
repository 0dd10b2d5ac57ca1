"""The docs site: it builds strictly (broken links, missing anchors and pages left out of the nav fail), its
generated reference pages are what the code gives, and no page (nor any other file of the repository outside
tests/) points at files outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_docs_site_builds_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "method" / "index.html").is_file()
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
    # the README's trainer example, included by section (one copy: the one tests/project/test_readme.py runs)
    started = (tmp_path / "site" / "getting-started" / "index.html").read_text(encoding="utf-8")
    assert "smollm2_dir" in started and "RTTGRPOTrainer" in started and "--8&lt;--" not in started


def test_cli_reference_is_the_current_cli(monkeypatch):
    from flows.cli_docs import CLI_PAGE, cli_markdown

    monkeypatch.setenv("COLUMNS", "40")  # the page must not depend on the terminal it is generated in
    assert CLI_PAGE.read_text(encoding="utf-8") == cli_markdown(), (
        "docs/reference/cli.md is stale: run python -m flows.cli_docs"
    )


def test_deployment_forms_page_is_the_current_forms():
    from flows.cli_docs import FORMS_PAGE, forms_markdown

    assert FORMS_PAGE.read_text(encoding="utf-8") == forms_markdown(), (
        "docs/reference/deployment-forms.md is stale: run python -m flows.cli_docs"
    )


def test_cli_reference_covers_every_command():
    import typer

    from flows.cli import app

    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="rtt")
    for name in root.list_commands(ctx):
        assert f"`rtt {name}" in page, f"rtt {name} is missing from the CLI reference"


OUTSIDE = re.compile(r"\.\./shared|\.\./\.\./")


def outside_lines(name: str, text: str) -> list[str]:
    """``name:line`` of every line that names a path outside the repository (``../shared``, ``../../``)."""
    return [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]


def test_no_page_points_outside_the_repository():
    pages = [*DOCS.rglob("*.md"), ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md"]
    assert len(pages) > 20
    bad = [hit for p in pages for hit in outside_lines(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))]
    assert not bad, f"paths outside the repository: {bad}"


#: a path of the workspace outside the checkout (the benchmark data, the design notes) named in a file
WORKSPACE = re.compile(r"\.\./shared|shared/(?:design|data|nltk_data)")
SCANNED = (".py", ".md", ".yaml", ".yml", ".sh", ".toml")
#: file -> the one kind of line that may name the workspace: the benchmark launcher's NLTK_DATA fallback
WORKSPACE_ALLOWED = {"benchmarks/testbed.sh": re.compile(r"^\s*for d in \S*nltk_data \S*nltk_data; do .*NLTK_DATA=")}


def tracked_files() -> list[str]:
    """The repository's tracked files outside tests/ (the test suite may read benchmark data from the workspace)."""
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    if out.returncode == 0:
        names = out.stdout.splitlines()
    else:  # not a git checkout (an unpacked archive): every file but the ignored kinds
        skip = {".git", ".venv", "runs", "site", "node_modules"}
        names = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]
    return sorted(n for n in names if n.endswith(SCANNED) and not n.startswith("tests/"))


def workspace_lines(name: str, text: str) -> list[str]:
    """``name:line`` of every line that names a workspace path outside the checkout (``../shared``,
    ``shared/design``, ``shared/data``, ``shared/nltk_data``), less the allowed fallback."""
    allowed = WORKSPACE_ALLOWED.get(name)
    return [
        f"{name}:{i}"
        for i, line in enumerate(text.splitlines(), 1)
        if WORKSPACE.search(line) and not (allowed and allowed.search(line))
    ]


def test_no_file_of_the_repository_points_into_the_workspace():
    files = tracked_files()
    assert len(files) > 100 and "grpo/advantages.py" in files and not any(f.startswith("tests/") for f in files)
    bad = [
        hit
        for f in files
        if (ROOT / f).is_file()
        for hit in workspace_lines(f, (ROOT / f).read_text(encoding="utf-8", errors="replace"))
    ]
    assert not bad, f"files that point outside the repository (say it in words or point into docs/): {bad}"


def test_a_workspace_path_is_caught():
    text = (
        '"""Formulas (docs: shared/design/rtt-algorithm.md)."""\nok = 1\nNLTK_DATA=../shared/nltk_data\n'
        'dirs = ["shared/data"]\n'
    )
    assert workspace_lines("grpo/x.py", text) == ["grpo/x.py:1", "grpo/x.py:3", "grpo/x.py:4"]
    fallback = '  for d in ../shared/nltk_data ../../shared/nltk_data; do [ -d "$d" ] && NLTK_DATA=$(cd "$d") ; done\n'
    assert workspace_lines("benchmarks/testbed.sh", fallback) == []
    assert workspace_lines("benchmarks/other.sh", fallback) == ["benchmarks/other.sh:1"]
    assert workspace_lines("benchmarks/testbed.sh", "# data in ../shared/data\n") == ["benchmarks/testbed.sh:1"]


def test_a_path_outside_the_repository_is_caught():
    text = "fine\nrtt rubrics build ../shared/data/ifeval/input_data.jsonl\nsee ../../notes.md\n"
    assert outside_lines("README.md", text) == ["README.md:2", "README.md:3"]
