"""The primitive ops: each defined once, with its arguments, shape rule, tensors, MACs, diagram
label and PyTorch emission.

:mod:`archc.dsl.ops.base` holds the contract (:class:`Op`) and the registry; each family lives
in its own module and registers its ops when imported.  Adding an op: subclass :class:`Op`,
declare ``args``, implement ``infer`` (and ``tensors``, ``macs``, ``label``, ``emit`` as it
needs), decorate with ``@register``.
"""

from archc.dsl.ops import activation, conv, dense, merge, norm, pool, reshape
from archc.dsl.ops.base import (
    ALIASES,
    REGISTRY,
    REQUIRED,
    ArgSpec,
    Ctor,
    Dim,
    Emission,
    Op,
    OpError,
    Shape,
    TensorSpec,
    ctor,
    fmt,
    lookup,
    pair,
    register,
    uncounted_ops,
    unless_default,
    window_out,
)

__all__ = [
    "ALIASES",
    "REGISTRY",
    "REQUIRED",
    "ArgSpec",
    "Ctor",
    "Dim",
    "Emission",
    "Op",
    "OpError",
    "Shape",
    "TensorSpec",
    "activation",
    "conv",
    "ctor",
    "dense",
    "fmt",
    "lookup",
    "merge",
    "norm",
    "pair",
    "pool",
    "register",
    "reshape",
    "uncounted_ops",
    "unless_default",
    "window_out",
]
