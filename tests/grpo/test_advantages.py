"""RTT-GRPO advantages: hand-checked numbers, a loop reference, and properties (hypothesis)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo.advantages import (
    group_advantages,
    public_reshape_token_advantages,
    response_rewards,
    rtt_advantages,
    token_rewards,
)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
EPS = 1e-6


# ------------------------------------------------------------------------------------------------ fixtures


def make_batch(seed: int, n_groups: int, g: int, r: int, t: int, ragged: bool = True, dtype=torch.float64):
    """Random batch: contiguous groups, ragged response lengths, per-group rubric count (ragged across groups)."""
    gen = torch.Generator().manual_seed(seed)
    b = n_groups * g
    group_ids = torch.arange(n_groups).repeat_interleave(g)
    lengths = torch.randint(0, t + 1, (b,), generator=gen)
    mask = torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)
    n_rub = torch.randint(1, r + 1, (n_groups,), generator=gen) if ragged else torch.full((n_groups,), r)
    rubric_mask = torch.arange(r).unsqueeze(0) < n_rub[group_ids].unsqueeze(1)
    s = torch.where(torch.rand(b, r, generator=gen) < 0.5, 1, -1).to(torch.int8) * rubric_mask
    w = torch.rand(b, r, t, generator=gen, dtype=dtype)
    # sprinkle exact zeros/ones and constant rows, as a discriminator produces
    w = torch.where(torch.rand(b, r, t, generator=gen, dtype=dtype) < 0.2, torch.zeros((), dtype=dtype), w)
    weights = torch.rand(b, r, generator=gen, dtype=dtype) * 2 - 0.5
    return s, w, mask, group_ids, rubric_mask, weights


batches = st.tuples(st.integers(0, 10_000), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 6))


def loop_reference(
    s, w, mask, group_ids, rubric_mask, weights, *, reward, token_norm, scale_rewards, alpha, beta, combine
):
    """Straightforward loops over groups / responses / rubrics, formulas exactly as in the design page."""
    b, _, t = w.shape
    rew = []
    for i in range(b):
        ks = [k for k in range(s.shape[1]) if rubric_mask[i, k]]
        ok = [float(s[i, k] > 0) for k in ks]
        if reward == "aon":
            rew.append(float(all(ok)))
        elif reward == "csr":
            rew.append(sum(ok) / len(ks) if ks else 0.0)
        else:
            wa = [abs(float(weights[i, k])) for k in ks]
            rew.append(sum(a * o for a, o in zip(wa, ok)) / sum(wa) if sum(wa) > 0 else 0.0)
    resp = [0.0] * b
    groups = sorted(set(group_ids.tolist()))
    all_std = torch.tensor(rew, dtype=torch.float64).std(unbiased=True).item() if b > 1 else 0.0
    for gid in groups:
        idx = [i for i in range(b) if group_ids[i] == gid]
        vals = [rew[i] for i in idx]
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        for i in idx:
            if scale_rewards == "group":
                resp[i] = (rew[i] - mean) / (std + EPS)
            elif scale_rewards == "batch":
                resp[i] = (rew[i] - mean) / (all_std + EPS)
            else:
                resp[i] = rew[i] - mean
    tok = torch.zeros(b, t, dtype=torch.float64)
    for gid in groups:
        idx = [i for i in range(b) if group_ids[i] == gid]
        for i in idx:
            zs, cs = [], []
            for k in range(s.shape[1]):
                if not rubric_mask[i, k]:
                    continue
                toks = [tt for tt in range(t) if mask[i, tt]]
                x = [float(s[i, k]) * float(w[i, k, tt]) for tt in toks]
                if token_norm == "intra":
                    pool = x
                else:
                    pool = [
                        float(s[j, k]) * float(w[j, k, tt])
                        for j in idx
                        if rubric_mask[j, k]
                        for tt in range(t)
                        if mask[j, tt]
                    ]
                z = torch.zeros(t, dtype=torch.float64)
                if pool and max(pool) > min(pool):
                    mu = sum(pool) / len(pool)
                    sd = math.sqrt(sum((p - mu) ** 2 for p in pool) / len(pool))
                    for tt, xv in zip(toks, x):
                        z[tt] = (xv - mu) / (sd + EPS)
                zs.append(z)
                cs.append(abs(float(weights[i, k])) if reward == "weighted" else 1.0)
            if zs and sum(cs) > 0:
                tok[i] = sum(c * z for c, z in zip(cs, zs)) / sum(cs)
    a = alpha if combine == "add" else 1 - beta
    adv = a * torch.tensor(resp, dtype=torch.float64).unsqueeze(1) + beta * tok
    return torch.tensor(rew, dtype=torch.float64), torch.tensor(resp, dtype=torch.float64), tok, adv


# ------------------------------------------------------------------------------------------------ worked examples


def test_worked_example_intra_by_hand():
    """One group, G=2, R=2, T=3. Numbers below computed by hand (eps ignored: tolerance 1e-5).

    response 0 (3 tokens): s = (+1, -1) -> AON 0. k0: w=(1,0,0), x=(1,0,0), mu=1/3, pop std=sqrt(2)/3 -> z=(1.41421,
    -0.70711, -0.70711); k1: w=(0,1,1), x=(0,-1,-1), mu=-2/3, same std -> the same z. A_tok = (1.41421, -0.70711,
    -0.70711).
    response 1 (2 tokens + 1 pad): s = (+1, +1) -> AON 1. k0: x=(0.8, 0.2), mu 0.5, std 0.3 -> z=(1, -1);
    k1: constant (0.5, 0.5) -> z = 0. A_tok = (0.5, -0.5, 0).
    rewards (0, 1): mean 0.5, unbiased std sqrt(0.5) -> A_resp = (-0.70711, +0.70711).
    A = A_resp + 0.5 A_tok: r0 = (0, -1.06066, -1.06066), r1 = (0.95711, 0.45711, 0.70711) (pad column = A_resp).
    """
    s = torch.tensor([[1, -1], [1, 1]], dtype=torch.int8)
    w = torch.tensor([[[1.0, 0, 0], [0, 1, 1]], [[0.8, 0.2, 0.5], [0.5, 0.5, 0.9]]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    out = rtt_advantages(s, w, mask, torch.tensor([7, 7]), reward="aon", alpha=1.0, beta=0.5)
    assert out.reward.tolist() == [0.0, 1.0]
    torch.testing.assert_close(out.resp_adv, torch.tensor([-0.70711, 0.70711], dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        out.tok_adv,
        torch.tensor([[1.41421, -0.70711, -0.70711], [0.5, -0.5, 0.0]], dtype=torch.float64),
        atol=1e-5,
        rtol=0,
    )
    torch.testing.assert_close(
        out.adv,
        torch.tensor([[0.0, -1.06066, -1.06066], [0.95711, 0.45711, 0.70711]], dtype=torch.float64),
        atol=1e-5,
        rtol=0,
    )
    # CSR on the same verdicts: (0.5, 1.0) -> the same normalised advantage (up to eps)
    csr = rtt_advantages(s, w, mask, torch.tensor([7, 7]), reward="csr")
    assert csr.reward.tolist() == [0.5, 1.0]
    torch.testing.assert_close(csr.resp_adv, out.resp_adv, atol=1e-5, rtol=0)


def test_worked_example_inter_by_hand():
    """R=1, same group. Pooled x over 5 masked tokens (1,0,0 | 0.8,0.2): mean 0.4, pop var 0.176, std 0.41952.
    z r0 = (0.6, -0.4, -0.4)/std = (1.43019, -0.95346, -0.95346); r1 = (0.4, -0.2)/std = (0.95346, -0.47673).
    Unlike intra, rows do not sum to zero (the length bias): r0 sums to -0.47673."""
    s = torch.tensor([[1], [1]], dtype=torch.int8)
    w = torch.tensor([[[1.0, 0, 0]], [[0.8, 0.2, 0.7]]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    out = rtt_advantages(s, w, mask, torch.tensor([0, 0]), token_norm="inter", beta=1.0)
    torch.testing.assert_close(
        out.tok_adv,
        torch.tensor([[1.43019, -0.95346, -0.95346], [0.95346, -0.47673, 0.0]], dtype=torch.float64),
        atol=1e-5,
        rtol=0,
    )
    assert out.resp_adv.tolist() == [0.0, 0.0]  # both AON = 1: zero std -> 0, finite


def test_all_fail_group_still_has_token_signal():
    """All responses fail (AON all 0): A_resp is 0 everywhere, the token term is not (anti-sparsity)."""
    s, w, mask, gid, rm, _ = make_batch(3, 1, 4, 3, 6, ragged=False)
    s = -torch.ones_like(s)
    mask[:, :3] = True
    out = rtt_advantages(s, w, mask, gid)
    assert torch.all(out.reward == 0) and torch.all(out.resp_adv == 0)
    assert out.tok_adv.abs().max() > 0.1 and torch.isfinite(out.adv).all()


def test_public_reshape_defect_differs_when_r_gt_1():
    s, w, mask, gid, rm, _ = make_batch(11, 2, 4, 3, 5, ragged=False)
    ours = rtt_advantages(s, w, mask, gid).tok_adv
    compat = rtt_advantages(s, w, mask, gid, compat_public_reshape=True).tok_adv
    assert not torch.allclose(ours, compat, atol=1e-3)
    # the defect mixes responses: response 0's row is built from other responses' token rows
    x = token_rewards(s, w, rm)
    assert torch.allclose(public_reshape_token_advantages(x, mask.bool(), 4), compat)
    # R == 1: reshape and transpose agree, and so do the two paths
    s1, w1, m1, g1, _, _ = make_batch(12, 2, 4, 1, 5, ragged=False)
    for norm in ("intra", "inter"):
        a = rtt_advantages(s1, w1, m1, g1, token_norm=norm).tok_adv
        b = rtt_advantages(s1, w1, m1, g1, token_norm=norm, compat_public_reshape=True).tok_adv
        torch.testing.assert_close(a, b)


def test_bad_shapes_and_options_are_named():
    s, w, mask, gid, rm, _ = make_batch(0, 1, 2, 2, 3)
    with pytest.raises(ValueError, match="shape mismatch"):
        rtt_advantages(s[:, :1], w, mask, gid)
    with pytest.raises(ValueError, match="token_norm"):
        rtt_advantages(s, w, mask, gid, token_norm="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="combine"):
        rtt_advantages(s, w, mask, gid, combine="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weighted"):
        response_rewards(s, rm, None, "weighted")


# ------------------------------------------------------------------------------------------------ properties


@SETTINGS
@given(
    batches,
    st.sampled_from(["aon", "csr", "weighted"]),
    st.sampled_from(["intra", "inter"]),
    st.sampled_from(["group", "batch", "none"]),
    st.sampled_from(["add", "mix"]),
)
def test_matches_loop_reference(shape, reward, token_norm, scale_rewards, combine):
    s, w, mask, gid, rm, weights = make_batch(*shape)
    kw = dict(reward=reward, token_norm=token_norm, scale_rewards=scale_rewards, alpha=1.3, beta=0.4, combine=combine)
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm, rubric_weights=weights, **kw)
    ref = loop_reference(s, w, mask, gid, rm, weights, **kw)
    for got, exp in zip(out, ref):
        torch.testing.assert_close(got, exp, atol=1e-8, rtol=1e-7)


def trl_grpo_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: str, eps: float) -> torch.Tensor:
    """TRL 1.16 GRPOTrainer (sum_then_normalize), the same lines, with TRL's nanstd."""
    from trl.trainer.utils import nanstd

    mean = torch.nanmean(rewards.view(-1, num_generations), dim=1).repeat_interleave(num_generations, dim=0)
    if scale_rewards in ("group", "none"):
        std = nanstd(rewards.view(-1, num_generations), dim=1).repeat_interleave(num_generations, dim=0)
    else:
        std = nanstd(rewards).expand_as(rewards)
    adv = rewards - mean
    if scale_rewards != "none":
        adv = adv / (std + eps)
    return torch.nan_to_num(adv, nan=0.0)


