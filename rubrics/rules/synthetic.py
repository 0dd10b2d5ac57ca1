"""Programmatic responses that satisfy or violate one IFEval rule: test oracles, benchmark load, exact negatives.

``ifeval_response(rule_id, kwargs, prompt, satisfy=True)`` returns a short response built so that the rule
holds (``satisfy=True``) or fails (``False``) under the official checker, or ``None`` when this module cannot
build one (e.g. a satisfying text in an arbitrary language). The other rules of the same item are not
controlled: those verdicts are whatever the checker says.
"""

from __future__ import annotations

from typing import Any

_FILLER = (
    "the committee reviewed the plan in detail and agreed that the new schedule would help everyone "
    "finish the work on time while keeping the budget under control for the rest of the year"
).split()


def _words(n: int, avoid: tuple[str, ...] = ()) -> str:
    bad = {a.lower() for a in avoid}
    pool = [w for w in _FILLER if w not in bad and not any(b in w for b in bad)] or ["zzz"]
    return " ".join(pool[i % len(pool)] for i in range(max(n, 0)))


def _sentences(n: int) -> str:
    return " ".join(f"This is sentence number {i + 1} of the answer." for i in range(max(n, 0)))


def _count_for(relation: str, n: int, satisfy: bool) -> int | None:
    """A count that satisfies (or violates) ``relation n`` for relations 'less than' / 'at least'."""
    if relation == "less than":
        k = n - 1 if satisfy else n
    else:
        k = n if satisfy else n - 1
    return k if k >= 0 else None


