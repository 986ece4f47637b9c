"""Resolving a network: its parameters, body, input shape and the blocks it sees.

A network is either written out (``network resnet(...):`` and a body) or derived from another
(``network resnet50 = resnet(bottleneck, [3, 4, 6, 3])``), optionally with edits
(``with: insert se: se(reduction) after bottleneck.bn3``).  Edits rewrite copies of block
definitions, so the original network is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from archc.dsl import ast
from archc.dsl.diagnostics import NOWHERE, ArchcError, DiagnosticSink, Span, UsageError
from archc.dsl.loader import Program
from archc.dsl.values import Evaluator, Value, literal, suggest


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


@dataclass
class _Recipe:
    params: list[ast.Param]  # in order; defaults are expressions
    body: tuple[ast.Stmt, ...]
    blocks: dict[str, ast.BlockDef]
    fixed: dict[str, ast.Expr]  # parameter defaults replaced by a derived network's arguments
    edits: list[tuple[ast.NetworkDef, ast.Edit]]


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
                hint = (
                    d.hint or f"blocks: {', '.join(recipe.blocks)}; parameters: {', '.join(values) or 'none'}"
                )
                raise UsageError.at(NOWHERE, f"--set {p.name}: {d.message}", hint) from None
            sink.diagnostics.extend(e.diagnostics)
        spans[p.name] = expr.span
    sink.raise_if_any(program.sources)
    blocks = dict(recipe.blocks)
    for owner, edit in recipe.edits:
        try:
            _apply_edit(blocks, recipe, owner, edit, evaluator, values)
        except ArchcError as e:
            sink.diagnostics.extend(e.diagnostics)
    sink.raise_if_any(program.sources)
    shape, span = input_shape, Span("<command line>", 0, 0)
    for stmt in recipe.body:
        if isinstance(stmt, ast.InputStmt) and shape is None:
            shape, span = stmt.shape, stmt.span
    return Network(net.name, values, spans, recipe.body, blocks, shape, span, net.span, net.file)


def _recipe(program: Program, net: ast.NetworkDef, stack: list[str]) -> _Recipe:
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
    edits = [*recipe.edits, *((net, e) for e in net.edits)]
    return _Recipe([*recipe.params, *own], recipe.body, recipe.blocks, fixed, edits)


# ------------------------------------------------------------------ edits


def _apply_edit(
    blocks: dict[str, ast.BlockDef],
    recipe: _Recipe,
    owner: ast.NetworkDef,
    edit: ast.Edit,
    evaluator: Evaluator,
    values: dict[str, Value],
) -> None:
    target = edit.target
    call = None if isinstance(edit, ast.Remove) else edit.call
    if call is not None:  # arguments are the derived network's values, copied in as constants
        call = replace(
            call,
            args=tuple(replace(a, value=literal(evaluator.ev(a.value, values), a.span)) for a in call.args),
        )
    verb = type(edit).__name__.lower()
    if target[0] in blocks:
        block = blocks[target[0]]
        if len(target) == 1:
            if not isinstance(edit, ast.Insert) or edit.position != "after":
                raise ArchcError.at(
                    edit.span, f"{verb} needs a layer inside '{block.name}'", f"name it as {block.name}.LAYER"
                )
            blocks[block.name] = replace(block, body=_append_to_output(block, edit, call))
            return
        body, found = _edit_body(block.body, target[1:], edit, call)
        if not found:
            raise ArchcError.at(
                edit.span,
                f"{verb}: block '{block.name}' has no layer '{'.'.join(target[1:])}'",
                suggest(target[-1], labels(block.body)) or f"its layers: {', '.join(labels(block.body))}",
            )
        blocks[block.name] = replace(block, body=body)
        return
    body, found = _edit_body(recipe.body, target, edit, call)
    if not found:
        raise ArchcError.at(
            edit.span,
            f"{verb}: no block or layer named '{'.'.join(target)}'",
            suggest(target[0], [*blocks, *labels(recipe.body)]),
        )
    recipe.body = body


def _append_to_output(block: ast.BlockDef, edit: ast.Insert, call: ast.Call | None) -> tuple[ast.Stmt, ...]:
    assert call is not None
    new = ast.Element(edit.label, edit.span, call, None, None, edit.span)
    body = list(block.body)
    for i in range(len(body) - 1, -1, -1):
        stmt = body[i]
        if isinstance(stmt, ast.Return | ast.FlowStmt):
            flow = stmt.value
            body[i] = replace(stmt, value=ast.Flow(flow, (new,), flow.span))
            return tuple(body)
    raise ArchcError.at(edit.span, f"block '{block.name}' has no output to insert after")


def labels(body: tuple[ast.Stmt, ...]) -> list[str]:
    """The layer names written in a body, in order (the targets edits can name)."""
    out: list[str] = []

    def walk_flow(v: ast.Value) -> None:
        if isinstance(v, ast.Flow):
            walk_flow(v.source)
            for el in v.chain:
                walk_el(el)
        elif isinstance(v, ast.Merge):
            for o in v.operands:
                walk_flow(o)

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


def _edit_body(
    body: tuple[ast.Stmt, ...], path: tuple[str, ...], edit: ast.Edit, call: ast.Call | None
) -> tuple[tuple[ast.Stmt, ...], bool]:
    found = False

    def edit_chain(chain: tuple[ast.Element, ...]) -> tuple[ast.Element, ...]:
        nonlocal found
        out: list[ast.Element] = []
        for el in chain:
            el = edit_element(el)
            if el.label == path[0] and len(path) == 1:
                found = True
                if isinstance(edit, ast.Remove):
                    continue
                if isinstance(edit, ast.Replace):
                    assert call is not None
                    out.append(replace(el, layer=call, repeat=None))
                    continue
                assert isinstance(edit, ast.Insert) and call is not None
                new = ast.Element(edit.label, edit.span, call, None, None, edit.span)
                out.extend([el, new] if edit.position == "after" else [new, el])
                continue
            out.append(el)
        return tuple(out)

    def edit_element(el: ast.Element) -> ast.Element:
        if isinstance(el.layer, ast.Seq):
            if len(path) > 1 and el.label == path[0]:
                inner, ok = _edit_body(
                    (ast.FlowStmt(ast.Flow(ast.Var("x", el.span), el.layer.items, el.span), el.span),),
                    path[1:],
                    edit,
                    call,
                )
                if ok:
                    nonlocal found
                    found = True
                    stmt = inner[0]
                    assert isinstance(stmt, ast.FlowStmt)
                    return replace(el, layer=replace(el.layer, items=stmt.value.chain))
            return replace(el, layer=replace(el.layer, items=edit_chain(el.layer.items)))
        return el

    def edit_value(v: ast.Value) -> ast.Value:
        if isinstance(v, ast.Flow):
            return replace(v, source=edit_value(v.source), chain=edit_chain(v.chain))
        if isinstance(v, ast.Merge):
            return replace(v, operands=tuple(edit_value(o) for o in v.operands))
        return v

    new_body: list[ast.Stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.Assign | ast.Return | ast.FlowStmt):
            value = edit_value(stmt.value)
            assert isinstance(value, ast.Flow)
            stmt = replace(stmt, value=value)
        new_body.append(stmt)
    return tuple(new_body), found
