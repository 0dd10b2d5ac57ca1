"""Rubric data as it exists in the wild: HealthBench-style points, pitfall polarity, nested columns,
Tulu checkers with open-instruct's semantics, lenient builds that import nothing, IFBench ``n_start: 0``.

Fixtures (``tests/fixtures/wild``) are small rows written here in the shapes of the public files: HealthBench
raw and verl/RL layouts, RaR rows with both pitfall polarities, Tulu RLVR rows with ``ground_truth`` as a JSON
string and as an object.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from flows.cli import app
from grpo.advantages import response_rewards
from rubrics.build import EmptyDataset, build_rubric_dataset
from rubrics.exporters import NEGATED_PITFALL, read_items, to_rtt_row
from rubrics.importers import FieldError, SourceReader, SourceSpec, import_items
from rubrics.importers.base import Context
from rubrics.importers.source import CONVERTERS
from rubrics.negation import affirmative, guess_polarity, starts_negated
from rubrics.rules import check
from rubrics.rules import tulu as tulu_rules
from rubrics.schema import LLMVerifier, RuleVerifier

WILD = Path(__file__).resolve().parents[1] / "fixtures" / "wild"
runner = CliRunner()


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (WILD / name).read_text().splitlines() if line.strip()]


def to_parquet(rows_: list[dict], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows_), path)
    return path


# --------------------------------------------------------------------------------------------- HealthBench

HB_WEIGHTS = [[7.0, 3.0, -5.0, -2.0], [9.0, -10.0]]


def _check_healthbench(items, prefix: str) -> None:
    assert [[r.weight for r in it.rubrics] for it in items] == HB_WEIGHTS
    assert all(isinstance(r.verifier, LLMVerifier) for it in items for r in it.rubrics)
    first = items[0]
    assert first.id == f"{prefix}:3d6c1a52-0f44-4a2b-9d0e-5b2f1c9e8a11"
    assert first.messages[0].content.startswith("My lab report says calcium 9.5")
    assert first.rubrics[2].text == "Fails to mention that calcium is normal and suggests an urgent work-up."
    assert first.meta["rubric_tags"][first.rubrics[1].id] == ["level:example", "axis:context_awareness"]
    assert first.meta["pitfall_polarity"] == {
        first.rubrics[2].id: "format:describes-bad",
        first.rubrics[3].id: "format:describes-bad",
    }
    assert [m.role for m in items[1].messages] == ["system", "user"]


def test_healthbench_verl_parquet_is_detected_and_keeps_signed_points(tmp_path):
    """Repro 1: a verl Parquet row (chat prompt, rubrics under reward_model.rubrics) was 'no rubric column'."""
    path = to_parquet(rows("healthbench_verl.jsonl"), tmp_path / "hb.parquet")
    reader = SourceReader(SourceSpec(path=str(path), name="hb"))
    outs = list(reader)
    assert reader.format == "healthbench" and not [o.error for o in outs if o.error]
    items = [o.item for o in outs]
    _check_healthbench(items, "hb")
    assert items[0].meta["data_source"] == "healthbench" and items[0].meta["extra_info_split"] == "test"


def test_healthbench_raw_layout_and_build_report_counts_pitfalls(tmp_path):
    report = build_rubric_dataset([f"hb={WILD / 'healthbench_raw.jsonl'}"], tmp_path / "out", strict=True)
    assert report.sources[0].format == "healthbench" and report.items == 2 and report.rubrics == 6
    assert report.pitfalls == 3 and report.pitfall_polarity == {"format:describes-bad": 3}
    assert "## Pitfall polarity" in (tmp_path / "out" / "report.md").read_text()
    items = sorted(
        read_items(tmp_path / "out" / "train.jsonl")
        + read_items(tmp_path / "out" / "val.jsonl")
        + read_items(tmp_path / "out" / "test.jsonl"),
        key=lambda it: it.id,
    )
    assert sorted(w for it in items for w in (r.weight for r in it.rubrics)) == sorted(
        w for ws in HB_WEIGHTS for w in ws
    )
    _check_healthbench(import_items(SourceSpec(path=str(WILD / "healthbench_raw.jsonl"), name="hb")), "hb")


def test_generic_importer_takes_dotted_rubric_column(tmp_path):
    """Repro 1: --rubrics-col reward_model.rubrics was 'mapped rubrics column is missing'; --messages-col prompt
    gave every rubric weight 1.0."""
    path = to_parquet(rows("healthbench_verl.jsonl"), tmp_path / "hb.parquet")
    spec = SourceSpec(path=str(path), format="generic", name="g", columns={"rubrics": "reward_model.rubrics"})
    items = import_items(spec)
    assert [[r.weight for r in it.rubrics] for it in items] == HB_WEIGHTS
    assert items[0].messages and items[0].messages[0].role == "user"
    assert items[0].meta["pitfall_polarity"] == {
        items[0].rubrics[2].id: "heuristic:describes-bad",  # "Fails to ..." names a failure
        items[0].rubrics[3].id: "heuristic:describes-bad",
    }
    raw = SourceSpec(path=str(WILD / "healthbench_raw.jsonl"), format="generic", columns={"messages": "prompt"})
    assert [[r.weight for r in it.rubrics] for it in import_items(raw)] == HB_WEIGHTS  # points, not 1.0
    spec = SourceSpec(path=str(path), format="generic", name="g", columns={"rubrics": "reward_model"})
    with pytest.raises(
        Exception, match=r"hb.parquet:1: field 'reward_model': expected a list, got dict .*model\.rubrics"
    ):
        import_items(spec)
    result = runner.invoke(
        app,
        [
            "rubrics",
            "build",
            str(path),
            "-o",
            str(tmp_path / "cli"),
            "-f",
            "generic",
            "--rubrics-col",
            "reward_model.rubrics",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pitfall polarity: heuristic:describes-bad 3" in result.output


def test_healthbench_row_errors_are_located():
    row = rows("healthbench_raw.jsonl")[0]
    bad = {**row, "rubrics": [*row["rubrics"][:1], {"criterion": "x", "points": "many"}]}
    with pytest.raises(FieldError, match=r"rubrics\[1\]\.points: expected a number"):
        CONVERTERS["healthbench"](bad, Context("hb"))
    bad = {**row, "rubrics": [*row["rubrics"][:1], {"criterion": " ", "points": 2}]}
    with pytest.raises(FieldError, match=r"rubrics\[1\]\.criterion: missing or empty"):
        CONVERTERS["healthbench"](bad, Context("hb"))


# ------------------------------------------------------------------------------------------ HealthBench score


def test_healthbench_score_is_achieved_over_total_positive_points_clipped():
    w = torch.tensor([[7.0, 3.0, -5.0, -2.0]] * 4)
    mask = torch.ones(4, 4, dtype=torch.bool)
    # pass sign (+1 good for the response): a pitfall passes when its criterion is NOT met
    s = torch.tensor(
        [
            [1, 1, 1, 1],  # all positive met, no pitfall met: 10 / 10
            [1, -1, -1, 1],  # 7 - 5 = 2 -> 0.2
            [-1, -1, -1, -1],  # 0 - 7 < 0 -> clipped to 0
            [1, -1, 1, 1],  # 7 / 10
        ]
    )
    got = response_rewards(s, mask, w, "healthbench")
    assert torch.allclose(got, torch.tensor([1.0, 0.2, 0.0, 0.7]))
    weighted = response_rewards(s, mask, w, "weighted")  # sum |w| pass / sum |w|, for comparison
    assert torch.allclose(weighted, torch.tensor([1.0, 9 / 17, 0.0, 14 / 17]))
    no_positive = response_rewards(torch.tensor([[1]]), torch.tensor([[True]]), torch.tensor([[-3.0]]), "healthbench")
    assert no_positive.tolist() == [0.0]


# ---------------------------------------------------------------------------------------------- RaR polarity


def test_rar_pitfall_polarity_auto_uses_fields_then_heuristic_and_uid():
    """Repro 2: "Does not misinterpret ..." (-1) describes the good behaviour; the polarity field and uid were
    ignored."""
    items = import_items(SourceSpec(path=str(WILD / "rar_polarity.jsonl"), name="rar"))
    a, b, c = items
    assert [it.id for it in items] == ["rar:rar-med-0001", "rar:rar-med-0002", "rar:rar-med-0003"]
    assert [r.weight for r in a.rubrics] == [5.0, 3.0, 1.0, -2.0]  # heuristic: "Does not ..." describes good
    assert a.meta["pitfall_polarity"] == {
        a.rubrics[2].id: "heuristic:describes-good",
        a.rubrics[3].id: "heuristic:describes-bad",
    }
    assert a.rubrics[2].text == "Pitfall Criteria: Does not misinterpret the cystic mass as a tumor."  # never rewritten
    assert [r.weight for r in b.rubrics] == [5.0, 1.0]  # record-level polarity field
    assert b.meta["pitfall_polarity"] == {b.rubrics[1].id: "record:describes-good"}
    assert [r.weight for r in c.rubrics] == [5.0, -1.0, 2.0]  # per-rubric polarity fields win
    assert set(c.meta["pitfall_polarity"].values()) == {"record:describes-bad", "record:describes-good"}
    declared = import_items(
        SourceSpec(path=str(WILD / "rar_polarity.jsonl"), name="rar", pitfall_polarity="describes-bad")
    )
    assert [r.weight for r in declared[0].rubrics] == [5.0, 3.0, -1.0, -2.0]
    assert set(declared[1].meta["pitfall_polarity"].values()) == {"declared:describes-bad"}
    with pytest.raises(FieldError, match=r"rubric\[0\]\.polarity"):
        CONVERTERS["rar"](
            {
                **rows("rar_polarity.jsonl")[0],
                "rubric": [{"description": "Claims X.", "weight": -1, "polarity": "sideways"}],
            },
            Context("rar"),
        )


def test_rtt_export_never_writes_a_double_negative(tmp_path):
    """Repro 2: --rtt wrote "The response must NOT do the following: Does not misinterpret ..."."""
    items = import_items(SourceSpec(path=str(WILD / "rar_polarity.jsonl"), name="rar"))
    items += import_items(SourceSpec(path=str(WILD / "healthbench_raw.jsonl"), name="hb"))
    texts = [t for it in items for t in to_rtt_row(it)["rubrics"]]
    assert "Pitfall Criteria: Does not misinterpret the cystic mass as a tumor." in texts  # a requirement now
    assert "Mentions that calcium is normal and suggests an urgent work-up." in texts  # "Fails to mention" pitfall
    assert NEGATED_PITFALL + "Pitfall Criteria: Claims that every cystic mass needs an immediate biopsy." in texts
    assert NEGATED_PITFALL + "Recommends aspirin at an adult dose." in texts
    for t in texts:
        if t.startswith(NEGATED_PITFALL):
            assert not starts_negated(t[len(NEGATED_PITFALL) :]), t
    # declared describes-bad: "Does not recommend fruit juice" stays a pitfall and is exported affirmatively
    spec = SourceSpec(path=str(WILD / "rar_polarity.jsonl"), name="rar", pitfall_polarity="describes-bad")
    forced = import_items(spec)
    forced_texts = [t for it in forced for t in to_rtt_row(it)["rubrics"]]
    assert "Misinterprets the cystic mass as a tumor." in forced_texts
    assert "Recommends fruit juice or soda." in forced_texts
    assert not any(t.startswith(NEGATED_PITFALL) and starts_negated(t[len(NEGATED_PITFALL) :]) for t in forced_texts)
    result = runner.invoke(
        app,
        [
            "rubrics",
            "build",
            str(WILD / "rar_polarity.jsonl"),
            "-o",
            str(tmp_path / "o"),
            "--rtt",
            "--val-frac",
            "0",
            "--test-frac",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    written = [json.loads(x) for x in (tmp_path / "o" / "rtt" / "train.jsonl").read_text().splitlines()]
    assert not any("NOT do the following: Pitfall Criteria: Does not" in c for r in written for c in r["rubrics"])
    assert "heuristic:describes-good 1" in result.output and "record:describes-good 2" in result.output


@pytest.mark.parametrize(
    "text, affirm, polarity",
    [
        ("Fails to mention that calcium is normal.", "Mentions that calcium is normal.", "describes-bad"),
        ("Does not misinterpret the mass as a tumor.", "Misinterprets the mass as a tumor.", "describes-good"),
        ("The response doesn't ask about allergies.", "The response asks about allergies.", "describes-good"),
        ("Never clarifies the dose.", "Clarifies the dose.", "describes-good"),
        ("Is not concise.", "Is concise.", "describes-good"),
        ("Omits the dosage.", "Includes the dosage.", "describes-bad"),
        ("Pitfall Criteria: Does not address fluids.", "Addresses fluids.", "describes-good"),
        ("Claims that X cures Y.", None, "describes-bad"),
        ("Avoids jargon.", None, "describes-good"),
        ("Correctly identifies the rash.", None, "describes-good"),
    ],
)
def test_negation_rewrite_and_polarity_heuristic(text, affirm, polarity):
    assert affirmative(text) == affirm and guess_polarity(text) == polarity


# ------------------------------------------------------------------------------------------------------ Tulu


def test_tulu_rows_with_string_and_object_ground_truth_map_to_tulu_rules():
    items = import_items(SourceSpec(path=str(WILD / "tulu_rlvr.jsonl"), name="tulu"))
    assert [it.id for it in items] == [f"tulu:tulu-if-{i}" for i in range(1, 5)]
    got = [(r.verifier.family, r.verifier.rule_id, r.verifier.kwargs) for it in items for r in it.rubrics]
    assert got == [
        ("tulu", "verify_paragraph_count", {"N": 17}),
        ("tulu", "verify_keyword_frequency", {"word": "nonsensorial", "N": 17}),
        ("tulu", "validate_choice", {"options": ["My answer is yes.", "My answer is no.", "My answer is maybe."]}),
        ("tulu", "validate_word_constraint", {"N": 40, "quantifier": "around"}),
    ]
    assert all(r.weight == 1.0 for it in items for r in it.rubrics)
    assert items[0].rubrics[0].text == (
        "The response must have exactly 17 paragraphs, separated by the markdown divider * * *."
    )
    assert items[3].rubrics[0].text == "The response must contain around 40 words (within 4)."


def test_tulu_paragraph_divider_is_open_instructs():
    """Repro 3: 17 paragraphs divided by '* * *' pass open-instruct's checker; '***' does not."""
    item = import_items(SourceSpec(path=str(WILD / "tulu_rlvr.jsonl"), name="tulu"))[0]
    v = item.rubrics[0].verifier
    spaced = "\n* * *\n".join(f"Paragraph {i} about the lighthouse." for i in range(17))
    tight = "\n***\n".join(f"Paragraph {i} about the lighthouse." for i in range(17))
    assert check(v, spaced) is True and check(v, tight) is False


