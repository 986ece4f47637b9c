"""PyTorch source from a compiled network: classes for its blocks, then the network.

How it works: every block instance is elaborated once more on its own, with its parameters
and input sizes as symbols (:mod:`archc.dsl.symbolic`), by the same
:class:`archc.dsl.elaborate.Elaborator` that checked the network.  The symbolic graph gives
each layer's constructor arguments as Python expressions (``nn.Conv2d(width, width * 4, ...)``)
and each condition as one (``if stride != 1 or in_channels != width * 4:``); ``forward`` is
written from the spec's own dataflow.  The network is one more such unit, with its input fixed.

The contract is that the emitted module *is* the analysed network, for the instances the spec
makes and for every constructor argument the class exposes.  So whatever the code cannot say
symbolically is decided: a symbol whose concrete value some decision needed (a condition on a
layer that does not fit either way, a repeat whose instances differ, ...) is *baked*: the unit
is elaborated again with it as a constant, and it leaves the class's signature.  Instances of
one block whose code then differs get classes of their own (``Bottleneck``, ``BottleneckSe``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2

from archc.codegen.escape import escape_text, py_str
from archc.codegen.helpers import HELPERS
from archc.codegen.layout import layout
from archc.codegen.names import Namespace, camel
from archc.dsl import ast
from archc.dsl.analysis import human
from archc.dsl.diagnostics import NOWHERE, ArchcError
from archc.dsl.elaborate import Elaborator, Retry, Scope, Unit, format_pattern
from archc.dsl.initializers import INITIALIZERS, bias_code
from archc.dsl.names import join_path
from archc.dsl.ops import REGISTRY, Ctor, Emission, fmt
from archc.dsl.ops.base import ChannelsLast, like
from archc.dsl.ops.factory import factory_form, op_factory
from archc.dsl.symbolic import SymBool, SymInt, bake, code, concrete, names, symbol, tracking_baked
from archc.dsl.values import BlockRef, Evaluator, OpRef, ShapeVal, show

if TYPE_CHECKING:
    import networkx as nx

    from archc.dsl.compiler import Compiled

_TOKEN = "\ue000"  # brackets a class's number in code written before classes are named
_IN_DIMS = {3: ("in_channels", "in_height", "in_width"), 2: ("in_tokens", "in_dim"), 1: ("in_features",)}


def dim_names(shape: tuple[Any, ...]) -> tuple[str, ...]:
    """The constructor arguments a block's input sizes become (channels-last maps: H, W, C)."""
    if isinstance(shape, ChannelsLast):
        return ("in_height", "in_width", "in_channels")
    return _IN_DIMS[len(shape)]


#: How often a unit may be elaborated again after a symbol was baked (each round bakes at
#: least one more name, so a unit settles within its number of parameters and dimensions).
MAX_ROUNDS = 64
# An identifier the code refers to: not an attribute (``.name``), not a keyword argument's name.
_USED = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?!\w)(?!\s*=(?!=))")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def class_name(name: str) -> str:
    """``bottleneck`` -> ``Bottleneck`` (the name a class prefers; :class:`Namespace` decides)."""
    return camel(name)


# ------------------------------------------------------------------ values as code


def annotation(v: Any) -> str:
    v = concrete(v)
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, OpRef):
        return "Callable[..., nn.Module]"
    if isinstance(v, list):
        inner = {annotation(x) for x in v}
        return f"Sequence[{inner.pop() if len(inner) == 1 else 'Any'}]"
    return "Any"


def value_code(v: Any) -> str:
    """A value passed to a constructor: a symbol's expression, a literal, an op's factory."""
    if isinstance(v, OpRef):
        return v.expr if v.free and v.expr else op_factory(v)
    if isinstance(v, list) and not names(v):
        return code(tuple(v)) if v else "()"
    return code(v)


def _default_of(p: ast.Param, example: Any, blocks: Iterable[str]) -> tuple[bool, Any]:
    """A parameter's default, when the spec writes it as a literal (number, flag, list of
    numbers, an op) of the same type the instances pass; else (False, None)."""
    e = p.default
    value: Any
    match e:
        case None:
            return False, None
        case ast.Num(value=v) | ast.Bool(value=v):
            value = v
        case ast.Neg(operand=ast.Num(value=v)):
            value = -v
        case ast.ListLit(items=items) if all(isinstance(i, ast.Num | ast.Bool) for i in items):
            value = [i.value for i in items]  # type: ignore[union-attr]
        case ast.Name() | ast.FCall() if not isinstance(e, ast.Name) or e.id not in blocks:
            try:
                value = Evaluator({}).ev(e, {})
            except ArchcError:
                return False, None
            if not isinstance(value, OpRef):
                return False, None
        case _:
            return False, None
    if annotation(value) != annotation(example) or (
        isinstance(value, float) != isinstance(concrete(example), float)
    ):
        return False, None
    return True, value


# ------------------------------------------------------------------ classes


@dataclass(frozen=True)
class SigParam:
    name: str
    annotation: str
    has_default: bool
    default: Any = None

    @property
    def late_default(self) -> bool:
        """A default that is a call (``partial(nn.BatchNorm2d, eps=0.001)``) is made in the body,
        as torchvision does: the signature says ``None``."""
        return self.has_default and re.search(r"\w\(", value_code(self.default)) is not None

    def code(self) -> str:
        if not self.has_default:
            return f"{self.name}: {self.annotation}"
        if self.late_default:
            return f"{self.name}: {self.annotation} | None = None"
        return f"{self.name}: {self.annotation} = {value_code(self.default)}"


@dataclass(frozen=True)
class Signature:
    """A generated class's constructor: the input sizes it takes, then its parameters
    (required ones first, as Python wants)."""

    dims: tuple[tuple[str, int], ...]  # (argument name, index into the input shape)
    params: tuple[SigParam, ...]

    def code(self) -> str:
        parts = ["self", *(f"{d}: int" for d, _ in self.dims), *(p.code() for p in self.params)]
        return ", ".join(parts)


@dataclass
class ClassCode:
    name: str
    definition: str | None
    doc: str
    signature: Signature
    init: list[str]
    forward: list[str]
    baked: frozenset[str] = frozenset()
    methods: list[list[str]] = field(default_factory=list)
    edits: tuple[str, ...] = ()  # the network's edits applied inside the instances it builds

    @property
    def key(self) -> tuple[Any, ...]:
        return (tuple(self.init), tuple(self.forward), self.signature)


