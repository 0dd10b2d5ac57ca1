"""Policy samples are reused only when they were taken with the current settings: each line of
``policy_samples.jsonl`` records them; other settings are an error naming file:line, item and fields (or, with
``resample``, are discarded and sampled again); lines of earlier versions (no settings) are reused with one warning."""

from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

from discriminator.data.policy_samples import (
    SAMPLE_SETTINGS,
    PolicySampleConfig,
    PolicySamplesWarning,
    SampleSettingsError,
    sample_policy,
)
from rubrics.schema import Rubric, RubricItem, RuleVerifier

ITEMS = [RubricItem(id=f"t:{i}", prompt=f"Write about topic {i} without commas.",
                    rubrics=[Rubric(id=f"t:{i}#0", text="no commas",
                                    verifier=RuleVerifier(family="ifeval", rule_id="punctuation:no_comma"))])
         for i in range(3)]


class CountingSampler:
    """Deterministic stand-in for the policy: records which items it was asked to sample."""

    name = "counting"

    def __init__(self, tag: str = "a"):
        self.tag, self.asked = tag, []

    def sample(self, items, config, emit):
        for it in items:
            self.asked.append(it.id)
            emit(it, [f"{self.tag} {it.id} {j}" for j in range(config.k)])


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_each_line_records_the_settings_and_a_rerun_with_them_reuses_the_samples(tmp_path):
    path = tmp_path / "s.jsonl"
    cfg = PolicySampleConfig(model="m", k=2, max_new_tokens=16, temperature=0.7, top_p=0.9, seed=3, batch_size=4)
    first = sample_policy(ITEMS, cfg, path, sampler=CountingSampler())
    assert all(line["settings"] == {"model": "m", "base_url": None, "k": 2, "max_new_tokens": 16,
                                    "temperature": 0.7, "top_p": 0.9, "seed": 3} for line in _lines(path))
    # batch size, threads and concurrency change how, not what, is sampled: still reused
    again = CountingSampler("b")
    same = cfg.model_copy(update={"batch_size": 1, "threads": 1, "max_concurrency": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for lines with known, matching settings
        assert sample_policy(ITEMS, same, path, sampler=again) == first
    assert again.asked == []


@pytest.mark.parametrize("change", [{"k": 3}, {"max_new_tokens": 32}, {"temperature": 0.2}, {"top_p": 0.5},
                                    {"seed": 1}, {"model": "other"}, {"base_url": "http://127.0.0.1:9/v1"}])
def test_other_settings_are_an_error_naming_file_line_item_and_field(tmp_path, change):
    path = tmp_path / "s.jsonl"
    cfg = PolicySampleConfig(model="m", k=2)
    sample_policy(ITEMS, cfg, path, sampler=CountingSampler())
    before = path.read_bytes()
    field = next(iter(change))
    with pytest.raises(SampleSettingsError) as exc:
        sample_policy(ITEMS, cfg.model_copy(update=change), path, sampler=CountingSampler())
    msg = str(exc.value)
    assert f"{path}:1: item t:0" in msg and f"{field}: sampled with {getattr(cfg, field)!r}" in msg
    assert "3 lines in all" in msg and "--out" in msg and "--resample" in msg
    assert path.read_bytes() == before  # nothing lost


def test_resample_discards_only_mismatching_samples_and_samples_those_items_again(tmp_path):
    path = tmp_path / "s.jsonl"
    old = PolicySampleConfig(model="m", k=2)
    sample_policy(ITEMS[:2], old, path, sampler=CountingSampler("old"))
    new = old.model_copy(update={"temperature": 0.3, "resample": True})
    sample_policy(ITEMS[2:], new, path, sampler=CountingSampler("new"))  # t:2 already with the new settings
    sampler = CountingSampler("again")
    got = sample_policy(ITEMS, new, path, sampler=sampler)
    assert sampler.asked == ["t:0", "t:1"]
    assert got == {"t:0": ["again t:0 0", "again t:0 1"], "t:1": ["again t:1 0", "again t:1 1"],
                   "t:2": ["new t:2 0", "new t:2 1"]}
    lines = _lines(path)
    assert sorted(x["item_id"] for x in lines) == ["t:0", "t:1", "t:2"]  # the stale lines are gone
    assert {x["settings"]["temperature"] for x in lines} == {0.3}
    # and without resample the file is now consistent with the new settings
    assert sample_policy(ITEMS, new.model_copy(update={"resample": False}), path, sampler=CountingSampler()) == got


def test_lines_without_settings_are_reused_with_one_warning(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"item_id": it.id, "model": "smollm2", "responses": [f"old {it.id}"]}) + "\n"
                            for it in ITEMS[:2]))
    sampler = CountingSampler()
    with pytest.warns(PolicySamplesWarning) as rec:
        got = sample_policy(ITEMS, PolicySampleConfig(k=2, temperature=0.1, resample=True), path, sampler=sampler)
    assert len(rec) == 1 and "2 samples (lines 1-2)" in str(rec[0].message) and "unknown" in str(rec[0].message)
    assert sampler.asked == ["t:2"]  # legacy lines are reused, even with resample
    assert got["t:0"] == ["old t:0"] and got["t:1"] == ["old t:1"]
    messages: list[str] = []
    sample_policy(ITEMS, PolicySampleConfig(k=2, temperature=0.1), path, sampler=CountingSampler(),
                  warn=messages.append)
    assert len(messages) == 1 and str(path) in messages[0]


