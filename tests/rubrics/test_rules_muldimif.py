"""MulDimIF constraint parsing (verifier_for) and checkers (rubrics.rules.muldimif)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rubrics.rules import RuleArgumentError, UnsupportedRule, check
from rubrics.rules.muldimif import parse_number, route, verifier_for
from rubrics.schema import RuleVerifier

COVERAGE_FLOOR = 0.93  # measured 0.953 of the 4,180 constraints of the 1,200 test items
FAMILY_FLOOR = 0.85


def M(rule_id: str, **kwargs) -> RuleVerifier:
    return RuleVerifier(family="muldimif", rule_id=rule_id, kwargs=kwargs)


def test_coverage_of_the_muldimif_test_set(muldimif_path):
    data = json.loads(muldimif_path.read_text())
    total, ruled, by_rule = Counter(), Counter(), Counter()
    items_all_rules = 0
    for item in data:
        every = True
        for category, sub, text in item["constraints"]:
            key = f"{category}/{sub}"
            total[key] += 1
            v = verifier_for(category, sub, text)
            if v is not None:
                ruled[key] += 1
                by_rule[v.rule_id] += 1
                assert v.family == "muldimif"
                check(v, "A short response.")  # every parsed rule builds and runs
            every &= v is not None
        items_all_rules += every
    n, k = sum(total.values()), sum(ruled.values())
    print(
        f"\nMulDimIF rule coverage: {k}/{n} constraints = {k / n:.3f}; "
        f"{items_all_rules}/{len(data)} items fully rule-checkable"
    )
    for key, cnt in total.most_common():
        print(f"  {ruled[key]:4d}/{cnt:4d} {ruled[key] / cnt:6.1%}  {key}")
    print("  rules used:", dict(by_rule.most_common()))
    assert len(data) == 1200 and n == 4180
    assert k / n >= COVERAGE_FLOOR
    for key, cnt in total.items():
        if cnt >= 100:
            assert ruled[key] / cnt >= FAMILY_FLOOR, key


@pytest.mark.parametrize(
    ("category", "sub", "text", "rule_id", "kwargs"),
    [
        (
            "Length",
            "Words",
            "The response must contain at most 150 words",
            "Length/Words",
            {"relation": "at most", "num": 150},
        ),
        (
            "Length",
            "Words",
            "please ensure it is concise, not exceeding 100 words",
            "Length/Words",
            {"relation": "at most", "num": 100},
        ),
        (
            "Length",
            "Words: Range",
            "The answer must be between 50 to 100 words",
            "Length/Words",
            {"relation": "between", "min": 50, "max": 100},
        ),
        ("Length", "Words", "at least one hundred words long", "Length/Words", {"relation": "at least", "num": 100}),
        (
            "Length",
            "Sentences",
            "should be structured into at least five sentences",
            "Length/Sentences",
            {"relation": "at least", "num": 5},
        ),
        ("Length", "Sentences", "remains a single sentence", "Length/Sentences", {"relation": "exactly", "num": 1}),
        (
            "Length",
            "Paragraphs",
            "The note must contain between 3 to 5 paragraphs",
            "Length/Paragraphs",
            {"relation": "between", "min": 3, "max": 5},
        ),
        (
            "Length",
            "Paragraphs",
            "The response must be at most one paragraph long",
            "Length/Paragraphs",
            {"relation": "at most", "num": 1},
        ),
        (
            "Content",
            "Keywords",
            "The answer must include the keywords 'Ceylon', 'sessional papers', and 'government'",
            "Content/Keywords",
            {"keywords": ["Ceylon", "sessional papers", "government"]},
        ),
        (
            "Content",
            "Keywords: Must include",
            "Must include the keyword 'St. Joseph's Island.'",
            "Content/Keywords",
            {"keywords": ["St. Joseph's Island"]},
        ),
        (
            "Content",
            "Keywords",
            "Must include the keyword 'data' in each sentence",
            "Content/Keywords",
            {"keywords": ["data"], "scope": "sentences"},
        ),
        (
            "Content",
            "Keywords",
            "The answer must not include the word 'very'",
            "Content/Keywords",
            {"keywords": ["very"], "mode": "none"},
        ),
        (
            "Content",
            "Punctuation",
            "The script should end with an exclamation mark",
            "Content/Punctuation",
            {"mark": "!"},
        ),
        (
            "Content",
            "Punctuation",
            "ensure that each sentence ends with a period or a question mark",
            "Content/Punctuation",
            {"mark": [".", "?"], "scope": "sentences"},
        ),
        (
            "Language",
            "English",
            "The answer must use capitalized letters for each word",
            "Language/English",
            {"case": "title", "scope": "all"},
        ),
        (
            "Language",
            "English: All Uppercase",
            "The answer must be written entirely in uppercase letters.",
            "Language/English",
            {"case": "upper", "scope": "all"},
        ),
        (
            "Language",
            "English",
            "Each word in the table entries must be capitalized.",
            "Language/English",
            {"case": "title", "scope": "table"},
        ),
        (
            "Language",
            "Chinese",
            "The answer must be provided in Simplified Chinese.",
            "Language/Chinese",
            {"script": "simplified"},
        ),
        ("Language", "Chinese: Traditional", "確保使用繁體中文書寫", "Language/Chinese", {"script": "traditional"}),
        (
            "Format",
            "Table",
            "If a table is used, it must not exceed 3 rows.",
            "Format/Table",
            {"rows": {"relation": "at most", "num": 3}, "optional": True},
        ),
        (
            "Table",
            "Column limit",
            "The table should consist of exactly 2 columns: one for the word",
            "Format/Table",
            {"cols": {"relation": "exactly", "num": 2}, "optional": False},
        ),
        (
            "Format",
            "Table",
            "If you include any tabular data, ensure that it does not exceed three rows and two columns",
            "Format/Table",
            {"rows": {"relation": "at most", "num": 3}, "cols": {"relation": "at most", "num": 2}, "optional": True},
        ),
        (
            "Length",
            "Words",
            "Each cell in the table must contain at most 10 words",
            "Format/Table",
            {"cell_words": {"relation": "at most", "num": 10}, "optional": False},
        ),
        (
            "Format",
            "Markdown",
            "The answer must include at least two heading levels",
            "Format/Markdown",
            {"levels": {"relation": "at least", "num": 2}, "min_headings": 1},
        ),
        (
            "Format",
            "Markdown",
            "Use exactly three heading levels: # for main sections, ## for subsections, and ### for sub-subsections",
            "Format/Markdown",
            {"levels": {"relation": "exactly", "num": 3}, "require_levels": [1, 2, 3], "min_headings": 1},
        ),
        (
            "Markdown",
            "Heading levels",
            "Any headings used in the answer must not exceed level 2",
            "Format/Markdown",
            {"max_level": 2},
        ),
        (
            "Format",
            "Markdown",
            "The summary must start with a level 2 heading in Markdown format",
            "Format/Markdown",
            {"require_levels": [2], "first_heading_level": 2, "min_headings": 1},
        ),
        (
            "Markdown",
            "Block quotes",
            "Use block quotes to highlight key points about the currents.",
            "Format/Markdown",
            {"blockquote": True},
        ),
        (
            "Json",
            "Object nesting levels",
            "Object nesting levels must not exceed 3",
            "Format/Json",
            {"depth": {"relation": "at most", "num": 3}},
        ),
        (
            "Format",
            "Json",
            "The answer must include a JSON object with at least two levels of nesting",
            "Format/Json",
            {"depth": {"relation": "at least", "num": 2}},
        ),
        (
            "XML",
            "Number of attributes",
            "Each XML element must have no more than three attributes",
            "Format/XML",
            {"attributes": {"relation": "at most", "num": 3}, "optional": False},
        ),
        (
            "Content",
            "Identifiers",
            "The answer must start with the identifier 'List of Models:'",
            "Content/Identifiers",
            {"prefix": "List of Models"},
        ),
        ("Format", "Text", "No bullet points", "Format/Text", {"no_bullets": True}),
    ],
)
def test_parse(category, sub, text, rule_id, kwargs):
    v = verifier_for(category, sub, text)
    assert v is not None, text
    assert (v.rule_id, v.kwargs) == (rule_id, kwargs)


@pytest.mark.parametrize(
    ("category", "sub", "text"),
    [
        ("Length", "Sentences", "Each row should be detailed, containing at least 2 sentences"),
        ("Length", "Sentences", "provide no more than five references in total"),
        ("Content", "Punctuation", "Each epoch description must end with a period"),
        ("Content", "Punctuation", "to maintain a formal tone, the digital essay should avoid using exclamation marks"),
        ("Format", "Markdown", "The answer must use a level 2 heading for each partnership"),
        ("Content", "Keywords", "each Dream Explanation must include the word 'imagination'"),
        ("Language", "English", "It is important that each expression and its explanation are capitalized"),
        ("Table", "Row limit", "The list must include no more than 5 allotropic modifications"),
        ("Format", "Blurb", "the response should be concise, resembling a short blurb"),
        ("Content", "Identifiers", "The name of the showroom must start with the letter 'P'."),
        ("Other", "Thing", "anything at all"),
    ],
)
def test_unparseable_or_scoped_constraints_are_left_to_the_llm(category, sub, text):
    assert verifier_for(category, sub, text) is None


def test_numbers_and_routes():
    assert [parse_number(s) for s in ("150", "1,500", "three", "twenty-five", "a single", "dozen", "x")] == [
        150,
        1500,
        3,
        25,
        1,
        12,
        None,
    ]
    assert route("Format", "Table: Row limit") == "Format/Table"
    assert route("Length", "Words: At most") == "Length/Words"
    assert route("Language", "English: Capitalized") == "Language/English"
    assert route("Format", "Blurb") is None


TABLE3 = "| A | B |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n| 5 | 6 |"


@pytest.mark.parametrize(
    ("rule_id", "kwargs", "good", "bad"),
    [
        (
            "Length/Words",
            {"relation": "at most", "num": 5},
            "## One two three four five",
            "one two three four five six",
        ),
        ("Length/Words", {"relation": "between", "min": 2, "max": 3}, "two words", "one"),
        ("Length/Sentences", {"relation": "at least", "num": 3}, "One. Two! Three?\n\n# Not a sentence", "One. Two."),
        ("Length/Sentences", {"relation": "exactly", "num": 1}, "- Just one sentence here.", "One. Two."),
        (
            "Length/Paragraphs",
            {"relation": "exactly", "num": 2},
            "# T\n\nFirst para.\n\nSecond para.",
            "Only one paragraph.",
        ),
        (
            "Content/Keywords",
            {"keywords": ["graph theory", "Euler"]},
            "Graph\ntheory began with euler.",
            "Graphs and Euler.",
        ),
        ("Content/Keywords", {"keywords": ["cat"], "min_count": 2}, "cat and cat", "cat and category"),
        ("Content/Keywords", {"keywords": ["very"], "mode": "none"}, "It is good.", "It is very good."),
        ("Content/Keywords", {"keywords": ["a", "b"], "mode": "any"}, "only b here", "neither here"),
        ("Content/Keywords", {"keywords": ["data"], "scope": "sentences"}, "Data one. More data.", "Data one. None."),
        ("Content/Punctuation", {"mark": "."}, 'It ends well."', "It ends well!"),
        ("Content/Punctuation", {"mark": "!", "scope": "sentences"}, "Go! Run!", "Go! Run."),
        ("Content/Punctuation", {"mark": ".", "scope": "paragraphs"}, "A.\n\nB.", "A.\n\nB"),
        ("Content/Identifiers", {"prefix": "List of Models"}, "## List of Models: x", "Models list"),
        ("Language/English", {"case": "title"}, "Hello World (Of) 3rd Time", "Hello world"),
        ("Language/English", {"case": "upper"}, "HELLO WORLD 42", "HELLO World"),
        ("Language/English", {"case": "lower"}, "hello world", "Hello world"),
        (
            "Language/English",
            {"case": "title", "scope": "table"},
            "intro text\n| Name | Age |\n|---|---|\n| Bo | Ten |",
            "| Name | age |\n|---|---|\n| Bo | Ten |",
        ),
        ("Language/Chinese", {"script": "simplified"}, "这是一个简单的回答。", "這是一個簡單的回答。"),
        ("Language/Chinese", {"script": "traditional"}, "這是一個簡單的回答。", "This is English."),
        (
            "Format/Table",
            {"rows": {"relation": "at most", "num": 3}, "optional": True},
            "No table at all.",
            TABLE3 + "\n| 7 | 8 |",
        ),
        ("Format/Table", {"rows": {"relation": "exactly", "num": 3}}, TABLE3, "No table at all."),
        (
            "Format/Table",
            {"cols": {"relation": "exactly", "num": 2}},
            TABLE3,
            "| A | B | C |\n|---|---|---|\n| 1 | 2 | 3 |",
        ),
        (
            "Format/Table",
            {"cell_words": {"relation": "at most", "num": 2}},
            TABLE3,
            "| A | B |\n|---|---|\n| one two three | x |",
        ),
        (
            "Format/Markdown",
            {"levels": {"relation": "at least", "num": 2}, "min_headings": 1},
            "# A\n## B\ntext",
            "# A\n# B\n```\n## not a heading\n```",
        ),
        (
            "Format/Markdown",
            {"require_levels": [2], "first_heading_level": 2, "min_headings": 1},
            "## Title\ntext",
            "text\n## Title",
        ),
        ("Format/Markdown", {"max_level": 2}, "# A\n## B", "### C"),
        ("Format/Markdown", {"blockquote": True}, "> quoted", "not quoted"),
        (
            "Format/Json",
            {"depth": {"relation": "at least", "num": 2}},
            'Here:\n```json\n{"a": {"b": 1}}\n```',
            '{"a": 1}',
        ),
        ("Format/Json", {"depth": {"relation": "at most", "num": 2}}, 'x {"a": [1, 2]} y', '{"a": {"b": {"c": 1}}}'),
        (
            "Format/XML",
            {"attributes": {"relation": "at most", "num": 2}},
            '<a x="1" y="2"><b z="3"/></a>',
            '<a x="1" y="2" z="3"/>',
        ),
        ("Format/XML", {"attributes": {"relation": "at least", "num": 2}, "optional": True}, "no xml", '<a x="1"/>'),
        ("Format/Text", {"no_bullets": True}, "Plain prose. 3 - 2 = 1.", "Items:\n- one\n- two"),
    ],
)
def test_checkers(rule_id, kwargs, good, bad):
    v = M(rule_id, **kwargs)
    assert check(v, good), good
    assert not check(v, bad), bad


def test_loose_mode_applies_to_muldimif_rules():
    v = M("Content/Punctuation", mark=".")
    assert not check(v, "The answer ends here.\n**Hope this helps**")
    assert check(v, "The answer ends here.\n**Hope this helps**", loose=True)
    assert not check(v, "") and not check(v, "  ", loose=True)


def test_bad_kwargs_and_unknown_rules():
    with pytest.raises(RuleArgumentError, match="relation"):
        check(M("Length/Words", relation="roughly", num=3), "x")
    with pytest.raises(RuleArgumentError, match="min"):
        check(M("Length/Words", relation="between", min=5, max=2), "x")
    with pytest.raises(RuleArgumentError, match="Markdown"):
        check(M("Format/Markdown"), "x")
    with pytest.raises(UnsupportedRule, match="Format/Poem"):
        check(M("Format/Poem"), "x")
