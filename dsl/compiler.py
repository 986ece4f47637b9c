"""The front end as one call: parse, resolve and elaborate a spec into a :class:`Compiled`
network, plus the parsing of command-line overrides (``--set``) and input shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import networkx as nx

from archc.dsl import ast
from archc.dsl.analysis import Row, Totals, rows, state_dict, totals
from archc.dsl.diagnostics import NOWHERE, ArchcError, Diagnostic, UsageError
from archc.dsl.elaborate import elaborate
from archc.dsl.loader import Program
from archc.dsl.loader import load as load_program
from archc.dsl.parser import parse_expr
from archc.dsl.resolve import Network, resolve
from archc.dsl.values import show

_SHAPE = re.compile(r"^\s*[0-9]+(\s*x\s*[0-9]+)*\s*$")


def parse_shape(text: str) -> tuple[int, ...]:
    """``3x32x32`` as ``(3, 32, 32)``; a usage error otherwise."""
    if not _SHAPE.match(text):
        raise UsageError.at(NOWHERE, f"--input {text!r} is not a shape", "write it as CxHxW, e.g. 3x224x224")
    shape = tuple(int(p) for p in text.replace(" ", "").split("x"))
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise UsageError.at(
            NOWHERE, f"--input {text!r} is not a valid input shape", "CxHxW, NxD or D, every size at least 1"
        )
    return shape


def parse_sets(items: list[str] | None) -> dict[str, ast.Expr]:
    """``["reduction=8", "depths=[3, 4, 23, 3]"]`` as expressions, for :func:`resolve`."""
    out: dict[str, ast.Expr] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise UsageError.at(NOWHERE, f"--set {item!r} is not name=value", "e.g. --set num_classes=10")
        try:
            out[key] = parse_expr(value.strip(), f"--set {key}")
        except ArchcError as e:
            raise UsageError(e.diagnostics, {f"--set {key}": value.strip()}) from None
    return out


@dataclass
class Compiled:
    """A network compiled from a spec: its layer graph and everything archc knows about it."""

    program: Program
    network: Network
    graph: nx.DiGraph

    @property
    def name(self) -> str:
        return self.network.name

    @cached_property
    def totals(self) -> Totals:
        return totals(self.graph)

    @property
    def params(self) -> int:
        return self.totals.params

    @property
    def macs(self) -> int:
        return self.totals.macs

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.totals.output_shape

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.totals.input_shape

    def rows(self, depth: int | None = None) -> list[Row]:
        return rows(self.graph, depth)

    def state_dict_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: s for k, s, _ in state_dict(self.graph)}


def compile_file(
    path: str | Path,
    *,
    network: str | None = None,
    sets: Mapping[str, ast.Expr] | None = None,
    input_shape: tuple[int, ...] | None = None,
    allow_outside: bool = False,
) -> Compiled:
    """Parse, resolve and analyse one network of a spec file."""
    program = load_program(path, allow_outside=allow_outside)
    return compile_program(program, network=network, sets=sets, input_shape=input_shape)


def compile_program(
    program: Program,
    *,
    network: str | None = None,
    sets: Mapping[str, ast.Expr] | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Compiled:
    """Resolve and analyse one network of an already loaded program (see
    :func:`archc.dsl.loader.load_text` for specs held in memory)."""
    net = resolve(program, network, sets, input_shape)
    try:
        graph = elaborate(net, program.sources)
    except ArchcError as e:
        if sets:
            raise ArchcError(
                [_blame_sets(d, net, sets, program.sources) for d in e.diagnostics], e.sources
            ) from None
        raise
    return Compiled(program, net, graph)


def _blame_sets(
    d: Diagnostic, net: Network, sets: Mapping[str, ast.Expr], sources: Mapping[str, str]
) -> Diagnostic:
    """A diagnostic whose source line reads a parameter given with ``--set`` says so: the spec
    is fine, the value from the command line is what does not fit."""
    lines = sources.get(d.span.file, "").splitlines()
    text = lines[d.span.line - 1] if 0 < d.span.line <= len(lines) else ""
    blamed = [k for k in sets if re.search(rf"\b{re.escape(k)}\b", text)]
    if not blamed:
        return d
    given = ", ".join(f"--set {k}={show(net.params[k])}" for k in blamed if k in net.params)
    note = f"this reads a value set on the command line ({given})"
    return replace(d, hint=f"{d.hint}; {note}" if d.hint else note)
