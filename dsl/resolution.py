"""Which input sizes a network accepts, and its shapes and costs as formulas of H and W.

A compiled graph fixes every layer's arguments; only the sizes flowing through it depend on the
input.  :class:`Resizer` re-runs the ops' own shape rules (``check_rank``, ``infer``,
``tensors``) over the graph for another input size, so that a size is judged by exactly the rules
that compiled the spec, in well under a millisecond per size for the reference networks (results
are memoised per layer and input shape, and repeated blocks share them).  A size is *valid* when
every layer accepts it and every parameter keeps its shape (the spec's weights still load: ViT's
position embedding, or a linear layer after a flatten without adaptive pooling, pin the size).

The set of valid sizes is found by scanning square inputs from 1 up.  Each layer's size is a
floor of an affine function of the input size that grows by a fixed step every ``P`` pixels,
``P`` being the network's total stride (the least common multiple of every layer's cumulative
stride), and every window fits once one size is valid; so validity repeats with period ``P``
after the first valid size, and the scan stops as soon as two whole periods agree (a size pinned
by the weights, or branches whose sizes grow at different rates, break the pattern; the scan then
runs to two periods past the spec's size and reports what it saw).  On multiples of ``P`` every
size is affine in H and W, so shapes, MACs and parameters are polynomials in H and W there;
:func:`formulas` finds them exactly, by interpolating exact counts with rational arithmetic and
checking the result at further sizes.

The elaborator evaluates spec expressions such as ``in.h`` once, at the spec's size: a spec that
derives a layer's arguments from its spatial size is judged here with those arguments fixed
(compile at a size, ``--input``, for the exact answer).  The tests confirm the reference
networks' smallest sizes by compiling them at that size and one below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from math import lcm
from typing import Any

import networkx as nx

from archc.dsl.ops import REGISTRY, OpError, Shape
from archc.dsl.receptive import receptive_fields

#: The largest size the scan tries, whatever the spec's size.
MAX_SCAN = 4096


@dataclass(frozen=True, slots=True)
class Outcome:
    """One input size run through the graph."""

    ok: bool  # every layer accepts it
    error: str | None = None  # the first layer's complaint, when not ok
    layer: str | None = None
    pinned: tuple[tuple[str, Shape, Shape], ...] = ()  # (key, shape at this size, shape in the spec)
    exact: bool = False  # every strided layer gets a size its stride divides
    shapes: dict[str, Shape] | None = None
    macs: int = 0
    params: int = 0

    @property
    def valid(self) -> bool:
        """Accepted, with the spec's parameter shapes."""
        return self.ok and not self.pinned


