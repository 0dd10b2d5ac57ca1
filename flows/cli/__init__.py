"""The ``rtt`` command line (Typer): one sub-command group per pipeline stage.

:data:`app` is the Typer application and :func:`main` the ``rtt`` console script. Each group lives in its own
module (``rtt rubrics`` in :mod:`~flows.cli.rubrics`, ``rtt data`` in :mod:`~flows.cli.data`, ... ``rtt
experiment`` in :mod:`~flows.cli.experiment`) and imports heavy libraries (torch, transformers, Prefect) only
inside its commands, so ``rtt --help`` stays fast.
"""

from __future__ import annotations

import typer

from flows.cli import data, demo, disc, evaluate, experiment, pipeline, review, rubrics, serve, train

__all__ = ["app", "main"]

app = typer.Typer(
    name="rtt",
    help="Rubrics to Tokens: rubric datasets, token-level relevance discriminator and RTT-GRPO training.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(rubrics.app, name="rubrics", help="Import, validate, split and judge rubric datasets.")
app.add_typer(data.app, name="data", help="Build discriminator training data (positives, negatives, spans).")
app.add_typer(review.app, name="review", help="Human review of spans in Label Studio.")
app.add_typer(disc.app, name="disc", help="Train, evaluate and export the token-level relevance discriminator.")
app.add_typer(train.app, name="train", help="Train a policy with RTT-GRPO.")
app.add_typer(evaluate.app, name="eval", help="Evaluate a policy on IFEval / MulDimIF / IFBench.")
app.add_typer(pipeline.app, name="pipeline", help="Run the whole pipeline (the rtt-pipeline flow) from a config.")
serve.register(app)
demo.register(app)
experiment.register(app)


def main() -> None:
    app()
