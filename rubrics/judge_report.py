"""Accuracy of responses against their rubrics, reported the way IFEval's ``evaluation_main`` does.

* prompt-level accuracy: the fraction of responses that follow *every* rubric of their item;
* instruction-level (rubric-level) accuracy: the fraction of (response, rubric) pairs followed;
* the same per family (tier 0: ``keywords`` of ``keywords:existence``, ``Length`` of ``Length/Words``, ``llm``
  for judged rubrics) and per rule id (tier 1), strict and loose.

A rubric is *followed* when its verdict is decided and points the good way (satisfied; for a pitfall,
``weight < 0``, not satisfied). Undecided verdicts (unsupported rule, no judge, unparseable answer) count as
not followed and are listed separately — never silently passed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pydantic import BaseModel, Field

from rubrics.schema import RubricItem, RuleVerifier
from rubrics.verdicts import JUDGE_FAILURES, METHODS, VerdictBatch


def rubric_key(rubric: Any) -> tuple[str, str]:
    """``(tier0, tier1)`` of a rubric: family prefix and rule id, or ``("llm", "llm")``."""
    v = rubric.verifier
    if isinstance(v, RuleVerifier):
        sep = ":" if ":" in v.rule_id else "/"
        return f"{v.family}:{v.rule_id.split(sep)[0]}", f"{v.family}:{v.rule_id}"
    return "llm", "llm"


class JudgeAccuracy(BaseModel):
    prompt_level: float
    instruction_level: float
    prompts: int
    prompts_followed: int
    instructions: int
    instructions_followed: int
    tier0: dict[str, float] = Field(default_factory=dict)
    tier1: dict[str, float] = Field(default_factory=dict)
    tier0_counts: dict[str, int] = Field(default_factory=dict)
    tier1_counts: dict[str, int] = Field(default_factory=dict)


class JudgeReport(BaseModel):
    responses: int
    items: int
    rubrics: int
    strict: JudgeAccuracy
    loose: JudgeAccuracy
    methods: dict[str, int]
    undecided: dict[str, int]
    unsupported: dict[str, int] = Field(description="'family:rule_id' -> count of unsupported verdicts")
    counters: dict[str, int]
    judge_failures: dict[str, int] = Field(
        default_factory=dict, description="failed LLM verdicts by kind: connection, http_error, parse_failure"
    )
    judge_failure_rate: float = Field(0.0, description="failed / LLM-judged verdicts (0 when nothing was judged)")


def accuracy(items: list[RubricItem], batch: VerdictBatch) -> JudgeAccuracy:
    followed = batch.followed
    prompt_ok = batch.prompt_level()
    t0_tot: Counter[str] = Counter()
    t0_ok: Counter[str] = Counter()
    t1_tot: Counter[str] = Counter()
    t1_ok: Counter[str] = Counter()
    n_inst = n_ok = 0
    for b, item in enumerate(items):
        for k, rubric in enumerate(item.rubrics):
            t0, t1 = rubric_key(rubric)
            ok = bool(followed[b, k])
            t0_tot[t0] += 1
            t1_tot[t1] += 1
            t0_ok[t0] += ok
            t1_ok[t1] += ok
            n_inst += 1
            n_ok += ok
    B = len(items)
    return JudgeAccuracy(
        prompt_level=float(prompt_ok.mean()) if B else 0.0,
        instruction_level=n_ok / n_inst if n_inst else 0.0,
        prompts=B,
        prompts_followed=int(prompt_ok.sum()),
        instructions=n_inst,
        instructions_followed=n_ok,
        tier0={k: t0_ok[k] / t0_tot[k] for k in sorted(t0_tot)},
        tier1={k: t1_ok[k] / t1_tot[k] for k in sorted(t1_tot)},
        tier0_counts=dict(sorted(t0_tot.items())),
        tier1_counts=dict(sorted(t1_tot.items())),
    )


def build_report(items: list[RubricItem], strict: VerdictBatch, loose: VerdictBatch) -> JudgeReport:
    """``items[b]`` is the item of response ``b`` (an item repeats when it has several responses)."""
    methods = Counter(str(m) for m in strict.method[strict.rubric_mask])
    unsupported: dict[str, int] = defaultdict(int)
    for b, item in enumerate(items):
        for k, rubric in enumerate(item.rubrics):
            if strict.method[b, k] == "unsupported":
                v = rubric.verifier
                unsupported[f"{v.family}:{v.rule_id}"] += 1  # type: ignore[union-attr]
    counters = {f"strict.{k}": v for k, v in strict.counters.as_dict().items()}
    counters.update({f"loose.{k}": v for k, v in loose.counters.as_dict().items() if k in ("rule", "rule_evaluations")})
    return JudgeReport(
        responses=len(items),
        items=len({it.id for it in items}),
        rubrics=int(strict.rubric_mask.sum()),
        strict=accuracy(items, strict),
        loose=accuracy(items, loose),
        methods={m: methods.get(m, 0) for m in METHODS},
        undecided={m: methods.get(m, 0) for m in ("unsupported", "no_judge", *JUDGE_FAILURES)},
        unsupported=dict(sorted(unsupported.items())),
        counters=counters,
        judge_failures={m: methods.get(m, 0) for m in JUDGE_FAILURES},
        judge_failure_rate=_rate(sum(methods.get(m, 0) for m in JUDGE_FAILURES), methods.get("llm", 0)),
    )


def _rate(failed: int, ok: int) -> float:
    return failed / (failed + ok) if failed + ok else 0.0


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def to_markdown(report: JudgeReport, title: str = "Rubric verdicts") -> str:
    s, lo = report.strict, report.loose
    lines = [
        f"# {title}",
        "",
        f"{report.responses} responses to {report.items} items, {report.rubrics} (response, rubric) verdicts.",
        "",
        "| metric | strict | loose |",
        "|---|---:|---:|",
        f"| prompt-level accuracy (%) | {_pct(s.prompt_level)} | {_pct(lo.prompt_level)} |",
        f"| instruction-level accuracy (%) | {_pct(s.instruction_level)} | {_pct(lo.instruction_level)} |",
        f"| prompts followed | {s.prompts_followed}/{s.prompts} | {lo.prompts_followed}/{lo.prompts} |",
        f"| instructions followed | {s.instructions_followed}/{s.instructions} | "
        f"{lo.instructions_followed}/{lo.instructions} |",
        "",
        "## Verdict methods",
        "",
        "| method | count |",
        "|---|---:|",
        *[f"| {m} | {n} |" for m, n in report.methods.items()],
        "",
        "Undecided verdicts (unsupported / no_judge / parse_failure / connection / http_error) count as not followed.",
        "",
    ]
    if report.unsupported:
        lines += ["## Unsupported rules", "", "| rule | count |", "|---|---:|"]
        lines += [f"| `{k}` | {v} |" for k, v in report.unsupported.items()] + [""]
    for tier, name in (("tier0", "family"), ("tier1", "rule")):
        lines += [f"## Accuracy per {name}", "", f"| {name} | n | strict (%) | loose (%) |", "|---|---:|---:|---:|"]
        counts = getattr(s, f"{tier}_counts")
        for key in counts:
            lines.append(
                f"| `{key}` | {counts[key]} | {_pct(getattr(s, tier)[key])} | {_pct(getattr(lo, tier)[key])} |"
            )
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- files in, files out


def read_rubric_items(path: Any) -> list[RubricItem]:
    """Canonical rubric items from Parquet or JSONL (``rubrics.exporters``), else JSONL of ``RubricItem``."""
    try:
        from rubrics.exporters import read_items
    except ImportError:  # pragma: no cover - the exporters module is part of the project
        read_items = None  # type: ignore[assignment]  # None marks a missing module, checked below
    if read_items is not None:
        return read_items(path)
    from pydantic import ValidationError

    from rubrics.io import RecordError, iter_jsonl

    out = []
    for line, obj in iter_jsonl(path):
        try:
            out.append(RubricItem.model_validate(obj))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RecordError(path, line, ".".join(map(str, err["loc"])) or None, err["msg"]) from None
    return out


def read_responses(path: Any, items: list[RubricItem]) -> list[tuple[RubricItem, str]]:
    """Pair each response row with its item.

    A row is ``{"response": ..., "item_id" | "key" | "prompt": ...}``; ``key`` matches ``item.meta["key"]``, the
    item id or the id's last ``:`` part (``ifeval:1000``), ``prompt`` matches the item's instruction (IFEval's
    ``input_response_data`` format). Several rows may answer the same item.
    """
    from rubrics.io import RecordError, iter_jsonl

    by_id = {it.id: it for it in items}
    by_key: dict[str, RubricItem] = {}
    by_prompt: dict[str, RubricItem] = {}
    for it in items:
        if "key" in it.meta:
            by_key.setdefault(str(it.meta["key"]), it)
        by_key.setdefault(it.id.rsplit(":", 1)[-1], it)  # importer ids look like "ifeval:1000"
        by_prompt.setdefault(it.instruction.strip(), it)
    pairs = []
    for line, row in iter_jsonl(path):
        resp = row.get("response")
        if not isinstance(resp, str):
            raise RecordError(path, line, "response", "missing or not a string")
        if row.get("item_id") is not None:
            item = by_id.get(str(row["item_id"]))
            field, value = "item_id", row["item_id"]
        elif row.get("key") is not None:
            item = by_key.get(str(row["key"])) or by_id.get(str(row["key"]))
            field, value = "key", row["key"]
        elif isinstance(row.get("prompt"), str):
            item = by_prompt.get(row["prompt"].strip())
            field, value = "prompt", row["prompt"][:60]
        else:
            raise RecordError(path, line, None, "a row needs 'item_id', 'key' or 'prompt' to find its item")
        if item is None:
            raise RecordError(path, line, field, f"no rubric item matches {value!r}")
        pairs.append((item, resp))
    if not pairs:
        raise RecordError(path, None, None, "no responses in the file")
    return pairs


def verdict_rows(pairs: list[tuple[RubricItem, str]], strict: VerdictBatch, loose: VerdictBatch) -> list[dict]:
    """One JSON row per response: prompt-level results and, per rubric, method and strict/loose verdicts."""
    ps, pl = strict.prompt_level(), loose.prompt_level()
    fs, fl = strict.followed, loose.followed
    rows = []
    for b, (item, response) in enumerate(pairs):
        rubrics = []
        for k, rubric in enumerate(item.rubrics):
            v = rubric.verifier
            rubrics.append(
                {
                    "id": rubric.id,
                    "rule": f"{v.family}:{v.rule_id}" if isinstance(v, RuleVerifier) else None,
                    "weight": rubric.weight,
                    "method": str(strict.method[b, k]),
                    "decided": bool(strict.decided[b, k]),
                    "strict": int(strict.s[b, k]),
                    "loose": int(loose.s[b, k]),
                    "followed_strict": bool(fs[b, k]),
                    "followed_loose": bool(fl[b, k]),
                    **({"note": strict.notes[b][k]} if strict.notes[b][k] else {}),
                }
            )
        rows.append(
            {
                "item_id": item.id,
                "index": b,
                "response": response,
                "follow_all_strict": bool(ps[b]),
                "follow_all_loose": bool(pl[b]),
                "rubrics": rubrics,
            }
        )
    return rows


async def ajudge_files(
    items_path: Any,
    responses_path: Any,
    out_dir: Any,
    *,
    judge: Any = None,
    progress: Any = None,
    title: str | None = None,
) -> JudgeReport:
    """Judge a response file against a rubric dataset; write ``verdicts.jsonl``, ``report.json``, ``report.md``."""
    from pathlib import Path

    from rubrics.io import staged_dir, write_jsonl, write_text
    from rubrics.verdicts import acompute_verdict_modes

    items = read_rubric_items(items_path)
    pairs = read_responses(responses_path, items)
    modes = await acompute_verdict_modes(pairs, judge=judge, modes=(False, True), progress=progress)
    strict, loose = modes[False], modes[True]
    report = build_report([it for it, _ in pairs], strict, loose)
    with staged_dir(out_dir, kind="rubrics-judge", known=("verdicts.jsonl",)) as out:
        write_jsonl(out / "verdicts.jsonl", verdict_rows(pairs, strict, loose))
        write_text(out / "report.json", report.model_dump_json(indent=2))
        write_text(out / "report.md", to_markdown(report, title or f"Rubric verdicts: {Path(responses_path).name}"))
    return report
