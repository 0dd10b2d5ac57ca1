"""Option values that were renamed, and the one error that says so: every place that takes the option calls it.

``response_advantage='design'`` (named after a design document) is ``'grpo'``: GRPO on the summed reward with the
unbiased group std. Torch-free, so the YAML configs can use it.
"""

from __future__ import annotations

from typing import Any


def refuse_renamed_response_advantage(value: Any, *, named: str = "", fix: str) -> None:
    """Raise ``ValueError`` when ``value`` is the old name ``'design'``; ``named`` prefixes the message (how the
    caller spells the option) and ``fix`` says how to set the new value there."""
    if value == "design":
        raise ValueError(
            f"{named}'design' is now called 'grpo' (GRPO on the summed reward with the unbiased group std): {fix}"
        )
