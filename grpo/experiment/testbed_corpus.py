"""The testbed's prompts and pretraining text: a fast test of the credit mechanism, not a claim about real models.

The learning testbed (``rtt experiment --config testbed``) trains a tiny causal LM
(:mod:`grpo.experiment.testbed_lm`) that the project pretrains itself, in minutes on 2 CPU cores, on text this
module generates. Its prompts are the learning task's own (:func:`grpo.experiment.task.make_item`: same
wording, same IFEval rule rubrics, so the rule checkers and the oracle spans apply unchanged); only the topics and
keywords come from a small testbed vocabulary, so there are hundreds of prompts instead of 48, split into train and
held-out with *disjoint topic nouns* (a held-out prompt's topic never appears in a train prompt).

The pretraining responses are short paragraphs from a toy grammar that *ignores the prompt's rubrics* except
that it sometimes copies the prompt's keywords: sentence count, word count, how often the keyword is used,
commas, filler words ("very", "is", "can" ...) and case are drawn at random, so the pretrained policy meets
each rubric for a fraction of its samples (15-70 %) and all of them together rarely (AON sparse). RL then has
to learn to read the rubrics - the effect the arms are compared on. Nothing here says how a real LM behaves.

Deterministic for a given seed. Torch-free.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rubrics.schema import RubricItem

# topic nouns (prompt: "Write a short paragraph about the <adj> <noun>.") - split between train and held-out
TOPIC_NOUNS: tuple[str, ...] = (
    "harbor",
    "village",
    "kitchen",
    "meadow",
    "castle",
    "station",
    "garden",
    "market",
    "island",
    "valley",
    "bakery",
    "library",
    "factory",
    "temple",
    "stadium",
    "canyon",
    "lagoon",
    "orchard",
    "prairie",
    "glacier",
    "theater",
    "museum",
    "airport",
    "highway",
    "college",
    "tavern",
    "cottage",
    "palace",
    "bridge",
    "tunnel",
    "forest",
    "desert",
    "jungle",
    "volcano",
    "river",
    "beach",
    "mountain",
    "lake",
    "swamp",
    "cave",
    "hospital",
    "prison",
    "chapel",
    "circus",
    "festival",
    "workshop",
    "laboratory",
    "farm",
    "mill",
    "port",
    "school",
    "office",
    "hotel",
    "restaurant",
    "barn",
    "tower",
    "square",
    "street",
    "park",
    "zoo",
)
TOPIC_ADJ: tuple[str, ...] = ("old", "quiet", "busy", "small", "famous", "empty", "sunny", "hidden")
# keywords the prompt asks for (and the grammar's other nouns)
KEYWORDS: tuple[str, ...] = (
    "waves",
    "leaves",
    "bread",
    "boats",
    "books",
    "horses",
    "songs",
    "flowers",
    "birds",
    "maps",
    "apples",
    "shells",
    "stars",
    "drums",
    "tents",
    "rivers",
    "feathers",
    "lanterns",
    "kettles",
    "gates",
    "pianos",
    "rabbits",
    "onions",
    "mirrors",
    "tigers",
    "letters",
    "blankets",
    "wagons",
    "pebbles",
    "lemons",
)
# the grammar's own nouns (disjoint from KEYWORDS: a keyword appears only where the prompt's is copied)
OBJECTS: tuple[str, ...] = (
    "stones",
    "lamps",
    "clouds",
    "candles",
    "tools",
    "coins",
    "wheels",
    "roads",
    "bells",
    "ropes",
    "chairs",
    "doors",
    "kites",
    "nets",
    "cups",
    "fences",
    "bricks",
    "baskets",
    "ladders",
    "carts",
)
SUBJECTS: tuple[str, ...] = (
    "the children",
    "the workers",
    "my sister",
    "our neighbor",
    "the old man",
    "a young woman",
    "the guests",
    "the farmer",
    "people",
    "the cook",
    "a stranger",
    "the teacher",
    "visitors",
    "my friends",
    "the guard",
)
VERBS: tuple[str, ...] = (
    "watch",
    "carry",
    "paint",
    "count",
    "find",
    "bring",
    "share",
    "keep",
    "sell",
    "clean",
    "follow",
    "remember",
    "collect",
    "move",
    "open",
    "admire",
    "hear",
    "see",
    "like",
    "need",
)
ADJ: tuple[str, ...] = (
    "bright",
    "soft",
    "heavy",
    "tiny",
    "warm",
    "cold",
    "strange",
    "simple",
    "wooden",
    "golden",
    "dark",
    "clean",
    "noisy",
    "calm",
    "fresh",
    "broken",
)
# filler words, including the task's forbidden pairs (very many / is are / very really / can will)
FILLERS: tuple[str, ...] = ("very", "really", "many", "quite", "very", "always", "really", "many")
PLACES: tuple[str, ...] = (
    "near the gate",
    "by the road",
    "in the morning",
    "at night",
    "after lunch",
    "every day",
    "in the rain",
    "under the trees",
    "on the hill",
    "at the corner",
)


def topic_pairs(split_seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(train, heldout)`` (topic phrase, keyword) pairs; held-out topic nouns (a quarter) never in train."""
    rng = random.Random(split_seed)
    nouns = list(TOPIC_NOUNS)
    rng.shuffle(nouns)
    n_held = len(nouns) // 4
    out = []
    for group in (nouns[n_held:], nouns[:n_held]):
        pairs = [(f"the {a} {n}", k) for n in group for a in TOPIC_ADJ for k in KEYWORDS]
        rng.shuffle(pairs)
        out.append(pairs)
    return out[0], out[1]


