"""Which Trainer checkpoint a resume can use: the newest *intact* ``checkpoint-N`` folder of an output folder.

Shared by the discriminator trainer (:func:`discriminator.train.train`), the pipeline's restart decision and the
policy trainer's resume (:mod:`grpo.run`). Torch-free: a checkpoint is checked from its files alone.

A folder is intact when

* ``trainer_state.json`` exists (the Trainer writes it last) and parses as a JSON object;
* it holds model weights (``*.safetensors``, ``pytorch_model*.bin`` or a DeepSpeed ``global_step*`` folder);
* every ``*.safetensors`` file has a readable header whose tensors end exactly at the end of the file (a
  truncated file fails this: "incomplete metadata" is what safetensors itself says when loading it);
* every torch pickle (``*.pt``, ``*.pth``, ``*.bin``) is a readable zip archive (``torch.save``'s format; a
  truncated one has no central directory).

A folder cut while saving (no ``trainer_state.json``) is removed, as the run that wrote it died before finishing
it; any other broken folder is moved aside to ``corrupt-checkpoint-N`` (out of the Trainer's ``checkpoint-*``
rotation, kept for inspection) and named in :attr:`CheckpointChoice.skipped`.
"""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "checkpoint-"
CORRUPT_PREFIX = "corrupt-checkpoint-"
_PICKLE_SUFFIXES = (".pt", ".pth", ".bin")


def checkpoint_step(path: Path) -> int | None:
    """``N`` of a ``checkpoint-N`` folder name, else None."""
    tail = path.name.removeprefix(PREFIX)
    return int(tail) if path.name.startswith(PREFIX) and tail.isdigit() else None


def checkpoints(out: str | Path) -> list[Path]:
    """The ``checkpoint-N`` folders of ``out``, oldest step first."""
    out = Path(out)
    found = [p for p in out.glob(f"{PREFIX}*") if p.is_dir() and checkpoint_step(p) is not None] if out.is_dir() else []
    return sorted(found, key=lambda p: checkpoint_step(p) or 0)


def safetensors_problem(path: Path) -> str | None:
    """Why a ``.safetensors`` file cannot be loaded (short header, bad header JSON, data shorter or longer than
    the tensors it declares), else None."""
    size = path.stat().st_size
    if size < 8:
        return f"{path.name}: truncated ({size} bytes, no header)"
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if 8 + n > size:
            return f"{path.name}: truncated (header of {n} bytes, file of {size})"
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return f"{path.name}: unreadable header"
    if not isinstance(header, dict):
        return f"{path.name}: unreadable header"
    ends = [
        t["data_offsets"][1]
        for k, t in header.items()
        if k != "__metadata__"
        and isinstance(t, dict)
        and isinstance(t.get("data_offsets"), list)
        and len(t["data_offsets"]) == 2
    ]
    if len(ends) != sum(1 for k in header if k != "__metadata__"):
        return f"{path.name}: unreadable header"
    expected = 8 + n + max(ends, default=0)
    if expected != size:
        return (
            f"{path.name}: truncated ({size} of {expected} bytes)"
            if size < expected
            else f"{path.name}: {size - expected} bytes past its tensors"
        )
    return None


def _pickle_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return f"{path.name}: truncated or not a torch archive"
    return None


def checkpoint_problem(path: str | Path) -> str | None:
    """Why the checkpoint folder ``path`` cannot be resumed from, else None (see the module docstring)."""
    path = Path(path)
    state = path / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json (cut while saving)"
    try:
        if not isinstance(json.loads(state.read_text(encoding="utf-8")), dict):
            return "trainer_state.json: not a JSON object"
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "trainer_state.json: not valid JSON"
    files = [p for p in path.rglob("*") if p.is_file()]
    weights = [p for p in files if p.suffix == ".safetensors" or p.name.startswith("pytorch_model")]
    if not weights and not any(p.is_dir() for p in path.glob("global_step*")):
        return "no model weights (*.safetensors, pytorch_model*.bin or global_step*/)"
    for p in sorted(files):
        if p.suffix == ".safetensors":
            problem = safetensors_problem(p)
        elif p.suffix in _PICKLE_SUFFIXES:
            problem = _pickle_problem(p)
        else:
            continue
        if problem is not None:
            rel = p.relative_to(path)
            return problem if rel.parent == Path(".") else f"{rel.parent}/{problem}"
    return None


@dataclass
class CheckpointChoice:
    """The checkpoint to resume from (None: none is intact) and the newer ones skipped, with why."""

    path: Path | None
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def step(self) -> int:
        return 0 if self.path is None else checkpoint_step(self.path) or 0

    def note(self) -> str | None:
        """One line naming what was skipped, or None when nothing was."""
        if not self.skipped:
            return None
        parts = "; ".join(f"{p.name}: {why}" for p, why in self.skipped)
        to = f"resuming from {self.path.name}" if self.path is not None else "no intact checkpoint left"
        return f"skipped {len(self.skipped)} unusable checkpoint(s) ({parts}); {to}"


def newest_intact(out: str | Path, *, set_aside: bool = True) -> CheckpointChoice:
    """The newest intact ``checkpoint-N`` of ``out``. With ``set_aside`` the unusable newer ones are removed (cut
    while saving) or renamed ``corrupt-checkpoint-N`` (anything else), so the Trainer's rotation and the next
    save of step N do not meet them."""
    choice = CheckpointChoice(None)
    for ckpt in reversed(checkpoints(out)):
        problem = checkpoint_problem(ckpt)
        if problem is None:
            choice.path = ckpt
            break
        if set_aside:
            if not (ckpt / "trainer_state.json").exists():
                shutil.rmtree(ckpt)
            else:
                target = ckpt.with_name(CORRUPT_PREFIX + ckpt.name.removeprefix(PREFIX))
                n = 1
                while target.exists():
                    target, n = ckpt.with_name(f"{CORRUPT_PREFIX}{ckpt.name.removeprefix(PREFIX)}.{n}"), n + 1
                ckpt.rename(target)
                problem = f"{problem}; moved to {target.name}"
        choice.skipped.append((ckpt, problem))
    return choice


RESUME_LATEST = ("true", "last", "latest")


def resume_point(out: str | Path, requested: str | bool | None) -> CheckpointChoice:
    """Where a run asked to resume (``resume_from_checkpoint``) starts: nothing (None / false / empty), the
    newest intact checkpoint of ``out`` (true / last / latest: newer unusable ones are listed, not moved, as
    every process of a multi-process run decides the same), or the folder given, which must be intact.
    Raises ``FileNotFoundError`` / ``ValueError`` naming the folder and what is wrong with it."""
    if requested is None or requested is False or str(requested).strip().lower() in ("", "false", "none"):
        return CheckpointChoice(None)
    if requested is True or str(requested).strip().lower() in RESUME_LATEST:
        choice = newest_intact(out, set_aside=False)
        if choice.path is None:
            why = f" ({choice.note()})" if choice.skipped else ""
            raise FileNotFoundError(
                f"{out}: resume_from_checkpoint={requested!r} but no intact checkpoint-* folder to resume from{why}"
            )
        return choice
    path = Path(str(requested))
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: resume_from_checkpoint: no such checkpoint folder")
    problem = checkpoint_problem(path)
    if problem is not None:
        raise ValueError(
            f"{path}: resume_from_checkpoint: not an intact checkpoint: {problem} (give another "
            "one, or 'last' for the newest intact one)"
        )
    return CheckpointChoice(path)
