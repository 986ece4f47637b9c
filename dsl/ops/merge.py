"""Merges: the ops that join tensors (``a + b``, ``a * b``, ``cat(a, b)``)."""

from __future__ import annotations

from typing import Any

from archc.dsl.ops.base import (
    NOTHING,
    POINTWISE,
    Op,
    OpError,
    Saves,
    Shape,
    Window,
    fmt,
    register,
)


class _Merge(Op):
    arity = 0

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE


@register()
class Add(_Merge):
    name = "add"
    summary = "elementwise sum of equal shapes"

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        for s in ins[1:]:
            if s != ins[0]:
                raise OpError(
                    f"add: shapes differ: {fmt(ins[0])} vs {fmt(s)}",
                    "add a projection on the skip edge (a 1x1 conv with the right width and stride)",
                )
        return ins[0]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "+"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING


@register()
class Mul(_Merge):
    name = "mul"
    summary = "elementwise product, broadcasting size-1 dimensions (gates such as SE)"
    layout = "chw"  # broadcasting reads a Cx1x1 gate channels-first

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        out = list(ins[0])
        for s in ins[1:]:
            if len(s) != len(out) or any(x != y and 1 not in (x, y) for x, y in zip(out, s, strict=True)):
                raise OpError(
                    f"mul: shapes do not broadcast: {fmt(out)} vs {fmt(s)}",
                    "a gate must match in every dimension or be 1 there (e.g. Cx1x1 for a CxHxW map)",
                )
            out = [max(x, y) for x, y in zip(out, s, strict=True)]
        return tuple(out)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "×"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=tuple(range(len(ins))))  # each operand's gradient needs the others


@register("concat")
class Cat(_Merge):
    name = "cat"
    summary = "concatenation along channels (images) or the last dimension"
    layout = "chw"  # an image's channels are its first dimension

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        first = ins[0]
        axis = 0 if len(first) == 3 else len(first) - 1
        for s in ins[1:]:
            if len(s) != len(first) or any(
                x != y for i, (x, y) in enumerate(zip(first, s, strict=True)) if i != axis
            ):
                raise OpError(
                    f"cat: shapes differ outside the concatenated dimension: {fmt(first)} vs {fmt(s)}",
                    "every branch must keep the same spatial size; check strides and padding",
                )
        out = list(first)
        out[axis] = sum((s[axis] for s in ins[1:]), start=ins[0][axis])
        return tuple(out)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "concat"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING
