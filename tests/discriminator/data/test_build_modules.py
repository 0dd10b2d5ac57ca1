"""``discriminator.data.build`` is split into modules named for what they hold; every name users imported from
``build`` before the split still imports from there and is the same object."""

import importlib

import discriminator.data.build as build

MOVED = {
    "discriminator.data.records": ["BuildConfig", "PairRecord", "ShardStore", "Mode", "Source", "Status",
                                   "call_failed", "write_item_records", "group_by_family"],
    "discriminator.data.programmatic_pairs": ["programmatic_item", "run_item_sync"],
    "discriminator.data.pair_records": ["pair_record"],
    "discriminator.data.llm_pairs": ["llm_item", "ProgressFn"],
    "discriminator.data.span_rows": ["assign_splits", "rows_from_records", "paper_record"],
    "discriminator.data.build_report": ["BuildReport", "FamilyStats", "make_report"],
    "discriminator.data.shards": ["ShardError"],
}


def test_every_name_of_the_old_build_module_is_reexported():
    for module, names in MOVED.items():
        mod = importlib.import_module(module)
        for name in names:
            assert getattr(build, name) is getattr(mod, name), (module, name)
    assert callable(build.build_discriminator_dataset) and callable(build.consolidate)
    assert build._records_from_pair is build.pair_record  # the old private name of the pair record


def test_benchmark_imports_still_work():
    from discriminator.data.build import (  # benchmarks/bench_negatives.py
        BuildConfig,
        programmatic_item,
    )

    assert BuildConfig().mode == "programmatic" and programmatic_item is build.programmatic_item
