"""Token-credit variants (centred, blame, group_softmax, weights) and the GDPO response advantage: numbers worked by
hand, independent loop references, and the invariants every variant must keep (hypothesis)."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo.advantages import (
    centred_token_advantages,
    credit_weights,
    gdpo_advantages,
    rtt_advantages,
    rubric_group_advantages,
)
from tests.grpo.test_advantages import batches, make_batch

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
EPS = 1e-6
CREDITS = ("centred", "blame", "group_softmax", "weights")


# ------------------------------------------------------------------------------------------------ loop references


def _groups(group_ids):
    out: dict[int, list[int]] = {}
    for i, g in enumerate(group_ids.tolist()):
        out.setdefault(g, []).append(i)
    return out


def loop_rubric_adv(s, rm, group_ids, scale):
    """c[i,k] = s - mean over the group's users of slot k (optionally / unbiased std + eps), by loops."""
    b, r = s.shape
    c = [[0.0] * r for _ in range(b)]
    for idx in _groups(group_ids).values():
        for k in range(r):
            users = [i for i in idx if rm[i, k]]
            if not users:
                continue
            vals = [float(s[i, k]) for i in users]
            mean = sum(vals) / len(vals)
            sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            for i, v in zip(users, vals):
                c[i][k] = (v - mean) / (sd + EPS) if scale == "std" else v - mean
    return c


def loop_token_term(credit, s, w, mask, group_ids, rm, resp, *, scale="none", cap=4.0):
    b, r, t = w.shape
    tok = torch.zeros(b, t, dtype=torch.float64)
    if credit in ("centred", "blame", "group_softmax"):
        c = loop_rubric_adv(s, rm, group_ids, "std" if credit == "group_softmax" else scale)
        if credit == "blame":  # only the failed verdicts: their centred value is <= 0, a passed one's >= 0
            c = [[min(v, 0.0) if s[i, k] < 0 else 0.0 for k, v in enumerate(row)] for i, row in enumerate(c)]
        for i in range(b):
            ks = [k for k in range(r) if rm[i, k]]
            for tt in range(t):
                if not mask[i, tt] or not ks:
                    continue
                if credit in ("centred", "blame"):
                    tok[i, tt] = sum(c[i][k] * float(w[i, k, tt]) for k in ks) / len(ks)
                else:
                    ex = [math.exp(float(w[i, k, tt])) for k in ks]
                    tok[i, tt] = sum(e / sum(ex) * c[i][k] for e, k in zip(ex, ks))
        return tok
    assert credit == "weights"
    for i in range(b):
        toks = [tt for tt in range(t) if mask[i, tt]]
        sign = (resp[i] > 0) - (resp[i] < 0)
        ks = [k for k in range(r) if rm[i, k] and sign != 0 and (1 if s[i, k] > 0 else -1) == sign]
        omega = {tt: 1.0 for tt in toks}
        if ks and toks:
            rbar = {tt: sum(float(w[i, k, tt]) for k in ks) / len(ks) for tt in toks}
            mu = sum(rbar.values()) / len(toks)
            if mu > 0:
                u = {tt: min(rbar[tt] / mu, cap) for tt in toks}
                shift = 1 - sum(u.values()) / len(toks)
                omega = {tt: u[tt] + shift for tt in toks}
        for tt in toks:
            tok[i, tt] = resp[i] * (omega[tt] - 1)
    return tok


def loop_gdpo(s, rm, group_ids):
    c = loop_rubric_adv(s, rm, group_ids, "std")
    summed = [sum(c[i][k] for k in range(s.shape[1]) if rm[i, k]) for i in range(s.shape[0])]
    if len(summed) < 2:
        return torch.zeros(len(summed), dtype=torch.float64)
    mean = sum(summed) / len(summed)
    sd = math.sqrt(sum((v - mean) ** 2 for v in summed) / (len(summed) - 1))
    return torch.tensor([(v - mean) / (sd + EPS) for v in summed], dtype=torch.float64)


# ------------------------------------------------------------------------------------------------ worked examples


def _worked_group():
    """One group of 4, two rubrics, 3 tokens. Rubric 0: passed by responses 0 and 1 (mean 0, c = +-1);
    rubric 1: passed by all four (c = 0: no credit however relevant its tokens are)."""
    s = torch.tensor([[1, 1], [1, 1], [-1, 1], [-1, 1]])
    w = torch.zeros(4, 2, 3, dtype=torch.float64)
    w[:, 0, 0] = 1.0  # token 0 decides rubric 0
    w[:, 1, :] = 1.0  # every token is relevant to rubric 1
    w[2, 0, 1] = 0.5
    return s, w, torch.ones(4, 3, dtype=torch.bool), torch.zeros(4, dtype=torch.long)


