"""``archc build``: the emitted module, its summary and diagram, written atomically."""

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
    compile_from_cli,
    err,
    reports_errors,
)


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
