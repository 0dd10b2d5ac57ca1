"""Negation-led criterion texts: detect them, turn them affirmative, and guess a pitfall's polarity.

A pitfall (``weight < 0``) in the canonical data *describes the bad behaviour*: meeting its text is bad.
Sources phrase pitfalls both ways (HealthBench: "Fails to mention that calcium is normal", -5, describes the bad
behaviour; some RaR rows: "Does not misinterpret the cystic mass as a tumor", -1, describes the good one), so:

* :func:`affirmative` rewrites a negation-led text as its affirmative ("Fails to mention X" -> "Mentions X"),
  which is what the RTT export writes for such a pitfall instead of "must NOT ... fails to ...";
* :func:`guess_polarity` is the documented heuristic of ``--pitfall-polarity auto`` for sources that declare
  nothing: a negative-weight text led by an avoidance or negation ("Does not", "Avoids", "Never", "Refrains
  from", "Correctly", ...) describes the good behaviour; everything else, including "Fails to" / "Omits" /
  "Lacks" (which name a failure), describes the bad one.
"""

from __future__ import annotations

import re
from typing import Literal

Polarity = Literal["describes-bad", "describes-good"]

_LABEL = r"(?:[A-Za-z][A-Za-z ]{0,30}criteri(?:a|on)\s*:\s*)?"  # RaR's "Pitfall Criteria: " prefix
_SUBJECT = _LABEL + r"(?P<subj>(?:the\s+)?(?:response|answer|model|assistant)\s+)?"
_IRREGULAR = {"be": "is", "have": "has", "do": "does", "go": "goes"}
# negation (lower case) -> what replaces it: "V3" conjugates the following verb, else a literal
_LEADS: tuple[tuple[str, str], ...] = (
    (r"does\s+not|doesn't|doesnt|do\s+not|don't|did\s+not|didn't|fails?\s+to|failed\s+to|neglects?\s+to|never", "V3"),
    (r"is\s+not|isn't", "is"),
    (r"are\s+not|aren't", "are"),
    (r"was\s+not|wasn't", "was"),
    (r"has\s+not|hasn't|have\s+not|haven't", "has"),
    (r"cannot|can\s+not|can't", "can"),
    (r"should\s+not|shouldn't", "should"),
    (r"will\s+not|won't", "will"),
    (r"must\s+not|mustn't", "must"),
    (r"lacks|omits|no", "includes"),
    (r"without", "with"),
    (r"not", ""),
)
_LEAD_RE = re.compile(
    rf"^\s*{_SUBJECT}(?P<neg>{'|'.join(f'(?:{p})' for p, _ in _LEADS)})\b\s*(?P<rest>.*)$", re.I | re.S
)
_GOOD_LEAD = re.compile(
    rf"^\s*{_SUBJECT}(?:does\s+not|doesn't|do\s+not|don't|avoids?|avoiding|never|refrains?\s+from|is\s+not|isn't|"
    r"correctly|accurately|appropriately|properly|clearly\s+avoids|without)\b",
    re.I,
)


def third_person(verb: str) -> str:
    """``mention`` -> ``mentions``, ``address`` -> ``addresses``, ``clarify`` -> ``clarifies``, ``be`` -> ``is``
    (a verb already ending in a single ``s`` is taken as conjugated)."""
    low = verb.lower()
    if low in _IRREGULAR:
        out = _IRREGULAR[low]
    elif low.endswith("s") and not low.endswith(("ss", "us", "is")):
        out = low
    elif low.endswith(("ss", "sh", "ch", "x", "z", "o")):
        out = low + "es"
    elif len(low) > 1 and low.endswith("y") and low[-2] not in "aeiou":
        out = low[:-1] + "ies"
    else:
        out = low + "s"
    return out.capitalize() if verb[:1].isupper() else out


def starts_negated(text: str) -> bool:
    """Whether the criterion is led by a negation ("Does not ...", "Fails to ...", "Never ...", "No ...")."""
    return _LEAD_RE.match(text) is not None


def affirmative(text: str) -> str | None:
    """The affirmative of a negation-led criterion (None when ``text`` is not negation-led); a leading
    "... Criteria:" label is dropped.

    >>> affirmative("Fails to mention that calcium is normal.")
    'Mentions that calcium is normal.'
    >>> affirmative("The response does not clarify the dose.")
    'The response clarifies the dose.'
    """
    m = _LEAD_RE.match(text)
    if m is None:
        return None
    neg = re.sub(r"\s+", " ", m.group("neg").lower())
    rest, subj = m.group("rest").strip(), m.group("subj") or ""
    repl = next(r for p, r in _LEADS if re.fullmatch(p, neg, re.I))
    if repl == "V3":
        if not rest:
            return None
        verb, _, tail = rest.partition(" ")
        body = third_person(verb) + (" " + tail if tail else "")
    else:
        body = f"{repl} {rest}".strip() if repl else rest
    if not body:
        return None
    if subj:
        return subj.strip()[:1].upper() + subj.strip()[1:] + " " + body[:1].lower() + body[1:]
    return body[:1].upper() + body[1:]


def guess_polarity(text: str) -> Polarity:
    """The ``auto`` heuristic for a negative-weight criterion whose source declares no polarity (see module doc)."""
    return "describes-good" if _GOOD_LEAD.match(text) else "describes-bad"
