"""Reshapes: flatten, tokens, token selection, pixel shuffle, channel padding; permutes between
channels-first and channels-last, channel shuffle, and taking part of the channels."""

from __future__ import annotations

from math import prod
from typing import Any

from archc.dsl.ops.base import (
    GLOBAL,
    NOTHING,
    POINTWISE,
    VIEW,
    ArgSpec,
    ChannelsLast,
    Dim,
    Emission,
    Op,
    OpError,
    Saves,
    Shape,
    Window,
    code_of,
    ctor,
    describe,
    layout_of,
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
            call=f"{{x}}[:, {code_of(a['index'])}]",
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


@register()
class Permute(Op):
    name = "permute"
    summary = (
        "reorders dimensions as torch.permute numbers them (batch first, and it stays first): "
        "permute(0, 2, 3, 1) makes a CxHxW map channels-last (HxWxC), permute(0, 3, 1, 2) turns it back, "
        "permute(0, 2, 1) swaps tokens and channels (torchvision's Permute)"
    )
    args = (
        ArgSpec("d0", "nonneg"),
        ArgSpec("d1", "nonneg"),
        ArgSpec("d2", "nonneg"),
        ArgSpec("d3", "nonneg", None, doc="for a feature map"),
    )
    ranks = (2, 3)
    layout = "any"

    def order(self, a: dict[str, Any]) -> list[int]:
        return [a[n] for n in ("d0", "d1", "d2", "d3") if a.get(n) is not None]

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        shape = ins[0]
        dims = self.order(a)
        given = f"permute({', '.join(map(str, dims))})"
        n = len(shape) + 1
        if sorted(dims) != list(range(n)):
            example = "permute(0, 2, 3, 1) or permute(0, 3, 1, 2)" if n == 4 else "permute(0, 2, 1)"
            raise OpError(
                f"{given} is not an order of the {n} dimensions (batch included) of {describe(shape)}",
                f"list each of 0..{n - 1} once, e.g. {example}",
            )
        if dims[0] != 0:
            raise OpError(f"{given} moves the batch dimension", "keep 0 first: the batch stays where it is")
        perm = [d - 1 for d in dims[1:]]
        out = tuple(shape[i] for i in perm)
        if n == 3:
            return out
        source = layout_of(shape)
        if source is None:  # symbolic sizes, already checked: the order itself says which way it goes
            source = "hwc" if perm == [2, 0, 1] else "chw"
        roles = "".join(source[i] for i in perm)
        if roles in ("chw", "cwh"):
            return out
        if roles in ("hwc", "whc"):
            return ChannelsLast(out)
        raise OpError(
            f"{given} of {describe(shape)} would put the channels between the height and the width",
            "feature maps are channels-first (CxHxW) or channels-last (HxWxC): "
            "permute(0, 2, 3, 1) or permute(0, 3, 1, 2)",
        )

    def label(self, a: dict[str, Any], out: Shape) -> str:
        if len(out) == 3:
            return "to channels-last" if isinstance(out, ChannelsLast) else "to channels-first"
        return "transpose"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW  # torch.permute: a view

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE  # the positions stay; only their layout changes

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("Permute", self.order(a)), helpers=("Permute",))


@register()
class Transpose(Op):
    name = "transpose"
    summary = "swaps the two dimensions of tokens and a 1-D signal: (N, D) <-> (D, N), i.e. x.transpose(1, 2)"
    ranks = (2,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        n, d = ins[0]
        return (d, n)

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(call="{x}.transpose(1, 2)", seq_module="Permute([0, 2, 1])", helpers=("Permute",))


@register()
class ChannelShuffle(Op):
    name = "channel_shuffle"
    summary = "interleaves the channels of groups (ShuffleNet; torchvision's channel_shuffle as a module)"
    args = (ArgSpec("groups", "pos", aliases=("g",)),)
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c = ins[0][0]
        if c % a["groups"]:
            raise OpError(
                f"channel_shuffle: {c} channels do not divide into {a['groups']} groups",
                "shuffle a channel count that is a multiple of the groups",
            )
        return ins[0]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"channel shuffle {a['groups']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING  # views around one contiguous copy; the backward needs only sizes

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        # not nn.ChannelShuffle: the same numbers, but it does not export to ONNX
        return Emission(ctor("ChannelShuffle", a["groups"]), helpers=("ChannelShuffle",))


@register("split")
class Chunk(Op):
    name = "chunk"
    summary = (
        "one of `chunks` equal parts of the channels: chunk(2, 0) is the first half "
        "(ShuffleNetV2's x.chunk(2, dim=1))"
    )
    args = (ArgSpec("chunks", "pos"), ArgSpec("index", "int"))
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        n, i = a["chunks"], a["index"]
        if c % n:
            raise OpError(
                f"chunk: {c} channels do not split into {n} equal chunks",
                f"split a channel count that is a multiple of {n}",
            )
        if not -n <= i < n:
            raise OpError(f"chunk: index {i} is out of range for {n} chunks", f"use 0 to {n - 1}")
        return (c // n, h, w)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"chunk {a['index'] % a['chunks'] + 1} of {a['chunks']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW  # a view of the input, which stays alive if anything keeps the part

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        n, i = a["chunks"], a["index"]
        return Emission(
            call=f"{{x}}.chunk({code_of(n)}, dim=1)[{code_of(i)}]",
            seq_module=ctor("Chunk", n, i),
            helpers=("Chunk",),
        )


@register("slice_channels")
class Slice(Op):
    name = "slice"
    summary = "the channels start..stop-1 of a feature map (x[:, start:stop])"
    args = (ArgSpec("start", "nonneg"), ArgSpec("stop", "pos"))
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        start, stop = a["start"], a["stop"]
        if not start < stop <= c:
            raise OpError(
                f"slice: channels {start}:{stop} are not a range within the {c} channels",
                f"use 0 <= start < stop <= {c}",
            )
        return (stop - start, h, w)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"channels {a['start']}:{a['stop']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        start, stop = code_of(a["start"]), code_of(a["stop"])
        return Emission(
            call=f"{{x}}[:, {start}:{stop}]",
            seq_module=ctor("SliceChannels", a["start"], a["stop"]),
            helpers=("SliceChannels",),
        )