class Writer:
    """The ``__init__`` and ``forward`` lines of one unit, from its symbolic graph."""

    def __init__(
        self,
        emitter: Emitter,
        elab: Elaborator,
        graph: nx.DiGraph,
        body: tuple[ast.Stmt, ...],
        decided: set[str] | None = None,
        fixed: set[str] | None = None,
    ):
        self.e = emitter
        self.elab = elab
        self.graph = graph
        self.body = body
        self.is_network = elab.unit is None or elab.unit.block is None
        self.scopes: dict[str, Scope] = graph.graph["scopes"]
        self.helpers: set[str] = set()
        self.imports: set[str] = set()
        self.attrs: set[str] = set(self.scopes[""].children)
        self._decided = decided or set()  # the symbols decided so far in this round (live)
        self.cond_attrs: dict[int, str] = {}
        self.checks: list[str] = []  # requirement checks at the top of forward
        self.init_extra: list[str] = []  # attributes those checks read
        self.init_weights: list[str] = []  # the body of _init_weights, if any
        self.baked = frozenset(fixed or ())  # the symbols fixed to constants in this unit
        self.init: list[str] = []
        self.forward: list[str] = []

    def write(self) -> None:
        self.init = self.init_lines()
        self.forward = [*self.checks, *_Forward(self).run()]
        self.init_weights = InitWriter(self).lines()
        if self.init_weights:
            self.init.append("self._init_weights()")

    def attr(self, preferred: str) -> str:
        name, n = preferred, 1
        while name in self.attrs:
            name = f"{preferred}_{n}"
            n += 1
        self.attrs.add(name)
        return name

    # ------------------------------------------------------------ constructors
    def node_emission(self, path: str) -> Emission:
        d = self.graph.nodes[path]
        op = REGISTRY[d["op"]]
        args = dict(d["args"])
        if op.inplace:
            args["inplace"] = self._inplace_safe(path)
        em = op.emit(args, d["in_shapes"], d["shape"])
        via: OpRef | None = d.get("via")
        if via is not None:
            form = factory_form(op.name, em)
            if form is None:
                bake(via)  # this op cannot be a constructor argument: fix it here
                return em
            _, _, dims = form
            return Emission(f"{via.expr}({', '.join(dims)})", helpers=em.helpers)
        return em

    def _inplace_safe(self, path: str) -> bool:
        """May this ReLU overwrite its input?  Only when nothing else reads it (a layer that
        exists only under a condition, next to this one, is an alternative, not a reader)."""
        preds = list(self.graph.predecessors(path))
        if len(preds) != 1 or preds[0] == "input":
            return False
        readers = [n for n in self.graph.successors(preds[0]) if n == path or not self._conditional(n)]
        return len(readers) == 1

    def _conditional(self, path: str) -> bool:
        probe = path
        while probe:
            if probe in self.elab.conds or probe in self.elab.branch_conds:
                return True
            probe = probe.rpartition(".")[0]
        return False

    def module_code(self, path: str, in_seq: bool) -> str | None:
        """Constructor code for the module at ``path``: an op node, a block or a sequence."""
        if path in self.graph.nodes:
            em = self.node_emission(path)
            if em.module is not None and (not in_seq or em.call == "{m}({x})"):
                return self._with_helpers(str(em.module), em)
            if in_seq:
                if em.seq_module is None:
                    raise ArchcError.at(
                        self.graph.nodes[path]["span"], f"'{path}' cannot be inside a sequence"
                    )
                return self._with_helpers(str(em.seq_module), em)
            return None
        scope = self.scopes[path]
        if scope.kind == "block":
            return self.block_call(scope)
        return self.seq_code(scope)

    def absent_condition(self, path: str) -> SymBool | None:
        """The condition, false at this unit's values, under which ``path`` (or a module
        holding it) is kept; None when it is there unconditionally."""
        parts = path.split(".")
        for k in range(len(parts), 0, -1):
            cond = self.elab.conds.get(".".join(parts[:k]))
            if isinstance(cond, SymBool) and not cond.value:
                return cond
        return None

    def _with_helpers(self, text: str, em: Emission) -> str:
        """``text``, noting the helper classes it constructs."""
        self.helpers.update(h for h in em.helpers if re.search(rf"\b{h}\(", text))
        return text

    def block_call(self, scope: Scope) -> str:
        try:
            cls = self.e.class_for(scope)
        except ArchcError:
            # kept under a condition false at these values, the instance need not make sense
            # here (`se(max(1e-320, r * c)) if r > 0` at r=0): decide the condition for this
            # class, as a layer that does not fit where it is absent decides it
            if self._decided - self.baked:  # decided while elaborating: this round is redone
                raise Retry() from None
            cond = self.absent_condition(scope.path)
            if cond is None:
                raise
            bake(cond)
            raise Retry() from None
        assert scope.in_shape is not None
        args = [code(scope.in_shape[i]) for _, i in cls.signature.dims]
        for p in cls.signature.params:
            v = scope.args[p.name]
            if not p.has_default:
                args.append(value_code(v))
            elif names(v) or value_code(v) != value_code(p.default):
                args.append(f"{p.name}={value_code(v)}")
        for name in cls.baked:  # the class holds these as constants: so must the caller
            if name in scope.args:
                bake(scope.args[name])
            elif name in dim_names(scope.in_shape):
                bake(scope.in_shape[dim_names(scope.in_shape).index(name)])
        return f"{cls.name}({', '.join(args)})"

    def seq_code(self, scope: Scope) -> str:
        children = [join_path(scope.path, c) for c in scope.children]
        items = [self.module_code(c, in_seq=True) or "nn.Identity()" for c in children]
        conds = [self.elab.conds.get(c) for c in children]
        named = any(c != str(i) for i, c in enumerate(scope.children))
        if scope.repeat is not None and scope.count is not None:
            return self.repeat_code(scope, _guard_items(items, conds))
        if not named:
            return (
                f"nn.Sequential({', '.join(_compress(self.repeat_runs(scope, _guard_items(items, conds))))})"
            )
        self.imports.add("OrderedDict")
        pairs = ", ".join(
            f"*([({py_str(c)}, {it})] if {code(cd)} else [])" if cd is not None else f"({py_str(c)}, {it})"
            for c, it, cd in zip(scope.children, items, conds, strict=True)
        )
        return f"nn.Sequential(OrderedDict([{pairs}]))"

    def _seen_enough(self, paths: list[str]) -> bool:
        """Whether the instances of a repeat written so far show what others would be: the
        last one (the first of the rest, when only the first differs) must leave its input's
        shape as it was, so that the next instance sees what it saw.  One instance of
        ``block(128, stride=2 if i == 0 else 1) x depths[1]`` shows nothing of the second."""
        return len(paths) >= 3 or not paths or self._shape_kept(paths[-1])

    def _shape_kept(self, path: str) -> bool:
        scope = self.scopes.get(path)
        if scope is not None:
            a, b = scope.in_shape, scope.out_shape
        elif path in self.graph.nodes:
            d = self.graph.nodes[path]
            a, b = (d.get("in_shapes") or [None])[0], d["shape"]
        else:
            return False
        if a is None or b is None or len(a) != len(b):
            return False
        return all(code(x) == code(y) for x, y in zip(a, b, strict=True))

    def repeat_runs(self, scope: Scope, items: list[str]) -> list[str]:
        """Repeats inside a sequence keep their count: ``*(Rcab(...) for _ in range(blocks))``."""
        runs = dict(self.elab.seq_runs.get(scope.path, []))
        out: list[str] = []
        i = 0
        while i < len(items):
            if i not in runs or not names(runs[i]):
                out.append(items[i])
                i += 1
                continue
            n, count = int(runs[i]), code(runs[i])
            group = items[i : i + n]
            paths = [join_path(scope.path, c) for c in scope.children[i : i + n]]
            if not self._seen_enough(paths):
                bake(runs[i])  # this instance says nothing of the ones another count adds
                out.extend(group)
                i += n
                continue
            if all(it == group[0] for it in group):
                out.append(f"*({group[0]} for _ in range({count}))")
            elif all(it == group[1] for it in group[1:]):
                out.extend([group[0], f"*({group[1]} for _ in range(1, {count}))"])
            else:
                bake(runs[i])  # the instances differ: list them, for this count only
                out.extend(group)
            i += n
        return out

    def repeat_code(self, scope: Scope, items: list[str]) -> str:
        count = code(scope.count)
        pattern = scope.repeat or "{i}"
        first, rest = items[0], items[1:]
        if names(scope.count) and not self._seen_enough([join_path(scope.path, c) for c in scope.children]):
            bake(scope.count)  # the instances at hand say nothing of those another count adds
        if pattern == "{i}":
            if all(it == first for it in rest):
                return f"nn.Sequential(*({first} for _ in range({count})))"
            if rest and all(it == rest[0] for it in rest):
                return f"nn.Sequential({first}, *({rest[0]} for _ in range(1, {count})))"
            bake(scope.count)
            return f"nn.Sequential({', '.join(items)})"
        self.imports.add("OrderedDict")
        key = 'f"' + re.sub(r"\{i\s*([+-])\s*(\d+)\}", r"{i \1 \2}", escape_text(pattern)) + '"'
        if all(it == first for it in rest):
            return f"nn.Sequential(OrderedDict(({key}, {first}) for i in range({count})))"
        if rest and all(it == rest[0] for it in rest):
            head = py_str(format_pattern(pattern, 0) or "")
            tail = f"*(({key}, {rest[0]}) for i in range(1, {count}))"
            return f"nn.Sequential(OrderedDict([({head}, {first}), {tail}]))"
        bake(scope.count)
        pairs = ", ".join(f"({py_str(format_pattern(pattern, i) or '')}, {it})" for i, it in enumerate(items))
        return f"nn.Sequential(OrderedDict([{pairs}]))"

    def init_lines(self) -> list[str]:
        lines: list[str] = []
        for stmt, value in self.elab.requires:
            lines.extend(self._requirement(stmt, value))
        by_code: dict[str, str] = {}  # two choices on one condition read one attribute
        for c, cond in self.elab.choices.items():
            if code(cond) not in by_code:
                by_code[code(cond)] = self.attr(self._choice_name(c))
                lines.append(f"self.{by_code[code(cond)]} = {code(cond)}")
            self.cond_attrs[c] = by_code[code(cond)]
        for child in self.scopes[""].children:
            cond = self.elab.conds.get(child)
            if cond is None:
                cond = self.elab.branch_conds.get(child)
            if child in self.graph.nodes:
                if REGISTRY[self.graph.nodes[child]["op"]].arity == 0:
                    continue  # merges are operators in forward, not modules
                em = self.node_emission(child)
                if em.parameter is not None:
                    lines.extend(_guarded(f"self.{child} = {em.parameter}", cond, child))
                    continue
            ctor = self.module_code(child, in_seq=False)
            if ctor is None:
                if cond is not None and child in self.elab.conds:
                    bake(cond)  # a layer written inline cannot be absent at run time: decide
                continue
            lines.extend(_guarded(f"self.{child} = {ctor}", cond, child))
        return lines

    def _choice_name(self, key: int) -> str:
        for stmt in self.body:
            value = getattr(stmt, "value", None)
            for choice in _choices_in(value):
                if id(choice) == key and isinstance(choice.cond, ast.Name):
                    return choice.cond.id
        return "use_first"

    def _requirement(self, stmt: ast.Require, value: Any) -> list[str]:
        message = py_str(stmt.message or "requirement failed")
        if self.is_network:
            check = self._input_check(stmt)
            if check is not None:
                self.checks.extend([f"if not ({check}):", f"    raise ValueError({message})"])
                return []
        if not isinstance(value, SymBool):
            return []
        return [f"if not ({code(value)}):", f"    raise ValueError({message})"]

    def _input_check(self, stmt: ast.Require) -> str | None:
        """A network's requirement on its input, as a check on ``x.shape`` in ``forward``."""
        shape = self.graph.graph["input_shape"]
        runtime = ShapeVal(
            tuple(
                SymInt(int(d), f"x.shape[{k + 1}]", free=frozenset(["x.shape"])) for k, d in enumerate(shape)
            )
        )
        params: dict[str, Any] = {}
        stored: list[str] = []
        for k, v in self.elab.unit.params.items() if self.elab.unit else ():
            if names(v) and not isinstance(v, OpRef | BlockRef):
                params[k] = symbol(f"self.{k}", concrete(v), k)
            else:
                params[k] = v
        try:
            value = Evaluator(self.e.net.blocks).ev(stmt.cond, {**params, "in": runtime})
        except ArchcError:
            return None
        if "x.shape" not in names(value):
            return None
        for k in sorted(names(value) - {"x.shape"}):
            self.attrs.add(k)
            stored.append(f"self.{k} = {k}")
        self.init_extra = stored
        return code(value)

    def used_names(self) -> set[str]:
        """Every identifier the emitted lines read (not attributes, not keyword names, not strings)."""
        found: set[str] = set()
        for line in [*self.init, *self.forward, *self.init_extra]:
            text = _STRING.sub('""', line.split("  #", 1)[0])
            found.update(_USED.findall(text))
        return found


