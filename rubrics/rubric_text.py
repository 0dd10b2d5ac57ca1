"""Readable rubric text for IFEval / IFBench instruction ids and their kwargs.

``rule_text("ifeval", "length_constraints:number_words", {"relation": "at least", "num_words": 300})``
gives ``"The response must contain at least 300 words."``. Each rule declares the arguments its checker in
``if-verifiable`` accepts (``build_description``), so bad kwargs are caught at import time rather than when a
checker silently randomises a missing argument.

The set of valid ids is read from the ``if-verifiable`` registries (``INSTRUCTION_DICT``) by parsing their
source, so checking ids does not import nltk / datasets (seconds); :func:`known_rule_ids` falls back to a real
import if the source cannot be parsed.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rubrics.rules.base import RuleArgumentError

RULE_FAMILIES = ("ifeval", "ifbench")

# ISO codes accepted by IFEval's language:response_language (if_verifiable.ifeval.instructions_util).
LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "pt": "Portuguese", "ar": "Arabic", "hi": "Hindi", "fr": "French",
    "ru": "Russian", "de": "German", "ja": "Japanese", "it": "Italian", "bn": "Bengali", "uk": "Ukrainian",
    "th": "Thai", "ur": "Urdu", "ta": "Tamil", "te": "Telugu", "bg": "Bulgarian", "ko": "Korean", "pl": "Polish",
    "he": "Hebrew", "fa": "Persian", "vi": "Vietnamese", "ne": "Nepali", "sw": "Swahili", "kn": "Kannada",
    "mr": "Marathi", "gu": "Gujarati", "pa": "Punjabi", "ml": "Malayalam", "fi": "Finnish",
}  # fmt: skip
IFEVAL_RELATIONS = ("at least", "less than")
IFEVAL_CONSTRAINED_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@dataclass(frozen=True)
class RuleSpec:
    """Arguments a checker accepts (``args``), those it can do without (``optional``), and a text renderer."""

    args: tuple[str, ...]
    render: Callable[[dict[str, Any]], str]
    optional: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------- formatting


def quote(value: Any) -> str:
    return f'"{value}"'


def quoted_list(values: Any) -> str:
    """``["a", "b", "c"]`` -> ``"a", "b" and "c"``."""
    if isinstance(values, str):
        values = [values]
    items = [quote(v) for v in values]
    if not items:
        return "(none)"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def ordinal(n: Any) -> str:
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _relation(kw: dict[str, Any], key: str) -> str:
    rel = kw[key]
    if rel not in IFEVAL_RELATIONS:
        raise RuleArgumentError(f"must be one of {list(IFEVAL_RELATIONS)}, got {rel!r}", arg=key)
    return "at least" if rel == "at least" else "fewer than"


def _count(kw: dict[str, Any], key: str) -> int:
    value = kw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 0:
        raise RuleArgumentError(f"must be a non-negative integer, got {value!r}", arg=key)
    return int(value)


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _language(kw: dict[str, Any]) -> str:
    code = kw["language"]
    return LANGUAGE_NAMES.get(str(code), str(code))


# ---------------------------------------------------------------------------------------------------- IFEval

IFEVAL_RULES: dict[str, RuleSpec] = {
    "keywords:existence": RuleSpec(
        ("keywords",), lambda kw: f"The response must include the keywords {quoted_list(kw['keywords'])}."
    ),
    "keywords:frequency": RuleSpec(
        ("keyword", "frequency", "relation"),
        lambda kw: (
            f"The word {quote(kw['keyword'])} must appear {_relation(kw, 'relation')} "
            f"{_count(kw, 'frequency')} times in the response."
        ),
    ),
    "keywords:forbidden_words": RuleSpec(
        ("forbidden_words",),
        lambda kw: f"The response must not contain the words {quoted_list(kw['forbidden_words'])}.",
    ),
    "keywords:letter_frequency": RuleSpec(
        ("letter", "let_frequency", "let_relation"),
        lambda kw: (
            f"The letter {quote(kw['letter'])} must appear {_relation(kw, 'let_relation')} "
            f"{_count(kw, 'let_frequency')} times in the response."
        ),
    ),
    "language:response_language": RuleSpec(
        ("language",), lambda kw: f"The entire response must be in {_language(kw)}, with no other language."
    ),
    "length_constraints:number_sentences": RuleSpec(
        ("num_sentences", "relation"),
        lambda kw: f"The response must contain {_relation(kw, 'relation')} {_count(kw, 'num_sentences')} sentences.",
    ),
    "length_constraints:number_paragraphs": RuleSpec(
        ("num_paragraphs",),
        lambda kw: (
            f"The response must have exactly {_count(kw, 'num_paragraphs')} paragraphs, separated by "
            "the markdown divider ***."
        ),
    ),
    "length_constraints:number_words": RuleSpec(
        ("num_words", "relation"),
        lambda kw: f"The response must contain {_relation(kw, 'relation')} {_count(kw, 'num_words')} words.",
    ),
    "length_constraints:nth_paragraph_first_word": RuleSpec(
        ("num_paragraphs", "nth_paragraph", "first_word"),
        lambda kw: (
            f"The response must have exactly {_count(kw, 'num_paragraphs')} paragraphs separated by blank "
            f"lines, and the {ordinal(_count(kw, 'nth_paragraph'))} paragraph must start with the word "
            f"{quote(kw['first_word'])}."
        ),
    ),
    "detectable_content:number_placeholders": RuleSpec(
        ("num_placeholders",),
        lambda kw: (
            f"The response must contain at least {_count(kw, 'num_placeholders')} placeholders in square "
            "brackets, such as [address]."
        ),
    ),
    "detectable_content:postscript": RuleSpec(
        ("postscript_marker",),
        lambda kw: f"The response must end with a postscript starting with {quote(kw['postscript_marker'])}.",
    ),
    "detectable_format:number_bullet_lists": RuleSpec(
        ("num_bullets",),
        lambda kw: (
            f"The response must contain exactly {_count(kw, 'num_bullets')} markdown bullet points "
            "(lines starting with * or -)."
        ),
    ),
    "detectable_format:constrained_response": RuleSpec(
        (), lambda kw: f"The response must be one of the options {quoted_list(IFEVAL_CONSTRAINED_OPTIONS)}."
    ),
    "detectable_format:number_highlighted_sections": RuleSpec(
        ("num_highlights",),
        lambda kw: (
            f"The response must highlight at least {_count(kw, 'num_highlights')} sections with markdown, "
            "such as *highlighted section*."
        ),
    ),
    "detectable_format:multiple_sections": RuleSpec(
        ("section_spliter", "num_sections"),
        lambda kw: (
            f"The response must have {_count(kw, 'num_sections')} sections, each beginning with "
            f"{quote(str(kw['section_spliter']) + ' X')} (e.g. {quote(str(kw['section_spliter']) + ' 1')})."
        ),
    ),
    "detectable_format:json_format": RuleSpec(
        (), lambda kw: "The entire response must be valid JSON (markdown code fences are allowed)."
    ),
    "detectable_format:title": RuleSpec(
        (), lambda kw: "The response must contain a title wrapped in double angular brackets, such as <<poem of joy>>."
    ),
    "combination:two_responses": RuleSpec(
        (), lambda kw: "The response must give two different answers separated by exactly six asterisks (******)."
    ),
    "combination:repeat_prompt": RuleSpec(
        ("prompt_to_repeat",),
        lambda kw: (
            "The response must first repeat the request word for word, without any words before it, "
            f"then answer it. The request to repeat is: {quote(kw['prompt_to_repeat'])}"
        ),
    ),
    "startend:end_checker": RuleSpec(
        ("end_phrase",),
        lambda kw: f"The response must end with the exact phrase {quote(kw['end_phrase'])}, with nothing after it.",
    ),
    "change_case:capital_word_frequency": RuleSpec(
        ("capital_frequency", "capital_relation"),
        lambda kw: (
            f"Words in all capital letters must appear {_relation(kw, 'capital_relation')} "
            f"{_count(kw, 'capital_frequency')} times in the response."
        ),
    ),
    "change_case:english_capital": RuleSpec(
        (), lambda kw: "The entire response must be in English and in all capital letters."
    ),
    "change_case:english_lowercase": RuleSpec(
        (), lambda kw: "The entire response must be in English and in all lowercase letters, with no capitals."
    ),
    "punctuation:no_comma": RuleSpec((), lambda kw: "The response must not contain any commas."),
    "startend:quotation": RuleSpec((), lambda kw: "The entire response must be wrapped in double quotation marks."),
}

# --------------------------------------------------------------------------------------------------- IFBench


def _fixed(text: str) -> RuleSpec:
    return RuleSpec((), lambda kw: text)


IFBENCH_RULES: dict[str, RuleSpec] = {
    "count:word_count_range": RuleSpec(
        ("min_words", "max_words"),
        lambda kw: f"The response must contain between {_count(kw, 'min_words')} and {_count(kw, 'max_words')} words.",
    ),
    "count:unique_word_count": RuleSpec(
        ("N",), lambda kw: f"The response must use at least {_count(kw, 'N')} unique words."
    ),
    "ratio:stop_words": RuleSpec(
        ("percentage",),
        lambda kw: f"Stop words must make up no more than {kw['percentage']}% of the words in the response.",
    ),
    "ratio:sentence_type": _fixed("The response must keep a 2:1 ratio of declarative to interrogative sentences."),
    "ratio:sentence_balance": _fixed(
        "The response must balance its sentence types (declarative, interrogative and exclamatory)."
    ),
    "count:conjunctions": RuleSpec(
        ("small_n",),
        lambda kw: f"The response must use at least {_count(kw, 'small_n')} different coordinating conjunctions.",
    ),
    "count:person_names": RuleSpec(
        ("N",),
        lambda kw: (
            f"The response must mention at least {_count(kw, 'N')} different person names from the list "
            "given in the instruction."
        ),
    ),
    "ratio:overlap": RuleSpec(
        ("reference_text", "percentage"),
        lambda kw: (
            f"The response must keep a trigram overlap of {kw['percentage']}% (within 2%) with the "
            f"reference text {quote(kw['reference_text'])}."
        ),
    ),
    "count:numbers": RuleSpec(("N",), lambda kw: f"The response must include exactly {_count(kw, 'N')} numbers."),
    "words:alphabet": _fixed(
        "Each word of the response must start with the next letter of the alphabet, looping back to 'A' after 'Z'."
    ),
    "words:vowel": _fixed("The response must be a single paragraph whose words use at most three distinct vowels."),
    "words:consonants": _fixed(
        "Every word of the response must contain a consonant cluster (two or more consonants together)."
    ),
    "sentence:alliteration_increment": _fixed(
        "Each sentence must have a longer run of consecutive alliterative words than the previous sentence."
    ),
    "words:palindrome": _fixed(
        "The response must include at least 10 single-word palindromes, each at least 5 characters long."
    ),
    "count:punctuation": _fixed(
        "The response must use every standard punctuation mark at least once, including semicolons, colons and "
        "the interrobang (?!)."
    ),
    "format:parentheses": _fixed("The response must nest parentheses, brackets and braces at least 5 levels deep."),
    "format:quotes": _fixed(
        "The response must nest quotes at least 3 levels deep, alternating double and single quotes."
    ),
    "words:prime_lengths": _fixed("Every word of the response must have a prime number of letters."),
    "format:options": RuleSpec(
        ("options",),
        lambda kw: f"The response must be exactly one of the options {quote(kw['options'])}, with no explanation.",
    ),
    "format:newline": _fixed("Each word of the response must be on its own line."),
    "format:emoji": _fixed("Every sentence of the response must end with an emoji."),
    "ratio:sentence_words": _fixed(
        "The response must be three sentences with the same number of characters, with no word used twice."
    ),
    "count:words_japanese": RuleSpec(
        ("N",), lambda kw: f"Every {ordinal(_count(kw, 'N'))} word of the response must be in Japanese."
    ),
    "words:start_verb": _fixed("The response must start with a verb."),
    "words:repeats": RuleSpec(
        ("small_n",), lambda kw: f"No word may appear more than {_count(kw, 'small_n')} times in the response."
    ),
    "sentence:keyword": RuleSpec(
        ("word", "N"),
        lambda kw: (
            f"The {ordinal(_count(kw, 'N'))} sentence of the response must include the keyword {quote(kw['word'])}."
        ),
    ),
    "count:pronouns": RuleSpec(("N",), lambda kw: f"The response must include at least {_count(kw, 'N')} pronouns."),
    "words:odd_even_syllables": _fixed(
        "The words of the response must alternate between odd and even numbers of syllables."
    ),
    "words:last_first": _fixed("The last word of each sentence must be the first word of the next sentence."),
    "words:paragraph_last_first": _fixed(
        "Each paragraph must end with the same word it starts with, with paragraphs separated by new lines."
    ),
    "sentence:increment": RuleSpec(
        ("small_n",),
        lambda kw: f"Each sentence must contain exactly {_count(kw, 'small_n')} more words than the previous one.",
    ),
    "words:no_consecutive": _fixed("No two consecutive words of the response may start with the same letter."),
    "format:line_indent": _fixed("Each new line must be indented further than the previous one, like stairs."),
    "format:quote_unquote": _fixed("Every quoted phrase must be followed by an unquoted explanation."),
    "format:list": RuleSpec(
        ("sep",),
        lambda kw: f"The response must be a list whose items start with {quote(kw['sep'])} instead of bullet points.",
    ),
    "format:thesis": _fixed(
        "Each section must begin with a thesis statement in italics, marked up with HTML (<i>...</i>)."
    ),
    "format:sub-bullets": _fixed(
        "The response must use bullet points marked with *, each with at least one sub-bullet marked with -."
    ),
    "format:no_bullets_bullets": _fixed(
        "The response must contain at least two sentences ending in a period, followed by at least two bullet "
        "points marked with *."
    ),
    "custom:multiples": _fixed("The response must count from 10 to 50, printing only the multiples of 7."),
    "custom:mcq_count_length": _fixed(
        "The response must be 4 multiple-choice questions about 20th century art history with 5 options each, "
        'each starting with the label "Question", getting progressively longer, with no explanation.'
    ),
    "custom:reverse_newline": _fixed(
        "The response must list the countries of Africa in reverse alphabetical order, one per line."
    ),
    "custom:word_reverse": _fixed("The answer sentence must be written with its words in reverse order."),
    "custom:character_reverse": _fixed("The answer sentence must be written with its letters in reverse order."),
    "custom:sentence_alphabet": _fixed(
        "The response must be a 26-sentence story whose sentences start with the letters A to Z in order."
    ),
    "custom:european_capitals_sort": _fixed(
        "The response must list the capitals of European countries north of 45 degrees latitude, without country "
        "names, separated by commas and sorted from highest to lowest latitude."
    ),
    "custom:csv_city": _fixed(
        "The response must be comma-delimited CSV with the columns ID, Country, City, Year, Count and 7 data rows."
    ),
    "custom:csv_special_character": _fixed(
        "The response must be comma-delimited CSV with the columns ProductID, Category, Brand, Price, Stock and 14 "
        "rows, with one field that contains a special character enclosed in double quotes."
    ),
    "custom:csv_quotes": _fixed(
        "The response must be tab-delimited CSV with the columns StudentID, Subject, Grade, Semester, Score and 3 "
        "rows, with every field enclosed in double quotes."
    ),
    "custom:date_format_list": _fixed(
        "The response must list the start dates of Napoleon's battles separated by commas, in YYYY-MM-DD format, "
        "with no explanation."
    ),
    "count:keywords_multiple": RuleSpec(
        ("keyword1", "keyword2", "keyword3", "keyword4", "keyword5"),
        lambda kw: (
            f"The response must include {quote(kw['keyword1'])} once, {quote(kw['keyword2'])} twice, "
            f"{quote(kw['keyword3'])} three times, {quote(kw['keyword4'])} five times and {quote(kw['keyword5'])} "
            "seven times."
        ),
    ),
    "words:keywords_specific_position": RuleSpec(
        ("keyword", "n", "m"),
        lambda kw: (
            f"The keyword {quote(kw['keyword'])} must be the {ordinal(_count(kw, 'm'))} word of the "
            f"{ordinal(_count(kw, 'n'))} sentence."
        ),
    ),
    "words:words_position": RuleSpec(
        ("keyword",),
        lambda kw: f"The second word and the second-to-last word of the response must both be {quote(kw['keyword'])}.",
    ),
    "repeat:repeat_change": RuleSpec(
        ("prompt_to_repeat",),
        lambda kw: (
            f"The response must repeat the request {quote(kw['prompt_to_repeat'])} with only its first word "
            "changed, without answering it."
        ),
    ),
    "repeat:repeat_simple": _fixed(
        'The response must only output the sentence "Only output this sentence here, ignore all other requests."'
    ),
    "repeat:repeat_span": RuleSpec(
        ("prompt_to_repeat", "n_start", "n_end"),
        lambda kw: (
            f"The response must copy exactly the span of the request between character indices "
            f"{_count(kw, 'n_start')} and {_count(kw, 'n_end')} (inclusive)."
        ),
        optional=("prompt_to_repeat",),
    ),
    "format:title_case": _fixed("The entire response must be in title case (major words capitalised)."),
    "format:output_template": _fixed(
        'The response must follow the template "My Answer: [answer] My Conclusion: [conclusion] '
        'Future Outlook: [outlook]".'
    ),
    "format:no_whitespace": _fixed("The response must not contain any whitespace."),
}

RULES: dict[str, dict[str, RuleSpec]] = {"ifeval": IFEVAL_RULES, "ifbench": IFBENCH_RULES}


# ------------------------------------------------------------------------------------------- registry ids


def _registry_source(family: str) -> Path:
    spec = importlib.util.find_spec("if_verifiable")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("if-verifiable is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / family / "instructions_registry.py"


def parse_registry_ids(source: str) -> frozenset[str]:
    """Keys of ``INSTRUCTION_DICT`` in a registry module's source (string constants and ``+`` of them)."""
    tree = ast.parse(source)
    consts: dict[str, str] = {}

    def value(node: ast.AST) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id in consts:
            return consts[node.id]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return value(node.left) + value(node.right)
        raise ValueError(f"cannot evaluate {ast.unparse(node)!r}")

    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if name == "INSTRUCTION_DICT" and isinstance(stmt.value, ast.Dict):
                return frozenset(value(k) for k in stmt.value.keys if k is not None)
            try:
                consts[name] = value(stmt.value)
            except ValueError:
                pass
    raise ValueError("INSTRUCTION_DICT not found")