def ifeval_response(rule_id: str, kwargs: dict[str, Any], prompt: str = "", satisfy: bool = True) -> str | None:
    kw = {k: v for k, v in (kwargs or {}).items() if v is not None}
    s = satisfy
    if rule_id == "punctuation:no_comma":
        return "This answer keeps every clause short and plain." if s else "Yes, this answer has a comma."
    if rule_id == "length_constraints:number_words":
        k = _count_for(kw["relation"], int(kw["num_words"]), s)
        return None if not k else _words(k)
    if rule_id == "length_constraints:number_sentences":
        k = _count_for(kw["relation"], int(kw["num_sentences"]), s)
        return None if not k else _sentences(k)
    if rule_id == "keywords:forbidden_words":
        words = list(kw.get("forbidden_words", []))
        base = _words(12, tuple(words))
        return base + "." if s else f"{base} {words[0]}."
    if rule_id == "keywords:existence":
        words = list(kw.get("keywords", []))
        return (f"{_words(6, tuple(words))} " + " ".join(words) + ".") if s else _words(8, tuple(words)) + "."
    if rule_id == "keywords:frequency":
        k = _count_for(kw["relation"], int(kw["frequency"]), s)
        if k is None:
            return None
        word = kw["keyword"]
        return " ".join([_words(4, (word,))] + [f"{word} appears here" for _ in range(k)]) + "."
    if rule_id == "keywords:letter_frequency":
        letter = str(kw["letter"]).lower()
        k = _count_for(kw["let_relation"], int(kw["let_frequency"]), s)
        if k is None:
            return None
        other = "b" if letter != "b" else "c"
        return " ".join([letter] * k + [other * 3] * 4)
    if rule_id == "detectable_format:number_highlighted_sections":
        n = int(kw["num_highlights"])
        k = n if s else n - 1
        return None if k < 0 else "Intro line.\n" + "\n".join(f"*highlighted part {i + 1}*" for i in range(k))
    if rule_id == "detectable_format:number_bullet_lists":
        n = int(kw["num_bullets"])
        k = n if s else n + 1
        return "Points:\n" + "\n".join(f"* point {i + 1}" for i in range(k))
    if rule_id == "detectable_content:number_placeholders":
        n = int(kw["num_placeholders"])
        k = n if s else n - 1
        return None if k < 0 else "Template: " + " ".join(f"[field{i + 1}]" for i in range(k))
    if rule_id == "length_constraints:number_paragraphs":
        n = int(kw["num_paragraphs"])
        k = n if s else n + 1
        return "\n\n***\n\n".join(f"Paragraph {i + 1} text here." for i in range(k))
    if rule_id == "length_constraints:nth_paragraph_first_word":
        n, nth, first = int(kw["num_paragraphs"]), int(kw["nth_paragraph"]), str(kw["first_word"])
        paras = [f"Paragraph {i + 1} text here." for i in range(n)]
        if 1 <= nth <= n:
            paras[nth - 1] = f"{first if s else 'xylophone'} starts this paragraph."
        return "\n\n".join(paras)
    if rule_id == "detectable_format:multiple_sections":
        n, sp = int(kw["num_sections"]), str(kw["section_spliter"])
        k = n if s else n - 1
        return "Intro.\n" + "\n".join(f"{sp} {i + 1}\nContent of part {i + 1}." for i in range(k))
    if rule_id == "combination:repeat_prompt":
        rep = str(kw.get("prompt_to_repeat") or prompt)
        return f"{rep}\n\nHere is the answer." if s else f"Here is the answer.\n\n{rep}"
    if rule_id == "combination:two_responses":
        return "First answer here.\n******\nSecond answer here." if s else "Only one answer here."
    if rule_id == "startend:quotation":
        return '"The whole answer is quoted."' if s else "The answer is not quoted."
    if rule_id == "startend:end_checker":
        end = str(kw["end_phrase"])
        return f"Some answer text.\n{end}" if s else f"{end}\nSome answer text after it."
    if rule_id == "detectable_content:postscript":
        marker = str(kw["postscript_marker"])
        return f"Main body of the answer.\n\n{marker} a final note." if s else "Main body of the answer only."
    if rule_id == "detectable_format:title":
        return "<<A Fine Title>>\nThe body of the answer." if s else "A Fine Title\nThe body of the answer."
    if rule_id == "detectable_format:json_format":
        return '```json\n{"answer": "yes", "count": 2}\n```' if s else "The answer is yes."
    if rule_id == "detectable_format:constrained_response":
        return "My answer is yes." if s else "I am not sure about it."
    if rule_id == "change_case:english_lowercase":
        text = "the weather today is pleasant and the people in the town are walking to the market together"
        return text if s else text.capitalize().replace(" people", " People")
    if rule_id == "change_case:english_capital":
        text = "the weather today is pleasant and the people in the town are walking to the market together"
        return text.upper() if s else text
    if rule_id == "change_case:capital_word_frequency":
        k = _count_for(kw["capital_relation"], int(kw["capital_frequency"]), s)
        if k is None:
            return None
        return " ".join(["IMPORTANT"] * k + ["note"] * 5) + "."
    if rule_id == "language:response_language":
        lang = kw["language"]
        if s:
            return _SAMPLES.get(lang)
        return _SAMPLES["en"] if lang != "en" else _SAMPLES["de"]
    return None


_SAMPLES = {
    "en": "The weather today is pleasant and many people are walking to the market to buy fresh bread and fruit.",
    "de": "Das Wetter ist heute angenehm und viele Menschen gehen zum Markt, um frisches Brot und Obst zu kaufen.",
    "fr": (
        "Le temps est agréable aujourd'hui et beaucoup de gens vont au marché pour acheter du pain frais et des fruits."
    ),
    "es": "El tiempo es agradable hoy y mucha gente camina al mercado para comprar pan fresco y fruta.",
    "it": "Il tempo oggi è piacevole e molte persone vanno al mercato per comprare pane fresco e frutta.",
    "pt": "O tempo hoje está agradável e muitas pessoas estão indo ao mercado para comprar pão fresco e frutas.",
    "ru": "Сегодня приятная погода, и многие люди идут на рынок, чтобы купить свежий хлеб и фрукты.",
}
