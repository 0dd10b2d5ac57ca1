"""RelevanceScorer: bucketed == naive == one-by-one, windows for long responses, ids fast path == projection."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from discriminator.projection import chars_to_tokens, tokens_to_chars
from discriminator.scoring import RelevanceScorer

WORDS = "the quick brown fox jumps over lazy dog banana apple json table rows columns poem sea".split()


def _pairs(n: int, seed: int = 0, max_words: int = 60) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    crit = ["Do not use any commas.", "Include the keyword banana.", "Answer in all lowercase letters."]
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) + ("," if rng.random() < 0.2 else "") for _ in range(rng.randint(1, max_words))]
        out.append((rng.choice(crit), " ".join(words) + "."))
    return out


def _one_by_one(scorer: RelevanceScorer, criteria: str, response: str) -> np.ndarray:
    """Ground truth: a single unpadded forward pass of the templated pair."""
    (prefix,) = scorer.encoder.prefix_ids([criteria])
    ids, _ = scorer.encoder.tokenize_responses([response])
    full, start = scorer.encoder.assemble(prefix, ids[0])
    with torch.inference_mode():
        logits = scorer.model(input_ids=torch.tensor([full]), attention_mask=torch.ones(1, len(full))).logits
    return torch.sigmoid(logits[0, start : start + len(ids[0]), 0]).numpy()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def bert_scorer(tiny_bert_dir):
    return RelevanceScorer.from_pretrained(tiny_bert_dir, device="cpu", token_budget=600)


@pytest.fixture(scope="module")
def decoder_scorer(tiny_decoder_disc_dir):
    return RelevanceScorer.from_pretrained(tiny_decoder_disc_dir, device="cpu", token_budget=600)


@pytest.mark.parametrize("which", ["bert_scorer", "decoder_scorer"])
def test_bucketed_equals_naive_equals_one_by_one(which, request):
    scorer = request.getfixturevalue(which)
    pairs = _pairs(24)
    bucketed = scorer.score_tokens(pairs)
    stats_b = scorer.last_stats
    assert stats_b.batches > 1  # the small budget forces several micro-batches
    scorer.bucketing = False
    try:
        naive = scorer.score_tokens(pairs)
        stats_n = scorer.last_stats
    finally:
        scorer.bucketing = True
    assert stats_b.real_tokens == stats_n.real_tokens
    assert stats_b.processed_tokens < stats_n.processed_tokens  # less padding
    for i, (c, r) in enumerate(pairs):
        truth = _one_by_one(scorer, c, r)
        np.testing.assert_allclose(bucketed[i].numpy(), truth, atol=2e-5)
        np.testing.assert_allclose(naive[i].numpy(), truth, atol=2e-5)
    seqs = scorer._windows([c for c, _ in pairs], scorer.encoder.tokenize_responses([r for _, r in pairs])[0])
    for b in scorer._batches(seqs):  # the padded size of every micro-batch stays within the token budget
        longest = max(len(seqs[j].ids) for j in b)
        assert len(b) * longest <= 600
        assert min(len(seqs[j].ids) for j in b) >= longest * (1 - scorer.length_tolerance)


def test_long_responses_are_scored_in_windows(tiny_bert_dir):
    scorer = RelevanceScorer.from_pretrained(tiny_bert_dir, device="cpu", max_length=48, token_budget=600, context=8)
    criteria = "Do not use any commas."
    response = " ".join(random.Random(1).choice(WORDS) for _ in range(150))
    (scores,) = scorer.score_tokens([(criteria, response)])
    ids, _ = scorer.encoder.tokenize_responses([response])
    assert len(scores) == len(ids[0]) and scorer.last_stats.sequences > 3
    assert bool((scores > 0).all())  # every token was covered by a window (an unscored token stays 0)
    (prefix,) = scorer.encoder.prefix_ids([criteria])
    budget = scorer.encoder.response_budget(prefix)
    # the first window is exactly the truncated input; a later window has its own left context
    (first,) = scorer.encoder.encode([criteria], [response])
    with torch.inference_mode():
        logits = scorer.model(input_ids=torch.tensor([first.input_ids])).logits[0, :, 0]
    np.testing.assert_allclose(scores[:budget].numpy(), torch.sigmoid(logits[first.response_slice]).numpy(), atol=2e-5)
    step = budget - 8
    full, start = scorer.encoder.assemble(prefix, ids[0][step : step + budget])
    with torch.inference_mode():
        logits = scorer.model(input_ids=torch.tensor([full])).logits[0, :, 0]
    np.testing.assert_allclose(
        scores[budget : step + budget].numpy(), torch.sigmoid(logits[start + 8 : start + budget]).numpy(), atol=2e-5
    )


def test_shared_vocab_fast_path_equals_projection(decoder_scorer, tiny_decoder_disc_dir):
    from transformers import AutoTokenizer

    policy_tok = AutoTokenizer.from_pretrained(str(tiny_decoder_disc_dir))  # another object, same vocabulary
    assert policy_tok is not decoder_scorer.tokenizer and decoder_scorer.shares_vocab(policy_tok)
    pairs = _pairs(10, seed=3)
    crit, resp = [c for c, _ in pairs], [r for _, r in pairs]
    ids = [policy_tok(r, add_special_tokens=False)["input_ids"] for r in resp]
    fast = decoder_scorer.score_for_policy(crit, resp, policy_tokenizer=policy_tok, response_token_ids=ids)
    for reduce in ("max", "mean"):
        proj = decoder_scorer.score_for_policy(
            crit, resp, policy_tokenizer=policy_tok, response_token_ids=ids, reduce=reduce, path="project"
        )
        for f, p, i in zip(fast, proj, ids):
            assert f.shape == p.shape == (len(i),)
            torch.testing.assert_close(f, p, atol=1e-6, rtol=0)
    # the fast path is the discriminator's own scoring of those tokens
    for f, t in zip(fast, decoder_scorer.score_tokens(pairs)):
        torch.testing.assert_close(f, t, atol=1e-6, rtol=0)


def test_noncanonical_policy_ids_are_projected_through_characters(decoder_scorer):
    tok = decoder_scorer.tokenizer
    criteria, response = "Include the keyword banana.", "the fox ate a banana"
    head = tok(response[:-6], add_special_tokens=False)["input_ids"]
    ids = head + [tok.convert_tokens_to_ids(ch) for ch in "banana"]  # byte-level pieces, not canonical
    (proj,) = decoder_scorer.score_for_policy(
        [criteria], [response], policy_tokenizer=tok, response_token_ids=[ids], path="project"
    )
    (chars,) = decoder_scorer.score_chars([(criteria, response)])
    assert proj.shape == (len(ids),)
    np.testing.assert_allclose(proj[-6:].numpy(), chars[-6:], atol=1e-6)
    # auto would feed the ids directly: a policy token per score as well
    (fast,) = decoder_scorer.score_for_policy([criteria], [response], response_token_ids=[ids])
    assert fast.shape == (len(ids),)


def test_other_vocabulary_projection(bert_scorer):
    from tests.helpers.tiny import tiny_tokenizer

    policy = tiny_tokenizer("bpe")
    assert not bert_scorer.shares_vocab(policy)
    pairs = _pairs(6, seed=5)
    crit, resp = [c for c, _ in pairs], [r for _, r in pairs]
    ids = [policy(r, add_special_tokens=False)["input_ids"] for r in resp]
    out = bert_scorer.score_for_policy(crit, resp, policy_tokenizer=policy, response_token_ids=ids)
    disc = bert_scorer.score_tokens(pairs)
    _, disc_offs = bert_scorer.encoder.tokenize_responses(resp)
    for o, i, r, d, do in zip(out, ids, resp, disc, disc_offs):
        assert o.shape == (len(i),)
        pol_offs = policy(r, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        expected = chars_to_tokens(tokens_to_chars(do, d.numpy(), len(r)), pol_offs, "max")
        np.testing.assert_allclose(o.numpy(), expected, atol=1e-6)
        # a policy token " fox" (space + word) gets the score of BERT's "fox": whitespace is ignored, not 0
        assert float(o.max()) == pytest.approx(float(d.max()), abs=1e-6)
    # offsets given directly: no tokenizer needed
    offs = [policy(r, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"] for r in resp]
    again = bert_scorer.score_for_policy(crit, resp, response_offsets=offs)
    for a, o in zip(again, out):
        torch.testing.assert_close(a, o)


def test_score_chars_and_edge_cases(bert_scorer):
    pairs = [("Do not use any commas.", "hello,  world"), ("Do not use any commas.", "")]
    chars = bert_scorer.score_chars(pairs, fill_value=-1.0)
    assert [len(c) for c in chars] == [13, 0]
    assert chars[0][6] == -1.0 and chars[0][7] == -1.0 and chars[0][0] > 0  # the double space is uncovered
    toks = bert_scorer.score_tokens(pairs)
    assert toks[1].shape == (0,)
    assert bert_scorer.score_for_policy([], []) == []
    with pytest.raises(ValueError, match="criteria but"):
        bert_scorer.score_for_policy(["a"], ["b", "c"])
    with pytest.raises(ValueError, match="path='ids'"):
        bert_scorer.score_for_policy(["a"], ["b"], path="ids")
    with pytest.raises(ValueError, match="token_budget"):
        RelevanceScorer(bert_scorer.model, bert_scorer.tokenizer, bert_scorer.meta, token_budget=8)
