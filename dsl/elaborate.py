"""Elaboration: a resolved network expanded into a ``networkx.DiGraph`` of primitive layers.

Each node is one primitive layer instance, keyed by its hierarchical name (``layer1.0.conv1``)
and carrying its op, resolved arguments, source span, input and output shapes, tensors and
MACs.  Each edge is one tensor flow; ``skip=True`` marks the side operands of merges.  The
block hierarchy lives in ``graph.graph["scopes"]``: for every module path, which definition
it comes from and with which arguments, so that code generation can emit one class per block.

Every error is collected; a layer whose input is unknown (after an earlier error) is skipped
silently, so one mistake is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

import networkx as nx

from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError, DiagnosticSink, Span
from archc.dsl.names import identifier_problem, join_path
from archc.dsl.ops import ALIASES, REGISTRY, REQUIRED, ArgSpec, Op, OpError, Shape, fmt, lookup
from archc.dsl.resolve import Network, labels
from archc.dsl.values import BlockRef, Evaluator, ShapeVal, Value, show, suggest, type_name

#: Documented limits: a spec past them is rejected at once instead of exhausting the machine.
MAX_LAYERS = 200_000  # primitive layers in one network
MAX_REPEAT = 100_000  # instances in one repeat
MAX_BLOCK_DEPTH = 64  # nesting of block calls
MAX_DIM = 2**31 - 1  # any one dimension of a tensor
MAX_NUMEL = 2**40  # elements of any one tensor


@dataclass
class Scope:
    """A module in the hierarchy: the network, a block instance, or a sequence."""

    path: str
    kind: str  # network | block | seq
    definition: str | None  # the block (or network) it instantiates
    args: dict[str, Value]
    span: Span
    children: list[str] = field(default_factory=list)
    in_shape: Shape | None = None
    out_shape: Shape | None = None
    repeat: str | None = None  # for a sequence made by a repeat: its naming pattern
    count: Any = None  # for a repeat: its count (symbolic during code generation)


@dataclass
class Tensor:
    node: str
    shape: Shape | None
    depth: int


@dataclass
class _Ctx:
    prefix: str
    vars: dict[str, Value]
    tensors: dict[str, Tensor]
    used: set[str]
    reserved: set[str]
    blocks_on_stack: tuple[str, ...]


class Elaborator:
    """Expands a network.  With ``codegen=True`` it also records, for the code generator, which
    attribute each top-level element became, and takes conditional layers as present (their
    conditions are kept in ``conds``) so that both branches can be emitted."""

    def __init__(
        self, net: Network, sources: dict[str, str], *, codegen: bool = False, as_block: bool = False
    ):
        self.net = net
        self.codegen = codegen
        self.as_block = as_block
        # a block class must build either branch of a condition; a network class is built as resolved
        self.force_conditions = codegen and as_block
        self.elements: dict[int, str] = {}  # id(ast.Element | ast.Merge) -> node or scope path
        self.conds: dict[str, ast.Expr] = {}  # path -> condition under which it exists
        self.seq_runs: dict[str, list[tuple[int, Any]]] = {}  # sequence -> (first index, count) of repeats
        self.sources = sources
        self.sink = DiagnosticSink()
        self.g: nx.DiGraph = nx.DiGraph()
        self.scopes: dict[str, Scope] = {}
        self.ev = Evaluator(net.blocks)
        self.count = 0
        self._labels_cache: dict[int, set[str]] = {}

    # -------------------------------------------------------------- entry point
    def run(self) -> nx.DiGraph:
        net = self.net
        if net.input_shape is None:
            raise ArchcError.at(
                net.span, f"network '{net.name}' has no input shape", "add a line such as: input 3x224x224"
            )
        if any(d <= 0 for d in net.input_shape) or len(net.input_shape) not in (1, 2, 3):
            raise ArchcError.at(
                net.input_span,
                f"input shape {fmt(net.input_shape)} is not valid",
                "give CxHxW for images, NxD for tokens or D for vectors, all sizes positive",
            )
        try:
            self._check_size(net.input_shape, net.input_span)
        except OpError as e:
            raise ArchcError.at(net.input_span, e.message, e.hint) from None
        self.g.add_node(
            "input",
            op="input",
            name="input",
            args={},
            span=net.input_span,
            shape=net.input_shape,
            in_shapes=[],
            tensors=[],
            params=0,
            buffers=0,
            macs=0,
            macs_other=0,
            scope="",
            order=0,
        )
        root = Scope("", "network", net.name, dict(net.params), net.span, in_shape=net.input_shape)
        self.scopes[""] = root
        params: dict[str, Value] = dict(net.params)
        if self.as_block:
            params["in"] = ShapeVal(net.input_shape)
        ctx = _Ctx("", params, {}, set(), self._labels(net.body), ())
        x = Tensor("input", net.input_shape, 0)
        out = self._body(net.body, x, ctx, is_network=not self.as_block, span=net.span)
        self.sink.raise_if_any(self.sources)
        assert out is not None
        root.out_shape = out.shape
        self.g.graph.update(
            name=net.name,
            file=net.file,
            params=dict(net.params),
            input_shape=net.input_shape,
            output=out.node,
            output_shape=out.shape,
            scopes=self.scopes,
        )
        return self.g

    # -------------------------------------------------------------- statements
    def _body(
        self, body: tuple[ast.Stmt, ...], x: Tensor, ctx: _Ctx, *, is_network: bool, span: Span
    ) -> Tensor | None:
        ctx.tensors["x"] = x
        result: Tensor | None = None
        returned = False
        for stmt in body:
            if returned:
                self.sink.error(
                    stmt.span, "code after 'return' is never used", "remove it or move it before 'return'"
                )
                break
            if isinstance(stmt, ast.InputStmt):
                if not is_network:
                    self.sink.error(stmt.span, "'input' belongs in a network, not in a block")
                continue
            value = self._flow(stmt.value, ctx)
            if isinstance(stmt, ast.Assign):
                problem = identifier_problem(stmt.name)
                if stmt.name == "x":
                    self.sink.error(
                        stmt.span, "'x' is the block's input and cannot be reassigned", "pick another name"
                    )
                elif problem:
                    self.sink.error(stmt.span, f"'{stmt.name}' cannot be a name: {problem}")
                ctx.tensors[stmt.name] = value
            else:
                result = value
                returned = isinstance(stmt, ast.Return)
        if result is None:
            self.sink.error(span, "no output: end the body with a chain or 'return ...'")
        return result

    def _flow(self, flow: ast.Value, ctx: _Ctx) -> Tensor:
        if isinstance(flow, ast.Var):
            t = ctx.tensors.get(flow.name)
            if t is None:
                hint = suggest(flow.name, ctx.tensors)
                if flow.name in ctx.vars:
                    hint = f"'{flow.name}' is a parameter, not a tensor"
                self.sink.error(flow.span, f"undefined name '{flow.name}'", hint)
                return Tensor("input", None, 0)
            return t
        if isinstance(flow, ast.Merge):
            return self._merge(flow, ctx)
        t = self._flow(flow.source, ctx)
        for el in flow.chain:
            t = self._element(el, t, ctx)
        return t

    def _merge(self, m: ast.Merge, ctx: _Ctx) -> Tensor:
        ins = [self._flow(o, ctx) for o in m.operands]
        op = lookup(m.op)
        assert op is not None
        name = self._auto_name(m.op, ctx)
        path = join_path(ctx.prefix, name)
        if self.codegen and not ctx.prefix:
            self.elements[id(m)] = path
        return self._add_op(op, {}, ins, path, m.span, ctx)

    # -------------------------------------------------------------- layers
    def _element(self, el: ast.Element, t: Tensor, ctx: _Ctx) -> Tensor:
        if el.cond is not None:
            cond = self._condition(el.cond, ctx)
            if cond is None:
                return Tensor(t.node, None, t.depth)
            if not cond and not self.force_conditions:
                return t
        name = self._label(el, ctx)
        if name is None:
            return Tensor(t.node, None, t.depth)
        path = join_path(ctx.prefix, name)
        if self.codegen and not ctx.prefix:
            self.elements[id(el)] = path
            if el.cond is not None and self.force_conditions:
                self.conds[path] = el.cond
        if el.repeat is not None:
            return self._repeat(el, t, path, ctx)
        return self._layer(el.layer, t, path, ctx, el.span)

    def _label(self, el: ast.Element, ctx: _Ctx) -> str | None:
        if el.label is None:
            base = el.layer.name if isinstance(el.layer, ast.Call) else "seq"
            if isinstance(el.layer, ast.Call) and isinstance(ctx.vars.get(base), BlockRef):
                base = str(ctx.vars[base])
            return self._auto_name(base, ctx)
        span = el.label_span or el.span
        problem = identifier_problem(el.label)
        if problem:
            self.sink.error(span, f"'{el.label}' cannot be a layer name: {problem}", "rename the layer")
            return None
        if el.label in ctx.used:
            self.sink.error(
                span, f"layer name '{el.label}' is already used in this block", "give each layer its own name"
            )
            return None
        ctx.used.add(el.label)
        return el.label

    def _auto_name(self, base: str, ctx: _Ctx) -> str:
        name, n = base, 0
        while name in ctx.used or name in ctx.reserved:
            n += 1
            name = f"{base}_{n}"
        ctx.used.add(name)
        return name

    def _layer(self, layer: ast.Call | ast.Seq, t: Tensor, path: str, ctx: _Ctx, span: Span) -> Tensor:
        if isinstance(layer, ast.Seq):
            return self._seq(layer, t, path, ctx)
        return self._call(layer, t, path, ctx)

    def _seq(self, seq: ast.Seq, t: Tensor, path: str, ctx: _Ctx) -> Tensor:
        scope = self._open_scope(path, "seq", None, {}, seq.span, t)
        t = self._seq_items(seq.items, t, path, ctx, [0], set())
        scope.out_shape = t.shape
        return t

    def _seq_items(
        self,
        items: tuple[ast.Element, ...],
        t: Tensor,
        path: str,
        ctx: _Ctx,
        index: list[int],
        used: set[str],
    ) -> Tensor:
        """The items of a sequence, numbered from ``index[0]`` on.  A spliced list (``*[...]``)
        joins the enclosing sequence, so ``*[conv, relu] x 2`` gives four numbered children;
        any other bracketed list is a nested sequence."""
        for item in items:
            if t.shape is None:
                return t
            if isinstance(item.layer, ast.Call):
                op = lookup(item.layer.name)
                if op is not None and op.layer_is_parameter:
                    self.sink.error(
                        item.span,
                        f"{op.name} cannot be inside a sequence: its parameter is the layer itself",
                        "write it as a named step of the chain, e.g. -> class_token: cls_token",
                    )
                    return Tensor(t.node, None, t.depth)
            if item.cond is not None:
                cond = self._condition(item.cond, ctx)
                if cond is None:
                    return Tensor(t.node, None, t.depth)
                if not cond and not self.force_conditions:
                    continue
            splice = item.splice
            if item.repeat is not None and item.label is None:
                count = self._count(item.repeat, ctx)
                if count is None:
                    return Tensor(t.node, None, t.depth)
                if self.codegen and not splice and item.repeat.pattern is None:
                    self.seq_runs.setdefault(path, []).append((index[0], count))
                for i in range(count):
                    sub = self._sub(ctx, i)
                    if splice:
                        assert isinstance(item.layer, ast.Seq)
                        t = self._seq_items(item.layer.items, t, path, sub, index, used)
                        continue
                    name = self._pattern(item.repeat, i, index[0])
                    if name is None:
                        return Tensor(t.node, None, t.depth)
                    self._seq_cond(item, path, name)
                    t = self._layer(item.layer, t, join_path(path, name), sub, item.span)
                    index[0] += 1
                continue
            if splice:
                assert isinstance(item.layer, ast.Seq)
                t = self._seq_items(item.layer.items, t, path, ctx, index, used)
                continue
            if item.label is not None:
                problem = identifier_problem(item.label)
                if problem or item.label in used:
                    why = problem or "already used in this sequence"
                    self.sink.error(
                        item.label_span or item.span, f"'{item.label}' cannot be a layer name: {why}"
                    )
                    return Tensor(t.node, None, t.depth)
                used.add(item.label)
            name = item.label or str(index[0])
            self._seq_cond(item, path, name)
            child = join_path(path, name)
            if item.repeat is not None:
                t = self._repeat(item, t, child, ctx)
            else:
                t = self._layer(item.layer, t, child, ctx, item.span)
            index[0] += 1
        return t

    def _seq_cond(self, item: ast.Element, path: str, name: str) -> None:
        if self.force_conditions and item.cond is not None:
            self.conds[join_path(path, name)] = item.cond

    def _repeat(self, el: ast.Element, t: Tensor, path: str, ctx: _Ctx) -> Tensor:
        assert el.repeat is not None
        count = self._count(el.repeat, ctx)
        if count is None:
            return Tensor(t.node, None, t.depth)
        scope = self._open_scope(path, "seq", None, {}, el.span, t)
        scope.repeat = el.repeat.pattern or "{i}"
        scope.count = count
        start = self.count
        for i in range(count):
            name = self._pattern(el.repeat, i, i)
            if name is None:
                return Tensor(t.node, None, t.depth)
            t = self._layer(el.layer, t, join_path(path, name), self._sub(ctx, i), el.span)
            if i == 0 and (self.count - start) * count > MAX_LAYERS:
                raise ArchcError.at(
                    el.repeat.span,
                    f"spec too big: this repeat expands to about {(self.count - start) * count:,} layers "
                    f"(the limit is {MAX_LAYERS:,})",
                    "use a smaller repeat count",
                )
        scope.out_shape = t.shape
        return t

    def _count(self, rep: ast.Repeat, ctx: _Ctx) -> int | None:
        n = self._value(rep.count, ctx.vars)
        if n is None:
            return None
        if not isinstance(n, int) or isinstance(n, bool):
            self.sink.error(
                rep.count.span, f"a repeat count must be an integer, got {type_name(n)} {show(n)}"
            )
            return None
        if n <= 0:
            self.sink.error(rep.span, f"a repeat count must be positive, got {n}", "remove the layer instead")
            return None
        if n > MAX_REPEAT or self.count + n > MAX_LAYERS:
            raise ArchcError.at(
                rep.span, f"spec too big: repeat count {n:,} (the limit is {MAX_LAYERS:,} layers in all)"
            )
        return n

    def _pattern(self, rep: ast.Repeat, i: int, index: int) -> str | None:
        if rep.pattern is None:
            return str(index)
        if (
            rep.pattern.count("{i}") != 1
            or rep.pattern.replace("{i}", "").count("{") + rep.pattern.count("}") > 1
        ):
            self.sink.error(rep.span, f"naming pattern '{rep.pattern}' must contain '{{i}}' exactly once")
            return None
        name = rep.pattern.replace("{i}", str(i))
        problem = identifier_problem(name)
        if problem:
            self.sink.error(rep.span, f"naming pattern gives '{name}', which cannot be a name: {problem}")
            return None
        return name

    def _sub(self, ctx: _Ctx, i: int) -> _Ctx:
        return _Ctx(
            ctx.prefix, {**ctx.vars, "i": i}, ctx.tensors, ctx.used, ctx.reserved, ctx.blocks_on_stack
        )

    # -------------------------------------------------------------- calls
    def _call(self, call: ast.Call, t: Tensor, path: str, ctx: _Ctx) -> Tensor:
        target: Any = ctx.vars.get(call.name)
        if isinstance(target, BlockRef):
            return self._block(self.net.blocks[target.name], call, t, path, ctx)
        if target is not None and call.name not in self.net.blocks and lookup(call.name) is None:
            self.sink.error(call.span, f"'{call.name}' is {type_name(target)} parameter, not a layer")
            return Tensor(t.node, None, t.depth)
        if call.name in self.net.blocks:
            return self._block(self.net.blocks[call.name], call, t, path, ctx)
        op = lookup(call.name)
        if op is None:
            hint = suggest(call.name, [*REGISTRY, *ALIASES, *self.net.blocks])
            self.sink.error(
                call.span, f"unknown op or block '{call.name}'", hint or "see `archc ops` for the ops"
            )
            return Tensor(t.node, None, t.depth)
        if op.arity != 1:
            self.sink.error(call.span, f"'{op.name}' joins tensors; write it as a + b, a * b or cat(a, b)")
            return Tensor(t.node, None, t.depth)
        args = self._op_args(op, call, ctx)
        if args is None:
            return Tensor(t.node, None, t.depth)
        return self._add_op(op, args, [t], path, call.span, ctx)

    def _op_args(self, op: Op, call: ast.Call, ctx: _Ctx) -> dict[str, Any] | None:
        specs = {s.name: s for s in op.args}
        for s in op.args:
            for alias in s.aliases:
                specs[alias] = s
        out: dict[str, Any] = {}
        given: set[str] = set()
        ok = True
        for i, arg in enumerate(call.args):
            if arg.name is None:
                if any(a.name for a in call.args[:i]):
                    self.sink.error(arg.span, "positional argument after a keyword argument")
                    return None
                if i >= len(op.args):
                    self.sink.error(
                        arg.span,
                        f"{op.name}: too many arguments ({len(call.args)}); it takes {len(op.args)}",
                        _signature(op),
                    )
                    return None
                spec = op.args[i]
            else:
                found = specs.get(arg.name)
                if found is None:
                    close = suggest(arg.name, specs)
                    hint = f"{close} {_signature(op)}" if close else _signature(op)
                    self.sink.error(arg.span, f"{op.name}: unknown argument '{arg.name}'", hint)
                    ok = False
                    continue
                spec = found
            if spec.name in given:
                self.sink.error(arg.span, f"{op.name}: argument '{spec.name}' given twice")
                ok = False
                continue
            given.add(spec.name)
            value = self._value(arg.value, ctx.vars)
            if value is None:
                ok = False
                continue
            checked = _check_arg(op, spec, value, arg.span, self.sink)
            if checked is _BAD:
                ok = False
                continue
            out[spec.name] = checked
        for s in op.args:
            if s.name not in given:
                if s.default is REQUIRED:
                    self.sink.error(call.span, f"{op.name}: missing argument '{s.name}'", _signature(op))
                    ok = False
                else:
                    out[s.name] = s.default
        return out if ok else None

    def _block(self, block: ast.BlockDef, call: ast.Call, t: Tensor, path: str, ctx: _Ctx) -> Tensor:
        if block.name in ctx.blocks_on_stack:
            chain = " -> ".join([*ctx.blocks_on_stack[ctx.blocks_on_stack.index(block.name) :], block.name])
            self.sink.error(
                call.span,
                f"cycle: block '{block.name}' contains itself ({chain})",
                "a block cannot call itself",
            )
            return Tensor(t.node, None, t.depth)
        if len(ctx.blocks_on_stack) >= MAX_BLOCK_DEPTH:
            raise ArchcError.at(call.span, f"spec too big: blocks nested more than {MAX_BLOCK_DEPTH} deep")
        if t.shape is None:
            return Tensor(t.node, None, t.depth)
        env = self._bind_block(block, call, ctx, t.shape)
        if env is None:
            return Tensor(t.node, None, t.depth)
        scope = self._open_scope(
            path, "block", block.name, {k: v for k, v in env.items() if k != "in"}, call.span, t
        )
        sub = _Ctx(path, env, {}, set(), self._labels(block.body), (*ctx.blocks_on_stack, block.name))
        out = self._body(block.body, Tensor(t.node, t.shape, 0), sub, is_network=False, span=block.span)
        if out is None:
            return Tensor(t.node, None, t.depth)
        scope.out_shape = out.shape
        return Tensor(out.node, out.shape, t.depth + 1)

    def _bind_block(
        self, block: ast.BlockDef, call: ast.Call, ctx: _Ctx, shape: Shape
    ) -> dict[str, Value] | None:
        names = [p.name for p in block.params]
        given: dict[str, ast.Arg] = {}
        for i, arg in enumerate(call.args):
            if arg.name is None:
                if i >= len(names):
                    self.sink.error(
                        arg.span, f"{block.name}: too many arguments; it takes ({', '.join(names)})"
                    )
                    return None
                given[names[i]] = arg
            elif arg.name not in names:
                self.sink.error(
                    arg.span,
                    f"{block.name}: unknown argument '{arg.name}'",
                    suggest(arg.name, names) or f"it takes ({', '.join(names)})",
                )
                return None
            elif arg.name in given:
                self.sink.error(arg.span, f"{block.name}: argument '{arg.name}' given twice")
                return None
            else:
                given[arg.name] = arg
        env: dict[str, Value] = {"in": ShapeVal(shape)}
        for p in block.params:
            if p.name in given:
                v = self._value(given[p.name].value, ctx.vars)
            elif p.default is not None:
                v = self._value(p.default, env)
            else:
                self.sink.error(
                    call.span, f"{block.name}: missing argument '{p.name}'", f"it takes ({', '.join(names)})"
                )
                return None
            if v is None:
                return None
            env[p.name] = v
        return env

    # -------------------------------------------------------------- nodes
    def _add_op(
        self, op: Op, args: dict[str, Any], ins: list[Tensor], path: str, span: Span, ctx: _Ctx
    ) -> Tensor:
        depth = max(t.depth for t in ins) + 1
        shapes = [t.shape for t in ins]
        if any(s is None for s in shapes):
            return Tensor(ins[0].node, None, depth)
        known: list[Shape] = [s for s in shapes if s is not None]
        try:
            op.check_rank(known)
            out = op.infer(args, known)
            self._check_size(out, span)
            tensors = op.tensors(args, known, out)
            macs, other = op.macs(args, known, out)
        except OpError as e:
            self.sink.error(span, e.message, e.hint)
            return Tensor(ins[0].node, None, depth)
        if path in self.g:
            self.sink.error(span, f"two layers are both named '{path}'", "give each layer its own name")
            return Tensor(ins[0].node, None, depth)
        self.count += 1
        if self.count > MAX_LAYERS:
            raise ArchcError.at(span, f"spec too big: more than {MAX_LAYERS:,} layers", "use fewer repeats")
        params = sum(ts.numel for ts in tensors if not ts.buffer)
        buffers = sum(ts.numel for ts in tensors if ts.buffer)
        parent = path.rpartition(".")[0]
        self.g.add_node(
            path,
            op=op.name,
            name=path,
            args=args,
            span=span,
            shape=out,
            in_shapes=known,
            tensors=[(f"{path}.{ts.suffix}" if ts.suffix else path, ts.shape, ts.buffer) for ts in tensors],
            params=params,
            buffers=buffers,
            macs=macs,
            macs_other=other,
            scope=parent,
            order=self.count,
            inputs=[t.node for t in ins],
        )
        main = _main_operand(op.name, ins, out)
        for i, t in enumerate(ins):
            self.g.add_edge(t.node, path, index=i, skip=main is not None and i != main, shape=t.shape)
        scope = self.scopes.get(parent)
        leaf = path.rpartition(".")[2]
        if scope is not None and leaf not in scope.children:
            scope.children.append(leaf)
        return Tensor(path, out, depth)

    def _open_scope(
        self, path: str, kind: str, definition: str | None, args: dict[str, Value], span: Span, t: Tensor
    ) -> Scope:
        scope = Scope(path, kind, definition, args, span, in_shape=t.shape)
        self.scopes[path] = scope
        parent = self.scopes.get(path.rpartition(".")[0])
        leaf = path.rpartition(".")[2]
        if parent is not None and leaf not in parent.children:
            parent.children.append(leaf)
        return scope

    # -------------------------------------------------------------- helpers
    def _condition(self, e: ast.Expr, ctx: _Ctx) -> bool | None:
        """The value of a layer's ``if``; None after reporting an error."""
        cond = self._value(e, ctx.vars)
        if cond is None or isinstance(cond, bool):
            return cond
        self.sink.error(e.span, f"expected a condition, got {type_name(cond)} {show(cond)}")
        return None

    def _value(self, e: ast.Expr, env: dict[str, Value]) -> Value | None:
        try:
            return self.ev.ev(e, env)
        except ArchcError as err:
            self.sink.diagnostics.extend(err.diagnostics)
            return None

    def _check_size(self, shape: Shape, span: Span) -> None:
        if any(d > MAX_DIM for d in shape) or prod(shape) > MAX_NUMEL:
            raise OpError(
                f"spec too big: a tensor of shape {fmt(shape)} exceeds the size limit", "use smaller sizes"
            )
        if any(d <= 0 for d in shape):
            raise OpError(
                f"a size is not positive: {fmt(shape)}",
                "check the strides, kernels and widths before this layer",
            )

    def _labels(self, body: tuple[ast.Stmt, ...]) -> set[str]:
        key = id(body)
        if key not in self._labels_cache:
            self._labels_cache[key] = set(labels(body))
        return self._labels_cache[key]


