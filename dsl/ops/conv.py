"""Convolutions: ``conv``, ``patch_embed`` and EDSR's ``mean_shift``."""

from __future__ import annotations

from math import prod
from typing import Any

from archc.dsl.ops.base import (
    POINTWISE,
    ArgSpec,
    Dim,
    Emission,
    Op,
    OpError,
    Saves,
    Shape,
    TensorSpec,
    Window,
    ctor,
    describe,
    pair,
    register,
    unless_default,
    window_out,
)


@register("conv2d")
class Conv(Op):
    name = "conv"
    summary = "2-D convolution (nn.Conv2d); bias off by default, as before a batch norm"
    args = (
        ArgSpec("out", "pos", doc="output channels"),
        ArgSpec("k", "posint_pair", aliases=("kernel", "kernel_size"), doc="kernel size"),
        ArgSpec("s", "posint_pair", 1, aliases=("stride",)),
        ArgSpec("p", "nonneg_pair", 0, aliases=("padding",)),
        ArgSpec("d", "posint_pair", 1, aliases=("dilation",)),
        ArgSpec("groups", "pos", 1, aliases=("g",)),
        ArgSpec("bias", "bool", False),
    )
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        g = a["groups"]
        if c % g or a["out"] % g:
            raise OpError(
                f"conv: groups={g} must divide input channels {c} and output channels {a['out']}",
                "choose groups that divides both channel counts",
            )
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(a[n]) for n in ("k", "s", "p", "d"))
        return (
            a["out"],
            window_out(h, kh, sh, ph, dh, False, "conv"),
            window_out(w, kw, sw, pw, dw, False, "conv"),
        )

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        kh, kw = pair(a["k"])
        t = [TensorSpec("weight", (a["out"], ins[0][0] // a["groups"], kh, kw))]
        if a["bias"]:
            t.append(TensorSpec("bias", (a["out"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        kh, kw = pair(a["k"])
        return prod(out) * (ins[0][0] // a["groups"]) * kh * kw, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        kh, kw = pair(a["k"])
        text = f"conv {kh}x{kw}, {a['out']}"
        if pair(a["s"]) != (1, 1):
            text += f", /{a['s'] if isinstance(a['s'], int) else 'x'.join(map(str, a['s']))}"
        if a["groups"] != 1:
            text += f", g{a['groups']}"
        return text

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # the weight gradient needs the input

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        k, s, p, d = (pair(a[n]) for n in ("k", "s", "p", "d"))
        return Window(k[0], s[0], p[0], d[0]), Window(k[1], s[1], p[1], d[1])

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.Conv2d",
                Dim(ins[0][0]),
                a["out"],
                kernel_size=a["k"],
                stride=unless_default(a["s"], 1),
                padding=unless_default(a["p"], 0),
                dilation=unless_default(a["d"], 1),
                groups=unless_default(a["groups"], 1),
                bias=None if a["bias"] is True else a["bias"],
            )
        )


@register("patch_embedding")
class PatchEmbed(Op):
    name = "patch_embed"
    summary = "non-overlapping patches to tokens: conv k=s=patch, then (C,H,W) -> (H*W, C)"
    args = (ArgSpec("dim", "pos"), ArgSpec("patch", "pos"), ArgSpec("bias", "bool", True))
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        _, h, w = ins[0]
        p = a["patch"]
        if h % p or w % p:
            raise OpError(
                f"patch_embed: image {h}x{w} does not divide into {p}x{p} patches",
                f"use an input size that is a multiple of {p}, or another patch size",
            )
        return ((h // p) * (w // p), a["dim"])

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        t = [TensorSpec("proj.weight", (a["dim"], ins[0][0], a["patch"], a["patch"]))]
        if a["bias"]:
            t.append(TensorSpec("proj.bias", (a["dim"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return prod(out) * ins[0][0] * a["patch"] ** 2, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"patches {a['patch']}x{a['patch']}, {a['dim']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # its convolution keeps the image; the tokens are a view

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        w = Window(a["patch"], a["patch"])
        return w, w

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        module = ctor(
            "PatchEmbed", Dim(ins[0][0]), a["dim"], a["patch"], bias=unless_default(a["bias"], True)
        )
        return Emission(module, helpers=("PatchEmbed",))


@register("meanshift")
class MeanShift(Op):
    name = "mean_shift"
    summary = "adds sign * range * RGB mean (EDSR/RCAN's MeanShift: a 1x1 conv 3->3 initialised to do so)"
    args = (
        ArgSpec("range", "float", 255.0, aliases=("rgb_range",)),
        ArgSpec("sign", "int", -1),
        ArgSpec("mean", "float_triple", (0.4488, 0.4371, 0.4040)),
    )
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        if ins[0][0] != 3:
            raise OpError(f"mean_shift: expects 3 (RGB) channels, got {ins[0][0]}")
        if a["sign"] not in (-1, 1):
            raise OpError(f"mean_shift: sign must be -1 or 1, got {a['sign']}")
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return [TensorSpec("weight", (3, 3, 1, 1)), TensorSpec("bias", (3,))]

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return prod(out) * 3, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "subtract RGB mean" if a["sign"] < 0 else "add RGB mean"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # a 1x1 convolution

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor("MeanShift", a["range"], tuple(a["mean"]), sign=a["sign"]), helpers=("MeanShift",)
        )


@register()
class Conv1d(Op):
    name = "conv1d"
    summary = "1-D convolution over a CxL signal (nn.Conv1d); bias off by default, as for conv"
    args = (
        ArgSpec("out", "pos", doc="output channels"),
        ArgSpec("k", "pos", aliases=("kernel", "kernel_size"), doc="kernel size"),
        ArgSpec("s", "pos", 1, aliases=("stride",)),
        ArgSpec("p", "nonneg", 0, aliases=("padding",)),
        ArgSpec("d", "pos", 1, aliases=("dilation",)),
        ArgSpec("groups", "pos", 1, aliases=("g",)),
        ArgSpec("bias", "bool", False),
    )
    ranks = (2,)
    counted = True

    def check_rank(self, ins: list[Shape]) -> None:
        s = ins[0]
        if len(s) != 2:
            hint = "a 1-D signal is CxL, e.g. input 1x16000"
            raise OpError(
                f"conv1d: expects a 1-D signal (CxL), got {describe(s)}",
                hint + ("; a feature map takes conv" if len(s) == 3 else ""),
            )

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, length = ins[0]
        g = a["groups"]
        if c % g or a["out"] % g:
            raise OpError(
                f"conv1d: groups={g} must divide input channels {c} and output channels {a['out']}",
                "choose groups that divides both channel counts",
            )
        return (a["out"], window_out(length, a["k"], a["s"], a["p"], a["d"], False, "conv1d"))

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        t = [TensorSpec("weight", (a["out"], ins[0][0] // a["groups"], a["k"]))]
        if a["bias"]:
            t.append(TensorSpec("bias", (a["out"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return prod(out) * (ins[0][0] // a["groups"]) * a["k"], 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        text = f"conv1d {a['k']}, {a['out']}"
        if a["s"] != 1:
            text += f", /{a['s']}"
        return text + (f", g{a['groups']}" if a["groups"] != 1 else "")

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # the weight gradient needs the input

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        # along the signal's length, the first of the two dimensions the analysis follows
        return Window(a["k"], a["s"], a["p"], a["d"]), POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.Conv1d",
                Dim(ins[0][0]),
                a["out"],
                kernel_size=a["k"],
                stride=unless_default(a["s"], 1),
                padding=unless_default(a["p"], 0),
                dilation=unless_default(a["d"], 1),
                groups=unless_default(a["groups"], 1),
                bias=None if a["bias"] is True else a["bias"],
            )
        )


@register("conv_transpose2d", "deconv")
class ConvTranspose(Op):
    name = "conv_transpose"
    summary = (
        "2-D transposed convolution (nn.ConvTranspose2d): out = (in - 1) * s - 2 * p + d * (k - 1) + op + 1; "
        "bias off by default, as for conv"
    )
    args = (
        ArgSpec("out", "pos", doc="output channels"),
        ArgSpec("k", "posint_pair", aliases=("kernel", "kernel_size"), doc="kernel size"),
        ArgSpec("s", "posint_pair", 1, aliases=("stride",)),
        ArgSpec("p", "nonneg_pair", 0, aliases=("padding",)),
        ArgSpec("op", "nonneg_pair", 0, aliases=("output_padding",), doc="extra rows and columns at the end"),
        ArgSpec("d", "posint_pair", 1, aliases=("dilation",)),
        ArgSpec("groups", "pos", 1, aliases=("g",)),
        ArgSpec("bias", "bool", False),
    )
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        g = a["groups"]
        if c % g or a["out"] % g:
            raise OpError(
                f"conv_transpose: groups={g} must divide input channels {c} and output channels {a['out']}",
                "choose groups that divides both channel counts",
            )
        (kh, kw), (sh, sw), (ph, pw), (oh, ow), (dh, dw) = (pair(a[n]) for n in ("k", "s", "p", "op", "d"))
        for o, s, d in ((oh, sh, dh), (ow, sw, dw)):
            if o >= max(s, d):
                raise OpError(
                    f"conv_transpose: output padding {o} must be smaller than "
                    f"the stride {s} or the dilation {d}",
                    "output padding only picks among the sizes a stride > 1 can give; use op < s",
                )
        size = [
            (n - 1) * s - 2 * p + d * (k - 1) + o + 1
            for n, s, p, d, k, o in ((h, sh, ph, dh, kh, oh), (w, sw, pw, dw, kw, ow))
        ]
        if min(size) <= 0:
            raise OpError(
                f"conv_transpose: padding {a['p']} leaves no output ({size[0]}x{size[1]}) from {h}x{w}",
                "use less padding or a larger kernel",
            )
        return (a["out"], size[0], size[1])

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        kh, kw = pair(a["k"])
        t = [TensorSpec("weight", (ins[0][0], a["out"] // a["groups"], kh, kw))]
        if a["bias"]:
            t.append(TensorSpec("bias", (a["out"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        # fvcore: a transposed convolution costs its weight's size at every input position
        kh, kw = pair(a["k"])
        c, h, w = ins[0]
        return c * (a["out"] // a["groups"]) * kh * kw * h * w, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        kh, kw = pair(a["k"])
        text = f"conv transpose {kh}x{kw}, {a['out']}"
        if pair(a["s"]) != (1, 1):
            text += f", x{a['s'] if isinstance(a['s'], int) else 'x'.join(map(str, a['s']))}"
        return text + (f", g{a['groups']}" if a["groups"] != 1 else "")

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # the weight gradient needs the input

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        # output o takes input i where i*s - p + m*d = o (m < k): at most ceil(((k-1)d + 1) / s)
        # inputs; the first output's centre lies (p - (k-1)d/2) / s input positions from input 0
        from fractions import Fraction  # only receptive fields need it: not imported at start

        def along(k: int, s: int, p: int, d: int) -> Window:
            seen = -(-((k - 1) * d + 1) // s)
            return Window(seen, 1, Fraction(seen - 1, 2) - Fraction(2 * p - (k - 1) * d, 2 * s), up=s)

        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(a[n]) for n in ("k", "s", "p", "d"))
        return along(kh, sh, ph, dh), along(kw, sw, pw, dw)

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.ConvTranspose2d",
                Dim(ins[0][0]),
                a["out"],
                kernel_size=a["k"],
                stride=unless_default(a["s"], 1),
                padding=unless_default(a["p"], 0),
                output_padding=unless_default(a["op"], 0),
                groups=unless_default(a["groups"], 1),
                bias=None if a["bias"] is True else a["bias"],
                dilation=unless_default(a["d"], 1),
            )
        )
