"""The primitive ops: each defined once, with its arguments, shape rule, tensors, MACs, diagram
label and PyTorch emission.

:mod:`archc.dsl.ops.base` holds the contract (:class:`Op`) and the registry; each family lives
in its own module and registers its ops when imported.  Adding an op: subclass :class:`Op`,
declare ``args``, implement ``infer`` (and ``tensors``, ``macs``, ``label``, ``emit`` as it
needs), decorate with ``@register``.  Other packages add ops the same way through the
``archc.ops`` entry points (:mod:`archc.dsl.ops.plugins`); docs/ops.md describes the contract.
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


def listing() -> str:
    """Every registered op by family - the built-in families, then each plugin's package - with
    its arguments (defaults in spec syntax), its aliases and its arguments' aliases."""
    from archc.dsl.ops.plugins import provider_of

    groups: dict[str, list[str]] = {f.__name__.rpartition(".")[2]: [] for f in FAMILIES}
    for name, op in REGISTRY.items():
        provider = provider_of(name)
        family = f"plugin {provider}" if provider else type(op).__module__.rpartition(".")[2]
        groups.setdefault(family, []).append(name)
    lines: list[str] = []
    for family, names in groups.items():
        if not names:
            continue
        lines.append(f"{family}:")
        for name in names:
            op = REGISTRY[name]
            args = ", ".join(
                a.name + ("" if a.default is REQUIRED else f"={_show(a.default)}") for a in op.args
            )
            aliases = sorted(k for k, v in ALIASES.items() if v == name)
            lines.append(f"  {name}({args})" + (f"  (also: {', '.join(aliases)})" if aliases else ""))
            lines.append(f"      {op.summary}" + ("" if op.counted else "  [no MACs counted]"))
            missing = missing_rules(name)
            if missing:
                lines.append(f"      [no rule yet for: {', '.join(missing)}]")
            arg_aliases = "; ".join(f"{a.name} = {', '.join(a.aliases)}" for a in op.args if a.aliases)
            if arg_aliases:
                lines.append(f"      argument aliases: {arg_aliases}")
        lines.append("")
    return "\n".join(lines)


def missing_rules(name: str) -> list[str]:
    """The analyses that have no rule for op ``name`` yet (counting conventions, memory,
    receptive field): they report it as such instead of counting it as zero."""
    from archc.dsl.counting import CONVENTIONS

    op = REGISTRY[name]
    missing = [c for c, conv in CONVENTIONS.items() if name not in conv.rules]
    if type(op).saves is Op.saves:
        missing.append("memory")
    if type(op).window is Op.window:
        missing.append("receptive field")
    return missing


def _show(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return repr(v) if isinstance(v, float) else str(v)


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
    "listing",
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
