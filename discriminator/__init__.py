"""The token-level relevance discriminator (stage 2 and 4): which tokens of a response a rubric depends on.

:mod:`discriminator.data` builds the span-labelled training data (torch-free); :mod:`~discriminator.model`,
:mod:`~discriminator.train` and :mod:`~discriminator.evaluate` are the model, its training and its evaluation
against :mod:`~discriminator.baselines`; :mod:`~discriminator.export` writes a self-contained Hugging Face folder;
:class:`discriminator.scoring.RelevanceScorer` is the batched scoring API the RTT-GRPO trainer calls, projected
onto the policy's tokens by :mod:`~discriminator.projection`; :mod:`~discriminator.rule_spans` gives the exact
spans of rule checkers (the oracle relevance). Entry points: ``rtt disc ...`` and the flows
``train-discriminator``, ``evaluate-discriminator`` and ``export-discriminator``.
"""

__all__ = [
    "baselines",
    "calibration",
    "casing",
    "checkpoints",
    "config",
    "data",
    "evaluate",
    "export",
    "features",
    "holdout",
    "metrics",
    "model",
    "plots",
    "projection",
    "resolve",
    "rule_spans",
    "scoring",
    "splits",
    "synthetic",
    "template",
    "train",
]
