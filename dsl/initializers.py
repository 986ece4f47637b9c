"""Initialisation: how a network's tensors start, as part of its spec.

A network states it with ``init`` lines, applied in order (a later one wins for a tensor)::

    init torchvision_resnet                                  # a named preset
    init kaiming_normal(mode=fan_out, nonlinearity=relu) for conv
    init constant(0) for bottleneck.bn3, basic_block.bn2 if zero_init_residual
    init zeros for heads.head
    init normal(std=1e-6) for encoder_block.mlp.*.bias      # one tensor of the layers

Targets are those of edits (:mod:`archc.dsl.targets`); a last step ``weight`` or ``bias`` picks
that tensor of the matched layers.  Each initializer is defined once here: its arguments, the
tensors it sets (a *weight* initializer sets the weight, and the bias to zero unless the target
picks a tensor), what it needs of them, and its PyTorch call.  Layers no rule reaches keep
PyTorch's default initialisation, as in the reference implementations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archc.dsl.ops import REQUIRED, ArgSpec

#: Words an initializer argument may take, as in ``torch.nn.init`` (names in the spec).
WORDS = {
    "mode": ("fan_in", "fan_out"),
    "nonlinearity": ("relu", "leaky_relu", "linear", "tanh", "sigmoid", "selu", "conv2d"),
}


@dataclass(frozen=True)
class Initializer:
    """One initializer: ``weight(tensor, args)`` is its call on a weight, ``whole`` says it sets
    every tensor it is applied to alike (``zeros``), ``fan`` that it needs a weight of two or more
    dimensions (fan-in and fan-out)."""

    name: str
    args: tuple[ArgSpec, ...]
    call: Callable[[str, dict[str, Any]], str]
    summary: str
    whole: bool = False
    fan: bool = False


def _kw(a: dict[str, Any], *names: str) -> str:
    parts = []
    for n in names:
        v = a.get(n)
        if v is None:
            continue
        parts.append(f"{n}={_code(v)}")
    return (", " + ", ".join(parts)) if parts else ""


def _code(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'  # one of WORDS, checked: never a spec's own text
    if isinstance(v, float):
        return repr(v)
    return str(v)


INITIALIZERS: dict[str, Initializer] = {
    i.name: i
    for i in [
        Initializer(
            "kaiming_normal",
            (
                ArgSpec("mode", "word", "fan_in"),
                ArgSpec("nonlinearity", "word", "leaky_relu"),
                ArgSpec("a", "float0", 0.0),
            ),
            lambda t, a: f"nn.init.kaiming_normal_({t}{_kw(a, 'a', 'mode', 'nonlinearity')})",
            "He et al.'s normal initialisation",
            fan=True,
        ),
        Initializer(
            "kaiming_uniform",
            (
                ArgSpec("mode", "word", "fan_in"),
                ArgSpec("nonlinearity", "word", "leaky_relu"),
                ArgSpec("a", "float0", 0.0),
            ),
            lambda t, a: f"nn.init.kaiming_uniform_({t}{_kw(a, 'a', 'mode', 'nonlinearity')})",
            "He et al.'s uniform initialisation",
            fan=True,
        ),
        Initializer(
            "xavier_uniform",
            (ArgSpec("gain", "float", 1.0), ArgSpec("bias_std", "float0", 0.0)),
            lambda t, a: f"nn.init.xavier_uniform_({t}{_kw(a, 'gain')})",
            "Glorot and Bengio's uniform initialisation",
            fan=True,
        ),
        Initializer(
            "xavier_normal",
            (ArgSpec("gain", "float", 1.0), ArgSpec("bias_std", "float0", 0.0)),
            lambda t, a: f"nn.init.xavier_normal_({t}{_kw(a, 'gain')})",
            "Glorot and Bengio's normal initialisation",
            fan=True,
        ),
        Initializer(
            "lecun_normal",
            (),
            lambda t, a: f"nn.init.trunc_normal_({t}, std=math.sqrt(1 / {t}[0].numel()))",
            "a normal distribution cut at ±2, std 1/sqrt(fan_in) (torchvision's ViT patch projection)",
            fan=True,
        ),
        Initializer(
            "normal",
            (ArgSpec("std", "float", REQUIRED), ArgSpec("mean", "float0", 0.0)),
            lambda t, a: f"nn.init.normal_({t}{_kw(a, 'mean', 'std')})",
            "a normal distribution",
        ),
        Initializer(
            "trunc_normal",
            (ArgSpec("std", "float", REQUIRED), ArgSpec("a", "float0", -2.0), ArgSpec("b", "float0", 2.0)),
            lambda t, a: f"nn.init.trunc_normal_({t}{_kw(a, 'std', 'a', 'b')})",
            "a normal distribution cut at [a, b] (absolute values, as torch.nn.init)",
        ),
        Initializer(
            "uniform",
            (ArgSpec("a", "float0", REQUIRED), ArgSpec("b", "float0", REQUIRED)),
            lambda t, a: f"nn.init.uniform_({t}, {_code(a['a'])}, {_code(a['b'])})",
            "a uniform distribution on [a, b]",
        ),
        Initializer(
            "constant",
            (ArgSpec("value", "float0", REQUIRED),),
            lambda t, a: (
                "nn.init.ones_({t})"
                if a["value"] == 1
                else "nn.init.zeros_({t})"
                if a["value"] == 0
                else "nn.init.constant_({t}, " + _code(a["value"]) + ")"
            ).replace("{t}", t),
            "a constant weight, zero bias (norms: constant(1))",
        ),
        Initializer("zeros", (), lambda t, a: f"nn.init.zeros_({t})", "every tensor zero", whole=True),
        Initializer("ones", (), lambda t, a: f"nn.init.ones_({t})", "every tensor one", whole=True),
    ]
}

#: Named presets: the schemes of reference implementations, as rules ``(initializer,
#: arguments, op targets)``.  A spec adds what names its own layers (``init zeros for
#: heads.head``) after the preset.
PRESETS: dict[str, tuple[tuple[str, dict[str, Any], tuple[str, ...]], ...]] = {
    "torchvision_resnet": (
        ("kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"}, ("conv",)),
        ("constant", {"value": 1.0}, ("bn", "groupnorm")),
    ),
    "torchvision_vgg": (
        ("kaiming_normal", {"mode": "fan_out", "nonlinearity": "relu"}, ("conv",)),
        ("constant", {"value": 1.0}, ("bn",)),
        ("normal", {"std": 0.01}, ("linear",)),
    ),
    "torchvision_mobilenet": (
        ("kaiming_normal", {"mode": "fan_out"}, ("conv",)),
        ("constant", {"value": 1.0}, ("bn", "groupnorm")),
        ("normal", {"std": 0.01}, ("linear",)),
    ),
    "torchvision_convnext": (("trunc_normal", {"std": 0.02}, ("conv", "linear")),),
    "torchvision_vit": (
        ("lecun_normal", {}, ("conv",)),
        ("xavier_uniform", {"bias_std": 1e-6}, ("linear",)),
    ),
}


def bias_code(init: Initializer, args: dict[str, Any], tensor: str) -> str:
    """What a weight initializer does to the bias of the same layer."""
    std = args.get("bias_std", 0.0)
    if std:
        return f"nn.init.normal_({tensor}, std={_code(std)})"
    return f"nn.init.zeros_({tensor})"
