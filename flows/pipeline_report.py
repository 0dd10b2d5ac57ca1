"""The pipeline's final report: per-stage records, key numbers, ``report.md`` / ``report.json``, a summary plot,
and the Prefect artifacts (``rtt-pipeline-<name>`` markdown, ``-stages`` / ``-discriminator`` / ``-policy``
tables)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from flows.artifacts import (
    CELL_WIDTH,
    abs_path,
    artifact_key,
    fit_markdown,
    markdown_table,
    md_image,
    md_link,
    rel_path,
    wrap_rows,
)

Status = Literal["ran", "cached", "skipped", "failed"]
POLICY_METRICS = ("prompt_strict", "prompt_loose", "rubric_strict", "rubric_loose")
TRAIN_METRICS = (
    "loss",
    "reward",
    "rtt/reward/aon",
    "rtt/reward/csr",
    "rtt/pass_rate/all",
    "rtt/adv/std",
    "rtt/tok_adv/std",
    "rtt/relevance/frac",
    "rtt/judge/undecided",
    "rtt/time/discriminator_share",
)


class StageRecord(BaseModel):
    stage: str
    status: Status
    seconds: float = 0.0
    output: str | None = None
    numbers: dict[str, Any] = Field(default_factory=dict)
    note: str = ""
    computed_seconds: float | None = None  # cached: what computing it took in the earlier run

    def summary(self, limit: int = 4) -> str:
        return ", ".join(f"{k} {_short(v)}" for k, v in list(self.numbers.items())[:limit])


class PipelineReport(BaseModel):
    name: str
    run_dir: str
    started: float
    seconds: float = 0.0
    stages: list[StageRecord] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    disc_eval: dict[str, Any] | None = None
    policy_train: dict[str, Any] | None = None
    policy_eval: dict[str, Any] = Field(default_factory=dict)  # "base" / "trained" -> grpo.evaluate.PolicyEvalReport
    files: dict[str, str] = Field(default_factory=dict)
    failed: str | None = None

    def stage(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.stage == name), None)

    # ---------------------------------------------------------------------------------------- tables

    def stage_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "stage": s.stage,
                "status": s.status,
                "seconds": round(s.seconds, 1),
                "key numbers": s.summary(6),
                "note": "; ".join(
                    x
                    for x in (
                        s.note,
                        f"computed in {s.computed_seconds:.1f} s by an earlier run"
                        if s.computed_seconds is not None
                        else "",
                    )
                    if x
                ),
            }
            for s in self.stages
        ]

    def previous_seconds(self) -> dict[str, float]:
        """Compute time of each stage in the report.json of an earlier run of this folder (for cached stages)."""
        path = Path(self.run_dir) / "report.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        out: dict[str, float] = {}
        for s in data.get("stages", []):
            if s.get("status") == "ran":
                out[s["stage"]] = float(s.get("seconds", 0.0))
            elif s.get("status") == "cached" and s.get("computed_seconds") is not None:
                out[s["stage"]] = float(s["computed_seconds"])
        return out

    def disc_rows(self) -> list[dict[str, Any]]:
        overall = (self.disc_eval or {}).get("overall") or {}
        keys = ("precision", "recall", "f1", "auroc")
        return [{"method": m, **{k: _num(v.get(k)) for k in keys}} for m, v in overall.items()]

    def policy_rows(self) -> list[dict[str, Any]]:
        rows = []
        for which in ("base", "trained"):
            rep = self.policy_eval.get(which)
            if rep is None:
                continue
            acc = rep.overall
            rows.append(
                {
                    "policy": which,
                    "model": Path(rep.model).name or rep.model,
                    "prompts": acc.prompts,
                    **{k: round(float(getattr(acc, k)), 4) for k in POLICY_METRICS},
                }
            )
        return rows

    # ---------------------------------------------------------------------------------------- markdown

    def to_markdown(self, inline: bool = False) -> str:
        """The report. ``inline`` (the Prefect artifact): plots embedded as data URIs and outputs as absolute
        paths, so it renders in the UI; otherwise (``report.md``) links and images relative to the run folder."""
        base = Path(self.run_dir)
        head = "FAILED" if self.failed else "finished"
        lines = [
            f"# RTT pipeline `{self.name}`",
            "",
            f"{head} in {self.seconds:.1f} s — run folder `{self.run_dir}`",
            "",
        ]
        if self.failed:
            lines += [f"**Error:** `{self.failed.splitlines()[0]}`", ""]
        lines += ["## Stages", "", markdown_table(self.stage_rows(), wrap=CELL_WIDTH)]
        if self.disc_rows():
            lines += ["## Discriminator (token level, item-disjoint test split)", "", markdown_table(self.disc_rows())]
        if self.policy_rows():
            lines += ["## Policy (accuracy on held-out prompts)", "", markdown_table(self.policy_rows())]
        if self.policy_train:
            pt = self.policy_train
            fm = pt.get("final_metrics") or {}
            shown = {k: fm[k] for k in TRAIN_METRICS if isinstance(fm.get(k), (int, float))}
            if shown:
                lines += [
                    "## RTT-GRPO training (last logged step)",
                    "",
                    markdown_table([{"metric": k, "value": round(float(v), 5)} for k, v in shown.items()]),
                ]
        lines += ["## Outputs", ""]
        lines += [
            f"- {what}: {abs_path(path) if inline else md_link(path, base)}" for what, path in self.outputs.items()
        ]
        plots = self.plot_paths()
        if plots:
            lines += ["", "## Plots", ""]
            for label, path in plots.items():
                if inline:
                    lines += [md_image(path, label), ""]
                else:
                    lines.append(
                        f"![{label}]({rel_path(path, base)})"
                        if path.endswith(".png")
                        else f"- {md_link(path, base, label)}"
                    )
        return "\n".join(lines).rstrip() + "\n"

    def plot_paths(self) -> dict[str, str]:
        root = Path(self.run_dir)
        found: dict[str, str] = {}
        for label, path in (
            ("summary", self.files.get("summary.png")),
            ("discriminator loss curve", str(root / "discriminator" / "loss_curve.png")),
            ("discriminator precision-recall", str(root / "discriminator" / "eval" / "pr_curve.png")),
        ):
            if path and Path(path).is_file():
                found[label] = path
        for h in ((self.policy_train or {}).get("heatmaps") or [])[-2:]:
            if Path(h).is_file():
                found[f"token-advantage heatmap {Path(h).stem}"] = h
        return found


def _num(v: Any) -> Any:
    try:
        return round(float(v), 4)
    except (TypeError, ValueError):
        return v


def _short(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def stage_numbers(stage: str, result: Any) -> dict[str, Any]:
    """``numbers`` / ``output`` / ``note`` of a stage record from the stage flow's return value."""
    n: dict[str, Any] = {}
    out: str | None = None
    note = ""
    if stage == "rubrics":
        n = {
            "items": result.items,
            "rubrics": result.rubrics,
            **{s: v for s, v in result.splits.items()},
            "rejected": result.rejected_total,
            "duplicates": result.duplicates_dropped,
        }
        out = result.out_dir
    elif stage == "data":
        n = {"items": result.items, "pairs": result.pairs, "rows": result.rows}
        n.update({f"rows {k}": v for k, v in result.splits.items()})
        out = result.out_dir
    elif stage == "review" and hasattr(result, "pushed"):
        n = {"pushed": result.pushed, "already there": result.skipped_existing, "rows": result.rows}
    elif stage == "review":
        n = {
            "human rows": result.human_rows,
            "automatic rows": result.auto_rows,
            "compared": result.agreement.rows_compared,
        }
        out = str(result.out) if result.out else None
    elif stage == "disc-train":
        vm = result.get("val_metrics") or {}
        n = {
            "steps": result.get("global_step"),
            "val F1": _num(vm.get("f1")),
            "val AUROC": _num(vm.get("auroc")),
            "threshold": _num(result.get("threshold")),
        }
        out = result.get("model_dir")
    elif stage == "disc-eval":
        overall = result.get("overall") or {}
        d = overall.get("discriminator") or {}
        n = {"test F1": _num(d.get("f1")), "test AUROC": _num(d.get("auroc"))}
        others = {m: v.get("f1") for m, v in overall.items() if m != "discriminator" and v.get("f1") is not None}
        if others:
            best = max(others, key=lambda m: others[m])
            n[f"best baseline F1 ({best})"] = _num(others[best])
        n["test rows"] = (result.get("counts") or {}).get("test_rows")
        out = (result.get("files") or {}).get("report")
    elif stage == "disc-export":
        out = str(result)
        n = {"files": len(list(Path(result).iterdir())) if Path(result).is_dir() else 0}
    elif stage == "policy-train":
        fm = result.get("final_metrics") or {}
        n = {"steps": result.get("steps"), "train items": result.get("train_items")}
        for k in ("reward", "loss"):
            if isinstance(fm.get(k), (int, float)):
                n[k] = _num(fm[k])
        n["heatmaps"] = len(result.get("heatmaps") or [])
        out = result.get("saved_model") or result.get("output_dir")
    elif stage == "policy-eval":
        acc = result.overall
        n = {
            "prompts": acc.prompts,
            "prompt strict": _num(acc.prompt_strict),
            "rubric strict": _num(acc.rubric_strict),
            "rubric loose": _num(acc.rubric_loose),
        }
        if result.undecided:
            note = f"{result.undecided} verdicts undecided (no judge for LLM rubrics: counted as not followed)"
    return {"numbers": {k: v for k, v in n.items() if v is not None}, "output": out, "note": note}


