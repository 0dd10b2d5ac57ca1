"""Vocabulary-agnostic projection of relevance between tokenizations, through character offsets (torch-free).

The discriminator scores its own tokens. To serve a policy with another vocabulary:

1. ``tokens_to_chars``: every character gets the score of the discriminator token(s) covering it (the max
   where several tokens cover one character, e.g. byte-level pieces of one emoji). Characters no token covers
   (whitespace a BERT pre-tokenizer drops) are NaN.
2. ``chars_to_tokens``: a policy token's relevance is the ``max`` (default) or ``mean`` of its characters'
   scores, NaN characters ignored; a token with no scored character (zero width, special, or whitespace only)
   gets 0.

``max`` keeps a relevant word relevant however the policy splits it; ``mean`` dilutes tokens that straddle a
span boundary. With the same tokenizer on both sides (and canonical ids) the projection returns each token's
own score exactly; the only boundary effect is a character split over several byte-level tokens, whose
pieces all receive the max of their scores.

``policy_offsets`` recovers character offsets of (possibly non-canonical) generated ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

Reduce = str  # "max" | "mean"


def _gather(offsets: np.ndarray, n_chars: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Character index of every (token, char) pair, the token index of each, and the clipped lengths."""
    offs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    s = np.clip(offs[:, 0], 0, n_chars)
    e = np.clip(offs[:, 1], 0, n_chars)
    lengths = np.maximum(e - s, 0)
    total = int(lengths.sum())
    tok = np.repeat(np.arange(len(offs)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = np.repeat(s, lengths) + (np.arange(total) - first)
    return idx, tok, lengths


def tokens_to_chars(
    offsets: Sequence[tuple[int, int]] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    n_chars: int,
    fill: float = np.nan,
) -> np.ndarray:
    """Per-character scores (float32, length ``n_chars``): the max over tokens covering each character."""
    out = np.full(n_chars, -np.inf, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if len(scores) and n_chars:
        idx, tok, _ = _gather(offsets, n_chars)
        np.maximum.at(out, idx, scores[tok])
    out[np.isneginf(out)] = fill
    return out


def chars_to_tokens(
    char_scores: np.ndarray, offsets: Sequence[tuple[int, int]] | np.ndarray, reduce: Reduce = "max"
) -> np.ndarray:
    """Per-token scores from per-character scores (NaN ignored; tokens without a scored character get 0)."""
    if reduce not in ("max", "mean"):
        raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")
    char_scores = np.asarray(char_scores, dtype=np.float32)
    n_tok = len(offsets)
    out = np.zeros(n_tok, dtype=np.float32)
    if n_tok == 0 or len(char_scores) == 0:
        return out
    idx, _, lengths = _gather(offsets, len(char_scores))
    nonempty = lengths > 0
    if not nonempty.any():
        return out
    vals = char_scores[idx]
    starts = (np.cumsum(lengths) - lengths)[nonempty]
    if reduce == "max":
        red = np.fmax.reduceat(vals, starts)
        out[nonempty] = np.nan_to_num(red, nan=0.0)
    else:
        valid = ~np.isnan(vals)
        sums = np.add.reduceat(np.where(valid, vals, 0.0), starts)
        counts = np.add.reduceat(valid.astype(np.float32), starts)
        out[nonempty] = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return out


# -- tokenizer helpers --------------------------------------------------------------------------------------------
_FINGERPRINTS: dict[int, tuple[object, int, str]] = {}


def absorb_combining_marks(offsets: Sequence[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Extend each token's character span over the combining marks (Unicode category M*) right after it that no
    token covers: tokenizers that strip accents (BERT uncased) map ``e\u0301`` to the token of ``e`` with an
    offset that ends before the accent, which would leave the accent outside every span."""
    import unicodedata

    out = [(int(s), int(e)) for s, e in offsets]
    n = len(text)
    for i, (s, e) in enumerate(out):
        if e <= s:
            continue
        limit = out[i + 1][0] if i + 1 < len(out) and out[i + 1][1] > out[i + 1][0] else n
        while e < min(limit, n) and unicodedata.category(text[e]).startswith("M"):
            e += 1
        out[i] = (s, e)
    return out


def vocab_fingerprint(tokenizer) -> str:
    """A hash of the token -> id mapping: equal fingerprints mean ids can be fed across tokenizers unchanged."""
    key = id(tokenizer)
    hit = _FINGERPRINTS.get(key)
    if hit is not None and hit[0] is tokenizer and hit[1] == len(tokenizer):
        return hit[2]
    vocab = tokenizer.get_vocab()
    digest = hashlib.sha256(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode()).hexdigest()
    if len(_FINGERPRINTS) > 64:
        _FINGERPRINTS.clear()
    _FINGERPRINTS[key] = (tokenizer, len(tokenizer), digest)
    return digest


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode`` (the byte-level BPE alphabet)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _is_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    dec = getattr(backend, "decoder", None)
    return dec is not None and "ByteLevel" in type(dec).__name__ + repr(dec)[:40]


def _byte_level_offsets(tokenizer, ids: Sequence[int], text: str) -> list[tuple[int, int]] | None:
    bdec = _byte_decoder()
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    pieces = tokenizer.convert_ids_to_tokens(list(ids))
    nbytes = []
    for tid, piece in zip(ids, pieces):
        at = added.get(int(tid))
        if at is not None:
            nbytes.append(0 if at.special else len(at.content.encode("utf-8")))
        elif piece is None or any(ch not in bdec for ch in piece):
            return None
        else:
            nbytes.append(len(piece))
    raw = text.encode("utf-8")
    if sum(nbytes) != len(raw):
        return None
    char_of_byte = np.repeat(np.arange(len(text)), [len(c.encode("utf-8")) for c in text])
    out, b = [], 0
    for n in nbytes:
        if n == 0:
            c = int(char_of_byte[b]) if b < len(raw) else len(text)
            out.append((c, c))
        else:
            out.append((int(char_of_byte[b]), int(char_of_byte[b + n - 1]) + 1))
        b += n
    return out


def _windowed_decode_offsets(tokenizer, ids: Sequence[int], text: str, window: int = 8) -> list[tuple[int, int]]:
    """Offsets from the text each token adds when decoded after up to ``window`` tokens of left context."""
    ids = list(ids)
    out, pos = [], 0
    for i in range(len(ids)):
        lo = max(0, i - window)
        prev = tokenizer.decode(ids[lo:i], skip_special_tokens=True) if i > lo else ""
        cur = tokenizer.decode(ids[lo : i + 1], skip_special_tokens=True)
        n = max(0, len(cur) - len(prev))
        out.append((min(pos, len(text)), min(pos + n, len(text))))
        pos += n
    return out


def policy_offsets(tokenizer, ids: Sequence[int], text: str) -> list[tuple[int, int]]:
    """Character offsets into ``text`` of the policy tokens ``ids`` (``text`` = the decoded response).

    Canonical ids reuse the tokenizer's own offset mapping; otherwise byte-level BPE ids are aligned exactly
    through their bytes, and anything else through incremental decoding with a short left context.
    """
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if list(enc["input_ids"]) == list(ids):
        return [tuple(o) for o in enc["offset_mapping"]]
    if _is_byte_level(tokenizer):
        offs = _byte_level_offsets(tokenizer, ids, text)
        if offs is not None:
            return offs
    return _windowed_decode_offsets(tokenizer, ids, text)
