"""IFEval / IFBench rule checkers (rubrics.rules + rubrics.rules.ifverifiable)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rubrics import rules
from rubrics.rules import RuleArgumentError, UnsupportedRule, check, get_checker, is_supported, loose_variants
from rubrics.rules.synthetic import ifeval_response
from rubrics.schema import RuleVerifier


def V(rule_id: str, family: str = "ifeval", **kwargs) -> RuleVerifier:
    return RuleVerifier(family=family, rule_id=rule_id, kwargs=kwargs)


@pytest.fixture(scope="module")
def ifeval_rows(ifeval_path):
    return [json.loads(line) for line in ifeval_path.read_text().splitlines() if line.strip()]


def test_registries_cover_the_benchmark_ids(ifeval_rows):
    ids = {i for row in ifeval_rows for i in row["instruction_id_list"]}
    assert len(ids) == 25
    assert ids <= set(rules.supported_rule_ids("ifeval"))
    assert len(rules.supported_rule_ids("ifbench")) >= 50
    assert rules.supported_rule_ids("custom") == []
    assert is_supported(V("punctuation:no_comma")) and not is_supported(V("punctuation:nope"))
    assert not is_supported(RuleVerifier(family="custom", rule_id="x"))


def test_synthetic_oracle_on_every_ifeval_instruction(ifeval_rows):
    """Responses built to satisfy / violate one instruction of each real IFEval item get the known verdict."""
    checked = wrong = 0
    per_id: dict[str, set[bool]] = {}
    for row in ifeval_rows:
        for iid, kw in zip(row["instruction_id_list"], row["kwargs"]):
            kw = {k: v for k, v in kw.items() if v is not None}
            for satisfy in (True, False):
                resp = ifeval_response(iid, kw, row["prompt"], satisfy)
                if resp is None:
                    continue
                got = check(V(iid, **kw), resp, prompt=row["prompt"])
                checked += 1
                wrong += got != satisfy
                per_id.setdefault(iid, set()).add(got)
    assert checked > 1500 and wrong == 0
    assert all(per_id[i] == {True, False} for i in per_id if i != "language:response_language"), per_id


def test_strict_and_loose_modes_follow_ifeval():
    quoted = '"The whole answer is quoted."'
    v = V("startend:quotation")
    assert check(v, quoted) and check(v, quoted, loose=True)
    preamble = "Sure, here you go:\n" + quoted
    assert not check(v, preamble) and check(v, preamble, loose=True)  # first line removed
    lower = "this is **all** lowercase english text about the weather and the market today"
    bold = lower.replace("**all**", "**ALL**")
    assert not check(V("change_case:english_lowercase"), bold)
    assert not check(V("change_case:english_lowercase"), bold, loose=True)  # '*' removal does not fix case
    title_last = "<<Title>> body text\nsigned, me"
    nc = V("punctuation:no_comma")
    assert not check(nc, title_last) and check(nc, title_last, loose=True)  # last line removed
    assert len(loose_variants("a\nb\nc")) == 8 and loose_variants("a*\nb\nc*")[1] == "a\nb\nc"
    for resp in ("", "   \n "):  # an empty response never follows, as in the official evaluation
        assert not check(nc, resp) and not check(nc, resp, loose=True)


def test_fidelity_patches_documented_in_the_wrapper():
    # letter outside a-z: the official checker keeps it, if-verifiable / lm-eval draw a random letter
    v = V("keywords:letter_frequency", letter="#", let_frequency=3, let_relation="at least")
    assert check(v, "### done") and not check(v, "## done")
    # under-specified kwargs would make the official checker random: refused, naming the argument
    with pytest.raises(RuleArgumentError, match="num_words"):
        check(V("length_constraints:number_words", relation="at least"), "hello")
    with pytest.raises(RuleArgumentError, match="unknown kwargs"):
        check(V("punctuation:no_comma", bogus=1), "hello")
    with pytest.raises(RuleArgumentError, match="relation"):
        check(V("length_constraints:number_words", relation="about", num_words=3), "hello")
    # prompt_to_repeat falls back to the item's prompt
    rp = V("combination:repeat_prompt")
    assert check(rp, "Write a poem.\nRoses are red.", prompt="Write a poem.")
    assert not check(rp, "Roses are red.", prompt="Write a poem.")
    with pytest.raises(RuleArgumentError, match="prompt_to_repeat"):
        check(rp, "anything")


def test_unsupported_rule_names_family_and_id():
    with pytest.raises(UnsupportedRule) as exc:
        check(V("keywords:nope"), "text")
    assert isinstance(exc.value, KeyError)
    assert "ifeval" in str(exc.value) and "keywords:nope" in str(exc.value)
    with pytest.raises(UnsupportedRule, match="custom"):
        check(RuleVerifier(family="custom", rule_id="anything"), "text")


def test_checkers_are_built_once_and_cached():
    a = get_checker(V("length_constraints:number_words", relation="less than", num_words=7))
    b = get_checker(V("length_constraints:number_words", num_words=7, relation="less than"))
    c = get_checker(V("length_constraints:number_words", relation="less than", num_words=8))
    assert a is b and a is not c
    # the prompt is part of the key only for rules that read it
    assert get_checker(V("punctuation:no_comma"), "p1") is get_checker(V("punctuation:no_comma"), "p2")
    r1, r2 = get_checker(V("combination:repeat_prompt"), "p1"), get_checker(V("combination:repeat_prompt"), "p2")
    assert r1 is not r2 and r1("p1 and more") and not r1("p2 and more")


def test_ifbench_rules():
    wc = V("count:word_count_range", family="ifbench", min_words=3, max_words=5)
    assert check(wc, "one two three four") and not check(wc, "one two") and not check(wc, "a b c d e f g")
    nw = V("format:no_whitespace", family="ifbench")
    assert check(nw, "no_white_space_here") and not check(nw, "has white space")
    with pytest.raises(UnsupportedRule):
        check(V("count:nope", family="ifbench"), "x")


def test_missing_nltk_data_is_a_clear_error(monkeypatch, tmp_path):
    import nltk

    from rubrics.rules import NltkDataMissing, nltk_data

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.setattr(nltk, "download", lambda *a, **k: False)
    monkeypatch.setattr(nltk_data, "_tried", set())
    with pytest.raises(NltkDataMissing, match="NLTK_DATA") as exc:
        check(V("words:start_verb", family="ifbench"), "Go home now.")
    assert "averaged_perceptron_tagger_eng" in str(exc.value) and "words:start_verb" in str(exc.value)


def test_rules_import_neither_torch_nor_datasets():
    code = (
        "import sys; from rubrics.rules import check; from rubrics.verdicts import compute_verdicts; "
        "from rubrics.schema import RuleVerifier; "
        "assert check(RuleVerifier(family='ifeval', rule_id='punctuation:no_comma'), 'ok'); "
        "assert check(RuleVerifier(family='muldimif', rule_id='Length/Words', "
        "kwargs={'relation': 'at most', 'num': 3}), 'a b'); "
        "print(sorted(m for m in ('torch', 'datasets', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
