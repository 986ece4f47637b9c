"""An op as a value (``act=relu``, ``norm=groupnorm(32)``): the factory emitted code passes for
it, and whether there is one.  The analysis refuses an op value that has none, so that what
``check`` accepts, ``build`` can write."""

from __future__ import annotations

from typing import Any

from archc.dsl.diagnostics import NOWHERE, ArchcError
from archc.dsl.ops.base import REGISTRY, Ctor, Dim, Emission
from archc.dsl.symbolic import SymInt, code
from archc.dsl.values import OpRef


def factory_form(op_name: str, em: Emission) -> tuple[str, list[str], list[str]] | None:
    """An emission as a factory: (the callable, partial's arguments, the call's arguments).
    ``nn.GroupNorm(32, Dim(c))`` is ``partial(nn.GroupNorm, 32)`` called with ``c``.  None when
    the op's constructor cannot be split that way."""
    ctor = em.module
    if not isinstance(ctor, Ctor) or em.call != "{m}({x})":
        return None
    fixed: list[str] = []
    dims: list[str] = []
    for a in ctor.args:
        if isinstance(a, Dim):
            dims.append(code(a.value))
        elif dims:
            return None  # an op argument after an input size: partial cannot put it there
        else:
            fixed.append(code(a))
    fixed += [f"{k}={code(v)}" for k, v in ctor.kwargs if v is not None and k != "inplace"]
    return ctor.callee, fixed, dims


def op_factory(v: OpRef) -> str:
    """The default-value code of an op passed as a value: ``nn.ReLU``, ``partial(nn.GroupNorm, 32)``."""
    form = _form(v)
    if form is None:  # refused by the analysis (value_problem), so never reached from a spec
        raise ArchcError.at(NOWHERE, f"the op '{v.op}' cannot be passed as a value", "use it as a layer")
    callee, fixed, _ = form
    return f"partial({callee}, {', '.join(fixed)})" if fixed else callee


def _form(v: OpRef) -> tuple[str, list[str], list[str]] | None:
    """:func:`factory_form` of ``v``'s emission for an input of symbolic sizes."""
    op = REGISTRY[v.op]
    shape = tuple(SymInt(8, f"d{i}") for i in range(max(op.ranks)))
    return factory_form(op.name, op.emit(_bind_defaults(v), [shape], shape))


def _bind_defaults(v: OpRef) -> dict[str, Any]:
    op = REGISTRY[v.op]
    specs = {s.name: s for s in op.args} | {a: s for s in op.args for a in s.aliases}
    out = {s.name: s.default for s in op.args}
    for i, (k, value) in enumerate(v.args):
        spec = op.args[i] if k is None else specs[k]
        out[spec.name] = value
    for name, spec in ((s.name, s) for s in op.args):
        if spec.kind.endswith("_pair") and isinstance(out[name], list):
            out[name] = tuple(out[name]) if len(out[name]) == 2 else out[name][0]
    return out


def value_problem(v: OpRef) -> str | None:
    """Why ``v`` cannot be passed as a value, or None when it can."""
    try:
        form = _form(v)
    except Exception:  # an op whose emission needs the arguments a layer gives it
        form = None
    if form is None:
        return "its module needs what only a layer gives it (its input size first, or more)"
    return None
