"""``archc diff``: two networks side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import (
    Format,
    InputOpt,
    SpecArg,
    app,
    compile_from_cli,
    reports_errors,
)


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
