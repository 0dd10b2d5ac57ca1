"""Rubric items whose rule verdicts VARY across the tiny random policy's completions (so response rewards and the
response advantage are not all 0): no commas (mostly passes), all lowercase (fails), letter 'e' at least twice as a
pitfall (weight < 0: passes when NOT met, about half the time). Weights 3, 1, -2 make ``abs()`` matter."""

from __future__ import annotations


def varying_items(n: int = 2):
    from rubrics.schema import Rubric, RubricItem, RuleVerifier

    def rule(i, rule_id, text, weight, **kw):
        return Rubric(
            id=i, text=text, weight=weight, verifier=RuleVerifier(family="ifeval", rule_id=rule_id, kwargs=kw)
        )

    rubrics = [
        rule("a", "punctuation:no_comma", "Do not use any commas.", 3.0),
        rule("b", "change_case:english_lowercase", "Answer in all lowercase letters.", 1.0),
        rule(
            "c",
            "keywords:letter_frequency",
            "Use the letter e at least twice.",
            -2.0,
            letter="e",
            let_frequency=2,
            let_relation="at least",
        ),
    ]
    return [
        RubricItem(id=f"sea{i}", prompt=f"Write a short poem about the sea number {i}.", rubrics=rubrics)
        for i in range(n)
    ]
