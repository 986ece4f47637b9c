"""``archc check``, ``archc summary`` and ``archc ops``: what a spec is, without torch."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from archc.cli.common import (
    DType,
    Format,
    InputOpt,
    NetworkOpt,
    SetOpt,
    SpecArg,
    app,
    compile_from_cli,
    err,
    reports_errors,
)


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


@app.command()
def ops() -> None:
    """List every op by family, with its arguments, defaults and aliases, and whether it counts
    MACs; installed plugins (the archc.ops entry points) are loaded and listed by package."""
    from archc.dsl.ops import listing
    from archc.dsl.ops.plugins import PluginError, load_all

    try:
        load_all()
    except PluginError as e:  # list what loaded, then say what did not
        sys.stdout.write(listing())
        err(e.render())
        raise typer.Exit(1) from None
    sys.stdout.write(listing())
