"""RTT-GRPO advantages: response-level GRPO advantage plus a token-level rubric term (pure torch).

Shapes: ``B`` responses (all groups of a batch side by side), ``R`` rubric slots (ragged counts padded, see
``rubric_mask``), ``T`` response tokens (padded, see ``response_mask``). Groups are given by ``group_ids``
(any integers; responses of one prompt share an id) and every statistic is computed with segment ops over
them, so there is no Python loop over groups or rubrics.

Formulas (docs/method.md states each one and names its function here):

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

Token credit (``token_credit``; every variant is 0 where ``beta = 0``, so ``beta = 0`` is plain GRPO):

* ``paper`` - the two normalisations above on ``x = s w``. ``s`` is *not* centred across the group, and a
  z-scored sparse row gives its ``m`` relevant tokens of ``T`` about ``sqrt((T - m) / m)`` (6.9 for one token
  in 48): a rubric every response of the group passes still pushes its tokens, at a size above any response
  advantage. Kept as the faithful reproduction.
* ``centred`` - contrastive and bounded: ``c[g,k] = s[g,k] - mean_{g' in group} s[g',k]`` (optionally divided
  by the unbiased group std, ``centred_scale = "std"``, as GDPO scales each reward), then
  ``A_tok[g,t] = sum_k a_k c[g,k] w[g,k,t] / sum_k a_k`` with the relevance ``w`` in [0, 1] used as it is (no
  z-scoring). A rubric that all responses of a group pass or all fail gives exactly 0; ``|A_tok| <= max |c|``
  (2 (G-1)/G unscaled), so the token term cannot outgrow the response term.
* ``blame`` - the failing side of ``centred`` alone: ``A_tok[g,t] = sum_k a_k min(c[g,k], 0) w[g,k,t] / sum_k a_k``.
  A failed rubric's relevant tokens are pushed down in proportion to how much of the group passed it
  (``-2 x`` the group's pass fraction, unscaled); a passed rubric's tokens get no push up. So the term is never
  positive: it cannot make the policy emit a rubric's tokens *more* often (a keyword, the words that satisfy a
  length rule), the push that turns into repetition. Measured on the testbed it does not beat GRPO (ties at beta
  1, loses at beta 4): the push up is needed. A rubric all responses pass or all fail gives 0;
  ``-max |c| <= A_tok <= 0``.
* ``group_softmax`` - the RTT authors' second mode: the rubric advantage ``c[g,k] = (s - mean_group s) /
  (std_group s + eps)`` (unbiased std) spread over tokens with importances ``q[g,k,t] = softmax_k w[g,k,t]``
  (over the used rubric slots): ``A_tok[g,t] = sum_k q[g,k,t] c[g,k]``. With one rubric ``q = 1`` and the
  term is that rubric's group advantage on every token.
* ``weights`` - the CoRT form, multiplicative: ``A[g,t] = A_resp[g] (alpha + beta (omega[g,t] - 1))`` with
  ``omega >= 0`` of mean 1 over the response. ``omega`` comes from ``rbar[g,t]``, the relevance averaged over
  the rubrics whose verdict agrees with the sign of ``A_resp[g]`` (passed rubrics when the response is above its
  group, failed ones when below): ``u = min(rbar / mean_t rbar, cap)``, ``omega = u + 1 - mean_t u``, so
  ``0 <= omega <= cap + 1``. An equal group (``A_resp = 0``) gives no credit; a response without relevant
  tokens gets ``omega = 1``. Reported ``A_tok = A_resp (omega - 1)``; only ``combine = "add"``.

Response advantage ``gdpo`` (:func:`gdpo_advantages`, a response-level baseline with no token term): each
rubric's verdicts z-scored within the group, summed over rubrics (weights ``a_k``), then z-scored over the batch
- GDPO's "normalise, then sum" applied to rubrics.

Masking: every mask is applied with ``torch.where`` / ``masked_fill`` (never by multiplying with 0/1), so NaN or
inf in a masked position (a padded token, an unused rubric slot, an unscorable response) cannot leak into the
statistics or the output. Float outputs follow the dtype of the inputs (float64 in, float64 out).

Verdict sign convention: ``s[g,k] = +1`` means the rubric is *passed* (good for the response). For a
pitfall rubric (negative weight) the caller flips the raw "criterion present" verdict before calling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from grpo.renamed import refuse_renamed_response_advantage

RewardKind = Literal["aon", "csr", "weighted", "healthbench"]
WEIGHTED_KINDS = ("weighted", "healthbench")  # rewards that read rubric weights (and weight the token term by |w|)
TokenNorm = Literal["intra", "inter", "none"]
Combine = Literal["add", "mix"]
TokenCredit = Literal["paper", "centred", "blame", "group_softmax", "weights"]
CentredScale = Literal["none", "std"]
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


def _float_dtype(*tensors: Tensor | None, dtype: torch.dtype | None = None) -> torch.dtype:
    """``dtype`` if given, else the first floating dtype among ``tensors``, else the default dtype."""
    if dtype is not None:
        return dtype
    for t in tensors:
        if t is not None and t.dtype.is_floating_point:
            return t.dtype
    return torch.get_default_dtype()


def response_rewards(
    verdicts: Tensor,
    rubric_mask: Tensor,
    rubric_weights: Tensor | None = None,
    kind: RewardKind = "aon",
    *,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Response reward ``(B,)`` from verdicts ``(B, R)``; rows with no rubric get 1 (``aon``) or 0.

    The dtype is ``dtype`` if given, else that of ``rubric_weights`` or ``verdicts`` when floating, else the
    default dtype. Weights on unused slots are never read (NaN there is harmless)."""
    ok = passed(verdicts, rubric_mask)
    dtype = _float_dtype(rubric_weights, verdicts, dtype=dtype)
    if kind == "aon":
        return (ok | ~rubric_mask).all(dim=-1).to(dtype)
    if kind == "csr":
        n = rubric_mask.sum(-1).to(dtype)
        return ok.sum(-1).to(dtype) / n.clamp(min=1)
    if kind == "weighted":
        if rubric_weights is None:
            raise ValueError("reward='weighted' needs rubric_weights")
        zero = torch.zeros((), dtype=dtype, device=rubric_weights.device)
        wa = torch.where(rubric_mask, rubric_weights.to(dtype).abs(), zero)
        return torch.where(ok, wa, zero).sum(-1) / wa.sum(-1).clamp(min=torch.finfo(dtype).tiny)
    if kind == "healthbench":
        if rubric_weights is None:
            raise ValueError("reward='healthbench' needs rubric_weights")
        zero = torch.zeros((), dtype=dtype, device=rubric_weights.device)
        w = torch.where(rubric_mask, rubric_weights.to(dtype), zero)
        pos = w.clamp(min=0)
        achieved = torch.where(ok, pos, zero).sum(-1) + torch.where(~ok & rubric_mask, w.clamp(max=0), zero).sum(-1)
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


