"""Honest discriminator evaluation: test-only files, metrics by positive source, calibration and temperature,
leave-one-family-out, human labels winning over automatic ones, and the export used with plain transformers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import torch

from discriminator.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    sigmoid,
)
from discriminator.config import EvalConfig, TrainConfig
from discriminator.data.schema import SpanRow, read_rows, write_rows
from discriminator.resolve import resolve_labels
from discriminator.splits import assign_splits
from discriminator.synthetic import toy_rows

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _with_positive_source(rows: list[SpanRow]) -> list[SpanRow]:
    """Alternate items between 'policy' and 'given' positives (meta key; a missing key means 'template')."""
    out = []
    for r in rows:
        n = int(r.item_id.rsplit("-", 1)[1])
        src = {0: None, 1: "policy", 2: "given"}[n % 3]
        out.append(r if src is None else r.model_copy(update={"meta": {**r.meta, "positive_source": src}}))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval-data") / "rows.parquet"
    write_rows(path, _with_positive_source(assign_splits(toy_rows(60, seed=3), 0.2, 0.2, seed=0)))
    return path


@pytest.fixture(scope="module")
def trained(data, tiny_bert_dir, tmp_path_factory):
    from discriminator.train import train

    cfg = TrainConfig(
        data=data,
        out=tmp_path_factory.mktemp("eval-run"),
        backbone=str(tiny_bert_dir),
        learning_rate=1e-2,
        num_train_epochs=6,
        per_device_train_batch_size=16,
        eval_steps=30,
        logging_steps=10,
        early_stopping_patience=None,
        max_length=256,
        temperature_scaling=True,
    )
    return train(cfg, disable_tqdm=True)


# -- calibration maths ---------------------------------------------------------------------------------------------
def test_ece_and_temperature_recover_known_answers():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < sigmoid(true_logits)).astype(int)
    # calibrated probabilities have a small ECE; the same logits x3 (over-confident) a large one
    assert expected_calibration_error(sigmoid(true_logits), y) < 0.02
    assert expected_calibration_error(sigmoid(3 * true_logits), y) > 0.08
    assert fit_temperature(3 * true_logits, y) == pytest.approx(3.0, rel=0.08)
    assert fit_temperature(0.5 * true_logits, y) == pytest.approx(0.5, rel=0.08)
    assert fit_temperature([1.0, 2.0], [1, 1]) == 1.0  # one class: nothing to fit
    # by hand: two bins, |0.2 - 0| and |0.9 - 0.5|, weighted 1/3 and 2/3
    assert expected_calibration_error([0.2, 0.9, 0.9], [0, 1, 0], n_bins=2) == pytest.approx(0.2 / 3 + 0.4 * 2 / 3)
    b = reliability_bins([0.2, 0.9, 0.9, 0.5], [0, 1, 0, -100], n_bins=2)
    assert b["count"].tolist() == [1, 2] and b["frequency"].tolist() == [0.0, 0.5]


# -- evaluation ----------------------------------------------------------------------------------------------------
def test_eval_reports_positive_sources_and_calibration(trained, data, tmp_path):
    from discriminator.evaluate import evaluate

    meta = json.loads((trained.model_dir / "rtt_discriminator.json").read_text())
    assert meta["temperature"] != 1.0 and meta["temperature"] == trained.meta.temperature > 0
    report = evaluate(
        EvalConfig(model=trained.model_dir, data=data, out=tmp_path / "ev", baselines=["all_relevant", "lexical"])
    )
    per = report.per_positive_source["discriminator"]
    assert set(per) == {"template", "policy", "given"}
    assert sum(per[s]["tokens"] for s in per) == report.overall["discriminator"]["tokens"]
    assert set(report.per_positive_source["lexical overlap"]) == set(per)
    cal = report.calibration
    assert 0 <= cal["ece"] <= 1 and cal["checkpoint_temperature"] == pytest.approx(trained.meta.temperature)
    assert "after_val_temperature" in cal and 0 <= cal["after_val_temperature"]["ece"] <= 1
    assert "## F1 / AUROC per positive source" in report.markdown and "| policy |" in report.markdown
    assert "## Calibration" in report.markdown
    assert (tmp_path / "ev" / "reliability.png").stat().st_size > 5000
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(saved["per_positive_source"]["discriminator"]) == set(per) and "bins" not in saved["calibration"]
    # character level: every method, same threshold as its token figure, on non-space characters only
    n_chars = sum(sum(not c.isspace() for c in r.response) for r in read_rows(data) if r.split == "test")
    assert set(report.characters) == set(report.overall) == set(saved["characters"])
    for name, m in report.characters.items():
        assert m["threshold"] == report.overall[name]["threshold"] and 0 < m["tokens"] <= n_chars
    assert report.characters["all-relevant"]["recall"] == 1.0
    assert "## Character level" in report.markdown


def test_character_metrics_count_characters_not_tokens():
    from discriminator.evaluate import SplitTokens, char_metrics

    row = _auto(spans=[(5, 8)])  # "one, two, three": gold = "two"
    offsets = [(0, 3), (3, 4), (5, 8), (8, 9), (10, 15)]  # one | , | two | , | three  (spaces uncovered)
    scores = [np.array([0.1, 0.2, 0.9, 0.6, 0.3], dtype=np.float32)]
    split = SplitTokens([row], [offsets], [np.array([0, 0, 1, 0, 0])])
    m = char_metrics(split, scores, 0.5)
    # 13 non-space characters: "two" (3) positive, ahead of the second comma (1 false positive)
    assert (m["tokens"], m["positives"]) == (13, 3)
    assert m["precision"] == pytest.approx(3 / 4) and m["recall"] == 1.0 and m["auroc"] == 1.0
    # the first comma (one character) outscores "two": 3 of the 3 x 10 positive/negative pairs are misordered
    chars_low = char_metrics(split, [np.array([0.1, 0.95, 0.9, 0.6, 0.3], dtype=np.float32)], 0.5)
    assert chars_low["auroc"] == pytest.approx(1 - 3 / (3 * 10)) and chars_low["precision"] == pytest.approx(3 / 5)


def test_scorer_applies_the_stored_temperature(trained):
    from discriminator.scoring import RelevanceScorer

    pairs = [("Do not use any commas in your response.", "Hello, world, the fox.")]
    scaled = RelevanceScorer.from_pretrained(trained.model_dir, device="cpu")
    raw = RelevanceScorer.from_pretrained(trained.model_dir, device="cpu")
    raw.meta = raw.meta.model_copy(update={"temperature": 1.0})
    p_t, p_1 = scaled.score_tokens(pairs)[0].double(), raw.score_tokens(pairs)[0].double()
    z = torch.log(p_1) - torch.log1p(-p_1)
    torch.testing.assert_close(p_t, torch.sigmoid(z / trained.meta.temperature), atol=1e-5, rtol=1e-4)


def test_eval_on_a_test_only_file_uses_the_checkpoint_threshold(trained, data, tmp_path):
    from discriminator.evaluate import evaluate

    test_rows = [r for r in read_rows(data) if r.split == "test"]
    only = tmp_path / "test_only.parquet"
    write_rows(only, test_rows)
    report = evaluate(EvalConfig(model=trained.model_dir, data=only, baselines=["lexical", "all_relevant"]))
    assert report.counts["val_rows"] == 0 and report.counts["test_rows"] == len(test_rows)
    assert report.overall["discriminator"]["threshold"] == pytest.approx(trained.meta.threshold)
    assert report.overall["lexical overlap"]["threshold"] == 0.5 and "no validation rows" in report.notes["thresholds"]
    assert "after_val_temperature" not in report.calibration
    # the same rows without a split field, evaluated whole with test_all (a held-out file of real responses)
    bare = tmp_path / "bare.jsonl"
    write_rows(bare, [r.model_copy(update={"split": None}) for r in test_rows])
    whole = evaluate(EvalConfig(model=trained.model_dir, data=bare, baselines=["all_relevant"], test_all=True))
    assert whole.overall["discriminator"]["f1"] == pytest.approx(report.overall["discriminator"]["f1"])
    # and a train item in such a file is refused (the model saw it)
    train_row = next(r for r in read_rows(data) if r.split == "train")
    write_rows(bare, [train_row.model_copy(update={"split": None})])
    with pytest.raises(ValueError, match="in the model's training set"):
        evaluate(EvalConfig(model=trained.model_dir, data=bare, baselines=["all_relevant"], test_all=True))


def test_cli_eval_test_only_file_and_positive_source_table(trained, data, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app

    only = tmp_path / "test_only.parquet"
    write_rows(only, [r for r in read_rows(data) if r.split == "test"])
    r = CliRunner().invoke(
        app,
        [
            "disc",
            "eval",
            "--model",
            str(trained.model_dir),
            "--data",
            str(only),
            "--baselines",
            "all_relevant",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "by positive source" in r.output and "policy" in r.output and "given" in r.output
    assert "ECE" in r.output and (tmp_path / "o" / "reliability.png").is_file()


@pytest.mark.slow  # trains one tiny discriminator per held-out family (~6 s on a busy 2-core box)
def test_family_holdout_sweep_cli(trained, tmp_path):
    """Each fold trains without one family and its items, and is tested on that family (CLI table)."""
    from typer.testing import CliRunner

    from discriminator.holdout import fold_rows, sample_items
    from flows.cli import app

    fams = ["keyword", "exclamation", "no_comma", "end_phrase"]  # toy items: no_comma on even, exclamation on odd
    rows = [
        r
        for r in toy_rows(48, seed=5)
        if r.family == f"toy:{fams[int(r.item_id.rsplit('-', 1)[1]) % 4]}"
        or (r.family == "toy:no_comma" and int(r.item_id.rsplit("-", 1)[1]) % 8 == 0)
    ]  # some share it
    rows = assign_splits(rows, 0.25, 0.0, seed=0)
    half = sample_items(rows, 0.5, seed=1)
    assert len({r.item_id for r in half}) == 24 and half == [r for r in rows if r.item_id in {h.item_id for h in half}]
    assert sample_items(rows, 0.5, seed=1) == half != sample_items(rows, 0.5, seed=2)
    rest, test = fold_rows(rows, "toy:no_comma", 2)
    assert {r.family for r in test} == {"toy:no_comma"} and all(r.split == "test" for r in test)
    assert not {r.item_id for r in rest} & {r.item_id for r in test}  # items of the held-out family are unseen
    assert "toy:keyword" in {r.family for r in rest} and len(rest) < len(rows) - len(test)  # shared items dropped
    path = tmp_path / "fam.parquet"
    write_rows(path, rows)
    out = tmp_path / "holdout"
    r = CliRunner().invoke(
        app,
        [
            "disc",
            "eval",
            "--model",
            str(trained.model_dir),
            "--data",
            str(path),
            "--out",
            str(out),
            "--family-holdout",
            "--max-steps",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "holdout.json").read_text())
    held = {row["family"] for row in saved["rows"]}
    assert held | set(saved["skipped"]) == {f"toy:{f}" for f in fams}
    assert len(held) >= 3 and "leave-one-family-out" in r.output
    for row in saved["rows"]:
        assert row["test_rows"] == sum(x.family == row["family"] for x in rows)
        assert set(row["metrics"]) == {"discriminator", "lexical overlap", "all-relevant"}
        train_items = set(
            json.loads((out / row["family"].replace(":", "_") / "run" / "model" / "train_items.json").read_text())
        )
        assert not train_items & {x.item_id for x in rows if x.family == row["family"]}
        assert (
            json.loads(
                (out / row["family"].replace(":", "_") / "run" / "model" / "rtt_discriminator.json").read_text()
            )["extra"]["global_step"]
            == 3
        )
    assert "| toy:keyword |" in (out / "holdout.md").read_text() or "toy:keyword" in saved["skipped"]


# -- transfer: response sources, lengths, thresholds, leave-one-source-out ------------------------------------
MODELS = ("model-a", "model-b", "model-c")


def _with_models(rows: list[SpanRow]) -> list[SpanRow]:
    """Item n's responses were written by MODELS[n % 3] (meta.response_model)."""
    return [
        r.model_copy(update={"meta": {**r.meta, "response_model": MODELS[int(r.item_id.rsplit("-", 1)[1]) % 3]}})
        for r in rows
    ]


