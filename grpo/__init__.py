"""RTT-GRPO policy training (stage 5): TRL's GRPO with a token-level rubric advantage, its evaluation and the
learning experiment.

:class:`grpo.rtt_grpo_trainer.RTTGRPOTrainer` is ``trl.GRPOTrainer`` with the token advantage and
:class:`grpo.rtt_grpo_config.RTTGRPOConfig` its options (``trl.GRPOConfig`` plus ``rtt_*``); the math is
:mod:`~grpo.advantages` (docs/method.md), the rewards :mod:`~grpo.rewards` and the dataset
:func:`grpo.dataset.build_prompt_dataset`. ``rtt train policy`` reads a YAML file
(:mod:`~grpo.train_config`, presets in ``grpo/configs/``) and runs :mod:`~grpo.run`; ``rtt eval policy`` is
:mod:`~grpo.evaluate`; ``rtt experiment`` is :mod:`grpo.experiment`. Nothing is imported here, so importing a
torch-free module of the package does not import torch.
"""

__all__ = [
    "advantages",
    "dataset",
    "evaluate",
    "experiment",
    "frozen",
    "heatmap",
    "judge",
    "layout",
    "metrics",
    "renamed",
    "rewards",
    "rtt_grpo_config",
    "rtt_grpo_trainer",
    "run",
    "train_config",
]
