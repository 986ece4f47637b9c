"""Activations and other elementwise ops with no weights."""

from __future__ import annotations

from typing import Any, ClassVar

from archc.dsl.ops.base import (
    NOTHING,
    POINTWISE,
    VIEW,
    ArgSpec,
    Emission,
    Op,
    Saves,
    Shape,
    Window,
    ctor,
    register,
)


class _Elementwise(Op):
    counted = False
    torch_module: ClassVar[str] = ""

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(f"{self.torch_module}()")

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        return POINTWISE, POINTWISE


@register()
class ReLU(_Elementwise):
    name = "relu"
    summary = "max(x, 0)"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission("nn.ReLU(inplace=True)" if a.get("inplace") else "nn.ReLU()")

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
