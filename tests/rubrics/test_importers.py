"""Importers on the shared benchmark files and on faithfully formatted rows of every supported format."""

from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path

import pytest

from rubrics.importers import FieldError, SourceReader, SourceSpec, detect_format, import_items
from rubrics.importers import muldimif as muldimif_importer
from rubrics.importers.base import Context
from rubrics.importers.source import CONVERTERS
from rubrics.io import RecordError
from rubrics.rubric_text import RULES, _registry_source, known_rule_ids, rule_text
from rubrics.schema import LLMVerifier, RuleVerifier

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"


def convert(fmt: str, rec: dict, source: str = "src"):
    return CONVERTERS[fmt](rec, Context(source))


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def outcomes(path, **spec):
    reader = SourceReader(SourceSpec(path=str(path), **spec))
    outs = list(reader)
    return reader, [o.item for o in outs if o.item], [o.error for o in outs if o.error]


# --------------------------------------------------------------------------------------------- shared data


def test_shared_ifeval_imports_without_rejections(ifeval_path):
    reader, items, errors = outcomes(ifeval_path)
    assert reader.format == "ifeval" and errors == [] and len(items) == 541
    first = items[0]
    assert first.id == "ifeval:1000" and first.prompt.startswith("Write a 300+ word summary")
    assert [r.id for r in first.rubrics] == ["ifeval:1000#0", "ifeval:1000#1", "ifeval:1000#2"]
    words = first.rubrics[2]
    assert words.text == "The response must contain at least 300 words."
    assert words.verifier == RuleVerifier(
        family="ifeval", rule_id="length_constraints:number_words", kwargs={"relation": "at least", "num_words": 300}
    )
    assert sum(len(i.rubrics) for i in items) == 834
    assert all(r.is_rule and r.text.startswith(("The ", "Words ", "No ")) for i in items for r in i.rubrics)


def test_shared_muldimif_imports_without_rejections_and_rules_cover_it(muldimif_path):
    """Every constraint goes through rubrics.rules.muldimif.verifier_for; most become rule rubrics."""
    from rubrics.rules.muldimif import verifier_for

    muldimif_importer.reset_rule_lookup()
    reader, items, errors = outcomes(muldimif_path)
    assert reader.format == "muldimif" and errors == [] and len(items) == 1200
    item = next(i for i in items if i.id == "muldimif:100000473")
    assert item.messages[0].role == "user" and item.prompt is None
    assert [r.text for r in item.rubrics][2] == "The response must contain no more than 150 words"
    assert item.rubrics[2].title == "Length / Words"
    assert item.meta["difficulty"] == "Level 3" and item.meta["constraints"][0][0] == "XML"
    for r, (cat, sub, text) in zip(item.rubrics, item.meta["constraints"]):
        assert r.verifier == (verifier_for(cat, sub, text) or LLMVerifier())
    rubrics = [r for i in items for r in i.rubrics]
    rules = [r for r in rubrics if r.is_rule]
    assert len(rubrics) == 4180 and all(r.verifier.family == "muldimif" for r in rules)
    assert len(rules) / len(rubrics) >= 0.9, f"rule coverage {len(rules)}/{len(rubrics)}"


def test_muldimif_uses_rule_lookup_lazily_and_falls_back(monkeypatch):
    row = {
        "id": "7",
        "conversations": [{"role": "user", "content": "Write."}],
        "constraints": [["Length", "Words", "At most 10 words"], ["Tone", "Polite", "Be polite"]],
        "constraint_pattern": "Listing",
        "difficulty": "Level 1",
    }
    fake = types.ModuleType("rubrics.rules.muldimif")
    fake.verifier_for = lambda cat, sub, text: (
        RuleVerifier(family="muldimif", rule_id=f"{cat}/{sub}", kwargs={"n": 10}) if cat == "Length" else None
    )
    monkeypatch.setitem(sys.modules, "rubrics.rules.muldimif", fake)
    muldimif_importer.reset_rule_lookup()
    item = convert("muldimif", row)
    assert item.rubrics[0].verifier.rule_id == "Length/Words" and isinstance(item.rubrics[1].verifier, LLMVerifier)
    monkeypatch.setitem(sys.modules, "rubrics.rules.muldimif", None)  # the module does not exist (yet)
    muldimif_importer.reset_rule_lookup()
    item = convert("muldimif", row)
    assert all(isinstance(r.verifier, LLMVerifier) for r in item.rubrics)
    monkeypatch.undo()
    muldimif_importer.reset_rule_lookup()
    with pytest.raises(FieldError, match=r"constraints\[0\]"):
        convert("muldimif", {**row, "constraints": [["Length", "Words"]]})


# ------------------------------------------------------------------------------------------ rubric text