def _guard_items(items: list[str], conds: list[Any]) -> list[str]:
    """Sequence items under conditions: a run of items under the same condition becomes one
    ``*([a, b, c] if cond else [])``."""
    out: list[str] = []
    i = 0
    while i < len(items):
        if conds[i] is None:
            out.append(items[i])
            i += 1
            continue
        j = i
        while j < len(items) and conds[j] is not None and code(conds[j]) == code(conds[i]):
            j += 1
        out.append(f"*([{', '.join(items[i:j])}] if {code(conds[i])} else [])")
        i = j
    return out


def _guarded(line: str, cond: Any, attr: str) -> list[str]:
    if cond is None:
        return [line]
    return [f"if {code(cond)}:", f"    {line}", "else:", f"    self.{attr} = None"]


def _choices_in(v: Any) -> Iterable[ast.Choice]:
    if isinstance(v, ast.Choice):
        yield v
        yield from _choices_in(v.then)
        yield from _choices_in(v.other)
    elif isinstance(v, ast.Flow):
        yield from _choices_in(v.source)
    elif isinstance(v, ast.Merge):
        for o in v.operands:
            yield from _choices_in(o)


class InitWriter:
    """``_init_weights``: the spec's ``init`` rules for the layers this class holds itself (a
    block instance's layers are its own class's), grouped into loops like torchvision's."""

    def __init__(self, writer: Writer):
        self.w = writer
        self.g = writer.graph
        self._shifting: dict[str, bool] = {}  # sequence path -> may its items shift
        self._baked: set[str] = set()  # top-level sequences whose counts and conditions are fixed

    def lines(self) -> list[str]:
        plans: dict[str, list[str]] = {}  # module reference -> its lines, with "m" for it
        guards: dict[str, str | None] = {}
        typed: dict[str, dict[str, list[str]]] = {}  # a sequence with conditional items: by class
        for path, d in self.g.nodes(data=True):
            if path == "input" or not d.get("init"):
                continue
            ref = self.reference(path)
            if ref is None:
                continue
            lines = self.calls(d)
            top = path.split(".")[0]
            if ref.startswith("@"):  # inside a sequence whose numbering may shift: by type
                callee = self.callee(path)
                if callee is None:
                    self.bake_sequence(top)
                    continue
                seq = typed.setdefault(top, {})
                if seq.setdefault(callee, lines) != lines:
                    self.bake_sequence(top)  # its layers of one class start differently
                continue
            plans[ref] = lines
            guards[ref] = self.guard(path)
        out: list[str] = []
        by_guard: dict[str | None, dict[tuple[str, ...], list[str]]] = {}
        for ref, lines in plans.items():
            by_guard.setdefault(guards[ref], {}).setdefault(tuple(lines), []).append(ref)
        for guard, groups in by_guard.items():
            indent = ""
            if guard is not None:
                out.append(f"if {guard}:")
                indent = "    "
            for calls, refs in groups.items():
                if len(refs) == 1:
                    out.extend(indent + line.replace("{m}", refs[0]) for line in calls)
                else:
                    out.append(f"{indent}for m in ({', '.join(refs)}):")
                    out.extend(indent + "    " + line.replace("{m}", "m") for line in calls)
        for top, by_class in typed.items():
            out.append(f"for m in self.{top}:")
            for callee, lines in by_class.items():
                out.append(f"    if type(m) is {callee}:")
                out.extend("        " + line.replace("{m}", "m") for line in lines)
        if not out:
            return []
        self.w.imports.update(("math",) if any("math." in line for line in out) else ())
        return [
            "def _init_weights(self) -> None:",
            f'    """{self.doc()}"""',
            *("    " + line for line in out),
        ]

    def doc(self) -> str:
        lines: dict[str, list[int]] = {}
        for rule in self.w.elab.init_rules:
            file = self.w.e.compiled.program.project_path(rule.stmt.span.file)
            found = lines.setdefault(file, [])
            if rule.stmt.span.line not in found:
                found.append(rule.stmt.span.line)
        where = "; ".join(f"{escape_text(f)}: {', '.join(map(str, ls))}" for f, ls in lines.items())
        return f"Initialise as the spec's init lines say ({where})."

    def calls(self, d: dict[str, Any]) -> list[str]:
        out = []
        for tensor, (name, args, role) in d["init"].items():
            init = INITIALIZERS[name]
            t = f"{{m}}.{tensor}" if tensor else "{m}"
            out.append(bias_code(init, args, t) if role == "bias" else init.call(t, args))
        return out

    def reference(self, path: str) -> str | None:
        """``self.conv1``, ``self.downsample[0]``, ``self.heads.head``; None inside a block
        instance; ``@`` for a layer in a sequence whose items may shift (conditions, counts)."""
        parts = path.split(".")
        ref = f"self.{parts[0]}"
        for k in range(1, len(parts)):
            parent = ".".join(parts[:k])
            scope = self.w.scopes.get(parent)
            if scope is None or scope.kind == "block":
                return None
            if scope.kind == "seq":
                shifting = self._shifting.get(parent)
                if shifting is None:  # once per sequence, not once per layer in it
                    shifting = self._shifting[parent] = bool(
                        scope.count is not None and names(scope.count)
                    ) or any(join_path(parent, c) in self.w.elab.conds for c in scope.children)
                if shifting:
                    if k == 1 and len(parts) == 2:
                        return "@"
                    self.bake_sequence(parts[0])
                    return None
                child = parts[k]
                if child.isdigit():
                    ref += f"[{child}]"
                else:  # a key such as RegNet's block1-0 is no attribute name
                    ref += f".{child}" if child.isidentifier() else f".get_submodule({py_str(child)})"
        if len(parts) > 1 and self.w.scopes.get(".".join(parts[:-1])) is None:
            return None
        return ref

    def callee(self, path: str) -> str | None:
        em = self.w.node_emission(path)
        module = em.module if em.call == "{m}({x})" else em.seq_module
        return module.callee if isinstance(module, Ctor) and module.callee.startswith("nn.") else None

    def bake_sequence(self, top: str) -> None:
        """The layers of this sequence are initialised by position: fix what moves them."""
        if top in self._baked:
            return
        self._baked.add(top)
        for path, scope in self.w.scopes.items():
            if path == top or path.startswith(top + "."):
                if scope.count is not None:
                    bake(scope.count)
                for c in scope.children:
                    cond = self.w.elab.conds.get(join_path(path, c))
                    if cond is not None:
                        bake(cond)

    def guard(self, path: str) -> str | None:
        top = path.split(".")[0]
        if top in self.w.elab.conds or top in self.w.elab.branch_conds:
            return f"self.{top} is not None"
        return None


