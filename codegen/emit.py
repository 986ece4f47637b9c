"""PyTorch source from a compiled network: one class per block definition, then the network.

How it works: every block definition the network uses is elaborated once more on its own,
with its parameters and input sizes as symbols (:mod:`archc.dsl.symbolic`), by the same
:class:`archc.dsl.elaborate.Elaborator` that checked the network.  The symbolic graph gives
each layer's constructor arguments as Python expressions (``nn.Conv2d(width, width * 4, ...)``);
the recorded attribute names let ``forward`` be written from the spec's own dataflow.  The
network itself is one more such unit, with its parameters as symbols and its input fixed.
"""

from __future__ import annotations

import keyword
import re
import textwrap
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2

from archc.codegen.helpers import HELPERS
from archc.codegen.layout import layout
from archc.dsl import ast
from archc.dsl.analysis import human
from archc.dsl.diagnostics import NOWHERE, ArchcError
from archc.dsl.elaborate import Elaborator, Scope
from archc.dsl.names import join_path
from archc.dsl.ops import REGISTRY, Emission, fmt
from archc.dsl.resolve import Network
from archc.dsl.symbolic import SymInt, code, names, symbol
from archc.dsl.values import BlockRef, ShapeVal

if TYPE_CHECKING:
    import networkx as nx

    from archc.dsl.compiler import Compiled

_IDENT = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_IN_DIMS = {3: ("in_channels", "in_height", "in_width"), 2: ("in_tokens", "in_dim"), 1: ("in_features",)}


def class_name(name: str) -> str:
    """``bottleneck`` -> ``Bottleneck``, ``se_resnet50`` -> ``SeResnet50``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part) or "Network"


@dataclass
class Signature:
    """A generated class's constructor: which input sizes it takes, then its parameters."""

    dims: list[tuple[str, int]]  # (argument name, index into the input shape)
    params: list[tuple[str, Any, bool]]  # (name, default value, has a default)


@dataclass
class ClassCode:
    name: str
    doc: str
    signature: Signature
    init: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)

    def signature_code(self) -> str:
        parts = ["self"]
        for dim, _ in self.signature.dims:
            parts.append(f"{dim}: int")
        for name, default, has_default in self.signature.params:
            ann = self.annotations.get(name, "int")
            parts.append(f"{name}: {ann} = {_default_code(default)}" if has_default else f"{name}: {ann}")
        return ", ".join(parts)


def _default_code(v: Any) -> str:
    if isinstance(v, str):
        raise ArchcError.at(NOWHERE, f"the string {v!r} cannot reach emitted code", "use a number or a flag")
    if isinstance(v, list):
        return code(tuple(v))
    return code(v)


def _annotation(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, list):
        inner = {_annotation(x) for x in v}
        return f"Sequence[{inner.pop() if len(inner) == 1 else 'Any'}]"
    return "Any"


