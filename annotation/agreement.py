"""Agreement between automatic and human spans, and between human annotators (pure functions).

* automatic vs human: precision / recall / F1 of the automatic labels against the human ones (the reference),
  micro-averaged over all reviewed rows, at character level and at whitespace-token level (a token is
  relevant when any of its characters is);
* human vs human: Cohen's kappa over characters and over tokens, pooled over every task that two annotators
  labelled (all annotator pairs when there are more than two).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from discriminator.data.schema import SpanRow, spans_to_char_labels

_TOKEN = re.compile(r"\S+")


class PRF(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else None

    def add(self, pred: Sequence[int], ref: Sequence[int]) -> None:
        for p, r in zip(pred, ref, strict=True):
            if p and r:
                self.tp += 1
            elif p:
                self.fp += 1
            elif r:
                self.fn += 1
            else:
                self.tn += 1

    def summary(self) -> dict[str, float | int | None]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def token_labels(text: str, char_labels: Sequence[int]) -> list[int]:
    """Whitespace tokens of ``text``: 1 where any character of the token is labelled."""
    return [int(any(char_labels[m.start() : m.end()])) for m in _TOKEN.finditer(text)]


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two binary label sequences; None when chance agreement is 1 (kappa undefined)."""
    n = len(a)
    if n != len(b):
        raise ValueError("sequences differ in length")
    if n == 0:
        return None
    po = sum(1 for x, y in zip(a, b) if bool(x) == bool(y)) / n
    pa, pb = sum(1 for x in a if x) / n, sum(1 for y in b if y) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return None if pe >= 1.0 else (po - pe) / (1 - pe)


class AgreementReport(BaseModel):
    rows_compared: int  # (automatic row, human row) pairs
    annotators: int
    char: dict[str, float | int | None]
    token: dict[str, float | int | None]
    kappa_pairs: int  # (task, annotator pair) combinations with two human labellings
    kappa_char: float | None
    kappa_token: float | None

    def table(self) -> list[dict[str, object]]:
        """Rows for a table artifact / rich table."""

        def f(x):
            return None if x is None else round(float(x), 4)

        return [
            {
                "level": "char",
                "precision": f(self.char["precision"]),
                "recall": f(self.char["recall"]),
                "f1": f(self.char["f1"]),
                "kappa (human-human)": f(self.kappa_char),
            },
            {
                "level": "token",
                "precision": f(self.token["precision"]),
                "recall": f(self.token["recall"]),
                "f1": f(self.token["f1"]),
                "kappa (human-human)": f(self.kappa_token),
            },
        ]


def agreement(auto_rows: Iterable[SpanRow], human_rows: Iterable[SpanRow]) -> AgreementReport:
    """Compare each human row with the automatic row it reviewed (``meta['review']['auto_row_id']``, else id)."""
    autos = {r.id: r for r in auto_rows}
    char, tok = PRF(), PRF()
    by_row: dict[str, list[SpanRow]] = defaultdict(list)
    annotators: set[str] = set()
    n = 0
    for h in human_rows:
        src = (h.meta.get("review") or {}).get("auto_row_id", h.id)
        a = autos.get(src)
        annotators.add(h.annotator or "?")
        by_row[src].append(h)
        if a is None or a.response != h.response:
            continue
        n += 1
        a_lab, h_lab = a.char_labels, h.char_labels
        char.add(a_lab, h_lab)
        tok.add(token_labels(a.response, a_lab), token_labels(h.response, h_lab))
    # pooled Cohen's kappa over (task, annotator pair)
    ka, kb, ta, tb, pairs = [], [], [], [], 0
    for hs in by_row.values():
        for x, y in itertools.combinations(sorted(hs, key=lambda r: r.annotator or ""), 2):
            if x.response != y.response or x.annotator == y.annotator:
                continue
            pairs += 1
            lx = spans_to_char_labels(x.char_spans, len(x.response))
            ly = spans_to_char_labels(y.char_spans, len(y.response))
            ka += lx
            kb += ly
            ta += token_labels(x.response, lx)
            tb += token_labels(y.response, ly)
    return AgreementReport(
        rows_compared=n,
        annotators=len(annotators),
        char=char.summary(),
        token=tok.summary(),
        kappa_pairs=pairs,
        kappa_char=cohen_kappa(ka, kb) if pairs else None,
        kappa_token=cohen_kappa(ta, tb) if pairs else None,
    )
