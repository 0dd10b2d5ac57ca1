"""The learning experiment (``rtt experiment``, Prefect flow ``experiment``, ``benchmarks/bench_learning.py``): one
policy trained under several arms (GRPO, RTT-GRPO, controls) x seeds, evaluated on held-out prompts.

:mod:`~grpo.experiment.config` holds :class:`~grpo.experiment.config.ExperimentConfig`,
:class:`~grpo.experiment.config.ArmSpec`, the presets and :func:`~grpo.experiment.config.load_experiment`
(torch-free); :mod:`~grpo.experiment.task` the prompts and their rule rubrics (torch-free);
:mod:`~grpo.experiment.runner` trains and evaluates each arm x seed (:func:`~grpo.experiment.runner.run_experiment`,
:func:`~grpo.experiment.runner.run_one`) with the relevance sources of :mod:`~grpo.experiment.relevance` and the
metrics of :mod:`~grpo.experiment.metrics`; :mod:`~grpo.experiment.report` writes the report
(:func:`~grpo.experiment.report.write_report`) with the paired statistics of :mod:`~grpo.experiment.stats`;
:mod:`~grpo.experiment.testbed_lm` and :mod:`~grpo.experiment.testbed_corpus` are the testbed's tiny LM and its
text. Nothing is imported here, so the torch-free modules stay torch-free.
"""

__all__ = ["config", "metrics", "relevance", "report", "runner", "stats", "task", "testbed_corpus", "testbed_lm"]