class Unit:
    """One class to emit: a block definition (or the network) elaborated symbolically."""

    def __init__(
        self,
        emitter: Emitter,
        name: str,
        body: tuple[ast.Stmt, ...],
        params: dict[str, Any],
        input_shape: tuple[Any, ...],
        *,
        is_network: bool,
    ):
        self.emitter = emitter
        self.is_network = is_network
        self.params = params
        net = emitter.compiled.network
        fake = Network(name, params, {}, body, net.blocks, input_shape, net.input_span, net.span, net.file)
        self.elab = Elaborator(fake, emitter.compiled.program.sources, codegen=True, as_block=not is_network)
        try:
            self.graph: nx.DiGraph = self.elab.run()
        except ArchcError as e:
            raise ArchcError([*e.diagnostics], e.sources) from None
        self.body = body
        self.scopes: dict[str, Scope] = self.graph.graph["scopes"]
        self.used: set[str] = set()  # identifiers the emitted code refers to (set by code_names)
        self.helpers: set[str] = set()
        self.needs_ordered_dict = False

    # ------------------------------------------------------------ constructors
    def cond(self, e: ast.Expr) -> str:
        return expr_code(e, self.dim_names())

    def dim_names(self) -> dict[str, str]:
        shape = self.graph.graph["input_shape"]
        return dict(
            zip(
                "chw" if len(shape) == 3 else ("nd" if len(shape) == 2 else "d"),
                _IN_DIMS[len(shape)],
                strict=True,
            )
        )

    def node_emission(self, path: str) -> Emission:
        d = self.graph.nodes[path]
        op = REGISTRY[d["op"]]
        args = dict(d["args"])
        if d["op"] == "relu":
            args["inplace"] = self._inplace_safe(path)
        return op.emit(args, d["in_shapes"], d["shape"])

    def _inplace_safe(self, path: str) -> bool:
        preds = list(self.graph.predecessors(path))
        return len(preds) == 1 and preds[0] != "input" and self.graph.out_degree(preds[0]) == 1

    def module_code(self, path: str, in_seq: bool) -> str | None:
        """Constructor code for the module at ``path``: an op node, a block or a sequence."""
        if path in self.graph.nodes:
            em = self.node_emission(path)
            if em.module is not None:
                self.helpers.update(em.helpers)
                return em.module
            if in_seq:
                if em.seq_module is None:
                    raise ArchcError.at(
                        self.graph.nodes[path]["span"], f"'{path}' cannot be inside a sequence"
                    )
                self.helpers.update(em.helpers)
                return em.seq_module
            return None
        scope = self.scopes[path]
        if scope.kind == "block":
            return self.block_call(scope)
        return self.seq_code(scope)

    def block_call(self, scope: Scope) -> str:
        assert scope.definition is not None
        sig = self.emitter.signature(scope.definition)
        assert scope.in_shape is not None
        args = [code(scope.in_shape[i]) for _, i in sig.dims]
        for name, default, has_default in sig.params:
            v = scope.args[name]
            if not has_default:
                args.append(code(v))
            elif names(v) or v != default or type(v) is not type(default):
                args.append(f"{name}={code(v)}")
        return f"{class_name(scope.definition)}({', '.join(args)})"

    def seq_code(self, scope: Scope) -> str:
        children = [join_path(scope.path, c) for c in scope.children]
        items = [self.module_code(c, in_seq=True) or "nn.Identity()" for c in children]
        conds = [self.conds_of(c) for c in children]
        items = [f"*([{it}] if {cd} else [])" if cd else it for it, cd in zip(items, conds, strict=True)]
        named = any(c != str(i) for i, c in enumerate(scope.children))
        if scope.repeat is not None and scope.count is not None:
            return self.repeat_code(scope, items)
        if named:
            self.needs_ordered_dict = True
            pairs = ", ".join(
                f"({c!r}, {it})".replace("'", '"') for c, it in zip(scope.children, items, strict=True)
            )
            return f"nn.Sequential(OrderedDict([{pairs}]))"
        return f"nn.Sequential({', '.join(_compress(self.repeat_runs(scope, items)))})"

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
            if all(it == group[0] for it in group):
                out.append(f"*({group[0]} for _ in range({count}))")
            elif all(it == group[1] for it in group[1:]):
                out.extend([group[0], f"*({group[1]} for _ in range(1, {count}))"])
            else:
                raise ArchcError.at(scope.span, "the instances of this repeat differ in ways code cannot say")
            i += n
        return out

    def conds_of(self, path: str) -> str | None:
        e = self.elab.conds.get(path)
        return self.cond(e) if e is not None else None

    def repeat_code(self, scope: Scope, items: list[str]) -> str:
        count = code(scope.count)
        pattern = scope.repeat or "{i}"
        first, rest = items[0], items[1:]
        if pattern == "{i}":
            if all(it == first for it in rest):
                return f"nn.Sequential(*({first} for _ in range({count})))"
            if rest and all(it == rest[0] for it in rest):
                return f"nn.Sequential({first}, *({rest[0]} for _ in range(1, {count})))"
            return f"nn.Sequential({', '.join(items)})"
        self.needs_ordered_dict = True
        key = 'f"' + pattern + '"'
        if all(it == first for it in rest):
            return f"nn.Sequential(OrderedDict(({key}, {first}) for i in range({count})))"
        if rest and all(it == rest[0] for it in rest):
            head = '"' + pattern.replace("{i}", "0") + '"'
            tail = f"*(({key}, {rest[0]}) for i in range(1, {count}))"
            return f"nn.Sequential(OrderedDict([({head}, {first}), {tail}]))"
        pairs = ", ".join(f'("{pattern.replace("{i}", str(i))}", {it})' for i, it in enumerate(items))
        return f"nn.Sequential(OrderedDict([{pairs}]))"

    def init_lines(self) -> list[str]:
        lines: list[str] = []
        for child in self.scopes[""].children:
            if child in self.graph.nodes:
                if REGISTRY[self.graph.nodes[child]["op"]].arity == 0:
                    continue  # merges are operators in forward, not modules
                em = self.node_emission(child)
                if em.parameter is not None:
                    lines.append(f"self.{child} = {em.parameter}")
                    continue
            ctor = self.module_code(child, in_seq=False)
            if ctor is None:
                continue
            cond = self.conds_of(child)
            if cond is None:
                lines.append(f"self.{child} = {ctor}")
            else:
                lines.extend(
                    [f"if {cond}:", f"    self.{child} = {ctor}", "else:", f"    self.{child} = None"]
                )
        return lines

    # ------------------------------------------------------------ forward
    def forward_lines(self) -> list[str]:
        gen = _Forward(self)
        return gen.run()

    def code_names(self, lines: list[str]) -> set[str]:
        """Every identifier the emitted lines refer to (so signatures list what the code uses)."""
        found: set[str] = set()
        for line in lines:
            found.update(_IDENT.findall(line.split("#", 1)[0]))
        return found


