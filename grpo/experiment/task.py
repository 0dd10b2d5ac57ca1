"""The learning experiment's task: short topical paragraphs under 4-5 verifiable IFEval rubrics.

Each prompt asks for a few sentences about a topic and carries

* ``words``   - ``length_constraints:number_words`` at least ``min_words`` (pins the form: no shortening),
* ``sentences`` - ``length_constraints:number_sentences`` at least 2 (no one-line or unpunctuated answers),
* ``topic``   - ``keywords:existence`` of the topic's own word (a topical, lexical check),
* ``no_repeat`` - ``keywords:frequency`` of that word ``less than`` 3 (repeating the keyword does not pay),
* ``target``  - one more learnable rule, cycled over the topics: ``punctuation:no_comma``,
  ``keywords:existence`` of a second, off-topic word, or ``keywords:forbidden_words`` (common filler words);
  ``--targets`` may also add ``change_case:english_lowercase`` (a rule SmolLM2 never meets when sampled).

So the gaming an earlier probe of the learning experiment found (its policies passed rubrics by answering shorter
or by repeating the keyword: "blue blue blue ...") fails: shorter answers break ``words``, a repeated keyword breaks
``no_repeat`` and ``sentences``. Everything is checked by the project's rule verifiers; no judge.

The split of topics into train and held-out prompts is fixed by ``split_seed`` (not by the experiment seed), so
every arm and every seed is evaluated on the same held-out prompts, none of them ever trained on.
Torch-free.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, Field

from rubrics.rubric_text import rule_text
from rubrics.schema import Rubric, RubricItem, RuleVerifier

# (topic phrase, topical keyword): the keyword is what a normal answer about the topic would say.
TOPICS: tuple[tuple[str, str], ...] = (
    ("the ocean", "waves"),
    ("a forest in autumn", "leaves"),
    ("a busy train station", "platform"),
    ("baking bread", "dough"),
    ("a thunderstorm", "lightning"),
    ("learning to swim", "water"),
    ("a city at night", "lights"),
    ("growing tomatoes", "garden"),
    ("a mountain hike", "trail"),
    ("an old library", "books"),
    ("a birthday party", "cake"),
    ("winter mornings", "snow"),
    ("a football match", "goal"),
    ("a desert", "sand"),
    ("a farmers market", "vegetables"),
    ("riding a bicycle", "wheels"),
    ("a rainy afternoon", "rain"),
    ("a coffee shop", "coffee"),
    ("the moon", "night"),
    ("a school classroom", "teacher"),
    ("a camping trip", "tent"),
    ("a music concert", "music"),
    ("a hospital", "doctors"),
    ("a fishing boat", "fish"),
    ("a zoo", "animals"),
    ("a summer beach", "sun"),
    ("painting a picture", "colors"),
    ("a quiet village", "houses"),
    ("a space rocket", "launch"),
    ("a chess game", "board"),
    ("a wedding", "bride"),
    ("a museum", "history"),
    ("cooking pasta", "sauce"),
    ("a river", "bridge"),
    ("a snowy cabin", "fire"),
    ("an airport", "flights"),
    ("a flower garden", "roses"),
    ("a bakery", "bread"),
    ("a science lab", "experiment"),
    ("a farm", "cows"),
    ("a lighthouse", "ships"),
    ("a jungle", "trees"),
    ("a marathon", "runners"),
    ("an orchestra", "violin"),
    ("a volcano", "lava"),
    ("a post office", "letters"),
    ("a playground", "children"),
    ("a picnic", "basket"),
)
# off-topic words for the "second keyword" target, and common filler words for the forbidden-words target
EXTRA_WORDS: tuple[str, ...] = ("blue", "happy", "window", "green", "friend", "morning", "gold", "quiet")
FORBIDDEN: tuple[tuple[str, ...], ...] = (("very", "many"), ("is", "are"), ("very", "really"), ("can", "will"))

Target = Literal["no_comma", "keyword", "forbidden", "lowercase"]
KINDS = ("words", "sentences", "topic", "no_repeat", "target")


class TaskConfig(BaseModel):
    """The prompt set: how many train / held-out prompts, the rubric mix and the form pins."""

    train_prompts: int = Field(32, ge=1, description="Training prompts (topics) in the train split.")
    heldout_prompts: int = Field(16, ge=1, description="Held-out prompts, never trained on.")
    min_words: int = Field(12, ge=1, description="`words` rubric: at least this many words.")
    min_sentences: int = Field(2, ge=1, description="`sentences` rubric: at least this many sentences.")
    max_keyword: int = Field(3, ge=2, description="`no_repeat` rubric: the topic word fewer than this many times.")
    targets: list[Target] = Field(
        default_factory=lambda: ["no_comma", "keyword", "forbidden"],
        description="Target rules cycled over the prompts (one per prompt): no_comma, keyword, forbidden, lowercase.",
    )
    pins: bool = Field(True, description="Include the form-pinning rubrics (words, sentences, no_repeat).")
    split_seed: int = Field(1234, description="Seed of the train / held-out split of the topics (not the run seed).")
    prompts: Literal["topics", "testbed"] = Field(
        "topics",
        description="Prompt source: the 48 fixed topics, or the testbed vocabulary (grpo/experiment/testbed_corpus.py: "
        "hundreds of prompts, held-out topic nouns disjoint from train).",
    )


def _rubric(item_id: str, kind: str, rule_id: str, kwargs: dict) -> Rubric:
    return Rubric(
        id=f"{item_id}:{kind}",
        text=rule_text("ifeval", rule_id, kwargs),
        title=kind,
        verifier=RuleVerifier(family="ifeval", rule_id=rule_id, kwargs=kwargs),
        source="experiment",
    )


def make_item(idx: int, topic: str, keyword: str, target: Target, cfg: TaskConfig, split: str) -> RubricItem:
    """One prompt with its rubrics (the prompt states every rubric, in plain words)."""
    iid = f"learn-{idx:03d}"
    rub: list[Rubric] = []
    asks = [f"Write a short paragraph about {topic}."]
    if cfg.pins:
        rub.append(
            _rubric(
                iid, "words", "length_constraints:number_words", {"relation": "at least", "num_words": cfg.min_words}
            )
        )
        rub.append(
            _rubric(
                iid,
                "sentences",
                "length_constraints:number_sentences",
                {"relation": "at least", "num_sentences": cfg.min_sentences},
            )
        )
        asks.append(f"Write at least {cfg.min_sentences} sentences and at least {cfg.min_words} words.")
    rub.append(_rubric(iid, "topic", "keywords:existence", {"keywords": [keyword]}))
    if cfg.pins:
        rub.append(
            _rubric(
                iid,
                "no_repeat",
                "keywords:frequency",
                {"relation": "less than", "keyword": keyword, "frequency": cfg.max_keyword},
            )
        )
        asks.append(f'Use the word "{keyword}" once or twice, not more.')
    else:
        asks.append(f'Use the word "{keyword}".')
    if target == "no_comma":
        rub.append(_rubric(iid, "target", "punctuation:no_comma", {}))
        asks.append("Do not use any commas.")
    elif target == "keyword":
        extra = EXTRA_WORDS[idx % len(EXTRA_WORDS)]
        rub.append(_rubric(iid, "target", "keywords:existence", {"keywords": [extra]}))
        asks.append(f'Also include the word "{extra}".')
    elif target == "forbidden":
        words = list(FORBIDDEN[idx % len(FORBIDDEN)])
        rub.append(_rubric(iid, "target", "keywords:forbidden_words", {"forbidden_words": words}))
        asks.append(f"Do not use the words {' or '.join(repr(w).replace(chr(39), chr(34)) for w in words)}.")
    elif target == "lowercase":
        rub.append(_rubric(iid, "target", "change_case:english_lowercase", {}))
        asks.append("Use only lowercase letters.")
    else:  # pragma: no cover - pydantic restricts the values
        raise ValueError(f"unknown target {target!r}")
    return RubricItem(
        id=iid,
        prompt=" ".join(asks),
        rubrics=rub,
        source="experiment",
        split=split,
        meta={"topic": topic, "keyword": keyword, "target": target},
    )


def testbed_task(cfg: TaskConfig) -> tuple[list[RubricItem], list[RubricItem]]:
    """``(train, heldout)`` items of the testbed (what :func:`build_task` returns for ``task.prompts:
    testbed``: the topic / keyword pairs of :func:`grpo.experiment.testbed_corpus.topic_pairs`); deterministic for
    ``cfg``; prompt wording and rubrics as in the learning task."""
    if not cfg.targets:
        raise ValueError("targets: at least one target rule is needed")
    from grpo.experiment.testbed_corpus import topic_pairs

    train_pairs, held_pairs = topic_pairs(cfg.split_seed)
    if cfg.train_prompts > len(train_pairs) or cfg.heldout_prompts > len(held_pairs):
        raise ValueError(f"testbed: at most {len(train_pairs)} train / {len(held_pairs)} held-out prompts")
    items: list[list[RubricItem]] = [[], []]
    for s, (pairs, n, split, base) in enumerate(
        ((train_pairs, cfg.train_prompts, "train", 0), (held_pairs, cfg.heldout_prompts, "test", 100_000))
    ):
        for j, (topic, kw) in enumerate(pairs[:n]):
            idx = base + j  # make_item picks the extra word / forbidden pair by idx
            it = make_item(idx, topic, kw, cfg.targets[j % len(cfg.targets)], cfg, split)
            items[s].append(it.model_copy(update={"id": f"testbed-{split}-{j:04d}"}))
    return items[0], items[1]


def build_task(cfg: TaskConfig | None = None) -> tuple[list[RubricItem], list[RubricItem]]:
    """``(train, heldout)`` items; disjoint topics, deterministic for a given ``cfg``."""
    cfg = cfg or TaskConfig()
    if cfg.prompts == "testbed":
        return testbed_task(cfg)
    n = cfg.train_prompts + cfg.heldout_prompts
    if n > len(TOPICS):
        raise ValueError(f"train_prompts + heldout_prompts = {n} > {len(TOPICS)} topics available")
    if not cfg.targets:
        raise ValueError("targets: at least one target rule is needed")
    order = list(range(len(TOPICS)))
    random.Random(cfg.split_seed).shuffle(order)
    items = []
    for j, t in enumerate(order[:n]):
        topic, kw = TOPICS[t]
        split = "train" if j < cfg.train_prompts else "test"
        items.append(make_item(t, topic, kw, cfg.targets[j % len(cfg.targets)], cfg, split))
    return items[: cfg.train_prompts], items[cfg.train_prompts :]


def rubric_kind(rubric_id: str) -> str:
    """``words`` / ``sentences`` / ``topic`` / ``no_repeat`` / ``target`` from a task rubric id."""
    return rubric_id.rsplit(":", 1)[-1]