def token_rewards(
    verdicts: Tensor, relevance: Tensor, rubric_mask: Tensor, response_mask: Tensor | None = None
) -> Tensor:
    """``x[g,k,t] = s[g,k] * w[g,k,t]``; exactly 0 on unused rubric slots (and on masked tokens when
    ``response_mask`` is given), whatever ``relevance`` holds there (NaN / inf included)."""
    keep = rubric_mask.bool().unsqueeze(-1)
    if response_mask is not None:
        keep = keep & response_mask.bool().unsqueeze(1)
    s = verdicts.to(relevance.dtype).unsqueeze(-1)
    return torch.where(keep, s * relevance, torch.zeros((), dtype=relevance.dtype, device=relevance.device))


def rubric_coefficients(rubric_mask: Tensor, rubric_weights: Tensor | None, dtype: torch.dtype) -> Tensor:
    """``(B, R)`` weights of the token term's rubric mean: 1 per used slot, ``|w_k|`` with ``rubric_weights``;
    exactly 0 on unused slots (whatever the weights hold there)."""
    one = torch.ones((), dtype=dtype, device=rubric_mask.device)
    val = one if rubric_weights is None else rubric_weights.to(dtype).abs()
    return torch.where(rubric_mask.bool(), val, torch.zeros((), dtype=dtype, device=rubric_mask.device))


