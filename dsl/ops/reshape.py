"""Reshapes: flatten, tokens, token selection, pixel shuffle, channel padding."""

from __future__ import annotations

from math import prod
from typing import Any

from archc.dsl.ops.base import (
    GLOBAL,
    NOTHING,
    POINTWISE,
    VIEW,
    ArgSpec,
    Dim,
    Emission,
    Op,
    OpError,
    Saves,
    Shape,
    Window,
    ctor,
    register,
    unless_default,
)


@register()
class Flatten(Op):
    name = "flatten"
    summary = "flattens everything but the batch dimension"
    ranks = (1, 2, 3)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        return (prod(ins[0]),)

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        # a feature map becomes one vector: what follows sees every position
        return (GLOBAL, GLOBAL) if len(ins[0]) > 1 else (POINTWISE, POINTWISE)

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(call="torch.flatten({x}, 1)", seq_module="nn.Flatten()")


@register()
class Tokens(Op):
    name = "tokens"
    summary = "feature map to tokens: (C, H, W) -> (H*W, C)"
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        return (h * w, c)

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW  # flatten(2).transpose(1, 2)

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE  # one token per position

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(call="{x}.flatten(2).transpose(1, 2)", seq_module="Tokens()", helpers=("Tokens",))


@register("select_token")
class Token(Op):
    name = "token"
    summary = "selects one token: (N, D) -> (D)"
    args = (ArgSpec("index", "int", 0),)
    ranks = (2,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        n, d = ins[0]
        if not -n <= a["index"] < n:
            raise OpError(f"token: index {a['index']} is out of range for {n} tokens")
        return (d,)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"token {a['index']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW  # x[:, i] keeps the whole sequence's storage alive if anything keeps it

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            call=f"{{x}}[:, {a['index']}]",
            seq_module=ctor("SelectToken", a["index"]),
            helpers=("SelectToken",),
        )


@register()
class PixelShuffle(Op):
    name = "pixel_shuffle"
    summary = "(C*r*r, H, W) -> (C, H*r, W*r) (nn.PixelShuffle)"
    args = (ArgSpec("r", "pos", aliases=("factor", "upscale_factor")),)
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        r = a["r"]
        if c % (r * r):
            raise OpError(
                f"pixel_shuffle: {c} channels do not divide by r*r = {r * r}",
                f"make the preceding conv output a multiple of {r * r} channels",
            )
        return (c // (r * r), h * r, w * r)

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING  # a permutation; the backward needs no tensor

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        w = Window(up=a["r"])
        return w, w

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.PixelShuffle", a["r"]))


@register("zero_pad_shortcut")
class PadChannels(Op):
    name = "pad_channels"
    summary = "subsample by s and append zero channels up to out (ResNet's parameter-free option A shortcut)"
    args = (ArgSpec("out", "pos"), ArgSpec("s", "pos", 1, aliases=("stride",)))
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        if a["out"] < c:
            raise OpError(
                f"pad_channels: cannot pad {c} channels down to {a['out']}", "use a 1x1 conv to reduce"
            )
        s = a["s"]
        return (a["out"], (h - 1) // s + 1, (w - 1) // s + 1)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"subsample /{a['s']}, zero-pad to {a['out']}" if a["s"] != 1 else f"zero-pad to {a['out']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING  # slicing and constant padding need only sizes

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        w = Window(1, a["s"])
        return w, w

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor("PadChannels", Dim(ins[0][0]), a["out"], stride=unless_default(a["s"], 1)),
            helpers=("PadChannels",),
        )
