"""Programmatic positives and minimal-modification negatives: exact edits, verification, and coverage on the
shared IFEval / MulDimIF items (every produced pair violates its target rubric, checked independently)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from discriminator.data.build import BuildConfig, PairRecord, programmatic_item
from discriminator.data.compose import compose_positive
from discriminator.data.programmatic import make_negative, supported_rules, verify_pair
from rubrics.rules import check
from rubrics.schema import Rubric, RubricItem, RuleVerifier


def _item(*rules: tuple[str, str, dict], prompt: str = "Write about the sea.") -> RubricItem:
    return RubricItem(
        id="t1", prompt=prompt,
        rubrics=[Rubric(id=f"t1#{i}", text=f"{fam}:{rid}", verifier=RuleVerifier(family=fam, rule_id=rid, kwargs=kw))
                 for i, (fam, rid, kw) in enumerate(rules)],
    )


def test_no_comma_negative_is_a_single_inserted_comma():
    item = _item(("ifeval", "punctuation:no_comma", {}), ("ifeval", "length_constraints:number_words",
                                                          {"relation": "at least", "num_words": 30}))
    pos = compose_positive(item)
    assert pos.text and all(check(r.verifier, pos.text) for r in item.rubrics)
    edit = make_negative(item, item.rubrics[0], pos.text)
    assert edit.negative is not None and edit.negative.count(",") == 1 and len(edit.negative) == len(pos.text) + 1
    rec = programmatic_item(item, BuildConfig(), positive=pos.text)[0]
    assert rec.status == "accepted" and rec.label_source == "program"
    assert [rec.negative[s:e] for s, e in rec.negative_spans] == [","]
    s, e = rec.positive_spans[0]  # the words around the place where the comma is absent
    assert " " in rec.positive[s:e] and "," not in rec.positive[s:e]


def test_count_rule_uses_the_fewest_units_in_either_direction():
    for rel, n in (("at least", 40), ("less than", 60)):
        item = _item(("ifeval", "length_constraints:number_words", {"relation": rel, "num_words": n}))
        pos = compose_positive(item).text
        neg = make_negative(item, item.rubrics[0], pos).negative
        assert check(item.rubrics[0].verifier, pos) and not check(item.rubrics[0].verifier, neg)
        from if_verifiable.ifeval.instructions_util import count_words

        if rel == "at least":
            assert count_words(neg) == n - 1  # exactly one word below the limit
        else:
            assert count_words(neg) == n


def test_keyword_removal_keeps_the_word_count_and_labels_the_keyword():
    item = _item(("ifeval", "keywords:existence", {"keywords": ["lighthouse"]}),
                 ("ifeval", "length_constraints:number_words", {"relation": "at least", "num_words": 20}))
    (rec, _) = programmatic_item(item, BuildConfig())
    assert rec.status == "accepted", rec.reason
    assert "lighthouse" not in rec.negative.lower()
    assert [rec.positive[s:e].lower() for s, e in rec.positive_spans] == ["lighthouse"]
    assert len(rec.negative.split()) == len(rec.positive.split())


def test_muldimif_table_and_markdown_edits():
    item = _item(("muldimif", "Format/Table", {"rows": {"relation": "at most", "num": 3}, "optional": False}),
                 ("muldimif", "Format/Markdown", {"require_levels": [2], "min_headings": 1}),
                 ("muldimif", "Length/Words", {"relation": "at least", "num": 20}))
    recs = programmatic_item(item, BuildConfig())
    assert [r.status for r in recs] == ["accepted"] * 3, [r.reason for r in recs]
    table = recs[0]
    assert table.negative.count("\n|") == table.positive.count("\n|") + 1  # one more row, nothing else
    for r in recs:
        assert all(check(x.verifier, r.positive) for x in item.rubrics)
        assert not check(next(x for x in item.rubrics if x.id == r.rubric_id).verifier, r.negative)


def test_collateral_policy_reject_or_flag():
    # the repeated prompt contains the only comma-free place to break: any edit of the keyword flips it too
    item = _item(("ifeval", "keywords:existence", {"keywords": ["sea"]}),
                 ("ifeval", "combination:repeat_prompt", {"prompt_to_repeat": "Write about the sea."}))
    pos = compose_positive(item).text
    assert pos.startswith("Write about the sea.")
    reject = programmatic_item(item, BuildConfig(policy="reject"), positive=pos)[0]
    flag = programmatic_item(item, BuildConfig(policy="flag"), positive=pos)[0]
    assert reject.status == "rejected" and reject.collateral == ["t1#1"]
    assert flag.status == "flagged" and flag.collateral == ["t1#1"] and flag.usable


def test_llm_rubrics_and_unknown_rules_are_reported_unsupported():
    item = RubricItem(id="x", prompt="p", rubrics=[
        Rubric(id="x#0", text="Be polite."),
        Rubric(id="x#1", text="No commas.", verifier=RuleVerifier(family="ifeval", rule_id="punctuation:no_comma")),
    ])
    recs = {r.rubric_id: r for r in programmatic_item(item, BuildConfig())}
    assert recs["x#0"].status == "unsupported" and "LLM" in recs["x#0"].reason
    assert recs["x#1"].status == "accepted" and "x#0" in recs["x#1"].unverified


FLOOR_PRODUCED, FLOOR_CLEAN = 0.85, 0.8  # of rule-rubric attempts: usable pairs / pairs without collateral flips


def _stratified(items: list[RubricItem], per_family: int) -> list[RubricItem]:
    """The first ``per_family`` items holding each rule family (deterministic, covers every family)."""
    seen: Counter = Counter()
    out = []
    for it in items:
        fams = {f"{r.verifier.family}:{r.verifier.rule_id}" for r in it.rubrics if r.is_rule}
        if any(seen[f] < per_family for f in fams):
            out.append(it)
            seen.update(fams)
    return out


@pytest.fixture(scope="module")
def shared(ifeval_path, muldimif_path) -> tuple[list[PairRecord], dict]:
    from rubrics.importers import import_items

    ifeval, muldimif = import_items(str(ifeval_path)), import_items(str(muldimif_path))
    # every 16th item (an unbiased sample) plus the first items of each rule family (rare families covered)
    picked = {it.id: it for it in [*ifeval[::16], *muldimif[::16], *_stratified(ifeval, 1), *_stratified(muldimif, 2)]}
    records: list[PairRecord] = []
    for it in picked.values():
        records.extend(programmatic_item(it, BuildConfig(policy="flag")))
    rubrics = {r.id: (it, r) for it in picked.values() for r in it.rubrics}
    return records, rubrics


@pytest.fixture(scope="module")
def shared_records(shared) -> list[PairRecord]:
    return shared[0]


def test_every_produced_pair_violates_its_target_and_keeps_the_positive(shared):
    records, rubrics = shared
    produced = [r for r in records if r.usable]
    assert len(produced) > 150
    for k, rec in enumerate(produced):
        item, rubric = rubrics[rec.rubric_id]
        assert check(rubric.verifier, rec.positive, prompt=item.instruction), rec.rubric_id
        assert not check(rubric.verifier, rec.negative, prompt=item.instruction), rec.rubric_id
        assert rec.positive_spans and rec.negative_spans
        assert all(0 <= s < e <= len(rec.negative) for s, e in rec.negative_spans)
        if k % 4 == 0:  # the recorded collateral flips are reproducible
            again = verify_pair(item, rubric, rec.positive, rec.negative)
            assert sorted(again.collateral) == sorted(rec.collateral)


def test_coverage_per_family_on_shared_items(shared_records):
    by_family: dict[str, Counter] = defaultdict(Counter)
    for rec in shared_records:
        if rec.family != "llm":
            by_family[rec.family][rec.status] += 1
            by_family[rec.family]["with_positive"] += rec.positive is not None
    table = {f: dict(c) for f, c in sorted(by_family.items())}
    print(json.dumps(table, indent=1))
    # every registered family that got a template positive in the sample also got a verified negative
    registered = set(supported_rules())
    missing = sorted(f for f, c in by_family.items()
                     if f in registered and c["with_positive"] and not c["accepted"] + c["flagged"])
    assert not missing, json.dumps(table, indent=1)
    assert {f for f, c in by_family.items() if c["accepted"]} >= {f for f in registered if f.startswith("ifeval:")} & set(by_family)
    total = sum(c["accepted"] + c["flagged"] + c["rejected"] + c["unsupported"] for c in by_family.values())
    ok = sum(c["accepted"] + c["flagged"] for c in by_family.values())
    clean = sum(c["accepted"] for c in by_family.values())
    assert ok / total >= FLOOR_PRODUCED, (ok, total, table)
    assert clean / total >= FLOOR_CLEAN, (clean, total, table)
