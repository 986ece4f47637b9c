"""The abstract syntax tree of a spec: plain dataclasses, each with its source span."""

from __future__ import annotations

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


Value = Var | Merge | Flow

# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class InputStmt:
    shape: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class Assign:
    name: str
    value: Flow
    span: Span


@dataclass(frozen=True)
class Return:
    value: Flow
    span: Span


@dataclass(frozen=True)
class FlowStmt:
    value: Flow
    span: Span


Stmt = InputStmt | Assign | Return | FlowStmt

# ---------------------------------------------------------------- top level


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    file: str


@dataclass(frozen=True)
class Insert:
    label: str
    call: Call
    position: str  # after | before
    target: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Replace:
    target: tuple[str, ...]
    call: Call
    span: Span


@dataclass(frozen=True)
class Remove:
    target: tuple[str, ...]
    span: Span


Edit = Insert | Replace | Remove


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
