"""Totals and per-layer rows computed from an elaborated graph (no torch involved)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from archc.dsl.names import join_path
from archc.dsl.ops import REGISTRY, Shape, lookup


def human(n: float, unit: str = "") -> str:
    """``25557032`` as ``25.56M``."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


@dataclass
class Totals:
    params: int
    buffers: int
    macs: int  # dense: conv, linear, attention (torchvision's published convention)
    macs_other: int  # normalisation and adaptive pooling, counted as fvcore does
    layers: int
    output_shape: Shape
    input_shape: Shape
    uncounted: list[str] = field(default_factory=list)  # ops present that count no MACs


@dataclass
class Row:
    """One line of a summary: a layer, or a module collapsed at ``--depth``."""

    name: str
    op: str
    shape: Shape | None
    params: int
    macs: int
    macs_other: int
    depth: int
    layers: int = 1
    count: int | None = None  # under a named counting convention; None: no rule for some layer

    def as_dict(self, total_params: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "output_shape": list(self.shape) if self.shape is not None else None,
            "params": self.params,
            "params_share": self.params / total_params if total_params else 0.0,
            "macs": self.macs,
            "macs_other": self.macs_other,
        }


def layers(g: nx.DiGraph) -> list[dict[str, Any]]:
    """The primitive layer nodes in creation order (which is a topological order)."""
    nodes = [d for n, d in g.nodes(data=True) if n != "input"]
    nodes.sort(key=lambda d: d["order"])
    return nodes


def totals(g: nx.DiGraph) -> Totals:
    ls = layers(g)
    present = {d["op"] for d in ls}
    return Totals(
        params=sum(d["params"] for d in ls),
        buffers=sum(d["buffers"] for d in ls),
        macs=sum(d["macs"] for d in ls),
        macs_other=sum(d["macs_other"] for d in ls),
        layers=len(ls),
        output_shape=g.graph["output_shape"],
        input_shape=g.graph["input_shape"],
        uncounted=sorted(op for op in present if not REGISTRY[op].counted),
    )


def rows(g: nx.DiGraph, depth: int | None = None, counts: dict[str, int | None] | None = None) -> list[Row]:
    """Per-layer rows; with ``depth``, layers below that depth are folded into their module.
    ``counts`` (per layer, under a counting convention) fills and folds :attr:`Row.count`."""
    scopes = g.graph["scopes"]
    out: list[Row] = []
    index: dict[str, Row] = {}
    for d in layers(g):
        parts = d["name"].split(".")
        n = counts.get(d["name"]) if counts is not None else None
        if depth is None or len(parts) <= depth:
            row = Row(
                d["name"], _op_text(d), d["shape"], d["params"], d["macs"], d["macs_other"], len(parts) - 1
            )
            row.count = n
            out.append(row)
            index[row.name] = row
            continue
        key = ".".join(parts[:depth])
        found = index.get(key)
        if found is None:
            scope = scopes.get(key)
            kind = describe(scope, scopes) if scope is not None else "sequence"
            found = Row(key, kind, None, 0, 0, 0, depth - 1, 0, 0 if counts is not None else None)
            out.append(found)
            index[key] = found
        row = found
        row.params += d["params"]
        row.macs += d["macs"]
        row.macs_other += d["macs_other"]
        row.count = None if row.count is None or n is None else row.count + n
        row.shape = d["shape"]
        row.layers += 1
    for row in out:
        scope = scopes.get(row.name)
        if scope is not None and scope.out_shape is not None:
            row.shape = scope.out_shape
    return out


def describe(scope: Any, scopes: dict[str, Any]) -> str:
    """A module in a few words: its block (``bottleneck``), ``bottleneck × 3`` for a sequence of
    one block, or ``4 modules``."""
    if scope.kind != "seq":
        return str(scope.definition or scope.kind)
    kinds = set()
    for ch in scope.children:
        child = scopes.get(join_path(scope.path, ch))
        kinds.add(child.definition if child is not None and child.kind == "block" else None)
    n = len(scope.children)
    if len(kinds) == 1 and None not in kinds:
        return f"{kinds.pop()} × {n}"
    return f"{n} module" + ("" if n == 1 else "s")


