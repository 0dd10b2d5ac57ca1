"""Run a long stage (discriminator or policy training) as ``accelerate launch`` subprocesses, logs streamed.

A training config asks for several processes with ``num_processes > 1``:

* policy (:class:`grpo.train_config.PolicyTrainConfig`): the ``num_processes`` of its ``accelerate_config`` file
  (e.g. ``grpo/configs/accelerate/deepspeed_zero3.yaml``);
* discriminator (:class:`discriminator.config.TrainConfig`): its ``num_processes`` field (with an optional
  ``accelerate_config`` file).

Then the flow does not train in its own process: it runs ``python -m accelerate.commands.launch
--num_processes N [--config_file F] -m <module> ...`` and forwards every output line to the flow run logger
(so the Prefect UI shows the training log), and reads the run's summary file back when it exits. One process
stays in-process (no subprocess, no extra start-up cost). Inside a process that accelerate already launched
(``WORLD_SIZE`` / ``LOCAL_RANK`` set) nothing is relaunched.

``python -m flows.subprocess_launch disc-train --config F --overrides JSON`` is the entry each launched
process runs for the discriminator (the policy uses ``-m grpo.run``). Neither torch nor Prefect is imported
by this module at import time.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

REPO = Path(__file__).resolve().parents[1]


class LaunchConfig(BaseModel):
    """How to start a distributed run (the options of ``accelerate launch`` this project uses)."""

    model_config = ConfigDict(extra="forbid")

    num_processes: int = Field(1, ge=1, description="processes (GPUs); 1 trains in the flow's own process")
    config_file: str | None = Field(None, description="accelerate config file (DeepSpeed / FSDP settings)")
    mixed_precision: Literal["no", "fp16", "bf16", "fp8"] | None = None
    main_process_port: int | None = Field(None, ge=1, le=65535)
    cpu: bool | None = Field(None, description="CPU processes; None: when no CUDA device is visible")
    extra_args: list[str] = Field(default_factory=list, description="more `accelerate launch` arguments")

    @property
    def distributed(self) -> bool:
        return self.num_processes > 1

    def on_cpu(self) -> bool:
        if self.cpu is not None:
            return self.cpu
        import torch

        return not torch.cuda.is_available()

    def env(self) -> dict[str, str]:
        """Environment of the launched processes (``ACCELERATE_USE_CPU`` for CPU runs)."""
        return {"ACCELERATE_USE_CPU": "1"} if self.on_cpu() else {}

    @classmethod
    def from_config_file(cls, path: str | os.PathLike | None, **overrides: Any) -> LaunchConfig:
        """``num_processes`` (and ``mixed_precision``) from an accelerate YAML, then ``overrides`` (non-None)."""
        data: dict[str, Any] = {}
        if path:
            p = Path(path)
            if not p.is_file() and not p.is_absolute() and (REPO / p).is_file():
                p = REPO / p  # presets name their accelerate file relative to the repository
            if not p.is_file():
                raise FileNotFoundError(f"{p}: accelerate config file not found")
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{p}: an accelerate config must be a mapping")
            if loaded.get("num_processes") is not None:
                data["num_processes"] = int(loaded["num_processes"])
            data["config_file"] = str(p)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(data)


#: environment variable naming the accelerate config file of this machine (a job variable of a GPU worker); the
#: training flows use it when neither their parameters nor their preset name one
ACCELERATE_ENV = "RTT_ACCELERATE_CONFIG"


class LaunchError(RuntimeError):
    """The launched command failed; the message carries the exit status and the last output lines."""

    def __init__(self, cmd: Sequence[str], returncode: int, tail: Sequence[str]):
        self.cmd, self.returncode, self.tail = list(cmd), returncode, list(tail)
        last = "\n".join(self.tail[-15:])
        super().__init__(
            f"`{' '.join(self.cmd[:8])}{' ...' if len(self.cmd) > 8 else ''}` exited with status "
            f"{returncode}; last output lines:\n{last}"
        )


def already_launched() -> bool:
    """True inside a process started by ``accelerate launch`` / ``torchrun`` (never relaunch from there)."""
    return any(os.environ.get(k) for k in ("LOCAL_RANK", "ACCELERATE_LAUNCHED", "TORCHELASTIC_RUN_ID"))


def accelerate_command(module: str, args: Sequence[str], launch: LaunchConfig, python: str | None = None) -> list[str]:
    """``python -m accelerate.commands.launch [options] -m module args...`` (no PATH lookup of ``accelerate``)."""
    cmd = [python or sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(launch.num_processes)]
    if launch.config_file:
        cmd += ["--config_file", str(launch.config_file)]
    if launch.mixed_precision:
        cmd += ["--mixed_precision", launch.mixed_precision]
    if launch.main_process_port:
        cmd += ["--main_process_port", str(launch.main_process_port)]
    if not launch.config_file:
        cmd += ["--num_machines", "1", "--dynamo_backend", "no"]
        if not launch.mixed_precision:
            cmd += ["--mixed_precision", "no"]
        if launch.num_processes > 1:
            cmd += ["--multi_gpu"]  # torchrun-style processes; on CPU with ACCELERATE_USE_CPU (launch.env())
        elif launch.on_cpu():
            cmd += ["--cpu"]
    cmd += [*launch.extra_args, "-m", module, *args]
    return cmd


def run_streaming(
    cmd: Sequence[str],
    log: logging.Logger | logging.LoggerAdapter | None = None,
    *,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    timeout: float | None = None,
    tail: int = 40,
) -> list[str]:
    """Run ``cmd`` (own process group), forward each stdout/stderr line to ``log.info``; return the last lines.

    Raises :class:`LaunchError` on a non-zero exit and ``TimeoutError`` after ``timeout`` seconds; either way
    (and on KeyboardInterrupt / a cancelled flow run) the whole process group is terminated, then killed."""
    log = log or logging.getLogger("rtt.launch")
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1", **(env or {})}
    last: collections.deque[str] = collections.deque(maxlen=tail)
    proc = subprocess.Popen(
        list(cmd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=full_env,
        cwd=cwd,
        start_new_session=True,
        errors="replace",
    )

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                last.append(line)
                log.info("%s", line)

    reader = threading.Thread(target=pump, name="launch-log-pump", daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        raise TimeoutError(f"`{' '.join(cmd[:6])} ...` still running after {timeout:.0f} s; stopped") from None
    except BaseException:
        stop_group(proc)
        raise
    reader.join(timeout=10)
    if rc != 0:
        raise LaunchError(cmd, rc, list(last))
    return list(last)


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, the process group of a child started with ``start_new_session=True``."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


# ------------------------------------------------------------------------------------------------ policy


def policy_launch(cfg: Any) -> LaunchConfig | None:
    """The launch a :class:`grpo.train_config.PolicyTrainConfig` asks for (its ``accelerate_config`` file's
    ``num_processes``), or None to train in-process (one process, or already inside a launched process)."""
    if already_launched() or not getattr(cfg, "accelerate_config", None):
        return None
    launch = LaunchConfig.from_config_file(cfg.accelerate_config)
    return launch if launch.distributed else None


def launch_policy_training(
    config: str, overrides: Sequence[str], launch: LaunchConfig, log: Any = None, *, timeout: float | None = None
) -> dict[str, Any]:
    """``accelerate launch -m grpo.run`` for ``config``; returns its ``summary.json`` (a ``TrainSummary`` dict)."""
    from grpo.train_config import load_config

    cfg = load_config(config, list(overrides))
    summary = Path(cfg.grpo.get("output_dir") or f"runs/{cfg.name}") / "summary.json"
    started = time.time()
    args = ["--config", str(config)]
    for item in [*overrides, "grpo.disable_tqdm=true"]:
        args += ["--set", item]
    run_streaming(accelerate_command("grpo.run", args, launch), log, env=launch.env(), timeout=timeout)
    if not summary.is_file() or summary.stat().st_mtime < started:
        raise LaunchError(["grpo.run"], 0, [f"{summary}: not written by the launched run"])
    return json.loads(summary.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------ discriminator


def disc_launch(cfg: Any) -> LaunchConfig | None:
    """The launch a :class:`discriminator.config.TrainConfig` asks for (``num_processes`` > 1, with its optional
    ``accelerate_config`` file), or None to train in-process."""
    n = getattr(cfg, "num_processes", None)
    file = getattr(cfg, "accelerate_config", None)
    if already_launched() or (not file and not (n and n > 1)):
        return None
    launch = LaunchConfig.from_config_file(file, num_processes=n if n and n > 1 else None)
    return launch if launch.distributed else None


def disc_summary(out: str | os.PathLike) -> dict[str, Any]:
    """The result dict of a finished discriminator run folder (the keys of the in-process flow task)."""
    out = Path(out)
    summary = json.loads((out / "train_summary.json").read_text(encoding="utf-8"))
    meta_file = out / "model" / "rtt_discriminator.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    return {
        "out": str(out),
        "model_dir": str(out / "model"),
        "val_metrics": summary["val_metrics"],
        "threshold": summary["threshold"],
        "threshold_source": meta.get("threshold_source"),
        "pos_weight": summary["pos_weight"],
        "global_step": summary.get("global_step"),
        "seconds": summary.get("seconds", 0.0),
    }


def launch_disc_training(
    config: str | None,
    overrides: dict[str, Any],
    launch: LaunchConfig,
    log: Any = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    timeout: float | None = None,
) -> dict[str, Any]:
    """``accelerate launch -m flows.subprocess_launch disc-train ...``; returns the run's summary dict."""
    from discriminator.config import TrainConfig

    cfg = TrainConfig.from_yaml(config, **overrides)
    marker = Path(cfg.out) / "train_summary.json"
    started = time.time()
    args = ["disc-train", "--overrides", json.dumps(overrides, default=str)]
    if config:
        args += ["--config", str(config)]
    args += ["--resume"] if resume else []
    args += ["--overwrite"] if overwrite else []
    run_streaming(accelerate_command("flows.subprocess_launch", args, launch), log, env=launch.env(), timeout=timeout)
    if not marker.is_file() or marker.stat().st_mtime < started:
        raise LaunchError(["disc-train"], 0, [f"{marker}: not written by the launched run"])
    return disc_summary(cfg.out)


