"""Values of spec expressions, and their evaluation."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError, Span


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

    def get(self, field: str) -> int | None:
        names = {3: "chw", 2: "nd", 1: "d"}.get(len(self.shape), "")
        if field == "rank":
            return len(self.shape)
        i = names.find(field)
        return self.shape[i] if i >= 0 and len(field) == 1 else None


Value = int | float | bool | str | list[Any] | BlockRef | ShapeVal


def type_name(v: Any) -> str:
    if isinstance(v, bool):
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
    return type(v).__name__


def show(v: Any) -> str:
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


#: The largest integer an expression may produce (a guard against 10**10**10).
MAX_INT = 2**62


def _log2(n: Any) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0 or n & (n - 1):
        raise ValueError(f"{show(n)} is not a power of two")
    return int(n).bit_length() - 1


_BUILTIN_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "len": len,
    "int": int,
    "log2": _log2,
}


class Evaluator:
    """Evaluates expressions against variables and the blocks in scope."""

    def __init__(self, blocks: Mapping[str, object]):
        self.blocks = blocks

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
                        avail = {3: "c, h, w", 2: "n, d", 1: "d"}.get(len(obj.shape), "")
                        raise ArchcError.at(
                            e.span,
                            f"the input shape {'x'.join(map(str, obj.shape))} has no '{field}'",
                            f"it has {avail}",
                        )
                    return r
                raise ArchcError.at(e.span, f"{type_name(obj)} has no attribute '{field}'")
            case ast.ListLit(items=items):
                return [self.ev(i, env) for i in items]
            case ast.Index(target=t, index=i):
                seq, idx = self.ev(t, env), self.ev(i, env)
                if not isinstance(seq, list):
                    raise ArchcError.at(e.span, f"cannot index {type_name(seq)}")
                if not isinstance(idx, int) or isinstance(idx, bool):
                    raise ArchcError.at(i.span, f"a list index must be an integer, not {type_name(idx)}")
                if not -len(seq) <= idx < len(seq):
                    raise ArchcError.at(e.span, f"index {idx} is out of range for a list of {len(seq)}")
                return seq[idx]  # type: ignore[no-any-return]
            case ast.Neg(operand=o):
                num = self.ev(o, env)
                if not _is_number(num):
                    raise ArchcError.at(e.span, f"cannot negate {type_name(num)}")
                return -num  # type: ignore[operator]
            case ast.Not(operand=o):
                return not self._truth(o, env)
            case ast.Ternary(cond=c, then=a, other=b):
                return self.ev(a, env) if self._truth(c, env) else self.ev(b, env)
            case ast.BinOp(op="and", left=a, right=b):
                return self._truth(a, env) and self._truth(b, env)
            case ast.BinOp(op="or", left=a, right=b):
                return self._truth(a, env) or self._truth(b, env)
            case ast.BinOp(op=op, left=a, right=b):
                return self._binop(op, self.ev(a, env), self.ev(b, env), e.span)
            case ast.FCall(func=f, args=args):
                if f not in _BUILTIN_FUNCS:
                    raise ArchcError.at(
                        e.span, f"unknown function '{f}'", f"available: {', '.join(_BUILTIN_FUNCS)}"
                    )
                if any(a.name for a in args):
                    raise ArchcError.at(e.span, f"{f}() takes no keyword arguments")
                vals = [self.ev(a.value, env) for a in args]
                try:
                    return _BUILTIN_FUNCS[f](*vals)  # type: ignore[no-any-return]
                except (TypeError, ValueError) as err:
                    raise ArchcError.at(e.span, f"{f}(): {err}") from None
        raise ArchcError.at(getattr(e, "span", Span("?", 0, 0)), "not an expression")  # pragma: no cover

    def _truth(self, e: ast.Expr, env: Mapping[str, Value]) -> bool:
        v = self.ev(e, env)
        if not isinstance(v, bool):
            raise ArchcError.at(e.span, f"expected a condition, got {type_name(v)} {show(v)}")
        return v

    def _binop(self, op: str, a: Value, b: Value, span: Span) -> Value:
        if op in ("==", "!="):
            same = (a == b and type(a) is type(b)) or (_is_number(a) and _is_number(b) and a == b)
            return same if op == "==" else not same
        if not (_is_number(a) and _is_number(b)):
            if op == "+" and isinstance(a, list) and isinstance(b, list):
                return a + b
            raise ArchcError.at(span, f"cannot apply '{op}' to {type_name(a)} and {type_name(b)}")
        assert isinstance(a, int | float) and isinstance(b, int | float)
        x: float = a
        y: float = b
        if op in ("/", "//", "%") and y == 0:
            raise ArchcError.at(span, "division by zero")
        result: Value
        match op:
            case "+":
                result = x + y
            case "-":
                result = x - y
            case "*":
                result = x * y
            case "/":
                result = x / y
            case "//":
                result = x // y
            case "%":
                result = x % y
            case "<":
                return x < y
            case "<=":
                return x <= y
            case ">":
                return x > y
            case ">=":
                return x >= y
            case _:  # pragma: no cover
                raise ArchcError.at(span, f"unknown operator {op}")
        if abs(result) > MAX_INT:
            raise ArchcError.at(span, f"number too large ({op} gives more than 2**62)")
        return result


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


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
    raise ArchcError.at(span, f"{type_name(v)} cannot be passed here")