def _op_text(d: dict[str, Any]) -> str:
    op = lookup(d["op"])
    return op.label(d["args"], d["shape"]) if op is not None else d["op"]


def state_dict(g: nx.DiGraph) -> list[tuple[str, Shape, bool]]:
    """Every parameter and buffer as (key, shape, is_buffer), in the order PyTorch's
    ``state_dict()`` lists them: per module, its own parameters (a ``cls_token`` or
    ``pos_embed`` is a parameter of the module holding it), then its children in order."""
    scopes = g.graph["scopes"]
    out: list[tuple[str, Shape, bool]] = []

    def visit(path: str) -> None:  # module trees nest as deep as specs may (bounded)
        kids = [join_path(path, c) for c in scopes[path].children]
        own = [t for k in kids if k in g.nodes for t in g.nodes[k]["tensors"] if t[0] == k]
        out.extend(sorted(own, key=lambda t: t[2]))  # parameters, then buffers
        for k in kids:
            if k in g.nodes:
                out.extend(t for t in g.nodes[k]["tensors"] if t[0] != k)
            elif k in scopes:
                visit(k)

    visit("")
    return out


def module_params(g: nx.DiGraph) -> dict[str, int]:
    """Parameters of every module (block or sequence), keyed by its path."""
    out: dict[str, int] = {}
    for d in layers(g):
        parts = d["name"].split(".")
        for k in range(1, len(parts)):
            key = ".".join(parts[:k])
            out[key] = out.get(key, 0) + d["params"]
    return out


def stage_totals(g: nx.DiGraph) -> dict[str, dict[str, int]]:
    """Parameters and MACs per top-level module (``conv1``, ``layer1``, ...)."""
    out: dict[str, dict[str, int]] = {}
    for d in layers(g):
        top = d["name"].split(".")[0]
        entry = out.setdefault(top, {"params": 0, "macs": 0})
        entry["params"] += d["params"]
        entry["macs"] += d["macs"]
    return out


# ------------------------------------------------------------------ gates (SE) and their cost


@dataclass
class GateStage:
    """The gating blocks (SE and the like) of one top-level module."""

    stage: str
    blocks: int
    channels: list[int]
    params: int
    estimate: float  # (2/r) * C^2 summed over the blocks: the SE paper's count, weights only
    biases: int


def is_gate(scope: Any, g: nx.DiGraph) -> bool:
    """A block whose output multiplies its input by a broadcast gate (SE and the like)."""
    for ch in scope.children:
        d = g.nodes.get(join_path(scope.path, ch))
        if d is not None and d["op"] == "mul" and any(s != d["shape"] for s in d["in_shapes"]):
            return True
    return False


def gates(g: nx.DiGraph) -> list[GateStage]:
    """Every block whose output is its input times a broadcast gate, grouped by top-level module.

    The SE paper estimates the extra parameters as (2/r)·Σ_s N_s·C_s²: the two fully connected
    layers' weights.  The exact count adds their biases, C/r + C per block.
    """
    scopes = g.graph["scopes"]
    totals = module_params(g)
    out: dict[str, GateStage] = {}
    for scope in scopes.values():
        if scope.kind != "block" or not is_gate(scope, g):
            continue
        stage = scope.path.split(".")[0]
        entry = out.setdefault(stage, GateStage(stage, 0, [], 0, 0.0, 0))
        params = totals.get(scope.path, 0)
        channels = scope.in_shape[0]
        r = scope.args.get("reduction")
        entry.blocks += 1
        entry.channels.append(channels)
        entry.params += params
        if isinstance(r, int | float) and r:
            entry.estimate += 2 * channels * channels / r
            entry.biases += int(channels // r + channels)
    return list(out.values())