def _build_description_args(family: str) -> dict[str, set[str]]:
    """rule id -> argument names of its checker's ``build_description``, read from if-verifiable's source."""
    src = _registry_source(family)
    registry = ast.parse(src.read_text())
    consts = {
        n.targets[0].id: n.value.value
        for n in registry.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
    }
    table = next(
        n.value
        for n in registry.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "INSTRUCTION_DICT"
    )
    args = {}
    for node in ast.parse((src.parent / "instructions.py").read_text()).body:
        if isinstance(node, ast.ClassDef):
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "build_description":
                    args[node.name] = {a.arg for a in fn.args.args + fn.args.kwonlyargs} - {"self"}
    out = {}
    for key, cls in zip(table.keys, table.values):
        rid = eval(compile(ast.Expression(key), "<key>", "eval"), {"__builtins__": {}}, consts)  # constants and '+'
        out[rid] = args[cls.attr]
    return out


@pytest.mark.parametrize("family", ["ifeval", "ifbench"])
def test_rule_text_covers_every_registry_id_with_its_checker_arguments(family):
    checker_args = _build_description_args(family)
    assert set(checker_args) == set(known_rule_ids(family)) == set(RULES[family])
    for rid, spec in RULES[family].items():
        assert set(spec.args) == checker_args[rid], rid


def test_rule_text_renders_and_validates_kwargs():
    assert rule_text("ifeval", "length_constraints:number_words", {"relation": "at least", "num_words": 300}) == (
        "The response must contain at least 300 words."
    )
    assert rule_text("ifeval", "keywords:existence", {"keywords": ["a", "b", "c"], "num_words": None}) == (
        'The response must include the keywords "a", "b" and "c".'
    )
    assert rule_text(
        "ifeval", "length_constraints:number_sentences", {"relation": "less than", "num_sentences": 5}
    ) == ("The response must contain fewer than 5 sentences.")
    assert "Japanese" in rule_text("ifbench", "count:words_japanese", {"N": 3}) and "3rd" in rule_text(
        "ifbench", "count:words_japanese", {"N": 3}
    )
    assert "French" in rule_text("ifeval", "language:response_language", {"language": "fr"})
    for bad, match in [
        ({"relation": "at least"}, "num_words: missing"),
        ({"relation": "more", "num_words": 3}, "relation"),
        ({"relation": "at least", "num_words": 3, "letter": "x"}, "letter: unexpected"),
    ]:
        with pytest.raises(ValueError, match=match):
            rule_text("ifeval", "length_constraints:number_words", bad)
    with pytest.raises(ValueError, match="unknown ifeval instruction id"):
        rule_text("ifeval", "count:word_count_range", {})  # an IFBench id is not an IFEval id


# ---------------------------------------------------------------------------------------------- formats


def test_ifbench_rows_and_hf_style_null_kwargs():
    row = {
        "key": 12,
        "prompt": "Tell me about owls.",
        "instruction_id_list": ["count:word_count_range", "format:emoji"],
        "kwargs": [{"min_words": 50, "max_words": 80}, {}],
    }
    assert detect_format(row) == "ifbench"
    item = convert("ifbench", row, "ifbench")
    assert item.id == "ifbench:12"
    assert item.rubrics[0].text == "The response must contain between 50 and 80 words."
    assert item.rubrics[1].verifier == RuleVerifier(family="ifbench", rule_id="format:emoji")
    hf = {
        "key": 3,
        "prompt": "p",
        "instruction_id_list": ["punctuation:no_comma", "keywords:existence"],
        "kwargs": [{"keywords": None, "num_words": None}, {"keywords": ["owl"], "num_words": None}],
    }
    assert detect_format(hf) == "ifeval"
    item = convert("ifeval", hf)
    assert item.rubrics[0].verifier.kwargs == {} and item.rubrics[1].verifier.kwargs == {"keywords": ["owl"]}
    for bad, field in [
        ({**hf, "instruction_id_list": ["nope:x"], "kwargs": [{}]}, "instruction_id_list[0]"),
        ({**hf, "kwargs": [{}]}, "kwargs"),
        ({**hf, "instruction_id_list": []}, "instruction_id_list"),
        ({**hf, "kwargs": [{}, {"keywords": None}]}, "kwargs[1].keywords"),
    ]:
        with pytest.raises(FieldError) as exc:
            convert("ifeval", bad)
        assert exc.value.field == field


