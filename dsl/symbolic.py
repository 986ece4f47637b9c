"""Numbers that remember how they were computed, for code generation.

A :class:`SymInt` is an ``int`` (so every shape rule and check works on it unchanged, using
the concrete value of a representative instance) that also carries the Python expression
it came from: elaborating a block with ``width = SymInt(64, "width")`` gives its third
convolution ``out = SymInt(256, "width * 4")``.  Constants fold: ``SymInt(2) * 3`` is just 6.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: While code is generated: the names whose concrete value some decision depended on (a
#: condition that had to be decided, a list length, ...).  Such a name cannot stay a free
#: constructor argument; the generator makes it a constant and generates again.
_BAKED: ContextVar[set[str] | None] = ContextVar("archc_baked", default=None)


@contextmanager
def tracking_baked() -> Iterator[set[str]]:
    """Collect the names baked while the block runs."""
    baked: set[str] = set()
    token = _BAKED.set(baked)
    try:
        yield baked
    finally:
        _BAKED.reset(token)


def bake(v: Any) -> None:
    """Record that ``v``'s concrete value decided something the code cannot say."""
    baked = _BAKED.get()
    if baked is not None:
        baked.update(names(v))


# Binding strength of an expression's top-level operator: higher binds tighter.
ATOM, POWER, UNARY, PRODUCT, SUM, COMPARE, NOT, AND, OR, TERNARY = 100, 40, 30, 20, 10, 7, 6, 5, 4, 2
_PREC = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "//": PRODUCT, "%": PRODUCT}


class _Sym:
    """Arithmetic shared by :class:`SymInt` and :class:`SymFloat`: the concrete result, and the
    expression that produced it (``_plain`` is the built-in type the value is)."""

    expr: str
    prec: int
    free: frozenset[str]
    _plain: type
    scale: tuple[int, Any] | None = None  # (k, x) when this is k * x, for simplifying (k * x) // k
    # An integer sum as {atom's code: (atom, coefficient)} and a constant, for collecting like
    # terms: DenseNet's channels after n layers read ``c + n * growth_rate``, not n additions.
    linear: tuple[dict[str, tuple[Any, int]], int] | None = None
    op: str | None = None  # the top-level operator, for parenthesising a right operand of *

    def _v(self) -> Any:
        return self._plain(self)

    def __add__(self, o: Any) -> Any:
        return _combine("+", self, o, self._v() + o)

    def __radd__(self, o: Any) -> Any:
        return _combine("+", o, self, o + self._v())

    def __sub__(self, o: Any) -> Any:
        return _combine("-", self, o, self._v() - o)

    def __rsub__(self, o: Any) -> Any:
        return _combine("-", o, self, o - self._v())

    def __mul__(self, o: Any) -> Any:
        return _combine("*", self, o, self._v() * o)

    def __rmul__(self, o: Any) -> Any:
        return _combine("*", o, self, o * self._v())

    def __floordiv__(self, o: Any) -> Any:
        return _combine("//", self, o, self._v() // o)

    def __rfloordiv__(self, o: Any) -> Any:
        return _combine("//", o, self, o // self._v())

    def __truediv__(self, o: Any) -> Any:
        return _combine("/", self, o, self._v() / o)

    def __rtruediv__(self, o: Any) -> Any:
        return _combine("/", o, self, o / self._v())

    def __mod__(self, o: Any) -> Any:
        return _combine("%", self, o, self._v() % o)

    def __rmod__(self, o: Any) -> Any:
        return _combine("%", o, self, o % self._v())

    def __neg__(self) -> Any:
        value = -self._v()
        if _opaque(self):
            return _opaque_value(value, self.free)
        cls: Any = type(self)
        return cls(value, f"-{_wrap(self, UNARY, False)}", UNARY, self.free) if self.free else value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._v()!r}, {self.expr!r})"

    def __str__(self) -> str:  # messages show the value, never the symbol
        return str(self._v())

    def __format__(self, spec: str) -> str:
        return format(self._v(), spec)


class SymBool:
    """A condition that depends on symbols: its concrete value (for the instance at hand) and
    its Python expression (``stride != 1 or in_channels != width * 4``).

    It is not a ``bool`` (Python forbids subclassing it): code that needs the concrete value
    calls ``bool()``, which records the symbols as baked."""

    __slots__ = ("cmp", "expr", "free", "prec", "value")

    def __init__(
        self,
        value: bool,
        expr: str,
        prec: int,
        free: frozenset[str],
        cmp: tuple[str, Any, Any] | None = None,
    ):
        self.value = bool(value)
        self.expr = expr
        self.prec = prec
        self.free = free
        self.cmp = cmp  # (op, left, right) when this is a comparison, for simplifying

    def __bool__(self) -> bool:
        bake(self)
        return self.value

    def __repr__(self) -> str:
        return f"SymBool({self.value!r}, {self.expr!r})"


