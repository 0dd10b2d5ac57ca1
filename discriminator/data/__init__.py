"""Torch-free building of discriminator training data: positives, minimal-modification negatives, span labels.

:func:`discriminator.data.build.build_discriminator_dataset` is the build (``rtt data negatives``, flow
``build-discriminator-data``): positives (:mod:`~discriminator.data.positives`, template ones from
:mod:`~discriminator.data.compose`), negatives made by the programmatic edits (:mod:`discriminator.data.edits`,
:mod:`~discriminator.data.programmatic`, :mod:`~discriminator.data.repairs`) or by an LLM
(:mod:`~discriminator.data.llm_pairs`), labelled by a character diff (:mod:`~discriminator.data.diff_labels`),
written to resumable shards (:mod:`~discriminator.data.shards`) and split into
:class:`~discriminator.data.schema.SpanRow` files (:mod:`~discriminator.data.span_rows`).
"""

__all__ = [
    "blueprint",
    "build",
    "build_report",
    "compose",
    "content",
    "diff_labels",
    "edits",
    "greedy",
    "llm_generation",
    "llm_pairs",
    "pair_records",
    "patch",
    "policy_samples",
    "pool",
    "positives",
    "programmatic",
    "programmatic_pairs",
    "records",
    "repairs",
    "schema",
    "shards",
    "span_rows",
    "textbank",
]
