"""Durable append-only shards plus a checksummed done index: the resumable part of a build.

Layout under the build folder::

    shards/<source>/<item>.jsonl   one JSON line per record of the item (appended whole, fsynced)
    done.jsonl                     one line per finished (source, item), with the shard's size and sha256
    inputs.jsonl                   one line per (source, item) and the fingerprint of the inputs its shard was
                                   made from (the item, its positives); a later line supersedes an earlier one

See :class:`DurableShards` for what a torn tail, a corrupt line and ``repair`` do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rubrics.io import atomic_open, fsync_append, truncate_torn_tail


def _safe(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
    return f"{stem}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class ShardError(ValueError):
    """A corrupt line inside a shard or ``done.jsonl`` (not a torn tail): named by file and line."""

    def __init__(self, path: Path, line: int, reason: str):
        self.path, self.line = path, line
        super().__init__(f"{path}:{line}: {reason}")


def _sha256_file(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


class DurableShards:
    """Append-only per-item shards plus a done index: the resumable part of the build.

    Durability: every shard line and done line is appended whole and fsynced. A done line records the size
    and sha256 of the item's shard at that moment, and an item counts as done only while its shard still
    matches, so a shard cut after the fact makes its item be redone instead of silently losing rows. A last line
    without its newline is a torn append (a crash): it is truncated and its work redone. A bad line anywhere
    else is corruption: :class:`ShardError` names file:line, and ``repair=True`` moves the shard aside (or drops
    the done line) so the affected item is redone."""

    record_type: type[Any] = dict  # a pydantic model with a ``key`` (unique inside its item): set by subclasses

    def __init__(self, out_dir: str | os.PathLike, *, repair: bool = False):
        self.root = Path(out_dir)
        self.done_path = self.root / "done.jsonl"
        self.repair = repair
        self._done: dict[tuple[str, str], dict] | None = None
        self._verified: set[tuple[str, str]] = set()
        self._clean: set[Path] = set()  # shards whose torn tail was already checked this run
        self._inputs: dict[tuple[str, str], str] | None = None
        self.inputs_path = self.root / "inputs.jsonl"
        self.repaired: list[str] = []
        self.invalidated: list[str] = []  # "source/item" whose shard was made from other inputs (discarded)

    def shard(self, source: str, item_id: str) -> Path:
        return self.root / "shards" / source / f"{_safe(item_id)}.jsonl"

    def _load_done(self) -> dict[tuple[str, str], dict]:
        out: dict[tuple[str, str], dict] = {}
        if not self.done_path.exists():
            return out
        truncate_torn_tail(self.done_path)
        bad: list[int] = []
        for i, obj in _read_lines(self.done_path, bad if self.repair else None):
            if not isinstance(obj.get("source"), str) or not isinstance(obj.get("item_id"), str):
                if not self.repair:
                    raise ShardError(self.done_path, i, "done line without 'source' / 'item_id'")
                bad.append(i)
                continue
            out[(obj["source"], obj["item_id"])] = obj  # a later line of an item supersedes an earlier one
        if bad:  # --repair: rewrite the index without the corrupt lines (their items are re-verified / redone)
            keep = [raw for k, raw in enumerate(self.done_path.read_bytes().split(b"\n"), start=1)
                    if raw.strip() and k not in bad]
            with atomic_open(self.done_path, "wb") as fh:
                fh.write(b"".join(r + b"\n" for r in keep))
            self.repaired.append(f"{self.done_path}: dropped corrupt line(s) {bad}")
        return out

    def _load_inputs(self) -> dict[tuple[str, str], str]:
        out: dict[tuple[str, str], str] = {}
        if self.inputs_path.exists():
            truncate_torn_tail(self.inputs_path)
            for i, obj in _read_lines(self.inputs_path):
                if not all(isinstance(obj.get(k), str) for k in ("source", "item_id", "inputs")):
                    raise ShardError(self.inputs_path, i, "inputs line without 'source' / 'item_id' / 'inputs'")
                out[(obj["source"], obj["item_id"])] = obj["inputs"]
        return out

    def claim(self, source: str, item_id: str, inputs: str) -> bool:
        """Tie the item's shard to ``inputs`` (a fingerprint of what its records are derived from). A shard (and
        done line) made from other inputs is stale: the shard is deleted and the item is not done any more, so it
        is rebuilt. Returns True when something was discarded. A shard of a folder written before inputs were
        recorded is kept (trusted) and tied to ``inputs``."""
        if self._inputs is None:
            self._inputs = self._load_inputs()
        key = (source, item_id)
        before = self._inputs.get(key)
        if before == inputs:
            return False
        stale = before is not None
        if stale:  # delete first: a crash before the new inputs line repeats this, never reuses the old shard
            self.shard(source, item_id).unlink(missing_ok=True)
            self._clean.discard(self.shard(source, item_id))
            if self._done is None:
                self._done = self._load_done()
            self._done.pop(key, None)
            self._verified.discard(key)
            self.invalidated.append(f"{source}/{item_id}")
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"source": source, "item_id": item_id, "inputs": inputs}, ensure_ascii=False)
        fsync_append(self.inputs_path, line.encode() + b"\n")
        self._inputs[key] = inputs
        return stale

    def done(self) -> set[tuple[str, str]]:
        if self._done is None:
            self._done = self._load_done()
        return set(self._done)

    def is_done(self, source: str, item_id: str) -> bool:
        """Done and its shard still holds exactly what was there when it was marked done."""
        if self._done is None:
            self._done = self._load_done()
        key = (source, item_id)
        entry = self._done.get(key)
        if entry is None:
            return False
        if "inputs" in entry and self._inputs is not None and self._inputs.get(key) != entry["inputs"]:
            del self._done[key]  # marked done for other inputs (claim() already deleted that shard)
            return False
        if key in self._verified or "shard_sha256" not in entry:  # (done lines of older versions: trusted)
            return True
        path = self.shard(source, item_id)
        ok = path.exists() and _sha256_file(path) == (entry.get("shard_bytes"), entry["shard_sha256"])
        if ok:
            self._verified.add(key)
        else:
            del self._done[key]
        return ok

    def _read_shard(self, path: Path) -> list[tuple[int, dict]]:
        if path not in self._clean:
            truncate_torn_tail(path)
            self._clean.add(path)
        try:
            return list(_read_lines(path))
        except ShardError:
            if not self.repair:
                raise
            aside = path.with_name(path.name + ".corrupt")
            os.replace(path, aside)
            self.repaired.append(f"{path}: corrupt, moved to {aside.name}; its item is redone")
            return []

    def recorded(self, source: str, item_id: str) -> dict[str, Any]:
        path = self.shard(source, item_id)
        if not path.exists():
            return {}
        return {r.key: r for r in (self.record_type.model_validate(o) for _, o in self._read_shard(path))}

    def append(self, record: Any) -> None:
        self.append_many([record])

    def append_many(self, records: list[Any]) -> None:
        """Append records of one item as whole lines with one write and one fsync."""
        if not records:
            return
        path = self.shard(records[0].source, records[0].item_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path not in self._clean:  # a torn last line (crash mid-write) must not swallow this record
            truncate_torn_tail(path)
            self._clean.add(path)
        fsync_append(path, b"".join(r.model_dump_json().encode() + b"\n" for r in records))

    def mark_done(self, source: str, item_id: str, n: int) -> None:
        """Record the item as done, with its shard's size and checksum (the shard is already fsynced)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self._done is None:
            self._done = self._load_done()  # also truncates a torn tail before this append
        path = self.shard(source, item_id)
        size, digest = _sha256_file(path) if path.exists() else (0, hashlib.sha256(b"").hexdigest())
        entry = {"source": source, "item_id": item_id, "records": n, "shard_bytes": size, "shard_sha256": digest}
        if self._inputs is not None and (source, item_id) in self._inputs:
            entry["inputs"] = self._inputs[(source, item_id)]
        fsync_append(self.done_path, (json.dumps(entry) + "\n").encode())
        self._done[(source, item_id)] = entry
        self._verified.add((source, item_id))

    def all_records(self) -> list[Any]:
        out: list[Any] = []
        base = self.root / "shards"
        if not base.exists():
            return out
        for path in sorted(base.glob("*/*.jsonl")):
            seen: dict[str, Any] = {}
            for _, obj in self._read_shard(path):
                rec = self.record_type.model_validate(obj)
                seen[rec.key] = rec  # the last record of a key (rubric and response) wins
            out.extend(seen.values())
        return out


def _read_lines(path: Path, bad: list[int] | None = None) -> Iterable[tuple[int, dict]]:
    """JSON-object lines of an append-only file whose torn tail was already truncated: any bad line is corrupt
    (:class:`ShardError`; with ``bad`` given, its number is collected instead)."""
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except (UnicodeDecodeError, ValueError):
            if bad is None:
                raise ShardError(path, i, "corrupt line (not a torn tail: the file was damaged)") from None
            bad.append(i)
            continue
        yield i, obj
