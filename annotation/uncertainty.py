"""Per-row confidence of the automatic labels from the discriminator, for uncertainty sampling (torch-free here).

Label Studio's "Uncertainty sampling" serves the task with the lowest prediction ``score`` first. A labeller's
prior (every programmatic row 0.95) sorts nothing, so :func:`with_discriminator_scores` scores each row's
characters with a trained discriminator (any object with ``score_chars(pairs)``, e.g.
``discriminator.scoring.RelevanceScorer``) and stores ``meta["score"]`` = the mean probability the discriminator
gives the automatic label of each character (``p`` on marked characters, ``1 - p`` elsewhere): low when the model
is unsure (``p`` near 0.5) or disagrees with the labeller - the rows a reviewer should see first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from discriminator.data.schema import SpanRow


def label_confidence(char_probs: np.ndarray, char_labels: Sequence[int]) -> float:
    """Mean of ``p`` where the label is 1 and ``1 - p`` where it is 0 (shape ``(n_chars,)``); 1.0 when empty."""
    p = np.asarray(char_probs, dtype=np.float64)
    y = np.asarray(char_labels, dtype=bool)
    if p.shape != y.shape:
        raise ValueError(f"{p.size} probabilities for {y.size} characters")
    return float(np.where(y, p, 1.0 - p).mean()) if len(p) else 1.0


def with_discriminator_scores(rows: Sequence[SpanRow], scorer, name: str = "discriminator") -> list[SpanRow]:
    """Rows with ``meta["score"]`` (see the module doc) and ``meta["score_source"] = name``."""
    chars = scorer.score_chars([(r.criteria, r.response) for r in rows])
    out = []
    for r, c in zip(rows, chars, strict=True):
        conf = label_confidence(c, r.char_labels)
        out.append(r.model_copy(update={"meta": {**r.meta, "score": round(conf, 6), "score_source": name}}))
    return out
