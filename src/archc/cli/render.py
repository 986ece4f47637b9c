"""``archc render``: diagrams with Graphviz; and how every command writes a diagram."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archc.cli.common import (
    InputOpt,
    NetworkOpt,
    SetOpt,
    SpecArg,
    UsageError,
    app,
    compile_from_cli,
    reports_errors,
)

if TYPE_CHECKING:
    import graphviz


class RankDir(StrEnum):
    TB = "TB"
    LR = "LR"


class Expand(StrEnum):
    first = "first"
    once = "once"
    all = "all"


#: File extensions that name a format other than by its own name.
EXTENSIONS = {"gv": "dot"}

DpiOpt = Annotated[
    int | None,
    typer.Option("--dpi", min=10, max=2400, help="Resolution of a PNG (default 200).", show_default=False),
]


def diagram_format(out: Path, format: str | None) -> str:
    """The format of a diagram written to ``out``: its extension, which ``--format`` may only
    repeat; without an extension, ``--format`` (default svg)."""
    from archc.dsl.diagnostics import NOWHERE
    from archc.render import FORMATS

    ext = out.suffix.lstrip(".").lower()
    ext = EXTENSIONS.get(ext, ext)
    choices = ", ".join(FORMATS)
    if format is not None:
        wanted = EXTENSIONS.get(format.lower(), format.lower())
        if wanted not in FORMATS:
            raise UsageError.at(NOWHERE, f"unknown format '{format}'", f"use one of: {choices}")
        if ext and ext != wanted:
            raise UsageError.at(
                NOWHERE,
                f"--format {wanted} does not match the file name {out.name}",
                f"name the file {out.stem}.{wanted}, or leave out --format (the extension picks it)",
            )
        return wanted
    if not ext:
        return "svg"
    if ext not in FORMATS:
        raise UsageError.at(NOWHERE, f"unknown format '{ext}' (from {out.name})", f"use one of: {choices}")
    return ext


def write_diagram(
    out: Path, dot: graphviz.Digraph, fmt: str, dpi: int | None, say: Callable[[str], None] = print
) -> None:
    """Write a diagram atomically and ``say`` so.  Without Graphviz, a PNG, SVG or PDF cannot be
    made: the DOT source is written beside it and the command fails (exit 2) saying how to
    install Graphviz."""
    from archc.build import write_atomic
    from archc.dsl.diagnostics import NOWHERE
    from archc.render import DiagramTooBig, DotFailed, DotMissing, pipe

    try:
        data = pipe(dot, fmt, dpi)
    except DotMissing as e:
        source = out.with_suffix(".dot")
        write_atomic({source: pipe(dot, "dot")})
        if isinstance(e, DiagramTooBig):
            hint = f"its DOT source is in {source}; fold it with a smaller --depth"
        elif isinstance(e, DotFailed):
            hint = f"its DOT source is in {source}; fold it with a smaller --depth, or try another Graphviz"
        else:
            hint = (
                f"its DOT source is in {source}; once Graphviz is installed, rerun, "
                f"or run `dot -T{fmt} {source} -o {out}`"
            )
        raise UsageError.at(NOWHERE, f"{out} not written: {e}", hint) from None
    write_atomic({out: data})
    say(f"wrote {out}")


def set_names(sets: list[str] | None) -> list[str]:
    """The parameter names of ``--set name=value`` options (for diagram titles)."""
    return [item.partition("=")[0].strip() for item in sets or []]


@app.command()
@reports_errors
def render(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file; its extension picks the format.")],
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="svg, png, pdf or dot, when the file name has no extension."),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option("--depth", "-d", min=1, help="Fold modules below this depth into one node (default 2)."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Draw every layer (nothing folded).")] = False,
    expand: Annotated[
        Expand | None,
        typer.Option(
            "--expand",
            help="first: open only the first of consecutive instances of a block, fold the rest "
            "(the default from --depth 3 on); once: open each block definition once in the whole "
            "network; all: open every instance.",
            show_default=False,
        ),
    ] = None,
    dpi: DpiOpt = None,
    rankdir: Annotated[RankDir, typer.Option("--rankdir", help="Layout direction.")] = RankDir.TB,
    set_: SetOpt = None,
    input: InputOpt = None,
    network: NetworkOpt = None,
) -> None:
    """Draw a spec with Graphviz: layers, shapes on edges, skip edges, blocks as clusters."""
    from archc.render import DEFAULT_DEPTH, diagram

    fmt = diagram_format(out, format)
    c = compile_from_cli(spec, network, set_, input)
    level = None if full else (depth or DEFAULT_DEPTH)
    dot = diagram(c, level, rankdir.value, expand.value if expand else None, set_names(set_))
    write_diagram(out, dot, fmt, dpi)