class _Forward:
    """``forward`` written from the spec's statements."""

    def __init__(self, unit: Unit):
        self.u = unit
        self.lines: list[str] = []
        self.temps = 0

    def run(self) -> list[str]:
        body = [s for s in self.u.body if not isinstance(s, ast.InputStmt)]
        out = "x" if self.u.is_network else "out"
        for i, stmt in enumerate(body):
            last = i == len(body) - 1
            if isinstance(stmt, ast.Assign):
                self.statement(stmt.value, stmt.name)
            else:
                result = self.statement(stmt.value, out)
                if last or isinstance(stmt, ast.Return):
                    final = self.lines[-1] if self.lines else ""
                    if final.startswith(f"{result} = ") and "  # " not in final:
                        self.lines[-1] = "return " + final[len(result) + 3 :]
                    else:
                        self.lines.append(f"return {result}")
                    break
        return self.lines

    def statement(self, flow: ast.Flow, target: str) -> str:
        cur = self.value(flow.source)
        if not flow.chain:
            if cur != target:
                self.lines.append(f"{target} = {cur}")
            return target
        for el in flow.chain:
            expr, comment = self.apply(el, cur)
            self.lines.append(f"{target} = {expr}" + (f"  # {comment}" if comment else ""))
            cur = target
        return target

    def value(self, v: ast.Value) -> str:
        if isinstance(v, ast.Var):
            return v.name
        if isinstance(v, ast.Merge):
            ops = [self.value(o) for o in v.operands]
            if v.op == "add":
                return " + ".join(ops)
            if v.op == "mul":
                return " * ".join(ops)
            path = self.u.elab.elements[id(v)]
            dim = 1 if len(self.u.graph.nodes[path]["shape"]) == 3 else -1
            return f"torch.cat([{', '.join(ops)}], dim={dim})"
        # a parenthesised flow inside a merge
        cur = self.value(v.source)
        if len(v.chain) <= 2:
            for el in v.chain:
                cur, _ = self.apply(el, cur)
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

    def apply(self, el: ast.Element, cur: str) -> tuple[str, str | None]:
        path = self.u.elab.elements[id(el)]
        comment = None
        if path in self.u.graph.nodes:
            d = self.u.graph.nodes[path]
            em = self.u.node_emission(path)
            if em.module is None and em.parameter is None:
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


def expr_code(e: ast.Expr, dims: dict[str, str]) -> str:
    """A spec expression as Python source, with ``in.c`` etc. renamed to the input-size arguments."""

    def go(e: ast.Expr, parent: int = 0) -> str:
        match e:
            case ast.Num(value=v):
                return code(v)
            case ast.Bool(value=v):
                return "True" if v else "False"
            case ast.Str():
                raise ArchcError.at(e.span, "a string cannot reach emitted code", "compare numbers instead")
            case ast.Name(id=n):
                return n
            case ast.Attr(target=ast.InShape(), name=f):
                return dims[f]
            case ast.Index(target=t, index=i):
                return f"{go(t, 100)}[{go(i)}]"
            case ast.ListLit(items=items):
                return "[" + ", ".join(go(x) for x in items) + "]"
            case ast.Neg(operand=o):
                return f"-{go(o, 30)}"
            case ast.Not(operand=o):
                return _paren(f"not {go(o, 6)}", 6, parent)
            case ast.Ternary(cond=c, then=a, other=b):
                return _paren(f"{go(a, 3)} if {go(c, 3)} else {go(b, 2)}", 2, parent)
            case ast.BinOp(op=op, left=a, right=b):
                prec = _BIN_PREC[op]
                pyop = {"and": "and", "or": "or"}.get(op, op)
                return _paren(f"{go(a, prec)} {pyop} {go(b, prec + 1)}", prec, parent)
            case ast.FCall(func=f, args=args):
                return f"{f}({', '.join(go(a.value) for a in args)})"
        raise ArchcError.at(e.span, "this expression cannot be written as Python")

    return go(e)


