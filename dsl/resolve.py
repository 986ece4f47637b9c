"""Resolving a network: its parameters, body, input shape, edits and the blocks it sees.

A network is either written out (``network resnet(...):`` and a body) or derived from another
(``network resnet50 = resnet(bottleneck, [3, 4, 6, 3])``), optionally with edits
(``with: insert se: se(reduction) after layer4.*.bn3``).  A block may be derived the same way
(``block se_bottleneck(reduction=16) = bottleneck with: insert se: se(reduction) after bn3``).
Edits are not applied here: they travel with the network (or the derived block) and the
elaborator applies them where their targets match (:mod:`archc.dsl.targets`), so that they can
reach any layer of any instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from archc.dsl import ast
from archc.dsl.diagnostics import NOWHERE, ArchcError, DiagnosticSink, Span, UsageError
from archc.dsl.loader import Program
from archc.dsl.values import Evaluator, Value, suggest


@dataclass
class Network:
    """A network ready to elaborate: every parameter has a value."""

    name: str
    params: dict[str, Value]
    param_spans: dict[str, Span]
    body: tuple[ast.Stmt, ...]
    blocks: dict[str, ast.BlockDef]
    input_shape: tuple[int, ...] | None
    input_span: Span
    span: Span
    file: str
    edits: tuple[ast.Edit, ...] = ()


@dataclass
class _Recipe:
    params: list[ast.Param]  # in order; defaults are expressions
    body: tuple[ast.Stmt, ...]
    blocks: dict[str, ast.BlockDef]
    fixed: dict[str, ast.Expr]  # parameter defaults replaced by a derived network's arguments
    edits: list[ast.Edit]


def resolve(
    program: Program,
    name: str | None = None,
    overrides: Mapping[str, ast.Expr] | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Network:
    """Resolve network ``name`` (default: the last one in the main file) with ``--set`` overrides."""
    if name is None:
        default = program.default_network()
        if default is None:
            raise UsageError.at(
                Span(program.main, 0, 0), "this file defines no network", "use it from another spec"
            )
        net = default
    elif name in program.networks:
        net = program.networks[name]
    else:
        raise UsageError.at(
            Span(program.main, 0, 0),
            f"no network named '{name}'",
            suggest(name, program.networks) or f"networks: {', '.join(program.networks)}",
        )
    recipe = _recipe(program, net, [])
    evaluator = Evaluator(recipe.blocks)
    sink = DiagnosticSink()
    values: dict[str, Value] = {}
    spans: dict[str, Span] = {}
    overrides = dict(overrides or {})
    known = {p.name for p in recipe.params}
    for key in overrides:
        if key not in known:
            raise UsageError.at(
                Span("<command line>", 0, 0),
                f"--set {key}: network '{net.name}' has no parameter '{key}'",
                suggest(key, known)
                or f"its parameters: {', '.join(p.name for p in recipe.params) or 'none'}",
            )
    for p in recipe.params:
        expr = overrides.get(p.name) or recipe.fixed.get(p.name) or p.default
        if expr is None:
            sink.error(p.span, f"parameter '{p.name}' has no value", f"give it a default: {p.name}=...")
            continue
        try:
            values[p.name] = evaluator.ev(expr, values)
        except ArchcError as e:
            if p.name in overrides:  # a value given on the command line
                d = e.diagnostics[0]
                names = f"blocks: {', '.join(recipe.blocks)}; parameters: {', '.join(values) or 'none'}"
                hint = d.hint or (
                    "use a finite number of at most 18 digits" if "number" in d.message else names
                )
                if "undefined name" in d.message:
                    hint += "; a word that is not a name is not a value here (strings are quoted)"
                raise UsageError.at(NOWHERE, f"--set {p.name}: {d.message}", hint) from None
            sink.diagnostics.extend(e.diagnostics)
        spans[p.name] = expr.span
    sink.raise_if_any(program.sources)
    blocks = _derived_blocks(recipe.blocks, sink)
    sink.raise_if_any(program.sources)
    shape, span = input_shape, Span("<command line>", 0, 0)
    for stmt in recipe.body:
        if isinstance(stmt, ast.InputStmt) and shape is None:
            shape, span = stmt.shape, stmt.span
    return Network(
        net.name, values, spans, recipe.body, blocks, shape, span, net.span, net.file, tuple(recipe.edits)
    )


#: The longest chain of derivations (``a = b``, ``b = c``, ...), for networks and for blocks.
MAX_DERIVE = 32


def _recipe(program: Program, net: ast.NetworkDef, stack: list[str]) -> _Recipe:
    if len(stack) >= MAX_DERIVE:
        raise ArchcError.at(net.span, f"spec too big: networks derived more than {MAX_DERIVE} deep")
    if net.name in stack:
        chain = " -> ".join([*stack[stack.index(net.name) :], net.name])
        raise ArchcError.at(net.span, f"cycle: network derives from itself: {chain}", "break the cycle")
    if net.base is None:
        return _Recipe(list(net.params), net.body, dict(program.blocks), {}, [])
    base = program.networks.get(net.base)
    if base is None:
        hint = suggest(net.base, program.networks)
        if net.base in program.blocks:
            hint = f"'{net.base}' is a block; a network can only derive from a network"
        raise ArchcError.at(net.span, f"unknown network '{net.base}'", hint)
    recipe = _recipe(program, base, [*stack, net.name])
    fixed = dict(recipe.fixed)
    names = [p.name for p in recipe.params]
    positional = True
    for i, arg in enumerate(net.base_args):
        if arg.name is None:
            if not positional:
                raise ArchcError.at(arg.span, "positional argument after a keyword argument")
            if i >= len(names):
                raise ArchcError.at(arg.span, f"'{base.name}' takes {len(names)} parameters, got more")
            fixed[names[i]] = arg.value
        else:
            positional = False
            if arg.name not in names:
                raise ArchcError.at(
                    arg.span, f"'{base.name}' has no parameter '{arg.name}'", suggest(arg.name, names)
                )
            fixed[arg.name] = arg.value
    own = list(net.params)
    for p in own:
        if p.name in names:
            raise ArchcError.at(p.span, f"parameter '{p.name}' is already a parameter of '{base.name}'")
    edits = [*recipe.edits, *net.edits]
    body = recipe.body
    if net.input is not None:  # its own input: in place of the base's
        kept = tuple(s for s in body if not isinstance(s, ast.InputStmt))
        body = (net.input, *kept)
    return _Recipe([*recipe.params, *own], body, recipe.blocks, fixed, edits)


# ------------------------------------------------------------------ derived blocks


def _derived_blocks(blocks: dict[str, ast.BlockDef], sink: DiagnosticSink) -> dict[str, ast.BlockDef]:
    """Every block written out: a derived block takes its base's body, its base's parameters
    (defaults replaced by the arguments it gives) and its own, and its base's edits then its own."""
    out: dict[str, ast.BlockDef] = {}

    def resolve_block(name: str, stack: list[str]) -> ast.BlockDef | None:
        if name in out:
            return out[name]
        block = blocks[name]
        if block.base is None:
            out[name] = block
            return block
        if name in stack:
            chain = " -> ".join([*stack[stack.index(name) :], name])
            sink.error(block.span, f"cycle: block derives from itself: {chain}", "break the cycle")
            return None
        if len(stack) >= MAX_DERIVE:
            sink.error(block.span, f"spec too big: blocks derived more than {MAX_DERIVE} deep")
            return None
        if block.base not in blocks:
            sink.error(block.span, f"unknown block '{block.base}'", suggest(block.base, blocks))
            return None
        base = resolve_block(block.base, [*stack, name])
        if base is None:
            return None
        names = [p.name for p in base.params]
        params = list(base.params)
        given: set[str] = set()
        for i, arg in enumerate(block.base_args):
            if arg.name is None:
                if any(a.name for a in block.base_args[:i]):
                    sink.error(arg.span, "positional argument after a keyword argument")
                    return None
                if i >= len(names):
                    sink.error(arg.span, f"'{base.name}' takes {len(names)} parameters, got more")
                    return None
                key = names[i]
            elif arg.name not in names:
                sink.error(arg.span, f"'{base.name}' has no parameter '{arg.name}'", suggest(arg.name, names))
                return None
            else:
                key = arg.name
            if key in given:
                sink.error(arg.span, f"{base.name}: argument '{key}' given twice")
                return None
            given.add(key)
            params[names.index(key)] = ast.Param(key, arg.value, arg.span)
        for p in block.params:
            if p.name in names:
                sink.error(p.span, f"parameter '{p.name}' is already a parameter of '{base.name}'")
                return None
        derived = ast.BlockDef(
            block.name,
            (*params, *block.params),
            base.body,
            block.span,
            block.file,
            edits=(*base.edits, *block.edits),
        )
        out[name] = derived
        return derived

    for name in blocks:
        resolve_block(name, [])
    return out


def labels(body: tuple[ast.Stmt, ...]) -> list[str]:
    """The layer names written in a body, in order (the targets edits can name)."""
    out: list[str] = []

    def walk_flow(v: ast.Value) -> None:
        for part in ast.flow_parts(v):
            if isinstance(part, ast.Element):
                walk_el(part)

    def walk_el(el: ast.Element) -> None:
        if el.label:
            out.append(el.label)
        if isinstance(el.layer, ast.Seq):
            for it in el.layer.items:
                walk_el(it)

    for stmt in body:
        if isinstance(stmt, ast.Assign | ast.Return | ast.FlowStmt):
            walk_flow(stmt.value)
    return out
