"""Values of spec expressions, and their evaluation."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError, Span
from archc.dsl.symbolic import SymBool, arith, bake, call, compare, concrete, names, negate, select


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block used as a value, e.g. ``block=bottleneck``."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ShapeVal:
    """``in``: the input shape of a block; ``in.c``, ``in.h``, ``in.w`` or ``in.n``, ``in.d``."""

    shape: tuple[int, ...]

    @property
    def fields(self) -> str:
        """The names of its dimensions: ``chw``, ``hwc`` (a channels-last map), ``nd`` or ``d``."""
        from archc.dsl.ops.base import ChannelsLast

        if isinstance(self.shape, ChannelsLast):
            return "hwc"
        return {3: "chw", 2: "nd", 1: "d"}.get(len(self.shape), "")

    def get(self, field: str) -> int | None:
        names = self.fields
        if field == "rank":
            return len(self.shape)
        i = names.find(field)
        return self.shape[i] if i >= 0 and len(field) == 1 else None


@dataclass(frozen=True, slots=True)
class OpRef:
    """An op used as a value: ``act=relu``, ``norm=groupnorm(32)``.  ``args`` are its evaluated
    arguments (``None`` names a positional one); while code is generated, ``expr`` is the
    constructor argument it comes from and ``free`` names it."""

    op: str
    args: tuple[tuple[str | None, Any], ...] = ()
    expr: str | None = None
    free: frozenset[str] = frozenset()

    def __str__(self) -> str:
        if not self.args:
            return self.op
        parts = [show(v) if k is None else f"{k}={show(v)}" for k, v in self.args]
        return f"{self.op}({', '.join(parts)})"

    def as_symbol(self, name: str, param: str) -> OpRef:
        return replace(self, expr=name, free=frozenset([param]))


Value = int | float | bool | str | list[Any] | BlockRef | ShapeVal | OpRef | SymBool


def type_name(v: Any) -> str:
    if isinstance(v, bool | SymBool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, BlockRef):
        return "a block"
    if isinstance(v, ShapeVal):
        return "a shape"
    if isinstance(v, OpRef):
        return "an op"
    return type(v).__name__


def show(v: Any) -> str:
    v = concrete(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(show(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def suggest(name: str, choices: Any) -> str | None:
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else None


#: The largest integer an expression may produce (a guard against 10**10**10), and the longest list.
MAX_INT = 2**62
MAX_LIST = 10_000
_LIST_HINT = "a list holds sizes and counts; repeat a layer with `x N` instead"


def _log2(n: Any) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0 or n & (n - 1):
        raise ValueError(f"{show(n)} is not a power of two")
    return int(n).bit_length() - 1


def _number(v: Any) -> float:
    if not _is_number(v):
        raise TypeError(f"expected a number, got {type_name(v)}")
    return v  # type: ignore[no-any-return]


def _sum(items: Any) -> Any:
    if not isinstance(items, list):
        raise TypeError(f"expected a list, got {type_name(items)}")
    total: Any = 0
    for x in items:
        total = total + _number(x)
    return total


def _make_divisible(v: Any, divisor: Any = 8, min_value: Any = None) -> int:
    """torchvision's ``_make_divisible``: ``v`` rounded to a multiple of ``divisor``, at least
    ``min_value`` (default ``divisor``), never more than 10% below ``v``."""
    v, divisor = _number(v), _number(divisor)
    if not isinstance(divisor, int) or divisor <= 0:
        raise ValueError("the divisor must be a positive integer")
    low = divisor if min_value is None else _number(min_value)
    new = max(int(low), int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def _ceil(v: Any) -> int:
    return math.ceil(_number(v))


def _floor(v: Any) -> int:
    return math.floor(_number(v))


def _round(v: Any) -> int:
    return round(_number(v))


_BUILTIN_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "len": len,
    "int": int,
    "log2": _log2,
    "sum": _sum,
    "ceil": _ceil,
    "floor": _floor,
    "round": _round,
    "make_divisible": _make_divisible,
}
#: The builtins whose result stays an expression of symbols in emitted code, and the Python that
#: computes it there (``_make_divisible`` is a helper the emitted module defines, identical to
#: :func:`_make_divisible`); the others need their arguments' values (and bake them).
_SYMBOLIC_FUNCS = {
    "min": "min",
    "max": "max",
    "int": "int",
    "ceil": "math.ceil",
    "floor": "math.floor",
    "round": "round",
    "make_divisible": "_make_divisible",
}


def _plain_arith(op: str, x: float, y: float, span: Span) -> float:
    match op:
        case "+":
            return x + y
        case "-":
            return x - y
        case "*":
            return x * y
        case "/":
            return x / y
        case "//":
            return x // y
        case "%":
            return x % y
    raise ArchcError.at(span, f"unknown operator {op}")  # pragma: no cover


class Evaluator:
    """Evaluates expressions against variables, the blocks in scope and the ops.

    Values may be symbolic while code is generated (:mod:`archc.dsl.symbolic`): comparisons,
    ``and``/``or``/``not``, ``a if c else b``, ``min`` and ``max`` of symbols stay symbolic, so
    that the emitted class computes them; anything else that needs a symbol's concrete value
    records it as baked."""

    def __init__(self, blocks: Mapping[str, object], ops: Callable[[str], str | None] | None = None):
        self.blocks = blocks
        self.ops = ops or _op_name

    def ev(self, e: ast.Expr, env: Mapping[str, Value]) -> Value:
        match e:
            case ast.Num(value=v):
                return v
            case ast.Bool(value=v) | ast.Str(value=v):
                return v
            case ast.Name(id=name):
                if name in env:
                    return env[name]
                if name in self.blocks:
                    return BlockRef(name)
                op = self.ops(name)
                if op is not None:
                    return OpRef(op)
                raise ArchcError.at(
                    e.span, f"undefined name '{name}'", suggest(name, [*env, *self.blocks]) or None
                )
            case ast.InShape():
                if "in" not in env:
                    raise ArchcError.at(
                        e.span, "'in' is only defined inside a block", "it is the block's input shape"
                    )
                return env["in"]
            case ast.Attr(target=t, name=field):
                obj = self.ev(t, env)
                if isinstance(obj, ShapeVal):
                    r = obj.get(field)
                    if r is None:
                        avail = ", ".join(obj.fields)
                        raise ArchcError.at(
                            e.span,
                            f"the input shape {'x'.join(map(str, obj.shape))} has no '{field}'",
                            f"it has {avail}",
                        )
                    return r
                raise ArchcError.at(e.span, f"{type_name(obj)} has no attribute '{field}'")
            case ast.ListLit(items=items):
                if len(items) > MAX_LIST:
                    raise ArchcError.at(
                        e.span, f"spec too big: a list of more than {MAX_LIST:,} items", _LIST_HINT
                    )
                return [self.ev(i, env) for i in items]
            case ast.Index(target=t, index=i):
                seq, idx = self.ev(t, env), self.ev(i, env)
                if not isinstance(seq, list):
                    raise ArchcError.at(e.span, f"cannot index {type_name(seq)}")
                if not isinstance(idx, int) or isinstance(idx, bool):
                    raise ArchcError.at(i.span, f"a list index must be an integer, not {type_name(idx)}")
                bake(idx)  # the emitted code indexes with the concrete position
                if not -len(seq) <= idx < len(seq):
                    raise ArchcError.at(e.span, f"index {idx} is out of range for a list of {len(seq)}")
                return seq[int(idx)]  # type: ignore[no-any-return]
            case ast.Neg(operand=o):
                num = self.ev(o, env)
                if not _is_number(num):
                    raise ArchcError.at(e.span, f"cannot negate {type_name(num)}")
                return -num  # type: ignore[operator]
            case ast.Not(operand=o):
                return negate(self._truth(o, env))  # type: ignore[no-any-return]
            case ast.Ternary(cond=c, then=a, other=b):
                return self._ternary(c, a, b, env)
            case ast.BinOp(op="and" | "or" as op, left=a, right=b):
                return self._logic(op, a, b, env)
            case ast.BinOp(op=op, left=a, right=b):
                return self._binop(op, self.ev(a, env), self.ev(b, env), e.span)
            case ast.FCall(func=f, args=args):
                return self._fcall(e, f, args, env)
        raise ArchcError.at(getattr(e, "span", Span("?", 0, 0)), "not an expression")  # pragma: no cover

    def _fcall(self, e: ast.FCall, f: str, args: tuple[ast.Arg, ...], env: Mapping[str, Value]) -> Value:
        if f in _BUILTIN_FUNCS:
            if any(a.name for a in args):
                raise ArchcError.at(e.span, f"{f}() takes no keyword arguments")
            vals = [self.ev(a.value, env) for a in args]
            if f not in _SYMBOLIC_FUNCS:
                for v in vals:
                    bake(v)
            try:
                value = _BUILTIN_FUNCS[f](*(concrete(v) for v in vals))
            except (TypeError, ValueError, OverflowError, ZeroDivisionError) as err:
                raise ArchcError.at(e.span, f"{f}(): {err}") from None
            if f in _SYMBOLIC_FUNCS:
                return call(_SYMBOLIC_FUNCS[f], vals, value)  # type: ignore[no-any-return]
            return value  # type: ignore[no-any-return]
        op = self.ops(f)
        if op is not None:  # an op with arguments, as a value: norm=groupnorm(32)
            return OpRef(op, tuple((a.name, self.ev(a.value, env)) for a in args))
        if f in self.blocks:
            raise ArchcError.at(
                e.span,
                f"'{f}(...)' calls a block; a block is a value only by its name",
                f"pass '{f}' and give its arguments where it is used",
            )
        raise ArchcError.at(
            e.span, f"unknown function '{f}'", f"available: {', '.join(_BUILTIN_FUNCS)}, or an op"
        )

    def _ternary(self, c: ast.Expr, a: ast.Expr, b: ast.Expr, env: Mapping[str, Value]) -> Value:
        cond = self._truth(c, env)
        if not isinstance(cond, SymBool):
            return self.ev(a, env) if cond else self.ev(b, env)
        taken, other = (a, b) if cond.value else (b, a)
        value = self.ev(taken, env)
        try:
            alternative = self.ev(other, env)
        except ArchcError:  # the other branch does not hold here: decide now
            bake(cond)
            return value
        then, otherwise = (value, alternative) if cond.value else (alternative, value)
        result = select(cond, then, otherwise)
        if result is None:  # lists, blocks, ops: no one expression for both
            bake(cond)
            return value
        return result  # type: ignore[no-any-return]

    def _logic(self, op: str, a: ast.Expr, b: ast.Expr, env: Mapping[str, Value]) -> Value:
        left = self._truth(a, env)
        if not isinstance(left, SymBool):  # short-circuit on a known value
            if (op == "and") != bool(left):
                return left
            return self._truth(b, env)
        try:
            right = self._truth(b, env)
        except ArchcError:
            bake(left)
            if (op == "and") != left.value:
                return left.value
            raise
        value = (left.value and concrete(right)) if op == "and" else (left.value or concrete(right))
        return compare(op, left, right, bool(value))  # type: ignore[no-any-return]

    def _truth(self, e: ast.Expr, env: Mapping[str, Value]) -> bool | SymBool:
        v = self.ev(e, env)
        if not isinstance(v, bool | SymBool):
            raise ArchcError.at(e.span, f"expected a condition, got {type_name(v)} {show(v)}")
        return v

    def _binop(self, op: str, a: Value, b: Value, span: Span) -> Value:
        if op in ("==", "!="):
            ca, cb = concrete(a), concrete(b)
            same = (ca == cb and type(ca) is type(cb)) or (_is_number(ca) and _is_number(cb) and ca == cb)
            return compare(op, a, b, same if op == "==" else not same)  # type: ignore[no-any-return]
        if not (_is_number(a) and _is_number(b)):
            if op == "+" and isinstance(a, list) and isinstance(b, list):
                if len(a) + len(b) > MAX_LIST:
                    raise ArchcError.at(
                        span, f"spec too big: a list of more than {MAX_LIST:,} items", _LIST_HINT
                    )
                return a + b
            raise ArchcError.at(span, f"cannot apply '{op}' to {type_name(a)} and {type_name(b)}")
        assert isinstance(a, int | float) and isinstance(b, int | float)
        x: float = a
        y: float = b
        if op in ("/", "//", "%") and y == 0:
            raise ArchcError.at(span, "division by zero")
        if op in ("<", "<=", ">", ">="):
            ok = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
            return compare(op, a, b, ok)  # type: ignore[no-any-return]
        result: Value
        try:
            # (float * SymInt would be float.__mul__, dropping the symbol)
            result = arith(op, a, b) if names(a) or names(b) else _plain_arith(op, x, y, span)
        except OverflowError:
            raise ArchcError.at(span, f"number too large ({op} overflows)") from None
        if isinstance(result, float) and not math.isfinite(result):
            raise ArchcError.at(span, f"number too large ({op} gives a number that is not finite)")
        if abs(result) > MAX_INT:
            raise ArchcError.at(span, f"number too large ({op} gives more than 2**62)")
        return result


def _op_name(name: str) -> str | None:
    """The registry name of op ``name`` (or an alias), or None."""
    from archc.dsl.ops import lookup

    op = lookup(name)
    return op.name if op is not None else None


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)  # SymInt and SymFloat included


def literal(v: Value, span: Span) -> ast.Expr:
    """An AST expression that evaluates to ``v`` (used when edits copy values into blocks)."""
    if isinstance(v, bool):
        return ast.Bool(v, span)
    if isinstance(v, int | float):
        return ast.Num(v, span)
    if isinstance(v, str):
        return ast.Str(v, span)
    if isinstance(v, list):
        return ast.ListLit(tuple(literal(x, span) for x in v), span)
    if isinstance(v, BlockRef):
        return ast.Name(v.name, span)
    if isinstance(v, OpRef):
        args = tuple(ast.Arg(k, literal(x, span), span) for k, x in v.args)
        return ast.FCall(v.op, args, span) if args else ast.Name(v.op, span)
    raise ArchcError.at(span, f"{type_name(v)} cannot be passed here")