#: A comparison read the other way round (``8 != out`` is written ``out != 8``), and its negation
#: (``not a == b`` is written ``a != b``).
_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def compare(op: str, a: Any, b: Any, value: bool) -> Any:
    """``a op b`` for a comparison or ``and``/``or``: a :class:`SymBool` when either side is
    symbolic, else ``value``.  A constant goes on the right, as people write it."""
    free = names(a) | names(b)
    if not free:
        return value
    if op in ("and", "or"):  # a constant side decides or drops out: `c and True` is c
        for const, other in ((a, b), (b, a)):
            if isinstance(const, bool) and isinstance(other, SymBool):
                return other if const == (op == "and") else const
    if op in _FLIPPED and not names(a):
        op, a, b = _FLIPPED[op], b, a
    prec = {"and": AND, "or": OR}.get(op, COMPARE)
    if _opaque(a, b):
        return _opaque_value(value, free)
    text = f"{_wrap(a, prec, False)} {op} {_wrap(b, prec + 1, False)}"
    if len(text) > MAX_EXPR:
        return _opaque_value(value, free)
    return SymBool(value, text, prec, free, (op, a, b) if op in _FLIPPED else None)


def negate(a: Any) -> Any:
    """``not a``; the negation of a comparison is the opposite comparison."""
    if not names(a):
        return not a
    if _opaque(a):
        return _opaque_value(not concrete(a), names(a))
    if isinstance(a, SymBool) and a.cmp is not None:
        op, left, right = a.cmp
        return compare(_NEGATED[op], left, right, not a.value)
    return SymBool(not concrete(a), f"not {_wrap(a, NOT, False)}", NOT, names(a))


def select(cond: Any, then: Any, other: Any) -> Any:
    """``then if cond else other``: symbolic when the condition is, for numbers and flags;
    None when the two cannot be one expression (the caller then decides with ``bool(cond)``)."""
    if not names(cond):
        return then if cond else other
    if isinstance(cond, SymBool) and cond.cmp is not None and cond.cmp[0] in ("==", "!="):
        # a if a != b else b is a; a if a == b else b is b (either way round)
        op, left, right = cond.cmp
        numbers = all(isinstance(v, int | float) for v in (then, other, left, right))
        if numbers and {code(then), code(other)} == {code(left), code(right)} and code(left) != code(right):
            return then if op == "!=" else other
    taken = then if concrete(cond) else other
    free = names(cond) | names(then) | names(other)
    plain = concrete(taken)
    if _opaque(cond, then, other) and isinstance(plain, int | float):
        return _opaque_value(plain, free)
    then_code, cond_code = _wrap(then, TERNARY + 1, False), _wrap(cond, TERNARY + 1, False)
    text = f"{then_code} if {cond_code} else {_wrap(other, TERNARY, False)}"
    if len(text) > MAX_EXPR and isinstance(plain, int | float):
        return _opaque_value(plain, free)
    if isinstance(plain, bool):
        return SymBool(plain, text, TERNARY, free)
    if isinstance(plain, int):
        return SymInt(plain, text, TERNARY, free)
    if isinstance(plain, float):
        return SymFloat(plain, text, TERNARY, free)
    return None


def call(func: str, args: list[Any], value: Any) -> Any:
    """``max(a, b)`` and other builtins over symbols: symbolic when an argument is."""
    free: frozenset[str] = frozenset()
    for a in args:
        free |= names(a)
    if not free or not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if _opaque(*args):
        return _opaque_value(value, free)
    text = f"{func}({', '.join(code(a) for a in args)})"
    if len(text) > MAX_EXPR:
        return _opaque_value(value, free)
    if isinstance(value, int):
        return SymInt(value, text, ATOM, free)
    return SymFloat(value, text, ATOM, free)


_ARITH = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: x / y,
    "//": lambda x, y: x // y,
    "%": lambda x, y: x % y,
}


def arith(op: str, a: Any, b: Any) -> Any:
    """``a op b`` for numbers either of which may be symbolic.  (Python would compute
    ``0.25 * width`` with ``float.__mul__``, which accepts an int subclass and drops the symbol.)"""
    value = _ARITH[op](concrete(a), concrete(b))
    return _combine(op, a, b, value) if names(a) or names(b) else value


