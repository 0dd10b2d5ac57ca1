"""Letter case made visible to an uncased tokenizer (discriminator/casing.py), end to end through training,
saving and plain ``AutoTokenizer`` loading."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from discriminator.casing import add_case_markers, has_case_markers, lowercases, wants_case_markers
from discriminator.config import default_backbone


@pytest.fixture(scope="module")
def minilm_tok():
    return AutoTokenizer.from_pretrained(default_backbone())


def test_uncased_tokenizer_cannot_see_case_without_markers(minilm_tok):
    assert lowercases(minilm_tok) and not has_case_markers(minilm_tok)
    same = {tuple(minilm_tok(w, add_special_tokens=False).input_ids) for w in ("blue", "Blue", "BLUE")}
    assert len(same) == 1  # the problem: all three are one token sequence


def test_markers_separate_lower_capitalised_and_upper_case_words(minilm_tok):
    tok = add_case_markers(minilm_tok)
    assert has_case_markers(tok) and wants_case_markers(minilm_tok, "auto")
    seqs = [tok.convert_ids_to_tokens(tok(w, add_special_tokens=False).input_ids) for w in ("blue", "Blue", "BLUE")]
    assert seqs == [["blue"], ["^", "blue"], ["^", "^", "blue"]]
    # mixed case inside a word and non-letters are left alone; only a word's first letter decides
    assert tok.convert_ids_to_tokens(tok("iPhone 42", add_special_tokens=False).input_ids) == ["iphone", "42"]
    assert add_case_markers(tok) is tok  # idempotent: a trained discriminator's tokenizer is not wrapped twice


def test_marker_offsets_point_into_the_original_text(minilm_tok):
    tok = add_case_markers(minilm_tok)
    text = "The output must be BLUE, Green and gold. 😀 OK"
    enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
    pieces = [(t, text[a:b]) for t, (a, b) in zip(tok.convert_ids_to_tokens(enc.input_ids), enc.offset_mapping)]
    assert pieces[:2] == [("^", "T"), ("the", "The")]
    assert ("^", "B") in pieces and ("blue", "BLUE") in pieces and ("^", "G") in pieces and ("ok", "OK") in pieces
    # the labels of a character span reach the marker tokens too (they overlap the word's first letter)
    from discriminator.features import labels_from_spans

    start = text.index("BLUE")
    labels = labels_from_spans(enc.offset_mapping, [(start, start + 4)], len(text))
    marked = [t for (t, _), y in zip(pieces, labels) if y == 1]
    assert marked == ["^", "^", "blue"]


def test_saved_tokenizer_reloads_with_markers_through_plain_autotokenizer(minilm_tok, tmp_path):
    tok = add_case_markers(minilm_tok)
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "Each Word Capitalised, ALL CAPS and lower case."
    assert again(text).input_ids == tok(text).input_ids != minilm_tok(text).input_ids
    assert has_case_markers(again)
    assert (again.cls_token, again.sep_token, again.pad_token, again.model_max_length) == (
        minilm_tok.cls_token,
        minilm_tok.sep_token,
        minilm_tok.pad_token,
        minilm_tok.model_max_length,
    )


def test_modes_on_tokenizers_that_cannot_or_need_not_carry_markers(tmp_path):
    from tests.helpers.tiny import tiny_tokenizer

    bpe = tiny_tokenizer("bpe")  # a cased byte-level tokenizer: case is already visible
    assert not lowercases(bpe) and not wants_case_markers(bpe, "auto") and wants_case_markers(bpe, "on")
    wordpiece = tiny_tokenizer("wordpiece")  # lowercases, but its vocabulary has no '^'
    assert lowercases(wordpiece) and not wants_case_markers(wordpiece, "auto")
    with pytest.raises(ValueError, match=r"no '\^' token"):
        add_case_markers(wordpiece)
    assert not wants_case_markers(wordpiece, "off")


def test_trained_discriminator_carries_markers_into_scoring_and_plain_hf_loading(tmp_path):
    """Train a tiny uncased encoder with markers (case_markers: auto), then: the saved tokenizer marks case, the
    metadata says so, and plain AutoModelForTokenClassification + AutoTokenizer give RelevanceScorer's probabilities."""
    from discriminator.config import TrainConfig
    from discriminator.data.schema import write_rows
    from discriminator.model import read_meta
    from discriminator.scoring import RelevanceScorer
    from discriminator.splits import assign_splits
    from discriminator.synthetic import toy_rows
    from discriminator.train import train
    from tests.helpers.tiny import CORPUS, tiny_token_classifier

    backbone = tiny_token_classifier(tmp_path / "bb", "bert", corpus=CORPUS + ["^ ^^ Caps CAPS caps"])
    data = tmp_path / "rows.parquet"
    write_rows(data, assign_splits(toy_rows(40, seed=0), 0.25, 0.0, seed=0))
    torch.manual_seed(0)
    res = train(
        TrainConfig(
            data=data,
            out=tmp_path / "run",
            backbone=str(backbone),
            case_markers="auto",
            max_steps=3,
            eval_steps=3,
            per_device_train_batch_size=8,
            early_stopping_patience=None,
            max_length=128,
        ),
        disable_tqdm=True,
    )
    model_dir = tmp_path / "run" / "model"
    assert read_meta(model_dir).case_markers is True, res
    tok = AutoTokenizer.from_pretrained(model_dir)
    assert has_case_markers(tok)
    assert tok("Caps", add_special_tokens=False).input_ids != tok("caps", add_special_tokens=False).input_ids

    # the model card's plain-transformers snippet on the export gives RelevanceScorer's probabilities
    import re

    from discriminator.export import export

    out = export(model_dir, tmp_path / "exported")
    code = re.search(r"## Plain transformers.*?```python\n(.*?)```", (out / "README.md").read_text(), re.S).group(1)
    ns: dict = {}
    exec(code.replace(f'path = "{out.name}"', f"path = {str(out)!r}"), ns)  # noqa: S102 - the card's own code
    want = RelevanceScorer.from_pretrained(out, device="cpu").score_tokens([(ns["criteria"], ns["response"])])[0]
    assert len(ns["probs"]) == len(want) > 3
    torch.testing.assert_close(ns["probs"].float(), want, atol=1e-5, rtol=1e-4)
    caps = RelevanceScorer.from_pretrained(out, device="cpu").score_tokens([("c", "SEA"), ("c", "sea")])
    assert len(caps[0]) == len(caps[1]) + 2  # "^ ^ sea": the upper-case run is seen by the scorer too


@pytest.mark.parametrize("text,want", [("off", "off"), ("on", "on"), ("auto", "auto"), ("false", "off")])
def test_case_markers_in_yaml_and_cli_overrides(text, want, tmp_path):
    """YAML 1.1 reads a bare ``off`` as False: the config, the YAML file and ``--set`` all still mean 'off'."""
    import yaml

    from discriminator.config import TrainConfig

    assert TrainConfig(data="rows.parquet").case_markers == "off"  # the default: opt-in (README, measured)
    path = tmp_path / "c.yaml"
    path.write_text(f"case_markers: {text}\n")
    assert TrainConfig.from_yaml(path, data="rows.parquet").case_markers == want
    assert TrainConfig(data="rows.parquet", case_markers=yaml.safe_load(text)).case_markers == want
    with pytest.raises(ValueError, match="case_markers"):
        TrainConfig(data="rows.parquet", case_markers="sometimes")
