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


PACKAGE_INITS = [
    "annotation",
    "flows",
    "flows/cli",
    "rubrics",
    "discriminator",
    "discriminator/data",
    "grpo",
    "grpo/experiment",
]


@pytest.mark.parametrize("package", PACKAGE_INITS)
def test_package_init_has_a_docstring_and_an_all_of_real_names(package):
    """Read statically (importing flows/ would import Prefect): a docstring, and ``__all__`` naming submodules of the
    package or names the ``__init__`` defines."""
    base = ROOT / package
    tree = ast.parse((base / "__init__.py").read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    assert doc and len(doc.split()) >= 15, f"{package}/__init__.py needs a docstring saying what the package holds"
    exported = next(
        (
            ast.literal_eval(n.value)
            for n in tree.body
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)
        ),
        None,
    )
    assert exported, f"{package}/__init__.py needs an __all__ of its public names"
    defined = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    defined |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defined |= {
        (a.asname or a.name).split(".")[0]
        for n in tree.body
        if isinstance(n, (ast.Import, ast.ImportFrom))
        for a in n.names
    }
    real = [
        name
        for name in exported
        if name in defined or (base / f"{name}.py").is_file() or (base / name / "__init__.py").is_file()
    ]
    assert real == list(exported), f"{package}.__all__ names what is not there: {sorted(set(exported) - set(real))}"