@SETTINGS
@given(batches, st.sampled_from(["aon", "csr"]), st.sampled_from(["group", "batch", "none"]))
def test_beta_zero_is_plain_grpo(shape, reward, scale_rewards):
    seed, ng, g, r, t = shape
    g = max(g, 2)
    s, w, mask, gid, rm, _ = make_batch(seed, ng, g, r, t)
    out = rtt_advantages(s, w, mask, gid, reward=reward, beta=0.0, scale_rewards=scale_rewards, eps=1e-4)
    expected = trl_grpo_advantages(out.reward, g, scale_rewards, eps=1e-4)
    # tolerance: TRL's nanstd computes its Bessel factor in float32
    torch.testing.assert_close(out.adv, expected.unsqueeze(1).expand_as(out.adv), atol=1e-6, rtol=1e-6)
    assert torch.all(out.tok_adv == 0)


@SETTINGS
@given(batches, st.floats(0.0, 1.0), st.sampled_from(["intra", "inter"]))
def test_constant_relevance_gives_zero_token_term(shape, c, token_norm):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    out = rtt_advantages(s, torch.full_like(w, c), mask, gid, rubric_mask=rm, token_norm=token_norm, beta=1.0)
    if token_norm == "intra" or bool((s[rm] == s[rm][0]).all()):
        assert torch.all(out.tok_adv == 0)
    assert torch.all(torch.isfinite(out.adv))