class Resizer:
    """Runs an elaborated graph's shape rules at other input sizes."""

    def __init__(self, g: nx.DiGraph):
        self.g = g
        self.input_shape: Shape = g.graph["input_shape"]
        self.nodes = [
            (n, d) for n, d in sorted(g.nodes(data=True), key=lambda nd: nd[1]["order"]) if n != "input"
        ]
        self._cache: dict[tuple[Any, ...], Any] = {}
        period = 1
        for f in receptive_fields(g):
            for x in (f.h, f.w):
                if not x.unknown:
                    period = lcm(period, x.jump.numerator)
        self.period = period
        # per layer: its name, data, memo key, operands, its tensors in the spec, and its strides
        self._plan: list[tuple[str, dict[str, Any], Any, tuple[str, ...], Any, tuple[int, int] | None]] = []
        for n, d in self.nodes:
            sig = (d["op"], repr(sorted(d["args"].items())))
            spec = tuple((k[len(n) + 1 :] if k != n else "", tuple(sh)) for k, sh, _ in d["tensors"])
            win = REGISTRY[d["op"]].window(d["args"], d["in_shapes"], d["shape"])
            stride = None
            if win is not None and (win[0].s > 1 or win[1].s > 1) and len(d["in_shapes"][0]) == 3:
                stride = (win[0].s, win[1].s)
            self._plan.append((n, d, sig, tuple(d["inputs"]), spec, stride))

    def _layer(self, d: dict[str, Any], sig: Any, ins: tuple[Shape, ...]) -> Any:
        key = (sig, ins)
        hit = self._cache.get(key)
        if hit is None:
            op = REGISTRY[d["op"]]
            shapes = list(ins)
            try:
                op.check_rank(shapes)
                out = op.infer(d["args"], shapes)
                if any(x <= 0 for x in out):
                    raise OpError(f"a size is not positive: {'x'.join(map(str, out))}")
                ts = op.tensors(d["args"], shapes, out)
                tensors = tuple((t.suffix, tuple(t.shape)) for t in ts)
                params = sum(t.numel for t in ts if not t.buffer)
                hit = (out, tensors, op.macs(d["args"], shapes, out)[0], params)
            except OpError as e:
                hit = e
            self._cache[key] = hit
        return hit

    def run(self, shape: Shape, keep_shapes: bool = False) -> Outcome:
        """The graph at input ``shape`` (without the batch dimension)."""
        shapes: dict[str, Shape] = {"input": tuple(shape)}
        pinned: list[tuple[str, Shape, Shape]] = []
        exact = True
        macs = params = 0
        for n, d, sig, inputs, spec, stride in self._plan:
            ins = tuple(shapes[i] for i in inputs)
            hit = self._layer(d, sig, ins)
            if isinstance(hit, OpError):
                return Outcome(False, hit.message, n)
            out, tensors, m, p = hit
            shapes[n] = out
            macs += m
            params += p
            if tensors != spec:
                for (_, new), (key, old, _) in zip(tensors, d["tensors"], strict=False):
                    if tuple(new) != tuple(old):
                        pinned.append((key, tuple(new), tuple(old)))
            if stride is not None and exact:
                exact = ins[0][1] % stride[0] == 0 and ins[0][2] % stride[1] == 0
        return Outcome(True, None, None, tuple(pinned), exact, shapes if keep_shapes else None, macs, params)

    def layer_macs(self, n: str, o: Outcome) -> int:
        """The dense MACs of layer ``n`` in a run kept with its shapes."""
        d = self.g.nodes[n]
        assert o.shapes is not None
        hit = self._layer(
            d, (d["op"], repr(sorted(d["args"].items()))), tuple(o.shapes[i] for i in d["inputs"])
        )
        return 0 if isinstance(hit, OpError) else int(hit[2])

    def square(self, size: int) -> Outcome:
        c = self.input_shape[0]
        return self.run((c, size, size))


# ------------------------------------------------------------------ the set of valid sizes


@dataclass
class Resolution:
    """What square input sizes a network accepts: sizes 1 to ``scanned`` were run; when
    ``periodic``, the pattern of the last ``period`` sizes repeats for every larger size."""

    spec_size: tuple[int, int]
    period: int
    scanned: int
    periodic: bool
    valid: list[int]  # valid square sizes found
    compiles: list[int]  # sizes every layer accepts, weights or not
    exact: list[int]  # valid sizes at which every stride divides evenly
    pinned_by: list[str] = field(default_factory=list)  # tensors whose shape depends on the size

    @property
    def min_size(self) -> int | None:
        return self.valid[0] if self.valid else None

    def is_valid(self, size: int) -> bool:
        if size <= self.scanned:
            return size in set(self.valid)
        if not self.periodic:
            return False
        return size - self.period * -(-(size - self.scanned) // self.period) in set(self.valid)

    def nearest(self, size: int, count: int = 2) -> list[int]:
        """The valid square sizes nearest to ``size``, nearest first (the smaller on a tie)."""
        found: list[int] = []
        for delta in range(size + self.scanned + self.period):
            for s in (size - delta, size + delta) if delta else (size,):
                if s >= 1 and s not in found and self.is_valid(s):
                    found.append(s)
            if len(found) >= count:
                break
        return found[:count]

    def describe(self) -> str:
        """The valid sizes in words."""
        return _describe(self.valid, self.scanned, self.period, self.periodic)

    def describe_exact(self) -> str | None:
        if not self.exact:
            return None
        return _describe(self.exact, self.scanned, self.period, self.periodic)

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec_size": list(self.spec_size),
            "min_size": self.min_size,
            "valid": self.describe(),
            "exact": self.describe_exact(),
            "stride": self.period,
            "scanned_up_to": self.scanned,
            "periodic_beyond": self.periodic,
            "pinned_by": self.pinned_by,
            "valid_sizes_scanned": ranges(self.valid),
            "compiling_sizes_scanned": ranges(self.compiles),
        }


