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

WeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--weights",
        help="Start from these weights: a state_dict or checkpoint (.pt, .pth, .safetensors), "
        "torchvision:NAME or timm:NAME (from their caches; never downloaded).",
        show_default=False,
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="With --weights: refuse anything but an exact match.")
]


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
    optimizer: Annotated[str, typer.Option("--optimizer", help="sgd (momentum 0.9) or adamw.")] = "sgd",
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr", help="Peak learning rate (default: 0.1 for sgd, 1e-3 for adamw).", show_default=False
        ),
    ] = None,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            "--weight-decay",
            min=0.0,
            help="Not applied to biases, norms, tokens (default: 5e-4 for sgd, 0.05 for adamw).",
            show_default=False,
        ),
    ] = None,
    warmup: Annotated[
        str, typer.Option("--warmup", help="Linear warmup: epochs (1, 0.5) or steps (500steps); then cosine.")
    ] = "1",
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", min=0.0, max=0.999)] = 0.0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="CPU threads (default: all cores).", show_default=False),
    ] = None,
    amp: Annotated[bool, typer.Option("--amp", help="Mixed precision (bfloat16).")] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<network>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --resume: continue although the settings differ.")
    ] = False,
    augment: Annotated[
        bool, typer.Option("--augment", help="Random crops and flips (image folders).")
    ] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Data-loading processes.")] = 0,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Use at most this many training images.")
    ] = None,
    weights: WeightsOpt = None,
    strict: StrictOpt = False,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="Also log to RUN/tensorboard for TensorBoard.")
    ] = False,
    rank_digests: Annotated[bool, typer.Option("--rank-digests", hidden=True)] = False,
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
) -> None:
    """Train the emitted module on CPU or GPU; under torchrun, with DistributedDataParallel.

    SIGINT (Ctrl-C) and SIGTERM stop it at the next step boundary with a checkpoint."""
    from archc.train import Interrupted, TrainConfig
    from archc.train import train as run_training
    from archc.train.runtime import is_main_process

    if input is not None:  # an empty or malformed --input is a usage error, never ignored
        from archc.dsl.compiler import parse_shape

        parse_shape(input)
    cfg = TrainConfig(
        spec=spec, network=network, sets=list(set_ or []), input=input, data=data, epochs=epochs,
        batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay, warmup=warmup,
        label_smoothing=label_smoothing, device=device, threads=threads, amp=amp,
        channels_last=channels_last, compile=compile, out=out, resume=resume, force=force,
        augment=augment, seed=seed, workers=workers, limit=limit, weights=weights, strict=strict,
        tensorboard=tensorboard, rank_digests=rank_digests,
    )  # fmt: skip
    try:
        run = run_training(cfg, log=err)
    except Interrupted as stop:
        if is_main_process():
            err(f"interrupted by {stop.message}")
        raise typer.Exit(128 + stop.signum) from None
    except KeyboardInterrupt:  # before training began, or a second Ctrl-C
        raise typer.Exit(130) from None
    if is_main_process():
        print(f"run folder: {run}")