def concrete(v: Any) -> Any:
    """The plain value of a possibly symbolic one (without baking anything)."""
    if isinstance(v, SymBool):
        return v.value
    if isinstance(v, _Sym):
        return v._v()
    if isinstance(v, list):
        return [concrete(x) for x in v]
    if isinstance(v, tuple):
        return tuple(concrete(x) for x in v)
    return v


def code(v: Any) -> str:
    """Python source for a value: a symbol's expression, or a literal."""
    if getattr(v, "free", None):
        if v.expr == OPAQUE:  # too long to write: code from it fixes its symbols
            bake(v)
            return code(concrete(v))
        return str(v.expr)
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return repr(float(v))
    if isinstance(v, list | tuple):
        inner = ", ".join(code(x) for x in v)
        return (
            f"({inner},)"
            if isinstance(v, tuple) and len(v) == 1
            else (f"[{inner}]" if isinstance(v, list) else f"({inner})")
        )
    if isinstance(v, str):
        return repr(v)
    raise TypeError(f"no code for {v!r}")


def names(v: Any) -> frozenset[str]:
    """The symbols an emitted value refers to."""
    free = getattr(v, "free", None)
    if isinstance(free, frozenset):
        return free
    if isinstance(v, list | tuple):
        out: frozenset[str] = frozenset()
        for x in v:
            out |= names(x)
        return out
    return frozenset()


def _prec(v: Any) -> int:
    if isinstance(v, _Sym | SymBool) and v.free:
        return v.prec
    return ATOM if not (isinstance(v, int | float) and v < 0) else UNARY


def _wrap(v: Any, need: int, strict: bool) -> str:
    p = _prec(v)
    text = code(v)
    return f"({text})" if p < need or (strict and p == need) else text


def _combine(op: str, a: Any, b: Any, value: Any) -> Any:
    free = names(a) | names(b)
    if not free:
        return value
    if _opaque(a, b):
        return _opaque_value(value, free)
    # identities, so that emitted sizes read as written: x + 0, x * 1, x // 1
    if not names(b) and ((op in "+-" and b == 0) or (op in ("*", "//", "/") and b == 1)):
        return a
    if not names(a) and ((op == "+" and a == 0) or (op == "*" and a == 1)):
        return b
    # (k * x) // c with c dividing k is (k // c) * x: pixel_shuffle's C*r*r // (r*r) reads as C
    scale = getattr(a, "scale", None)
    if op == "//" and scale and _const_int(b) and b and scale[0] % b == 0:
        k, base = scale[0] // b, scale[1]
        return base if k == 1 else _combine("*", k, base, k * base._plain(base))
    prec = _PREC[op]
    cls = SymInt if isinstance(value, int) and not isinstance(value, bool) else SymFloat
    la, lb = _linear(a), _linear(b)
    form = None
    if cls is SymInt and op in "+-" and la is not None and lb is not None:
        sign = 1 if op == "+" else -1
        terms = dict(la[0])
        for key, (atom, k) in lb[0].items():
            terms[key] = (terms.get(key, (atom, 0))[0], terms.get(key, (atom, 0))[1] + sign * k)
        form = (terms, la[1] + sign * lb[1])
        if la[0].keys() & lb[0].keys():  # like terms: write the sum collected
            return _collected(form, value)
    elif cls is SymInt and op == "*" and (_const_int(a) or _const_int(b)):
        k, s = (a, b) if _const_int(a) else (b, a)
        ls = _linear(s)
        if ls is not None:
            form = ({key: (atom, k * c) for key, (atom, c) in ls[0].items()}, k * ls[1])
    # a right operand of the same precedence keeps its parentheses unless both are products:
    # a * (b // c) is not a * b // c
    strict = op in "-//%" or (op == "*" and getattr(b, "op", None) not in (None, "*"))
    text = f"{_wrap(a, prec, False)} {op} {_wrap(b, prec, strict)}"
    if len(text) > MAX_EXPR:
        return _opaque_value(value, free)
    result = cls(value, text, prec, free)
    result.linear = form
    # "*" only for a chain of products alone: t // 2 * 3 is not one (-3 * t // 2 * 3 misreads it)
    mixed = any(_prec(v) == PRODUCT and getattr(v, "op", None) != "*" for v in (a, b))
    result.op = "*//" if op == "*" and mixed else op
    if op == "*" and cls is SymInt and (_const_int(a) or _const_int(b)):
        k, s = (a, b) if _const_int(a) else (b, a)
        inner = getattr(s, "scale", None) or (1, s)
        result.scale = (k * inner[0], inner[1])
    return result


