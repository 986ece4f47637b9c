"""Dense layers on the last dimension, attention, and the ViT parameters."""

from __future__ import annotations

from math import prod
from typing import Any

from archc.dsl.ops.base import (
    GLOBAL,
    NOTHING,
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
    code_of,
    ctor,
    layout_of,
    like,
    register,
    unless_default,
)


@register("fc", "dense")
class Linear(Op):
    name = "linear"
    summary = (
        "fully connected layer on the last dimension (nn.Linear): "
        "features, tokens' D, a channels-last map's C"
    )
    args = (ArgSpec("out", "pos"), ArgSpec("bias", "bool", True))
    ranks = (1, 2, 3)
    layout = "hwc"  # on a feature map only channels-last, where the last dimension is C
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        return like(ins[0], (*ins[0][:-1], a["out"]))

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        t = [TensorSpec("weight", (a["out"], ins[0][-1]))]
        if a["bias"]:
            t.append(TensorSpec("bias", (a["out"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return prod(ins[0]) * a["out"], 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"linear {a['out']}"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE  # per token; on a vector its input already sees everything

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.Linear", Dim(ins[0][-1]), a["out"], bias=unless_default(a["bias"], True)))


@register("mhsa", "self_attention")
class Attention(Op):
    name = "attention"
    summary = "multi-head self-attention (nn.MultiheadAttention, packed q/k/v projection)"
    args = (ArgSpec("heads", "pos"), ArgSpec("dropout", "prob", 0.0), ArgSpec("bias", "bool", True))
    ranks = (2,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        d = ins[0][1]
        if d % a["heads"]:
            raise OpError(
                f"attention: width {d} does not divide into {a['heads']} heads",
                "choose a head count that divides the token width",
            )
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        d = ins[0][1]
        t = [TensorSpec("in_proj_weight", (3 * d, d))]
        if a["bias"]:
            t.append(TensorSpec("in_proj_bias", (3 * d,)))
        t.append(TensorSpec("out_proj.weight", (d, d)))
        if a["bias"]:
            t.append(TensorSpec("out_proj.bias", (d,)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        n, d = ins[0]
        projections = n * d * 3 * d + n * d * d
        products = 2 * n * n * d  # Q·Kᵀ and attention·V over all heads
        return projections + products, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"self-attention, {a['heads']} heads"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # nn.MultiheadAttention in training: the input of the packed q/k/v projection and the
        # attention output (the out-projection's input).  Without dropout CPU runs flash
        # attention, which keeps q, k and v (views of one N x 3D tensor) and a float32 log-sum-exp
        # per head and query.  With dropout it runs the math path, which keeps scaled copies of q
        # and k, the softmax, the dropout noise and the dropped-out weights (heads x N x N), all in
        # float32, and v: a view of the packed tensor, or a float32 copy of it for 16-bit inputs.
        n, d = ins[0]
        h = a["heads"]
        kept: list[tuple[Shape, str, bool]] = [((n, d), "act", True)]
        if a["dropout"]:
            kept += [((n, 3 * d), "act-unless-16bit", True), ((n, d), "float32-if-16bit", True)]
            kept += [((n, d), "float32", True)] * 2 + [((h, n, n), "float32", True)] * 3
        else:
            kept += [((n, 3 * d), "act", True), ((h, n), "float32", True)]
        return Saves(inputs=(0,), extra=tuple(kept))

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return GLOBAL, GLOBAL

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        module = ctor(
            "nn.MultiheadAttention",
            Dim(ins[0][1]),
            a["heads"],
            dropout=unless_default(a["dropout"], 0.0),
            bias=unless_default(a["bias"], True),
            batch_first=True,
        )
        wrapped = ctor(
            "SelfAttention",
            Dim(ins[0][1]),
            a["heads"],
            dropout=unless_default(a["dropout"], 0.0),
            bias=unless_default(a["bias"], True),
        )
        return Emission(
            module,
            call="{m}({x}, {x}, {x}, need_weights=False)[0]",
            seq_module=wrapped,
            helpers=("SelfAttention",),
        )


@register("class_token")
class ClassToken(Op):
    name = "cls_token"
    summary = "prepends a learned class token: (N, D) -> (N+1, D); the parameter is the layer itself"
    ranks = (2,)
    layer_is_parameter = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        n, d = ins[0]
        return (n + 1, d)

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return [TensorSpec("", (1, 1, ins[0][1]))]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "prepend class token"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING  # torch.cat needs only sizes

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            parameter=f"nn.Parameter(torch.zeros(1, 1, {code_of(ins[0][1])}))",
            call="torch.cat([{m}.expand({x}.shape[0], -1, -1), {x}], dim=1)",
        )


@register("pos_embedding", "position_embedding")
class PosEmbed(Op):
    name = "pos_embed"
    summary = "adds a learned position embedding (1, N, D); the parameter is the layer itself"
    ranks = (2,)
    layer_is_parameter = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return [TensorSpec("", (1, *ins[0]))]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "+ position embedding"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return NOTHING

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        n, d = ins[0]
        return Emission(
            parameter=f"nn.Parameter(torch.empty(1, {code_of(n)}, {code_of(d)}).normal_(std=0.02))",
            call="{x} + {m}",
        )


@register("layerscale")
class LayerScale(Op):
    name = "layer_scale"
    summary = (
        "multiplies each channel by a learned scale initialised to init (ConvNeXt's layer_scale, "
        "shape Cx1x1 on a CxHxW map, C on a channels-last map, tokens or a vector); "
        "the parameter is the layer itself"
    )
    args = (ArgSpec("init", "float", 1e-6, doc="initial value of every scale"),)
    layer_is_parameter = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return [TensorSpec("", _scale_shape(ins[0]))]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "× layer scale"

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        return Saves(inputs=(0,))  # the scale's gradient needs the input (the scale is a parameter)

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        dims = ", ".join(code_of(d) for d in _scale_shape(ins[0]))
        return Emission(
            parameter=f"nn.Parameter(torch.ones({dims}) * {code_of(a['init'])})", call="{m} * {x}"
        )


def _scale_shape(shape: Shape) -> Shape:
    """One scale per channel, shaped to broadcast: (C, 1, 1) before the H and W of a channels-first
    map (as torchvision's ConvNeXt), (C,) on the last dimension otherwise."""
    if len(shape) == 3 and layout_of(shape) != "hwc":
        return (shape[0], 1, 1)
    return (shape[-1],)