def _rubric_mean(z: Tensor, coef: Tensor) -> Tensor:
    """Weighted mean over the rubric axis: ``sum_k c_k z[:,k,:] / sum_k c_k`` (0 where no rubric; slots with
    ``c_k = 0`` are never read, so NaN there is harmless)."""
    used = (coef != 0).unsqueeze(-1)
    num = torch.where(used, z * coef.unsqueeze(-1), torch.zeros((), dtype=z.dtype, device=z.device)).sum(1)
    return num / coef.sum(-1, keepdim=True).clamp(min=torch.finfo(z.dtype).tiny)


def _masked(t: Tensor, keep: Tensor) -> Tensor:
    """``t`` where ``keep``, exactly 0 elsewhere (a where, not a product: NaN / inf outside ``keep`` vanish)."""
    return torch.where(keep, t, torch.zeros((), dtype=t.dtype, device=t.device))


def intra_token_advantages(
    x: Tensor, response_mask: Tensor, rubric_mask: Tensor, coef: Tensor, eps: float = 1e-6
) -> Tensor:
    """Intra-sample token group normalisation (the paper): statistics per (response, rubric) row.

    The row is first shifted by its value at the response's first token (shift-invariant statistics): a
    constant row then becomes exactly 0 and gets exactly 0, not rounding noise divided by ``eps``. About eight
    passes over the ``(B, R, T)`` tensor, in place; ``x`` is overwritten. Masked tokens and unused rubric
    slots are filled with 0 first (``masked_fill``), so whatever they held (NaN, inf) never reaches a
    statistic; unused slots also get coefficient 0."""
    response_mask = response_mask.bool()
    rubric_mask = rubric_mask.bool()
    drop = ~(response_mask.unsqueeze(1) & rubric_mask.unsqueeze(-1))  # (B, R, T)
    x.masked_fill_(drop, 0)
    n = response_mask.sum(-1).to(x.dtype).view(-1, 1, 1).clamp_(min=1)
    first = response_mask.to(torch.int8).argmax(-1).view(-1, 1, 1).expand(-1, x.shape[1], 1)
    d = x.sub_(x.gather(-1, first)).masked_fill_(drop, 0)  # shifted, masked
    d.sub_(d.sum(-1, keepdim=True).div_(n)).masked_fill_(drop, 0)  # centred, masked
    sigma = torch.linalg.vector_norm(d, dim=-1, keepdim=True).div_(n.sqrt())  # population std
    z = d.div_(sigma.add_(eps))
    coef = torch.where(rubric_mask, coef.to(x.dtype), torch.zeros((), dtype=x.dtype, device=x.device))
    tok = torch.einsum("brt,br->bt", z, coef) / coef.sum(-1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)
    return _masked(tok, response_mask)


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
    response_mask = response_mask.bool()
    rubric_mask = rubric_mask.bool()
    m = response_mask.unsqueeze(1) & rubric_mask.unsqueeze(-1)
    x = _masked(x, m)  # NaN / inf on masked positions never reach a statistic
    cnt = reduce(_segment_sum(m.to(x.dtype).sum(-1), idx, ng), "sum")  # (G, R)
    tot = reduce(_segment_sum(x.sum(-1), idx, ng), "sum")
    mu = (tot / cnt.clamp(min=1))[idx].unsqueeze(-1)  # (B, R, 1)
    d = _masked(x - mu, m)
    var = reduce(_segment_sum((d**2).sum(-1), idx, ng), "sum") / cnt.clamp(min=1)
    sigma = var.sqrt()[idx].unsqueeze(-1)
    hi = reduce(_segment_amax(x.masked_fill(~m, float("-inf")).amax(-1), idx, ng), "max")
    nlo = reduce(_segment_amax((-x).masked_fill(~m, float("-inf")).amax(-1), idx, ng), "max")
    const = (hi <= -nlo)[idx].unsqueeze(-1)
    z = torch.where(const, torch.zeros_like(d), d / (sigma + eps))
    coef = torch.where(rubric_mask, coef.to(x.dtype), torch.zeros((), dtype=x.dtype, device=x.device))
    return _masked(_rubric_mean(z, coef), response_mask)


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
    m = response_mask.bool().reshape(ng, 1, group_size, t).expand(ng, r, group_size, t)
    mf = m.to(x.dtype)
    xr = _masked(xr, m)
    if token_norm == "intra":
        n = mf.sum(-1, keepdim=True)
        mu = xr.sum(-1, keepdim=True) / n.clamp(min=1)
        d = _masked(xr - mu, m)
        sigma = ((d**2).sum(-1, keepdim=True) / n.clamp(min=1)).sqrt()
        hi = xr.masked_fill(~m, float("-inf")).amax(-1, keepdim=True)
        lo = xr.masked_fill(~m, float("inf")).amin(-1, keepdim=True)
    elif token_norm == "inter":
        n = mf.sum((-1, -2), keepdim=True)
        mu = xr.sum((-1, -2), keepdim=True) / n.clamp(min=1)
        d = _masked(xr - mu, m)
        sigma = ((d**2).sum((-1, -2), keepdim=True) / n.clamp(min=1)).sqrt()
        hi = xr.masked_fill(~m, float("-inf")).amax((-1, -2), keepdim=True)
        lo = xr.masked_fill(~m, float("inf")).amin((-1, -2), keepdim=True)
    else:
        return torch.zeros_like(x[:, 0])
    z = torch.where(hi <= lo, torch.zeros_like(d), d / (sigma + eps))
    return _masked(z.mean(1).reshape(b, t), response_mask.bool())


