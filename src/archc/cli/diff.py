"""``archc diff``: what one network changes against another."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import Format, InputOpt, NetworkOpt, SpecArg, app, compile_from_cli, err, reports_errors
from archc.cli.render import DpiOpt, RankDir, diagram_format, set_names, write_diagram


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
        typer.Option(
            "--set", "-s", help="Override a parameter of B: name=value (repeatable).", show_default=False
        ),
    ] = None,
    set_a: Annotated[
        list[str] | None,
        typer.Option("--set-a", help="Override a parameter of A (repeatable).", show_default=False),
    ] = None,
    network: NetworkOpt = None,
    network_b: Annotated[
        str | None,
        typer.Option(
            "--network-b",
            help="Which network of B's file (default: --network when B is A's file, else its last one).",
            show_default=False,
        ),
    ] = None,
    input: InputOpt = None,
    input_b: Annotated[
        str | None,
        typer.Option("--input-b", help="B's input shape, when it differs from --input.", show_default=False),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option("--depth", "-d", min=1, help="Fold changes below this depth into their module."),
    ] = None,
    format: Annotated[
        Format | None, typer.Option("--format", "-f", help="table (default), json or csv.")
    ] = None,
    render: Annotated[
        Path | None,
        typer.Option(
            "--render",
            help="Also draw both networks as one diagram (svg, png, pdf or dot).",
            show_default=False,
        ),
    ] = None,
    dpi: DpiOpt = None,
    rankdir: Annotated[RankDir, typer.Option("--rankdir", help="Layout of --render.")] = RankDir.TB,
) -> None:
    """Compare two networks (or one with two sets of overrides), aligned layer by layer: what B
    adds, removes and changes, per stage and per layer, with parameters, MACs and shapes."""
    from archc.diff import diff_data, diff_lines, to_csv

    fmt = diagram_format(render, None) if render is not None else None
    a = compile_from_cli(spec_a, network, set_a, input)
    same_file = spec_b is None
    b = compile_from_cli(
        spec_b or spec_a,
        network_b or (network if same_file else None),
        set_,
        input_b if input_b is not None else input,
    )
    kind = format or Format.table
    if kind is Format.json:
        print(json.dumps(diff_data(a, b, depth), indent=2))
    elif kind is Format.csv:
        sys.stdout.write(to_csv(a, b, depth))
    else:
        for line in diff_lines(a, b, depth):
            print(line)
    if render is not None and fmt is not None:
        from archc.dsl.align import align
        from archc.render import diff_diagram

        names = (set_names(set_a), set_names(set_))
        dot = diff_diagram(align(a.graph, b.graph), a, b, rankdir.value, names)
        write_diagram(render, dot, fmt, dpi, say=err)  # stdout holds the report (JSON, CSV)
