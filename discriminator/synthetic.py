"""A small programmatic SpanRow set with exact labels, for tests, benchmarks and smoke runs (torch-free).

Each item is one response with several criteria of different families; the relevant characters are known by
construction: occurrences of a keyword, every comma, every exclamation mark, a closing phrase. Some families
are lexical (the rubric names the relevant words) and some are not (the rubric says "commas", the relevant
characters are ``,``), so a learned discriminator can beat lexical overlap.
"""

from __future__ import annotations

import random
import re

from discriminator.data.schema import SpanRow

WORDS = (
    "the quick brown fox jumps over lazy dog write a short poem about sea response must contain at least "
    "bullet points and end with is there anything else help this test world hello json format markdown "
    "headings tables rows columns keywords like"
).split()
KEYWORDS = ["banana", "apple", "fox", "dog", "poem", "sea", "json", "table"]
PHRASE = "Is there anything else I can help with?"


def _sentence(rng: random.Random, n: int, comma_p: float) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    out = []
    for i, w in enumerate(words):
        out.append(w + ("," if i < n - 1 and rng.random() < comma_p else ""))
    s = " ".join(out)
    return s[0].upper() + s[1:]


def toy_rows(n_items: int = 60, seed: int = 0, sentences: tuple[int, int] = (2, 4)) -> list[SpanRow]:
    """``n_items`` items x 3 rubrics (keyword, comma or exclamation, closing phrase); splits left to the caller."""
    rng = random.Random(seed)
    rows: list[SpanRow] = []
    for it in range(n_items):
        kw, other = rng.sample(KEYWORDS, 2)
        sents = []
        for _ in range(rng.randint(*sentences)):
            words = _sentence(rng, rng.randint(5, 10), comma_p=0.25).split(" ")
            if rng.random() < 0.7:
                words.insert(rng.randrange(len(words) + 1), kw)
            if rng.random() < 0.3:
                words.insert(rng.randrange(len(words) + 1), other)
            sents.append(" ".join(words) + rng.choice([".", "!", "."]))
        if rng.random() < 0.6:
            sents.append(PHRASE)
        response = " ".join(sents)
        item = f"toy-{seed}-{it}"

        def row(
            family: str, criteria: str, spans: list[tuple[int, int]], item: str = item, response: str = response
        ) -> SpanRow:
            return SpanRow(
                id=f"{item}:{family}",
                item_id=item,
                rubric_id=family,
                criteria=criteria,
                response=response,
                char_spans=spans,
                label_source="program",
                family=f"toy:{family}",
            )

        rows.append(
            row(
                "keyword",
                f"Include the keyword '{kw}' in your response.",
                [m.span() for m in re.finditer(rf"\b{re.escape(kw)}\b", response)],
            )
        )
        if it % 2 == 0:
            rows.append(
                row(
                    "no_comma",
                    "Do not use any commas in your response.",
                    [m.span() for m in re.finditer(",", response)],
                )
            )
        else:
            rows.append(
                row(
                    "exclamation",
                    "Do not end any sentence with an exclamation mark.",
                    [m.span() for m in re.finditer("!", response)],
                )
            )
        i = response.rfind(PHRASE)
        rows.append(
            row(
                "end_phrase",
                f"Finish your response with this exact phrase: {PHRASE}",
                [(i, i + len(PHRASE))] if i >= 0 and response.endswith(PHRASE) else [],
            )
        )
    return rows