_BAD: Any = object()


def _signature(op: Op) -> str:
    parts = []
    for s in op.args:
        alias = f" ({'/'.join(s.aliases[:1])})" if s.aliases else ""
        parts.append(s.name + alias + ("" if s.default is REQUIRED else f"={show(s.default)}"))
    return f"{op.name} takes: {', '.join(parts) or 'no arguments'}"


def _check_arg(op: Op, spec: ArgSpec, v: Any, span: Span, sink: DiagnosticSink) -> Any:
    kind = spec.kind
    where = f"{op.name}: argument '{spec.name}'"
    is_int = isinstance(v, int) and not isinstance(v, bool)
    if kind == "bool":
        if isinstance(v, bool):
            return v
        sink.error(span, f"{where} must be true or false, got {type_name(v)} {show(v)}")
        return _BAD
    if kind in ("float", "prob"):
        if isinstance(v, int | float) and not isinstance(v, bool):
            if kind == "prob" and not 0 <= v <= 1:
                sink.error(span, f"{where} must be between 0 and 1, got {show(v)}")
                return _BAD
            if kind == "float" and v <= 0:
                sink.error(span, f"{where} must be positive, got {show(v)}")
                return _BAD
            return v if isinstance(v, float) else float(v)
        sink.error(span, f"{where} must be a number, got {type_name(v)} {show(v)}")
        return _BAD
    if kind == "float_triple":
        if (
            isinstance(v, list)
            and len(v) == 3
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
        ):
            return tuple(float(x) for x in v)
        sink.error(span, f"{where} must be a list of three numbers, got {type_name(v)} {show(v)}")
        return _BAD
    if kind.endswith("_pair"):
        base = kind.removesuffix("_pair")
        items = v if isinstance(v, list) else [v]
        if len(items) not in (1, 2) or not all(isinstance(x, int) and not isinstance(x, bool) for x in items):
            sink.error(span, f"{where} must be an integer or a pair [h, w], got {type_name(v)} {show(v)}")
            return _BAD
        low = 1 if base == "posint" else 0
        if any(x < low for x in items):
            sink.error(
                span,
                f"{where} must be {'positive' if low else 'non-negative'}, got {show(v)}",
                "sizes are at least 1",
            )
            return _BAD
        return items[0] if len(items) == 1 or items[0] == items[1] else (items[0], items[1])
    if not is_int:
        hint = "use // for integer division" if isinstance(v, float) else None
        sink.error(span, f"{where} must be an integer, got {type_name(v)} {show(v)}", hint)
        return _BAD
    if kind == "pos" and v <= 0:
        sink.error(span, f"{where} must be positive, got {v}", "sizes and counts are at least 1")
        return _BAD
    if kind == "nonneg" and v < 0:
        sink.error(span, f"{where} must not be negative, got {v}")
        return _BAD
    if v > MAX_DIM:
        sink.error(span, f"spec too big: {where} is {v:,} (the limit is {MAX_DIM:,})")
        return _BAD
    return v


def _main_operand(op: str, ins: list[Tensor], out: Shape) -> int | None:
    """Which input of a merge is the main path; the others are drawn as skip edges.  The
    branches of a concatenation are equals: none of them is a skip."""
    if len(ins) == 1:
        return 0
    candidates = range(len(ins))
    if op == "mul":
        full = [i for i in candidates if ins[i].shape == out]
        candidates = full or candidates  # type: ignore[assignment]
    if op == "cat":
        return None
    return max(candidates, key=lambda i: (ins[i].depth, -i))


def elaborate(net: Network, sources: dict[str, str]) -> nx.DiGraph:
    """Expand ``net`` into its layer graph, or raise :class:`ArchcError` with every problem found."""
    return Elaborator(net, sources).run()
