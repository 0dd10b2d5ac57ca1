"""File helpers shared by every stage: atomic writes and JSONL reading with precise errors."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)


class RecordError(ValueError):
    """Bad input, located: the file, the 1-based line (or record index) and the field."""

    def __init__(self, path: str | os.PathLike | None, line: int | None, field: str | None, reason: str):
        self.path, self.line, self.field, self.reason = (str(path) if path else None), line, field, reason
        where = ":".join(str(p) for p in (self.path, self.line) if p is not None) or "<input>"
        super().__init__(f"{where}: field {field!r}: {reason}" if field else f"{where}: {reason}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the final file the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temp file for writing; it replaces ``path`` only when the block exits cleanly."""
    with atomic_path(path) as tmp:
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    """Write rows (dicts or pydantic models) as JSONL atomically; return the row count."""
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            if hasattr(row, "model_dump"):
                row = row.model_dump(mode="json")
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str, obj: Any) -> tuple[str | None, str] | None:
    """``(field, reason)`` when the JSON ``obj`` parsed from ``text`` holds a string with a lone surrogate
    (``"\\ud83c"`` without its pair: JSON allows the escape, but it is not Unicode and cannot be written as UTF-8
    nor sent to an endpoint), else None. ``text`` is the line it was parsed from (a cheap pre-check)."""
    if not _SURROGATE_ESCAPE.search(text):
        return None

    def walk(value: Any, where: str) -> tuple[str | None, str] | None:
        if isinstance(value, str):
            m = _SURROGATE.search(value)
            if m:
                return where or None, (
                    f"lone surrogate U+{ord(m.group()):04X} at character {m.start()} (not valid "
                    "Unicode; the escape's pair is missing)"
                )
        elif isinstance(value, dict):
            for k, v in value.items():
                found = walk(v, f"{where}.{k}" if where else str(k))
                if found:
                    return found
        elif isinstance(value, list):
            for i, v in enumerate(value):
                found = walk(v, f"{where}[{i}]")
                if found:
                    return found
        return None

    return walk(obj, "")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)``; raise :class:`RecordError` on bad bytes, bad JSON or a non-object."""
    path = Path(path)
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError(path, lineno, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if lineno == 1:
                text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Windows editors)
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RecordError(path, lineno, None, f"malformed JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise RecordError(path, lineno, None, f"expected a JSON object, got {type(obj).__name__}")
            bad = lone_surrogate(text, obj)
            if bad:
                raise RecordError(path, lineno, *bad)
            yield lineno, obj


# ----------------------------------------------------------------------------------------------- staged folders

STAGING_PREFIX = ".staging-"
OUTPUT_MARKER = ".rtt-output.json"  # written into every staged output folder: "this folder is ours to replace"


def pid_alive(pid: int) -> bool:
    """A process with this pid exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_pid_lock(path: str | os.PathLike) -> bool:
    """Create ``path`` holding our pid; False when a live process holds it (a stale lock, whose process is gone,
    is taken over). Lets several worker processes share one output folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (ValueError, FileNotFoundError):
                pid = 0
            if pid > 0 and pid_alive(pid):
                return False
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        return True
    return False


def _staging_glob(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f"{STAGING_PREFIX}{out.name}-*")) if out.parent.is_dir() else []


def remove_orphaned_staging(out: str | os.PathLike) -> list[Path]:
    """Remove ``.staging-<name>-<pid>-*`` folders beside ``out`` left by killed runs (their pid is gone).

    A folder ending in ``-old`` is the previous output moved aside during a swap: when ``out`` itself is
    missing (the run died between the two renames) it is moved back instead of removed. Returns what was removed."""
    import shutil

    out = Path(out)
    removed = []
    for p in _staging_glob(out):
        parts = p.name[len(STAGING_PREFIX) + len(out.name) + 1 :].split("-")
        if not parts or not parts[0].isdigit() or pid_alive(int(parts[0])):
            continue
        if p.name.endswith("-old") and not out.exists():
            os.rename(p, out)
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL / ENOSYS / EOPNOTSUPP: filesystem or kernel without it
        return False
    raise OSError(err, os.strerror(err), str(b))


def is_our_output(out: Path, known: Iterable[str] = ()) -> bool:
    """A folder a staged write produced (marker file), or one holding only names the writer itself writes."""
    if (out / OUTPUT_MARKER).exists():
        return True
    names = set(known) | {"report.json", "report.md"}
    return all(p.name in names for p in out.iterdir())


class OutputError(OSError):
    """The output folder could not be written or swapped in; the message names ``--out``, not the staging path."""


@contextlib.contextmanager
def staged_dir(out: str | os.PathLike, *, kind: str = "output", known: Iterable[str] = ()) -> Iterator[Path]:
    """Build an output folder in ``.staging-<name>-<pid>-*`` beside ``out`` and swap it in as a whole.

    The block writes into the yielded folder. On success the staged folder replaces ``out`` (one atomic
    ``renameat2`` exchange where supported, else two renames with the old folder moved aside first), so ``out``
    is always either the complete old or the complete new folder, never a mix. On failure ``out`` is untouched.
    A non-empty ``out`` that no staged write produced (no marker, and names outside ``known``) is refused.
    Orphaned staging folders of killed runs are removed first. OS errors name ``out``."""
    import shutil
    import uuid

    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        remove_orphaned_staging(out)
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not is_our_output(out, known):
            raise OutputError(f"{out}: a non-empty folder this tool did not write; choose an empty or new --out")
        staging = out.parent / f"{STAGING_PREFIX}{out.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the output folder ({exc.strerror or exc})") from None
    old = staging.with_name(staging.name + "-old")
    try:
        try:
            yield staging
        except OutputError:
            raise
        except OSError as exc:  # a write into the staging folder failed (read-only, disk full): name --out
            if exc.filename is None or not str(exc.filename).startswith(str(staging)):
                raise
            raise OutputError(f"{out}: cannot write the output folder ({exc.strerror or exc})") from None
        try:
            (staging / OUTPUT_MARKER).write_text(json.dumps({"kind": kind}) + "\n", encoding="utf-8")
            os.chmod(staging, 0o777 & ~_UMASK)
            _fsync_dir(staging)
            if out.is_dir():
                if _rename_exchange(staging, out):
                    pass  # the old content now sits at the staging path and is removed below
                else:
                    os.rename(out, old)
                    try:
                        os.rename(staging, out)
                    except OSError:
                        os.rename(old, out)
                        raise
            else:
                os.rename(staging, out)
            _fsync_dir(out.parent)
        except OSError as exc:
            raise OutputError(f"{out}: cannot write the output folder ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- durable appends


def fsync_append(path: str | os.PathLike, data: bytes) -> int:
    """Append ``data`` (whole lines) to ``path`` and fsync; returns the file size afterwards."""
    with open(path, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
        return fh.tell()


def truncate_torn_tail(path: str | os.PathLike) -> int:
    """Cut a last line that does not end in a newline (a write interrupted by a crash); return bytes removed.

    Every writer appends whole lines ending in ``\\n`` in one write, so a missing final newline can only be an
    interrupted append."""
    path = Path(path)
    if not path.exists():
        return 0
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        # scan backwards for the last newline
        pos, block = size, 65536
        keep = 0
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return size - keep