def test_rar_rows_keep_pitfall_sign():
    row = {
        "question": "What lowers fever in children?",
        "reference_answer": "Paracetamol in the right dose.",
        "question_source": "demo",
        "rubric_count": 3,
        "rubric_list": ["x"],
        "rubric": [
            {"title": "Dose", "description": "Essential Criteria: Mentions weight-based dosing.", "weight": 5},
            {"title": "Fluids", "description": "Important Criteria: Mentions fluids.", "weight": 3},
            {"title": "Aspirin", "description": "Pitfall Criteria: Recommends aspirin for children.", "weight": -2},
        ],
    }
    assert detect_format(row) == "rar"
    item = convert("rar", row, "rar")
    assert item.id.startswith("rar:") and item.id == convert("rar", dict(row), "rar").id  # content hash, stable
    assert [r.weight for r in item.rubrics] == [5.0, 3.0, -2.0] and item.rubrics[2].title == "Aspirin"
    assert all(isinstance(r.verifier, LLMVerifier) for r in item.rubrics)
    assert item.meta == {
        "reference_answer": "Paracetamol in the right dose.",
        "question_source": "demo",
        "rubric_count": 3,
        "pitfall_polarity": {item.rubrics[2].id: "heuristic:describes-bad"},
    }
    with pytest.raises(FieldError, match=r"rubric\[1\]\.description"):
        convert("rar", {**row, "rubric": [row["rubric"][0], {"title": "t", "weight": 1}]})
    with pytest.raises(FieldError, match="empty"):
        convert("rar", {**row, "rubric": []})


def test_tulu_rlvr_rows_map_to_tulu_rules():
    nulls = {
        k: None
        for k in (
            "N",
            "quantifier",
            "end_phrase",
            "keyword_list",
            "word",
            "forbidden_words",
            "letter",
            "i",
            "first_word",
            "postscript_marker",
            "options",
            "section_splitter",
            "original_prompt",
        )
    }

    def row(func, **kw):
        return {
            "messages": [{"role": "user", "content": "Write about tea."}],
            "ground_truth": json.dumps({"func_name": func, **nulls, **kw}),
            "dataset": "ifeval",
            "constraint_type": "x",
            "constraint": "c",
        }

    assert detect_format(row("validate_lowercase")) == "tulu"
    item = convert("tulu", row("validate_lowercase"), "tulu")
    assert item.rubrics[0].verifier == RuleVerifier(family="tulu", rule_id="validate_lowercase")
    assert item.meta == {"dataset": "ifeval", "constraint_type": "x", "constraint": "c"}
    at_most = convert("tulu", row("validate_word_constraint", N=50, quantifier="at most")).rubrics[0]
    assert at_most.text == "The response must contain at most 50 words."
    assert at_most.verifier.kwargs == {"N": 50, "quantifier": "at most"}
    around = convert("tulu", row("verify_sentence_constraint", N=4, quantifier="around")).rubrics[0].verifier
    assert around == RuleVerifier(
        family="tulu", rule_id="verify_sentence_constraint", kwargs={"N": 4, "quantifier": "around"}
    )
    exact = convert("tulu", row("verify_keyword_frequency", word="tea", N=3)).rubrics[0]
    assert exact.text == 'The word "tea" must appear exactly 3 times in the response.' and exact.is_rule
    para = convert("tulu", row("validate_paragraphs", N=3, i=2, first_word="Tea")).rubrics[0].verifier
    assert para.kwargs == {"N": 3, "first_word": "Tea", "i": 2}
    multi = {
        "messages": [{"role": "user", "content": "Hi"}],
        "dataset": "ifeval_multi",
        "ground_truth": str(
            [{"instruction_id": ["punctuation:no_comma", "detectable_format:title"], "kwargs": [None, {}]}]
        ),
    }
    assert [r.verifier.rule_id for r in convert("tulu", multi).rubrics] == [
        "punctuation:no_comma",
        "detectable_format:title",
    ]
    with pytest.raises(FieldError, match="func_name"):
        convert("tulu", row("validate_everything"))
    with pytest.raises(FieldError, match=r"ground_truth\.N"):
        convert("tulu", row("verify_bullet_points"))


def test_rtt_rows_follow_the_public_code_format():
    reader, items, errors = outcomes(DEMO / "rtt_style.jsonl")
    assert reader.format == "rtt" and not errors and len(items) == 5
    by_type = {i.meta["rtt_source"]: i for i in reversed(items)}  # the first row of each type
    t1 = by_type["type1"]
    assert [type(r.verifier).__name__ for r in t1.rubrics] == ["RuleVerifier", "RuleVerifier", "LLMVerifier"]
    assert t1.rubrics[0].text == "The response must be entirely in lowercase letters."
    assert all(r.is_rule for r in by_type["type3"].rubrics[:1])  # "no more than 60 words" parses into a rule
    assert not any(r.is_rule for r in by_type["type4"].rubrics)  # code checkers are never executed
    dict_rubrics = next(i for i in items if i.prompt)
    assert dict_rubrics.rubrics[0].verifier.kwargs == {"relation": "less than", "num_words": 80}
    row = {"messages": [{"role": "user", "content": "x"}], "rubrics": [], "source": "type1", "ground_truth": "{}"}
    with pytest.raises(FieldError, match="rubrics"):
        convert("rtt", row)
    with pytest.raises(FieldError, match="source"):
        convert("rtt", {**row, "rubrics": ["a"], "source": "type9"})


