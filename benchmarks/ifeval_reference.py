"""An independent IFEval reference: the official checker as vendored by ``lm-eval`` (EleutherAI).

``lm-eval``'s ``lm_eval/tasks/ifeval/{instructions,instructions_registry,instructions_util}.py`` are a port
of google-research ``instruction_following_eval``. We fetch the wheel with ``pip download --no-deps`` once
(cached under ``$RTT_CACHE_DIR/lm-eval`` or ``~/.cache/rtt/lm-eval``), load the three files as a private
package and run the official strict/loose protocol (``evaluation_lib``) on (item, response) pairs.
This is a measurement helper, not a project dependency.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path

LMEVAL_VERSION = "0.4.13"
_PKG = "rtt_ifeval_reference"
_FILES = ("instructions_util", "instructions", "instructions_registry")


def _cache() -> Path:
    root = os.environ.get("RTT_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "rtt") / "lm-eval"


def fetch(version: str = LMEVAL_VERSION) -> Path:
    """Directory holding the three reference files (downloaded and extracted on first use)."""
    out = _cache() / f"ifeval-{version}"
    if all((out / f"{f}.py").is_file() for f in _FILES):
        return out
    wheels = _cache() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"lm_eval-{version}-*.whl"))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-q",
                "--retries",
                "1",
                "--timeout",
                "20",
                f"lm-eval=={version}",
                "-d",
                str(wheels),
            ],
            check=True,
            timeout=300,
        )
        found = sorted(wheels.glob(f"lm_eval-{version}-*.whl"))
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as zf:
        for f in _FILES:
            (out / f"{f}.py").write_bytes(zf.read(f"lm_eval/tasks/ifeval/{f}.py"))
    return out


def load_registry(version: str = LMEVAL_VERSION) -> dict[str, type]:
    """``INSTRUCTION_DICT`` of the reference implementation."""
    if f"{_PKG}.instructions_registry" in sys.modules:
        return sys.modules[f"{_PKG}.instructions_registry"].INSTRUCTION_DICT
    src = fetch(version)
    pkg = types.ModuleType(_PKG)
    pkg.__path__ = [str(src)]
    sys.modules[_PKG] = pkg
    for name in _FILES:
        code = (src / f"{name}.py").read_text(encoding="utf-8").replace("lm_eval.tasks.ifeval", _PKG)
        mod = types.ModuleType(f"{_PKG}.{name}")
        mod.__file__ = str(src / f"{name}.py")
        sys.modules[mod.__name__] = mod
        exec(compile(code, mod.__file__, "exec"), mod.__dict__)  # noqa: S102 - the pinned lm-eval source
        setattr(pkg, name, mod)
    import logging

    import langdetect

    logging.getLogger(_PKG).setLevel(logging.CRITICAL)  # its "Unable to detect language" noise
    langdetect.DetectorFactory.seed = 0  # the same determinism as ours, so only checker logic is compared
    return sys.modules[f"{_PKG}.instructions_registry"].INSTRUCTION_DICT


def follow(
    registry: dict[str, type], prompt: str, ids: list[str], kwargs: list[dict], response: str, loose: bool
) -> list[bool]:
    """The official ``test_instruction_following_strict`` / ``_loose`` on one response."""
    if loose:
        r = response.split("\n")
        first, last, both = "\n".join(r[1:]).strip(), "\n".join(r[:-1]).strip(), "\n".join(r[1:-1]).strip()
        variants = [
            response,
            response.replace("*", ""),
            first,
            last,
            both,
            first.replace("*", ""),
            last.replace("*", ""),
            both.replace("*", ""),
        ]
    else:
        variants = [response]
    out = []
    for iid, kw in zip(ids, kwargs):
        inst = registry[iid](iid)
        inst.build_description(**{k: v for k, v in kw.items() if v is not None})
        args = inst.get_instruction_args()
        if args and "prompt" in args:
            inst.build_description(prompt=prompt)
        out.append(any(v.strip() and inst.check_following(v) for v in variants))
    return out


def available() -> bool:
    try:
        load_registry()
        return True
    except Exception:  # noqa: BLE001 - no network / no pip: the caller says so plainly
        return False


if __name__ == "__main__":
    spec = importlib.util.find_spec("nltk")
    print("reference at", fetch(), "nltk", spec is not None)