#: The longest expression emitted code may hold for one value.  A longer one (sizes that nest
#: conditions, a MAC count) becomes *opaque*: it keeps its value and the symbols it depends on,
#: stops growing, and only if code is written from it are those symbols baked (the instance's
#: value becomes a constant, as for any decision the code cannot say).  Keeps generated code
#: readable and the work of elaboration linear in the spec's size.
MAX_EXPR = 240
OPAQUE = "<opaque>"


def _opaque(*vals: Any) -> bool:
    return any(getattr(v, "expr", None) == OPAQUE and names(v) for v in vals)


def _opaque_value(value: Any, free: frozenset[str]) -> Any:
    if isinstance(value, bool):
        return SymBool(value, OPAQUE, ATOM, free)
    if isinstance(value, int):
        return SymInt(value, OPAQUE, ATOM, free)
    return SymFloat(value, OPAQUE, ATOM, free)


def _linear(v: Any) -> tuple[dict[str, tuple[Any, int]], int] | None:
    """An integer as a sum of coefficient * atom plus a constant, or None (floats, flags)."""
    if _const_int(v):
        return {}, int(v)
    if isinstance(v, SymInt) and v.free:
        return v.linear if v.linear is not None else ({v.expr: (v, 1)}, 0)
    return None


def _collected(form: tuple[dict[str, tuple[Any, int]], int], value: int) -> Any:
    """The code of a sum whose like terms are collected: ``c + 2 * growth_rate``, in the order
    the terms first appeared; a term whose coefficient cancels leaves (``(a + g) - g`` is ``a``)."""
    terms = [(atom, k) for atom, k in form[0].values() if k]
    const = form[1]
    if not terms:
        return int(value)
    if len(terms) == 1 and terms[0][1] == 1 and not const:
        return terms[0][0]
    parts: list[str] = []
    for atom, k in terms:
        if abs(k) == 1:  # the first term's sign is a unary minus; later ones are subtracted
            body = _wrap(atom, SUM if parts else (UNARY if k < 0 else SUM), bool(parts))
        else:
            body = f"{abs(k)} * {_wrap(atom, PRODUCT, True)}"
        if parts:
            parts.append(f"{'-' if k < 0 else '+'} {body}")
        else:
            parts.append(f"-{body}" if k < 0 else body)
    if const:
        parts.append(f"{'-' if const < 0 else '+'} {abs(const)}")
    prec = SUM if len(parts) > 1 else (PRODUCT if abs(terms[0][1]) != 1 else UNARY)
    free: frozenset[str] = frozenset()
    for atom, _ in terms:
        free |= names(atom)
    result = SymInt(value, " ".join(parts), prec, free)
    result.linear = ({code(atom): (atom, k) for atom, k in terms}, const)
    result.op = {SUM: "+", PRODUCT: "*"}.get(prec)
    if len(parts) == 1 and terms[0][1] > 1:
        result.scale = (terms[0][1], terms[0][0])
    return result


def _const_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and not names(v)


class SymInt(_Sym, int):
    _plain = int

    def __new__(
        cls, value: int, expr: str | None = None, prec: int = ATOM, free: frozenset[str] | None = None
    ) -> SymInt:
        self = super().__new__(cls, value)
        self.expr = expr if expr is not None else str(value)
        self.prec = prec
        self.free = (
            free if free is not None else (frozenset([self.expr]) if expr is not None else frozenset())
        )
        return self

    def __hash__(self) -> int:
        return int.__hash__(self)


class SymFloat(_Sym, float):
    _plain = float

    def __new__(
        cls, value: float, expr: str | None = None, prec: int = ATOM, free: frozenset[str] | None = None
    ) -> SymFloat:
        self = super().__new__(cls, value)
        self.expr = expr if expr is not None else repr(value)
        self.prec = prec
        self.free = (
            free if free is not None else (frozenset([self.expr]) if expr is not None else frozenset())
        )
        return self

    def __hash__(self) -> int:
        return float.__hash__(self)


def symbol(name: str, value: Any, param: str | None = None) -> Any:
    """A parameter's value as a symbol whose code is ``name`` (list items become ``name[i]``);
    ``param`` (default ``name``) is what baking it fixes."""
    param = param or name
    if isinstance(value, bool):
        return SymBool(value, name, ATOM, frozenset([param]))
    if isinstance(value, int):
        return SymInt(value, name, ATOM, frozenset([param]))
    if isinstance(value, float):
        return SymFloat(value, name, ATOM, frozenset([param]))
    if isinstance(value, list):
        return [symbol(f"{name}[{i}]", v, param) for i, v in enumerate(value)]
    if hasattr(value, "as_symbol"):
        return value.as_symbol(name, param)
    return value
