"""Writers and readers of rubric datasets.

* canonical Parquet (one row per :class:`RubricItem`, nested ``messages`` / ``rubrics``; free-form dicts --
  verifier kwargs and ``meta`` -- as JSON strings) and JSONL; reading either gives back equal items;
* the RTT paper's JSONL (``messages``, ``prompt``, ``rubrics`` as criterion strings, ``source`` type1..type4,
  ``ground_truth`` JSON string), the rows its public training code loads (see :mod:`rubrics.importers.rtt`).

All writes are atomic (:mod:`rubrics.io`). Parquet tables are built column by column from the models' attributes
(no per-row ``model_dump``), which is what makes writing fast (``benchmarks/bench_rubrics.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from rubrics.io import RecordError, atomic_open, atomic_path, iter_jsonl
from rubrics.negation import affirmative
from rubrics.schema import RubricItem, RuleVerifier, validation_error_field

PitfallMode = Literal["negate", "drop", "keep"]
# IFEval rules whose open-instruct checker (used by the RTT code for type1) takes a quantifier
# ("at least" / "at most" / "around") instead of IFEval's relation ("at least" / "less than"): rule -> (relation, count)
QUANTIFIED_RULES = {
    "length_constraints:number_words": ("relation", "num_words"),
    "length_constraints:number_sentences": ("relation", "num_sentences"),
    "change_case:capital_word_frequency": ("capital_relation", "capital_frequency"),
}
RTT_TAG = "llm_judge"  # the public config routes rubric rows to its "llm_judge" reward domain


def arrow_schema():
    import pyarrow as pa

    verifier = pa.struct(
        [("kind", pa.string()), ("family", pa.string()), ("rule_id", pa.string()), ("kwargs", pa.string())]
    )
    rubric = pa.struct(
        [
            ("id", pa.string()),
            ("text", pa.string()),
            ("title", pa.string()),
            ("weight", pa.float64()),
            ("verifier", verifier),
            ("source", pa.string()),
        ]
    )
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("id", pa.string()),
            ("prompt", pa.string()),
            ("messages", pa.list_(message)),
            ("rubrics", pa.list_(rubric)),
            ("source", pa.string()),
            ("split", pa.string()),
            ("meta", pa.string()),
        ]
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def items_to_table(items: Sequence[RubricItem]):
    """A pyarrow Table of items, built column-wise from attributes."""
    import pyarrow as pa

    cols: dict[str, list[Any]] = {k: [] for k in ("id", "prompt", "messages", "rubrics", "source", "split", "meta")}
    for it in items:
        cols["id"].append(it.id)
        cols["prompt"].append(it.prompt)
        cols["messages"].append(
            None if it.messages is None else [{"role": m.role, "content": m.content} for m in it.messages]
        )
        rubrics = []
        for r in it.rubrics:
            v = r.verifier
            ver: dict[str, Any]
            if isinstance(v, RuleVerifier):
                ver = {"kind": "rule", "family": v.family, "rule_id": v.rule_id, "kwargs": _json(v.kwargs)}
            else:
                ver = {"kind": "llm", "family": None, "rule_id": None, "kwargs": None}
            rubrics.append(
                {"id": r.id, "text": r.text, "title": r.title, "weight": r.weight, "verifier": ver, "source": r.source}
            )
        cols["rubrics"].append(rubrics)
        cols["source"].append(it.source)
        cols["split"].append(it.split)
        cols["meta"].append(_json(it.meta))
    schema = arrow_schema()
    return pa.Table.from_arrays([pa.array(cols[f.name], type=f.type) for f in schema], schema=schema)


def decode_record(rec: dict[str, Any]) -> dict[str, Any]:
    """Turn a row of our canonical Parquet (JSON-encoded kwargs and meta) back into ``RubricItem`` fields."""
    for r in rec.get("rubrics") or []:
        v = r.get("verifier") or {"kind": "llm"}
        if v.get("kind") == "rule":
            r["verifier"] = {
                "kind": "rule",
                "family": v["family"],
                "rule_id": v["rule_id"],
                "kwargs": json.loads(v["kwargs"]) if v.get("kwargs") else {},
            }
        else:
            r["verifier"] = {"kind": "llm"}
    rec["meta"] = json.loads(rec["meta"]) if rec.get("meta") else {}
    return rec


def table_to_items(table, path: str | os.PathLike | None = None) -> list[RubricItem]:
    from pydantic import ValidationError

    out = []
    for n, rec in enumerate(table.to_pylist(), start=1):
        try:
            out.append(RubricItem.model_validate(decode_record(rec)))
        except ValidationError as exc:
            field, msg = validation_error_field(exc)
            raise RecordError(path, n, field, f"not a canonical rubric item: {msg}") from None
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise RecordError(path, n, None, f"not a canonical rubric item: {exc}") from None
    return out


def write_items(path: str | os.PathLike, items: Iterable[RubricItem]) -> int:
    """Write items as canonical Parquet (``.parquet``) or JSONL (any other suffix), atomically."""
    items = list(items)
    if str(path).endswith(".parquet"):
        import pyarrow.parquet as pq

        table = items_to_table(items)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        return len(items)
    with atomic_open(path) as fh:
        fh.writelines(it.model_dump_json() + "\n" for it in items)
    return len(items)


def read_items(path: str | os.PathLike) -> list[RubricItem]:
    """Read canonical items back from Parquet or JSONL (equal to what was written)."""
    from pydantic import ValidationError

    if str(path).endswith(".parquet"):
        import pyarrow.parquet as pq

        return table_to_items(pq.read_table(path), path)
    out = []
    for line, obj in iter_jsonl(path):
        try:
            out.append(RubricItem.model_validate(obj))
        except ValidationError as exc:
            field, msg = validation_error_field(exc)
            raise RecordError(path, line, field, f"not a canonical rubric item: {msg}") from None
    return out


# ------------------------------------------------------------------------------------------------ RTT rows


NEGATED_PITFALL = "The response must NOT do the following: "


def _criterion(text: str, weight: float, pitfalls: PitfallMode) -> str | None:
    """A criterion the public judge rewards when *satisfied*. A pitfall (its text describes the bad behaviour)
    is negated: a negation-led text becomes its affirmative ("Fails to mention X" -> "Mentions X"), never
    "must NOT ... fails to ..."; any other text gets :data:`NEGATED_PITFALL` in front."""
    if weight >= 0 or pitfalls == "keep":
        return text
    if pitfalls == "drop":
        return None
    return affirmative(text) or NEGATED_PITFALL + text


def to_rtt_row(item: RubricItem, *, pitfalls: PitfallMode = "negate", max_rubrics: int | None = None) -> dict[str, Any]:
    """One row of the RTT paper's training JSONL.

    ``source`` / ``ground_truth``: rows imported from RTT data are written back as they came; otherwise
    ``type1`` when some rubric has an IFEval/IFBench rule (LLM rubrics get the id ``"llm"``, which the public
    judge falls back on), ``type3`` when every rubric is a MulDimIF constraint, else ``type4`` with ``[llm]``
    checkers. The public judge has no weights and rewards *satisfied* criteria, so a pitfall (weight < 0) is
    negated in words (``pitfalls="negate"``, without double negatives, see :func:`_criterion`), dropped, or
    kept as is.
    """
    kept = [r for r in item.rubrics if _criterion(r.text, r.weight, pitfalls) is not None]
    if max_rubrics is not None:
        kept = kept[:max_rubrics]
    texts = [_criterion(r.text, r.weight, pitfalls) for r in kept]
    src, gt = item.meta.get("rtt_source"), item.meta.get("rtt_ground_truth")
    if not (src and isinstance(gt, dict) and len(kept) == len(item.rubrics) and all(r.weight >= 0 for r in kept)):
        src, gt = _rtt_ground_truth(item, kept, texts)
    return {
        "id": item.id,
        "messages": item.chat(),
        "prompt": item.instruction,
        "rubrics": texts,
        "source": src,
        "ground_truth": json.dumps(gt, ensure_ascii=False),
        "tag": RTT_TAG,
        "domain": RTT_TAG,
    }


def to_open_instruct_kwargs(rule_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """IFEval "less than N" -> open-instruct "at most N-1" (what the RTT code's type1 checkers understand)."""
    kw = dict(kwargs)
    rel, count = QUANTIFIED_RULES.get(rule_id, (None, None))
    if rel and count and kw.get(rel) == "less than" and isinstance(kw.get(count), int):
        kw[rel], kw[count] = "at most", kw[count] - 1
    return kw


def _rtt_ground_truth(item: RubricItem, rubrics: list, texts: list) -> tuple[str, dict[str, Any]]:
    rules = [r.verifier for r in rubrics]
    if any(isinstance(v, RuleVerifier) and v.family in ("ifeval", "ifbench") for v in rules):
        ids, kwargs = [], []
        for v in rules:
            is_if = isinstance(v, RuleVerifier) and v.family in ("ifeval", "ifbench")
            ids.append(v.rule_id if is_if else "llm")
            kwargs.append(to_open_instruct_kwargs(v.rule_id, v.kwargs) if is_if else {})
        return "type1", {"instruction_id_list": ids, "kwargs": kwargs}
    if rubrics and all(
        r.source == "muldimif" or (isinstance(r.verifier, RuleVerifier) and r.verifier.family == "muldimif")
        for r in rubrics
    ):
        original = {c[2]: c for c in item.meta.get("constraints", []) if isinstance(c, list) and len(c) == 3}
        constraints = []
        for r in rubrics:
            if r.text in original:
                constraints.append(list(original[r.text]))
            else:
                cat, _, sub = (r.title or "Other / Other").partition(" / ")
                constraints.append([cat, sub, r.text])
        return "type3", {"constraints": constraints}
    # the checker names the criterion as written in ``rubrics`` (a pitfall negated), so both say the same
    return "type4", {"checker": ["[llm] " + t for t in texts], "functions": ["" for _ in rubrics]}


def write_rtt_jsonl(
    path: str | os.PathLike,
    items: Iterable[RubricItem],
    *,
    pitfalls: PitfallMode = "negate",
    max_rubrics: int | None = None,
) -> int:
    """Write the RTT paper's training JSONL atomically; items left without rubrics (all dropped) are skipped."""
    n = 0
    with atomic_open(path) as fh:
        for item in items:
            row = to_rtt_row(item, pitfalls=pitfalls, max_rubrics=max_rubrics)
            if row["rubrics"]:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
    return n
