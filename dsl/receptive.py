"""Receptive field and stride of every layer, from the ops' windows (no torch).

Each op says how it maps positions along H and W (:meth:`Op.window`: kernel, stride, padding,
dilation; an upsampling factor; or "sees the whole input").  Walking the graph in order, with
``r`` the receptive field (input pixels one output position sees, padding included) and ``j`` the
jump (input pixels between neighbouring output positions, the cumulative stride):

    r_out = r_in + (k - 1) · d · j_in        j_out = j_in · s

(a layer that resamples by ``up`` - pixel shuffle, upsampling, a transposed convolution - reads
``k`` neighbouring inputs per output: r_out = r_in + (k - 1) · j_in, j_out = j_in / up)

and the centre of the first output position moves by ((k - 1) · d / 2 - p) · j_in.  A merge takes
the largest field of its operands; global pooling, attention, flattening into a vector and the
norms whose statistics cover the map (group norm, instance norm without running statistics) see
the whole input.  Where a resampling layer leaves a jump that is not whole (a transposed
convolution whose stride does not divide its kernel span, a resize by a fraction), the field is
the span in continuous input coordinates: the positions actually read, rounded to the grid of
the layers before, can reach up to one of their jumps further (tests/test_receptive.py checks
both against the widest gradient support).  Window attention's partitions are composed as if
the windows slid: exact for one layer, the field of a typical position for stacked ones.  An op
without a ``window`` rule makes every layer after it unknown, and the report says which op it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import networkx as nx

from archc.dsl.ops import REGISTRY


@dataclass(frozen=True, slots=True)
class Field:
    """Along one dimension: the field size, the jump and the first position's centre, in input
    pixels; ``whole`` when every position sees the whole input; ``unknown`` names the op without a
    rule that stopped the analysis."""

    size: Fraction = Fraction(1)
    jump: Fraction = Fraction(1)
    centre: Fraction = Fraction(0)
    whole: bool = False
    unknown: str | None = None

    def text(self) -> str:
        if self.unknown:
            return "?"
        if self.whole:
            return "whole"
        return _num(self.size)


def _num(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"


@dataclass(frozen=True, slots=True)
class LayerField:
    name: str
    op: str
    h: Field
    w: Field

    @property
    def size_text(self) -> str:
        a, b = self.h.text(), self.w.text()
        return a if a == b and a in ("whole", "?") else f"{a}x{b}"

    @property
    def jump_text(self) -> str:
        if self.h.whole or self.h.unknown:
            return ""
        a, b = _num(self.h.jump), _num(self.w.jump)
        return a if a == b else f"{a}x{b}"

    def as_dict(self) -> dict[str, Any]:
        def one(f: Field) -> Any:
            if f.unknown:
                return {"unknown": f"no receptive-field rule for op '{f.unknown}'"}
            if f.whole:
                return "whole"
            return {"size": _json(f.size), "stride": _json(f.jump), "centre": _json(f.centre)}

        return {"name": self.name, "op": self.op, "h": one(self.h), "w": one(self.w)}


def _json(x: Fraction) -> int | float:
    return x.numerator if x.denominator == 1 else float(x)


def _step(
    f: Field, k: int, s: int, p: int | Fraction, d: int, up: int | Fraction, whole: bool, op: str, rule: bool
) -> Field:
    if f.unknown:
        return f
    if not rule:
        return Field(unknown=op)
    jump = f.jump / up if up != 1 else f.jump * s  # kept when the field is whole: the total stride
    if f.whole or whole:
        return Field(jump=jump, whole=True)
    if up != 1:  # resampling: each output sees k neighbouring inputs
        return Field(f.size + (k - 1) * f.jump, jump, f.centre + (Fraction(k - 1, 2) - p) * f.jump)
    return Field(f.size + (k - 1) * d * f.jump, jump, f.centre + (Fraction((k - 1) * d, 2) - p) * f.jump)


def _merge(fields: list[Field]) -> Field:
    for f in fields:
        if f.unknown:
            return f
    if any(f.whole for f in fields):
        return Field(jump=max(f.jump for f in fields), whole=True)
    return max(fields, key=lambda f: f.size)


def receptive_fields(g: nx.DiGraph) -> list[LayerField]:
    """Receptive field and jump along H and W of every layer's output, in creation order."""
    shape = g.graph["input_shape"]
    image = len(shape) == 3
    start = Field() if image else Field(whole=True)
    fields: dict[str, tuple[Field, Field]] = {"input": (start, start)}
    out: list[LayerField] = []
    for name, d in sorted(g.nodes(data=True), key=lambda nd: nd[1]["order"]):
        if name == "input":
            continue
        ins = [fields[i] for i in d["inputs"]]
        fh, fw = _merge([f[0] for f in ins]), _merge([f[1] for f in ins])
        win = REGISTRY[d["op"]].window(d["args"], d["in_shapes"], d["shape"])
        if win is None:
            nh = _step(fh, 1, 1, 0, 1, 1, False, d["op"], False)
            nw = _step(fw, 1, 1, 0, 1, 1, False, d["op"], False)
        else:
            wh, ww = win
            nh = _step(fh, wh.k, wh.s, wh.p, wh.d, wh.up, wh.whole, d["op"], True)
            nw = _step(fw, ww.k, ww.s, ww.p, ww.d, ww.up, ww.whole, d["op"], True)
        fields[name] = (nh, nw)
        out.append(LayerField(name, d["op"], nh, nw))
    return out
