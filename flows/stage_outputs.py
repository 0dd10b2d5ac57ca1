"""Verification of a pipeline stage's outputs before its cached result is reused.

A stage's completion files must exist, be readable (Parquet decodes, JSON parses) and still hold what the stage
wrote (a sha256 recorded when the stage finished, in ``<run_dir>/.prefect/outputs/<stage>.json``). When any
check fails the stage is recomputed instead of reporting "cached" over a broken file, and the reason is one
log line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from rubrics.io import write_text


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_readable(path: Path) -> None:
    """Raise when ``path`` cannot be decoded as what its suffix says (Parquet, JSON / JSONL) or read at all."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.ParquetFile(path).read()
    elif suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    json.loads(line)
    else:
        with open(path, "rb") as fh:
            fh.read(1)


def _record_path(store: Path, label: str) -> Path:
    return Path(store).parent / "outputs" / f"{label}.json"


def record_outputs(store: Path, label: str, files: Sequence[Path]) -> None:
    """Remember the fingerprints of a finished stage's completion files."""
    if not files:
        return
    data = {str(f): file_sha256(f) for f in files if f.is_file()}
    write_text(_record_path(store, label), json.dumps(data, indent=1) + "\n")


def output_problem(store: Path, label: str, files: Sequence[Path]) -> str | None:
    """Why the stage's cached outputs cannot be reused (one line), or None when they can."""
    for f in files:
        if not f.exists():
            return f"{f} is missing"
        try:
            check_readable(f)
        except Exception as exc:  # noqa: BLE001 - any decoding error means "recompute"
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            return f"{f} is unreadable ({type(exc).__name__}: {first})"
    rec = _record_path(store, label)
    if files and rec.is_file():
        try:
            recorded = json.loads(rec.read_text(encoding="utf-8"))
        except ValueError:
            return None
        for f in files:
            want = recorded.get(str(f))
            if want is not None and file_sha256(f) != want:
                return f"{f} changed since the stage wrote it (fingerprint mismatch)"
    return None
