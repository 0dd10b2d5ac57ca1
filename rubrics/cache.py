"""A small on-disk key -> JSON cache (SQLite, WAL) that survives restarts and concurrent writers.

Each write is one transaction, so readers never see a half-written entry and several processes (or
threads) may write at once; SQLite serialises them (``busy_timeout``). Used by the LLM judge for verdicts and
usable for any other costly LLM answer (one ``namespace`` per use).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

DB_NAME = "cache.sqlite"


def cache_key(*parts: object) -> str:
    """A sha256 hex key of JSON-able parts (order matters)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class DiskCache:
    """``key -> JSON object`` store in ``<cache_dir>/cache.sqlite``, table ``namespace``."""

    def __init__(self, cache_dir: str | os.PathLike, namespace: str = "default", *, timeout_s: float = 60.0):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", namespace):
            raise ValueError(f"cache namespace must be an identifier, got {namespace!r}")
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / DB_NAME
        self.table = namespace
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False, isolation_level=None)
        deadline = time.monotonic() + timeout_s
        delay = 0.01
        while True:
            try:
                self._setup()
                break
            except sqlite3.OperationalError as exc:
                # switching to WAL takes an exclusive lock and SQLite does not apply busy_timeout to it:
                # several processes opening a new cache at once see "database is locked" -> retry until timeout
                if "locked" in str(exc) or "busy" in str(exc):
                    if time.monotonic() < deadline:
                        time.sleep(delay)
                        delay = min(delay * 2, 0.5)
                        continue
                self._conn.close()
                raise ValueError(
                    f"{self.path}: not a usable cache database ({exc}); move it away to start over"
                ) from None
            except sqlite3.DatabaseError as exc:
                self._conn.close()
                raise ValueError(
                    f"{self.path}: not a usable cache database ({exc}); move it away to start over"
                ) from None

    def _setup(self) -> None:
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
        )

    def __repr__(self) -> str:
        return f"DiskCache({str(self.path)!r}, namespace={self.table!r})"

    def get(self, key: str) -> dict[str, Any] | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The entries found, by key (missing keys are absent)."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(f"SELECT key, value FROM {self.table} WHERE key IN ({marks})", chunk)
                found.update((k, json.loads(v)) for k, v in rows)
        return found

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self.put_many({key: value})

    def put_many(self, items: Mapping[str, Mapping[str, Any]]) -> None:
        """Insert or replace entries in one atomic transaction."""
        now = time.time()
        rows = [(k, json.dumps(dict(v), ensure_ascii=False), now) for k, v in items.items()]
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?)", rows)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0]

    def clear(self) -> None:
        with self._lock:
            self._conn.execute(f"DELETE FROM {self.table}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DiskCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
