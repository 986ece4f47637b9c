"""``archc render``: diagrams with Graphviz."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import (
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
    from archc.dsl.diagnostics import NOWHERE
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