_BIN_PREC = {
    "or": 4,
    "and": 5,
    "==": 7,
    "!=": 7,
    "<": 7,
    "<=": 7,
    ">": 7,
    ">=": 7,
    "+": 10,
    "-": 10,
    "*": 20,
    "/": 20,
    "//": 20,
    "%": 20,
}


def _paren(text: str, prec: int, parent: int) -> str:
    return f"({text})" if prec < parent else text


class Emitter:
    def __init__(self, compiled: Compiled):
        self.compiled = compiled
        self.signatures: dict[str, Signature] = {}
        self.classes: list[ClassCode] = []
        self.helpers: set[str] = set()
        self.ordered_dict = False
        scopes: dict[str, Scope] = compiled.graph.graph["scopes"]
        self.representative: dict[str, Scope] = {}
        self.instances: dict[str, list[Scope]] = {}  # distinct (arguments, input shape) per block
        seen: set[tuple[str, str, str]] = set()
        for scope in scopes.values():
            if scope.kind == "block" and scope.definition:
                self.representative.setdefault(scope.definition, scope)
                key = (scope.definition, repr(sorted(scope.args.items(), key=str)), repr(scope.in_shape))
                if key not in seen:
                    seen.add(key)
                    self.instances.setdefault(scope.definition, []).append(scope)

    def _block_unit(
        self, definition: str, scope: Scope, dims: tuple[str, ...]
    ) -> tuple[Unit, list[str], list[str]]:
        block = self.compiled.network.blocks[definition]
        assert scope.in_shape is not None
        shape = tuple(SymInt(int(v), dims[i]) for i, v in enumerate(scope.in_shape))
        params = {
            p.name: scope.args[p.name]
            if isinstance(scope.args[p.name], BlockRef)
            else symbol(p.name, scope.args[p.name])
            for p in block.params
        }
        unit = Unit(self, definition, block.body, params, shape, is_network=False)
        return unit, unit.init_lines(), unit.forward_lines()

    def signature(self, definition: str) -> Signature:
        if definition not in self.signatures:
            self.emit_block(definition)
        return self.signatures[definition]

    def emit_block(self, definition: str) -> None:
        scope = self.representative[definition]
        block = self.compiled.network.blocks[definition]
        assert scope.in_shape is not None
        dims = _IN_DIMS[len(scope.in_shape)]
        clash = {p.name for p in block.params} & set(dims)
        if clash:
            raise ArchcError.at(
                block.span, f"block parameter '{clash.pop()}' clashes with a generated argument name"
            )
        unit, init, forward = self._block_unit(definition, scope, dims)
        # One class serves every instance: each distinct instance must give the same code, or a
        # value was fixed at emission time (say a condition written as `a if p else b`).
        for other in self.instances.get(definition, [])[1:]:
            _, other_init, other_forward = self._block_unit(definition, other, dims)
            if (other_init, other_forward) != (init, forward):
                raise ArchcError.at(
                    other.span,
                    f"cannot emit one class for block '{definition}': instance '{other.path}' builds "
                    f"different layers than '{scope.path}' from the same code",
                    "write the difference as a conditional layer (`layer if cond`) or a layer argument",
                )
        unit.used = unit.code_names(init + forward)
        used_dims = [(d, i) for i, d in enumerate(dims) if d in unit.used]
        sig_params: list[tuple[str, Any, bool]] = []
        for p in block.params:
            if isinstance(scope.args[p.name], BlockRef):
                continue
            default = _literal_default(p.default)
            sig_params.append((p.name, default, default is not _NO))
        self.signatures[definition] = Signature(used_dims, sig_params)
        doc = f"Block ``{_block_header(block)}`` ({block.file}:{block.span.line})."
        cls = ClassCode(class_name(definition), doc, self.signatures[definition], init, forward)
        cls.annotations = {p.name: _annotation(scope.args[p.name]) for p in block.params}
        self.classes.append(cls)
        self.helpers |= unit.helpers
        self.ordered_dict |= unit.needs_ordered_dict

    def emit_network(self) -> ClassCode:
        net = self.compiled.network
        params = {k: symbol(k, v) for k, v in net.params.items()}
        unit = Unit(self, net.name, net.body, params, tuple(net.input_shape or ()), is_network=True)
        init = unit.init_lines()
        forward = unit.forward_lines()
        unit.used = unit.code_names(init + forward)
        sig_params = [
            (k, v, True)
            for k, v in net.params.items()
            if not isinstance(v, BlockRef | ShapeVal) and k in unit.used
        ]
        sig = Signature([], sig_params)
        cls = ClassCode(self.network_class(), "", sig, init, forward)
        cls.annotations = {k: _annotation(v) for k, v in net.params.items()}
        self.helpers |= unit.helpers
        self.ordered_dict |= unit.needs_ordered_dict
        return cls

    def network_class(self) -> str:
        name = class_name(self.compiled.network.name)
        return name + "Net" if name in {class_name(b) for b in self.representative} else name