def test_tulu_keyword_frequency_is_counted_by_a_program():
    """Repro 4: "nonsensorial exactly 17 times" went to the LLM judge."""
    item = import_items(SourceSpec(path=str(WILD / "tulu_rlvr.jsonl"), name="tulu"))[1]
    r = item.rubrics[0]
    assert r.is_rule
    text17 = " ".join("Nonsensorial," if i % 2 else "nonsensorial" for i in range(17)) + " nonsensorially."
    assert check(r.verifier, text17) is True  # whole words, case-insensitive; 'nonsensorially' is another word
    assert check(r.verifier, text17.replace("Nonsensorial,", "x,", 1)) is False


# One case per func_name: (kwargs, response, open-instruct's verdict). Several are chosen where the IFEval rule of
# the same name decides differently (noted), so a mapping back to IFEval fails here.
TULU_CASES = {
    "verify_keywords": [
        ({"keyword_list": ["Tea", "leaf"]}, "I like teapots and leafy greens.", True),
        ({"keyword_list": ["Tea", "leaf"]}, "I like coffee leaves.", False),
    ],
    "verify_keyword_frequency": [
        ({"word": "tea", "N": 2}, "Tea, tea and teapots.", True),
        ({"word": "tea", "N": 2}, "Tea and teapots.", False),
    ],
    "validate_forbidden_words": [
        ({"forbidden_words": ["cat"]}, "A category error.", False),  # IFEval: passes
        ({"forbidden_words": ["cat"]}, "A dog barks.", True),
    ],
    "verify_letter_frequency": [
        ({"letter": "a", "N": 3}, "Banana A", True),  # case-sensitive
        ({"letter": "a", "N": 3}, "bananas a", False),
    ],
    "validate_response_language": [
        ({"language": "en"}, "This is a complete sentence written in plain English about the weather today.", True),
        ({"language": "en"}, "Dies ist ein vollständiger Satz, der auf Deutsch geschrieben ist.", False),
    ],
    "verify_paragraph_count": [
        ({"N": 3}, "One\n* * *\nTwo\n* * *\nThree", True),
        ({"N": 3}, "One\n***\nTwo\n***\nThree", False),  # IFEval number_paragraphs: passes
        ({"N": 3}, "One\n* * *\n\n* * *\nThree", False),
    ],
    "validate_word_constraint": [
        ({"N": 2, "quantifier": "at most"}, "don't-stop, now!", True),  # IFEval: 4 words
        ({"N": 10, "quantifier": "around"}, " ".join(["w"] * 11), True),
        ({"N": 10, "quantifier": "around"}, " ".join(["w"] * 12), False),
        ({"N": 3, "quantifier": "at least"}, "two words", False),
    ],
    "verify_sentence_constraint": [
        ({"N": 2, "quantifier": "at least"}, "Hi there. How are you?", True),
        ({"N": 3, "quantifier": "around"}, "One. Two.", True),
        ({"N": 4, "quantifier": "around"}, "One. Two.", False),
        ({"N": 1, "quantifier": "at most"}, "One. Two.", False),
    ],
    "validate_paragraphs": [
        ({"N": 2, "first_word": "Tea", "i": 2}, "Intro.\n\nTea is good.", True),
        ({"N": 2, "first_word": "Tea", "i": 2}, "Intro.\n\ntea is good.", False),  # IFEval: passes
        ({"N": 2, "first_word": "Tea", "i": 2}, "Intro.\n\n\n\nTea is good.", False),
    ],
    "verify_postscript": [
        ({"postscript_marker": "P.S."}, "Hello.\nP.S. See you.", True),
        ({"postscript_marker": "P.S."}, "Hello. P.S.", False),
    ],
    "validate_placeholders": [({"N": 2}, "Dear [name], see you at [place].", True), ({"N": 2}, "Dear [name].", False)],
    "verify_bullet_points": [
        ({"N": 2}, "* one\n- two", True),
        ({"N": 2}, "* one\n- two\n**Note** three", False),
    ],  # IFEval: 2 bullets, passes
    "validate_title": [
        ({}, "<<>>\nBody", True),  # IFEval: an empty title fails
        ({}, "No title here", False),
    ],
    "validate_choice": [
        ({"options": ["My answer is yes.", "My answer is no."]}, "My answer is no.", True),
        ({"options": ["My answer is yes.", "My answer is no."]}, "Maybe.", False),
    ],
    "validate_highlighted_sections": [({"N": 2}, "*one* and *two*", True), ({"N": 2}, "*one* only", False)],
    "validate_sections": [
        ({"N": 2, "section_splitter": "Section"}, "Section 1\nfoo\nSECTION 2\nbar", True),
        ({"N": 2, "section_splitter": "Section"}, "Section 1\nfoo", False),
    ],
    "validate_json_format": [
        ({}, '{"a": 1}', True),
        ({}, '```json\n{"a": 1}\n```', False),
    ],  # IFEval strips the fence: passes
    "validate_repeat_prompt": [
        ({"original_prompt": "Write about tea."}, "Write about tea. Tea is nice.", True),
        ({"original_prompt": "Write about tea."}, "write about tea. Tea is nice.", False),
    ],
    "validate_two_responses": [
        ({}, "A cat.\n******\nA dog.", True),
        ({}, "A cat.\n******\nA cat.", False),
        ({}, "A******B******C", False),
    ],
    "validate_uppercase": [({}, "HELLO 123!", True), ({}, "Hello", False)],
    "validate_lowercase": [({}, "hello 123!", True), ({}, "Hello", False)],
    "validate_frequency_capital_words": [
        ({"N": 2, "quantifier": "at least"}, "NASA and ESA agree.", True),
        ({"N": 2, "quantifier": "at least"}, "NASA alone.", False),
        ({"N": 1, "quantifier": "at most"}, "NASA and ESA agree.", False),
    ],
    "validate_end": [
        ({"end_phrase": "Any other questions?"}, "Done. Any other questions?  ", True),
        ({"end_phrase": "Any other questions?"}, "Done. any other questions?", False),
    ],  # IFEval: passes
    "validate_quotation": [({}, '"Quoted."\n', True), ({}, "Not quoted.", False)],
    "validate_no_commas": [({}, "No commas here.", True), ({}, "Yes, one.", False)],
}


