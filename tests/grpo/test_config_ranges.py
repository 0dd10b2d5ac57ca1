"""Numeric config fields are range-checked at load time, naming ``section.field`` and the file."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app
from grpo.train_config import PRESET_DIR, ConfigError, load_config


def test_negative_learning_rate_fails_the_dry_run_naming_field_and_file(tmp_path):
    data = yaml.safe_load((PRESET_DIR / "cpu-smoke.yaml").read_text())
    data["grpo"]["learning_rate"] = -1e-5
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(f"{path}: grpo.learning_rate: must be > 0")
    res = CliRunner().invoke(app, ["train", "policy", "--config", str(path), "--dry-run"])
    assert res.exit_code == 1 and "grpo.learning_rate" in res.output and "bad.yaml" in res.output


@pytest.mark.parametrize(
    "override,field",
    [
        ("grpo.num_generations=0", "grpo.num_generations"),
        ("grpo.per_device_train_batch_size=1.5", "grpo.per_device_train_batch_size"),
        ("grpo.warmup_ratio=2", "grpo.warmup_ratio"),
        ("grpo.max_grad_norm=-1", "grpo.max_grad_norm"),
        ("model.lora.r=0", "model.lora.r"),
    ],
)
def test_other_out_of_range_fields_are_named(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config("cpu-smoke", [override])


def test_valid_presets_still_load():
    for name in ("cpu-smoke", "single-gpu", "multi-gpu", "paper"):
        load_config(name)