#: How deep conditional values may nest as ``if`` blocks in ``forward`` (Python allows 100
#: indentation levels); deeper ones are decided for the instance.
MAX_BRANCH_DEPTH = 40


class _Forward:
    """``forward`` written from the spec's statements."""

    def __init__(self, writer: Writer):
        self.u = writer
        self.lines: list[str] = []
        self.temps = 0
        self.depth = 0  # how many branches deep the current statement is

    def run(self) -> list[str]:
        body = [s for s in self.u.body if isinstance(s, ast.Assign | ast.Return | ast.FlowStmt)]
        out = "x" if self.u.is_network else "out"
        for path in self.edited(self.u.elab.pre):  # layers an edit inserted at the input
            expr, comment = self.apply(path, "x")
            self.lines.append(f"x = {expr}" + (f"  # {comment}" if comment else ""))
        # the output is what the analysis takes: the first `return`, else the last chain that
        # is no assignment; assignments after it are computed (their layers exist) and unread
        returns = [i for i, s in enumerate(body) if isinstance(s, ast.Return)]
        flows = [i for i, s in enumerate(body) if not isinstance(s, ast.Assign)]
        output = returns[0] if returns else flows[-1] if flows else len(body) - 1
        trailing = body[output + 1 :]
        assigned = {s.name for s in body if isinstance(s, ast.Assign)}
        if trailing:  # the input x is still read after the output: keep the output apart
            out = "out" if "out" not in assigned else self.temp()
        result = out
        for i, stmt in enumerate(body[: output + 1]):
            if isinstance(stmt, ast.Assign):
                self.statement(stmt.value, stmt.name)
            elif i < output:  # a flow whose value nothing reads: computed (its layers exist), not kept
                start = len(self.lines)
                temp = self.temp()
                self.statement(stmt.value, temp)
                if len(self.lines) > start and self.lines[-1].startswith(f"{temp} = "):
                    self.lines[-1] = self.lines[-1][len(temp) + 3 :]
            else:
                result = self.statement(stmt.value, out)
                for path in self.edited(self.u.elab.post):  # ... and at the output
                    expr, comment = self.apply(path, result)
                    self.lines.append(f"{out} = {expr}" + (f"  # {comment}" if comment else ""))
                    result = out
        for stmt in trailing:  # all assignments: the output is the last chain that is none
            assert isinstance(stmt, ast.Assign)
            self.statement(stmt.value, stmt.name)
        final = self.lines[-1] if self.lines else ""
        ends = self.lines[-4:]
        if trailing:
            self.lines.append(f"return {result}")
        elif final.startswith(f"{result} = ") and "  # " not in final:
            self.lines[-1] = "return " + final[len(result) + 3 :]
        elif (  # if c: out = a / else: out = b, returned: if c: return a / return b
            len(ends) == 4
            and ends[0].startswith("if ")
            and ends[2] == "else:"
            and all(e.startswith(f"    {result} = ") and "  # " not in e for e in ends[1::2])
        ):
            cut = len(result) + 7
            self.lines[-3:] = [f"    return {ends[1][cut:]}", f"return {ends[3][cut:]}"]
        else:
            self.lines.append(f"return {result}")
        return _drop_unread(self.lines, assigned)

    def steps(self, chain: tuple[ast.Element, ...]) -> list[str]:
        """The layers a chain applies; a layer decided absent for this unit has none."""
        elements = self.u.elab.elements
        return [
            p
            for el in chain
            for p in elements.get(id(el), [])
            if p in self.u.graph.nodes or p in self.u.scopes
        ]

    def edited(self, elements: list[ast.Element]) -> list[str]:
        return [p for el in elements for p in self.u.elab.elements.get(id(el), [])]

    def statement(self, value: ast.Flow | ast.Choice, target: str) -> str:
        if isinstance(value, ast.Choice):
            attr = self.u.cond_attrs.get(id(value))
            if attr is not None and self.depth >= MAX_BRANCH_DEPTH:
                bake(self.u.elab.choices[id(value)])  # Python allows 100 indented blocks: decide
            if attr is None:  # decided when the graph was built
                taken = value.then if self.u.elab.chosen.get(id(value), True) else value.other
                return self.statement(taken, target)
            then, other = self.branch(value.then, target), self.branch(value.other, target)
            single = f"{target} = "
            if all(len(b) == 1 and b[0].startswith(single) and "  # " not in b[0] for b in (then, other)):
                # one expression per branch: a conditional expression, where it fits a line
                line = f"{single}{then[0][len(single) :]} if self.{attr} else {other[0][len(single) :]}"
                if 8 + 4 * self.depth + len(line) <= 88:
                    self.lines.append(line)
                    return target
            self.lines.append(f"if self.{attr}:")
            self.lines.extend("    " + line for line in then)
            self.lines.append("else:")
            self.lines.extend("    " + line for line in other)
            return target
        cur = self.value(value.source)
        steps = self.steps(value.chain)
        if not steps:
            if cur != target:
                self.lines.append(f"{target} = {cur}")
            return target
        for path in steps:
            expr, comment = self.apply(path, cur)
            self.lines.append(f"{target} = {expr}" + (f"  # {comment}" if comment else ""))
            cur = target
        return target

    def branch(self, value: ast.Flow | ast.Choice, target: str) -> list[str]:
        """The lines of one branch of a choice (not yet indented)."""
        start = len(self.lines)
        self.depth += 1
        self.statement(value, target)
        self.depth -= 1
        lines = self.lines[start:] or ["pass"]
        del self.lines[start:]
        return lines

    def value(self, v: ast.Value) -> str:
        if isinstance(v, ast.Var):
            return v.name
        if isinstance(v, ast.Choice):
            return self.statement(v, self.temp())
        if isinstance(v, ast.Merge):
            ops = [self.value(o) for o in v.operands]
            if v.op == "add":
                return " + ".join(ops)
            if v.op == "mul":
                return " * ".join(ops)
            path = self.u.elab.elements[id(v)][0]
            dim = 1 if len(self.u.graph.nodes[path]["shape"]) == 3 else -1
            return f"torch.cat([{', '.join(ops)}], dim={dim})"
        # a parenthesised flow inside a merge
        cur = self.value(v.source)
        steps = self.steps(v.chain)
        if len(steps) <= 2:
            for path in steps:
                cur, _ = self.apply(path, cur)
            return cur
        return self.statement(v, self.temp())

    def temp(self) -> str:
        """A fresh variable name that no statement of the spec uses."""
        taken = {s.name for s in self.u.body if isinstance(s, ast.Assign)} | {"x", "out"}
        while True:
            self.temps += 1
            name = "h" if self.temps == 1 else f"h{self.temps}"
            if name not in taken:
                return name

    def apply(self, path: str, cur: str) -> tuple[str, str | None]:
        comment = None
        if path in self.u.graph.nodes:
            d = self.u.graph.nodes[path]
            em = self.u.node_emission(path)
            if em.module is None and em.parameter is None:
                _bake_written(em.call, [*d["args"].values(), *(d.get("in_shapes") or []), d["shape"] or ()])
                expr = em.call.format(m=f"self.{path}", x=cur)
                comment = self.shape_comment(d["shape"])
            else:
                if em.call.count("{x}") > 1 and not cur.isidentifier():
                    tmp = self.temp()
                    self.lines.append(f"{tmp} = {cur}")
                    cur = tmp
                expr = em.call.format(m=f"self.{path}", x=cur)
        else:
            expr = f"self.{path}({cur})"
            scope = self.u.scopes[path]
            comment = self.shape_comment(scope.out_shape)
        if path in self.u.elab.conds:
            expr = f"{cur} if self.{path} is None else {expr}"
        return expr, comment

    def shape_comment(self, shape: tuple[Any, ...] | None) -> str | None:
        if not self.u.is_network or shape is None:
            return None
        return "(B, " + ", ".join(str(int(d)) for d in shape) + ")"


