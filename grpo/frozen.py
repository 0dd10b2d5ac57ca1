"""Frozen models the trainer loads beside the policy (the relevance discriminator): replicated, eval, no grad.

Why. Once the ``TrainingArguments`` of a DeepSpeed ZeRO-3 run exist (``accelerate launch`` with
``grpo/configs/accelerate/deepspeed_zero3.yaml``), transformers keeps a weak reference to the DeepSpeed config
(``transformers.integrations.deepspeed._hf_deepspeed_config_weak_ref``); ``is_deepspeed_zero3_enabled()`` then
answers True and every later ``from_pretrained`` builds the model inside ``deepspeed.zero.Init``: each rank
keeps an empty shard of every parameter. The policy is then wrapped in a DeepSpeed engine that gathers the
shards on each forward; a model loaded *beside* it is not, so its first forward fails. Wrapping the
discriminator in an engine too would deadlock: ranks make different numbers of (bucketed) scorer calls, and
every sharded forward is a collective.

What. :func:`zero3_init_disabled` clears that weak reference for the duration of a load and puts it back
afterwards (the same switch transformers' ``unset_hf_deepspeed_config`` and accelerate's
``zero3_init_context_manager(enable=False)`` use), so the load takes the ordinary path: a full copy on every
rank. :func:`load_frozen_scorer` loads the discriminator that way, puts it in eval mode, turns gradients off
and checks that no parameter is a ZeRO shard.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def zero3_init_disabled() -> Iterator[None]:
    """``is_deepspeed_zero3_enabled()`` is False inside (no ``deepspeed.zero.Init`` for loads); restored after."""
    try:
        from transformers.integrations import deepspeed as hf_ds
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    saved = hf_ds._hf_deepspeed_config_weak_ref
    hf_ds._hf_deepspeed_config_weak_ref = None
    try:
        yield
    finally:
        hf_ds._hf_deepspeed_config_weak_ref = saved


def is_zero_partitioned(param: Any) -> bool:
    """True for a parameter DeepSpeed ZeRO-3 has partitioned (it carries ``ds_id`` / ``ds_status``)."""
    return hasattr(param, "ds_id") or hasattr(param, "ds_status")


def freeze(model: Any, what: str = "model") -> Any:
    """Eval mode, ``requires_grad=False`` everywhere; refuses a ZeRO-3 partitioned (empty-shard) model."""
    sharded = [n for n, p in model.named_parameters() if is_zero_partitioned(p)]
    if sharded:
        raise RuntimeError(
            f"{what} was loaded ZeRO-3 partitioned ({len(sharded)} parameters, e.g. {sharded[0]!r}); load it inside "
            "grpo.frozen.zero3_init_disabled() so every process holds a full copy"
        )
    model.eval()
    model.requires_grad_(False)
    return model


def load_frozen_scorer(path: str, *, device: Any = None, token_budget: int = 16384, **kwargs: Any):
    """A :class:`discriminator.scoring.RelevanceScorer` replicated on ``device`` whatever ZeRO stage is active:
    loaded outside ``deepspeed.zero.Init``, eval mode, no gradients."""
    from discriminator.scoring import RelevanceScorer

    with zero3_init_disabled():
        scorer = RelevanceScorer.from_pretrained(path, device=device, token_budget=token_budget, **kwargs)
    freeze(scorer.model, f"discriminator {path}")
    return scorer
