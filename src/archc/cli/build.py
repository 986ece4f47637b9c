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
from archc.cli.train import StrictOpt, WeightsOpt


@app.command()
@reports_errors
def build(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("generated"),
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
    weights: WeightsOpt = None,
    strict: StrictOpt = False,
) -> None:
    """Check, then write OUT/<network>.py, .summary.json and .svg (atomically: all or nothing);
    with --weights also OUT/<network>.pt, the weights converted to the emitted module's keys."""
    from archc.build import build as build_files
    from archc.summary import check_line

    c = compile_from_cli(spec, network, set_, input)
    if weights is None:
        written = build_files(c, out, err)
    else:  # the converted state_dict is written with the other files, all or nothing
        from archc.build import outputs, write_atomic
        from archc.train.weights import converted

        files = outputs(c, out, err)
        files[out / f"{c.network.name}.pt"] = converted(c, weights, strict, err)
        write_atomic(files)
        written = list(files)
    for path in written:
        print(f"wrote {path}")
    print(check_line(c))