def _drop_unread(lines: list[str], names: set[str]) -> list[str]:
    """A tensor the spec names and nothing reads afterwards (an assignment after the output,
    or one no later statement uses) is computed without being kept: ``self.s2(x)``, not
    ``b = self.s2(x)``, which a linter reports as an unused variable."""
    for name in names:
        prefix = f"{name} = "
        last = max((i for i, line in enumerate(lines) if line.startswith(prefix)), default=None)
        read = re.compile(rf"(?<![.\w]){re.escape(name)}\b")  # the tensor, not an attribute self.name
        if last is None or any(read.search(line) for line in lines[last + 1 :]):
            continue
        if any(line.startswith(" ") and line.lstrip().startswith(prefix) for line in lines[last + 1 :]):
            continue  # also assigned in a later branch: left as it is
        lines[last] = lines[last][len(prefix) :]
    return lines


def _bake_written(call: str, values: list[Any]) -> None:
    """An op written inline in ``forward`` cannot read the constructor's arguments: a symbolic
    value its code writes (``x[:, k]``) is fixed to the instance's value instead."""
    for v in values:
        for item in v if isinstance(v, list | tuple) else [v]:
            if names(item) and re.search(rf"(?<![\w.]){re.escape(code(item))}(?![\w(])", call):
                bake(item)