@SETTINGS
@given(batches)
def test_intra_rows_sum_to_zero_over_each_response(shape):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm, token_norm="intra")
    assert torch.all(out.tok_adv[~mask] == 0)
    torch.testing.assert_close(out.tok_adv.sum(-1), torch.zeros(len(s), dtype=torch.float64), atol=1e-8, rtol=0)


@SETTINGS
@given(batches, st.sampled_from(["intra", "inter"]), st.integers(0, 1000))
def test_permuting_responses_permutes_outputs(shape, token_norm, pseed):
    s, w, mask, gid, rm, weights = make_batch(*shape)
    perm = torch.randperm(len(s), generator=torch.Generator().manual_seed(pseed))
    relabel = torch.randperm(int(gid.max()) + 1, generator=torch.Generator().manual_seed(pseed + 1)) * 5 + 3
    a = rtt_advantages(s, w, mask, gid, rubric_mask=rm, token_norm=token_norm)
    b = rtt_advantages(s[perm], w[perm], mask[perm], relabel[gid][perm], rubric_mask=rm[perm], token_norm=token_norm)
    for x, y in zip(a, b):
        torch.testing.assert_close(x[perm], y, atol=1e-10, rtol=1e-10)


@SETTINGS
@given(batches, st.integers(1, 4), st.integers(1, 3), st.sampled_from(["intra", "inter"]))
def test_padding_invariance(shape, extra_t, extra_r, token_norm):
    s, w, mask, gid, rm, weights = make_batch(*shape)
    b, r, t = w.shape
    gen = torch.Generator().manual_seed(shape[0])
    w2 = torch.rand(b, r + extra_r, t + extra_t, generator=gen, dtype=w.dtype)  # garbage in all padding
    w2[:, :r, :t] = w
    s2 = torch.zeros(b, r + extra_r, dtype=s.dtype)
    s2[:, :r] = s
    rm2 = torch.zeros(b, r + extra_r, dtype=torch.bool)
    rm2[:, :r] = rm
    m2 = torch.zeros(b, t + extra_t, dtype=torch.bool)
    m2[:, :t] = mask
    wt2 = torch.ones(b, r + extra_r, dtype=w.dtype)
    wt2[:, :r] = weights
    for reward in ("aon", "weighted"):
        a = rtt_advantages(
            s, w, mask, gid, rubric_mask=rm, rubric_weights=weights, reward=reward, token_norm=token_norm
        )
        c = rtt_advantages(s2, w2, m2, gid, rubric_mask=rm2, rubric_weights=wt2, reward=reward, token_norm=token_norm)
        torch.testing.assert_close(a.reward, c.reward)
        torch.testing.assert_close(a.resp_adv, c.resp_adv)
        torch.testing.assert_close(a.tok_adv, c.tok_adv[:, :t], atol=1e-10, rtol=1e-10)
        assert torch.all(c.tok_adv[:, t:] == 0)
        torch.testing.assert_close(a.adv, c.adv[:, :t], atol=1e-10, rtol=1e-10)


@SETTINGS
@given(batches)
def test_ragged_rubric_counts_equal_separate_calls(shape):
    """A batch mixing groups with different rubric counts equals computing each group alone at its own width."""
    s, w, mask, gid, rm, _ = make_batch(*shape)
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm)
    for g in gid.unique():
        sel = gid == g
        k = int(rm[sel][0].sum())
        alone = rtt_advantages(s[sel][:, :k], w[sel][:, :k], mask[sel], gid[sel])
        torch.testing.assert_close(out.adv[sel], alone.adv, atol=1e-10, rtol=1e-10)


@SETTINGS
@given(batches, st.sampled_from(["aon", "csr"]), st.sampled_from(["intra", "inter"]))
def test_zero_std_groups_are_finite(shape, reward, token_norm):
    s, w, mask, gid, rm, _ = make_batch(*shape)
    s = torch.where(rm, torch.ones_like(s), torch.zeros_like(s))  # every response passes everything
    out = rtt_advantages(s, w, mask, gid, rubric_mask=rm, reward=reward, token_norm=token_norm)
    assert torch.all(out.resp_adv == 0)
    assert all(torch.isfinite(x).all() for x in out)


def test_nan_rewards_are_left_out_of_group_stats():
    r = torch.tensor([1.0, float("nan"), 0.0, 0.0])
    adv = group_advantages(r, torch.tensor([0, 0, 0, 0]))
    ref = group_advantages(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0, 0, 0]))
    assert adv[1] == 0
    torch.testing.assert_close(adv[[0, 2, 3]], ref)


