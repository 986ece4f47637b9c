"""``archc train``: training the emitted module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import (
    InputOpt,
    NetworkOpt,
    SetOpt,
    SpecArg,
    app,
    err,
    reports_errors,
)


@app.command()
@reports_errors
def train(
    spec: SpecArg,
    data: Annotated[
        str,
        typer.Option("--data", help="An image folder (one sub-folder per class), or 'digits' (built in)."),
    ] = "digits",
    epochs: Annotated[int, typer.Option("--epochs", "-e", min=1)] = 6,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Per process.")] = 64,
    lr: Annotated[
        float, typer.Option("--lr", min=0.0, help="Peak learning rate (SGD, cosine schedule).")
    ] = 0.1,
    weight_decay: Annotated[float, typer.Option("--weight-decay", min=0.0)] = 5e-4,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision (bfloat16).")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<network>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")
    ] = False,
    augment: Annotated[
        bool, typer.Option("--augment", help="Random crops and flips (image folders).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Data-loading processes.")] = 0,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Use at most this many training images.")
    ] = None,
    rank_digests: Annotated[bool, typer.Option("--rank-digests", hidden=True)] = False,
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
) -> None:
    """Train the emitted module on CPU or GPU; under torchrun, with DistributedDataParallel."""
    from archc.train import TrainConfig
    from archc.train import train as run_training

    cfg = TrainConfig(
        spec, network, list(set_ or []), input, data, epochs, batch_size, lr, 0.9, weight_decay, device, amp,
        channels_last, compile, out, resume, augment, seed, workers, limit, rank_digests,
    )  # fmt: skip
    try:
        run = run_training(cfg, log=err)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    print(f"run folder: {run}")
