"""Letter case made visible to an uncased (lowercasing) tokenizer, inside the tokenizer itself.

An uncased encoder such as the bundled MiniLM-L6 lowercases its input, so ``Blue``, ``BLUE`` and ``blue`` give the
same tokens: a discriminator on it cannot see which words break "use all capital letters" or "capitalise each
word" (MulDimIF ``Language/English``, IFEval ``change_case:*``). :func:`add_case_markers` puts a marker token in
front of every capitalised word (``^``) and every upper-case run (``^^``) with normalizer rules of the fast
tokenizer, before its own lowercasing::

    "The output must be BLUE"  ->  "^ the output must be ^^ blue"

The markers are ordinary vocabulary tokens (``^``) and their character offsets point at the word's first letter,
so span labels project onto them exactly like onto the word. The rules live in ``tokenizer.json``, and the saved
tokenizer is a plain ``PreTrainedTokenizerFast``: ``AutoTokenizer.from_pretrained`` on a trained or exported
discriminator reproduces the same tokens with no code of ours (a ``BertTokenizer`` class would rebuild its
normalizer from the vocabulary and drop the rules). Only ASCII letters are marked.
"""

from __future__ import annotations

import json
import string
from typing import Any, Literal

CaseMarkers = Literal["auto", "on", "off"]
MARK_WORD = "^"  # before a capitalised word ("Blue")
MARK_RUN = "^^"  # before a word that starts with two or more capitals ("BLUE", "OK")
_SPECIALS = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token", "bos_token", "eos_token")


def _normalizer_state(tokenizer: Any) -> dict:
    norm = tokenizer.backend_tokenizer.normalizer
    return json.loads(norm.__getstate__()) if norm is not None else {}


def _walk(state: dict):
    yield state
    for child in state.get("normalizers", []) or []:
        yield from _walk(child)


def lowercases(tokenizer: Any) -> bool:
    """True when the fast tokenizer's normalizer lowercases (BERT uncased, MiniLM): case is invisible to it."""
    if not getattr(tokenizer, "is_fast", False):
        return False
    return any(
        s.get("type") == "Lowercase" or (s.get("type") == "BertNormalizer" and s.get("lowercase"))
        for s in _walk(_normalizer_state(tokenizer))
    )


def has_case_markers(tokenizer: Any) -> bool:
    """True when :func:`add_case_markers` rules are already in the tokenizer (e.g. a trained discriminator)."""
    if not getattr(tokenizer, "is_fast", False):
        return False
    return any(
        s.get("type") == "Replace" and str(s.get("content", "")).startswith(MARK_WORD + " ")
        for s in _walk(_normalizer_state(tokenizer))
    )


def _has_marker_token(tokenizer: Any) -> bool:
    return tokenizer.convert_tokens_to_ids(MARK_WORD) not in (None, tokenizer.unk_token_id)


def wants_case_markers(tokenizer: Any, mode: CaseMarkers) -> bool:
    """Whether ``mode`` asks for markers on this tokenizer.

    ``auto``: only when it lowercases and its vocabulary has the ``^`` token (else it stays as it is); ``on``:
    always (an error when the tokenizer cannot carry them); ``off``: never.
    """
    if mode == "off":
        return False
    if mode == "on":
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("case_markers: 'on' needs a fast (tokenizers-backed) tokenizer")
        return True
    return lowercases(tokenizer) and _has_marker_token(tokenizer)


def add_case_markers(tokenizer: Any) -> Any:
    """A copy of the fast ``tokenizer`` whose normalizer marks capitalised words and upper-case runs (see above).

    Idempotent: a tokenizer that already carries the rules is returned as is. The result is a
    ``PreTrainedTokenizerFast`` with the same vocabulary, special tokens, post-processor and length limit.
    """
    from tokenizers import Regex, Tokenizer, normalizers
    from transformers import PreTrainedTokenizerFast

    if has_case_markers(tokenizer):
        return tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("case markers need a fast (tokenizers-backed) tokenizer")
    if not _has_marker_token(tokenizer):
        raise ValueError(f"case markers: the vocabulary has no {MARK_WORD!r} token")
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    rules = []
    for upper in string.ascii_uppercase:
        lower = upper.lower()
        # the first letter of a word (no ASCII letter before it) that another capital follows: an upper-case run
        rules.append(normalizers.Replace(Regex(rf"(?<![A-Za-z]){upper}(?=[A-Z])"), f"{MARK_RUN} {lower}"))
        rules.append(normalizers.Replace(Regex(rf"(?<![A-Za-z]){upper}"), f"{MARK_WORD} {lower}"))
    if backend.normalizer is not None:
        rules.append(backend.normalizer)
    backend.normalizer = normalizers.Sequence(rules)
    specials = {name: getattr(tokenizer, name) for name in _SPECIALS if getattr(tokenizer, name, None) is not None}
    out = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        model_max_length=tokenizer.model_max_length,
        padding_side=tokenizer.padding_side,
        **specials,
    )
    if getattr(tokenizer, "chat_template", None):
        out.chat_template = tokenizer.chat_template
    return out