def test_generic_rows_with_column_mapping_and_canonical_rows(tmp_path):
    rows = [
        {
            "uid": "a1",
            "question": "Name a red fruit.",
            "checks": ["Names a fruit that is red.", {"criterion": "Is brief.", "weight": 0.5}],
            "topic": "food",
        }
    ]
    p = write_rows(tmp_path / "custom.jsonl", rows)
    with pytest.raises(RecordError, match=r"custom.jsonl:1: field 'rubrics': no rubric column"):
        import_items(SourceSpec(path=str(p)))
    items = import_items(SourceSpec(path=str(p), columns={"id": "uid", "rubrics": "checks"}))
    assert items[0].id == "custom:a1" and items[0].prompt == "Name a red fruit."
    assert [(r.text, r.weight) for r in items[0].rubrics] == [("Names a fruit that is red.", 1.0), ("Is brief.", 0.5)]
    assert items[0].meta == {"topic": "food"}
    canonical = import_items(str(DEMO / "items.jsonl"))
    assert len(canonical) == 12 and canonical[0].id == "demo:haiku-harbor" and canonical[0].rubrics[0].is_rule
    assert any(r.weight < 0 for i in canonical for r in i.rubrics)
    row = canonical[1].model_dump(mode="json")
    row["rubrics"][0]["verifier"]["kwargs"] = {"num_bullets": 4, "relation": "at least"}
    bad = write_rows(tmp_path / "canonical.jsonl", [canonical[0].model_dump(mode="json"), row])
    with pytest.raises(RecordError) as exc:
        import_items(str(bad))
    assert (exc.value.line, exc.value.field) == (2, "rubrics[0].verifier.kwargs.relation")
    row["rubrics"][0]["verifier"]["rule_id"] = "detectable_format:number_bullets"
    with pytest.raises(RecordError, match="unknown ifeval instruction id"):
        import_items(str(write_rows(bad, [row])))


def test_hf_datasets_saved_to_disk_and_parquet(tmp_path):
    import datasets

    rows = [json.loads(line) for line in (DEMO / "ifeval_style.jsonl").read_text().splitlines()]
    for r in rows:  # Arrow needs one struct type for kwargs: give every row all keys (HF style, nulls)
        keys = sorted({k for row in rows for kw in row["kwargs"] for k in kw})
        r["kwargs"] = [{k: kw.get(k) for k in keys} for kw in r["kwargs"]]
    ds = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows[:5]), "test": datasets.Dataset.from_list(rows[5:])}
    )
    ds.save_to_disk(str(tmp_path / "saved"))
    reader, items, errors = outcomes(tmp_path / "saved")
    assert reader.format == "ifeval" and not errors and len(items) == 8
    assert items[4].rubrics[1].verifier.kwargs == {"keyword": "pigeon", "frequency": 3, "relation": "at least"}
    _, test_items, _ = outcomes(tmp_path / "saved", split="test")
    assert [i.id for i in test_items] == ["ifeval:6", "ifeval:7", "ifeval:8"]
    ds["train"].to_parquet(str(tmp_path / "train.parquet"))
    for spec in ({}, {"format": "hf"}, {"format": "parquet"}):
        reader, items, errors = outcomes(tmp_path / "train.parquet", **spec)
        assert not errors and [i.id for i in items] == [f"ifeval:{k}" for k in range(1, 6)], spec
    with pytest.raises(FileNotFoundError):
        list(SourceReader(SourceSpec(path=str(tmp_path / "missing.jsonl"))))


def test_format_override_and_detection_on_demo_files():
    expected = {
        "items.jsonl": "generic",
        "ifeval_style.jsonl": "ifeval",
        "rar_style.jsonl": "rar",
        "rtt_style.jsonl": "rtt",
        "tulu_style.jsonl": "tulu",
        "muldimif_style.json": "muldimif",
    }
    for name, fmt in expected.items():
        reader, items, errors = outcomes(DEMO / name)
        assert (reader.format, errors) == (fmt, []) and items, name
    _, items, errors = outcomes(DEMO / "rar_style.jsonl", format="ifeval")  # forced wrong format: located errors
    assert not items and errors[0].line == 1 and errors[0].field == "prompt"
    assert SourceSpec.parse("mine=data/x.jsonl") == SourceSpec(path="data/x.jsonl", name="mine")
    assert SourceSpec.parse("allenai/RLVR-IFeval").path == "allenai/RLVR-IFeval"
