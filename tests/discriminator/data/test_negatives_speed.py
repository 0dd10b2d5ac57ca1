"""Programmatic-pairs speed work: the pool, the verdict memo, the positive-search stall rule and the ASCII
grapheme fast path change the time, never the pairs (throughput itself is in benchmarks/bench_negatives.py)."""

from __future__ import annotations

import pytest

from discriminator.data import programmatic
from discriminator.data.build import BuildConfig, build_discriminator_dataset, programmatic_item
from discriminator.data.compose import STALL, compose_positive
from discriminator.data.diff_labels import _snap, grapheme_boundaries, snap_to_graphemes
from discriminator.data.edits import base as edits_base
from discriminator.data.pool import pool_workers, programmatic_records
from discriminator.data.schema import read_rows
from rubrics.schema import Rubric, RubricItem, RuleVerifier


@pytest.fixture(scope="module")
def shared_items(ifeval_path, muldimif_path) -> list[RubricItem]:
    from rubrics.importers import import_items

    return import_items(str(ifeval_path))[::60] + import_items(str(muldimif_path))[::120]


def _key(records):
    return [(r.item_id, r.rubric_id, r.status, r.positive, r.negative, r.positive_spans, r.negative_spans)
            for r in records]


def test_process_pool_gives_the_serial_records_in_input_order(shared_items):
    jobs = [(it, None, frozenset()) for it in shared_items]
    serial = [(it.id, _key(recs)) for it, recs in programmatic_records(jobs, BuildConfig(), workers=1)]
    pooled = [(it.id, _key(recs)) for it, recs in programmatic_records(jobs, BuildConfig(), workers=2, chunk=2)]
    assert [i for i, _ in pooled] == [it.id for it in shared_items]
    assert pooled == serial and sum(len(k) for _, k in serial) > 20


def test_pool_is_used_for_large_inputs_only():
    assert pool_workers(BuildConfig(), 10) == 1
    assert pool_workers(BuildConfig(pool_min_items=5), 10) >= 1
    assert pool_workers(BuildConfig(workers=3), 1) == 3


def test_build_with_a_pool_writes_the_same_rows(shared_items, tmp_path):
    a = build_discriminator_dataset(shared_items, tmp_path / "a", BuildConfig(workers=1))
    b = build_discriminator_dataset(shared_items, tmp_path / "b", BuildConfig(workers=2, pool_min_items=1))
    assert a.pairs == b.pairs > 0
    rows = lambda d: [(r.id, r.response, r.char_spans, r.split) for r in read_rows(d / "spans.parquet")]  # noqa: E731
    assert rows(tmp_path / "a") == rows(tmp_path / "b")


def test_verdicts_are_memoised_per_rule_and_text(monkeypatch):
    from rubrics import rules

    calls = []
    real = rules.evaluate
    monkeypatch.setattr(rules, "evaluate", lambda checker, text: calls.append(text) or real(checker, text))
    edits_base._VERDICTS.clear()
    r = Rubric(id="m#0", text="no commas", verifier=RuleVerifier(family="ifeval", rule_id="punctuation:no_comma"))
    assert programmatic.rule_passes(r, "a b c") is True
    assert programmatic.rule_passes(r, "a b c") is True
    assert programmatic.rule_passes(r, "a, b") is False
    assert calls == ["a b c", "a, b"]


def test_unsatisfiable_item_gives_up_early_with_the_reason():
    # two tables of different shapes cannot both hold: every rendering fails the same rule
    item = RubricItem(id="t", prompt="Make a table.", rubrics=[
        Rubric(id="t#0", text="a", verifier=RuleVerifier(family="muldimif", rule_id="Format/Table",
                                                         kwargs={"rows": {"relation": "exactly", "num": 2}})),
        Rubric(id="t#1", text="b", verifier=RuleVerifier(family="muldimif", rule_id="Format/Table",
                                                         kwargs={"rows": {"relation": "exactly", "num": 5}})),
    ])
    res = compose_positive(item)
    assert res.text is None and "no rendering satisfied" in res.reason
    assert res.tries <= 8 * STALL < 400  # 8 rendering styles x the stall limit; was 400 renders before the stall rule


def test_stall_rule_keeps_every_positive_it_found(shared_items):
    # the old search (no stall limit) and the new one find a positive for the same items
    for it in shared_items:
        old, new = compose_positive(it, stall=10**9), compose_positive(it)
        assert (old.text is None) == (new.text is None), it.id


@pytest.mark.parametrize("text", ["ab\r\ncd", "a\r\n\r\nb", "plain text here", "e\u0301t\u00e9 \U0001F469\u200D\U0001F4BB ok\r\n!"])
def test_grapheme_snapping_fast_path_matches_the_full_scan(text):
    bounds = grapheme_boundaries(text)
    spans = [(s, e) for s in range(len(text)) for e in range(s + 1, len(text) + 1)]
    assert snap_to_graphemes(text, spans) == [_snap(bounds, s, e) for s, e in spans]


def test_programmatic_item_is_deterministic_with_warm_memo(shared_items):
    it = shared_items[0]
    edits_base._VERDICTS.clear()
    cold = _key(programmatic_item(it, BuildConfig()))
    assert _key(programmatic_item(it, BuildConfig())) == cold
