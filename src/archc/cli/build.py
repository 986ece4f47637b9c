"""``archc build``: the emitted module, its summary and diagram, written atomically."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import (
    NOWHERE,
    InputOpt,
    NetworkOpt,
    SetOpt,
    SpecArg,
    UsageError,
    app,
    compile_from_cli,
    err,
    reports_errors,
)
from archc.cli.train import StrictOpt, WeightsOpt
from archc.dsl.names import identifier_problem


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
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name the files, the class and the factory (default: the network's)."),
    ] = None,
) -> None:
    """Check, then write OUT/<network>.py, .summary.json and .svg (atomically: all or nothing);
    with --weights also OUT/<network>.pt, the weights converted to the emitted module's keys."""
    from archc.build import build as build_files
    from archc.summary import check_line

    if name is not None:
        problem = identifier_problem(name)
        if problem:
            raise UsageError.at(
                NOWHERE, f"--name {name!r} cannot name a module: {problem}", "e.g. --name resnet110"
            )
    c = compile_from_cli(spec, network, set_, input)
    command = shlex.join(
        [
            "archc",
            "build",
            c.program.project_path(c.program.main),
            *(["--network", network] if network else []),
            *(arg for item in set_ or [] for arg in ("--set", item)),
            *(["--input", input] if input is not None else []),
            *(["--name", name] if name else []),
        ]
    )
    if weights is None:
        written = build_files(c, out, err, name=name, command=command)
    else:  # the converted state_dict is written with the other files, all or nothing
        from archc.build import outputs, write_atomic
        from archc.train.weights import converted

        files = outputs(c, out, err, name=name, command=command)
        files[out / f"{name or c.network.name}.pt"] = converted(c, weights, strict, err)
        write_atomic(files)
        written = list(files)
    for path in written:
        print(f"wrote {path}")
    print(check_line(c))
