"""Special tokens (EOS, pad, chat markers...) get relevance exactly 0 on both scorer paths, and the ids path and
the projection path agree exactly on every other token - with a decoder and with an encoder discriminator."""

from __future__ import annotations

import pytest
import torch

from discriminator.scoring import RelevanceScorer, special_token_ids

TEXTS = [
    "hello world this is a test",
    "the quick brown fox jumps over the lazy dog",
    "write a short poem about the sea",
]
CRITERIA = ["Answer in all lowercase letters.", "Do not use any commas.", "Include the keyword banana."]


@pytest.fixture(scope="module")
def decoder(tiny_decoder_disc_dir):
    return RelevanceScorer.from_pretrained(tiny_decoder_disc_dir, device="cpu", token_budget=4096)


@pytest.fixture(scope="module")
def encoder(tiny_bert_dir):
    return RelevanceScorer.from_pretrained(tiny_bert_dir, device="cpu", token_budget=4096)


def _rows(tok, eos_id: int, extra_special: int):
    """Policy-style completions: text tokens + EOS; one with a special marker in the middle; one EOS + pad."""
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    rows = [
        ids[0] + [eos_id],
        ids[1][:3] + [extra_special] + ids[1][3:] + [eos_id],
        ids[2] + [eos_id, tok.pad_token_id],
    ]
    texts = [tok.decode(r, skip_special_tokens=True) for r in rows]  # what TRL hands the reward functions
    assert texts[0] == TEXTS[0] or texts[0] == TEXTS[0].lower()
    return rows, texts


def _check(scorer, tok, rows, texts):
    specials = special_token_ids(tok)
    ids_path = scorer.score_for_policy(CRITERIA, texts, policy_tokenizer=tok, response_token_ids=rows, path="ids")
    project = scorer.score_for_policy(CRITERIA, texts, policy_tokenizer=tok, response_token_ids=rows, path="project")
    auto = scorer.score_for_policy(CRITERIA, texts, policy_tokenizer=tok, response_token_ids=rows)
    n_special = 0
    for row, a, b, c in zip(rows, ids_path, project, auto):
        assert a.shape == b.shape == (len(row),)
        sp = torch.tensor([t in specials for t in row])
        n_special += int(sp.sum())
        assert torch.all(a[sp] == 0) and torch.all(b[sp] == 0), (row, a, b)
        assert torch.equal(a[~sp], b[~sp]), (a, b)  # exactly, not approximately
        assert torch.equal(a, c)
        assert float(a[~sp].min()) > 0  # real scores elsewhere (a sigmoid is never exactly 0)
    assert n_special == 5


def test_decoder_discriminator_shared_vocab(decoder):
    """The audit's case: a Llama discriminator sharing the policy's vocabulary, EOS-terminated completions."""
    tok = decoder.tokenizer
    assert tok.eos_token_id in special_token_ids(tok) and tok.pad_token_id in special_token_ids(tok)
    rows, texts = _rows(tok, tok.eos_token_id, tok.convert_tokens_to_ids("<|assistant|>"))
    _check(decoder, tok, rows, texts)


def test_encoder_discriminator_ids(encoder):
    """A bidirectional encoder: a special id left in the input would change every other token's score too."""
    tok = encoder.tokenizer
    rows, texts = _rows(tok, tok.sep_token_id, tok.cls_token_id)
    _check(encoder, tok, rows, texts)
    # without a policy tokenizer the ids are the discriminator's own ids: the same rule applies
    plain = encoder.score_for_policy(CRITERIA, texts, response_token_ids=rows)
    ids_path = encoder.score_for_policy(CRITERIA, texts, policy_tokenizer=tok, response_token_ids=rows, path="ids")
    assert all(torch.equal(a, b) for a, b in zip(plain, ids_path))


def test_trainer_relevance_zero_on_eos(decoder):
    """grpo.rtt_grpo_trainer.RTTGRPOTrainer.relevance on EOS-terminated completions: EOS (inside the completion mask)
    gets 0, every other token the discriminator's score, whatever the scorer returns for specials."""
    from grpo.rewards import RubricVerdicts, verdict_arrays
    from grpo.rtt_grpo_trainer import RTTGRPOTrainer
    from rubrics.schema import Rubric, RubricItem
    from rubrics.verdicts import compute_verdicts

    tok = decoder.tokenizer
    rows, texts = _rows(tok, tok.eos_token_id, tok.convert_tokens_to_ids("<|assistant|>"))
    items = [
        RubricItem(id=f"i{i}", prompt="p", rubrics=[Rubric(id="a", text=c), Rubric(id="b", text=CRITERIA[0])])
        for i, c in enumerate(CRITERIA)
    ]
    batch = compute_verdicts(list(zip(items, texts)))
    v = RubricVerdicts(
        items=items, texts=texts, arrays=verdict_arrays(batch, items, undecided="fail"), raw=batch, seconds=0.0
    )
    t = max(map(len, rows))
    ids = torch.full((3, t), tok.pad_token_id)
    mask = torch.zeros(3, t, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r) - (1 if r[-1] == tok.pad_token_id else 0)  # the completion mask covers EOS, not the pad
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, :n] = 1

    class Stub:  # only what relevance() reads
        scorer, _tokenizer = decoder, tok
        _relevance_pairs = RTTGRPOTrainer._relevance_pairs
        rule_relevance = RTTGRPOTrainer.rule_relevance
        discriminator_relevance = RTTGRPOTrainer.discriminator_relevance

        class args:
            relevance_reduce = "max"
            rtt_relevance = "discriminator"

    rel = RTTGRPOTrainer.relevance(Stub(), v, ids, mask)
    specials = special_token_ids(tok)
    ref = decoder.score_for_policy(
        [c for c in CRITERIA],
        texts,
        policy_tokenizer=tok,
        path="project",
        response_token_ids=[r[: int(m)] for r, m in zip(rows, mask.sum(-1))],
    )
    for i, r in enumerate(rows):
        n = int(mask[i].sum())
        sp = torch.tensor([x in specials for x in r[:n]])
        assert sp[-1] and rel[i, 0, n - 1] == 0  # EOS
        assert torch.all(rel[i, :, :n][:, sp] == 0)
        assert torch.equal(rel[i, 0, :n][~sp], ref[i][~sp])
        assert float(rel[i, 0, :n][~sp].min()) > 0

    class Careless:  # a scorer that scores everything, specials included
        def score_for_policy(self, crit, resp, **kw):
            return [torch.full((len(x),), 0.5) for x in kw["response_token_ids"]]

    Stub.scorer = Careless()
    rel = RTTGRPOTrainer.relevance(Stub(), v, ids, mask)
    for i, r in enumerate(rows):
        n = int(mask[i].sum())
        sp = torch.tensor([x in specials for x in r[:n]])
        assert torch.all(rel[i, :, :n][:, sp] == 0) and torch.all(rel[i, :, :n][:, ~sp] == 0.5)
