"""What changed between two compiled networks, for the playground's "compare with" selector.

This is the one place the playground asks for a comparison: the per-stage table comes from
:func:`archc.summary.diff_data` (what ``archc diff`` prints) and the changed layers from a
name-by-name walk of the two layer graphs.  When ``archc diff`` grows a structural diff of its
own, :func:`compare` is the function to switch over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archc.dsl.analysis import layers

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled


def compare(a: Compiled, b: Compiled) -> dict[str, Any]:
    """``a`` is the reference (another spec, the saved file, the defaults), ``b`` the editor's.

    Returns the per-stage table of ``archc diff`` plus ``changed`` (layer path of ``b`` to
    ``"added"`` or ``"changed"``) and ``removed`` (layer paths of ``a`` that ``b`` lacks)."""
    from archc.summary import diff_data

    data = diff_data(a, b)
    changed, removed = layer_changes(a, b)
    return {
        "a": data["a"],
        "b": data["b"],
        "stages": [s for s in data["stages"] if any(s["params"]) or any(s["macs"])],
        "total": data["total"],
        "changed": changed,
        "removed": removed,
    }


def _signature(d: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two layers of the same name the same layer: op, arguments, shapes, parameters."""
    return (d["op"], repr(d["args"]), d["in_shapes"], d["shape"], d["params"])


def layer_changes(a: Compiled, b: Compiled) -> tuple[dict[str, str], list[str]]:
    """Layers of ``b`` that ``a`` lacks or has with other arguments or shapes, and those ``b`` lost."""
    old = {d["name"]: _signature(d) for d in layers(a.graph)}
    changed: dict[str, str] = {}
    seen: set[str] = set()
    for d in layers(b.graph):
        name = d["name"]
        seen.add(name)
        if name not in old:
            changed[name] = "added"
        elif old[name] != _signature(d):
            changed[name] = "changed"
    return changed, [name for name in old if name not in seen]
