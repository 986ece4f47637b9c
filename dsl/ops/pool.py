"""Pooling."""

from __future__ import annotations

from math import prod
from typing import Any, ClassVar

from archc.dsl.ops.base import (
    GLOBAL,
    NOTHING,
    ArgSpec,
    Emission,
    Op,
    OpError,
    Saves,
    Shape,
    Window,
    ctor,
    fmt,
    pair,
    register,
    unless_default,
    window_out,
)


class _Pool(Op):
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        (kh, kw) = pair(a["k"])
        (sh, sw) = pair(a["s"] if a["s"] is not None else a["k"])
        (ph, pw) = pair(a["p"])
        if 2 * ph > kh or 2 * pw > kw:
            raise OpError(f"{self.name}: padding {a['p']} is more than half the kernel {a['k']}")
        d = a.get("d", 1)
        ceil = a["ceil"]
        return (
            c,
            window_out(h, kh, sh, ph, d, ceil, self.name),
            window_out(w, kw, sw, pw, d, ceil, self.name),
        )

    def label(self, a: dict[str, Any], out: Shape) -> str:
        k = pair(a["k"])
        s = a["s"] if a["s"] is not None else a["k"]
        return f"{self.name} {k[0]}x{k[1]}" + (f", /{s}" if s != 1 else "")

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        k, s, p = pair(a["k"]), pair(a["s"] if a["s"] is not None else a["k"]), pair(a["p"])
        d = a.get("d", 1)
        return Window(k[0], s[0], p[0], d), Window(k[1], s[1], p[1], d)

    torch_name: ClassVar[str] = ""

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        extra: dict[str, Any] = {"dilation": unless_default(a["d"], 1)} if "d" in a else {}
        return Emission(
            ctor(
                self.torch_name,
                kernel_size=a["k"],
                stride=a["s"],
                padding=unless_default(a["p"], 0),
                **extra,
                ceil_mode=unless_default(a["ceil"], False),
            )
        )


_POOL_ARGS = (
    ArgSpec("k", "posint_pair", aliases=("kernel", "kernel_size")),
    ArgSpec("s", "posint_pair", None, aliases=("stride",), doc="defaults to k"),
    ArgSpec("p", "nonneg_pair", 0, aliases=("padding",)),
)


@register("maxpool2d")
class MaxPool(_Pool):
    name = "maxpool"
    torch_name = "nn.MaxPool2d"
    summary = "max pooling (nn.MaxPool2d)"
    args = (*_POOL_ARGS, ArgSpec("d", "pos", 1, aliases=("dilation",)), ArgSpec("ceil", "bool", False))

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,), extra=((out, "int64", True),))  # the input and the argmax indices

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        return ((out, "int64", True),)  # on CPU the indices are computed without autograd too


@register("avgpool2d")
class AvgPool(_Pool):
    name = "avgpool"
    torch_name = "nn.AvgPool2d"
    summary = "average pooling (nn.AvgPool2d)"
    args = (*_POOL_ARGS, ArgSpec("ceil", "bool", False))

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # avg_pool2d_backward takes the input


@register("adaptive_avgpool2d")
class AdaptiveAvgPool(Op):
    name = "adaptive_avgpool"
    summary = "adaptive average pooling to a fixed output size (nn.AdaptiveAvgPool2d)"
    args: ClassVar[tuple[ArgSpec, ...]] = (ArgSpec("size", "posint_pair", 1),)
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        oh, ow = pair(a["size"])
        return (ins[0][0], oh, ow)

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0])

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"avgpool to {fmt(out[1:])}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # a 1x1 output is computed as a mean, whose backward needs only the shape
        return NOTHING if tuple(out[1:]) == (1, 1) else Saves(inputs=(0,))

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        if tuple(out[1:]) == (1, 1):
            return GLOBAL, GLOBAL
        # bin j covers [floor(j*i/o), ceil((j+1)*i/o)): a regular window when o divides i, else the
        # widest bin, with the bins' mean step
        return self._bins(ins[0][1], out[1]), self._bins(ins[0][2], out[2])

    @staticmethod
    def _bins(i: int, o: int) -> Window:
        widest = max(-(-(j + 1) * i // o) - j * i // o for j in range(o))
        return Window(widest, max(1, i // o))

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.AdaptiveAvgPool2d", tuple(pair(a.get("size", 1)))))


@register("global_avgpool")
class GlobalAvgPool(AdaptiveAvgPool):
    name = "gap"
    summary = "global average pooling to Cx1x1 (nn.AdaptiveAvgPool2d((1, 1)))"
    args: ClassVar[tuple[ArgSpec, ...]] = ()

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        return (ins[0][0], 1, 1)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "global avgpool"