def test_inter_group_reduce_spans_processes():
    """A batch split over two 'processes' (threads) that sum/max their per-group statistics gives the
    single-process result, also when a group straddles the split."""
    import threading

    from grpo.advantages import inter_token_advantages

    s, w, mask, gid, rm, _ = make_batch(5, 2, 4, 3, 6, ragged=False)
    full = rtt_advantages(s, w, mask, gid, token_norm="inter").tok_adv
    parts = [slice(0, 3), slice(3, 8)]
    slots: list = [None, None]
    results: list = [None, None]
    barrier = threading.Barrier(2)

    def make_reduce(p: int):
        def reduce(t: torch.Tensor, op: str) -> torch.Tensor:
            slots[p] = t
            barrier.wait()
            other = slots[1 - p]
            out = t + other if op == "sum" else torch.maximum(t, other)
            barrier.wait()
            return out

        return reduce

    def run(p: int) -> None:
        sl = parts[p]
        results[p] = inter_token_advantages(
            token_rewards(s[sl], w[sl], rm[sl]),
            mask[sl].bool(),
            rm[sl],
            rm[sl].double(),
            gid[sl],
            num_groups=2,
            group_reduce=make_reduce(p),
        )

    threads = [threading.Thread(target=run, args=(p,)) for p in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    torch.testing.assert_close(torch.cat(results), full)


# ------------------------------------------------------------------------------------------------ masking and dtype

#: not derandomized: a fresh random search every run (hypothesis prints the seed / reproduce blob on failure)
RANDOM_SETTINGS = settings(max_examples=60, deadline=None, derandomize=False, print_blob=True)
_POISON = [float("nan"), float("inf"), float("-inf"), 1e30]


def _poison_masked(s, w, mask, rm, weights, gen):
    """Copies of ``w`` and ``weights`` with NaN / +-inf / huge values on every masked token and unused slot."""
    pick = torch.tensor(_POISON, dtype=w.dtype)
    noise = pick[torch.randint(0, len(pick), w.shape, generator=gen)]
    keep = mask.bool().unsqueeze(1) & rm.unsqueeze(-1)
    w2 = torch.where(keep, w, noise)
    wnoise = pick[torch.randint(0, len(pick), weights.shape, generator=gen)]
    return w2, torch.where(rm, weights, wnoise)


@RANDOM_SETTINGS
@given(
    batches,
    st.sampled_from(["aon", "csr", "weighted"]),
    st.sampled_from(["intra", "inter"]),
    st.sampled_from(["group", "batch", "none"]),
    st.sampled_from(["add", "mix"]),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_nan_and_inf_in_masked_positions_change_nothing(shape, reward, token_norm, scale_rewards, combine, dtype):
    s, w, mask, gid, rm, weights = make_batch(*shape, dtype=dtype)
    w2, weights2 = _poison_masked(s, w, mask, rm, weights, torch.Generator().manual_seed(shape[0] + 1))
    kw = dict(
        rubric_mask=rm,
        reward=reward,
        token_norm=token_norm,
        scale_rewards=scale_rewards,
        combine=combine,
        alpha=0.7,
        beta=0.6,
    )
    clean = rtt_advantages(s, w, mask, gid, rubric_weights=weights, **kw)
    dirty = rtt_advantages(s, w2, mask, gid, rubric_weights=weights2, **kw)
    for name, a, b in zip(clean._fields, clean, dirty):
        assert b.dtype == dtype, name
        assert torch.isfinite(b).all(), name
        assert torch.equal(a, b), name  # bit for bit: the poison is never read


@RANDOM_SETTINGS
@given(batches, st.sampled_from(["intra", "inter"]))
def test_token_functions_ignore_poison_given_directly(shape, token_norm):
    """The public building blocks (called by the trainer) are safe on their own, not only through rtt_advantages."""
    from grpo.advantages import inter_token_advantages, intra_token_advantages, rubric_coefficients

    s, w, mask, gid, rm, weights = make_batch(*shape)
    w2, weights2 = _poison_masked(s, w, mask, rm, weights, torch.Generator().manual_seed(shape[0] + 2))
    m = mask.bool()
    x_clean = token_rewards(s, w, rm)
    x_dirty = torch.where(m.unsqueeze(1) & rm.unsqueeze(-1), x_clean, w2)  # poison straight into x
    outs = []
    for x, wt in ((x_clean, weights), (x_dirty, weights2)):
        coef = rubric_coefficients(rm, wt, x.dtype)
        assert torch.isfinite(coef).all()
        if token_norm == "intra":
            outs.append(intra_token_advantages(x.clone(), m, rm, coef))
        else:
            outs.append(inter_token_advantages(x.clone(), m, rm, coef, gid))
    assert torch.isfinite(outs[1]).all()
    assert torch.equal(outs[0], outs[1])
    assert torch.equal(token_rewards(s, w2, rm, m), token_rewards(s, w, rm, m))


def test_nan_on_a_padded_token_used_to_poison_the_row_and_group():
    """The audit's case: one NaN relevance on a padded position (intra: the row; inter: the group)."""
    s = torch.tensor([[1], [-1]], dtype=torch.int8)
    w = torch.tensor([[[0.9, 0.1, float("nan")]], [[0.2, 0.7, 0.4]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    for norm in ("intra", "inter"):
        out = rtt_advantages(s, w, mask, torch.tensor([0, 0]), token_norm=norm)
        assert torch.isfinite(out.adv).all(), norm
        assert out.tok_adv[0, 2] == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_the_input(dtype):
    s = torch.tensor([[1, -1, -1], [1, 1, -1], [1, 1, 1]], dtype=torch.int8)
    w = torch.rand(3, 3, 4, dtype=dtype, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 4, dtype=torch.bool)
    out = rtt_advantages(s, w, mask, torch.zeros(3, dtype=torch.long), reward="csr")
    assert all(t.dtype == dtype for t in out)
    # csr = 1/3 exactly in the input's precision (float32 arithmetic cast up would give 0.3333333432674408)
    assert out.reward[0].item() == torch.tensor(1 / 3, dtype=dtype).item()
    assert response_rewards(s.to(dtype), s != 0, kind="csr").dtype == dtype
    assert response_rewards(s, s != 0, kind="csr", dtype=dtype).dtype == dtype
    wts = torch.tensor([[1.0, 2.0, 3.0]] * 3, dtype=dtype)
    assert response_rewards(s, s != 0, wts, "weighted").dtype == dtype
