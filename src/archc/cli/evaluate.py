"""``archc eval``: top-1 and top-5 accuracy of a trained run or checkpoint on a validation set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import app, err, reports_errors


@app.command("eval")
@reports_errors
def eval_(
    run: Annotated[
        Path,
        typer.Argument(help="A run folder, or a checkpoint (checkpoint.pt, best.pt).", show_default=False),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="An image folder (its val/ when it has one), or 'digits' (default: the run's data).",
            show_default=False,
        ),
    ] = None,
    best: Annotated[bool, typer.Option("--best", help="In a run folder, evaluate best.pt.")] = False,
    spec: Annotated[
        Path | None,
        typer.Option("--spec", help="The spec (default: the one the run recorded).", show_default=False),
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1)] = 128,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[int | None, typer.Option("--threads", min=1, show_default=False)] = None,
) -> None:
    """Evaluate a run's checkpoint (the last, or --best): loss, top-1 and top-5 accuracy."""
    from archc.train.evaluate import evaluate_checkpoint

    result = evaluate_checkpoint(run, data, best, spec, batch_size, device, threads, err)
    print(
        f"{result['checkpoint']}: top-1 {100 * result['top1']:.2f}%, top-{result['k']} "
        f"{100 * result['top5']:.2f}%, loss {result['loss']:.4f} on {result['images']} images "
        f"({result['data']})"
    )
