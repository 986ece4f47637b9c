"""Activations and other elementwise ops with no weights."""

from __future__ import annotations

from typing import Any, ClassVar

from archc.dsl.ops.base import (
    GLOBAL,
    NOTHING,
    POINTWISE,
    VIEW,
    ArgSpec,
    Emission,
    Op,
    OpError,
    QuotedStr,
    Saves,
    Shape,
    Window,
    ctor,
    describe,
    layout_of,
    register,
    unless_default,
)


class _Elementwise(Op):
    counted = False
    torch_module: ClassVar[str] = ""

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor(self.torch_module, inplace=True if a.get("inplace") else None))

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE


class _Activation(_Elementwise):
    """An activation PyTorch has a module for that can run in place; ``inplace`` is set by the
    code generator when the input has no other reader."""

    inplace = True

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # the gradient is computed from the input (hardtanh, hardswish, hardsigmoid, silu); run in
        # place, autograd first copies the input it is about to overwrite and keeps the copy
        return Saves(extra=((ins[0], "act", True),)) if a.get("inplace") else Saves(inputs=(0,))


@register()
class ReLU(_Activation):
    name = "relu"
    summary = "max(x, 0)"
    torch_module = "nn.ReLU"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(output=True)  # threshold_backward reads the result (in place or not)


@register()
class GELU(_Elementwise):
    name = "gelu"
    summary = "Gaussian error linear unit (exact erf form)"
    torch_module = "nn.GELU"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))


@register()
class Sigmoid(_Elementwise):
    name = "sigmoid"
    summary = "logistic sigmoid"
    torch_module = "nn.Sigmoid"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(output=True)


@register()
class Identity(_Elementwise):
    name = "identity"
    summary = "passes its input through"
    torch_module = "nn.Identity"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return VIEW


@register()
class Dropout(_Elementwise):
    name = "dropout"
    summary = "dropout with probability p (identity in eval mode)"
    args = (ArgSpec("p", "prob", 0.5),)
    identity_in_eval = True

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"dropout {a['p']:g}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        if not a["p"]:
            return VIEW  # p = 0 returns its input
        # on CPU, input * noise with the scaled noise kept (on CUDA a one-byte mask instead)
        return Saves(extra=((ins[0], "act", True),)) if a["p"] < 1 else NOTHING

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.Dropout", a["p"]))


@register()
class ReLU6(_Activation):
    name = "relu6"
    summary = "min(max(x, 0), 6) (MobileNetV2)"
    torch_module = "nn.ReLU6"


@register()
class Hardswish(_Activation):
    name = "hardswish"
    summary = "x * relu6(x + 3) / 6 (MobileNetV3)"
    torch_module = "nn.Hardswish"


@register()
class Hardsigmoid(_Activation):
    name = "hardsigmoid"
    summary = "relu6(x + 3) / 6 (MobileNetV3's squeeze-excitation gate)"
    torch_module = "nn.Hardsigmoid"


@register("swish")
class SiLU(_Activation):
    name = "silu"
    summary = "x * sigmoid(x), also called swish (EfficientNet)"
    torch_module = "nn.SiLU"


@register()
class LeakyReLU(_Elementwise):
    name = "leaky_relu"
    inplace = True
    summary = "x if x > 0 else slope * x (nn.LeakyReLU)"
    args = (ArgSpec("slope", "float", 0.01, aliases=("negative_slope",)),)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"leaky relu {a['slope']:g}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        slope = unless_default(a["slope"], 0.01)
        args = () if slope is None else (slope,)
        return Emission(ctor("nn.LeakyReLU", *args, inplace=True if a.get("inplace") else None))

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # leaky_relu_ computes its gradient from the result (the slope is positive); leaky_relu from the input
        return Saves(output=True) if a.get("inplace") else Saves(inputs=(0,))


@register()
class Softmax(_Elementwise):
    name = "softmax"
    summary = "softmax along dim, numbered as PyTorch numbers it (batch first): -1 is the last dimension"
    args = (ArgSpec("dim", "int", -1),)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        rank = len(ins[0]) + 1  # PyTorch's rank, with the batch
        d = a["dim"]
        if not -rank <= d < rank:
            raise OpError(
                f"softmax: dim {d} is out of range for {describe(ins[0])} "
                f"(with the batch: {rank} dimensions)",
                f"use a dimension from 1 to {rank - 1}, or -1 for the last",
            )
        if d % rank == 0:
            raise OpError(
                f"softmax: dim {d} is the batch dimension",
                "a softmax over the samples of a batch is almost never meant; use 1 or -1",
            )
        return ins[0]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"softmax dim {a['dim']}"

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        # each output sees the whole of the dimension it normalises: H or W of a feature map
        # (channels-first or channels-last), the tokens of a sequence; channels are pointwise
        shape = ins[0]
        d = a["dim"] % (len(shape) + 1) - 1  # index without the batch
        if len(shape) == 3:
            h, w = (0, 1) if layout_of(shape) == "hwc" else (1, 2)
            return (GLOBAL if d == h else POINTWISE), (GLOBAL if d == w else POINTWISE)
        return (GLOBAL, GLOBAL) if len(shape) == 2 and d == 0 else (POINTWISE, POINTWISE)

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(output=True)  # _softmax_backward_data reads the result

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.Softmax", dim=a["dim"]))


@register("stochastic_depth")
class DropPath(_Elementwise):
    name = "drop_path"
    summary = (
        "stochastic depth: zeroes a whole sample's branch with probability p while training, "
        'scaling the rest by 1/(1-p) (torchvision\'s StochasticDepth(p, "row"))'
    )
    args = (ArgSpec("p", "prob"),)
    identity_in_eval = True

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"drop path {a['p']:g}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        if not a["p"]:
            return VIEW  # p = 0 returns its input
        # input * noise, the noise one scaled 0-or-1/(1-p) per sample, which the product keeps
        return Saves(extra=(((1,), "act", True),))

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("StochasticDepth", a["p"], QuotedStr("row")), helpers=("StochasticDepth",))
