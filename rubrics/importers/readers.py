"""Raw record readers: JSONL, JSON arrays, Parquet and Hugging Face ``datasets`` (saved to disk or a hub id).

Readers never stop at a bad line: they yield a :class:`ReadError` for it and go on, so the caller decides
(strict: raise; lenient: report). ``datasets`` / ``pyarrow`` are imported only when such a source is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from rubrics.importers.base import ReadError, Record
from rubrics.io import lone_surrogate

Container = Literal["jsonl", "json", "parquet", "hf"]
HF_DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


_FILE_SUFFIXES = (
    ".jsonl",
    ".ndjson",
    ".json",
    ".parquet",
    ".csv",
    ".tsv",
    ".txt",
    ".gz",
    ".zst",
    ".arrow",
    ".yaml",
    ".yml",
)


def looks_like_hub_id(path: str) -> bool:
    """Only a bare ``owner/name`` that names nothing local is a hub id.

    Anything that looks like a path is one: a file suffix, a leading ``.`` / ``/`` / ``~``, more than one ``/``,
    or a first component that exists locally (``in/missing.jsonl`` when ``in/`` exists)."""
    if not _HUB_ID.match(path) or path.startswith((".", "/", "~")):
        return False
    if path.lower().endswith(_FILE_SUFFIXES):
        return False
    return not Path(path.split("/", 1)[0]).exists()


def resolve_source(path: str) -> tuple[Container, str]:
    """``(container, path)`` of a local file / ``save_to_disk`` folder, or ``("hf", hub id)``.

    The one "path or hub id" rule of every command: a missing path is an immediate ``FileNotFoundError``; only a
    bare ``owner/name`` goes to the hub (and fails at once when ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` is set
    and it is not cached, instead of retrying the network)."""
    p = Path(path).expanduser()
    if p.is_dir():
        if any((p / m).exists() for m in HF_DISK_MARKERS):
            return "hf", str(p)
        raise FileNotFoundError(f"{path}: a folder that is not a saved Hugging Face dataset")
    if p.exists():
        suffixes = "".join(p.suffixes[-2:]).lower()
        if suffixes.endswith(".parquet"):
            return "parquet", str(p)
        if suffixes.endswith(".json"):
            return "json", str(p)
        return "jsonl", str(p)  # .jsonl, .ndjson and anything else: one JSON object per line
    if looks_like_hub_id(path):
        return "hf", path
    raise FileNotFoundError(f"{path}: no such file")


def container_of(path: str) -> Container:
    """Pick the reader from the path: suffix, a ``save_to_disk`` folder, or a hub id (see :func:`resolve_source`)."""
    return resolve_source(path)[0]


def count_records(path: str, container: Container) -> int | None:
    """Number of records when it is cheap to know (for progress bars); None otherwise."""
    p = Path(path)
    if container == "jsonl":
        with open(p, "rb") as fh:
            return sum(1 for raw in fh if raw.strip())
    if container == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    return None


def read_records(
    path: str, container: Container | None = None, *, split: str | None = None
) -> Iterator[Record | ReadError]:
    container = container or container_of(path)
    if container == "jsonl":
        return iter_jsonl_records(path)
    if container == "json":
        return iter_json_records(path)
    if container == "parquet":
        return iter_parquet_records(path)
    if container == "hf":
        if Path(path).is_file():  # a local data file: read it directly (no datasets cache written)
            return read_records(path, container_of(path))
        return iter_hf_records(path, split=split)
    raise ValueError(f"unknown container {container!r}")


def _decode(raw: bytes, path: str, line: int | None) -> str | ReadError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if line is None:  # whole file: locate the line of the bad byte
            line = raw.count(b"\n", 0, exc.start) + 1
        return ReadError(path, line, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")


def iter_jsonl_records(path: str) -> Iterator[Record | ReadError]:
    path = str(path)
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = _decode(raw, path, lineno)
            if isinstance(text, ReadError):
                yield text
                continue
            if lineno == 1:
                text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Windows editors)
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield ReadError(path, lineno, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(obj, dict):
                yield ReadError(path, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
                continue
            bad = lone_surrogate(text, obj)
            if bad:
                yield ReadError(path, lineno, *bad)
                continue
            yield Record(path, lineno, obj)


def iter_json_records(path: str) -> Iterator[Record | ReadError]:
    """A JSON array of objects (``line`` is the 1-based index); JSON Lines saved as ``.json`` also work."""
    path = str(path)
    raw = Path(path).read_bytes()
    text = _decode(raw, path, None)
    if isinstance(text, ReadError):
        yield text
        return
    text = text.removeprefix("\ufeff")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several top-level values: JSON Lines
            yield from iter_jsonl_records(path)
            return
        yield ReadError(path, exc.lineno, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
        return
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:  # {"data": [...]} style wrappers
            data = lists[0]
        else:
            data = [data]
    if not isinstance(data, list):
        yield ReadError(path, None, None, f"expected a JSON array of objects, got {type(data).__name__}")
        return
    for i, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            yield Record(path, i, obj)
        else:
            yield ReadError(path, i, None, f"expected a JSON object, got {type(obj).__name__}")


def iter_parquet_records(path: str, batch_size: int = 4096) -> Iterator[Record | ReadError]:
    import pyarrow.parquet as pq

    from rubrics.exporters import arrow_schema, decode_record

    path = str(path)
    n = 0
    pf = pq.ParquetFile(path)
    canonical = pf.schema_arrow.remove_metadata().equals(arrow_schema())  # our own export: decode JSON cells
    for batch in pf.iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            n += 1
            if canonical:
                try:
                    row = decode_record(row)
                except (ValueError, KeyError, TypeError) as exc:
                    yield ReadError(path, n, "rubrics", f"bad canonical row: {exc}")
                    continue
            yield Record(path, n, row)


def iter_hf_records(path: str, *, split: str | None = None) -> Iterator[Record | ReadError]:
    """Rows of a ``save_to_disk`` folder or a hub id / local dataset script folder (all splits unless ``split``)."""
    import datasets

    p = Path(path)
    if p.is_dir() and any((p / m).exists() for m in HF_DISK_MARKERS):
        ds = datasets.load_from_disk(str(p))
    else:
        import os

        offline = any(
            os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
            for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
        )
        try:
            ds = datasets.load_dataset(path, split=split)
        except Exception as exc:  # noqa: BLE001 - hub errors are many types; report one line
            why = "offline (HF_HUB_OFFLINE) and not in the local cache" if offline else str(exc).splitlines()[0]
            raise FileNotFoundError(
                f"{path}: not a local file, and the hub dataset could not be loaded: {why}"
            ) from None
    if isinstance(ds, datasets.DatasetDict):
        parts = [(name, ds[name]) for name in ds if split is None or name == split]
        if not parts:
            raise KeyError(f"{path}: no split {split!r} (has {list(ds)})")
    else:
        parts = [(split, ds)]
    for name, part in parts:
        label = f"{path}[{name}]" if name else str(path)
        for i, row in enumerate(part, start=1):
            yield Record(label, i, row)