def test_length_buckets_and_response_source():
    from discriminator.evaluate import length_bucket, response_source

    assert [length_bucket(n) for n in (1, 128, 129, 512, 513, 2048, 2049)] == [
        "<=128",
        "<=128",
        "<=512",
        "<=512",
        "<=2048",
        "<=2048",
        ">2048",
    ]
    row = _auto()
    assert response_source(row) == "template"
    assert response_source(row.model_copy(update={"positive_source": "policy"})) == "policy"
    assert (
        response_source(row.model_copy(update={"positive_source": "given", "meta": {"response_model": "gemma-7b-it"}}))
        == "gemma-7b-it"
    )


def test_threshold_transfer_by_hand():
    from discriminator.evaluate import SplitTokens, threshold_transfer

    rows = [_auto(rid="a"), _auto(rid="b")]
    labels = [np.array([1, 0, 0]), np.array([1, 1, 0, 0])]
    scores = [np.array([0.9, 0.2, 0.1]), np.array([0.4, 0.35, 0.3, 0.1])]
    split = SplitTokens(rows, [[(0, 1)] * 3, [(0, 1)] * 4], labels)
    t = threshold_transfer(split, scores, stored=0.8, used=0.5, by={"source": ["x", "y"]})
    # stored 0.8: one true positive of three -> P 1, R 1/3, F1 0.5; the same at 0.5
    assert t["overall"]["f1_stored"] == pytest.approx(0.5) and t["overall"]["f1_used"] == pytest.approx(0.5)
    # best on test: 0.35 keeps all three positives and no negative
    assert t["overall"]["f1_best"] == pytest.approx(1.0) and t["overall"]["best_threshold"] == pytest.approx(0.35)
    assert t["source: x"]["f1_stored"] == pytest.approx(1.0) and t["source: y"]["f1_stored"] == 0.0
    assert t["source: y"]["f1_best"] == pytest.approx(1.0) and t["source: y"]["tokens"] == 4


