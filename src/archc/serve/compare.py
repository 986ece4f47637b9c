"""What changed between two compiled networks, for the playground's "compare with" selector.

This is the one place the playground asks for a comparison, and it asks ``archc diff``: the
per-stage table is :func:`archc.diff.diff_data`'s (what ``archc diff --format json`` prints) and
the changed layers come from the same alignment of the two module trees
(:func:`archc.dsl.align.align`), so a layer inserted early does not mark everything after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled


def compare(a: Compiled, b: Compiled) -> dict[str, Any]:
    """``a`` is the reference (another spec, the saved file, the defaults), ``b`` the editor's.

    Returns the per-stage table of ``archc diff`` plus ``changed`` (layer path of ``b`` to
    ``"added"``, ``"changed"`` or ``"reshaped"``: only its shapes changed, carried from a change
    before it) and ``removed`` (layer paths of ``a`` that ``b`` lacks)."""
    from archc.diff import diff_data

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


def layer_changes(a: Compiled, b: Compiled) -> tuple[dict[str, str], list[str]]:
    """Layers of ``b`` added or changed against ``a`` (by the alignment ``archc diff`` uses),
    and the layers of ``a`` that ``b`` lost."""
    from archc.dsl.align import align

    changed: dict[str, str] = {}
    removed: list[str] = []
    for p in align(a.graph, b.graph).layers():
        if p.status == "removed" and p.a is not None:
            removed.append(p.a)
        elif p.status == "added" and p.b is not None:
            changed[p.b] = "added"
        elif p.status == "changed" and p.b is not None:
            changed[p.b] = "changed" if p.own else "reshaped"
    return changed, removed
