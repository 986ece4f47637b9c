"""Elaboration: a resolved network expanded into a ``networkx.DiGraph`` of primitive layers.

Each node is one primitive layer instance, keyed by its hierarchical name (``layer1.0.conv1``)
and carrying its op, resolved arguments, source span, input and output shapes, tensors and
MACs.  Each edge is one tensor flow; ``skip=True`` marks the side operands of merges.  The
block hierarchy lives in ``graph.graph["scopes"]``: for every module path, which definition
it comes from and with which arguments, so that code generation can emit one class per block.

Edits (``insert``, ``replace``, ``remove``) are applied here, where their targets match
(:mod:`archc.dsl.targets`): a network's edits anywhere below it, a derived block's edits inside
each of its instances.

Every error is collected; a layer whose input is unknown (after an earlier error) is skipped,
and the names a skipped part uses are still checked, so that every mistake of a run is
reported once.  The work is bounded: every element and repeat instance counts against
:data:`MAX_WORK`, every layer against :data:`MAX_LAYERS`, checked before the work is done.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from math import prod
from typing import Any

import networkx as nx

from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError, Diagnostic, DiagnosticSink, Span
from archc.dsl.initializers import INITIALIZERS, PRESETS, WORDS, Initializer
from archc.dsl.names import identifier_problem, join_path
from archc.dsl.ops import ALIASES, REGISTRY, REQUIRED, ArgSpec, Op, OpError, Shape, fmt, lookup
from archc.dsl.ops.base import ChannelsLast, like
from archc.dsl.ops.factory import value_problem
from archc.dsl.parser import paused_gc
from archc.dsl.resolve import Network, labels
from archc.dsl.symbolic import SymBool, bake, code, compare, concrete
from archc.dsl.targets import Path, Pattern, Step, classify
from archc.dsl.values import BlockRef, Evaluator, OpRef, ShapeVal, Value, show, suggest, type_name

_OP_VALUE_HINT = "use it as a layer, or pass what varies (a width, a kernel size) as a number"
#: A layer name used twice in a block's body, and why a name cannot be a sequence item's
#: (elaboration and the static check of a block no instance elaborates say the same).
_USED_IN_BLOCK = "layer name '{}' is already used in this block"
_BAD_ITEM_NAME = "'{}' cannot be a layer name: {}"

#: Documented limits: a spec past them is rejected at once instead of exhausting the machine.
MAX_LAYERS = 50_000  # primitive layers in one network
MAX_REPEAT = 50_000  # instances in one repeat
MAX_WORK = 150_000  # elements and repeat instances expanded, layers or not
MAX_BLOCK_DEPTH = 32  # nesting of block calls
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
    edits: list[str] = field(default_factory=list)  # labels of the edits applied inside it
    steps: Path = ()  # for a block instance: its absolute path, as edits match it
    _child_set: set[str] = field(default_factory=set, repr=False)

    def add_child(self, leaf: str) -> None:
        if leaf not in self._child_set:
            self._child_set.add(leaf)
            self.children.append(leaf)


@dataclass
class Tensor:
    node: str
    shape: Shape | None
    depth: int


@dataclass
class Rule:
    """An edit ready to apply: its pattern, the order it was written in (an element an edit
    made is touched only by later edits), and the values its expressions see (a network's
    parameters; None for a derived block's edit, which sees the block's own)."""

    index: int
    edit: ast.Edit
    pattern: Pattern
    env: dict[str, Value] | None
    owner: str
    matched: int = 0

    @property
    def verb(self) -> str:
        return type(self.edit).__name__.lower()

    @property
    def inside_block(self) -> bool:
        """``insert NAME: ... after BLOCK``: applies inside each instance, at its output."""
        return self.pattern.mode == "block" and len(self.pattern.target.path) == 1

    def describe(self) -> str:
        label = self.edit.label if isinstance(self.edit, ast.Insert) else None
        if label:
            return label
        if isinstance(self.edit, ast.Replace) and isinstance(self.edit.element.layer, ast.Call):
            return self.edit.element.layer.name
        return f"no_{self.edit.target.path[-1].lo}"


@dataclass
class InitRule:
    """An ``init`` line ready to apply: the initializer, its checked arguments, the targets
    (each with the tensor it picks, if any), and where it was written."""

    initializer: Initializer
    args: dict[str, Any]
    targets: list[tuple[Pattern, str | None]]
    stmt: ast.InitStmt
    preset: bool
    matched: int = 0


@dataclass
class Unit:
    """What one code-generation elaboration covers: a block instance (or the network itself),
    with its parameters and input sizes as symbols, at its absolute path (for edits)."""

    block: str | None  # the block definition; None: the network
    params: dict[str, Value]
    input_shape: tuple[Any, ...]
    base: Path = ()


@dataclass
class _Ctx:
    prefix: str  # node names below the unit being elaborated
    vars: dict[str, Value]
    tensors: dict[str, Tensor]
    used: set[str]
    reserved: set[str]
    blocks_on_stack: tuple[str, ...]
    stack: Path = ()  # the absolute path of this body, for matching edits
    order: tuple[str, ...] = ()  # the labels of this body, in order (ranges)
    rules: tuple[tuple[Rule, int], ...] = ()  # active edits, with the depth of their root
    min_rule: int = 0  # edits before this one do not touch what is elaborated here
    counters: dict[str, int] = field(default_factory=dict)
    scope: str = ""  # the innermost block-instance scope (for recording applied edits)


class Elaborator:
    """Expands a network.

    With ``codegen=True`` (code generation elaborates each block once more with its parameters
    as symbols) it also records which attribute each top-level element became, and how
    conditions read as code: a condition on symbols keeps both possibilities in the graph
    when the layer leaves the shape unchanged, and is decided (baked) otherwise."""

    def __init__(
        self, net: Network, sources: dict[str, str], *, codegen: bool = False, unit: Unit | None = None
    ):
        self.net = net
        self.codegen = codegen
        self.unit = unit
        self.elements: dict[int, list[str]] = {}  # id(ast element or merge) -> the paths it became
        self.chosen: dict[int, bool] = {}  # id(ast.Choice) decided while elaborating -> which value
        self.conds: dict[str, Any] = {}  # path -> SymBool under which the layer exists
        self.branch_conds: dict[str, Any] = {}  # path -> SymBool of the choice branch it lives in
        self.choices: dict[int, Any] = {}  # id(ast.Choice) -> its SymBool
        self.requires: list[tuple[ast.Require, Any]] = []  # top-level requirements and their value
        self.lets: dict[str, Any] = {}  # top-level let names and their values
        self.inits: list[ast.InitStmt] = []
        self.pre: list[ast.Element] = []  # layers edits insert at the unit's input ...
        self.post: list[ast.Element] = []  # ... and at its output
        self.seq_runs: dict[str, list[tuple[int, Any]]] = {}  # sequence -> (first index, count) of repeats
        self.sources = sources
        self.sink = DiagnosticSink()
        self.g: nx.DiGraph = nx.DiGraph()
        self.scopes: dict[str, Scope] = {}
        self.ev = Evaluator(net.blocks)
        self.count = 0
        self.work = 0
        self._labels_cache: dict[int, tuple[str, ...]] = {}
        self.rules = self._network_rules()
        self.block_rules = self._block_rules()
        self.init_rules = self._init_rules()

    # -------------------------------------------------------------- edits
    def _is_op(self, name: str) -> bool:
        return lookup(name) is not None and name not in self.net.blocks

    def _pattern(self, target: ast.Target, root_labels: tuple[str, ...]) -> Pattern | None:
        blocks = list(self.net.blocks)
        mode = classify(target.path, root_labels, blocks, self._is_op)
        scope_mode = None
        if target.scope is not None:
            scope_mode = classify(target.scope, root_labels, blocks, self._is_op)
            if scope_mode == "op":
                scope_mode = None
        if mode is None or (target.scope is not None and scope_mode is None):
            part = target.path if mode is None else target.scope
            assert part is not None
            first = part[0].lo
            close = suggest(first, [*root_labels, *blocks])
            self.sink.error(
                target.span,
                f"'{target}': nothing is named '{first}' here (no layer, block or op of that name)",
                close or f"layers here: {', '.join(root_labels) or 'none'}",
            )
            return None
        return Pattern(target, mode, scope_mode)

    def _network_rules(self) -> list[Rule]:
        root_labels = self._labels(self.net.body)
        rules: list[Rule] = []
        first = sum(len(b.edits) for b in self.net.blocks.values())
        for k, edit in enumerate(self.net.edits):
            pattern = self._pattern(edit.target, root_labels)
            if pattern is not None:
                rules.append(Rule(first + k, edit, pattern, dict(self.net.params), self.net.name))
        return rules

    def _block_rules(self) -> dict[str, list[Rule]]:
        out: dict[str, list[Rule]] = {}
        index = 0
        for block in self.net.blocks.values():
            for edit in block.edits:
                pattern = self._pattern(edit.target, self._labels(block.body))
                if pattern is not None:
                    out.setdefault(block.name, []).append(Rule(index, edit, pattern, None, block.name))
                index += 1
        return out

    def _active(self, ctx: _Ctx) -> Iterator[tuple[Rule, int]]:
        for rule in self.rules:
            if rule.index >= ctx.min_rule:
                yield rule, 0
        for rule, root in ctx.rules:
            if rule.index >= ctx.min_rule:
                yield rule, root

    def _matching(self, ctx: _Ctx, path: Path) -> list[Rule]:
        out = []
        for rule, root in self._active(ctx):
            if rule.inside_block and isinstance(rule.edit, ast.Insert):
                continue
            if rule.pattern.matches(path[root:], self._is_op):
                rule.matched += 1
                out.append(rule)
        return out

    def _note_edit(self, ctx: _Ctx, rule: Rule) -> None:
        scope = self.scopes.get(ctx.scope)
        if scope is not None and rule.describe() not in scope.edits:
            scope.edits.append(rule.describe())

    def _edit_ctx(self, rule: Rule, t: Tensor, ctx: _Ctx) -> _Ctx:
        """The context an edit's new layer is elaborated in: its own values, plus ``in``."""
        env = dict(rule.env if rule.env is not None else ctx.vars)
        if t.shape is not None:
            env["in"] = ShapeVal(t.shape)
        return replace(ctx, vars=env, min_rule=rule.index + 1)

    def _unmatched(self) -> None:
        for rule in [*self.rules, *(r for rs in self.block_rules.values() for r in rs)]:
            if rule.matched == 0 and (rule.env is not None or self._used_block(rule.owner)):
                self.sink.error(
                    rule.edit.target.span,
                    f"{rule.verb}: '{rule.edit.target}' matches nothing in '{rule.owner}'",
                    self._nearby(rule),
                )

    def _used_block(self, name: str) -> bool:
        return any(s.definition == name for s in self.scopes.values() if s.kind == "block")

    def _nearby(self, rule: Rule) -> str:
        """What exists near where a target looked: the children of its longest matching prefix."""
        segs = rule.pattern.target.path
        if rule.pattern.mode == "op":
            present = sorted({d["op"] for _, d in self.g.nodes(data=True) if d["op"] != "input"})
            return f"ops in this network: {', '.join(present)}"
        if rule.pattern.mode == "block":
            block = self.net.blocks.get(segs[0].lo)
            inner = self._labels(block.body) if block is not None else ()
            return f"layers named in '{segs[0].lo}': {', '.join(inner) or 'none'}"
        candidates = [self.scopes[""]]
        for seg in segs[:-1]:
            nxt = [
                self.scopes[join_path(c.path, ch)]
                for c in candidates
                for ch in c.children
                if (seg.lo in ("*", ch) or seg.hi is not None) and join_path(c.path, ch) in self.scopes
            ]
            if not nxt:
                break
            candidates = nxt
        children = sorted({ch for c in candidates for ch in c.children})[:12]
        where = candidates[0].path or "the network"
        return f"'{where}' holds: {', '.join(children) or 'nothing'}"

    # -------------------------------------------------------------- initialisation
    def _init_rules(self) -> list[InitRule]:
        """The network's ``init`` lines whose condition holds, in order, presets expanded."""
        rules: list[InitRule] = []
        env: dict[str, Value] = dict(self.net.params)
        env["in"] = ShapeVal(self.net.input_shape or (1,))
        root_labels = self._labels(self.net.body)
        for stmt in self.net.body:
            if not isinstance(stmt, ast.InitStmt):
                continue
            if stmt.cond is not None:
                cond = self._value(stmt.cond, env)
                if cond is None:
                    continue
                if not isinstance(cond, bool | SymBool):
                    self.sink.error(
                        stmt.cond.span, f"expected a condition, got {type_name(cond)} {show(cond)}"
                    )
                    continue
                if not concrete(cond):
                    continue
            name = stmt.call.name
            if name in PRESETS and not stmt.targets:
                if stmt.call.args:
                    self.sink.error(stmt.call.span, f"the preset '{name}' takes no arguments")
                    continue
                for init_name, args, ops in PRESETS[name]:
                    targets: list[tuple[Pattern, str | None]] = [
                        (Pattern(ast.Target((ast.Segment(op),), None, stmt.span), "op", None), None)
                        for op in ops
                    ]
                    rules.append(InitRule(INITIALIZERS[init_name], dict(args), targets, stmt, True))
                continue
            init = INITIALIZERS.get(name)
            if init is None:
                close = suggest(name, [*INITIALIZERS, *PRESETS])
                self.sink.error(
                    stmt.call.span,
                    f"unknown initializer or preset '{name}'",
                    close or f"initializers: {', '.join(INITIALIZERS)}; presets: {', '.join(PRESETS)}",
                )
                continue
            if not stmt.targets:
                self.sink.error(
                    stmt.span, f"init {name}: say what it applies to", f"e.g. init {name} for conv"
                )
                continue
            bound = self._init_args(init, stmt.call, env)
            if bound is None:
                continue
            targets = []
            for target in stmt.targets:
                tensor = None
                if (
                    target.path[-1].lo in ("weight", "bias")
                    and len(target.path) > 1
                    and target.path[-1].hi is None
                ):
                    tensor = target.path[-1].lo
                    target = replace(target, path=target.path[:-1])
                pattern = self._pattern(target, root_labels)
                if pattern is not None:
                    targets.append((pattern, tensor))
            if targets:
                rules.append(InitRule(init, bound, targets, stmt, False))
        return rules

    def _init_args(self, init: Initializer, call: ast.Call, env: dict[str, Value]) -> dict[str, Any] | None:
        specs = {a.name: a for a in init.args}
        out: dict[str, Any] = {}
        for i, arg in enumerate(call.args):
            if arg.name is None:
                if i >= len(init.args):
                    self.sink.error(arg.span, f"{init.name}: too many arguments", _init_signature(init))
                    return None
                spec = init.args[i]
            elif arg.name in specs:
                spec = specs[arg.name]
            else:
                self.sink.error(
                    arg.span,
                    f"{init.name}: unknown argument '{arg.name}'",
                    suggest(arg.name, specs) or _init_signature(init),
                )
                return None
            if spec.kind == "word":  # a name from torch.nn.init's vocabulary, never evaluated
                words = WORDS[spec.name]
                if not isinstance(arg.value, ast.Name) or arg.value.id not in words:
                    self.sink.error(arg.span, f"{init.name}: {spec.name} must be one of {', '.join(words)}")
                    return None
                out[spec.name] = arg.value.id
                continue
            value = self._value(arg.value, env)
            if value is None:
                return None
            value = concrete(value)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                self.sink.error(arg.span, f"{init.name}: {spec.name} must be a number, got {show(value)}")
                return None
            if spec.kind == "float" and value <= 0:
                self.sink.error(arg.span, f"{init.name}: {spec.name} must be positive, got {show(value)}")
                return None
            out[spec.name] = float(value)
        for spec in init.args:
            if spec.name not in out:
                if spec.default is REQUIRED:
                    self.sink.error(
                        call.span, f"{init.name}: missing argument '{spec.name}'", _init_signature(init)
                    )
                    return None
                out[spec.name] = spec.default
        return out

    def _node_init(
        self, path: Path, tensors: list[tuple[str, Shape, bool]], leaf: str, span: Span
    ) -> dict[str, Any]:
        """For one layer, the initializer each of its tensors gets (the last rule wins)."""
        plan: dict[str, Any] = {}
        params = {
            (key.rpartition(".")[2] if key != leaf else ""): shape
            for key, shape, buffer in tensors
            if not buffer
        }
        for rule in self.init_rules:
            for pattern, tensor in rule.targets:
                if not pattern.matches(path, self._is_op):
                    continue
                if not params:
                    continue
                init = rule.initializer
                weight = "weight" if "weight" in params else ("" if "" in params else None)
                if tensor is not None:
                    if tensor not in params:
                        continue
                    chosen = {tensor: (init.name, rule.args, "set")}
                elif init.whole:
                    chosen = {t: (init.name, rule.args, "set") for t in params}
                elif weight is None:
                    continue
                else:
                    chosen = {weight: (init.name, rule.args, "set")}
                    if "bias" in params:
                        chosen["bias"] = (init.name, rule.args, "bias")
                if init.fan and any(
                    len(params[t]) < 2 for t, (_, _, role) in chosen.items() if role == "set"
                ):
                    if not rule.preset:
                        self.sink.error(
                            rule.stmt.span,
                            f"init {init.name}: '{'.'.join(s.name for s in path)}' has a weight of "
                            "fewer than 2 dimensions, which has no fan-in or fan-out",
                            "apply it to convolutions and linear layers",
                        )
                    continue
                rule.matched += 1
                plan.update(chosen)
        return plan

    def _unmatched_inits(self) -> None:
        for rule in self.init_rules:
            if not rule.preset and rule.matched == 0:
                self.sink.error(
                    rule.stmt.span,
                    f"init {rule.initializer.name}: its targets match no layer with tensors",
                    "name layers that have weights (see `archc summary`)",
                )

    # -------------------------------------------------------------- entry point
    def run(self) -> nx.DiGraph:
        net, unit = self.net, self.unit
        input_shape = unit.input_shape if unit is not None else net.input_shape
        if input_shape is None:
            raise ArchcError.at(
                net.span, f"network '{net.name}' has no input shape", "add a line such as: input 3x224x224"
            )
        if any(d <= 0 for d in input_shape) or len(input_shape) not in (1, 2, 3):
            raise ArchcError.at(
                net.input_span,
                f"input shape {fmt(input_shape)} is not valid",
                "give CxHxW for images, NxD for tokens or D for vectors, all sizes positive",
            )
        try:
            self._check_size(input_shape, net.input_span)
        except OpError as e:
            raise ArchcError.at(net.input_span, e.message, e.hint) from None
        self.g.add_node(
            "input",
            op="input",
            name="input",
            args={},
            span=net.input_span,
            shape=input_shape,
            in_shapes=[],
            tensors=[],
            params=0,
            buffers=0,
            macs=0,
            macs_other=0,
            scope="",
            order=0,
        )
        block = net.blocks[unit.block] if unit is not None and unit.block is not None else None
        body = block.body if block is not None else net.body
        params: dict[str, Value] = dict(unit.params if unit is not None else net.params)
        for name, v in params.items() if unit is None else ():  # an op as a parameter needs a factory
            if isinstance(v, OpRef) and (problem := value_problem(v)):
                raise ArchcError.at(
                    net.param_spans.get(name, net.span),
                    f"'{name}': the op '{v.op}' cannot be passed as a value: {problem}",
                    _OP_VALUE_HINT,
                )
        root = Scope(
            "", "network", block.name if block else net.name, dict(params), net.span, in_shape=input_shape
        )
        self.scopes[""] = root
        params["in"] = ShapeVal(input_shape)
        order = self._labels(body)
        base = unit.base if unit is not None else ()
        rules = tuple((r, len(base)) for r in self.block_rules.get(block.name, ())) if block else ()
        ctx = _Ctx("", params, {}, set(), set(order), (block.name,) if block else (), base, order, rules)
        x = Tensor("input", input_shape, 0)
        if block is not None:
            out = self._block_body(block, x, ctx)
        else:
            out = self._body(body, x, ctx, is_network=True, span=net.span)
        if self.unit is None:
            self._unmatched()
            self._unmatched_inits()
            if self.sink.diagnostics:
                StaticCheck(self).program()
        self.sink.raise_if_any(self.sources)
        assert out is not None
        root.out_shape = out.shape
        self.g.graph.update(
            name=net.name,
            file=net.file,
            params=dict(net.params),
            input_shape=input_shape,
            output=out.node,
            output_shape=out.shape,
            scopes=self.scopes,
            inits=self.inits,
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
            if isinstance(stmt, ast.Let):
                self._let(stmt, ctx)
                continue
            if isinstance(stmt, ast.Require):
                self._require(stmt, ctx)
                continue
            if isinstance(stmt, ast.InitStmt):
                if not is_network or ctx.prefix:
                    self.sink.error(stmt.span, "'init' belongs in a network", "move it to the network's body")
                else:
                    self.inits.append(stmt)
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

    def _let(self, stmt: ast.Let, ctx: _Ctx) -> None:
        problem = identifier_problem(stmt.name)
        if problem or stmt.name in ctx.vars or stmt.name in ctx.tensors or stmt.name in ("i", "in"):
            why = problem or "the name is already used here"
            self.sink.error(stmt.span, f"'{stmt.name}' cannot be a let name: {why}", "pick another name")
            return
        value = self._value(stmt.value, ctx.vars)
        if value is None:
            return
        if isinstance(value, ShapeVal):
            self.sink.error(stmt.value.span, "a shape cannot be a value", "use in.c, in.h or in.w")
            return
        ctx.vars[stmt.name] = value
        if not ctx.prefix:
            self.lets[stmt.name] = value

    def _require(self, stmt: ast.Require, ctx: _Ctx) -> None:
        value = self._value(stmt.cond, ctx.vars)
        if value is None:
            return
        if not isinstance(value, bool | SymBool):
            self.sink.error(stmt.cond.span, f"expected a condition, got {type_name(value)} {show(value)}")
            return
        if not concrete(value):
            message = stmt.message or "this requirement does not hold"
            self.sink.error(stmt.cond.span, f"requirement failed: {message}", _require_hint(stmt, ctx))
            return
        if not ctx.prefix:
            self.requires.append((stmt, value))

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
        if isinstance(flow, ast.Choice):
            return self._choice(flow, ctx)
        t = self._flow(flow.source, ctx)
        for el in flow.chain:
            t = self._element(el, t, ctx)
        return t

    def _choice(self, c: ast.Choice, ctx: _Ctx) -> Tensor:
        cond = self._condition(c.cond, ctx)
        if cond is None:
            StaticCheck(self).flows([c.then, c.other], ctx)
            return Tensor("input", None, 0)
        if not isinstance(cond, SymBool):
            self.chosen[id(c)] = bool(cond)
            return self._flow(c.then if cond else c.other, ctx)
        # code generation: both values, each under its condition, when both fit
        before = len(self.sink.diagnostics)
        nodes, scopes = set(self.g.nodes), set(self.scopes)
        a = self._flow(c.then, ctx)
        made_a = (set(self.g.nodes) - nodes) | (set(self.scopes) - scopes)
        middle = len(self.sink.diagnostics)
        b = self._flow(c.other, ctx)
        made_b = ((set(self.g.nodes) - nodes) | (set(self.scopes) - scopes)) - made_a
        errors_a, errors_b = middle > before, len(self.sink.diagnostics) > middle
        if _pure_merge(c.then) != _pure_merge(c.other):
            # `x + y if use_res_connect else y`: the sum holds no layer, so the value has the
            # other branch's shape (equal where the condition holds: each such instance checks
            # its own sum); where this instance's shapes do not add, the sum is simply not taken
            merge_first = _pure_merge(c.then)
            plain = b if merge_first else a
            merge_failed, plain_failed = (errors_a, errors_b) if merge_first else (errors_b, errors_a)
            merge_taken = cond.value == merge_first
            summed = a if merge_first else b
            same = (
                summed.shape is not None
                and plain.shape is not None
                and ([int(d) for d in summed.shape] == [int(d) for d in plain.shape])
            )
            if not plain_failed and (same or (merge_failed and not merge_taken)):
                del self.sink.diagnostics[before:]
                if merge_failed:
                    self.g.remove_nodes_from((made_a if merge_first else made_b) & set(self.g.nodes))
                for path in made_a:
                    self.branch_conds.setdefault(path, cond)
                for path in made_b:
                    self.branch_conds.setdefault(path, _negate(cond))
                if not ctx.prefix:  # a choice of this unit (not of a block instance inside it)
                    self.choices[id(c)] = cond
                taken = a if cond.value else b
                return Tensor(taken.node, plain.shape, max(a.depth, b.depth))
        merged = _merge_shapes(cond, a.shape, b.shape) if len(self.sink.diagnostics) == before else None
        if merged is None:  # the two values cannot be one: decide, and elaborate again
            del self.sink.diagnostics[before:]
            bake(cond)
            raise Retry()
        for path in made_a:
            self.branch_conds.setdefault(path, cond)
        negated = _negate(cond)
        for path in made_b:
            self.branch_conds.setdefault(path, negated)
        if not ctx.prefix:  # a choice of this unit (not of a block instance inside it)
            self.choices[id(c)] = cond
        taken = a if cond.value else b
        return Tensor(taken.node, merged, max(a.depth, b.depth))

    def _merge(self, m: ast.Merge, ctx: _Ctx) -> Tensor:
        ins = [self._flow(o, ctx) for o in m.operands]
        op = lookup(m.op)
        assert op is not None
        name = self._auto_name(m.op, ctx)
        path = join_path(ctx.prefix, name)
        if self.codegen and not ctx.prefix:
            self.elements[id(m)] = [path]
        return self._add_op(op, {}, ins, path, m.span, ctx)

    # -------------------------------------------------------------- layers
    def _count_work(self, span: Span, n: int = 1) -> None:
        self.work += n
        if self.work > MAX_WORK:
            raise ArchcError(
                [
                    Diagnostic(
                        span,
                        f"spec too big: more than {MAX_WORK:,} layers and repeat instances to expand",
                        "use fewer or smaller repeats",
                    )
                ],
                self.sources,
            )

    def _kind(self, layer: ast.Call | ast.Seq, ctx: _Ctx) -> tuple[str | None, str | None]:
        """(block definition, op) of a layer, as far as its name tells."""
        if isinstance(layer, ast.Seq):
            return None, None
        value = ctx.vars.get(layer.name)
        if isinstance(value, BlockRef):
            return value.name, None
        if isinstance(value, OpRef):
            return None, value.op
        if layer.name in self.net.blocks:
            return layer.name, None
        op = lookup(layer.name)
        return None, op.name if op is not None else None

    def _element(self, el: ast.Element, t: Tensor, ctx: _Ctx, origin: ast.Element | None = None) -> Tensor:
        """One step of a chain, with the edits that match it; ``origin`` is the element of the
        spec it stands for (itself, or the one an edit replaced or inserted next to)."""
        self._count_work(el.span)
        origin = origin or el
        if self.codegen and not ctx.prefix:
            self.elements.setdefault(id(origin), [])
        cond: Any = True
        if el.cond is not None:
            cond = self._condition(el.cond, ctx)
            if cond is None:
                StaticCheck(self).element(el, ctx)
                return Tensor(t.node, None, t.depth)
            if not isinstance(cond, SymBool) and not cond:
                # absent here, but still a spec that must make sense: its names are checked,
                # and its name is taken (present for other values, it would be, and the
                # emitted class holds it for every value)
                StaticCheck(self).element(el, ctx)
                if el.label is not None and not identifier_problem(el.label):
                    self._label(el, ctx)
                return t
        name = self._label(el, ctx, peek=True)
        if name is None:
            return Tensor(t.node, None, t.depth)
        block, op = self._kind(el.layer, ctx)
        rules = self._matching(ctx, (*ctx.stack, Step(name, ctx.order, block, op)))
        if not rules:
            return self._place(el, t, ctx, cond, origin)
        current: ast.Element | None = el
        befores: list[Rule] = []
        afters: list[Rule] = []
        replacer: Rule | None = None
        for rule in rules:
            self._note_edit(ctx, rule)
            if isinstance(rule.edit, ast.Remove):
                current = None
            elif isinstance(rule.edit, ast.Replace):
                if current is None:
                    continue
                new = rule.edit.element
                current = replace(new, label=el.label, label_span=el.label_span) if el.label else new
                replacer = rule
            else:
                (befores if rule.edit.position == "before" else afters).append(rule)
        for rule in befores:
            t = self._inserted(rule, t, ctx, origin)
        if current is not None:
            sub = ctx if replacer is None else self._edit_ctx(replacer, t, ctx)
            t = self._place(current, t, sub, cond if replacer is None else True, origin)
        for rule in afters:
            t = self._inserted(rule, t, ctx, origin)
        return t

    def _inserted(self, rule: Rule, t: Tensor, ctx: _Ctx, origin: ast.Element | None = None) -> Tensor:
        assert isinstance(rule.edit, ast.Insert)
        return self._element(rule.edit.element, t, self._edit_ctx(rule, t, ctx), origin)

    def _place(self, el: ast.Element, t: Tensor, ctx: _Ctx, cond: Any, origin: ast.Element) -> Tensor:
        """Name and elaborate one element (after its edits are resolved)."""
        name = self._label(el, ctx)
        if name is None:
            return Tensor(t.node, None, t.depth)
        path = join_path(ctx.prefix, name)
        if self.codegen and not ctx.prefix:
            self.elements.setdefault(id(origin), []).append(path)
        before = len(self.sink.diagnostics)
        if el.repeat is not None:
            out = self._repeat(el, t, path, ctx)
        else:
            out = self._layer(el.layer, t, path, ctx, el.span, name)
        return self._conditional(cond, path, t, out, before)

    def _conditional(self, cond: Any, path: str | None, t: Tensor, out: Tensor, before: int) -> Tensor:
        """The value after a layer that exists under ``cond``.  A symbolic condition (code
        generation) keeps the layer, and its output shape becomes ``present if cond else
        absent`` per dimension, so the code after it is right either way; where that cannot
        be said, or the layer does not fit where it is absent, the condition is decided."""
        if not isinstance(cond, SymBool):
            return out
        if len(self.sink.diagnostics) > before:
            if not cond.value:  # forced in where it is absent, and it does not fit there
                del self.sink.diagnostics[before:]
            bake(cond)
            return out if cond.value else t
        merged = _merge_shapes(cond, out.shape, t.shape)
        if merged is None:
            bake(cond)
            return out if cond.value else t
        if path is not None:
            self.conds[path] = cond
        return Tensor(out.node if cond.value else t.node, merged, max(out.depth, t.depth))

    def _label(self, el: ast.Element, ctx: _Ctx, *, peek: bool = False) -> str | None:
        if el.label is None:
            base = el.layer.name if isinstance(el.layer, ast.Call) else "seq"
            if isinstance(el.layer, ast.Call) and isinstance(ctx.vars.get(base), BlockRef):
                base = str(ctx.vars[base])
            return self._auto_name(base, ctx, peek=peek)
        span = el.label_span or el.span
        problem = identifier_problem(el.label)
        if problem:
            self.sink.error(span, f"'{el.label}' cannot be a layer name: {problem}", "rename the layer")
            return None
        if peek:
            return el.label
        if el.label in ctx.used:
            self.sink.error(span, _USED_IN_BLOCK.format(el.label), "give each layer its own name")
            return None
        ctx.used.add(el.label)
        return el.label

    def _auto_name(self, base: str, ctx: _Ctx, *, peek: bool = False) -> str:
        """``relu``, then ``relu_1``, ``relu_2``: amortised constant time per name."""
        n = ctx.counters.get(base, 0)
        while True:
            name = base if n == 0 else f"{base}_{n}"
            if name not in ctx.used and name not in ctx.reserved:
                break
            n += 1
        if not peek:
            ctx.counters[base] = n + 1
            ctx.used.add(name)
        return name

    def _layer(
        self, layer: ast.Call | ast.Seq, t: Tensor, path: str, ctx: _Ctx, span: Span, name: str
    ) -> Tensor:
        if isinstance(layer, ast.Seq):
            return self._seq(layer, t, path, ctx, name)
        return self._call(layer, t, path, ctx, name)

    def _child_ctx(self, ctx: _Ctx, step: Step, **changes: Any) -> _Ctx:
        return replace(ctx, stack=(*ctx.stack, step), **changes)

    def _seq(self, seq: ast.Seq, t: Tensor, path: str, ctx: _Ctx, name: str) -> Tensor:
        scope = self._open_scope(path, "seq", None, {}, seq.span, t)
        inner = self._child_ctx(ctx, Step(name, ctx.order), order=())
        t = self._seq_items(seq.items, t, path, inner, [0], set())
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
            self._count_work(item.span)
            if t.shape is None:
                StaticCheck(self).element(item, ctx)
                continue
            if isinstance(item.layer, ast.Call):
                op = self._op_of(item.layer, ctx)
                if op is not None and op.layer_is_parameter:
                    self.sink.error(
                        item.span,
                        f"{op.name} cannot be inside a sequence: its parameter is the layer itself",
                        "write it as a named step of the chain, e.g. -> class_token: cls_token",
                    )
                    return Tensor(t.node, None, t.depth)
            cond: Any = True
            if item.cond is not None:
                cond = self._condition(item.cond, ctx)
                if cond is None:
                    return Tensor(t.node, None, t.depth)
                if isinstance(cond, SymBool) and (item.repeat is not None or self._rules_active(ctx)):
                    # a repeated part, or numbering that edits may name: decided here
                    cond = bool(cond)
                if not isinstance(cond, SymBool) and not cond:
                    StaticCheck(self).element(item, ctx)  # absent, but its names are checked
                    # and its name is taken (a name that is no identifier was reported just now)
                    named = item.label is not None and not item.splice and not identifier_problem(item.label)
                    if named and not self._seq_label(item, used):
                        return Tensor(t.node, None, t.depth)
                    continue
            splice = item.splice
            if item.repeat is not None and item.label is None:
                count = self._count(item.repeat, ctx)
                if count is None:
                    return Tensor(t.node, None, t.depth)
                if self.codegen and not splice and item.repeat.pattern is None:
                    self.seq_runs.setdefault(path, []).append((index[0], count))
                start, work = self.count, self.work
                for i in range(int(count)):
                    if i == 1:  # the first instance done: does the whole repeat fit?
                        self._estimate(item.repeat, count, start, work)
                    self._count_work(item.span)
                    sub = self._sub(ctx, i)
                    if splice:
                        assert isinstance(item.layer, ast.Seq)
                        t = self._seq_items(item.layer.items, t, path, sub, index, used)
                        continue
                    name = self._pattern_name(item.repeat, i, index[0], path)
                    if name is None:
                        return Tensor(t.node, None, t.depth)
                    t = self._seq_child(replace(item, repeat=None, cond=None), t, path, name, sub, True)
                    index[0] += 1
                continue
            if splice:
                assert isinstance(item.layer, ast.Seq)
                t = self._spliced(item.layer, cond, t, path, ctx, index, used)
                continue
            if item.label is not None and not self._seq_label(item, used):
                return Tensor(t.node, None, t.depth)
            name = item.label or str(index[0])
            t = self._seq_child(item, t, path, name, ctx, cond)
            index[0] += 1
        return t

    def _seq_label(self, item: ast.Element, used: set[str]) -> bool:
        """Take ``item``'s label in its sequence; False (and an error) when it cannot be one."""
        assert item.label is not None
        why = identifier_problem(item.label) or (
            "already used in this sequence" if item.label in used else None
        )
        if why:
            self.sink.error(item.label_span or item.span, _BAD_ITEM_NAME.format(item.label, why))
            return False
        used.add(item.label)
        return True

    def _spliced(
        self, seq: ast.Seq, cond: Any, t: Tensor, path: str, ctx: _Ctx, index: list[int], used: set[str]
    ) -> Tensor:
        """A spliced list; under a symbolic condition (code generation) its items are kept, each
        under the condition, and the value after them is ``items if cond else unchanged``."""
        if not isinstance(cond, SymBool):
            return self._seq_items(seq.items, t, path, ctx, index, used)
        scope = self.scopes[path]
        first, before = len(scope.children), len(self.sink.diagnostics)
        out = self._seq_items(seq.items, t, path, ctx, index, used)
        for child in scope.children[first:]:
            child_path = join_path(path, child)
            inner = self.conds.get(child_path)
            self.conds[child_path] = (
                cond if inner is None else compare("and", cond, inner, cond.value and concrete(inner))
            )
        return self._conditional(cond, None, t, out, before)

    def _rules_active(self, ctx: _Ctx) -> bool:
        return any(True for _ in self._active(ctx))

    def _seq_child(self, item: ast.Element, t: Tensor, path: str, name: str, ctx: _Ctx, cond: Any) -> Tensor:
        """One child of a sequence (a whole repeat when ``item`` has one), with its edits."""
        block, op = self._kind(item.layer, ctx)
        rules = self._matching(ctx, (*ctx.stack, Step(name, (), block, op)))
        current: ast.Element | None = item
        sub = ctx
        for rule in rules:
            self._note_edit(ctx, rule)
            if isinstance(rule.edit, ast.Remove):
                current = None
            elif isinstance(rule.edit, ast.Replace):
                current = rule.edit.element
                sub = self._edit_ctx(rule, t, ctx)
                cond = True
            else:
                self.sink.error(
                    rule.edit.span,
                    f"insert: '{rule.edit.target}' is an item of a numbered sequence; an inserted "
                    "layer would shift the numbers of the items after it",
                    "replace the item with a sequence that holds both, or insert inside it",
                )
        if current is None:
            return t
        child = join_path(path, name)
        before = len(self.sink.diagnostics)
        if current.repeat is not None:
            out = self._repeat(current, t, child, sub)
        else:
            out = self._layer(current.layer, t, child, sub, current.span, name)
        return self._conditional(cond, child, t, out, before)

    def _repeat(self, el: ast.Element, t: Tensor, path: str, ctx: _Ctx) -> Tensor:
        assert el.repeat is not None
        count = self._count(el.repeat, ctx)
        if count is None:
            return Tensor(t.node, None, t.depth)
        scope = self._open_scope(path, "seq", None, {}, el.span, t)
        scope.repeat = el.repeat.pattern or "{i}"
        scope.count = count
        start, work = self.count, self.work
        name = path.rpartition(".")[2]
        inner = self._child_ctx(ctx, Step(name, ctx.order), order=())
        n = int(count)
        for i in range(n):
            self._count_work(el.span)
            leaf = self._pattern_name(el.repeat, i, i, path)
            if leaf is None:
                return Tensor(t.node, None, t.depth)
            sub = self._sub(inner, i)
            block, op = self._kind(el.layer, sub)
            layer = el.layer
            for rule in self._matching(sub, (*inner.stack, Step(leaf, (), block, op))):
                self._note_edit(ctx, rule)
                if isinstance(rule.edit, ast.Replace) and rule.edit.element.repeat is None:
                    layer = rule.edit.element.layer
                    sub = self._sub(self._edit_ctx(rule, t, inner), i)
                    continue
                self.sink.error(
                    rule.edit.span,
                    f"{rule.verb}: '{rule.edit.target}' is an instance of the repeat '{name}'; "
                    "its instances are numbered",
                    "change the repeat count, replace the instance with one layer, or edit inside it",
                )
            t = self._layer(layer, t, join_path(path, leaf), sub, el.span, leaf)
            if i == 0:
                self._estimate(el.repeat, n, start, work)
        scope.out_shape = t.shape
        return t

    def _estimate(self, rep: ast.Repeat, n: int, start: int, work: int) -> None:
        """After the first of ``n`` instances of a repeat (which made ``self.count - start``
        layers and ``self.work - work`` work), refuse one whose ``n`` instances would pass
        :data:`MAX_LAYERS` or :data:`MAX_WORK`, before expanding the others."""
        if (self.count - start) * n > MAX_LAYERS:
            raise ArchcError.at(
                rep.span,
                f"spec too big: this repeat expands to about {(self.count - start) * n:,} layers "
                f"(the limit is {MAX_LAYERS:,})",
                "use a smaller repeat count",
            )
        if work + (self.work - work) * n > MAX_WORK:
            raise ArchcError.at(
                rep.span,
                f"spec too big: this repeat expands to about {(self.work - work) * n:,} layers and "
                f"repeat instances (the limit is {MAX_WORK:,})",
                "use fewer or smaller repeats",
            )

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
            raise ArchcError(
                [
                    Diagnostic(
                        rep.span,
                        f"spec too big: repeat count {n:,} (the limits are {MAX_REPEAT:,} in one repeat, "
                        f"{MAX_LAYERS:,} layers in all)",
                    )
                ],
                self.sources,
            )
        if self.work + n > MAX_WORK:
            raise ArchcError.at(
                rep.span,
                f"spec too big: repeat count {n:,} after {self.work:,} layers and repeat instances "
                f"(the limit is {MAX_WORK:,} in all)",
                "use fewer or smaller repeats",
            )
        return n

    def _pattern_name(self, rep: ast.Repeat, i: int, index: int, parent: str) -> str | None:
        if rep.pattern is None:
            return str(index)
        name = format_pattern(rep.pattern, i)
        if name is None:
            self.sink.error(
                rep.span,
                f"naming pattern '{rep.pattern}' must contain '{{i}}' (or '{{i+1}}') exactly once",
                'e.g. named "layer_{i}"',
            )
            return None
        # a key inside a sequence is never a Python name: it may hold '-' (RegNet's block1-0)
        keyed = parent and "-" in name and not name.startswith("-") and not name.endswith("-")
        problem = identifier_problem(name.replace("-", "_") if keyed else name)
        if problem:
            self.sink.error(rep.span, f"naming pattern gives '{name}', which cannot be a name: {problem}")
            return None
        return name

    def _sub(self, ctx: _Ctx, i: int) -> _Ctx:
        return replace(ctx, vars={**ctx.vars, "i": i})

    # -------------------------------------------------------------- calls
    def _op_of(self, call: ast.Call, ctx: _Ctx) -> Op | None:
        value = ctx.vars.get(call.name)
        if isinstance(value, OpRef):
            return REGISTRY[value.op]
        if value is None and call.name not in self.net.blocks:
            return lookup(call.name)
        return None

    def _call(self, call: ast.Call, t: Tensor, path: str, ctx: _Ctx, name: str) -> Tensor:
        target: Any = ctx.vars.get(call.name)
        if isinstance(target, BlockRef):
            return self._block(self.net.blocks[target.name], call, t, path, ctx, name)
        via: OpRef | None = None
        if isinstance(target, OpRef):
            op: Op | None = REGISTRY[target.op]
            via = target
        elif target is not None and call.name not in self.net.blocks and lookup(call.name) is None:
            self.sink.error(call.span, f"'{call.name}' is {type_name(target)} parameter, not a layer")
            return Tensor(t.node, None, t.depth)
        elif call.name in self.net.blocks:
            return self._block(self.net.blocks[call.name], call, t, path, ctx, name)
        else:
            op = lookup(call.name)
        if op is None:
            self.sink.error(*_unknown_call(call, self.net.blocks))
            return Tensor(t.node, None, t.depth)
        if op.arity != 1:
            self.sink.error(call.span, f"'{op.name}' joins tensors; write it as a + b, a * b or cat(a, b)")
            return Tensor(t.node, None, t.depth)
        given: list[tuple[str | None, Any, Span]] = []
        if via is not None:
            given = [(k, v, call.span) for k, v in via.args]
        for arg in call.args:
            value = self._value(arg.value, ctx.vars)
            if value is None:
                return Tensor(t.node, None, t.depth)
            given = [g for g in given if arg.name is None or g[0] != arg.name]
            given.append((arg.name, value, arg.span))
        args = self._op_args(op, given, call.span)
        if args is None or t.shape is None:
            return Tensor(t.node, None, t.depth)
        return self._add_op(op, args, [t], path, call.span, ctx, via=via)

    def _op_args(
        self, op: Op, given: list[tuple[str | None, Any, Span]], span: Span
    ) -> dict[str, Any] | None:
        specs = {s.name: s for s in op.args}
        for s in op.args:
            for alias in s.aliases:
                specs[alias] = s
        out: dict[str, Any] = {}
        seen: set[str] = set()
        ok = True
        for i, (key, value, arg_span) in enumerate(given):
            if key is None:
                if any(g[0] for g in given[:i]):
                    self.sink.error(arg_span, "positional argument after a keyword argument")
                    return None
                if i >= len(op.args):
                    self.sink.error(
                        arg_span,
                        f"{op.name}: too many arguments ({len(given)}); it takes {len(op.args)}",
                        _signature(op),
                    )
                    return None
                spec = op.args[i]
            else:
                found = specs.get(key)
                if found is None:
                    close = suggest(key, specs)
                    hint = f"{close} {_signature(op)}" if close else _signature(op)
                    self.sink.error(arg_span, f"{op.name}: unknown argument '{key}'", hint)
                    ok = False
                    continue
                spec = found
            if spec.name in seen:
                self.sink.error(arg_span, f"{op.name}: argument '{spec.name}' given twice")
                ok = False
                continue
            seen.add(spec.name)
            checked = _check_arg(op, spec, value, arg_span, self.sink)
            if checked is _BAD:
                ok = False
                continue
            out[spec.name] = checked
        for s in op.args:
            if s.name not in seen:
                if s.default is REQUIRED:
                    self.sink.error(span, f"{op.name}: missing argument '{s.name}'", _signature(op))
                    ok = False
                else:
                    out[s.name] = s.default
        return out if ok else None

    def _block(
        self, block: ast.BlockDef, call: ast.Call, t: Tensor, path: str, ctx: _Ctx, name: str
    ) -> Tensor:
        if block.name in ctx.blocks_on_stack:
            chain = " -> ".join([*ctx.blocks_on_stack[ctx.blocks_on_stack.index(block.name) :], block.name])
            self.sink.error(
                call.span,
                f"cycle: block '{block.name}' contains itself ({chain})",
                "a block cannot call itself",
            )
            return Tensor(t.node, None, t.depth)
        if len(ctx.blocks_on_stack) >= MAX_BLOCK_DEPTH:
            raise ArchcError(
                [Diagnostic(call.span, f"spec too big: blocks nested more than {MAX_BLOCK_DEPTH} deep")],
                self.sources,
            )
        if t.shape is None:
            StaticCheck(self).call(call, ctx)
            return Tensor(t.node, None, t.depth)
        env = self._bind_block(block, call, ctx, t.shape)
        if env is None:
            return Tensor(t.node, None, t.depth)
        scope = self._open_scope(
            path, "block", block.name, {k: v for k, v in env.items() if k != "in"}, call.span, t
        )
        step = Step(name, ctx.order, block.name, None)
        stack = (*ctx.stack, step)
        scope.steps = stack
        rules = ctx.rules + tuple((r, len(stack)) for r in self.block_rules.get(block.name, ()))
        order = self._labels(block.body)
        sub = _Ctx(
            path, env, {}, set(), set(order), (*ctx.blocks_on_stack, block.name), stack, order, rules,
            ctx.min_rule, {}, path,
        )  # fmt: skip
        out = self._block_body(block, Tensor(t.node, t.shape, 0), sub)
        if out is None:
            return Tensor(t.node, None, t.depth)
        scope.out_shape = out.shape
        return Tensor(out.node, out.shape, t.depth + 1)

    def _block_body(self, block: ast.BlockDef, x: Tensor, ctx: _Ctx) -> Tensor | None:
        """A block instance's body, with the edits that insert at its input or output
        (``insert se: se(16) after bottleneck``)."""
        inside = [
            rule
            for rule, root in self._active(ctx)
            if rule.inside_block and rule.pattern.matches(ctx.stack[root:], self._is_op)
        ]
        for rule in inside:
            if isinstance(rule.edit, ast.Insert) and rule.edit.position == "before":
                rule.matched += 1
                self._note_edit(ctx, rule)
                if self.codegen and not ctx.prefix:
                    self.pre.append(rule.edit.element)
                x = self._inserted(rule, x, ctx)
        out = self._body(block.body, x, ctx, is_network=False, span=block.span)
        if out is None:
            return None
        for rule in inside:
            if isinstance(rule.edit, ast.Insert) and rule.edit.position == "after":
                rule.matched += 1
                self._note_edit(ctx, rule)
                if self.codegen and not ctx.prefix:
                    self.post.append(rule.edit.element)
                out = self._inserted(rule, out, ctx)
        return out

    def _bind_block(
        self, block: ast.BlockDef, call: ast.Call, ctx: _Ctx, shape: Shape
    ) -> dict[str, Value] | None:
        names_ = [p.name for p in block.params]
        given: dict[str, ast.Arg] = {}
        for i, arg in enumerate(call.args):
            if arg.name is None:
                if i >= len(names_):
                    self.sink.error(
                        arg.span, f"{block.name}: too many arguments; it takes ({', '.join(names_)})"
                    )
                    return None
                given[names_[i]] = arg
            elif arg.name not in names_:
                self.sink.error(
                    arg.span,
                    f"{block.name}: unknown argument '{arg.name}'",
                    suggest(arg.name, names_) or f"it takes ({', '.join(names_)})",
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
                where = given[p.name].value.span
            elif p.default is not None:
                v = self._value(p.default, env)
                where = p.default.span
            else:
                self.sink.error(
                    call.span, f"{block.name}: missing argument '{p.name}'", f"it takes ({', '.join(names_)})"
                )
                return None
            if v is None:
                return None
            if isinstance(v, ShapeVal):
                self.sink.error(
                    where, f"{block.name}: '{p.name}' cannot be a shape", "pass in.c, in.h or in.w"
                )
                return None
            if isinstance(v, OpRef) and (problem := value_problem(v)):
                self.sink.error(
                    where,
                    f"{block.name}: the op '{v.op}' cannot be passed as a value: {problem}",
                    _OP_VALUE_HINT,
                )
                return None
            env[p.name] = v
        return env

    # -------------------------------------------------------------- nodes
    def _add_op(
        self,
        op: Op,
        args: dict[str, Any],
        ins: list[Tensor],
        path: str,
        span: Span,
        ctx: _Ctx,
        *,
        via: OpRef | None = None,
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
            raise ArchcError(
                [Diagnostic(span, f"spec too big: more than {MAX_LAYERS:,} layers", "use fewer repeats")],
                self.sources,
            )
        big = next((ts for ts in tensors if ts.numel > MAX_NUMEL), None)
        if big is not None:  # a weight is a tensor too: the same limit as for activations
            self.sink.error(
                span,
                f"spec too big: its {big.suffix or 'weight'} of shape {fmt(big.shape)} "
                f"exceeds the size limit ({MAX_NUMEL:,} elements)",
                "use smaller sizes",
            )
            return Tensor(ins[0].node, None, depth)
        params = sum(ts.numel for ts in tensors if not ts.buffer)
        buffers = sum(ts.numel for ts in tensors if ts.buffer)
        parent = path.rpartition(".")[0]
        keyed = [(f"{path}.{ts.suffix}" if ts.suffix else path, ts.shape, ts.buffer) for ts in tensors]
        leaf = path.rpartition(".")[2]
        init = (
            self._node_init((*ctx.stack, Step(leaf, ctx.order, None, op.name)), keyed, path, span)
            if self.init_rules and params
            else {}
        )
        self.g.add_node(
            path,
            op=op.name,
            name=path,
            args=args,
            span=span,
            shape=out,
            in_shapes=known,
            tensors=keyed,
            init=init,
            params=params,
            buffers=buffers,
            macs=macs,
            macs_other=other,
            scope=parent,
            order=self.count,
            inputs=[t.node for t in ins],
            via=via if via is not None and via.free else None,
        )
        main = _main_operand(op.name, ins, out)
        for i, t in enumerate(ins):
            self.g.add_edge(t.node, path, index=i, skip=main is not None and i != main, shape=t.shape)
        scope = self.scopes.get(parent)
        if scope is not None:
            scope.add_child(path.rpartition(".")[2])
        return Tensor(path, out, depth)

    def _open_scope(
        self, path: str, kind: str, definition: str | None, args: dict[str, Value], span: Span, t: Tensor
    ) -> Scope:
        scope = Scope(path, kind, definition, args, span, in_shape=t.shape)
        self.scopes[path] = scope
        parent = self.scopes.get(path.rpartition(".")[0])
        if parent is not None:
            parent.add_child(path.rpartition(".")[2])
        return scope

    # -------------------------------------------------------------- helpers
    def _condition(self, e: ast.Expr, ctx: _Ctx) -> bool | SymBool | None:
        """The value of a layer's ``if``; None after reporting an error."""
        cond = self._value(e, ctx.vars)
        if cond is None or isinstance(cond, bool | SymBool):
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

    def _labels(self, body: tuple[ast.Stmt, ...]) -> tuple[str, ...]:
        key = id(body)
        if key not in self._labels_cache:
            self._labels_cache[key] = tuple(labels(body))
        return self._labels_cache[key]


class StaticCheck:
    """The names a part of a spec uses, checked without shapes: unknown ops and blocks, unknown
    arguments of ops.  It runs where an earlier error left the input unknown (or a condition
    could not be decided), and over the whole program once a run has failed, so that every
    such mistake is reported, not only the first one on a path."""

    def __init__(self, elab: Elaborator):
        self.e = elab
        self.visited: set[str] = set()  # blocks whose bodies were checked

    def program(self) -> None:
        for block in self.e.net.blocks.values():
            self.body(block.body, {p.name for p in block.params} | {"in"})
        self.body(self.e.net.body, set(self.e.net.params) | {"in"})
        for edit in self.e.net.edits:
            if isinstance(edit, ast.Insert | ast.Replace):
                self._element(edit.element, set(self.e.net.params) | {"in"})

    def body(self, body: tuple[ast.Stmt, ...], known: set[str]) -> None:
        known = set(known)
        for stmt in body:
            if isinstance(stmt, ast.Let):
                known.add(stmt.name)
            elif isinstance(stmt, ast.Assign | ast.Return | ast.FlowStmt):
                if isinstance(stmt, ast.Assign) and (problem := identifier_problem(stmt.name)):
                    self.e.sink.error(
                        stmt.span, f"'{stmt.name}' cannot be a tensor name: {problem}", "rename it"
                    )
                self._flow(stmt.value, known)

    def flows(self, flows: list[ast.Flow], ctx: _Ctx) -> None:
        for f in flows:
            self._flow(f, set(ctx.vars))

    def tensors(self, body: tuple[ast.Stmt, ...], params: set[str]) -> None:
        """Tensor names a block body reads before (or without) defining them, as elaboration
        reports them."""
        defined = {"x"}

        for stmt in body:
            if isinstance(stmt, ast.Assign | ast.Return | ast.FlowStmt):
                for v in ast.flow_parts(stmt.value):
                    if isinstance(v, ast.Var) and v.name not in defined:
                        hint = suggest(v.name, defined)
                        if v.name in params:
                            hint = f"'{v.name}' is a parameter, not a tensor"
                        self.e.sink.error(v.span, f"undefined name '{v.name}'", hint)
                if isinstance(stmt, ast.Assign):
                    defined.add(stmt.name)

    def labels(self, body: tuple[ast.Stmt, ...]) -> None:
        """Layer names used twice in a block body or in one sequence, as elaboration reports
        them (an element under a condition takes its name whether it is there or not).  The
        branches of a conditional value and repeated splices are not looked into."""
        used: set[str] = set()

        def flow(v: ast.Value) -> None:
            if isinstance(v, ast.Flow):
                flow(v.source)
                for el in v.chain:
                    element(el, used, _USED_IN_BLOCK)
            elif isinstance(v, ast.Merge):
                for o in v.operands:
                    flow(o)

        def element(el: ast.Element, scope: set[str], message: str) -> None:
            if el.label is not None and not identifier_problem(el.label):
                if el.label in scope:
                    self.e.sink.error(
                        el.label_span or el.span, message.format(el.label), "give each layer its own name"
                    )
                scope.add(el.label)
            if isinstance(el.layer, ast.Seq) and not el.splice:
                items(el.layer.items, set())

        def items(seq: tuple[ast.Element, ...], scope: set[str]) -> None:
            for item in seq:
                if item.splice and isinstance(item.layer, ast.Seq):
                    if item.repeat is None:
                        items(item.layer.items, scope)
                elif item.repeat is None or item.label is not None:
                    element(item, scope, _BAD_ITEM_NAME.format("{}", "already used in this sequence"))

        for stmt in body:
            if isinstance(stmt, ast.Assign | ast.Return | ast.FlowStmt):
                flow(stmt.value)

    def element(self, el: ast.Element, ctx: _Ctx) -> None:
        self._element(el, set(ctx.vars))

    def call(self, call: ast.Call, ctx: _Ctx) -> None:
        self._call(call, set(ctx.vars))

    def _flow(self, v: ast.Value, known: set[str]) -> None:
        for part in ast.flow_parts(v):
            if isinstance(part, ast.Element):
                self._element(part, known)

    def _element(self, el: ast.Element, known: set[str]) -> None:
        if el.label is not None and (problem := identifier_problem(el.label)):
            self.e.sink.error(
                el.label_span or el.span,
                f"'{el.label}' cannot be a layer name: {problem}",
                "rename the layer",
            )
        if isinstance(el.layer, ast.Seq):
            for item in el.layer.items:
                self._element(item, known)
        else:
            self._call(el.layer, known)

    def _call(self, call: ast.Call, known: set[str]) -> None:
        if call.name in known:
            return
        block = self.e.net.blocks.get(call.name)
        if block is not None:  # a block no instance elaborated (absent under a condition): its names
            if call.name not in self.visited:
                self.visited.add(call.name)
                self.body(block.body, {p.name for p in block.params} | {"in"})
                self.labels(block.body)
                self.tensors(block.body, {p.name for p in block.params})
            return
        op = lookup(call.name)
        if op is None:
            self.e.sink.error(*_unknown_call(call, self.e.net.blocks))
            return
        specs = {s.name for s in op.args} | {a for s in op.args for a in s.aliases}
        for arg in call.args:
            if arg.name is not None and arg.name not in specs:
                close = suggest(arg.name, specs)
                hint = f"{close} {_signature(op)}" if close else _signature(op)
                self.e.sink.error(arg.span, f"{op.name}: unknown argument '{arg.name}'", hint)


def _unknown_call(call: ast.Call, blocks: Any) -> tuple[Span, str, str]:
    hint = suggest(call.name, [*REGISTRY, *ALIASES, *blocks])
    return call.span, f"unknown op or block '{call.name}'", hint or "see `archc ops` for the ops"


class Retry(Exception):
    """Code generation decided (baked) a condition after graph nodes were made for both of its
    values: the unit is elaborated again with that condition known."""


def _pure_merge(v: ast.Value) -> bool:
    """A sum or product of tensors already computed: code that holds no layer."""
    while isinstance(v, ast.Flow) and not v.chain:
        v = v.source
    if not isinstance(v, ast.Merge) or v.op not in ("add", "mul"):
        return False
    return all(isinstance(o, ast.Var) for o in v.operands)


def _merge_shapes(cond: SymBool, present: Shape | None, absent: Shape | None) -> Shape | None:
    """``present if cond else absent`` per dimension; None when that is no shape."""
    from archc.dsl.symbolic import code, select

    if present is None or absent is None or len(present) != len(absent):
        return None
    if isinstance(present, ChannelsLast) != isinstance(absent, ChannelsLast):
        return None  # one layout with the layer, another without it
    out = []
    for x, y in zip(present, absent, strict=True):
        if int(x) == int(y) and code(x) == code(y):
            out.append(x)
            continue
        v = select(cond, x, y)
        if v is None:
            return None
        out.append(v)
    return like(present, out)


def _negate(cond: SymBool) -> SymBool:
    from archc.dsl.symbolic import negate

    out = negate(cond)
    assert isinstance(out, SymBool)
    return out


def format_pattern(pattern: str, i: int) -> str | None:
    """``layer_{i}`` or ``denselayer{i+1}`` for instance ``i``; None if the pattern is not one."""
    import re

    found = re.findall(r"\{i(?:\s*([+-])\s*(\d{1,6}))?\}", pattern)
    rest = re.sub(r"\{i(?:\s*[+-]\s*\d{1,6})?\}", "", pattern)
    if len(found) != 1 or "{" in rest or "}" in rest:
        return None
    sign, k = found[0]
    value = i + (int(k) if sign == "+" else -int(k) if sign == "-" else 0)
    return re.sub(r"\{i(?:\s*[+-]\s*\d{1,6})?\}", str(value), pattern)


def _require_hint(stmt: ast.Require, ctx: _Ctx) -> str:
    """The values the failed requirement read, e.g. ``in.h = 224, patch = 30``."""
    found: list[str] = []

    def walk(e: ast.Expr) -> None:
        match e:
            case ast.Name(id=n) if n in ctx.vars and isinstance(ctx.vars[n], int | float | bool):
                found.append(f"{n} = {show(ctx.vars[n])}")
            case ast.Attr(target=ast.InShape(), name=f) if isinstance(ctx.vars.get("in"), ShapeVal):
                shape = ctx.vars["in"]
                assert isinstance(shape, ShapeVal)
                found.append(f"in.{f} = {shape.get(f)}")
            case ast.BinOp(left=a, right=b):
                walk(a)
                walk(b)
            case ast.Not(operand=o) | ast.Neg(operand=o):
                walk(o)

    walk(stmt.cond)
    return ", ".join(dict.fromkeys(found)) or "check the values it reads"


_BAD: Any = object()


def _init_signature(init: Initializer) -> str:
    parts = [s.name + ("" if s.default is REQUIRED else f"={show(s.default)}") for s in init.args]
    return f"{init.name} takes: {', '.join(parts) or 'no arguments'}"


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
        if isinstance(v, bool | SymBool):
            return v
        sink.error(span, f"{where} must be true or false, got {type_name(v)} {show(v)}")
        return _BAD
    if kind in ("float", "prob"):
        if isinstance(v, int | float) and not isinstance(v, bool):
            if not math.isfinite(v):
                sink.error(span, f"{where} must be a finite number, got {show(v)}")
                return _BAD
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
        # a square pair is one number, unless its sides are different expressions (k[0], k[1])
        square = len(items) == 1 or (items[0] == items[1] and code(items[0]) == code(items[1]))
        return items[0] if square else (items[0], items[1])
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
    with paused_gc():
        return Elaborator(net, sources).run()
