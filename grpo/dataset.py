"""Training / evaluation data for the policy: rubric items -> TRL prompt datasets, benchmark files by name.

Any source :func:`rubrics.importers.import_items` reads works (IFEval / IFBench / MulDimIF files, the
project's canonical RubricItem JSONL, RaR, Tulu ...). Benchmark names resolve to files under the data
directory: ``$RTT_DATA_DIR``, else ``./data``, else the ``data`` folder of a workspace folder beside the checkout
(the last only as a fallback: set ``RTT_DATA_DIR``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from rubrics.schema import RubricItem

ROOT = Path(__file__).resolve().parents[1]
#: benchmark name -> (path under the data directory, importer format)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "ifeval": ("ifeval/input_data.jsonl", "ifeval"),
    "ifbench": ("ifbench/IFBench_test.jsonl", "ifbench"),
    "muldimif": ("muldimif/test.json", "muldimif"),
}


def data_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("RTT_DATA_DIR"):
        dirs.append(Path(os.environ["RTT_DATA_DIR"]))
    if os.environ.get("RTT_SHARED_DIR"):
        dirs.append(Path(os.environ["RTT_SHARED_DIR"]) / "data")
    dirs += [Path.cwd() / "data", ROOT / "data", ROOT.parent / "shared" / "data"]
    return dirs


def resolve_source(name_or_path: str, fmt: str = "auto") -> tuple[str, str]:
    """``(path, format)`` for a benchmark name (``ifeval`` / ``ifbench`` / ``muldimif``) or a file."""
    if name_or_path in BENCHMARKS:
        rel, bfmt = BENCHMARKS[name_or_path]
        tried = [d / rel for d in data_dirs()]
        for cand in tried:
            if cand.is_file():
                return str(cand), bfmt if fmt == "auto" else fmt
        raise FileNotFoundError(
            f"benchmark {name_or_path!r}: no file at any of {[str(t) for t in tried]}; "
            "set RTT_DATA_DIR or pass the file path"
        )
    if not Path(name_or_path).exists():
        raise FileNotFoundError(f"{name_or_path}: no such file (and not a benchmark name: {sorted(BENCHMARKS)})")
    return name_or_path, fmt


def load_items(
    sources: Sequence[str] | str,
    *,
    format: str = "auto",
    limit: int | None = None,
    seed: int | None = None,
    max_rubrics: int | None = None,
) -> list[RubricItem]:
    """Items of all sources (strict: the first bad record raises, naming file / line / field).

    ``seed``: shuffle before ``limit`` (None keeps file order); ``max_rubrics``: keep the first N rubrics."""
    from rubrics.importers import SourceReader, SourceSpec

    items: list[RubricItem] = []
    enough = limit is not None and seed is None  # file order: stop reading once ``limit`` items are in
    for src in [sources] if isinstance(sources, str) else sources:
        path, fmt = resolve_source(src, format)
        for out in SourceReader(SourceSpec(path=path, format=fmt)):
            if out.error is not None:
                raise out.error
            items.append(out.item)
            if enough and len(items) >= limit:
                break
        if enough and len(items) >= limit:
            break
    if seed is not None:
        random.Random(seed).shuffle(items)
    if limit is not None:
        items = items[:limit]
    if max_rubrics is not None:
        items = [
            it if len(it.rubrics) <= max_rubrics else it.model_copy(update={"rubrics": it.rubrics[:max_rubrics]})
            for it in items
        ]
    return items


def build_prompt_dataset(items: Sequence[RubricItem], *, system_prompt: str | None = None):
    """A ``datasets.Dataset`` with ``prompt`` (chat messages), ``rubric_item`` (JSON) and ``item_id``."""
    from datasets import Dataset

    from grpo.rewards import rows_from_items

    if not items:
        raise ValueError("no training items")
    return Dataset.from_list(rows_from_items(items, system_prompt=system_prompt))
