"""Architecture rules: torch-free layers stay torch-free; only flows/ knows Prefect; imports point downward."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TORCH_FREE = ["rubrics", "discriminator.data", "annotation"]
ALLOWED = {  # package -> project packages it may import
    "rubrics": {"rubrics"},
    "discriminator": {"rubrics", "discriminator"},
    "annotation": {"rubrics", "discriminator", "annotation"},
    "grpo": {"rubrics", "discriminator", "grpo"},
    "flows": {"rubrics", "discriminator", "annotation", "grpo", "flows"},
}


def _modules(package: str) -> list[str]:
    base = ROOT / package.replace(".", "/")
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in base.rglob("*.py")
    )


@pytest.mark.parametrize("package", TORCH_FREE)
def test_torch_free_packages_do_not_import_torch(package):
    mods = [m for m in _modules(package) if not m.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in ('torch', 'transformers', 'prefect') if k in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"{package} imports {out.stdout.strip()} at import time"


@pytest.mark.parametrize("package", list(ALLOWED))
def test_imports_point_downward_and_only_flows_knows_prefect(package):
    problems = []
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "prefect" and package != "flows":
                    problems.append(f"{path.relative_to(ROOT)} imports prefect")
                if top in ALLOWED and top not in ALLOWED[package]:
                    problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not problems, problems
