"""``archc check``, ``archc summary`` and ``archc ops``: what a spec is, without torch.

(No ``from __future__ import annotations`` here: typer reads every command's annotations on each
run, and string annotations cost it an ``eval`` each.)
"""

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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
from archc.dsl.diagnostics import ArchcError, Diagnostic, UsageError


class Count(StrEnum):
    """The counting conventions of ``summary --count`` (``all``: every total side by side)."""

    fvcore = "fvcore"
    torchvision = "torchvision"
    ptflops = "ptflops"
    ptflops_aten = "ptflops-aten"
    torchinfo = "torchinfo"
    all = "all"


class Optimizer(StrEnum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


@app.command()
@reports_errors
def check(spec: SpecArg, set_: SetOpt = None, input: InputOpt = None, network: NetworkOpt = None) -> None:
    """Check a spec: one line with output shape, parameters and MACs, or the diagnostics."""
    from archc.summary import check_line

    _short_lived()
    print(check_line(compile_sized(spec, network, set_, input)))


def _short_lived() -> None:
    """A command that compiles one spec and ends: everything imported so far lives until the
    process ends, so it is moved out of the cyclic garbage collector's sight (collections
    during compilation walked it again and again: about a third of the time of compiling
    ResNet-152), and the collector stays off.  Parsing and elaboration pause it anyway and
    make no cyclic garbage; left on, it would walk every object of the network once they
    finish (0.13 s of 1.4 s for 100,000 layers) to free nothing before the process exits."""
    import gc

    gc.freeze()
    gc.disable()


def compile_sized(spec: Path, network: str | None, sets: list[str] | None, input: str | None) -> Any:
    """Compile with ``--input``; when the spec does not compile at that size, the error says which
    sizes it accepts, and when it compiles with other parameter shapes, a note on stderr says which."""
    try:
        c = compile_from_cli(spec, network, sets, input)
    except UsageError:
        raise
    except ArchcError as e:
        if input is None:
            raise
        note = _size_note(spec, network, sets, input)
        if note is None:
            raise
        *rest, last = e.diagnostics
        hint = f"{last.hint}\n  note: {note}" if last.hint else f"({note})"
        raise ArchcError([*rest, Diagnostic(last.span, last.message, hint, last.kind)], e.sources) from None
    if input is not None:
        pins = _pins(spec, network, sets, c)
        if pins:
            print(f"note: at {input} the parameters differ from the spec's: {pins}", file=sys.stderr)
    return c


def _size_note(spec: Path, network: str | None, sets: list[str] | None, input: str) -> str | None:
    """The sizes nearest to ``input`` that compile with the spec's weights, or None when the spec
    does not compile at its own size either, or the input is not an image."""
    from archc.api import parse_shape
    from archc.dsl.resolution import Resizer, nearest

    try:
        base = compile_from_cli(spec, network, sets, None)
    except ArchcError:
        return None
    shape = parse_shape(input)
    if len(shape) != 3 or len(base.input_shape) != 3 or shape[0] != base.input_shape[0]:
        return None
    found = nearest(Resizer(base.graph), shape)
    c, h, w = shape
    parts = []
    if found.get("h"):
        parts.append(" or ".join(f"{c}x{s}x{w}" for s in found["h"]))
    if found.get("w"):
        parts.append(" or ".join(f"{c}x{h}x{s}" for s in found["w"]))
    if found.get("square"):
        parts.append(" or ".join(f"{c}x{s}x{s}" for s in found["square"]))
    if not parts:
        return f"{base.name} accepts no size near {c}x{h}x{w}"
    return f"{base.name} does not accept {c}x{h}x{w}; the nearest sizes it accepts: " + "; ".join(parts)


def _pins(spec: Path, network: str | None, sets: list[str] | None, c: Any) -> str:
    """The parameters whose shapes at this input differ from the spec's own size."""
    from archc.dsl.resolution import pinned_text

    try:
        base = compile_from_cli(spec, network, sets, None)
    except ArchcError:
        return ""
    if base.input_shape == c.input_shape:
        return ""
    theirs = base.state_dict_shapes()
    changed = [(k, s, theirs[k]) for k, s in c.state_dict_shapes().items() if k in theirs and theirs[k] != s]
    return pinned_text(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")


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
    count: Annotated[
        Count | None,
        typer.Option(
            "--count",
            help="Count MACs as a tool does: fvcore, torchvision, ptflops, ptflops-aten, torchinfo; "
            "all: every tool's total side by side.",
        ),
    ] = None,
    se: Annotated[
        bool,
        typer.Option("--se", "--gates", help="What the SE (gating) blocks add, per stage, vs the SE paper."),
    ] = False,
    memory: Annotated[
        bool, typer.Option("--memory", help="Activations kept for backward, training and inference peaks.")
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="For --memory.")] = 1,
    dtype: Annotated[DType, typer.Option("--dtype", help="For --memory.")] = DType.float32,
    optimizer: Annotated[
        Optimizer, typer.Option("--optimizer", help="For --memory: the state it keeps per parameter.")
    ] = Optimizer.momentum,
    rf: Annotated[bool, typer.Option("--rf", help="Receptive field and stride of every layer.")] = False,
    resolution: Annotated[
        bool, typer.Option("--resolution", help="The input sizes the network accepts, and the smallest.")
    ] = False,
    symbolic: Annotated[
        bool, typer.Option("--symbolic", help="Shapes, MACs and parameters as formulas of H and W.")
    ] = False,
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
) -> None:
    """Per-layer table: name, op, output shape, parameters, share and MACs, with totals."""
    from archc import summary as s

    _short_lived()
    c = compile_sized(spec, network, set_, input)
    fmt = format or Format.table
    ledger = None
    if count is not None and count is not Count.all:
        from archc.dsl.counting import ledger as count_ledger

        ledger = count_ledger(c.graph, count.value)
    if fmt is Format.json:
        import json

        data = s.summary_data(c, depth, ledger)
        if count is not None:
            data["counting"] = s.count_data(c, count.value)
        if se:
            data["gates"] = s.gate_data(c)
        if memory:
            data["memory"] = s.memory_data(c, batch_size, dtype.value, optimizer.value)
        if rf:
            data["receptive_fields"] = s.rf_data(c)
        if resolution:
            data["resolution"] = s.resolution_data(c)
        if symbolic:
            data["symbolic"] = s.symbolic_data(c)
        print(json.dumps(data, indent=2))
        return
    if fmt is Format.csv:
        sys.stdout.write(s.to_csv(c, depth, ledger))
        return
    lines = [] if rf or symbolic else s.footer_lines(c)
    if rf:
        lines += s.rf_lines(c)
    elif symbolic:
        lines += s.symbolic_lines(c, depth)
    if count is Count.all:
        lines += ["", *s.count_all_lines(c)]
    elif ledger is not None:
        lines += ["", *s.count_lines(c, ledger)]
    if se:
        lines += ["", *s.gate_lines(c)]
    if memory:
        lines += s.memory_lines(c, batch_size, dtype.value, optimizer.value)
    if resolution:
        lines += s.resolution_lines(c)
    if sys.stdout.isatty():
        from rich.console import Console

        # Never markup: paths and names are the user's text (`[/b]` would crash, `[red]` colour).
        console = Console(markup=False)
        if not (rf or symbolic):
            console.print(s.to_table(c, depth, ledger))
        for line in lines:
            console.print(line, highlight=False, soft_wrap=True)
    else:  # piped: plain text, without loading rich
        if not (rf or symbolic):
            sys.stdout.write(s.to_plain(c, depth, ledger))
        print("\n".join(lines))


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
