"""Two ops for archc, with the same contract as the built-in ones (see archc's docs/ops.md).

``mish`` shows the smallest op: no arguments, no weights, PyTorch's own module.
``squeeze_excite`` shows an op with weights and a helper class: torchvision's
``SqueezeExcitation`` (average pool, 1x1 conv to ``squeeze`` channels, ReLU, 1x1 conv back,
sigmoid, times the input), copied into emitted code so that it never imports torchvision, with
torchvision's keys (``fc1.weight``, ``fc1.bias``, ``fc2.weight``, ``fc2.bias``).
"""

from __future__ import annotations

from math import prod
from typing import Any

from archc.codegen.helpers import register_helper
from archc.dsl.ops import ArgSpec, Dim, Emission, Op, OpError, Shape, TensorSpec, ctor, register


@register()
class Mish(Op):
    name = "mish"
    summary = "x * tanh(softplus(x)) (nn.Mish)"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission("nn.Mish()")


SQUEEZE_EXCITATION = '''class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: torchvision's ``SqueezeExcitation`` (ReLU, then sigmoid)."""

    def __init__(self, input_channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        scale = self.avgpool(input)
        scale = self.fc1(scale)
        scale = self.activation(scale)
        scale = self.fc2(scale)
        return self.scale_activation(scale) * input'''

register_helper("SqueezeExcitation", SQUEEZE_EXCITATION)


@register("se")
class SqueezeExcite(Op):
    name = "squeeze_excite"
    summary = "scales each channel by a gate computed from the pooled map (torchvision's SqueezeExcitation)"
    args = (ArgSpec("squeeze", "pos", aliases=("squeeze_channels",), doc="channels of the bottleneck"),)
    ranks = (3,)  # a CxHxW map (and, as for every op that takes only feature maps, channels first)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        if a["squeeze"] > ins[0][0]:
            raise OpError(
                f"squeeze_excite: {a['squeeze']} squeeze channels are more than the {ins[0][0]} it gates",
                "squeeze to fewer channels, e.g. a quarter: squeeze_excite(in.c // 4)",
            )
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c, s = ins[0][0], a["squeeze"]
        return [
            TensorSpec("fc1.weight", (s, c, 1, 1)),
            TensorSpec("fc1.bias", (s,)),
            TensorSpec("fc2.weight", (c, s, 1, 1)),
            TensorSpec("fc2.bias", (c,)),
        ]

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        c, s = ins[0][0], a["squeeze"]
        # fvcore: the two 1x1 convolutions on a 1x1 map (dense); the average pool reads every input
        # element once (other); the sigmoid and the product are elementwise and count nothing
        return 2 * c * s, prod(ins[0])

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"squeeze-excite {a['squeeze']}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        module = ctor("SqueezeExcitation", Dim(ins[0][0]), a["squeeze"])
        return Emission(module, helpers=("SqueezeExcitation",))
