"""The abstract syntax tree of a spec: plain dataclasses, each with its source span."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from archc.dsl.diagnostics import Span

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class InShape:
    """``in``: the shape of the enclosing block's input."""

    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / // % == != < <= > >= and or
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Ternary:
    cond: Expr
    then: Expr
    other: Expr
    span: Span


@dataclass(frozen=True)
class Index:
    target: Expr
    index: Expr
    span: Span


@dataclass(frozen=True)
class Attr:
    target: Expr
    name: str
    span: Span


@dataclass(frozen=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class FCall:
    func: str
    args: tuple[Arg, ...]
    span: Span


Expr = Num | Str | Bool | Name | InShape | BinOp | Not | Neg | Ternary | Index | Attr | ListLit | FCall


@dataclass(frozen=True)
class Arg:
    """A call argument; ``name`` is None for a positional one."""

    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


# ---------------------------------------------------------------- dataflow


@dataclass(frozen=True)
class Call:
    """``conv(64, k=3)`` or a bare ``bn``: an op, a block, or a block-valued parameter."""

    name: str
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class Seq:
    """``[a, b x 3, c]``: a sequence whose children are numbered like ``nn.Sequential``."""

    items: tuple[Element, ...]
    span: Span


@dataclass(frozen=True)
class Repeat:
    count: Expr
    pattern: str | None
    span: Span


@dataclass(frozen=True)
class Element:
    """One step of a chain: ``label: layer x N if cond``."""

    label: str | None
    label_span: Span | None
    layer: Call | Seq
    repeat: Repeat | None
    cond: Expr | None
    span: Span
    splice: bool = False  # ``*[...]`` inside a sequence: its items join the enclosing one


@dataclass(frozen=True)
class Var:
    name: str
    span: Span


@dataclass(frozen=True)
class Merge:
    """``a + b``, ``a * b`` or ``cat(a, b, ...)``."""

    op: str  # add | mul | cat
    operands: tuple[Value, ...]
    span: Span


@dataclass(frozen=True)
class Flow:
    """``source -> e1 -> e2``."""

    source: Value
    chain: tuple[Element, ...]
    span: Span


@dataclass(frozen=True)
class Choice:
    """``y + x if use_res else y``: one of two values, chosen by a condition (a residual that
    exists only when it fits)."""

    then: Flow
    cond: Expr
    other: Flow
    span: Span


Value = Var | Merge | Flow | Choice

# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class InputStmt:
    shape: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Assign:
    name: str
    value: Flow | Choice
    span: Span


@dataclass(frozen=True)
class Return:
    value: Flow | Choice
    span: Span


@dataclass(frozen=True)
class FlowStmt:
    value: Flow | Choice
    span: Span


@dataclass(frozen=True)
class Let:
    """``let use_res = stride == 1 and in.c == out``: a named value for the rest of the body."""

    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class Require:
    """``require in.h % patch == 0: "message"``: checked statically and in the emitted module."""

    cond: Expr
    message: str | None
    span: Span


@dataclass(frozen=True)
class InitStmt:
    """``init kaiming_normal(mode=fan_out) for conv if cond``: how the emitted module
    initialises its tensors (a rule, or a named preset with no targets)."""

    call: Call
    targets: tuple[Target, ...]
    cond: Expr | None
    span: Span


Stmt = InputStmt | Assign | Return | FlowStmt | Let | Require | InitStmt

# ---------------------------------------------------------------- top level


@dataclass(frozen=True)
class Segment:
    """One step of a target path: a name or index (``bn3``, ``0``), ``*``, or a range of
    siblings ``layer2..layer4`` (``hi`` set)."""

    lo: str
    hi: str | None = None

    def __str__(self) -> str:
        return self.lo if self.hi is None else f"{self.lo}..{self.hi}"


@dataclass(frozen=True)
class Target:
    """What an edit or an ``init`` rule applies to: ``layer4.*.bn3``, ``bottleneck.bn3 in
    layer4``, ``relu``, ``layer2..layer4``."""

    path: tuple[Segment, ...]
    scope: tuple[Segment, ...] | None
    span: Span

    def __str__(self) -> str:
        text = ".".join(map(str, self.path))
        return text if self.scope is None else f"{text} in {'.'.join(map(str, self.scope))}"


@dataclass(frozen=True)
class Insert:
    label: str
    element: Element
    position: str  # after | before
    target: Target
    span: Span


@dataclass(frozen=True)
class Replace:
    target: Target
    element: Element
    span: Span


@dataclass(frozen=True)
class Remove:
    target: Target
    span: Span


Edit = Insert | Replace | Remove


@dataclass(frozen=True)
class BlockDef:
    """``block bottleneck(width, stride=1):`` with a body, or a derived block
    ``block se_bottleneck(reduction=16) = bottleneck with: ...`` (``base`` set, body empty
    until resolved)."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    file: str
    base: str | None = None
    base_args: tuple[Arg, ...] = ()
    edits: tuple[Edit, ...] = ()


@dataclass(frozen=True)
class NetworkDef:
    """``network resnet(...):`` with a body, or ``network resnet50 = resnet(...) with: ...``."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    file: str
    base: str | None = None
    base_args: tuple[Arg, ...] = ()
    edits: tuple[Edit, ...] = ()
    input: InputStmt | None = None  # a derived network's own input (``with: input 3x240x240``)


@dataclass(frozen=True)
class Use:
    path: str
    span: Span


@dataclass
class Module:
    """One parsed file."""

    path: str
    uses: list[Use] = field(default_factory=list)
    blocks: list[BlockDef] = field(default_factory=list)
    networks: list[NetworkDef] = field(default_factory=list)


def flow_parts(v: Value) -> Iterator[Var | Element]:
    """The tensor names a value reads and the elements of its chains, in source order (both
    branches of a conditional value; the elements are not looked into)."""
    if isinstance(v, Var):
        yield v
    elif isinstance(v, Flow):
        yield from flow_parts(v.source)
        yield from v.chain
    elif isinstance(v, Merge):
        for o in v.operands:
            yield from flow_parts(o)
    elif isinstance(v, Choice):
        yield from flow_parts(v.then)
        yield from flow_parts(v.other)
