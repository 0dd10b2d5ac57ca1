"""RTT-GRPO advantages: response-level GRPO advantage plus a token-level rubric term (pure torch).

Shapes: ``B`` responses (all groups of a batch side by side), ``R`` rubric slots (ragged counts padded, see
``rubric_mask``), ``T`` response tokens (padded, see ``response_mask``). Groups are given by ``group_ids``
(any integers; responses of one prompt share an id) and every statistic is computed with segment ops over
them, so there is no Python loop over groups or rubrics.

Formulas (``docs: shared/design/rtt-algorithm.md``):

* reward ``r[g]``: ``aon`` = 1 if every rubric passed else 0; ``csr`` = fraction of rubrics passed;
  ``weighted`` = ``sum_k |w_k| pass_k / sum_k |w_k|``; ``healthbench`` (HealthBench's score) =
  ``clip((sum_{w_k>0} w_k pass_k + sum_{w_k<0} w_k (1 - pass_k)) / sum_{w_k>0} w_k, 0, 1)``: achieved points
  (a pitfall's negative points count when its criterion is met, i.e. not passed) over total positive points;
  0 when an item has no positive points.
* ``A_resp[g] = (r[g] - mean_group r) / (std_group r + eps)``, std unbiased (Bessel), ``eps = 1e-6``;
  ``scale_rewards`` = ``group`` (that), ``batch`` (one unbiased std over the whole batch) or ``none``.
* token reward ``x[g,k,t] = s[g,k] * w[g,k,t]``.
* ``intra`` (the paper): per (response, rubric) mean and *population* std over the response's masked tokens,
  ``z = m (x - mu) / (sigma + eps)``, a constant row gives exactly 0; ``A_tok[g,t] = mean_k z[g,k,t]``.
* ``inter`` (baseline): the same, with per (group, rubric) statistics pooled over all masked tokens of the
  group's responses.
* joint: ``add`` = ``alpha A_resp + beta A_tok``; ``mix`` = ``(1 - beta) A_resp + beta A_tok``.

Verdict sign convention: ``s[g,k] = +1`` means the rubric is *passed* (good for the response). For a
pitfall rubric (negative weight) the caller flips the raw "criterion present" verdict before calling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from torch import Tensor

RewardKind = Literal["aon", "csr", "weighted", "healthbench"]
WEIGHTED_KINDS = ("weighted", "healthbench")  # rewards that read rubric weights (and weight the token term by |w|)
TokenNorm = Literal["intra", "inter", "none"]
Combine = Literal["add", "mix"]
ScaleRewards = Literal["group", "batch", "none"]
#: ``reduce(tensor, op)`` with ``op`` in ``{"sum", "max"}``: sums (or maxes) per-group statistics across
#: processes. The identity on one process; an all-gather + sum / max under accelerate (the trainer).
GroupReduce = Callable[[Tensor, str], Tensor]


class RTTAdvantages(NamedTuple):
    reward: Tensor  # (B,) response reward
    resp_adv: Tensor  # (B,) GRPO response advantage
    tok_adv: Tensor  # (B, T) token advantage (0 on padding)
    adv: Tensor  # (B, T) joint advantage fed to the policy loss


# ----------------------------------------------------------------------------------------------- helpers


def group_index(group_ids: Tensor, num_groups: int | None = None) -> tuple[Tensor, int]:
    """Dense group index in ``[0, n)`` for arbitrary ids; with ``num_groups`` the ids are used as they are."""
    group_ids = group_ids.long()
    if num_groups is not None:
        if group_ids.numel() and (int(group_ids.min()) < 0 or int(group_ids.max()) >= num_groups):
            raise ValueError(f"group_ids must lie in [0, {num_groups}) when num_groups is given")
        return group_ids, num_groups
    uniq, inv = torch.unique(group_ids, return_inverse=True)
    return inv, int(uniq.numel())


def _segment_sum(values: Tensor, index: Tensor, n: int) -> Tensor:
    """Sum rows of ``values`` (first dim) into ``n`` segments."""
    out = values.new_zeros((n, *values.shape[1:]))
    return out.index_add_(0, index, values)


def _segment_amax(values: Tensor, index: Tensor, n: int) -> Tensor:
    out = values.new_full((n, *values.shape[1:]), float("-inf"))
    idx = index.view(-1, *([1] * (values.dim() - 1))).expand_as(values)
    return out.scatter_reduce_(0, idx, values, reduce="amax", include_self=True)


def _identity_reduce(t: Tensor, op: str) -> Tensor:
    return t


def passed(verdicts: Tensor, rubric_mask: Tensor) -> Tensor:
    """``(B, R)`` bool: rubric slot used and passed."""
    return (verdicts > 0) & rubric_mask


def response_rewards(
    verdicts: Tensor, rubric_mask: Tensor, rubric_weights: Tensor | None = None, kind: RewardKind = "aon"
) -> Tensor:
    """Response reward ``(B,)`` from verdicts ``(B, R)``; rows with no rubric get 1 (``aon``) or 0."""
    ok = passed(verdicts, rubric_mask)
    dtype = rubric_weights.dtype if rubric_weights is not None else torch.get_default_dtype()
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    if kind == "aon":
        return (ok | ~rubric_mask).all(dim=-1).to(dtype)
    if kind == "csr":
        n = rubric_mask.sum(-1).to(dtype)
        return ok.sum(-1).to(dtype) / n.clamp(min=1)
    if kind == "weighted":
        if rubric_weights is None:
            raise ValueError("reward='weighted' needs rubric_weights")
        wa = rubric_weights.abs().to(dtype) * rubric_mask
        return (wa * ok).sum(-1) / wa.sum(-1).clamp(min=torch.finfo(dtype).tiny)
    if kind == "healthbench":
        if rubric_weights is None:
            raise ValueError("reward='healthbench' needs rubric_weights")
        w = rubric_weights.to(dtype) * rubric_mask
        pos = w.clamp(min=0)
        achieved = (pos * ok).sum(-1) + (w.clamp(max=0) * (~ok & rubric_mask)).sum(-1)
        total = pos.sum(-1)
        score = achieved / total.clamp(min=torch.finfo(dtype).tiny)
        return torch.where(total > 0, score.clamp(0.0, 1.0), torch.zeros_like(score))
    raise ValueError(f"unknown reward kind {kind!r}; expected 'aon', 'csr', 'weighted' or 'healthbench'")


def group_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    *,
    scale_rewards: ScaleRewards = "group",
    eps: float = 1e-6,
    num_groups: int | None = None,
) -> Tensor:
    """GRPO advantage ``(r - mean_group r) / (std + eps)`` with the *unbiased* std; NaN rewards are left out of
    the statistics and get advantage 0. A group of one (or of equal rewards) gets 0."""
    idx, n = group_index(group_ids, num_groups)
    valid = ~torch.isnan(rewards)
    r = torch.where(valid, rewards, torch.zeros_like(rewards))
    cnt = _segment_sum(valid.to(r.dtype), idx, n)
    mean = _segment_sum(r, idx, n) / cnt.clamp(min=1)
    centred = torch.where(valid, r - mean[idx], torch.zeros_like(r))
    if scale_rewards == "group":
        var = _segment_sum(centred**2, idx, n) / (cnt - 1).clamp(min=1)
        std = var.sqrt()[idx]
    elif scale_rewards == "batch":
        rv = r[valid]
        std = (rv.std(unbiased=True) if rv.numel() > 1 else r.new_zeros(())).expand_as(r)
    elif scale_rewards == "none":
        return centred
    else:
        raise ValueError(f"unknown scale_rewards {scale_rewards!r}; expected 'group', 'batch' or 'none'")
    return centred / (std + eps)


def token_rewards(verdicts: Tensor, relevance: Tensor, rubric_mask: Tensor) -> Tensor:
    """``x[g,k,t] = s[g,k] * w[g,k,t]`` (0 on unused rubric slots)."""
    s = torch.where(rubric_mask, verdicts.to(relevance.dtype), torch.zeros((), dtype=relevance.dtype))
    return s.unsqueeze(-1) * relevance


def _rubric_mean(z: Tensor, coef: Tensor) -> Tensor:
    """Weighted mean over the rubric axis: ``sum_k c_k z[:,k,:] / sum_k c_k`` (0 where no rubric)."""
    num = (z * coef.unsqueeze(-1)).sum(1)
    return num / coef.sum(-1, keepdim=True).clamp(min=torch.finfo(z.dtype).tiny)


def intra_token_advantages(x: Tensor, response_mask: Tensor, rubric_mask: Tensor, coef: Tensor, eps: float = 1e-6) -> Tensor:
    """Intra-sample token group normalisation (the paper): statistics per (response, rubric) row.

    The row is first shifted by its value at the response's first token (shift-invariant statistics): a
    constant row then becomes exactly 0 and gets exactly 0, not rounding noise divided by ``eps``. About eight
    passes over the ``(B, R, T)`` tensor, in place; ``x`` is overwritten. ``rubric_mask`` is honoured through
    ``coef`` (0 on unused slots)."""
    mt = response_mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
    first = response_mask.to(torch.int8).argmax(-1).view(-1, 1, 1).expand(-1, x.shape[1], 1)
    d = x.sub_(x.gather(-1, first)).mul_(mt)  # shifted, masked
    n = mt.sum(-1, keepdim=True).clamp_(min=1)
    d.sub_(d.sum(-1, keepdim=True).div_(n)).mul_(mt)  # centred, masked
    sigma = torch.linalg.vector_norm(d, dim=-1, keepdim=True).div_(n.sqrt())  # population std
    z = d.div_(sigma.add_(eps))
    coef = coef * rubric_mask.to(x.dtype)
    tok = torch.einsum("brt,br->bt", z, coef) / coef.sum(-1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)
    return tok * response_mask.to(x.dtype)


def inter_token_advantages(
    x: Tensor,
    response_mask: Tensor,
    rubric_mask: Tensor,
    coef: Tensor,
    group_ids: Tensor,
    eps: float = 1e-6,
    *,
    num_groups: int | None = None,
    group_reduce: GroupReduce | None = None,
) -> Tensor:
    """Inter-sample token group normalisation (baseline): per (group, rubric) statistics pooled over all
    masked tokens of the group's responses. ``group_reduce`` makes the statistics global across processes
    (then pass global ``group_ids`` with a fixed ``num_groups`` and an equal rubric width on every process)."""
    reduce = group_reduce or _identity_reduce
    idx, ng = group_index(group_ids, num_groups)
    m = response_mask.unsqueeze(1) & rubric_mask.unsqueeze(-1)
    mf = m.to(x.dtype)
    cnt = reduce(_segment_sum(mf.sum(-1), idx, ng), "sum")  # (G, R)
    tot = reduce(_segment_sum((x * mf).sum(-1), idx, ng), "sum")
    mu = (tot / cnt.clamp(min=1))[idx].unsqueeze(-1)  # (B, R, 1)
    d = (x - mu) * mf
    var = reduce(_segment_sum((d**2).sum(-1), idx, ng), "sum") / cnt.clamp(min=1)
    sigma = var.sqrt()[idx].unsqueeze(-1)
    hi = reduce(_segment_amax(x.masked_fill(~m, float("-inf")).amax(-1), idx, ng), "max")
    nlo = reduce(_segment_amax((-x).masked_fill(~m, float("-inf")).amax(-1), idx, ng), "max")
    const = (hi <= -nlo)[idx].unsqueeze(-1)
    z = torch.where(const, torch.zeros_like(d), d / (sigma + eps))
    return _rubric_mean(z, coef) * response_mask.to(x.dtype)


def public_reshape_token_advantages(
    x: Tensor, response_mask: Tensor, group_size: int, token_norm: TokenNorm = "intra", eps: float = 1e-6
) -> Tensor:
    """The authors' public code, defect included (compatibility only; do not train with it).

    Per group it turns the ``(G, R, T)`` reward tensor into ``(R, G, T)`` with ``reshape`` instead of
    ``transpose``; row ``(k, g)`` of the result is then the original row of flat index ``k*G + g``, i.e.
    another response's (and another rubric's) row whenever ``R > 1``. The mask of response ``g`` is applied
    to it and the rubric mean lands on response ``g``. With ``R == 1`` it equals the correct computation.
    Needs contiguous groups of exactly ``group_size`` responses and no rubric padding.
    """
    b, r, t = x.shape
    if b % group_size:
        raise ValueError(f"batch {b} is not a multiple of group_size {group_size}")
    ng = b // group_size
    xr = x.reshape(ng, group_size, r, t).reshape(ng, r, group_size, t)  # the defect: reshape, not transpose
    m = response_mask.reshape(ng, 1, group_size, t).expand(ng, r, group_size, t)
    mf = m.to(x.dtype)
    if token_norm == "intra":
        n = mf.sum(-1, keepdim=True)
        mu = (xr * mf).sum(-1, keepdim=True) / n.clamp(min=1)
        d = (xr - mu) * mf
        sigma = ((d**2).sum(-1, keepdim=True) / n.clamp(min=1)).sqrt()
        hi = xr.masked_fill(~m, float("-inf")).amax(-1, keepdim=True)
        lo = xr.masked_fill(~m, float("inf")).amin(-1, keepdim=True)
    elif token_norm == "inter":
        n = mf.sum((-1, -2), keepdim=True)
        mu = (xr * mf).sum((-1, -2), keepdim=True) / n.clamp(min=1)
        d = (xr - mu) * mf
        sigma = ((d**2).sum((-1, -2), keepdim=True) / n.clamp(min=1)).sqrt()
        hi = xr.masked_fill(~m, float("-inf")).amax((-1, -2), keepdim=True)
        lo = xr.masked_fill(~m, float("inf")).amin((-1, -2), keepdim=True)
    else:
        return torch.zeros_like(x[:, 0])
    z = torch.where(hi <= lo, torch.zeros_like(d), d / (sigma + eps))
    return z.mean(1).reshape(b, t) * response_mask.to(x.dtype)


def combine_advantages(resp_adv: Tensor, tok_adv: Tensor, *, alpha: float, beta: float, combine: Combine) -> Tensor:
    """``add``: ``alpha A_resp + beta A_tok``; ``mix``: ``(1 - beta) A_resp + beta A_tok``."""
    if combine == "add":
        a = alpha
    elif combine == "mix":
        a = 1.0 - beta
    else:
        raise ValueError(f"unknown combine {combine!r}; expected 'add' or 'mix'")
    return a * resp_adv.unsqueeze(-1) + beta * tok_adv


# ----------------------------------------------------------------------------------------------- entry point


def rtt_advantages(
    verdicts: Tensor,
    relevance: Tensor,
    response_mask: Tensor,
    group_ids: Tensor,
    *,
    rubric_mask: Tensor | None = None,
    rubric_weights: Tensor | None = None,
    rewards: Tensor | None = None,
    reward: RewardKind = "aon",
    alpha: float = 1.0,
    beta: float = 0.5,
    token_norm: TokenNorm = "intra",
    combine: Combine = "add",
    scale_rewards: ScaleRewards = "group",
    eps: float = 1e-6,
    num_groups: int | None = None,
    group_reduce: GroupReduce | None = None,
    compat_public_reshape: bool = False,
) -> RTTAdvantages:
    """The RTT-GRPO joint advantage for a batch of groups.

    Args:
        verdicts: ``(B, R)`` ±1 per rubric (+1 passed), 0 on padded slots.
        relevance: ``(B, R, T)`` discriminator probabilities ``w`` in [0, 1].
        response_mask: ``(B, T)`` 1 on generated tokens.
        group_ids: ``(B,)`` prompt group of each response.
        rubric_mask: ``(B, R)`` used rubric slots (default: ``verdicts != 0``).
        rubric_weights: ``(B, R)`` rubric weights (``weighted`` / ``healthbench`` reward; with them the token
            term's rubric mean is weighted by ``|w_k|`` too).
        rewards: ``(B,)`` response rewards computed elsewhere (e.g. TRL reward functions); overrides ``reward``.
        alpha, beta, combine: the joint advantage (``beta = 0`` is plain GRPO).
        token_norm: ``intra`` (paper), ``inter`` (baseline) or ``none``.
        scale_rewards: ``group`` / ``batch`` / ``none`` as in TRL.
        eps: added to every std.
        num_groups, group_reduce: for statistics spanning processes (see :func:`inter_token_advantages`).
        compat_public_reshape: reproduce the public code's reshape defect (contiguous equal-size groups).
    """
    if relevance.dim() != 3 or verdicts.shape != relevance.shape[:2] or response_mask.shape != (
        relevance.shape[0],
        relevance.shape[2],
    ):
        raise ValueError(
            f"shape mismatch: verdicts {tuple(verdicts.shape)}, relevance {tuple(relevance.shape)}, "
            f"response_mask {tuple(response_mask.shape)}; expected (B,R), (B,R,T), (B,T)"
        )
    if not relevance.dtype.is_floating_point:
        relevance = relevance.to(torch.get_default_dtype())
    dtype = relevance.dtype
    response_mask = response_mask.bool()
    rubric_mask = (verdicts != 0) if rubric_mask is None else rubric_mask.bool()
    if rubric_weights is not None:
        rubric_weights = rubric_weights.to(dtype)
    if rewards is None:
        rewards = response_rewards(verdicts, rubric_mask, rubric_weights, reward)
    rewards = rewards.to(dtype)
    resp_adv = group_advantages(rewards, group_ids, scale_rewards=scale_rewards, eps=eps, num_groups=num_groups)

    coef = rubric_mask.to(dtype)
    if reward in WEIGHTED_KINDS and rubric_weights is not None:
        coef = coef * rubric_weights.abs()
    if token_norm == "none" or beta == 0.0:
        tok_adv = torch.zeros_like(relevance[:, 0])
    else:
        x = token_rewards(verdicts, relevance, rubric_mask)
        if compat_public_reshape:
            sizes = torch.unique_consecutive(group_ids, return_counts=True)[1]
            if sizes.numel() and not bool((sizes == sizes[0]).all()):
                raise ValueError("compat_public_reshape needs contiguous groups of equal size")
            gsize = int(sizes[0]) if sizes.numel() else 1
            tok_adv = public_reshape_token_advantages(x, response_mask, gsize, token_norm, eps)
        elif token_norm == "intra":
            tok_adv = intra_token_advantages(x, response_mask, rubric_mask, coef, eps)
        elif token_norm == "inter":
            tok_adv = inter_token_advantages(
                x, response_mask, rubric_mask, coef, group_ids, eps, num_groups=num_groups, group_reduce=group_reduce
            )
        else:
            raise ValueError(f"unknown token_norm {token_norm!r}; expected 'intra', 'inter' or 'none'")
    adv = combine_advantages(resp_adv, tok_adv, alpha=alpha, beta=beta, combine=combine)
    return RTTAdvantages(rewards, resp_adv, tok_adv, adv)