def rubric_group_advantages(
    verdicts: Tensor,
    rubric_mask: Tensor,
    group_ids: Tensor,
    *,
    scale: CentredScale = "none",
    eps: float = 1e-6,
    num_groups: int | None = None,
    group_reduce: GroupReduce | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """``(B, R)`` verdicts centred within their group, per rubric slot: ``c = s - mean_group s`` over the
    group's responses that use slot ``k`` (``s = +-1``); ``scale = "std"`` divides by the unbiased group std
    ``+ eps``. A slot that every response of the group passes (or fails) gets exactly 0; unused slots 0.
    ``group_reduce`` makes the group statistics global across processes (as in :func:`inter_token_advantages`)."""
    reduce = group_reduce or _identity_reduce
    dtype = _float_dtype(verdicts, dtype=dtype)
    idx, ng = group_index(group_ids, num_groups)
    use = rubric_mask.bool()
    zero = torch.zeros((), dtype=dtype, device=verdicts.device)
    s = torch.where(use, verdicts.to(dtype).sign(), zero)
    cnt = reduce(_segment_sum(use.to(dtype), idx, ng), "sum")  # (G, R)
    mean = reduce(_segment_sum(s, idx, ng), "sum") / cnt.clamp(min=1)
    c = torch.where(use, s - mean[idx], zero)  # sums of +-1 are exact: an all-equal group gives exactly 0
    if scale == "none":
        return c
    if scale != "std":
        raise ValueError(f"unknown centred_scale {scale!r}; expected 'none' or 'std'")
    var = reduce(_segment_sum(c**2, idx, ng), "sum") / (cnt - 1).clamp(min=1)
    return torch.where(use, c / (var.sqrt()[idx] + eps), zero)


def centred_token_advantages(c: Tensor, relevance: Tensor, response_mask: Tensor, coef: Tensor) -> Tensor:
    """``A_tok[g,t] = sum_k a_k c[g,k] w[g,k,t] / sum_k a_k`` (``c`` from :func:`rubric_group_advantages`,
    ``(B, R)``; ``relevance`` ``(B, R, T)`` in [0, 1], used as it is; ``coef`` ``(B, R)``, 0 on unused slots).
    ``|A_tok| <= max |c|``; masked tokens and unused slots give exactly 0 (NaN there never leaks)."""
    keep = response_mask.bool().unsqueeze(1) & (coef != 0).unsqueeze(-1)
    x = _masked(c.to(relevance.dtype).unsqueeze(-1) * relevance, keep)
    return _masked(_rubric_mean(x, coef.to(relevance.dtype)), response_mask.bool())


def group_softmax_token_advantages(c: Tensor, relevance: Tensor, response_mask: Tensor, rubric_mask: Tensor) -> Tensor:
    """The authors' ``group_adv-token_softmax-rubrics-sum`` mode: ``A_tok[g,t] = sum_k softmax_k(w[g,:,t])[k]
    c[g,k]`` with ``c`` the std-scaled group advantage of each rubric (``(B, R)``) and the softmax over the used
    rubric slots only. ``(B, T)``, exactly 0 on masked tokens and for rows without a rubric."""
    use = rubric_mask.bool().unsqueeze(-1).expand_as(relevance)
    logits = torch.where(
        use, torch.nan_to_num(relevance, nan=0.0, posinf=0.0, neginf=0.0), relevance.new_full((), float("-inf"))
    )
    q = torch.softmax(logits, dim=1)
    q = _masked(torch.nan_to_num(q, nan=0.0), use)  # a row without any used slot: softmax of all -inf
    tok = (q * c.to(relevance.dtype).unsqueeze(-1)).sum(1)
    return _masked(tok, response_mask.bool())


def credit_weights(
    verdicts: Tensor,
    relevance: Tensor,
    response_mask: Tensor,
    rubric_mask: Tensor,
    coef: Tensor,
    resp_adv: Tensor,
    *,
    cap: float = 4.0,
) -> Tensor:
    """``(B, T)`` CoRT-style token weights ``omega >= 0``, mean exactly 1 over each response's tokens (0 on
    padding). ``rbar`` = relevance averaged (weights ``coef``) over the rubrics whose verdict agrees with the sign
    of ``resp_adv`` (``(B,)``); ``u = min(rbar / mean_t rbar, cap)``; ``omega = u + 1 - mean_t u`` (so
    ``omega <= cap + 1``). A response with no agreeing rubric, no relevant token or ``resp_adv = 0`` gets 1."""
    dtype = relevance.dtype
    m = response_mask.bool()
    zero = torch.zeros((), dtype=dtype, device=relevance.device)
    sign = torch.sign(resp_adv.to(dtype)).unsqueeze(-1)  # (B, 1)
    agree = rubric_mask.bool() & (torch.sign(verdicts.to(dtype)) == sign) & (sign != 0)
    a = torch.where(agree, coef.to(dtype), zero)
    keep = m.unsqueeze(1) & agree.unsqueeze(-1)
    rel = _masked(torch.nan_to_num(relevance, nan=0.0, posinf=0.0, neginf=0.0).clamp(0, 1), keep)
    rbar = _rubric_mean(rel, a)  # (B, T), 0 where no agreeing rubric
    n = m.sum(-1, keepdim=True).to(dtype).clamp(min=1)
    mu = _masked(rbar, m).sum(-1, keepdim=True) / n
    has = mu > 0
    u = _masked(torch.where(has, rbar / torch.where(has, mu, torch.ones_like(mu)), zero).clamp(max=cap), m)
    omega = u + 1 - u.sum(-1, keepdim=True) / n
    omega = torch.where(has, omega, torch.ones_like(omega))
    return _masked(omega, m)


def gdpo_advantages(
    verdicts: Tensor,
    rubric_mask: Tensor,
    group_ids: Tensor,
    coef: Tensor | None = None,
    *,
    eps: float = 1e-6,
    num_groups: int | None = None,
) -> Tensor:
    """``(B,)`` GDPO response advantage: per rubric the std-scaled group advantage (:func:`rubric_group_advantages`),
    summed over rubrics with ``coef`` (``(B, R)``, default 1 per used slot), then centred and divided by the
    unbiased std over the batch (``+ eps``); a batch of fewer than two rows gets 0. Pass the *global* batch
    (the trainer gathers the verdicts of every process first)."""
    dtype = _float_dtype(coef, verdicts)
    c = rubric_group_advantages(
        verdicts, rubric_mask, group_ids, scale="std", eps=eps, num_groups=num_groups, dtype=dtype
    )
    if coef is None:
        coef = rubric_coefficients(rubric_mask, None, dtype)
    summed = torch.where(rubric_mask.bool(), c * coef.to(dtype), torch.zeros((), dtype=dtype, device=c.device)).sum(-1)
    if summed.numel() < 2:
        return torch.zeros_like(summed)
    return (summed - summed.mean()) / (summed.std(unbiased=True) + eps)


def combine_advantages(resp_adv: Tensor, tok_adv: Tensor, *, alpha: float, beta: float, combine: Combine) -> Tensor:
    """``add``: ``alpha A_resp + beta A_tok``; ``mix``: ``(1 - beta) A_resp + beta A_tok``."""
    if combine == "add":
        a = alpha
    elif combine == "mix":
        a = 1.0 - beta
    else:
        raise ValueError(f"unknown combine {combine!r}; expected 'add' or 'mix'")
    return a * resp_adv.unsqueeze(-1) + beta * tok_adv


def token_advantages(
    token_credit: TokenCredit,
    verdicts: Tensor,
    relevance: Tensor,
    response_mask: Tensor,
    rubric_mask: Tensor,
    coef: Tensor,
    group_ids: Tensor,
    resp_adv: Tensor,
    *,
    token_norm: TokenNorm = "intra",
    centred_scale: CentredScale = "none",
    weight_cap: float = 4.0,
    eps: float = 1e-6,
    num_groups: int | None = None,
    group_reduce: GroupReduce | None = None,
    compat_public_reshape: bool = False,
) -> Tensor:
    """``(B, T)`` token term of the chosen ``token_credit`` (module doc), to be combined with ``resp_adv`` by
    :func:`combine_advantages`. ``coef`` from :func:`rubric_coefficients`; ``group_ids`` / ``num_groups`` /
    ``group_reduce`` as in :func:`inter_token_advantages` (global ids when statistics span processes)."""
    response_mask = response_mask.bool()
    rubric_mask = rubric_mask.bool()
    if token_credit == "paper":
        if token_norm == "none":
            return torch.zeros_like(relevance[:, 0])
        # the compat path reads rows under another response's mask (the defect), so it gets the unmasked rows
        x = token_rewards(verdicts, relevance, rubric_mask, None if compat_public_reshape else response_mask)
        if compat_public_reshape:
            sizes = torch.unique_consecutive(group_ids, return_counts=True)[1]
            if sizes.numel() and not bool((sizes == sizes[0]).all()):
                raise ValueError("compat_public_reshape needs contiguous groups of equal size")
            gsize = int(sizes[0]) if sizes.numel() else 1
            return public_reshape_token_advantages(x, response_mask, gsize, token_norm, eps)
        if token_norm == "intra":
            return intra_token_advantages(x, response_mask, rubric_mask, coef, eps)
        if token_norm == "inter":
            return inter_token_advantages(
                x, response_mask, rubric_mask, coef, group_ids, eps, num_groups=num_groups, group_reduce=group_reduce
            )
        raise ValueError(f"unknown token_norm {token_norm!r}; expected 'intra', 'inter' or 'none'")
    if compat_public_reshape:
        raise ValueError(f"compat_public_reshape applies to token_credit 'paper' only, not {token_credit!r}")
    if token_credit in ("centred", "blame", "group_softmax"):
        scale = "std" if token_credit == "group_softmax" else centred_scale
        c = rubric_group_advantages(
            verdicts,
            rubric_mask,
            group_ids,
            scale=scale,
            eps=eps,
            num_groups=num_groups,
            group_reduce=group_reduce,
            dtype=relevance.dtype,
        )
        if token_credit == "centred":
            return centred_token_advantages(c, relevance, response_mask, coef)
        if token_credit == "blame":  # failed rubrics only (c <= 0 exactly where the verdict failed)
            return centred_token_advantages(c.clamp(max=0), relevance, response_mask, coef)
        return group_softmax_token_advantages(c, relevance, response_mask, rubric_mask)
    if token_credit == "weights":
        omega = credit_weights(verdicts, relevance, response_mask, rubric_mask, coef, resp_adv, cap=weight_cap)
        return _masked(resp_adv.to(relevance.dtype).unsqueeze(-1) * (omega - 1), response_mask)
    raise ValueError(
        f"unknown token_credit {token_credit!r}; expected 'paper', 'centred', 'blame', 'group_softmax' or 'weights'"
    )


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
    token_credit: TokenCredit = "paper",
    centred_scale: CentredScale = "none",
    weight_cap: float = 4.0,
    response_advantage: Literal["grpo", "gdpo"] = "grpo",
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
        token_norm: ``intra`` (paper), ``inter`` (baseline) or ``none`` (no token term, any credit).
        token_credit, centred_scale, weight_cap: the token term (module doc); ``weights`` needs ``combine="add"``.
        response_advantage: ``grpo`` (GRPO on ``rewards``) or ``gdpo`` (:func:`gdpo_advantages`).
        scale_rewards: ``group`` / ``batch`` / ``none`` as in TRL.
        eps: added to every std.
        num_groups, group_reduce: for statistics spanning processes (see :func:`inter_token_advantages`).
        compat_public_reshape: reproduce the public code's reshape defect (contiguous equal-size groups).
    """
    if (
        relevance.dim() != 3
        or verdicts.shape != relevance.shape[:2]
        or response_mask.shape
        != (
            relevance.shape[0],
            relevance.shape[2],
        )
    ):
        raise ValueError(
            f"shape mismatch: verdicts {tuple(verdicts.shape)}, relevance {tuple(relevance.shape)}, "
            f"response_mask {tuple(response_mask.shape)}; expected (B,R), (B,R,T), (B,T)"
        )
    if token_credit == "weights" and combine != "add":
        raise ValueError("token_credit 'weights' multiplies the response advantage: it needs combine='add'")
    if not relevance.dtype.is_floating_point:
        relevance = relevance.to(torch.get_default_dtype())
    dtype = relevance.dtype
    response_mask = response_mask.bool()
    rubric_mask = (verdicts != 0) if rubric_mask is None else rubric_mask.bool()
    if rubric_weights is not None:
        rubric_weights = rubric_weights.to(dtype)
    if rewards is None:
        rewards = response_rewards(verdicts, rubric_mask, rubric_weights, reward, dtype=dtype)
    rewards = rewards.to(dtype)
    coef = rubric_coefficients(rubric_mask, rubric_weights if reward in WEIGHTED_KINDS else None, dtype)
    if response_advantage == "gdpo":
        resp_adv = gdpo_advantages(verdicts, rubric_mask, group_ids, coef, eps=eps, num_groups=num_groups)
    elif response_advantage == "grpo":
        resp_adv = group_advantages(rewards, group_ids, scale_rewards=scale_rewards, eps=eps, num_groups=num_groups)
    else:
        refuse_renamed_response_advantage(
            response_advantage, named="response_advantage ", fix="pass response_advantage='grpo'"
        )
        raise ValueError(f"unknown response_advantage {response_advantage!r}; expected 'grpo' or 'gdpo'")

    if token_norm == "none" or beta == 0.0:
        tok_adv = torch.zeros_like(relevance[:, 0])
    else:
        tok_adv = token_advantages(
            token_credit,
            verdicts,
            relevance,
            response_mask,
            rubric_mask,
            coef,
            group_ids,
            resp_adv,
            token_norm=token_norm,
            centred_scale=centred_scale,
            weight_cap=weight_cap,
            eps=eps,
            num_groups=num_groups,
            group_reduce=group_reduce,
            compat_public_reshape=compat_public_reshape,
        )
    adv = combine_advantages(resp_adv, tok_adv, alpha=alpha, beta=beta, combine=combine)
    return RTTAdvantages(rewards, resp_adv, tok_adv, adv)