def test_every_tulu_func_name_has_a_checker_with_open_instruct_semantics():
    assert set(TULU_CASES) == set(tulu_rules.SPECS)
    for func, cases in TULU_CASES.items():
        for kwargs, response, expected in cases:
            v = RuleVerifier(family="tulu", rule_id=func, kwargs=kwargs)
            assert check(v, response) is expected, (func, kwargs, response)


def test_tulu_rule_arguments_are_validated_at_import():
    base = rows("tulu_rlvr.jsonl")[1]
    with pytest.raises(FieldError, match=r"ground_truth\.N: missing"):
        CONVERTERS["tulu"](
            {**base, "ground_truth": {"func_name": "verify_keyword_frequency", "word": "x"}}, Context("t")
        )
    with pytest.raises(FieldError, match=r"ground_truth\.quantifier"):
        CONVERTERS["tulu"](
            {**base, "ground_truth": {"func_name": "validate_word_constraint", "N": 3, "quantifier": "about"}},
            Context("t"),
        )
    with pytest.raises(FieldError, match=r"ground_truth\.letter"):
        CONVERTERS["tulu"](
            {**base, "ground_truth": {"func_name": "verify_letter_frequency", "letter": "ab", "N": 1}}, Context("t")
        )


# ----------------------------------------------------------------------------------------- lenient / IFBench


