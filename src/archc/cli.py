"""The ``archc`` command line (typer).

Exit codes: 0 success, 1 a spec that does not compile, 2 a usage error.  Data goes to
stdout, diagnostics and progress to stderr.  ``check``, ``summary`` and ``render`` never
import torch.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from archc.errors import ArchcError, UsageError

app = typer.Typer(
    name="archc",
    help="A compiler for neural-network architectures: check, summarise, render, build and train specs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

SpecArg = Annotated[Path, typer.Argument(help="The .arch spec file.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Override a network parameter: name=value (repeatable).", show_default=False
    ),
]
InputOpt = Annotated[
    str | None,
    typer.Option("--input", "-i", help="Override the input shape, e.g. 3x32x32.", show_default=False),
]
NetworkOpt = Annotated[
    str | None,
    typer.Option(
        "--network", "-n", help="Which network of the file (default: its last one).", show_default=False
    ),
]


def err(text: str) -> None:
    print(text, file=sys.stderr)


def reports_errors(fn: F) -> F:
    """Turn archc's errors into a message and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UsageError as e:
            err(e.render())
            raise typer.Exit(2) from None
        except BrokenPipeError:  # the reader went away (`archc summary ... | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except OSError as e:  # a path that cannot be written or read: the user's to fix, not a bug
            where = f"{e.filename}: " if e.filename else ""
            err(f"error: {where}{e.strerror or e}\n  hint: check the path and its permissions")
            raise typer.Exit(2) from None
        except ArchcError as e:
            err(e.render())
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def compile_from_cli(spec: Path, network: str | None, sets: list[str] | None, input_shape: str | None) -> Any:
    from archc.api import compile_spec, parse_sets, parse_shape

    shape = parse_shape(input_shape) if input_shape else None
    return compile_spec(spec, network=network, sets=parse_sets(sets), input_shape=shape)


class DType(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command()
@reports_errors
def check(spec: SpecArg, set_: SetOpt = None, input: InputOpt = None, network: NetworkOpt = None) -> None:
    """Check a spec: one line with output shape, parameters and MACs, or the diagnostics."""
    from archc.summary import check_line

    print(check_line(compile_from_cli(spec, network, set_, input)))


@app.command()
@reports_errors
def summary(
    spec: SpecArg,
    depth: Annotated[
        int | None,
        typer.Option("--depth", "-d", min=1, help="Fold layers below this depth into their module."),
    ] = None,
    format: Annotated[
        Format | None, typer.Option("--format", "-f", help="table (default on a terminal), json or csv.")
    ] = None,
    se: Annotated[
        bool,
        typer.Option("--se", "--gates", help="What the SE (gating) blocks add, per stage, vs the SE paper."),
    ] = False,
    memory: Annotated[bool, typer.Option("--memory", help="Estimate memory for training.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="For --memory.")] = 1,
    dtype: Annotated[DType, typer.Option("--dtype", help="For --memory.")] = DType.float32,
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
) -> None:
    """Per-layer table: name, op, output shape, parameters, share and MACs, with totals."""
    from archc import summary as s

    c = compile_from_cli(spec, network, set_, input)
    fmt = format or Format.table
    if fmt is Format.json:
        data = s.summary_data(c, depth)
        if se:
            data["gates"] = s.gate_data(c)
        if memory:
            data["memory"] = s.memory_data(c, batch_size, dtype.value)
        print(json.dumps(data, indent=2))
    elif fmt is Format.csv:
        sys.stdout.write(s.to_csv(c, depth))
    else:
        from rich.console import Console

        console = Console(soft_wrap=not sys.stdout.isatty())
        if console.is_terminal:
            console.print(s.to_table(c, depth))
        else:
            sys.stdout.write(s.to_plain(c, depth))
        lines = s.footer_lines(c)
        if se:
            lines += ["", *s.gate_lines(c)]
        if memory:
            lines += s.memory_lines(c, batch_size, dtype.value)
        for line in lines:
            console.print(line, highlight=False) if console.is_terminal else print(line)


class RankDir(StrEnum):
    TB = "TB"
    LR = "LR"


@app.command()
@reports_errors
def render(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file; its extension picks the format.")],
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="svg, png, pdf or dot (default: from the file name).")
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option("--depth", "-d", min=1, help="Collapse modules below this depth (default 2)."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Draw every layer (no collapsing).")] = False,
    rankdir: Annotated[RankDir, typer.Option("--rankdir", help="Layout direction.")] = RankDir.TB,
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
) -> None:
    """Draw a spec with Graphviz: layers, shapes on edges, skip edges, blocks as clusters."""
    from archc.build import write_atomic
    from archc.errors import NOWHERE
    from archc.render import DEFAULT_DEPTH, FORMATS, DotMissing, render_bytes

    fmt = (format or out.suffix.lstrip(".") or "svg").lower()
    if fmt not in FORMATS:
        raise UsageError.at(NOWHERE, f"unknown format '{fmt}'", f"use one of: {', '.join(FORMATS)}")
    c = compile_from_cli(spec, network, set_, input)
    level = None if full else (depth or DEFAULT_DEPTH)
    try:
        data = render_bytes(c, fmt, level, rankdir.value)
    except DotMissing as e:
        out = out.with_suffix(".dot")
        write_atomic({out: render_bytes(c, "dot", level, rankdir.value)})
        err(f"warning: {e}")
        print(
            f"wrote {out} (DOT source; render it with `dot -T{fmt} {out} -o FILE` once Graphviz is installed)"
        )
        return
    write_atomic({out: data})
    print(f"wrote {out}")


@app.command()
@reports_errors
def build(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("generated"),
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
) -> None:
    """Check, then write OUT/<network>.py, .summary.json and .svg (atomically: all or nothing)."""
    from archc.build import build as build_files
    from archc.summary import check_line

    c = compile_from_cli(spec, network, set_, input)
    for path in build_files(c, out, err):
        print(f"wrote {path}")
    print(check_line(c))


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


@app.command()
@reports_errors
def diff(
    spec_a: SpecArg,
    spec_b: Annotated[
        Path | None,
        typer.Argument(help="The other spec (default: SPEC_A again, with --set).", show_default=False),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Overrides for the second side (B).", show_default=False),
    ] = None,
    set_a: Annotated[
        list[str] | None,
        typer.Option("--set-a", help="Overrides for the first side (A).", show_default=False),
    ] = None,
    format: Annotated[Format | None, typer.Option("--format", "-f", help="table (default) or json.")] = None,
    input: InputOpt = None,
) -> None:
    """Compare two networks (or one with two sets of overrides): shapes, parameters, MACs per stage."""
    from archc.summary import diff_data, diff_lines

    a = compile_from_cli(spec_a, None, set_a, input)
    b = compile_from_cli(spec_b or spec_a, None, set_, input)
    if (format or Format.table) is Format.json:
        print(json.dumps(diff_data(a, b), indent=2))
    else:
        for line in diff_lines(a, b):
            print(line)


@app.command()
def ops() -> None:
    """List the primitive ops, their arguments and whether they count MACs."""
    from archc.dsl.ops import ALIASES, REGISTRY, REQUIRED

    for name, op in REGISTRY.items():
        args = ", ".join(a.name + ("" if a.default is REQUIRED else f"={a.default}") for a in op.args)
        aliases = sorted(k for k, v in ALIASES.items() if v == name)
        extra = f"  (also: {', '.join(aliases)})" if aliases else ""
        print(f"{name}({args}){extra}\n    {op.summary}{'' if op.counted else '  [no MACs counted]'}")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
