"""Content rubrics without a strong LLM: a sentence-level minimal negative for LLM-judged criteria
("mentions X", "gives an example").

The sentence(s) that carry the criterion are dropped from the response. Candidates are ranked by MiniLM
embedding similarity to the criterion (lexical overlap when the encoder is not installed, or with
``content_match="lexical"``). With a judge, the judge chooses: the best-ranked candidate whose removal the judge
says breaks the criterion, on a response the judge says satisfies it (``verification="judge"``). Without one the
top candidate is used and the pair is ``verification="unverified"``: it may train, never score test metrics.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

from discriminator.data import patch as patch_ops

MAX_JUDGED = 3  # candidate sentences the judge is asked about, best-ranked first


def rank_sentences(criterion: str, text: str, method: str = "minilm") -> list[tuple[int, int]]:
    """Sentence spans of ``text``, the one most related to ``criterion`` first."""
    sents = [u for u in patch_ops.sentences(text) if re.search(r"\w", text[u[0]:u[1]])]
    if len(sents) < 2:  # dropping the only sentence is not a minimal modification
        return []
    scores = None
    if method == "minilm":
        scores = _minilm_scores(criterion, [text[s:e] for s, e in sents])
    if scores is None:
        scores = [_lexical(criterion, text[s:e]) for s, e in sents]
    order = sorted(range(len(sents)), key=lambda i: (-scores[i], i))
    return [sents[i] for i in order]


_STOP = frozenset("a an the of to in on and or for with that this is are be it as at by from your you response "
                  "should must include includes mention mentions answer".split())


def _lexical(criterion: str, sentence: str) -> float:
    words = lambda t: {w for w in re.findall(r"[a-z0-9]+", t.lower()) if w not in _STOP and len(w) > 2}  # noqa: E731
    c, s = words(criterion), words(sentence)
    stems = lambda ws: {w[:5] for w in ws}  # noqa: E731
    return len(stems(c) & stems(s)) / (len(c) or 1)


_ENCODER_LOCK = threading.Lock()


def _encoder() -> Any:
    """The MiniLM encoder, loaded once per process. Prefect runs data batches in threads, and two concurrent
    ``from_pretrained`` calls are not safe in transformers 5 (each swaps ``PreTrainedModel.tie_weights`` /
    ``init_weights`` for no-ops and restores what it saw, so interleaved calls can leave the no-ops installed
    for the whole process): the first call loads under a lock, the others wait for it."""
    with _ENCODER_LOCK:
        return _load_encoder()


@functools.lru_cache(maxsize=1)
def _load_encoder() -> Any:
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from discriminator.config import default_backbone

        path = default_backbone()
        return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval(), torch
    except Exception:  # noqa: BLE001 - no encoder installed: lexical ranking
        return None


def _minilm_scores(criterion: str, sentences: list[str]) -> list[float] | None:
    enc = _encoder()
    if enc is None:
        return None
    tok, model, torch = enc
    with torch.inference_mode():
        batch = tok([criterion, *sentences], padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)  # (1+S, H)
    return (emb[1:] @ emb[0]).tolist()


def content_record(item: Any, rubric: Any, response: str, config: Any, *, judge: Any = None,
                   common: dict[str, Any]) -> Any:
    """A (response, response minus the criterion's sentence) record for an LLM-judged rubric."""
    from discriminator.data.records import PairRecord

    ranked = rank_sentences(rubric.text, response, getattr(config, "content_match", "minilm"))
    if not ranked:
        return PairRecord(**common, status="unsupported", reason="content rubric: fewer than two sentences")
    drops = [(s, e, patch_ops.delete([patch_ops.sentence_with_space(response, (s, e))])) for s, e in ranked]
    if judge is None:
        s, e, patch = drops[0]
        return _record(item, rubric, response, patch, config, common, "unverified")
    from rubrics.judge import JudgeRequest

    cands = drops[:MAX_JUDGED]
    reqs = [JudgeRequest(item=item, rubric=rubric, response=response)]
    reqs += [JudgeRequest(item=item, rubric=rubric, response=p.apply(response)) for _, _, p in cands]
    verdicts = judge.judge(reqs)
    if any(v.error for v in verdicts):  # an outage is not a verdict: nothing recorded as verified
        err = next(v.error for v in verdicts if v.error)
        return PairRecord(**common, status="rejected", reason=f"judge failed: {err}"[:200])
    if verdicts[0].satisfied is not True:
        return PairRecord(**common, status="unsupported", reason="content rubric: the judge says the response "
                                                                 "does not satisfy it", positive=response)
    for (_, _, patch), v in zip(cands, verdicts[1:]):
        if v.satisfied is False:
            return _record(item, rubric, response, patch, config, common, "judge")
    return PairRecord(**common, status="rejected", reason="content rubric: no single-sentence drop broke it "
                                                          "(judge)", positive=response)


def _record(item, rubric, response, patch, config, common, verification):
    from discriminator.data.diff_labels import spans_from_opcodes
    from discriminator.data.records import PairRecord

    negative = patch.apply(response)
    pos_spans, neg_spans = spans_from_opcodes(response, negative, patch.opcodes(response), config.spans)
    status = "accepted" if pos_spans or neg_spans else "rejected"
    return PairRecord(**common, status=status, reason="" if status == "accepted" else "no changed characters",
                      positive=response, negative=negative, positive_spans=pos_spans, negative_spans=neg_spans,
                      label_source="program", verification=verification, edit="break",
                      note="content: sentence dropped")
