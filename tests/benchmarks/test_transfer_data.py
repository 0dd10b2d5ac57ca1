"""The cross-source transfer data (benchmarks/transfer_data.py): rubrics attached to other models' responses
are IFEval rules the project imports, the same for every model, and the per-model pair files merge into one
file whose rows say which model wrote the response."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def td():
    spec = importlib.util.spec_from_file_location("transfer_data", ROOT / "benchmarks" / "transfer_data.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["transfer_data"] = mod
    spec.loader.exec_module(mod)
    return mod


RESPONSES = [
    "Paris is the capital of France. It is known for the Eiffel Tower, museums and food.",
    "The capital of France is Paris.",
    "PARIS! The capital city of France, on the Seine.",
]


def test_rubrics_are_importable_rules_chosen_per_instruction(td, tmp_path):
    from rubrics.importers import import_items

    instruction = "What is the capital of France and why is the capital famous?"
    ids, kwargs = td.rubrics_for(7, instruction, RESPONSES, seed=0)
    assert (ids, kwargs) == td.rubrics_for(7, instruction, RESPONSES, seed=0)  # deterministic
    assert len(ids) == 3 and len({i.split(":")[0] if not i.startswith("change_case") else "case" for i in ids}) == 3
    assert any(td.rubrics_for(k, instruction, RESPONSES, seed=0)[0] != ids for k in range(8, 20))  # varies by item
    for rid, kw in zip(ids, kwargs):
        if rid == "combination:repeat_prompt":
            assert kw["prompt_to_repeat"] == instruction
        if rid.startswith("keywords:"):
            words = kw.get("keywords") or kw.get("forbidden_words") or [kw["keyword"]]
            assert all(w in instruction.lower() and w in " ".join(RESPONSES).lower() for w in words)
    assert td.content_words("The Capital, capital of FRANCE; what about it") == ["capital", "france"]
    path = tmp_path / "items.jsonl"
    path.write_text(
        json.dumps({"key": 100007, "prompt": instruction, "instruction_id_list": ids, "kwargs": kwargs}) + "\n"
    )
    (item,) = import_items(str(path))
    assert [r.verifier.rule_id for r in item.rubrics] == ids and all(r.text for r in item.rubrics)


def test_items_and_merge_tag_each_row_with_its_model(td, tmp_path, monkeypatch):
    from discriminator.data.schema import SpanRow, read_rows, write_rows

    outputs = tmp_path / "out.jsonl.gz"
    with gzip.open(outputs, "wt") as fh:
        for m in ("m1", "m2"):
            for i in range(4):
                fh.write(
                    json.dumps(
                        {
                            "model": m,
                            "index": i,
                            "instruction": f"Tell me about topic number {i}.",
                            "response": f"{m} says: topic {i} is, in short, interesting.",
                        }
                    )
                    + "\n"
                )
    monkeypatch.setattr(td, "OUT_DIR", tmp_path)
    monkeypatch.setattr(td, "DATA_FILE", outputs.name)
    monkeypatch.setattr(td, "load_outputs", lambda path=outputs: [json.loads(x) for x in gzip.open(path, "rt")])
    td.items(tmp_path / "items", 3, 0, ["m1", "m2"])
    lines = (tmp_path / "items" / "items.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(x)["key"] >= 100000 for x in lines)
    pos = [json.loads(x) for x in (tmp_path / "items" / "positives" / "m2.jsonl").read_text().splitlines()]
    assert [p["key"] for p in pos] == [json.loads(x)["key"] for x in lines] and pos[0]["response"].startswith("m2")
    for m, split in (("m1", "train"), ("m2", "train")):
        (tmp_path / "pairs" / m).mkdir(parents=True)
        write_rows(
            tmp_path / "pairs" / m / "spans.parquet",
            [
                SpanRow(
                    id="r",
                    item_id="ifeval:100001",
                    rubric_id="k",
                    pair_id="p",
                    criteria="No commas.",
                    response=f"{m}, text",
                    label_source="program",
                    split=split,
                )
            ],
        )
    td.merge(tmp_path / "pairs", tmp_path / "all.parquet", ["m1", "m2"])
    rows = read_rows(tmp_path / "all.parquet")
    assert [(r.id, r.pair_id, r.meta["response_model"]) for r in rows] == [
        ("m1:r", "m1:p", "m1"),
        ("m2:r", "m2:p", "m2"),
    ]
    write_rows(tmp_path / "pairs" / "m2" / "spans.parquet", [rows[1].model_copy(update={"split": "test", "meta": {}})])
    with pytest.raises(ValueError, match="item ifeval:100001 has split test"):
        td.merge(tmp_path / "pairs", tmp_path / "all.parquet", ["m1", "m2"])