def analyse(g: nx.DiGraph, resizer: Resizer | None = None) -> Resolution | None:
    """Square input sizes from 1 up, until two whole periods of the network's stride after its
    first valid size show the same pattern (every layer's size then grows by a fixed step per
    period, so the pattern repeats for ever), or until two periods past the spec's size when they
    do not.  None for a network whose input is not an image."""
    shape = g.graph["input_shape"]
    if len(shape) != 3:
        return None
    r = resizer or Resizer(g)
    p = r.period
    spec = max(shape[1], shape[2])
    limit = min(MAX_SCAN, spec + 2 * p)
    flags: list[tuple[bool, bool]] = [(False, False)]  # flags[s] = (valid, exact)
    valid: list[int] = []
    compiles: list[int] = []
    exact: list[int] = []
    pinned: dict[str, None] = {}
    periodic = False
    s = 0
    while s < limit:
        s += 1
        o = r.square(s)
        if o.ok:
            compiles.append(s)
            pinned.update((k, None) for k, _, _ in o.pinned)
        flags.append((o.valid, o.valid and o.exact))
        if o.valid:
            valid.append(s)
            if o.exact:
                exact.append(s)
        if (
            valid
            and s >= valid[0] + 2 * p - 1
            and any(v for v, _ in flags[s - p + 1 : s + 1])
            and flags[s - 2 * p + 1 : s - p + 1] == flags[s - p + 1 : s + 1]
        ):
            periodic = True
            break
    return Resolution((shape[1], shape[2]), p, s, periodic, valid, compiles, exact, list(pinned))


def ranges(sizes: list[int]) -> list[list[int]]:
    """``[1, 2, 3, 7, 8]`` as ``[[1, 3], [7, 8]]``."""
    out: list[list[int]] = []
    for s in sizes:
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def _describe(sizes: list[int], limit: int, period: int, periodic: bool) -> str:
    if not sizes:
        return f"none from 1 to {limit}"
    runs = ranges(sizes)
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in runs]
    if not periodic:
        if len(parts) == 1 and runs[0][0] == runs[0][1]:
            return f"exactly {parts[0]}"
        return ", ".join(parts[:8]) + (" ..." if len(parts) > 8 else "")
    if runs[-1][1] == limit and runs[-1][0] <= limit - period + 1:  # every size in the last period
        tail = runs[-1][0]
        text = f"any size from {tail}" if tail > 1 else "any size"
        return text if len(runs) == 1 else ", ".join(parts[:-1]) + f", and {text}"
    residues = sorted({s % period for s in sizes if s > limit - period})
    member = set(sizes)
    first = min(
        s for s in sizes if s % period in residues and all(t in member for t in range(s, limit + 1, period))
    )
    head = [s for s in sizes if s < first]
    lead = (", ".join(map(str, head[:6])) + (" ..." if len(head) > 6 else "") + "; then ") if head else ""
    if residues == [0]:
        return f"{lead}multiples of {period} from {first}"
    if len(residues) == 1:
        return f"{lead}{first}, {first + period}, {first + 2 * period}, ... (every {period})"
    listed = ", ".join(map(str, residues))
    return f"{lead}from {first}, {len(residues)} of every {period} sizes (≡ {listed} mod {period})"


