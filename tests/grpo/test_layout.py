"""Launch layouts: RL-step arithmetic derived from the process count (or refused, naming the fields), the paper
recipe presets, `rtt train policy --dry-run` on a CPU machine, and the launch scripts (printed, not started)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grpo.layout import resolve_layout, validation_overrides
from grpo.train_config import PRESETS, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("preset", ["paper", "paper-multinode", "multi-gpu"])
@pytest.mark.parametrize("processes", [1, 2, 4, 8, 16, 32])
def test_derived_layout_keeps_64_prompts_x_8(preset, processes):
    cfg = load_config(preset)
    lay = resolve_layout(cfg, processes=processes)
    k = cfg.launch.optimizer_steps_per_step
    assert lay.derived and lay.processes == processes
    assert (lay.prompts_per_step, lay.num_generations, lay.completions_per_step) == (64, 8, 512)
    # TRL's arithmetic: per RL step P * per_device * steps_per_generation, per optimiser step P * per_device * accum
    assert processes * lay.per_device_train_batch_size * lay.steps_per_generation == 512
    assert processes * lay.per_device_train_batch_size * lay.gradient_accumulation_steps == 512 // k
    assert lay.optimizer_steps_per_step == k and lay.per_device_train_batch_size <= cfg.launch.max_per_device_batch
    # and TRL itself agrees on this machine (the global arithmetic folded into one process)
    args = cfg.grpo_args(**validation_overrides(cfg, lay))
    assert args.generation_batch_size == 512 and args.steps_per_generation // args.gradient_accumulation_steps == k


def test_every_preset_resolves_and_validates_on_cpu():
    for name in PRESETS:
        cfg = load_config(name)
        lay = resolve_layout(cfg)
        cfg.grpo_args(**validation_overrides(cfg, lay))
        assert lay.completions_per_step % lay.num_generations == 0
    assert resolve_layout(load_config("paper")).processes == 8
    assert resolve_layout(load_config("paper-multinode")).processes == 16
    assert resolve_layout(load_config("paper-multinode"), nodes=4).processes == 32
    assert resolve_layout(load_config("multi-gpu")).processes == 4  # 5 GPUs, one for trl vllm-serve


def test_seven_processes_are_refused_naming_the_fields():
    """The audit: 7 processes silently trained on 56 prompts per step. Now refused."""
    with pytest.raises(ConfigError) as err:
        resolve_layout(load_config("paper"), processes=7)
    msg = str(err.value)
    assert "launch.processes" in msg and "grpo.per_device_train_batch_size" in msg
    assert "grpo.gradient_accumulation_steps" in msg and "64 prompts x 8" in msg
    with pytest.raises(ConfigError, match="launch.processes"):
        resolve_layout(load_config("paper-multinode"), nodes=3)  # 24 processes
    with pytest.raises(ConfigError, match=r"grpo\.per_device_train_batch_size"):
        resolve_layout(load_config("paper", ["grpo.per_device_train_batch_size=3"]), processes=8)
    with pytest.raises(ConfigError, match=r"grpo\.gradient_accumulation_steps"):
        resolve_layout(load_config("paper", ["grpo.gradient_accumulation_steps=8"]), processes=8)
    with pytest.raises(ConfigError, match=r"launch\.optimizer_steps_per_step"):
        resolve_layout(load_config("paper", ["launch.optimizer_steps_per_step=3"]), processes=8)
    # consistent explicit values are kept
    lay = resolve_layout(load_config("paper", ["grpo.per_device_train_batch_size=4"]), processes=8)
    assert (lay.per_device_train_batch_size, lay.gradient_accumulation_steps, lay.steps_per_generation) == (4, 8, 16)
    # without a launch section the values are as written, and a partial group is refused too
    with pytest.raises(ConfigError, match=r"grpo\.per_device_train_batch_size"):
        resolve_layout(load_config("cpu-smoke", ["grpo.per_device_train_batch_size=6"]))


def test_paper_presets_share_every_algorithm_setting():
    a, b = (yaml.safe_load((ROOT / "grpo" / "configs" / f"{n}.yaml").read_text()) for n in ("paper", "paper-multinode"))
    placement = {
        "vllm_mode",
        "vllm_gpu_memory_utilization",
        "vllm_enable_sleep_mode",
        "vllm_server_base_url",
        "vllm_server_timeout",
        "output_dir",
    }
    assert {k: v for k, v in a["grpo"].items() if k not in placement} == {
        k: v for k, v in b["grpo"].items() if k not in placement
    }
    for section in ("model", "data", "rtt", "judge"):
        assert a[section] == b[section], section
    assert {k: v for k, v in a["launch"].items() if k != "nodes"} == {
        k: v for k, v in b["launch"].items() if k != "nodes"
    }
    text = (ROOT / "grpo" / "configs" / "paper.yaml").read_text()
    for src in ("[paper]", "[recipe]", "[design]", "D1", "D2", "D3", "D4"):
        assert src in text  # every setting names its source; the deviations are named


class _Res:
    def __init__(self, code: int, out: str):
        self.returncode, self.stdout, self.stderr = code, out, ""


def _rtt(*args):
    """`rtt train policy ARGS` in-process (the same typer app the console script runs)."""
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["train", "policy", *args], env={"COLUMNS": "250"}, terminal_width=250)
    return _Res(res.exit_code, res.output)


def test_cli_dry_run_prints_the_layout_on_a_cpu_machine():
    """`rtt train policy --config paper --dry-run` used to stop with "Your setup doesn't support bf16/gpu"."""
    res = _rtt("--config", "paper", "--dry-run")
    assert res.returncode == 0, res.stderr + res.stdout
    out = res.stdout
    for needle in (
        "1 x 8 = 8",
        "64 x 8 = 512 completions",
        "2 of 256 completions",
        "8 x 4 x 8 (derived)",
        "vLLM colocate",
        "http://judge-host:8001/v1",
        "one full copy on each of the 8 training processes",
        "ZeRO-3",
        "accelerate launch",
        "--num_processes 8",
        "1000 / 500",
    ):
        assert needle in out, needle
    res = _rtt("--config", "paper-multinode", "--dry-run", "--nodes", "4")
    assert res.returncode == 0 and "4 x 8 = 32" in res.stdout and "8 x 1 x 32 (derived)" in res.stdout
    assert "--num_machines 4" in res.stdout and "trl vllm-serve" in res.stdout
    res = _rtt("--config", "paper", "--dry-run", "--processes", "7")
    assert res.returncode == 1 and "launch.processes" in res.stderr + res.stdout
    res = _rtt("--config", "paper", "--processes", "8")
    assert res.returncode == 1 and "--dry-run" in res.stderr + res.stdout


def test_run_time_layout_two_optimiser_steps_per_generation(
    tiny_policy_dir, tiny_decoder_disc_dir, ifeval_path, tmp_path, monkeypatch
):
    """The layout is applied at start-up (WORLD_SIZE processes): 2 prompts x 4 rollouts per RL step in 2 optimiser
    steps of 4 completions -> TRL generates ONCE for the two optimiser steps; a WORLD_SIZE that does not fit stops
    before anything is loaded."""
    from grpo.run import build_trainer

    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "name": "tiny-layout",
                "model": {"name_or_path": str(tiny_policy_dir)},
                "data": {"train": str(ifeval_path), "format": "ifeval", "limit": 4},
                "rtt": {"beta": 0.5, "discriminator": str(tiny_decoder_disc_dir)},
                "launch": {
                    "gpus_per_node": 1,
                    "prompts_per_step": 2,
                    "optimizer_steps_per_step": 2,
                    "max_per_device_batch": 4,
                },
                "grpo": {
                    "output_dir": str(tmp_path / "out"),
                    "use_cpu": True,
                    "bf16": False,
                    "max_steps": 2,
                    "num_generations": 4,
                    "max_completion_length": 8,
                    "save_strategy": "no",
                    "report_to": [],
                },
            }
        )
    )
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(ConfigError, match="launch.processes"):
        build_trainer(load_config(str(cfg_path)))
    monkeypatch.setenv("WORLD_SIZE", "1")
    trainer, _ = build_trainer(load_config(str(cfg_path)))
    a = trainer.args
    assert (a.per_device_train_batch_size, a.gradient_accumulation_steps, a.steps_per_generation) == (4, 1, 2)
    assert a.generation_batch_size == 8
    calls = []
    orig = trainer._generate_and_score_completions

    def counting(inputs):
        calls.append(len(inputs))
        return orig(inputs)

    trainer._generate_and_score_completions = counting
    trainer.train()
    assert trainer.state.global_step == 2 and calls == [8]  # one generation round of 2 x 4 for 2 optimiser steps


def _script_env(tmp_path, **kw):
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "scontrol").write_text("#!/bin/sh\nfor h in $HOSTS; do echo $h; done\n")
    (fake / "scontrol").chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{fake}:{BIN}:{os.environ['PATH']}",
        "RTT_LAUNCH_DRY_RUN": "1",
        "SLURM_JOB_NODELIST": "n[0-3]",
        **kw,
    }


@pytest.mark.slow  # three launch-script runs, each a fresh `rtt train policy --dry-run` (~18 s on a busy 2-core box)
def test_single_node_colocate_script(tmp_path):
    script = ROOT / "grpo" / "launch" / "single_node_colocate.sh"
    res = subprocess.run(
        ["bash", str(script), "--set", "grpo.max_steps=10"],
        capture_output=True,
        text=True,
        env=_script_env(tmp_path, JUDGE_URL="http://j:8001/v1", NPROC="8"),
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert line.startswith("accelerate launch --config_file grpo/configs/accelerate/deepspeed_zero3.yaml")
    assert "--num_processes 8" in line and "--config paper" in line and "judge.base_url=http://j:8001/v1" in line
    assert "grpo.max_steps=10" in line
    bad = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        env=_script_env(tmp_path, JUDGE_URL="http://j:8001/v1", NPROC="7"),
        timeout=300,
    )
    assert bad.returncode != 0 and "launch.processes" in bad.stderr + bad.stdout and "accelerate" not in bad.stdout
    nojudge = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        env={k: v for k, v in _script_env(tmp_path, NPROC="8").items() if k != "JUDGE_URL"},
    )
    assert nojudge.returncode != 0 and "JUDGE_URL" in nojudge.stderr


@pytest.mark.slow  # two sbatch-script runs, each a fresh `rtt train policy --dry-run` (~14 s on a busy 2-core box)
def test_slurm_script(tmp_path):
    script = ROOT / "grpo" / "launch" / "slurm_multinode.sbatch"
    res = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_script_env(tmp_path, HOSTS="n0 n1 n2 n3"),
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.replace("\\ ", " ").split())  # the printed commands are shell-quoted (%q)
    assert "2 x 8 = 16" in out  # the plan printed first
    assert "trl vllm-serve --model Qwen/Qwen3-4B-Instruct-2507 --data_parallel_size 8" in out
    assert "--nodelist=n0" in out and "--nodelist=n1" in out and "--nodelist=n2\\,n3" in out
    assert "vllm serve Qwen/Qwen3-235B-A22B-Instruct-2507" in out
    assert "--num_processes 16 --num_machines 2" in out and "--machine_rank \\$SLURM_PROCID" in out
    assert "--main_process_ip n2" in out and "grpo.vllm_server_base_url=http://n0:8000" in out
    assert "judge.base_url=http://n1:8001/v1" in out
    five = subprocess.run(
        ["bash", str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_script_env(tmp_path, HOSTS="n0 n1 n2 n3 n4"),
        timeout=300,
    )  # 3 training nodes = 24
    assert five.returncode != 0 and "launch.processes" in five.stderr + five.stdout
    assert "vllm-serve" not in five.stdout  # nothing started
