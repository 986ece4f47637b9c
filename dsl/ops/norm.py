"""Normalisation layers."""

from __future__ import annotations

from math import prod
from typing import Any, ClassVar

from archc.dsl.ops.base import (
    GLOBAL,
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
    register,
    unless_default,
)


@register("batchnorm", "batchnorm2d")
class BatchNorm(Op):
    name = "bn"
    summary = "batch normalisation over channels (nn.BatchNorm2d)"
    args = (ArgSpec("eps", "float", 1e-5), ArgSpec("momentum", "prob", 0.1), ArgSpec("affine", "bool", True))
    ranks = (3,)
    counted = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][0]
        t = [TensorSpec("weight", (c,)), TensorSpec("bias", (c,))] if a["affine"] else []
        return [
            *t,
            TensorSpec("running_mean", (c,), True),
            TensorSpec("running_var", (c,), True),
            TensorSpec("num_batches_tracked", (), True),
        ]

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0]) * (2 if a["affine"] else 1)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "batchnorm"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # the input, and the batch mean and inverse deviation per channel (in the input's dtype on CPU)
        c = (ins[0][0],)
        return Saves(inputs=(0,), extra=((c, "act", False), (c, "act", False)))

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.BatchNorm2d",
                Dim(ins[0][0]),
                eps=unless_default(a["eps"], 1e-5),
                momentum=unless_default(a["momentum"], 0.1),
                affine=unless_default(a["affine"], True),
            )
        )


@register("ln", "layer_norm")
class LayerNorm(Op):
    name = "layernorm"
    summary = "layer normalisation over the last dimension (nn.LayerNorm)"
    args = (ArgSpec("eps", "float", 1e-5), ArgSpec("affine", "bool", True))
    counted = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        d = ins[0][-1]
        return [TensorSpec("weight", (d,)), TensorSpec("bias", (d,))] if a["affine"] else []

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0]) * (5 if a["affine"] else 4)

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # the input, and the mean and inverse deviation of every normalised row
        rows = (prod(ins[0][:-1]),)
        return Saves(inputs=(0,), extra=((rows, "act", True), (rows, "act", True)))

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        rows = (prod(ins[0][:-1]),)
        return ((rows, "act", True), (rows, "act", True))  # native_layer_norm returns them in eval too

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        affine = unless_default(a["affine"], True)
        return Emission(
            ctor(
                "nn.LayerNorm", Dim(ins[0][-1]), eps=unless_default(a["eps"], 1e-5), elementwise_affine=affine
            )
        )


@register("group_norm")
class GroupNorm(Op):
    name = "groupnorm"
    summary = (
        "group normalisation over channel groups (nn.GroupNorm); "
        "channels are the C of CxHxW or of a CxL signal"
    )
    args = (
        ArgSpec("groups", "pos", aliases=("g", "num_groups")),
        ArgSpec("eps", "float", 1e-5),
        ArgSpec("affine", "bool", True),
    )
    ranks = (2, 3)
    layout = "chw"
    rank_names: ClassVar[dict[int, str]] = {2: "a 1-D signal (CxL)"}
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c = ins[0][0]
        if c % a["groups"]:
            raise OpError(
                f"groupnorm: {c} channels do not divide into {a['groups']} groups",
                "choose a group count that divides the channels (GroupNorm(32) needs a multiple of 32)",
            )
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][0]
        return [TensorSpec("weight", (c,)), TensorSpec("bias", (c,))] if a["affine"] else []

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0]) * (5 if a["affine"] else 4)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"groupnorm {a['groups']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # the input, and the mean and inverse deviation of every group (in the input's dtype)
        return Saves(inputs=(0,), extra=self.scratch(a, ins, out))

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        g = (a["groups"],)
        return ((g, "act", True), (g, "act", True))  # native_group_norm returns them in eval too

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return GLOBAL, GLOBAL  # each output depends on its group's statistics over the whole map

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.GroupNorm",
                a["groups"],
                Dim(ins[0][0]),
                eps=unless_default(a["eps"], 1e-5),
                affine=unless_default(a["affine"], True),
            )
        )


@register("instance_norm", "instancenorm2d")
class InstanceNorm(Op):
    name = "instancenorm"
    summary = (
        "instance normalisation per sample and channel "
        "(nn.InstanceNorm2d; no affine, no running stats by default)"
    )
    args = (
        ArgSpec("eps", "float", 1e-5),
        ArgSpec("affine", "bool", False),
        ArgSpec("track_running_stats", "bool", False, aliases=("track",)),
    )
    ranks = (3,)
    counted = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][0]
        t = [TensorSpec("weight", (c,)), TensorSpec("bias", (c,))] if a["affine"] else []
        if a["track_running_stats"]:
            t += [
                TensorSpec("running_mean", (c,), True),
                TensorSpec("running_var", (c,), True),
                TensorSpec("num_batches_tracked", (), True),
            ]
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0]) * (5 if a["affine"] else 4)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "instancenorm"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # F.instance_norm is a batch norm of the input viewed as 1 x (B*C) x H x W: it keeps the
        # input, the batch statistics (B*C each, in the input's dtype), and the weight and running
        # statistics it repeats B times to pass them (the repeated copies, not the parameters)
        per_sample = (ins[0][0],)
        kept = 2 + (1 if a["affine"] else 0) + (2 if a["track_running_stats"] else 0)
        return Saves(inputs=(0,), extra=((per_sample, "act", True),) * kept)

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        # in eval: the repeated weight and bias, and either the repeated running statistics or
        # (without them) the batch statistics
        per_sample = (ins[0][0],)
        return ((per_sample, "act", True),) * ((2 if a["affine"] else 0) + 2)

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        # statistics over the whole map, unless eval mode uses the running ones
        return (POINTWISE, POINTWISE) if a["track_running_stats"] else (GLOBAL, GLOBAL)

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.InstanceNorm2d",
                Dim(ins[0][0]),
                eps=unless_default(a["eps"], 1e-5),
                affine=unless_default(a["affine"], False),
                track_running_stats=unless_default(a["track_running_stats"], False),
            )
        )


@register("layer_norm2d", "ln2d")
class LayerNorm2d(Op):
    name = "layernorm2d"
    summary = "layer normalisation over the channels of a CxHxW map (torchvision's ConvNeXt LayerNorm2d)"
    args = (ArgSpec("eps", "float", 1e-5), ArgSpec("affine", "bool", True))
    ranks = (3,)
    counted = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][0]
        return [TensorSpec("weight", (c,)), TensorSpec("bias", (c,))] if a["affine"] else []

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0]) * (5 if a["affine"] else 4)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "layernorm (channels)"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # layer_norm of the channels-last view: the input, the mean and inverse deviation per pixel
        return Saves(inputs=(0,), extra=self.scratch(a, ins, out))

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        pixels = (prod(ins[0][1:]),)
        return ((pixels, "act", True), (pixels, "act", True))

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "LayerNorm2d",
                Dim(ins[0][0]),
                eps=unless_default(a["eps"], 1e-5),
                elementwise_affine=unless_default(a["affine"], True),
            ),
            helpers=("LayerNorm2d",),
        )