def _compress(items: list[str]) -> list[str]:
    """Runs of identical constructors in a sequence become ``*(ctor for _ in range(n))``."""
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and items[j] == items[i]:
            j += 1
        n = j - i
        out.append(f"*({items[i]} for _ in range({n}))" if n > 2 else items[i])
        if n == 2:
            out.append(items[i])
        i = j
    return out


# ------------------------------------------------------------------ the module


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    return (type(v).__name__, repr(v))


def _symbolic(v: Any) -> bool:
    """Can this value be a constructor argument (and so a symbol)?"""
    if isinstance(v, bool | int | float | OpRef):
        return True
    return isinstance(v, list) and all(_symbolic(x) for x in v)


class Emitter:
    def __init__(self, compiled: Compiled, name: str | None = None):
        self.compiled = compiled
        self.net = compiled.network
        self.sources = compiled.program.sources
        self.name = name or self.net.name
        local_names = {p.name for b in self.net.blocks.values() for p in b.params} | set(self.net.params)
        self.names = Namespace(local_names)
        self.classes: list[ClassCode] = []
        self.by_definition: dict[str, list[ClassCode]] = {}
        self.cache: dict[Any, ClassCode] = {}
        self.helpers: set[str] = set()
        self.imports: set[str] = set()
        self.path_sensitive = bool(self.net.edits)
        self.named: dict[str, str] = {}

    # ------------------------------------------------------------ units
    def generate(
        self,
        block: str | None,
        values: dict[str, Any],
        in_shape: tuple[int, ...],
        steps: Any,
        fixed: set[str],
    ) -> Writer:
        """Elaborate one unit with symbols and write its code, again and again while a decision
        bakes another symbol."""
        body = self.net.blocks[block].body if block is not None else self.net.body
        dims = dim_names(in_shape) if block is not None else ()
        for _ in range(MAX_ROUNDS):
            params = {k: v if k in fixed or not _symbolic(v) else symbol(k, v) for k, v in values.items()}
            shape = like(
                in_shape,
                [
                    SymInt(int(v), d) if block is not None and d not in fixed else v
                    for v, d in zip(in_shape, dims or ("",) * len(in_shape), strict=True)
                ],
            )
            writer: Writer | None = None
            with tracking_baked() as baked:
                try:
                    elab = Elaborator(
                        self.net, self.sources, codegen=True, unit=Unit(block, params, shape, steps)
                    )
                    graph = elab.run()
                    writer = Writer(self, elab, graph, body, baked, fixed)
                    writer.write()
                except Retry:
                    writer = None
            new = baked - fixed
            if not new and writer is not None:
                self.helpers |= writer.helpers
                self.imports |= writer.imports
                return writer
            fixed = fixed | new
        raise ArchcError.at(NOWHERE, f"code generation for '{block or self.net.name}' did not settle")

    def class_for(self, scope: Scope) -> ClassCode:
        """The class that builds the block instance ``scope`` (a new one when no class emitted
        so far builds it with the same code)."""
        assert scope.definition is not None and scope.in_shape is not None
        block = self.net.blocks[scope.definition]
        values = {p.name: _plain(scope.args[p.name]) for p in block.params}
        in_shape = like(scope.in_shape, [int(d) for d in scope.in_shape])
        key = (scope.definition, _freeze(values), in_shape, scope.steps if self.path_sensitive else None)
        if key in self.cache:
            return self.cache[key]
        writer = self.generate(scope.definition, values, in_shape, scope.steps, set())
        baked = writer.baked
        signature = self._signature(block, writer, values, baked, in_shape)
        init = [*writer.init, *writer.init_extra]
        methods = [writer.init_weights] if writer.init_weights else []
        for cls in self.by_definition.get(scope.definition, []):
            if (cls.init, cls.forward, cls.signature, cls.methods) == (
                init,
                writer.forward,
                signature,
                methods,
            ):
                self.cache[key] = cls
                return cls
        variants = self.by_definition.setdefault(scope.definition, [])
        doc = self._block_doc(block, variants, scope, baked, values)
        # named once every class is known (see name_classes): code refers to it by a token
        token = f"{_TOKEN}{len(self.classes)}{_TOKEN}"
        cls = ClassCode(token, scope.definition, doc, signature, init, writer.forward, baked)
        cls.edits = tuple(scope.edits)
        if writer.init_weights:
            cls.methods = [writer.init_weights]
        variants.append(cls)
        self.classes.append(cls)
        self.cache[key] = cls
        return cls

    def _signature(
        self,
        block: ast.BlockDef,
        writer: Writer,
        values: dict[str, Any],
        baked: frozenset[str],
        in_shape: tuple[int, ...],
    ) -> Signature:
        used = writer.used_names()
        dims = tuple((d, i) for i, d in enumerate(dim_names(in_shape)) if d in used and d not in baked)
        required: list[SigParam] = []
        optional: list[SigParam] = []
        for p in block.params:
            v = values[p.name]
            if isinstance(v, BlockRef) or p.name in baked or p.name not in used or not _symbolic(v):
                continue
            has, default = _default_of(p, v, self.net.blocks)
            (optional if has else required).append(SigParam(p.name, annotation(v), has, default))
        return Signature(dims, (*required, *optional))

    def _block_doc(
        self,
        block: ast.BlockDef,
        variants: list[ClassCode],
        scope: Scope,
        baked: frozenset[str],
        values: dict[str, Any],
    ) -> str:
        header = _block_header(block)
        where = f"{self.compiled.program.project_path(block.file)}:{block.span.line}"
        doc = f"Block ``{header}`` ({where})."
        fixed = [f"{k}={_show(values[k])}" for k in sorted(baked) if k in values]
        if variants:
            doc += f" A variant for the instances like ``{scope.path}``"
            if scope.edits:
                doc += f", edited by the network ({', '.join(scope.edits)})"
            doc += f", built for {', '.join(fixed)}." if fixed else "."
        elif fixed:
            doc += f" Built for {', '.join(fixed)}."
        return doc

    def name_classes(self) -> None:
        """Name every block class, now that all are known: one class per definition takes the
        block's name; when edits or fixed values split a definition into several, the class
        built as written keeps it, edited ones are named after their edits (``BottleneckSe``),
        the others numbered (``Bottleneck2``)."""
        for definition, variants in self.by_definition.items():
            base = class_name(definition)
            plain = next((c for c in variants if not c.edits), None) if len(variants) > 1 else variants[0]
            names: dict[str, str] = {}
            for cls in variants:
                if cls is plain:
                    names[cls.name] = self.names.claim(base, base + "Block")
                elif cls.edits:
                    names[cls.name] = self.names.claim(base + "".join(class_name(e) for e in cls.edits))
            for cls in variants:
                if cls.name not in names:
                    names[cls.name] = self.names.numbered(base)
            for cls in variants:
                cls.name = names[cls.name]
        tokens = {f"{_TOKEN}{i}{_TOKEN}": c.name for i, c in enumerate(self.classes)}
        pattern = re.compile(f"{_TOKEN}\\d+{_TOKEN}")
        for cls in self.classes:
            cls.init = [pattern.sub(lambda m: tokens[m.group(0)], line) for line in cls.init]
            cls.forward = [pattern.sub(lambda m: tokens[m.group(0)], line) for line in cls.forward]
        self.named = tokens

    def network_class(self) -> tuple[ClassCode, Writer]:
        net = self.net
        fixed = _edit_names(net) & set(net.params)
        writer = self.generate(None, dict(net.params), tuple(net.input_shape or ()), (), set(fixed))
        baked = writer.baked
        used = writer.used_names()
        params = tuple(
            SigParam(k, annotation(v), True, _plain(v))
            for k, v in net.params.items()
            if _symbolic(v) and k in used and k not in baked
        )
        self.name_classes()
        name = self.names.claim(class_name(self.name), class_name(self.name) + "Net")
        doc = (
            f"Network ``{self.name}`` from {self.compiled.program.project_path(net.file)}: "
            f"input {fmt(self.compiled.totals.input_shape)}, output {fmt(self.compiled.totals.output_shape)}."
        )
        init = [*writer.init, *writer.init_extra]
        pattern = re.compile(f"{_TOKEN}\\d+{_TOKEN}")
        init = [pattern.sub(lambda m: self.named[m.group(0)], line) for line in init]
        forward = [pattern.sub(lambda m: self.named[m.group(0)], line) for line in writer.forward]
        cls = ClassCode(name, None, doc, Signature((), params), init, forward, baked)
        if writer.init_weights:
            cls.methods = [writer.init_weights]
        return cls, writer