def test_centred_worked_example_by_hand():
    """The worked group: +-1 on what is relevant to rubric 0, over 2 rubrics; nothing from rubric 1."""
    s, w, mask, gid = _worked_group()
    out = rtt_advantages(s, w, mask, gid, token_credit="centred", beta=1.0)
    want = torch.tensor([[0.5, 0, 0], [0.5, 0, 0], [-0.5, -0.25, 0], [-0.5, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(out.tok_adv, want)
    # std-scaled: c = +-1 / (2/sqrt(3)) = +-0.8660...
    std = rtt_advantages(s, w, mask, gid, token_credit="centred", centred_scale="std", beta=1.0).tok_adv
    torch.testing.assert_close(std, want * math.sqrt(3) / 2 / (1 + EPS * math.sqrt(3) / 2), rtol=1e-6, atol=1e-9)


def test_blame_worked_example_by_hand():
    """The worked group: blame keeps the failed side only. Responses 0 and 1 passed rubric 0 (no push up, however
    relevant token 0 is); 2 and 3 failed it while half the group passed: c = -1 on what is relevant (token 0 of
    both, half of token 1 of response 2), over 2 rubrics. Rubric 1 is passed by all: nothing."""
    s, w, mask, gid = _worked_group()
    out = rtt_advantages(s, w, mask, gid, token_credit="blame", beta=1.0)
    want = torch.tensor([[0, 0, 0], [0, 0, 0], [-0.5, -0.25, 0], [-0.5, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(out.tok_adv, want)
    # a rubric that 3 of 4 pass blames its one failure harder: c = -1 - 0.5 = -1.5 (-2 x the pass fraction)
    s3 = torch.tensor([[1], [1], [1], [-1]])
    one = rtt_advantages(s3, w[:, :1], mask, gid, token_credit="blame", beta=1.0).tok_adv
    torch.testing.assert_close(one[3], torch.tensor([-1.5, 0, 0], dtype=torch.float64))
    assert one[:3].abs().max().item() == 0.0
    # and the response term is GRPO's, untouched
    torch.testing.assert_close(out.resp_adv, rtt_advantages(s, w, mask, gid, token_norm="none").resp_adv)


def test_group_softmax_worked_example_by_hand():
    """Two responses, two rubrics; rubric 0 split (c = +-1/(sqrt(2)+eps)), rubric 1 equal (c = 0): the token
    gets c0 times its softmax share of rubric 0."""
    s = torch.tensor([[1, 1], [-1, 1]])
    w = torch.tensor([[[1.0], [0.0]], [[0.0], [0.0]]], dtype=torch.float64)  # (2, 2, 1)
    mask = torch.ones(2, 1, dtype=torch.bool)
    out = rtt_advantages(s, w, mask, torch.zeros(2), token_credit="group_softmax", beta=1.0).tok_adv
    c0 = 1.0 / (math.sqrt(2) + EPS)
    share = math.e / (math.e + 1)
    torch.testing.assert_close(out, torch.tensor([[c0 * share], [-c0 * 0.5]], dtype=torch.float64))


def test_weights_worked_example_by_hand():
    """Group of 2, one rubric: response 0 passes (A = +1/(sqrt(.5)+eps)...), its relevant token weighted
    min(4/1, cap) + 1 - mean(u); response 1 fails and has no relevant token: omega = 1 (plain GRPO)."""
    s = torch.tensor([[1], [-1]])
    w = torch.zeros(2, 1, 4, dtype=torch.float64)
    w[0, 0, 2] = 1.0
    mask = torch.ones(2, 4, dtype=torch.bool)
    res = rtt_advantages(s, w, mask, torch.zeros(2), token_credit="weights", beta=1.0, weight_cap=3.0)
    a = res.resp_adv[0].item()
    assert a > 0 and res.resp_adv[1].item() == pytest.approx(-a)
    # rbar = [0,0,1,0], mean .25 -> u = [0,0,4->3,0], mean .75 -> omega = [.25,.25,3.25,.25] (mean 1)
    torch.testing.assert_close(res.adv[0], a * torch.tensor([0.25, 0.25, 3.25, 0.25], dtype=torch.float64))
    torch.testing.assert_close(res.adv[1], torch.full((4,), -a, dtype=torch.float64))


def test_gdpo_worked_example_by_hand():
    """Two groups of 2 with two rubrics: each rubric z-scored in its group (+-1/(sqrt 2 + eps)), summed,
    then z-scored over the batch."""
    s = torch.tensor([[1, 1], [-1, -1], [1, -1], [-1, 1]])
    gid = torch.tensor([0, 0, 1, 1])
    adv = gdpo_advantages(s, s != 0, gid)
    z = 1.0 / (math.sqrt(2) + EPS)
    summed = torch.tensor([2 * z, -2 * z, 0.0, 0.0], dtype=torch.float64)
    want = (summed - summed.mean()) / (summed.std() + EPS)
    torch.testing.assert_close(adv.double(), want, rtol=1e-6, atol=1e-7)
    # AON would see group 1 as all-fail (no signal); GDPO too gives it 0: both rubrics are split 1-1 there
    assert adv[2].item() == 0 and adv[3].item() == 0


def test_paper_term_credits_a_rubric_the_whole_group_passes_and_centred_does_not():
    """The defect the variants fix: all four responses pass the rubric, yet the paper's term pushes its one
    relevant token by about sqrt((T-1)/1); the centred term gives exactly 0."""
    s = torch.ones(4, 1, dtype=torch.long)
    w = torch.zeros(4, 1, 48, dtype=torch.float64)
    w[:, 0, 5] = 1.0
    mask = torch.ones(4, 48, dtype=torch.bool)
    gid = torch.zeros(4)
    paper = rtt_advantages(s, w, mask, gid, token_credit="paper", beta=1.0).tok_adv
    assert paper[0, 5].item() == pytest.approx(math.sqrt(47), rel=1e-4)
    for credit in CREDITS:
        assert rtt_advantages(s, w, mask, gid, token_credit=credit, beta=1.0).tok_adv.abs().max().item() == 0.0


def test_options_are_checked():
    s, w, mask, gid, rm, _ = make_batch(0, 2, 3, 2, 4)
    with pytest.raises(ValueError, match="token_credit"):
        rtt_advantages(s, w, mask, gid, token_credit="nope")
    with pytest.raises(ValueError, match="combine='add'"):
        rtt_advantages(s, w, mask, gid, token_credit="weights", combine="mix")
    with pytest.raises(ValueError, match="paper"):
        rtt_advantages(s, w, mask, gid, token_credit="centred", compat_public_reshape=True)
    with pytest.raises(ValueError, match="centred_scale"):
        rubric_group_advantages(s, rm, gid, scale="bad")
    with pytest.raises(ValueError, match="response_advantage"):
        rtt_advantages(s, w, mask, gid, response_advantage="trl")


# ------------------------------------------------------------------------------------------------ properties


@SETTINGS
@given(batches, st.sampled_from(CREDITS), st.sampled_from(["none", "std"]))
def test_variants_match_loop_reference(shape, credit, scale):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm, token_credit=credit, centred_scale=scale, beta=1.0)
    want = loop_token_term(credit, s, w, mask, gid, rm, out.resp_adv.tolist(), scale=scale)
    torch.testing.assert_close(out.tok_adv, want, rtol=1e-9, atol=1e-9)


@SETTINGS
@given(batches)
def test_gdpo_matches_loop_reference(shape):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm, response_advantage="gdpo", beta=0.0)
    torch.testing.assert_close(out.resp_adv, loop_gdpo(s, rm, gid), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(out.adv, out.resp_adv.unsqueeze(-1).expand_as(out.adv))


@SETTINGS
@given(batches, st.sampled_from(CREDITS), st.sampled_from(["aon", "csr"]))
def test_beta_zero_is_plain_grpo_for_every_credit(shape, credit, reward):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm, reward=reward, token_credit=credit, beta=0.0)
    plain = rtt_advantages(s, w, mask, gid, rubric_mask=rm, reward=reward, token_norm="none")
    assert torch.equal(out.adv, plain.adv)


@SETTINGS
@given(batches, st.sampled_from(["centred", "blame", "group_softmax"]), st.integers(0, 3))
def test_a_rubric_constant_in_its_group_gives_no_token_credit(shape, credit, k_const):
    """Make slot k the same verdict for every response of each group: its relevance then changes nothing."""
    s, w, mask, gid, rm, _ = make_batch(*shape, ragged=False)
    k = k_const % s.shape[1]
    s = s.clone()
    s[:, k] = torch.where(gid % 2 == 0, 1, -1).to(s.dtype)
    base = rtt_advantages(s, w, mask, gid, rubric_mask=rm, token_credit=credit, beta=1.0).tok_adv
    w2 = w.clone()
    w2[:, k] = torch.rand(w.shape[0], w.shape[2], dtype=w.dtype, generator=torch.Generator().manual_seed(1))
    other = rtt_advantages(s, w2, mask, gid, rubric_mask=rm, token_credit=credit, beta=1.0).tok_adv
    if credit in ("centred", "blame"):  # relevance of the constant slot is multiplied by c = 0
        torch.testing.assert_close(other, base)
    if s.shape[1] == 1:  # the only rubric is constant: no token credit at all
        assert other.abs().max().item() == 0.0


@SETTINGS
@given(batches)
def test_an_all_equal_group_gets_no_weights_credit(shape):
    """weights: a group whose responses all have the same reward has A_resp = 0, hence no token credit."""
    s, w, mask, gid, rm, _ = make_batch(*shape)
    s = torch.where(rm, torch.ones_like(s), torch.zeros_like(s))  # every response passes everything
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm, token_credit="weights", beta=1.0)
    assert out.tok_adv.abs().max().item() == 0.0


@SETTINGS
@given(batches, st.sampled_from(["none", "std"]))
def test_centred_and_group_softmax_are_bounded_by_the_rubric_advantage(shape, scale):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    c = rubric_group_advantages(s, rm, gid, scale=scale).abs().max().item()
    for credit in ("centred", "blame", "group_softmax"):
        tok = rtt_advantages(
            s, w, mask, gid, rubric_mask=rm, token_credit=credit, centred_scale=scale, beta=1.0
        ).tok_adv
        bound = (
            c
            if credit in ("centred", "blame") or scale == "std"
            else rubric_group_advantages(s, rm, gid, scale="std").abs().max().item()
        )
        assert tok.abs().max().item() <= bound + 1e-9
    if scale == "none":
        g = max(len(v) for v in _groups(gid).values())
        assert c <= 2 * (g - 1) / g + 1e-6


@SETTINGS
@given(batches, st.floats(1.0, 8.0))
def test_weights_are_nonnegative_bounded_and_mean_one(shape, cap):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    resp = torch.randn(s.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(shape[0]))
    omega = credit_weights(s, w, mask, rm, rm.double(), resp, cap=cap)
    n = mask.sum(-1)
    assert (omega >= -1e-12).all() and (omega <= cap + 1 + 1e-9).all()
    assert (omega[~mask] == 0).all()
    means = omega.sum(-1)[n > 0] / n[n > 0]
    torch.testing.assert_close(means, torch.ones_like(means))


def test_centred_statistics_span_processes():
    """Groups straddling a two-'process' split give the one-process result when the rubric group statistics
    are summed across processes (``group_reduce``), as the trainer does with accelerate's gather."""
    s, w, mask, gid, rm, _ = make_batch(7, 2, 4, 3, 5, ragged=False)
    full = rtt_advantages(s, w, mask, gid, rubric_mask=rm, token_credit="centred", centred_scale="std", beta=1.0)
    parts, slots, results = [slice(0, 3), slice(3, 8)], [None, None], [None, None]
    barrier = threading.Barrier(2)

    def make_reduce(p):
        def reduce(t, op):
            slots[p] = t
            barrier.wait()
            out = t + slots[1 - p] if op == "sum" else torch.maximum(t, slots[1 - p])
            barrier.wait()
            return out

        return reduce

    def run(p):
        sl = parts[p]
        c = rubric_group_advantages(s[sl], rm[sl], gid[sl], scale="std", num_groups=2, group_reduce=make_reduce(p))
        results[p] = centred_token_advantages(c, w[sl], mask[sl], rm[sl].double())

    threads = [threading.Thread(target=run, args=(p,)) for p in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    torch.testing.assert_close(torch.cat(results), full.tok_adv)


@pytest.mark.parametrize("credit", CREDITS)
def test_nan_in_masked_positions_changes_nothing(credit):
    s, w, mask, gid, rm, _ = make_batch(3, 2, 4, 3, 6)
    clean = rtt_advantages(s, w, mask, gid, rubric_mask=rm, token_credit=credit, beta=1.0).adv
    poisoned = w.clone()
    poisoned[~mask.unsqueeze(1).expand_as(w)] = float("nan")
    poisoned[~rm.unsqueeze(-1).expand_as(w)] = float("inf")
    out = rtt_advantages(s, poisoned, mask, gid, rubric_mask=rm, token_credit=credit, beta=1.0).adv
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, clean)


@SETTINGS
@given(batches, st.sampled_from(["none", "std"]))
def test_blame_never_pushes_a_token_up_and_is_centreds_failing_side(shape, scale):
    """blame <= 0 everywhere, is 0 on every response that passed all its rubrics, and equals the centred term
    once the passed verdicts' relevance is zeroed (the two differ only by the passed side)."""
    s, w, mask, gid, rm, _ = make_batch(*shape)
    kw = {"rubric_mask": rm, "centred_scale": scale, "beta": 1.0}
    blame = rtt_advantages(s, w, mask, gid, token_credit="blame", **kw).tok_adv
    assert blame.max().item() <= 0.0
    all_passed = ((s > 0) | ~rm).all(-1)
    if bool(all_passed.any()):
        assert blame[all_passed].abs().max().item() == 0.0
    failed_only = torch.where(((s < 0) & rm).unsqueeze(-1), w, torch.zeros_like(w))
    centred = rtt_advantages(s, failed_only, mask, gid, token_credit="centred", **kw).tok_adv
    torch.testing.assert_close(blame, centred, rtol=0, atol=0)