def summary_plot(report: PipelineReport, path: Path) -> Path | None:
    """Two panels: discriminator vs baselines (test F1 / AUROC) and base vs trained policy accuracy."""
    disc, pol = report.disc_rows(), report.policy_rows()
    if not disc and not pol:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    panels = [x for x in (("disc", disc), ("policy", pol)) if x[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, (kind, rows) in zip(axes[0], panels):
        if kind == "disc":
            metrics, labels = ("f1", "auroc"), [r["method"] for r in rows]
            title = "Discriminator vs baselines (test tokens)"
        else:
            metrics, labels = POLICY_METRICS, [r["policy"] for r in rows]
            title = "Policy accuracy (held-out prompts)"
        x = np.arange(len(metrics))
        width = 0.8 / max(1, len(rows))
        for i, (row, label) in enumerate(zip(rows, labels)):
            vals = [float(row.get(m) or 0.0) if isinstance(row.get(m), (int, float)) else 0.0 for m in metrics]
            ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=label)
        ax.set_xticks(x, [m.replace("_", " ") for m in metrics])
        ax.set_ylim(0, 1.05)
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(f"RTT pipeline {report.name}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def publish_report(report: PipelineReport) -> PipelineReport:
    """Write ``report.md`` / ``report.json`` / ``plots/summary.png`` under the run folder and publish artifacts."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from rubrics.io import write_text

    root = Path(report.run_dir)
    root.mkdir(parents=True, exist_ok=True)
    plot = summary_plot(report, root / "plots" / "summary.png")
    if plot is not None:
        report.files["summary.png"] = str(plot)
    report.files["report.md"] = str(root / "report.md")
    report.files["report.json"] = str(root / "report.json")
    markdown = report.to_markdown()
    write_text(root / "report.md", markdown)
    write_text(root / "report.json", json.dumps(_jsonable(report), indent=2, default=str) + "\n")
    key = artifact_key("rtt-pipeline", report.name)
    create_markdown_artifact(
        markdown=fit_markdown(report.to_markdown(inline=True)),
        key=key,
        description=f"RTT pipeline report ({report.run_dir})",
    )
    create_table_artifact(
        table=wrap_rows(report.stage_rows()), key=f"{key}-stages", description=f"stages of {report.name}"
    )
    if report.disc_rows():
        create_table_artifact(
            table=report.disc_rows(),
            key=f"{key}-discriminator",
            description="discriminator vs baselines on the test split",
        )
    if report.policy_rows():
        create_table_artifact(
            table=report.policy_rows(), key=f"{key}-policy", description="policy accuracy before / after training"
        )
    return report


def _jsonable(report: PipelineReport) -> dict[str, Any]:
    data = report.model_dump(mode="json", exclude={"policy_eval", "disc_eval"})
    data["finished"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.started + report.seconds))
    data["disc_eval"] = {k: v for k, v in (report.disc_eval or {}).items() if k != "markdown"}
    data["policy_eval"] = {k: v.model_dump(mode="json") for k, v in report.policy_eval.items()}
    return data
