"""Relevance sources of the learning experiment's arms (the trainer that swaps them in is
:class:`grpo.experiment.runner.ArmTrainer`).

* ``discriminator`` - the trained relevance discriminator (what :class:`~grpo.rtt_grpo_trainer.RTTGRPOTrainer` does);
* ``oracle``  - exact character spans from the rule checkers' own logic, projected onto the policy's tokens like
  the discriminator's scores; the upper bound a perfect discriminator gives. The spans and their credit
  semantics per rule kind (which tokens carry a passed / failed verdict, and so with which sign) are
  :func:`discriminator.rule_spans.rule_chars` and the table in :mod:`discriminator.rule_spans`; rules without
  an exact span use the programmatic minimal edit's characters when passed and nothing when failed;
* ``shuffled`` - the discriminator's map of each (response, rubric) permuted across that response's tokens:
  same multiset of values, no positional information (the control);
* ``oracle-shuffled`` - the oracle map permuted the same way (the control of the oracle arms);
* ``cort`` - CoRT-style counterfactual log-prob gain under the frozen initial policy (no discriminator).
"""

from __future__ import annotations

import torch

from discriminator.rule_spans import chars_onto_policy_tokens, rule_chars

__all__ = ["chars_onto_policy_tokens", "rule_chars", "shuffle_relevance"]


def shuffle_relevance(rel: torch.Tensor, response_mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Permute each ``(b, k)`` row of ``rel`` ``(B, R, T)`` across the valid tokens of response ``b``
    (``response_mask`` ``(B, T)``): each row keeps its multiset of values; padding stays as it was."""
    out = rel.clone()
    lengths = response_mask.sum(-1).tolist()
    for b, n in enumerate(lengths):
        n = int(n)
        if n < 2:
            continue
        idx = response_mask[b].nonzero().flatten()
        for k in range(rel.shape[1]):
            perm = torch.randperm(n, generator=generator).to(idx.device)
            out[b, k, idx] = rel[b, k, idx[perm]]
    return out