def nearest(resizer: Resizer, shape: Shape, count: int = 2, reach: int = 4096) -> dict[str, list[int]]:
    """The valid sizes nearest to a requested ``CxHxW`` input along each dimension, the other kept
    as requested (``"h"``, ``"w"``), and the nearest square sizes (``"square"``)."""
    c, h, w = shape
    out: dict[str, list[int]] = {}

    def scan(make: Any, around: int) -> list[int]:
        found: list[int] = []
        for delta in range(reach):
            for s in (around - delta, around + delta) if delta else (around,):
                if 1 <= s <= MAX_SCAN and s not in found and resizer.run(make(s)).valid:
                    found.append(s)
            if len(found) >= count:
                break
        return found[:count]

    if h != w:
        out["h"] = scan(lambda s: (c, s, w), h)
        out["w"] = scan(lambda s: (c, h, s), w)
    out["square"] = scan(lambda s: (c, s, s), (h + w) // 2)
    return out


# ------------------------------------------------------------------ formulas of H and W


@dataclass(frozen=True)
class Poly:
    """A polynomial in H and W with exact rational coefficients: {(i, j): c} is c·Hⁱ·Wʲ."""

    terms: tuple[tuple[tuple[int, int], Fraction], ...]

    def __call__(self, h: int, w: int) -> Fraction:
        return sum((c * Fraction(h) ** i * Fraction(w) ** j for (i, j), c in self.terms), Fraction(0))

    def __add__(self, other: Poly) -> Poly:
        terms: dict[tuple[int, int], Fraction] = dict(self.terms)
        for k, c in other.terms:
            terms[k] = terms.get(k, Fraction(0)) + c
        return Poly(tuple((k, c) for k, c in sorted(terms.items()) if c))

    @property
    def constant(self) -> bool:
        return all(i == 0 and j == 0 for (i, j), _ in self.terms)

    def text(self) -> str:
        if not self.terms:
            return "0"
        parts: list[str] = []
        for (i, j), c in sorted(self.terms, key=lambda t: (-(t[0][0] + t[0][1]), -t[0][0])):
            mono = "·".join(x for x in (_power("H", i), _power("W", j)) if x)
            mag = abs(c)
            num = _coef(mag)
            if mono:
                if mag.denominator != 1 and mag.numerator == 1:
                    body = f"{mono}/{mag.denominator:,}"
                elif mag.denominator != 1:
                    body = f"{mag.numerator:,}·{mono}/{mag.denominator:,}"
                else:
                    body = mono if mag == 1 else f"{num}·{mono}"
            else:
                body = num
            sign = "-" if c < 0 else "+"
            parts.append(("-" if c < 0 else "") + body if not parts else f" {sign} {body}")
        return "".join(parts)


_SUPER = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power(x: str, k: int) -> str:
    return "" if k == 0 else (x if k == 1 else x + str(k).translate(_SUPER))


def _coef(c: Fraction) -> str:
    return f"{c.numerator:,}" if c.denominator == 1 else f"{c.numerator:,}/{c.denominator:,}"


def _interpolate(xs: list[int], ys: list[Fraction]) -> list[Fraction]:
    """Monomial coefficients of the polynomial through (xs, ys) (Newton's divided differences)."""
    n = len(xs)
    coef = list(ys)
    for k in range(1, n):
        for i in range(n - 1, k - 1, -1):
            coef[i] = (coef[i] - coef[i - 1]) / (xs[i] - xs[i - k])
    poly = [Fraction(0)] * n
    for k in range(n - 1, -1, -1):  # Horner in the Newton basis: poly = poly · (x - xs[k]) + coef[k]
        nxt = [Fraction(0)] * n
        for i, a in enumerate(poly):
            if a:
                nxt[i + 1] += a
                nxt[i] -= xs[k] * a
        nxt[0] += coef[k]
        poly = nxt
    return poly


def _fit(hs: list[int], ws: list[int], values: dict[tuple[int, int], int]) -> Poly:
    """The polynomial of degree < len(hs) in H and < len(ws) in W through the grid of values."""
    rows = [_interpolate(ws, [Fraction(values[h, w]) for w in ws]) for h in hs]
    terms: list[tuple[tuple[int, int], Fraction]] = []
    for j in range(len(ws)):
        col = _interpolate(hs, [r[j] for r in rows])
        terms += [((i, j), c) for i, c in enumerate(col) if c]
    return Poly(tuple(terms))


@dataclass
class Formulas:
    """Shapes, MACs and parameters as polynomials of H and W, exact for H and W multiples of
    ``step`` from ``first`` on."""

    step: int
    first: int
    shapes: dict[str, tuple[Poly, ...]]
    macs: dict[str, Poly]
    total_macs: Poly
    total_params: Poly
    pinned_by: list[str]

    def shape_text(self, name: str) -> str:
        return " x ".join(p.text() for p in self.shapes[name])


class NoFormula(Exception):
    """The network's sizes follow no polynomial on a lattice of input sizes."""


def formulas(g: nx.DiGraph, resizer: Resizer | None = None, degree: int = 3) -> Formulas:
    """Fit every layer's output shape and dense MACs, and the totals, as polynomials in H and W
    (of degree up to ``degree`` in each) on the sizes that are multiples of the network's stride,
    and check them at two further sizes.  Parameters that depend on the size (a position embedding)
    are taken as resized."""
    shape = g.graph["input_shape"]
    if len(shape) != 3:
        raise NoFormula("the input is not an image")
    r = resizer or Resizer(g)
    p = r.period
    c = shape[0]
    first = 1
    while not r.run((c, p * first, p * first)).ok:
        first += 1
        if p * first > MAX_SCAN:
            raise NoFormula(f"no multiple of {p} up to {MAX_SCAN} compiles")
    axis = [p * (first + k) for k in range(degree + 1)]
    grid: dict[tuple[int, int], Outcome] = {}
    for h in axis:
        for w in axis:
            o = r.run((c, h, w), keep_shapes=True)
            if not o.ok:
                raise NoFormula(f"{h}x{w} does not compile: {o.error}")
            grid[h, w] = o

    fitted: dict[tuple[int, ...], Poly] = {}

    def fit(get: Any) -> Poly:
        values = {hw: get(o) for hw, o in grid.items()}
        key = tuple(values.values())
        if key not in fitted:
            fitted[key] = _fit(axis, axis, values)
        return fitted[key]

    layers = [n for n, _ in r.nodes]
    first_shapes = grid[axis[0], axis[0]].shapes
    assert first_shapes is not None
    shapes = {
        n: tuple(fit(lambda o, n=n, i=i: o.shapes[n][i]) for i in range(len(first_shapes[n]))) for n in layers
    }
    total = fit(lambda o: o.macs)
    params = fit(lambda o: o.params)
    per_layer = {n: fit(lambda o, n=n: r.layer_macs(n, o)) for n in layers}
    # check at two sizes outside the grid
    for h, w in ((p * (first + degree + 1), p * (first + degree + 2)), (p * (first + degree + 3), p * first)):
        o = r.run((c, h, w), keep_shapes=True)
        if not o.ok or total(h, w) != o.macs or params(h, w) != o.params:
            raise NoFormula(f"the counts are not polynomials of degree {degree} or less in H and W")
        assert o.shapes is not None
        for n in layers:
            if tuple(q(h, w) for q in shapes[n]) != tuple(o.shapes[n]):
                raise NoFormula(f"the size of '{n}' is not a polynomial in H and W")
    pinned = sorted({k for o in grid.values() for k, _, _ in o.pinned})
    return Formulas(p, p * first, shapes, per_layer, total, params, pinned)


def pinned_text(pins: Iterable[tuple[str, Shape, Shape]]) -> str:
    return ", ".join(
        f"{k} {'x'.join(map(str, new))} (spec {'x'.join(map(str, old))})" for k, new, old in pins
    )