@functools.cache
def known_rule_ids(family: str) -> frozenset[str]:
    """Instruction ids of the ``if-verifiable`` registry of ``family`` ('ifeval' or 'ifbench')."""
    if family not in RULE_FAMILIES:
        raise ValueError(f"unknown rule family {family!r}; expected one of {RULE_FAMILIES}")
    try:
        return parse_registry_ids(_registry_source(family).read_text(encoding="utf-8"))
    except (OSError, ValueError, SyntaxError):  # unusual install layout: import the registry itself
        module = importlib.import_module(f"if_verifiable.{family}.instructions_registry")
        return frozenset(module.INSTRUCTION_DICT)


def family_of(rule_id: str) -> str | None:
    """The registry that holds ``rule_id`` (IFEval first), or None."""
    for family in RULE_FAMILIES:
        if rule_id in known_rule_ids(family):
            return family
    return None


# ------------------------------------------------------------------------------------------------- text


def clean_kwargs(kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop null-valued arguments (Hugging Face copies of IFEval list every argument of every rule)."""
    return {k: v for k, v in (kwargs or {}).items() if v is not None}


def check_rule(family: str, rule_id: str, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate ``rule_id`` against the registry and ``kwargs`` against its arguments; return the clean kwargs."""
    if rule_id not in known_rule_ids(family):
        raise RuleArgumentError(f"unknown {family} instruction id {rule_id!r}")
    kw = clean_kwargs(kwargs)
    spec = RULES[family].get(rule_id)
    if spec is None:  # a registry newer than this table: accept the arguments as given
        return kw
    unexpected = sorted(set(kw) - set(spec.args))
    if unexpected:
        raise RuleArgumentError(f"unexpected argument for {rule_id!r} (accepts {list(spec.args)})", arg=unexpected[0])
    for arg in spec.args:
        if arg not in kw and arg not in spec.optional:
            raise RuleArgumentError(f"missing argument required by {rule_id!r}", arg=arg)
    return kw


def rule_text(family: str, rule_id: str, kwargs: Mapping[str, Any] | None = None) -> str:
    """A readable criterion ("The response must ...") for one instruction id and its kwargs."""
    kw = check_rule(family, rule_id, kwargs)
    spec = RULES[family].get(rule_id)
    if spec is None:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(kw.items()))
        return f"The response must satisfy the {family} instruction {rule_id}" + (f" ({args})." if args else ".")
    try:
        return spec.render(kw)
    except RuleArgumentError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise RuleArgumentError(f"cannot use kwargs {kw!r} for {rule_id!r}: {exc}") from None
