"""Memory, exactly as PyTorch spends it: what autograd keeps for backward, and the peaks.

Each op says what one layer keeps for the backward pass (:meth:`Op.saves`: which operands, its
output, and the tensors it creates and keeps, such as batch-norm statistics, max-pool indices
and dropout noise).  What is kept is counted per *storage*, the way memory is spent:

- a view (``flatten``, ``tokens``, ``token``, ``identity``, ``permute``, ``chunk``, dropout with
  p = 0) shares the storage of its input, and an activation run in place (ReLU, ReLU6, hard swish,
  ...; the code generator decides which) writes into its input's storage;
- a storage kept by several layers (a convolution's input that a ReLU also keeps as its output)
  is counted once, at the first layer that keeps it;
- parameters and buffers are not activations: they are counted apart (autograd also keeps the
  weights, but they exist anyway).

For inference (eval mode, no autograd) a storage lives from the layer that creates it until
nothing refers to it any more, as in the emitted code: after its last reader, or at the end of
the module (block or sequence) whose input it is, or at the end of the forward that binds a
merge's side operand (a skip, a gate) to a variable; the caller holds the network's input and
output; dropout returns its input; a layer's scratch tensors (:meth:`Op.scratch`) exist while it
runs.

The model is the one PyTorch's CPU kernels follow (the emitted modules, as
``archc.load(spec).module()`` builds them); ``benchmarks/memory_truth.py`` measures both with
``torch.autograd.graph.saved_tensors_hooks`` and a dispatch mode that follows every tensor until it
is freed, and the tests hold the predictions to within 3% of those measurements for every
reference network, in float32 and bfloat16 (today they agree to the byte).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

import networkx as nx

from archc.dsl.ops import REGISTRY, Shape
from archc.dsl.ops.base import Saves

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "bool": 1}
#: Optimiser state per parameter, in parameters' worth of memory.
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}

#: What a layer of an op without a ``saves`` rule is assumed to keep: its inputs (what most ops keep).
ASSUMED = Saves(inputs=(0,))


def in_place(g: nx.DiGraph, name: str) -> bool:
    """Whether the emitted module runs this layer in place (an activation that can, ``Op.inplace``):
    its single operand is a layer's output (not the network input) that nothing else reads.  The
    code generator applies the same rule."""
    d = g.nodes[name]
    if name == "input" or not REGISTRY[d["op"]].inplace:
        return False
    preds = d["inputs"]
    return len(preds) == 1 and preds[0] != "input" and g.out_degree(preds[0]) == 1


def _saves(g: nx.DiGraph, name: str, batch: int) -> Saves | None:
    """The layer's ``saves`` rule, told whether it runs in place (``inplace``) and the batch size
    (``batch``: whether some kernels copy an operand depends on it)."""
    d = g.nodes[name]
    op = REGISTRY[d["op"]]
    args = {**d["args"], "inplace": in_place(g, name), "batch": batch}
    return op.saves(args, d["in_shapes"], d["shape"])


@dataclass
class Memory:
    """Bytes for a batch: parameters, what training keeps, and the two peaks."""

    batch: int
    dtype: str
    optimizer: str
    params: int  # bytes of the parameters
    buffers: int  # bytes of the buffers (batch-norm statistics), float32 (counters int64)
    saved: int  # bytes of the activations autograd keeps for backward
    output: int  # bytes of the network's output, when nothing keeps it already
    inference: int  # bytes of the largest set of activations alive at once in an inference forward
    per_layer: dict[str, int]  # bytes first kept by each layer
    no_rule: list[str] = field(default_factory=list)  # ops with no saves() rule (inputs assumed kept)

    @property
    def gradients(self) -> int:
        return self.params

    @property
    def optimizer_state(self) -> int:
        return OPTIMIZER_STATE[self.optimizer] * self.params

    @property
    def training_peak(self) -> int:
        """At the end of the forward pass: parameters, gradients, optimiser state, buffers, the
        activations kept for backward and the output."""
        return self.params + self.gradients + self.optimizer_state + self.buffers + self.saved + self.output

    @property
    def inference_peak(self) -> int:
        """Parameters, buffers and the largest set of activations alive at once (no autograd)."""
        return self.params + self.buffers + self.inference

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch,
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "params_bytes": self.params,
            "gradients_bytes": self.gradients,
            "optimizer_bytes": self.optimizer_state,
            "buffers_bytes": self.buffers,
            "saved_activations_bytes": self.saved,
            "output_bytes": self.output,
            "training_peak_bytes": self.training_peak,
            "inference_activations_bytes": self.inference,
            "inference_peak_bytes": self.inference_peak,
            "ops_without_rule": self.no_rule,
            "saved_per_layer": self.per_layer,
        }


def _bytes(kind: str, dtype: str) -> int:
    """Bytes per element of a kept tensor of ``kind`` (see :class:`Saves`) for activations in ``dtype``."""
    size = DTYPE_BYTES[dtype]
    if kind == "act":
        return size
    if kind == "act-unless-16bit":
        return 0 if size == 2 else size
    if kind == "float32-if-16bit":
        return 4 if size == 2 else 0
    return DTYPE_BYTES[kind]


def _buffer_bytes(shape: Shape, key: str) -> int:
    return prod(shape) * (8 if key.endswith("num_batches_tracked") else 4)


def memory(g: nx.DiGraph, batch: int = 1, dtype: str = "float32", optimizer: str = "momentum") -> Memory:
    """Training and inference memory of ``g`` for a batch of ``batch`` in ``dtype``."""
    size = DTYPE_BYTES[dtype]
    nodes = sorted(((n, d) for n, d in g.nodes(data=True)), key=lambda nd: nd[1]["order"])

    # which storage each layer's output lives in, and each storage's size
    storage: dict[str, str] = {}
    nbytes: dict[str, int] = {}
    rules: dict[str, Saves] = {}
    missing: set[str] = set()
    for name, d in nodes:
        if name == "input":
            storage[name] = name
            nbytes[name] = prod(d["shape"]) * batch * size
            continue
        rule = _saves(g, name, batch)
        if rule is None:
            missing.add(d["op"])
            rule = ASSUMED
        rules[name] = rule
        if rule.alias or in_place(g, name):
            storage[name] = storage[d["inputs"][0]]
        else:
            storage[name] = name
            nbytes[name] = prod(d["shape"]) * batch * size
    # in eval mode some layers return their input (dropout)
    evaluated = dict(storage)
    for name, d in nodes:
        if name != "input" and REGISTRY[d["op"]].identity_in_eval:
            evaluated[name] = evaluated[d["inputs"][0]]

    # what training keeps: each storage once, charged to the first layer that keeps it
    kept: dict[str, str] = {}  # storage -> the layer that first keeps it
    per_layer: dict[str, int] = {}
    for name, d in nodes:
        if name == "input":
            continue
        rule = rules[name]
        mine = [storage[d["inputs"][i]] for i in rule.inputs if i < len(d["inputs"])]
        if rule.output:
            mine.append(storage[name])
        own = 0
        for s in mine:
            if s not in kept:
                kept[s] = name
                own += nbytes[s]
        for k, (shape, kind, batched) in enumerate(rule.extra):
            extra = prod(shape) * (batch if batched else 1) * _bytes(kind, dtype)
            kept[f"{name}#{k}"] = name
            own += extra
        if own:
            per_layer[name] = own
    saved = sum(per_layer.values())
    out_storage = storage[g.graph["output"]]
    output = 0 if out_storage in kept else nbytes[out_storage]

    params = sum(prod(s) for d in (d for _, d in nodes) for _, s, buf in d["tensors"] if not buf) * size
    buffers = sum(_buffer_bytes(s, k) for _, d in nodes for k, s, buf in d["tensors"] if buf)
    return Memory(
        batch,
        dtype,
        optimizer,
        params,
        buffers,
        saved,
        output,
        _inference_activations(g, nodes, evaluated, nbytes, batch, dtype),
        per_layer,
        sorted(missing),
    )


def _inference_activations(
    g: nx.DiGraph,
    nodes: list[tuple[str, dict[str, Any]]],
    storage: dict[str, str],
    nbytes: dict[str, int],
    batch: int,
    dtype: str,
) -> int:
    """The most activation bytes alive at once in a forward pass without autograd: a storage lives
    from the layer that creates it to the last layer that reads it, or to the end of the module
    (block or sequence) whose input it is, since the calling forward holds it; a layer adds its
    scratch tensors (:meth:`Op.scratch`) while it runs.  Temporaries a kernel keeps to itself
    (attention's q, k and v, for one) are not included."""
    last: dict[str, int] = {}  # storage -> order of its last reader
    for name, d in nodes:
        s = storage[name]
        last[s] = max([last.get(s, d["order"]), *(g.nodes[n]["order"] for n in g.successors(name))])
    # a module (a block, or a sequence) holds its input until it returns: the caller's variable
    # stays bound during the call; the caller of the network holds its input and its output
    scopes = g.graph["scopes"]
    ends: dict[str, int] = {"": len(nodes)}  # module path -> order of its last layer
    for name, d in nodes:
        for b in _enclosing_blocks(name, scopes):
            ends[b] = max(ends.get(b, 0), d["order"])
    for name, d in nodes:
        for b in _enclosing_blocks(name, scopes):
            for i in d.get("inputs", ()):
                if not i.startswith(b + "."):
                    last[storage[i]] = max(last[storage[i]], ends[b])
    # the side operand of a merge (a skip, a gate) is a variable of the forward that writes the
    # merge, bound until that forward returns; so is its main operand when a flow of more than two
    # steps written inside the merge computes it (the code generator writes such a flow as
    # statements into a temporary variable, where a shorter one stays inside the merge's
    # expression; a flow assigned to the spec's own variable is taken to end there, as where the
    # merge rebinds that variable: y = x + y)
    external = _external_inputs(g, scopes)
    for u, v, skip in g.edges(data="skip"):
        if REGISTRY[g.nodes[v]["op"]].arity != 0:  # not a merge
            continue
        scope = g.nodes[v]["scope"]
        while scope and scope not in ends:
            scope = scope.rpartition(".")[0]
        if skip or (_written_inside(g, u, v, scope, scopes) and _flow_steps(g, u, scope, external) > 2):
            last[storage[u]] = max(last[storage[u]], ends.get(scope, len(nodes)))
    last[storage["input"]] = last[storage[g.graph["output"]]] = len(nodes)
    freed: dict[int, list[str]] = {}  # order of a layer -> the storages freed after it
    for s, j in last.items():
        freed.setdefault(j, []).append(s)
    live = peak = 0
    born: set[str] = set()
    for name, d in nodes:
        if storage[name] not in born:
            born.add(storage[name])
            live += nbytes[storage[name]]
        scratch = 0
        if name != "input":
            args = {**d["args"], "batch": batch}
            for shape, kind, batched in REGISTRY[d["op"]].scratch(args, d["in_shapes"], d["shape"]):
                scratch += prod(shape) * (batch if batched else 1) * _bytes(kind, dtype)
        peak = max(peak, live + scratch)
        for s in freed.get(d["order"], []):
            live -= nbytes[s]
    return peak


def _external_inputs(g: nx.DiGraph, scopes: dict[str, Any]) -> dict[str, set[str]]:
    """For every module (block or sequence), the layers outside it that its layers read."""
    external: dict[str, set[str]] = {}
    for name, d in g.nodes(data=True):
        for b in _enclosing_blocks(name, scopes):
            external.setdefault(b, set()).update(i for i in d.get("inputs", ()) if not i.startswith(b + "."))
    return external


def _written_inside(g: nx.DiGraph, u: str, v: str, scope: str, scopes: dict[str, Any]) -> bool:
    """Whether the step of module ``scope`` that computes ``u`` is written inside merge ``v``'s
    expression in the spec (its span lies within the merge's)."""
    prefix = scope + "." if scope else ""
    child = prefix + u[len(prefix) :].split(".")[0]
    if child in scopes:
        inner = scopes[child].span
    elif child in g.nodes:
        inner = g.nodes[child]["span"]
    else:
        return False
    outer = g.nodes[v]["span"]
    if inner is None or outer is None or inner.file != outer.file:
        return False
    return (outer.line, outer.col) <= (inner.line, inner.col) and (inner.end_line, inner.end_col) <= (
        outer.end_line,
        outer.end_col,
    )


def _flow_steps(g: nx.DiGraph, u: str, scope: str, external: dict[str, set[str]]) -> int:
    """How many steps of the module ``scope`` (its own layers and child modules, one each) the
    flow ending at layer ``u`` has, back to where it starts: a value that something else reads
    too, or the module's input."""
    prefix = scope + "." if scope else ""
    steps, cur = 0, u
    while cur != "input" and cur.startswith(prefix):
        child = prefix + cur[len(prefix) :].split(".")[0]
        steps += 1
        ins = set(g.nodes[cur]["inputs"]) if child == cur else external.get(child, set())
        if len(ins) != 1:
            break
        (cur,) = ins
        readers = {prefix + s[len(prefix) :].split(".")[0] for s in g.successors(cur)}
        if len(readers) > 1:  # a value the flow shares: where it starts
            break
    return steps


def _enclosing_blocks(name: str, scopes: dict[str, Any]) -> list[str]:
    """The modules (blocks and sequences) a layer is inside: ``layer1`` and ``layer1.0`` for
    ``layer1.0.conv1``."""
    parts = name.split(".")
    return [p for p in (".".join(parts[:k]) for k in range(1, len(parts))) if p in scopes]
