"""Resampling a feature map to another size: nearest and bilinear upsampling (``nn.Upsample``)."""

from __future__ import annotations

from math import floor, isfinite, prod
from typing import Any, ClassVar

from archc.dsl.ops.base import (
    NOTHING,
    ArgSpec,
    Emission,
    Op,
    OpError,
    QuotedStr,
    Saves,
    Shape,
    Window,
    ctor,
    pair,
    register,
)
from archc.dsl.symbolic import names


@register("upsample_nearest")
class Upsample(Op):
    name = "upsample"
    summary = 'nearest-neighbour upsampling by a scale or to a size (nn.Upsample(mode="nearest"))'
    args: ClassVar[tuple[ArgSpec, ...]] = (
        ArgSpec("scale", "float", None, aliases=("scale_factor",), doc="output = floor(input * scale)"),
        ArgSpec("size", "posint_pair", None, doc="the output's height and width"),
    )
    ranks = (3,)
    counted = True
    mode: ClassVar[str] = "nearest"
    macs_per_output: ClassVar[int] = (
        1  # fvcore: upsample_nearest2d 1, upsample_bilinear2d 4 per output element
    )

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        scale, size = a["scale"], a["size"]
        if (scale is None) == (size is None):
            raise OpError(
                f"{self.name}: give either scale or size{', not both' if scale is not None else ''}",
                f"e.g. {self.name}(2) or {self.name}(size=[56, 56])",
            )
        if size is not None:
            oh, ow = pair(size)
            return (c, oh, ow)
        if not isfinite(float(scale)):  # 1e400 reads as infinity
            raise OpError(f"{self.name}: scale {scale} is not a finite number", "use a scale such as 2")
        # PyTorch: floor(input size * scale), computed in double precision as here
        out = (c, floor(h * float(scale)), floor(w * float(scale)))
        if min(out) <= 0:
            raise OpError(
                f"{self.name}: scale {scale:g} leaves no output from {h}x{w}",
                "a scale below 1 shrinks the map; use a pooling layer to downsample",
            )
        return out

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, self.macs_per_output * prod(out)

    #: input positions each output position reads: nearest 1, bilinear 2 (no antialiasing)
    taps: ClassVar[int] = 1

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING  # the backward needs only the sizes

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        # the size changes by out/in (exactly what the jump divides by); the taps are neighbours
        from fractions import Fraction  # only receptive fields need it: not imported at start

        k, p = self.taps, Fraction(self.taps - 1, 2)
        return Window(k, 1, p, up=Fraction(out[1], ins[0][1])), Window(
            k, 1, p, up=Fraction(out[2], ins[0][2])
        )

    def label(self, a: dict[str, Any], out: Shape) -> str:
        how = f"x{a['scale']:g}" if a["scale"] is not None else f"to {out[1]}x{out[2]}"
        return f"upsample {how}" + ("" if self.mode == "nearest" else f" ({self.mode})")

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        scale = a["scale"]
        if scale is not None and not names(scale) and float(scale).is_integer():
            scale = int(scale)  # scale_factor=2, as written by hand; the same as 2.0 to PyTorch
        extra = {"align_corners": a["align_corners"]} if "align_corners" in a else {}
        return Emission(
            ctor("nn.Upsample", size=a["size"], scale_factor=scale, mode=QuotedStr(self.mode), **extra)
        )


@register()
class UpsampleBilinear(Upsample):
    name = "upsample_bilinear"
    summary = 'bilinear upsampling by a scale or to a size (nn.Upsample(mode="bilinear", align_corners=...))'
    args: ClassVar[tuple[ArgSpec, ...]] = (*Upsample.args, ArgSpec("align_corners", "bool", False))
    mode = "bilinear"
    macs_per_output = 4
    taps = 2
