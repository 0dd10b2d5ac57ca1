"""Helpers of the test suite, imported as ``tests.helpers.NAME`` (tests/ is a package): tiny models (``tiny``),
test servers (``llm_server``, ``prefect_server``), rubric items (``grpo_items``), the modules of scripts/
(``scripts``). ``grpo_ddp_worker.py`` and ``ui_report_flow.py`` are run by path in a subprocess."""