def test_lenient_build_with_nothing_imported_fails_unless_allow_empty(tmp_path):
    """Repro 5: --lenient with every record rejected exited 0 and wrote an empty dataset."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"key": 9, "prompt": "p", "instruction_id_list": ["no:such_rule"], "kwargs": [{}]}\n')
    with pytest.raises(EmptyDataset, match="nothing imported: 1 records read, 1 rejected"):
        build_rubric_dataset([str(bad)], tmp_path / "out", strict=False)
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["rubrics", "build", str(bad), "-o", str(tmp_path / "out"), "--lenient"])
    assert result.exit_code == 1 and "nothing imported" in result.output and "bad.jsonl:1" in result.output
    assert not (tmp_path / "out").exists()
    result = runner.invoke(
        app, ["rubrics", "build", str(bad), "-o", str(tmp_path / "out"), "--lenient", "--allow-empty"]
    )
    assert result.exit_code == 0 and (tmp_path / "out" / "train.parquet").exists()


def test_ifbench_repeat_span_start_zero_is_a_value(tmp_path):
    """Repro 6: n_start 0 was 'left to chance' (the checker draws a random start when it is falsy)."""
    prompt = "Alpha beta gamma delta epsilon zeta"
    row = {
        "key": 7,
        "prompt": prompt,
        "instruction_id_list": ["repeat:repeat_span"],
        "kwargs": [{"prompt_to_repeat": prompt, "n_start": 0, "n_end": 3}],
    }
    (tmp_path / "ifbench.jsonl").write_text(json.dumps(row) + "\n")
    item = import_items(SourceSpec(path=str(tmp_path / "ifbench.jsonl"), format="ifbench"))[0]
    v = item.rubrics[0].verifier
    assert v.kwargs["n_start"] == 0
    assert check(v, "alpha beta gamma") is True and check(v, "beta gamma delta") is False


def test_rubric_reward_gives_the_healthbench_score_of_imported_points():
    """The imported HealthBench item through the TRL reward function: 'criterion holds' verdicts -> score."""
    import asyncio
    from types import SimpleNamespace

    import numpy as np

    from grpo.rewards import RubricReward

    item = import_items(SourceSpec(path=str(WILD / "healthbench_raw.jsonl"), name="hb"))[0]  # points 7, 3, -5, -2
    holds = np.array([[1, 1, -1, -1], [1, -1, 1, -1], [-1, -1, 1, 1]], dtype=np.int8)  # criterion met?

    async def verdicts(pairs, judge=None, loose=False):
        b = len(pairs)
        return SimpleNamespace(
            s=holds[:b], rubric_mask=np.ones((b, 4), bool), decided=np.ones((b, 4), bool), method=np.full((b, 4), "llm")
        )

    reward = RubricReward("healthbench", verdict_fn=verdicts)
    got = asyncio.run(reward(completions=["a", "b", "c"], rubric_item=[item.model_dump_json()] * 3))
    assert got == pytest.approx([1.0, 0.2, 0.0])  # 10/10; (7 - 5)/10; (-5 - 2)/10 clipped
    with pytest.raises(ValueError, match="healthbench"):
        RubricReward("points")


def test_rtt_rows_take_uid_and_resolve_pitfall_polarity():
    row = {
        "uid": "paper-7",
        "messages": [{"role": "user", "content": "Explain fever in children."}],
        "source": "type4",
        "ground_truth": json.dumps({"checker": ["[llm] a", "[llm] b"], "functions": ["", ""]}),
        "rubrics": [
            {"description": "Mentions paracetamol dosing by weight.", "weight": 2},
            {"description": "Does not recommend aspirin.", "weight": -1},
        ],
    }
    item = CONVERTERS["rtt"](row, Context("rtt"))
    assert item.id == "rtt:paper-7" and [r.weight for r in item.rubrics] == [2.0, 1.0]
    assert item.meta["pitfall_polarity"] == {"rtt:paper-7#1": "heuristic:describes-good"}
    kept = CONVERTERS["rtt"](row, Context("rtt", pitfall_polarity="describes-bad"))
    assert [r.weight for r in kept.rubrics] == [2.0, -1.0]
    exported = to_rtt_row(kept)
    assert exported["rubrics"] == ["Mentions paracetamol dosing by weight.", "Recommends aspirin."]
    assert json.loads(exported["ground_truth"])["checker"] == ["[llm] " + t for t in exported["rubrics"]]