def test_settings_cover_what_determines_the_samples():
    assert set(SAMPLE_SETTINGS) == {"model", "base_url", "k", "max_new_tokens", "temperature", "top_p", "seed"}
    assert set(SAMPLE_SETTINGS) < set(PolicySampleConfig.model_fields)
    assert PolicySampleConfig.model_fields["resample"].description


def test_cli_changed_settings_stop_with_a_clear_error_and_resample_samples_again(scripted_openai, tmp_path):
    from tests.helpers.llm_server import Reply

    from flows.cli import app

    server = scripted_openai(responder=lambda body, n: Reply(content=f"no commas here at all {n}"))
    items = tmp_path / "items.jsonl"
    items.write_text(ITEMS[0].model_dump_json() + "\n")
    out = tmp_path / "o"
    base = ["data", "negatives", "-i", str(items), "-o", str(out), "--positives-from", "policy",
            "--policy-base-url", server.base_url, "--val-frac", "0", "--test-frac", "0"]
    runner = CliRunner()
    res = runner.invoke(app, [*base, "-k", "2"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*base, "-k", "3"])
    assert res.exit_code == 1
    assert "policy_samples.jsonl:1: item t:0" in res.output and "k: sampled with 2, now 3" in res.output
    res = runner.invoke(app, [*base, "-k", "3", "--resample"])
    assert res.exit_code == 0, res.output
    (line,) = _lines(out / "policy_samples.jsonl")
    assert line["settings"]["k"] == 3 and len(line["responses"]) == 3


def test_cli_warns_once_about_samples_of_unknown_settings(scripted_openai, tmp_path):
    from tests.helpers.llm_server import Reply

    from flows.cli import app

    server = scripted_openai(default=Reply(status=500))  # nothing may be asked: the old samples are reused
    items = tmp_path / "items.jsonl"
    items.write_text("".join(it.model_dump_json() + "\n" for it in ITEMS[:2]))
    out = tmp_path / "o"
    out.mkdir()
    (out / "policy_samples.jsonl").write_text("".join(
        json.dumps({"item_id": it.id, "model": "policy", "responses": ["no commas in this answer"]}) + "\n"
        for it in ITEMS[:2]))
    res = CliRunner().invoke(app, ["data", "negatives", "-i", str(items), "-o", str(out), "--positives-from", "policy",
                                   "--policy-base-url", server.base_url, "--val-frac", "0", "--test-frac", "0"])
    assert res.exit_code == 0, res.output
    assert res.output.count("settings, which are unknown") == 1 and "2 samples (lines 1-2)" in res.output


@pytest.mark.prefect
def test_flow_stops_on_samples_of_other_settings_and_resamples_when_asked(prefect_harness, scripted_openai, tmp_path):
    """The Prefect flow build-discriminator-data takes the same rule (``positives_from.resample``)."""
    import asyncio

    from tests.helpers.llm_server import Reply

    from flows.data import DataFlowParams, build_discriminator_data

    server = scripted_openai(responder=lambda body, n: Reply(content=f"no commas in this answer {n}"))
    items = tmp_path / "items.jsonl"
    items.write_text(ITEMS[0].model_dump_json() + "\n")
    out = tmp_path / "o"
    cfg = PolicySampleConfig(model="policy", base_url=server.base_url, k=2)
    sample_policy(ITEMS[:1], cfg.model_copy(update={"temperature": 0.2}), out / "policy_samples.jsonl",
                  sampler=CountingSampler("old"))
    params = DataFlowParams(inputs=[str(items)], out_dir=str(out), positives_from=cfg,
                            build={"val_frac": 0, "test_frac": 0})
    with pytest.raises(SampleSettingsError, match="temperature: sampled with 0.2, now 0.8"):
        asyncio.run(build_discriminator_data(params))
    params = params.model_copy(update={"positives_from": cfg.model_copy(update={"resample": True})})
    report = asyncio.run(build_discriminator_data(params))
    (line,) = _lines(out / "policy_samples.jsonl")
    assert line["settings"]["temperature"] == 0.8 and not line["responses"][0].startswith("old")
    assert report.positive_sources and all(k.startswith("policy/") for k in report.positive_sources)
