"""Targets: which layers an edit or an ``init`` rule names.

A target is a path pattern, optionally restricted by ``in SCOPE``::

    layer4.*.bn3              by path: a name or index per level, ``*`` for any, ``a..b`` a range
    layer2..layer4            a range of siblings, in the order the spec writes them
    bottleneck.bn3            by block: the layer ``bn3`` inside every instance of ``bottleneck``
    bottleneck.bn3 in layer4  ... only the instances under ``layer4``
    relu                      by op: every ``relu`` layer (unnamed ones included)
    layer4.*.relu             an op name as the last step: every ``relu`` there

Patterns are matched against *paths*: the chain of module names from the network (or from a
derived block's instance) down to a layer, each step knowing the block it instantiates, the op
it runs, and the order of its siblings.  The same matcher serves the elaborator (edits, while
the graph is built) and code generation (``init`` rules, over the finished graph).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from archc.dsl import ast


@dataclass(frozen=True, slots=True)
class Step:
    """One level of a path: a module's name, the names of its siblings in order (for ranges),
    the block it instantiates (if it is a block instance), the op it runs (if it is a layer)."""

    name: str
    siblings: Sequence[str] = ()
    block: str | None = None
    op: str | None = None


Path = tuple[Step, ...]


def _segment_matches(seg: ast.Segment, step: Step, is_op: Callable[[str], bool], last: bool) -> bool:
    if seg.hi is not None:
        return _in_range(seg.lo, seg.hi, step)
    if seg.lo == "*" or seg.lo == step.name:
        return True
    # an op name as the last step names every layer of that op, unnamed ones included
    return last and step.op is not None and is_op(seg.lo) and canonical_op(seg.lo, is_op) == step.op


def canonical_op(name: str, is_op: Callable[[str], bool]) -> str | None:
    from archc.dsl.ops import lookup

    op = lookup(name)
    return op.name if op is not None and is_op(name) else None


def _in_range(lo: str, hi: str, step: Step) -> bool:
    if lo.isdigit() and hi.isdigit() and step.name.isdigit():
        return int(lo) <= int(step.name) <= int(hi)
    order = list(step.siblings)
    if lo not in order or hi not in order or step.name not in order:
        return False
    return order.index(lo) <= order.index(step.name) <= order.index(hi)


def match_path(segments: Sequence[ast.Segment], path: Path, is_op: Callable[[str], bool]) -> bool:
    """Does ``path`` (relative to the pattern's root) match the segments level by level?"""
    if len(segments) != len(path):
        return False
    last = len(segments) - 1
    return all(
        _segment_matches(s, p, is_op, i == last) for i, (s, p) in enumerate(zip(segments, path, strict=True))
    )


@dataclass(frozen=True, slots=True)
class Pattern:
    """A target resolved against what its root holds: ``mode`` says how its first segment reads."""

    target: ast.Target
    mode: str  # path | block | op
    scope_mode: str | None  # path | block, for the `in` part

    def matches(self, path: Path, is_op: Callable[[str], bool]) -> bool:
        if not self._matches(self.target.path, self.mode, path, is_op):
            return False
        if self.target.scope is None:
            return True
        assert self.scope_mode is not None
        return any(
            self._matches(self.target.scope, self.scope_mode, path[:k], is_op)
            for k in range(1, len(path) + 1)
        )

    @staticmethod
    def _matches(
        segments: Sequence[ast.Segment], mode: str, path: Path, is_op: Callable[[str], bool]
    ) -> bool:
        if mode == "op":
            return (
                bool(path) and path[-1].op is not None and canonical_op(segments[0].lo, is_op) == path[-1].op
            )
        if mode == "path":
            return match_path(segments, path, is_op)
        # by block: some instance of the block on the path, then the rest relative to it
        block = segments[0].lo
        rest = segments[1:]
        for k, step in enumerate(path):
            if step.block == block and match_path(rest, path[k + 1 :], is_op):
                return True
        return False


def classify(
    segments: Sequence[ast.Segment],
    labels: Sequence[str],
    blocks: Sequence[str],
    is_op: Callable[[str], bool],
) -> str | None:
    """How a pattern's first segment reads: a name at the root (``path``), a block definition
    (``block``), an op (``op``, alone), or None when it names nothing."""
    first = segments[0]
    if first.lo == "*" or first.hi is not None or first.lo.isdigit() or first.lo in labels:
        return "path"
    if first.lo in blocks:
        return "block"
    if is_op(first.lo):
        return "op" if len(segments) == 1 else None
    return None