def _plain(v: Any) -> Any:
    """A value without symbols (an op value without the parameter it came from)."""
    if isinstance(v, OpRef):
        return OpRef(v.op, tuple((k, _plain(x)) for k, x in v.args))
    return concrete(v)


def _show(v: Any) -> str:
    """A value as the spec writes it (``true``, ``[3, 4]``, ``groupnorm(32)``)."""
    return show(_plain(v))


def _edit_names(net: Any) -> set[str]:
    """Names the expressions of a network's edits read: their values are copied into the
    classes the edits reach, so they stay constants in the network's class too."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, tuple | list):
            for x in node:
                walk(x)
        elif hasattr(node, "__dataclass_fields__"):
            for f in node.__dataclass_fields__:
                if f != "span":
                    walk(getattr(node, f))

    for edit in net.edits:
        walk(edit)
    return found


def _block_header(block: ast.BlockDef) -> str:
    params = []
    for p in block.params:
        if p.default is None:
            params.append(p.name)
            continue
        try:
            value = Evaluator({}).ev(p.default, {})
        except ArchcError:
            params.append(f"{p.name}=...")
            continue
        params.append(f"{p.name}={_show(value)}")
    return f"{block.name}({', '.join(params)})"


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: (
                resources.files("archc.codegen").joinpath("templates", name).read_text(encoding="utf-8")
            )
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return env.get_template("module.py.j2")


def emit(compiled: Compiled, *, name: str | None = None, command: str | None = None) -> str:
    """The emitted module's source: deterministic for the same spec and overrides.  ``name``
    names the file's network (class and factory); ``command`` is recorded in the header."""
    return _render(compiled, name, command)[0]


