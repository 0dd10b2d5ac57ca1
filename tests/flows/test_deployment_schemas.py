"""Every run form of ``rtt serve`` / ``rtt deploy`` is documented: each field of each deployment's parameter schema
(the form the Prefect UI draws, nested models included) has a plain-text description; the typed parameters of
``train-discriminator`` and ``train-policy`` build the same training configs as before."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel, Field

from flows.registry import FLOWS

ROOT = Path(__file__).resolve().parents[2]
#: markup that the UI shows raw or swallows: Sphinx roles, reST literals, anything that looks like an HTML tag
MARKUP = re.compile(r":(func|class|meth|mod|data|attr|obj):`|``|<[A-Za-z/][^>]*>")


def schema_problems(schema: dict) -> list[str]:
    """``where: problem`` for every field without a description or with markup, and every model with markup."""
    problems: list[str] = []

    def check(props: dict, where: str) -> None:
        for name, prop in props.items():
            text = prop.get("description") or ""
            if not text.strip():
                problems.append(f"{where}.{name}: no description")
            elif MARKUP.search(text):
                problems.append(f"{where}.{name}: markup in {text!r}")

    check(schema.get("properties", {}), "<parameters>")
    for model, d in {**schema.get("definitions", {}), **schema.get("$defs", {})}.items():
        check(d.get("properties", {}), model)
        if MARKUP.search(d.get("description") or ""):
            problems.append(f"{model}: markup in its description {d['description']!r}")
    return problems


class Inner(BaseModel):
    """Uses :func:`x`."""

    a: int = 1
    b: int = Field(1, description="default: rtt-<pipeline name>")


@pytest.fixture(scope="module")
def deployments(tmp_path_factory):
    from flows.pipeline import PipelineParams
    from flows.serve import build_deployments

    run = tmp_path_factory.mktemp("schemas") / "run"
    params = PipelineParams.from_yaml(ROOT / "configs" / "demo.yaml", [f"run_dir={run}"])
    return {d.name: d for d in build_deployments(params)}, run


def test_every_field_of_every_deployment_form_has_a_plain_text_description(deployments):
    deps, _ = deployments
    assert set(deps) == set(FLOWS)
    fields = 0
    for name, dep in deps.items():
        schema = dep._parameter_openapi_schema.model_dump_for_openapi()
        fields += len(schema["properties"]) + sum(
            len(d.get("properties", {})) for d in schema.get("definitions", {}).values()
        )
        assert schema_problems(schema) == [], name
        assert dep.description and not MARKUP.search(dep.description) and dep.description.endswith("."), name
    assert fields > 200  # the nested models are walked too


def test_schema_checker_catches_missing_descriptions_and_markup():
    from prefect.utilities.callables import parameter_schema

    def fn(p: Inner, q: int = 0):
        """Doc.

        Args:
            p: Described.
        """

    problems = schema_problems(parameter_schema(fn).model_dump_for_openapi())
    assert sorted(problems) == [
        "<parameters>.q: no description",
        "Inner.a: no description",
        "Inner.b: markup in 'default: rtt-<pipeline name>'",
        "Inner: markup in its description 'Uses :func:`x`.'",
    ]


def test_presets_enums_match_the_config_folders():
    from flows.discriminator import DiscPreset
    from flows.policy import PolicyPreset

    assert set(get_args(DiscPreset)) == {p.stem for p in (ROOT / "discriminator" / "configs").glob("*.yaml")}
    assert set(get_args(PolicyPreset)) == {p.stem for p in (ROOT / "grpo" / "configs").glob("*.yaml")}


def test_train_discriminator_form_defaults_to_the_reviewed_spans_once_a_pull_wrote_them(deployments):
    from flows.discriminator import TrainDiscriminatorParams

    deps, run = deployments
    form = deps["train-discriminator"].parameters["params"]
    assert form["data"] == str(run / "data" / "spans.parquet")
    assert form["reviewed"] == str(run / "review" / "spans.parquet")
    assert form["out"] == str(run / "discriminator") and form["preset"] == "minilm"
    assert form["num_train_epochs"] == 8 and form["extra"] == {"logging_steps": 5, "early_stopping_patience": None}
    params = TrainDiscriminatorParams.model_validate(form)
    assert params.overrides["data"] == form["data"]  # no pull yet: the automatic spans
    (run / "review").mkdir(parents=True)
    (run / "review" / "spans.parquet").write_bytes(b"")
    assert params.overrides["data"] == form["reviewed"]
    assert params.config == str(ROOT / "discriminator" / "configs" / "minilm.yaml")


def test_train_discriminator_typed_fields_build_the_training_config(tmp_path):
    from discriminator.config import TrainConfig
    from flows.discriminator import TrainDiscriminatorParams

    p = TrainDiscriminatorParams(
        data=str(tmp_path / "rows.parquet"),
        out=str(tmp_path / "run"),
        preset="tiny",
        max_steps=7,
        learning_rate=0.5,
        extra={"logging_steps": 3},
    )
    cfg = TrainConfig.from_yaml(p.config, **p.overrides)
    assert (cfg.max_steps, cfg.learning_rate, cfg.logging_steps, cfg.max_length) == (7, 0.5, 3, 256)
    assert cfg.data == tmp_path / "rows.parquet" and cfg.out == tmp_path / "run"
    with pytest.raises(ValueError, match="set max_steps with the field"):
        TrainDiscriminatorParams(data="x", extra={"max_steps": 3})
    with pytest.raises(ValueError, match="unknown training option.*no_such_option"):
        TrainDiscriminatorParams(data="x", extra={"no_such_option": 3})
    with pytest.raises(ValueError, match="preset"):
        TrainDiscriminatorParams(data="x", preset="huge")
    own = TrainDiscriminatorParams.from_options(str(tmp_path / "mine.yaml"), {"seed": 3}, data="x")
    assert own.config == str(tmp_path / "mine.yaml") and own.seed == 3


def test_train_policy_typed_fields_become_overrides(deployments):
    from flows.policy import TrainPolicyParams
    from grpo.train_config import load_config

    deps, run = deployments
    form = deps["train-policy"].parameters["params"]
    assert form["preset"] == "cpu-smoke" and form["discriminator"] == str(run / "discriminator-export")
    params = TrainPolicyParams.model_validate({**form, "max_steps": 2, "reward": "aon"})
    cfg = load_config(params.config, params.all_overrides())
    assert cfg.rtt.discriminator == str(run / "discriminator-export")
    # the demo's free overrides are applied after the typed fields: its learning task and 12 steps win
    assert [Path(x).as_posix()[-30:] for x in cfg.data.train] == ["data/demo/learning_train.jsonl"]
    assert cfg.grpo["max_steps"] == 12 and cfg.rtt.beta == 0
    assert cfg.name == "demo-policy"
    bare = TrainPolicyParams(max_steps=2, reward="aon", output_dir=str(run / "p"))
    cfg = load_config(bare.config, bare.all_overrides())
    assert (cfg.grpo["max_steps"], cfg.rtt.reward, cfg.grpo["output_dir"]) == (2, "aon", str(run / "p"))


def test_describe_prints_the_same_descriptions_as_the_form():
    from typer.testing import CliRunner

    from flows.cli import app
    from flows.discriminator import TrainDiscriminatorParams
    from flows.param_docs import form_rows

    for name in FLOWS:
        rows = form_rows(name)
        assert rows and all(r["description"] for r in rows), name
    r = CliRunner().invoke(app, ["serve", "--describe", "train-discriminator"])
    assert r.exit_code == 0, r.output
    for field in ("data", "reviewed", "preset", "max_steps"):
        desc = TrainDiscriminatorParams.model_fields[field].description
        assert f"| {field} |" in r.output and desc in r.output
    assert (
        "| preset | one of minilm, tiny, paper |" in r.output
        and "| max_steps | int \\| null | null | >= 1 |" in r.output
    )
    r = CliRunner().invoke(app, ["serve", "--describe", "nope"])
    assert r.exit_code == 1 and "unknown deployment" in r.output


def test_a_gpu_workers_accelerate_config_applies_only_when_the_form_and_preset_name_none(tmp_path, monkeypatch):
    from discriminator.config import TrainConfig
    from flows.discriminator import TrainDiscriminatorParams
    from flows.policy import TrainPolicyParams
    from grpo.train_config import load_config

    machine = str(ROOT / "grpo" / "configs" / "accelerate" / "deepspeed_zero3.yaml")
    disc = TrainDiscriminatorParams(data="rows.parquet", preset="tiny")
    pol = TrainPolicyParams()
    assert "accelerate_config" not in disc.machine_overrides()
    assert load_config(pol.config, pol.machine_overrides()).accelerate_config is None
    monkeypatch.setenv("RTT_ACCELERATE_CONFIG", machine)
    assert TrainConfig.from_yaml(disc.config, **disc.machine_overrides()).accelerate_config == machine
    assert load_config(pol.config, pol.machine_overrides()).accelerate_config == machine
    own = str(tmp_path / "mine.yaml")
    assert disc.model_copy(update={"accelerate_config": own}).machine_overrides()["accelerate_config"] == own
    assert load_config("multi-gpu", []).accelerate_config  # a preset naming its own file keeps it
    mg = TrainPolicyParams(preset="multi-gpu")
    assert load_config(mg.config, mg.machine_overrides()).accelerate_config != machine


def test_documented_form_tables_are_the_current_forms():
    """The forms the docs show (docs/reference/deployment-forms.md, which the orchestration guide links) are what
    `rtt serve --describe NAME` prints, each under its deployment's heading."""
    from flows.param_docs import markdown

    page = (ROOT / "docs" / "reference" / "deployment-forms.md").read_text(encoding="utf-8")
    for name in ("train-discriminator", "train-policy"):
        assert f"## `{name}` {{#{name}}}\n\n{markdown(name)}\n" in page, (
            f"the docs' table of {name} is stale: run python -m flows.cli_docs (= `rtt serve --describe {name}`)"
        )
