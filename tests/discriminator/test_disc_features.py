"""Discriminator input building: template, special-token layout, labels from spans, truncation, projection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from discriminator.data.schema import SpanRow
from discriminator.features import IGNORE, DiscriminatorEncoder, PromptTooLongError, labels_from_spans, special_layout
from discriminator.projection import (
    _byte_level_offsets,
    _windowed_decode_offsets,
    chars_to_tokens,
    policy_offsets,
    tokens_to_chars,
    vocab_fingerprint,
)
from discriminator.template import DEFAULT_TEMPLATE, PromptTemplate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wordpiece():
    from tests.helpers.tiny import tiny_tokenizer

    return tiny_tokenizer("wordpiece")


@pytest.fixture(scope="module")
def bpe():
    from tests.helpers.tiny import tiny_tokenizer

    return tiny_tokenizer("bpe")


def test_template_validation_and_render():
    t = PromptTemplate()
    assert t.text == DEFAULT_TEMPLATE
    expected = DEFAULT_TEMPLATE.replace("{rubric}", "Use {braces}").replace("{response}", "ok")
    assert t.render("Use {braces}", "ok") == expected
    assert t.suffix == ""
    with pytest.raises(ValueError, match="rubric"):
        PromptTemplate(text="Response: {response}")
    with pytest.raises(ValueError, match="before"):
        PromptTemplate(text="{response} judged by {rubric}")
    with pytest.raises(ValueError, match="exactly once"):
        PromptTemplate(text="{rubric} {rubric} {response}")


def test_special_layout(wordpiece, bpe):
    lay = special_layout(wordpiece)
    assert [wordpiece.convert_ids_to_tokens(i) for i in lay.head] == ["[CLS]"]
    assert [wordpiece.convert_ids_to_tokens(i) for i in lay.tail] == ["[SEP]"]
    assert special_layout(bpe).head == () and special_layout(bpe).tail == ()


def test_labels_from_spans_any_character_counts():
    offsets = [(0, 5), (5, 6), (6, 11), (11, 11), (11, 12)]
    # span covers only the last char of token 0 and the first of token 2
    assert labels_from_spans(offsets, [(4, 7)], 12) == [1, 1, 1, IGNORE, 0]
    assert labels_from_spans(offsets, [], 12) == [0, 0, 0, IGNORE, 0]


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_encode_masks_prompt_and_labels_response(kind, request):
    tok = request.getfixturevalue(kind)
    enc = DiscriminatorEncoder(tok, max_length=512)
    response = "hello world, the quick fox. banana!"
    span = (response.index("banana"), response.index("banana") + 6)
    (e,) = enc.encode(["Include the word banana."], [response], [[span]])
    n_prompt = e.response_start
    assert all(lab == IGNORE for lab in e.labels[:n_prompt])  # prompt and head specials never labelled
    assert all(lab == IGNORE for lab in e.labels[e.response_start + e.n_response :])  # tail specials
    resp_labels = e.labels[e.response_slice]
    relevant_text = "".join(response[s:t] for (s, t), lab in zip(e.response_offsets, resp_labels) if lab == 1)
    assert relevant_text.replace(" ", "") == "banana"
    # the response ids are the response's own tokenization, placed between the prompt and the tail
    own = tok(response, add_special_tokens=False)["input_ids"]
    assert e.input_ids[e.response_slice] == list(own)
    assert tok.decode(e.input_ids[: e.response_start], skip_special_tokens=True).lower().startswith("identify")


def test_multibyte_characters_bpe(bpe):
    enc = DiscriminatorEncoder(bpe)
    response = "ok 😀 done"
    i = response.index("😀")
    (e,) = enc.encode(["emoji"], [response], [[(i, i + 1)]])
    labs = e.labels[e.response_slice]
    hits = [o for o, lab in zip(e.response_offsets, labs) if lab == 1]
    assert len(hits) >= 2 and all(s <= i < t for s, t in hits)  # every byte piece of the emoji is relevant


def test_truncation_cuts_response_end_never_rubric(wordpiece):
    enc = DiscriminatorEncoder(wordpiece, max_length=40)
    rubric = "Do not use any commas."
    response = " ".join(["word"] * 100) + " banana"
    (e,) = enc.encode([rubric], [response], [[(len(response) - 6, len(response))]])
    assert len(e.input_ids) == 40
    assert e.truncated and e.n_response_total > e.n_response
    assert e.input_ids[-1] == wordpiece.sep_token_id  # the tail special survives
    assert "commas" in wordpiece.decode(e.input_ids[: e.response_start])
    assert 1 not in e.labels  # the relevant end was cut
    with pytest.raises(PromptTooLongError, match="rubric is never truncated"):
        DiscriminatorEncoder(wordpiece, max_length=12).encode([rubric * 3], ["x"], names=["row-7"])


def test_projection_max_mean_nan():
    chars = tokens_to_chars([(0, 2), (1, 3), (5, 6)], [0.2, 0.9, 0.4], 7)
    np.testing.assert_allclose(chars[:3], [0.2, 0.9, 0.9])
    assert np.isnan(chars[3]) and np.isnan(chars[4]) and np.isnan(chars[6]) and chars[5] == pytest.approx(0.4)
    offs = [(0, 2), (2, 5), (4, 6), (6, 6), (3, 5)]
    np.testing.assert_allclose(chars_to_tokens(chars, offs, "max"), [0.9, 0.9, 0.4, 0.0, 0.0])
    np.testing.assert_allclose(chars_to_tokens(chars, offs, "mean"), [0.55, 0.9, 0.4, 0.0, 0.0])
    with pytest.raises(ValueError):
        chars_to_tokens(chars, offs, "sum")


def test_policy_offsets_canonical_noncanonical_and_fallback(bpe, wordpiece):
    text = "héllo world, 😀 banana"
    ids = bpe(text, add_special_tokens=False)["input_ids"]
    assert policy_offsets(bpe, ids, text) == [
        tuple(o) for o in bpe(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    ]
    # the byte-level alignment reproduces the tokenizer's own offsets, multi-byte characters included
    assert _byte_level_offsets(bpe, ids, text) == policy_offsets(bpe, ids, text)
    # a non-canonical split: byte-level single-byte tokens for "banana"
    pieces = [bpe.convert_tokens_to_ids(c) for c in "banana"]
    head = bpe(text[:-6], add_special_tokens=False)["input_ids"]
    offs = policy_offsets(bpe, head + pieces, text)
    assert offs[-6:] == [(len(text) - 6 + k, len(text) - 5 + k) for k in range(6)]
    # WordPiece has no byte alphabet: incremental decoding aligns it (a token's range may include its space)
    wp_text = "hello world banana"
    wp = wordpiece(wp_text, add_special_tokens=False, return_offsets_mapping=True)
    wp_offs = _windowed_decode_offsets(wordpiece, wp["input_ids"], wp_text)
    assert [wp_text[s:e].strip() for s, e in wp_offs] == [wp_text[s:e] for s, e in wp["offset_mapping"]]
    assert vocab_fingerprint(bpe) != vocab_fingerprint(wordpiece)
    assert vocab_fingerprint(bpe) == vocab_fingerprint(bpe)


def test_splits_and_disjointness():
    from discriminator.splits import assign_splits, by_split, check_item_disjoint

    rows = [
        SpanRow(id=f"{i}-{k}", item_id=f"item{i}", rubric_id=str(k), criteria="c", response="r", label_source="program")
        for i in range(50)
        for k in range(3)
    ]
    rows = assign_splits(rows, 0.2, 0.2, seed=1)
    parts = by_split(rows)
    assert all(parts[s] for s in ("train", "val", "test"))
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        check_item_disjoint(parts[a], parts[b], (a, b))
    with pytest.raises(ValueError, match="share 1 item"):
        check_item_disjoint(parts["train"], parts["train"][:1] + parts["test"], ("train", "test"))


def test_metrics_against_hand_counts():
    from discriminator.metrics import best_f1_threshold, token_metrics

    s = np.array([0.9, 0.8, 0.3, 0.1, 0.7, 5.0])
    y = np.array([1, 0, 1, 0, 1, -100])  # the -100 token (a prompt position) must not count
    m = token_metrics(s, y, 0.5)
    assert (m["precision"], m["recall"], m["tokens"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 5)
    assert m["auroc"] == pytest.approx(4 / 6)
    thr, f1 = best_f1_threshold(s, y)
    assert f1 == pytest.approx(0.8) or f1 >= m["f1"]
    assert token_metrics(s, y, thr)["f1"] == pytest.approx(f1)


def test_config_yaml_errors_name_file_and_field(tmp_path):
    from discriminator.config import TrainConfig

    good = tmp_path / "c.yaml"
    good.write_text("data: rows.parquet\nlearning_rate: 1e-4\npos_weight: 3\n")
    cfg = TrainConfig.from_yaml(good, out="o", max_steps=5, seed=None)
    assert cfg.learning_rate == 1e-4 and cfg.pos_weight == 3.0 and cfg.max_steps == 5 and cfg.seed == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: rows.parquet\nlearning_rate: -1\nbogus: 1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*learning_rate.*bogus"):
        TrainConfig.from_yaml(bad)
    with pytest.raises(ValueError, match="template"):
        TrainConfig(data="x", template="no placeholders")
    for shipped in (ROOT / "discriminator" / "configs").glob("*.yaml"):
        TrainConfig.from_yaml(shipped, data="x.parquet")


def test_torch_free_modules_do_not_import_torch():
    code = (
        "import sys; import discriminator.template, discriminator.features, discriminator.projection, "
        "discriminator.metrics, discriminator.splits, discriminator.config, discriminator.synthetic, "
        "discriminator.plots; bad = [m for m in ('torch',) if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