def test_eval_reports_response_sources_lengths_and_threshold_transfer(trained, tmp_path):
    from typer.testing import CliRunner

    from discriminator.evaluate import evaluate
    from flows.cli import app

    path = tmp_path / "models.parquet"
    write_rows(path, _with_models(assign_splits(toy_rows(60, seed=3), 0.2, 0.2, seed=0)))
    report = evaluate(
        EvalConfig(model=trained.model_dir, data=path, out=tmp_path / "ev", baselines=["all_relevant", "lexical"])
    )
    total = report.overall["discriminator"]["tokens"]
    per = report.per_response_source["discriminator"]
    assert set(per) <= set(MODELS) and len(per) >= 2 and sum(m["tokens"] for m in per.values()) == total
    lengths = report.per_length["discriminator"]
    assert set(lengths) == {"<=128"} and lengths["<=128"]["tokens"] == total  # toy responses are short
    assert set(report.per_length["lexical overlap"]) == set(lengths)
    t = report.threshold_transfer
    assert t["overall"]["f1_used"] == pytest.approx(report.overall["discriminator"]["f1"])
    assert t["overall"]["stored_threshold"] == pytest.approx(trained.meta.threshold)
    assert t["overall"]["f1_best"] >= max(t["overall"]["f1_used"], t["overall"]["f1_stored"]) - 1e-9
    assert {f"source: {m}" for m in per} | {"length: <=128"} <= set(t)
    assert "## Threshold transfer" in report.markdown and "## F1 / AUROC per response source" in report.markdown
    assert "## F1 / AUROC per response length (tokens)" in report.markdown
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(saved["per_response_source"]["discriminator"]) == set(per) and "overall" in saved["threshold_transfer"]
    r = CliRunner().invoke(
        app,
        [
            "disc",
            "eval",
            "--model",
            str(trained.model_dir),
            "--data",
            str(path),
            "--baselines",
            "all_relevant",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "by response source" in r.output and "by response length" in r.output and "threshold transfer" in r.output


@pytest.mark.slow  # trains one tiny discriminator per held-out source (~5 s on a busy 2-core box)
def test_source_holdout_sweep_cli(trained, tmp_path):
    """Each fold trains without one model's responses and is tested on that model's rows of unseen items."""
    from typer.testing import CliRunner

    from discriminator.holdout import source_fold_rows
    from flows.cli import app

    rows = _with_models(assign_splits(toy_rows(48, seed=5), 0.2, 0.3, seed=0))
    rest, test = source_fold_rows(rows, "model-b")
    assert test and {r.meta["response_model"] for r in test} == {"model-b"} and all(r.split == "test" for r in test)
    assert "model-b" not in {r.meta["response_model"] for r in rest} and {r.split for r in rest} <= {"train", "val"}
    assert not {r.item_id for r in rest} & {r.item_id for r in test}
    path = tmp_path / "models.parquet"
    write_rows(path, rows)
    out = tmp_path / "loso"
    r = CliRunner().invoke(
        app,
        [
            "disc",
            "eval",
            "--model",
            str(trained.model_dir),
            "--data",
            str(path),
            "--out",
            str(out),
            "--source-holdout",
            "--max-steps",
            "3",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "leave-one-source-out" in " ".join(r.output.split()) and "model-a" in r.output
    saved = json.loads((out / "holdout.json").read_text())
    assert {row["family"] for row in saved["rows"]} | set(saved["skipped"]) == set(MODELS)
    for row in saved["rows"]:
        assert row["test_rows"] == sum(x.split == "test" and x.meta["response_model"] == row["family"] for x in rows)
        assert set(row["per_length"]["discriminator"]) == {"<=128"} and "f1_best" in row["threshold"]
        trained_on = set(json.loads((out / row["family"] / "run" / "model" / "train_items.json").read_text()))
        assert not trained_on & {
            x.item_id for x in rows if x.meta["response_model"] == row["family"] and x.split == "test"
        }
    md = (out / "holdout.md").read_text()
    assert "# Leave-one-source-out" in md and "Per response length" in md and "| <=128 |" in md
    bad = CliRunner().invoke(
        app,
        [
            "disc",
            "eval",
            "--model",
            str(trained.model_dir),
            "--data",
            str(path),
            "--source-holdout",
            "--family-holdout",
        ],
    )
    assert bad.exit_code != 0 and "one" in bad.output


# -- human labels win ----------------------------------------------------------------------------------------------
def _auto(rid="a", spans=((4, 9),), source="program", verdict=-1) -> SpanRow:
    return SpanRow(
        id=rid,
        item_id="it",
        rubric_id="k",
        criteria="No commas.",
        response="one, two, three",
        char_spans=list(spans),
        label_source=source,
        verdict=verdict,
        split="train",
        polarity="negative",
    )


def _human(who: str, spans, minute: int, verdict=None, ground_truth=False, auto_id="a") -> SpanRow:
    return _auto(auto_id, spans).model_copy(
        update={
            "id": f"{auto_id}::human::{who}",
            "label_source": "human",
            "annotator": who,
            "verdict": verdict if verdict is not None else -1,
            "annotated_at": datetime(2026, 1, 1, 12, minute, tzinfo=UTC),
            "meta": {
                "review": {
                    "auto_row_id": auto_id,
                    "ground_truth": ground_truth,
                    "verdict_source": "human" if verdict is not None else "auto",
                }
            },
        }
    )


def test_a_human_correction_replaces_the_automatic_row():
    other = _auto("b").model_copy(update={"response": "no commas here", "char_spans": [], "polarity": "positive"})
    rows, rep = resolve_labels([_auto(), other, _human("ann", [], 0, verdict=1)])
    assert [r.id for r in rows] == ["a", "b"]  # one row per pair, the automatic id kept
    assert rows[0].label_source == "human" and rows[0].char_spans == [] and rows[0].verdict == 1
    assert rows[0].meta["resolution"]["auto_char_spans"] == [[4, 9]] and rows[1] == other
    assert (rep.human_resolved, rep.auto_replaced, rep.auto_changed, rep.rows_out) == (1, 1, 1, 2)


def test_latest_majority_and_adjudicated_policies():
    a, b, c = [(3, 4)], [(3, 4), (8, 9)], [(8, 9)]
    old_a = _human("x", [(0, 3)], 0)  # superseded by the same reviewer's later annotation
    rows = [_auto(), old_a, _human("x", a, 1), _human("y", b, 2), _human("z", c, 3)]
    latest, _ = resolve_labels(rows, "latest")
    assert latest[0].char_spans == c and latest[0].annotator == "z"
    major, rep = resolve_labels(rows, "majority")
    assert major[0].char_spans == [(3, 4), (8, 9)]  # each character marked by 2 of 3 reviewers
    assert rep.superseded_human == 1 and rep.multi_reviewer == 1
    tie, _ = resolve_labels([_auto(), _human("x", a, 1), _human("y", c, 2)], "majority")
    assert tie[0].char_spans == c  # 1-1 ties follow the most recent review
    disputed, rep = resolve_labels([_auto(), _human("x", a, 1), _human("y", c, 2)], "adjudicated")
    assert disputed == [] and rep.disputed == ["a"]
    judged, _ = resolve_labels([_auto(), _human("x", a, 1, ground_truth=True), _human("y", c, 2)], "adjudicated")
    assert judged[0].char_spans == a and judged[0].meta["resolution"]["policy"] == "adjudicated"
    lead, _ = resolve_labels([_auto(), _human("x", a, 1), _human("lead", c, 0)], "adjudicated", ["lead"])
    assert lead[0].char_spans == c
    agree, _ = resolve_labels([_auto(), _human("x", a, 1), _human("y", a, 2)], "adjudicated")
    assert agree[0].char_spans == a
    with pytest.raises(ValueError, match="unknown human label policy"):
        resolve_labels(rows, "vote")


def test_automatic_duplicates_keep_the_most_trusted_source():
    rows, rep = resolve_labels([_auto("g", [(0, 3)], "greedy"), _auto("p", [(3, 4)], "program")])
    assert [r.id for r in rows] == ["p"] and rep.auto_conflicts == 1


# -- the export, loaded the way users load it ----------------------------------------------------------------------
@pytest.mark.parametrize("which", ["trained-bert", "decoder"])
def test_export_with_plain_transformers_matches_relevance_scorer(which, trained, tiny_decoder_disc_dir, tmp_path):
    """Run the model card's plain-transformers snippet (AutoModelForTokenClassification + AutoTokenizer, template
    applied by hand) on the export folder: same per-token probabilities as RelevanceScorer."""
    import re

    from discriminator.export import export
    from discriminator.scoring import RelevanceScorer

    src = trained.model_dir if which == "trained-bert" else tiny_decoder_disc_dir
    out = export(src, tmp_path / "exported")
    card = (out / "README.md").read_text()
    code = re.search(r"## Plain transformers.*?```python\n(.*?)```", card, re.S).group(1)
    assert f'path = "{out.name}"' in code
    ns: dict = {}
    exec(code.replace(f'path = "{out.name}"', f"path = {str(out)!r}"), ns)  # noqa: S102 - the card's own code
    want = RelevanceScorer.from_pretrained(out, device="cpu").score_tokens([(ns["criteria"], ns["response"])])[0]
    assert len(ns["probs"]) == len(want) > 3
    torch.testing.assert_close(ns["probs"].float(), want, atol=1e-5, rtol=1e-4)
    if which == "trained-bert":
        assert ns["meta"]["temperature"] == pytest.approx(trained.meta.temperature) != 1.0
