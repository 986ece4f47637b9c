"""The Python API: ``archc.load(path, **overrides)`` gives a compiled network with its backends
(summary, emitted source, an ``nn.Module``) one method call away."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archc.dsl import ast
from archc.dsl import compiler as _compiler
from archc.dsl.compiler import parse_sets, parse_shape
from archc.dsl.diagnostics import NOWHERE
from archc.dsl.values import Value, literal

__all__ = ["Compiled", "compile_spec", "load", "parse_sets", "parse_shape"]


class Compiled(_compiler.Compiled):
    """A network compiled from a spec: its layer graph, everything archc knows about it, and the
    backends."""

    def summary(self, depth: int | None = None) -> dict[str, Any]:
        """The summary as plain data (what ``archc summary --format json`` prints)."""
        from archc.summary import summary_data

        return summary_data(self, depth)

    def source(self) -> str:
        """The emitted PyTorch module source."""
        from archc.codegen.emit import emit

        return emit(self)

    def module(self, **kwargs: Any) -> Any:
        """An ``nn.Module`` built from the emitted source in memory (no file is written)."""
        from archc.codegen.emit import instantiate

        return instantiate(self, **kwargs)


def compile_spec(
    path: str | Path,
    *,
    network: str | None = None,
    sets: Mapping[str, ast.Expr] | None = None,
    input_shape: tuple[int, ...] | None = None,
    allow_outside: bool = False,
) -> Compiled:
    """Parse, resolve and analyse one network of a spec file (``allow_outside``: ``use`` may
    read specs outside the spec's project)."""
    c = _compiler.compile_file(
        path, network=network, sets=sets, input_shape=input_shape, allow_outside=allow_outside
    )
    return Compiled(c.program, c.network, c.graph)


def load(
    path: str | Path, network: str | None = None, input: str | None = None, **overrides: Value
) -> Compiled:
    """Compile the network in ``path``; keyword arguments override its parameters.

    >>> net = archc.load("specs/se_resnet50.arch", reduction=8)   # doctest: +SKIP
    >>> net.params, net.macs, net.output_shape                      # doctest: +SKIP
    """
    sets = {k: literal(v, NOWHERE) for k, v in overrides.items()}
    shape = parse_shape(input) if input is not None else None
    return compile_spec(path, network=network, sets=sets, input_shape=shape)