def _disc_train_main(ns: argparse.Namespace) -> None:
    from discriminator.config import TrainConfig
    from discriminator.train import train

    cfg = TrainConfig.from_yaml(ns.config, **json.loads(ns.overrides))
    rank0 = os.environ.get("RANK", "0") == "0"

    def progress(logs: dict[str, Any]) -> None:
        shown = {k: v for k, v in logs.items() if k in ("loss", "eval_loss", "eval_f1_best", "eval_auroc")}
        if rank0 and shown:
            print(f"step {logs.get('step')}/{logs.get('max_steps')} {json.dumps(shown)}", flush=True)

    result = train(cfg, resume=ns.resume, overwrite=ns.overwrite, progress=progress, disable_tqdm=True)
    if rank0:
        print(f"trained {result.model_dir}: val F1 {result.val_metrics.get('f1', 0.0):.3f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m flows.subprocess_launch",
        description="Entry points run by `accelerate launch` for the long stages.",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("disc-train", help="train the discriminator (discriminator.train.train) in this process")
    d.add_argument("--config", default=None)
    d.add_argument("--overrides", default="{}", help="JSON object of TrainConfig fields")
    d.add_argument("--resume", action="store_true")
    d.add_argument("--overwrite", action="store_true")
    ns = ap.parse_args(argv)
    if ns.command == "disc-train":
        _disc_train_main(ns)


if __name__ == "__main__":
    main()
