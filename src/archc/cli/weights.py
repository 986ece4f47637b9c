"""``archc weights map A B``: how network A's tensors map onto network B's (no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import Format, InputOpt, SpecArg, app, compile_from_cli, reports_errors

weights_app = typer.Typer(help="Weights between networks: how one's tensors map onto another's.")
app.add_typer(weights_app, name="weights")


@weights_app.command("map")
@reports_errors
def map_(
    spec_a: SpecArg,
    spec_b: Annotated[Path, typer.Argument(help="The network the weights go into.", show_default=False)],
    set_a: Annotated[
        list[str] | None, typer.Option("--set-a", help="Overrides for A.", show_default=False)
    ] = None,
    set_b: Annotated[
        list[str] | None, typer.Option("--set-b", "--set", "-s", help="Overrides for B.", show_default=False)
    ] = None,
    network_a: Annotated[str | None, typer.Option("--network-a", show_default=False)] = None,
    network_b: Annotated[str | None, typer.Option("--network-b", show_default=False)] = None,
    format: Annotated[Format | None, typer.Option("--format", "-f", help="table (default) or json.")] = None,
    input: InputOpt = None,
) -> None:
    """Which of A's tensors B keeps, which move, which are skipped (other shape) and which are new."""
    from archc.train.weightmap import map_tensors, report

    a = compile_from_cli(spec_a, network_a, set_a, input)
    b = compile_from_cli(spec_b, network_b, set_b, input)
    m = map_tensors(list(a.state_dict_shapes().items()), list(b.state_dict_shapes().items()))
    if (format or Format.table) is Format.json:
        doc = {
            "source": a.name,
            "target": b.name,
            "groups": m.groups(),
            "entries": [e.as_dict() for e in m.entries],
        }
        print(json.dumps(doc, indent=2))
    else:
        for line in report(m, a.name, b.name):
            print(line)