class _NoDefault:
    pass


_NO: Any = _NoDefault()


def _literal_default(e: ast.Expr | None) -> Any:
    match e:
        case None:
            return _NO
        case ast.Num(value=v) | ast.Bool(value=v):
            return v
        case ast.Neg(operand=ast.Num(value=v)):
            return -v
        case ast.ListLit(items=items) if all(isinstance(i, ast.Num) for i in items):
            return [i.value for i in items]  # type: ignore[union-attr]
    return _NO


def _block_header(block: ast.BlockDef) -> str:
    params = []
    for p in block.params:
        default = _literal_default(p.default)
        params.append(p.name if default is _NO else f"{p.name}={_default_code(default)}")
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


def emit(compiled: Compiled) -> str:
    """The emitted module's source: deterministic for the same spec and overrides."""
    return _render(compiled)[0]


def _render(compiled: Compiled) -> tuple[str, str]:
    """The module's source and the name of its network class."""
    e = Emitter(compiled)
    for definition in e.representative:
        e.signature(definition)
    network = e.emit_network()
    t = compiled.totals
    net = compiled.network
    factory = net.name if net.name.isidentifier() and not keyword.iskeyword(net.name) else "build"
    params_text = ", ".join(f"{k}={_show(v)}" for k, v in net.params.items())
    factory_doc = textwrap.wrap(
        f"Build ``{net.name}`` as specified in {net.file} ({params_text}). "
        f"Input (B, {_dims(t.input_shape)}) -> output (B, {_dims(t.output_shape)}); "
        f"{t.params:,} parameters ({human(t.params)}); {t.macs:,} MACs ({human(t.macs)}) "
        "in convolutions, linear layers and attention, for one sample.",
        80,
        break_long_words=False,
        break_on_hyphens=False,
    )
    module_doc = textwrap.wrap(
        f"{net.name}: input {fmt(t.input_shape)}, output {fmt(t.output_shape)}, "
        f"{t.params:,} parameters, {t.macs:,} MACs.",
        78,
        break_long_words=False,
    )
    text = _template().render(
        factory_doc=factory_doc,
        module_doc=module_doc,
        spec=net.file,
        network=net.name,
        ordered_dict=e.ordered_dict,
        sequence=any(
            "Sequence[" in c.annotations.get(name, "")
            for c in [*e.classes, network]
            for name, _, _ in c.signature.params
        ),
        helpers=[HELPERS[h] for h in sorted(e.helpers)],
        classes=[_render_class(c) for c in e.classes],
        network_class=_render_class(network, doc=_network_doc(compiled)),
        network_name=network.name,
        factory=factory,
    )
    return text, network.name


def _dims(shape: tuple[int, ...]) -> str:
    return ", ".join(str(d) for d in shape)


def _show(v: Any) -> str:
    if isinstance(v, BlockRef):
        return v.name
    return _default_code(v) if not isinstance(v, list) else code(v)


def _network_doc(compiled: Compiled) -> str:
    t = compiled.totals
    return (
        f"Network ``{compiled.network.name}`` from {compiled.network.file}: "
        f"input {fmt(t.input_shape)}, output {fmt(t.output_shape)}."
    )


def _render_class(c: ClassCode, doc: str | None = None) -> dict[str, Any]:
    init: list[str] = []
    for line in c.init:
        indent = len(line) - len(line.lstrip())
        init.extend(layout(line.lstrip(), 8 + indent))
    forward: list[str] = []
    for line in c.forward:
        forward.extend(layout(line, 8))
    head = f"def __init__({c.signature_code()}) -> None:"
    return {
        "name": c.name,
        "doc": textwrap.wrap(doc or c.doc, 76, break_long_words=False, break_on_hyphens=False),
        "init_header": layout(head, 4),
        "init": init,
        "forward": forward,
    }


def instantiate(compiled: Compiled, **kwargs: Any) -> Any:
    """Execute the emitted source in a fresh namespace and build the network."""
    import linecache
    import types

    source, class_name = _render(compiled)
    filename = f"<archc {compiled.network.name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"archc_generated_{compiled.network.name}")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module.__dict__[class_name](**kwargs)
