"""Activations and other elementwise ops with no weights."""

from __future__ import annotations

from typing import Any, ClassVar

from archc.dsl.ops.base import (
    ArgSpec,
    Emission,
    Op,
    Shape,
    ctor,
    register,
)


class _Elementwise(Op):
    counted = False
    torch_module: ClassVar[str] = ""

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(f"{self.torch_module}()")


@register()
class ReLU(_Elementwise):
    name = "relu"
    summary = "max(x, 0)"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission("nn.ReLU(inplace=True)" if a.get("inplace") else "nn.ReLU()")


@register()
class GELU(_Elementwise):
    name = "gelu"
    summary = "Gaussian error linear unit (exact erf form)"
    torch_module = "nn.GELU"


@register()
class Sigmoid(_Elementwise):
    name = "sigmoid"
    summary = "logistic sigmoid"
    torch_module = "nn.Sigmoid"


@register()
class Identity(_Elementwise):
    name = "identity"
    summary = "passes its input through"
    torch_module = "nn.Identity"


@register()
class Dropout(_Elementwise):
    name = "dropout"
    summary = "dropout with probability p (identity in eval mode)"
    args = (ArgSpec("p", "prob", 0.5),)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"dropout {a['p']:g}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.Dropout", a["p"]))