def _render(compiled: Compiled, name: str | None = None, command: str | None = None) -> tuple[str, str]:
    """The module's source and the name of its network class."""
    e = Emitter(compiled, name)
    network, _ = e.network_class()
    factory = e.names.claim(e.name, f"build_{e.name}")
    t = compiled.totals
    net = compiled.network
    spec = compiled.program.project_path(compiled.program.main)
    params_text = ", ".join(f"{k}={_show(v)}" for k, v in net.params.items())
    factory_doc = textwrap.wrap(
        f"Build ``{escape_text(e.name)}`` as specified in {escape_text(spec)}"
        + (f" ({escape_text(params_text)})" if params_text else "")
        + ". "
        f"Input (B, {_dims(t.input_shape)}) -> output (B, {_dims(t.output_shape)}); "
        f"{t.params:,} parameters ({human(t.params)}); {t.macs:,} MACs ({human(t.macs)}) "
        "in convolutions, linear layers and attention, for one sample.",
        80,
        break_long_words=False,
        break_on_hyphens=False,
    )
    module_doc = textwrap.wrap(
        f"{e.name}: input {fmt(t.input_shape)}, output {fmt(t.output_shape)}, "
        f"{t.params:,} parameters, {t.macs:,} MACs.",
        78,
        break_long_words=False,
    )
    classes = [*e.classes, network]
    annotations = " ".join(p.annotation for c in classes for p in c.signature.params)
    defaults = [p for c in classes for p in c.signature.params if p.has_default]
    imports = set(e.imports)
    if "Sequence[" in annotations:
        imports.add("Sequence")
    if "Callable[" in annotations:
        imports.add("Callable")
    body_text = "\n".join(line for c in classes for line in [*c.init, *c.forward])
    if "partial(" in body_text or any("partial(" in value_code(p.default) for p in defaults):
        imports.add("partial")
    if "math." in body_text:
        imports.add("math")
    helpers = set(e.helpers) | ({"_make_divisible"} if "_make_divisible(" in body_text else set())
    text = _template().render(
        header=_header(
            escape_text(spec, comment=True),
            escape_text(e.name, comment=True),
            escape_text(command or f"archc build {spec}", comment=True),
        ),
        factory_doc=factory_doc,
        module_doc=module_doc,
        ordered_dict="OrderedDict" in imports,
        abc=", ".join(sorted(imports & {"Callable", "Sequence"})),
        partial="partial" in imports,
        math="math" in imports,
        helpers=[HELPERS[h] for h in sorted(helpers, key=lambda h: (h[0] != "_", h))],
        classes=[_render_class(c) for c in e.classes],
        network_class=_render_class(network),
        network_name=network.name,
        factory=factory,
    )
    return text, network.name


def _header(spec: str, network: str, command: str) -> list[str]:
    """The file's first comment lines: where it comes from, and the command that rebuilds it
    (on lines of its own, continued with backslashes, when it does not fit in 88 columns)."""
    lines = [f"# Generated by archc from {spec}; do not edit by hand."]
    rebuild = f"# Network {network}; edit the spec and rebuild: {command}"
    if len(rebuild) <= 88:
        return [*lines, rebuild]
    lines.append(f"# Network {network}; edit the spec and rebuild:")
    current = "#   "
    for word in command.split(" "):
        if len(current) + len(word) + 2 > 88 and current.strip() != "#":
            lines.append(current + "\\")
            current = "#     "
        current += word + " "
    lines.append(current.rstrip())
    return lines


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in shape)


def _render_class(c: ClassCode) -> dict[str, Any]:
    init: list[str] = []
    late = [
        line
        for p in c.signature.params
        if p.late_default
        for line in (f"if {p.name} is None:", f"    {p.name} = {value_code(p.default)}")
    ]
    for line in [*late, *c.init]:
        indent = len(line) - len(line.lstrip())
        init.extend(layout(line.lstrip(), 8 + indent))
    forward: list[str] = []
    for line in c.forward:
        indent = len(line) - len(line.lstrip())
        statement, _, comment = line.lstrip().partition("  # ")
        code_lines = layout(statement, 8 + indent)
        if comment and len(code_lines) == 1 and len(code_lines[0]) + 4 + len(comment) <= 88:
            code_lines[0] += f"  # {comment}"
        elif comment:  # a shape comment that does not fit after the code goes above it
            code_lines.insert(0, " " * (8 + indent) + f"# {comment}")
        forward.extend(code_lines)
    methods = []
    for method in c.methods:
        laid: list[str] = []
        for line in method:
            indent = len(line) - len(line.lstrip())
            laid.extend(layout(line.lstrip(), 4 + indent))
        methods.append(laid)
    head = f"def __init__({c.signature.code()}) -> None:"
    return {
        "methods": methods,
        "name": c.name,
        "doc": textwrap.wrap(escape_text(c.doc), 76, break_long_words=False, break_on_hyphens=False),
        "init_header": layout(head, 4),
        "init": init,
        "forward": forward,
    }


def instantiate(compiled: Compiled, **kwargs: Any) -> Any:
    """Execute the emitted source in a fresh namespace and build the network."""
    import linecache
    import types

    source, name = _render(compiled)
    filename = f"<archc {compiled.network.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"archc_generated_{compiled.network.name}")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module.__dict__[name](**kwargs)


__all__ = ["ClassCode", "Emitter", "Signature", "class_name", "emit", "instantiate"]