# ----------------------------------------------------------------------------------------------- responses


def _sentence(rng: random.Random, n_words: int) -> list[str]:
    """A toy sentence of about ``n_words`` words (lower case, no end mark)."""
    words = rng.choice(SUBJECTS).split()
    if rng.random() < 0.3:
        words += [rng.choice(("can", "will"))]
    words += [rng.choice(VERBS)]
    if rng.random() < 0.5:
        words += (
            ["the"] + ([rng.choice(FILLERS)] if rng.random() < 0.3 else []) + [rng.choice(ADJ), rng.choice(OBJECTS)]
        )
    else:
        words += [rng.choice(("some", "the", "two", "three")), rng.choice(OBJECTS)]
    while len(words) < n_words:
        r = rng.random()
        if r < 0.25:
            words += rng.choice(PLACES).split()
        elif r < 0.5:
            words += [rng.choice(FILLERS)]
        elif r < 0.8:
            words += [
                rng.choice(("it", "this", "that")),
                rng.choice(("is", "are", "can", "will", "was")),
                rng.choice(ADJ),
            ]
        else:
            words += ["and", rng.choice(VERBS), "the", rng.choice(OBJECTS)]
    return words


def response_for(item: RubricItem, rng: random.Random, distractors: Sequence[str]) -> str:
    """One pretraining response for ``item``: a paragraph that ignores the rubrics except that it copies the
    prompt's keyword a random number of times (0-4) and, for a keyword target, the extra word sometimes (else,
    now and then, one of ``distractors``: the task's extra words)."""
    meta = item.meta or {}
    keyword = str(meta.get("keyword", rng.choice(KEYWORDS)))
    topic_noun = str(meta.get("topic", "the place")).split()[-1]
    n_sent = rng.choices((1, 2, 3), weights=(0.42, 0.36, 0.22))[0]
    sents = [_sentence(rng, rng.randint(4, 9)) for _ in range(n_sent)]
    if rng.random() < 0.5:  # the topic noun once
        sents[0] = sents[0][:2] + ["at", "the", topic_noun] + sents[0][2:]
    n_kw = rng.choices((0, 1, 2, 3, 4), weights=(0.38, 0.22, 0.12, 0.14, 0.14))[0]
    for _ in range(n_kw):
        s = rng.randrange(n_sent)
        pos = rng.randint(1, len(sents[s]))
        sents[s][pos:pos] = ["the", keyword] if rng.random() < 0.5 else ["with", keyword]
    extra = None
    for r in item.rubrics:
        kws = r.verifier.kwargs.get("keywords") if hasattr(r.verifier, "kwargs") else None
        if r.title == "target" and kws:
            extra = kws[0]
    if extra is not None and rng.random() < 0.35:
        s = rng.randrange(n_sent)
        sents[s].insert(rng.randint(1, len(sents[s])), extra)
    elif rng.random() < 0.15:
        s = rng.randrange(n_sent)
        sents[s].insert(rng.randint(1, len(sents[s])), rng.choice(distractors))
    commas = rng.random() < 0.55
    lower = rng.random() < 0.35
    out = []
    for words in sents:
        words = list(words)
        if commas:
            for _ in range(rng.randint(1, 2)):
                i = rng.randrange(1, len(words))
                words[i - 1] = words[i - 1].rstrip(",") + ","
        text = " ".join(words)
        if not lower:
            text = text[0].upper() + text[1:]
        out.append(text + rng.choice((".", ".", ".", "!")))
    return " ".join(out)
