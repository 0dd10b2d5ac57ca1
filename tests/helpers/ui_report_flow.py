"""Run by tests/flows/test_prefect_ui.py against a real server (PREFECT_API_URL): the real rubric-dataset and
discriminator-data flows on demo items (long rubric family names, wide tables), and the real pipeline report
publisher on a report with real plot files. Prints the three flow run ids."""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from prefect import flow  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402

from flows.pipeline_report import PipelineReport, StageRecord, publish_report  # noqa: E402
from flows.rubrics import BuildRubricsParams, build_rubric_dataset  # noqa: E402
from rubrics.importers import SourceSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def plot(path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([0, 1, 2, 3], [0.9, 0.5, 0.4, 0.35])
    ax.set_title(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)


@flow(name="rtt-pipeline")
def report_flow(run_dir: str) -> str:
    """Publish a finished pipeline's report (the stage notes of a real demo run, real plots)."""
    root = Path(run_dir)
    plot(root / "discriminator" / "loss_curve.png", "loss")
    plot(root / "discriminator" / "eval" / "pr_curve.png", "precision-recall")
    r = PipelineReport(name="ui check", run_dir=run_dir, started=0.0, seconds=312.0)
    r.stages = [
        StageRecord(
            stage="rubrics",
            status="ran",
            seconds=1.2,
            numbers={"items": 60, "rubrics": 212, "train": 42, "val": 6, "test": 12, "rejected": 0},
        ),
        StageRecord(
            stage="data",
            status="ran",
            seconds=20.4,
            numbers={"items": 48, "pairs": 180, "rows": 360, "rows train": 240, "rows val": 48},
        ),
        StageRecord(
            stage="review",
            status="skipped",
            note="no Label Studio URL configured (set LABEL_STUDIO_URL or review.url); the discriminator "
            "trains on the automatic labels",
        ),
        StageRecord(
            stage="disc-train",
            status="cached",
            seconds=0.1,
            computed_seconds=88.1,
            numbers={"steps": 40, "val F1": 0.71, "val AUROC": 0.9, "threshold": 0.42},
        ),
    ]
    r.disc_eval = {
        "overall": {
            "discriminator": {"precision": 0.6, "recall": 0.7, "f1": 0.65, "auroc": 0.88},
            "lexical overlap": {"precision": 0.3, "recall": 0.5, "f1": 0.37, "auroc": 0.6},
        }
    }
    r.outputs = {"rubrics": str(root / "rubrics"), "discriminator": str(root / "discriminator")}
    publish_report(r)
    return str(flow_run.id)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    rubrics = build_rubric_dataset(
        BuildRubricsParams(
            sources=[
                SourceSpec(path=str(ROOT / "data" / "demo" / name)) for name in ("items.jsonl", "rar_style.jsonl")
            ],
            out_dir=str(out / "rubrics"),
            name="ui check",
        ),
        return_state=True,
    )
    print(rubrics.state_details.flow_run_id)
    import asyncio

    from flows.data import DataFlowParams, build_discriminator_data

    data = asyncio.run(
        build_discriminator_data(
            DataFlowParams(inputs=[str(out / "rubrics" / "train.jsonl")], out_dir=str(out / "data")), return_state=True
        )
    )
    print(data.state_details.flow_run_id)
    print(report_flow(str(out)))
