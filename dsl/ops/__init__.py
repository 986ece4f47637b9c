"""The primitive ops: each defined once, with its arguments, shape rule, tensors, MACs, diagram
label and PyTorch emission.

:mod:`archc.dsl.ops.base` holds the contract (:class:`Op`) and the registry; each family lives
in its own module and registers its ops when imported.  Adding an op: subclass :class:`Op`,
declare ``args``, implement ``infer`` (and ``tensors``, ``macs``, ``label``, ``emit`` as it
needs), decorate with ``@register``.  Other packages add ops the same way through the
``archc.ops`` entry points; docs/ops.md describes the contract.
"""

from archc.dsl.ops import activation, conv, dense, merge, norm, pool, resample, reshape, swin
from archc.dsl.ops.base import (
    ALIASES,
    CHW,
    HWC,
    KINDS,
    REGISTRY,
    REQUIRED,
    ArgSpec,
    ChannelsLast,
    Ctor,
    Dim,
    Emission,
    Op,
    OpError,
    QuotedStr,
    RegistrationError,
    Shape,
    TensorSpec,
    ctor,
    describe,
    fmt,
    layout_of,
    like,
    lookup,
    pair,
    register,
    uncounted_ops,
    unless_default,
    window_out,
)

#: The families of the built-in ops, in the order ``archc ops`` lists them.
FAMILIES = (conv, norm, activation, pool, resample, reshape, dense, swin, merge)

__all__ = [
    "ALIASES",
    "CHW",
    "FAMILIES",
    "HWC",
    "KINDS",
    "REGISTRY",
    "REQUIRED",
    "ArgSpec",
    "ChannelsLast",
    "Ctor",
    "Dim",
    "Emission",
    "Op",
    "OpError",
    "QuotedStr",
    "RegistrationError",
    "Shape",
    "TensorSpec",
    "activation",
    "conv",
    "ctor",
    "dense",
    "describe",
    "fmt",
    "layout_of",
    "like",
    "lookup",
    "merge",
    "norm",
    "pair",
    "pool",
    "register",
    "resample",
    "reshape",
    "swin",
    "uncounted_ops",
    "unless_default",
    "window_out",
]
