"""How one network's tensors map onto another's, from keys and shapes alone (no torch).

``archc weights map A B`` and ``--weights`` (a checkpoint of A loaded into B) use the same map:

1. **kept**: the same ``state_dict`` key with the same shape, for every module whose tensors in
   both networks agree (resnet50 → se_resnet50: every tensor of resnet50; resnet50 → a GELU
   variant: all of them);
2. **moved**: the other modules, aligned in ``state_dict`` order by their tensors' names and
   shapes: a layer inserted in a sequence renumbers the ones after it (vgg16 → vgg16_bn);
3. then, under the same key: **kept** when the shapes agree; **reshaped** for the stem
   convolution with another number of input channels (3 → 1), adapted as timm's
   ``adapt_input_conv`` does; **skipped** otherwise (a classifier for 10 classes instead of
   1000): the target keeps its initial values;
4. **new**: in the target only (the SE blocks of se_resnet50, the extra blocks of a deeper
   network); **unused**: in the source only.

The alignment in step 2 is difflib's longest-matching-blocks over module signatures; a
structural diff of the two layer graphs (ops, arguments, shapes) could supply these pairs with
more evidence than tensor shapes.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

Shape = tuple[int, ...]
KINDS = ("kept", "moved", "reshaped", "skipped", "new", "unused")


@dataclass(frozen=True)
class Entry:
    kind: str
    source: str | None
    target: str | None
    source_shape: Shape | None
    target_shape: Shape | None

    @property
    def key(self) -> str:
        return self.target if self.target is not None else str(self.source)

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "source": self.source,
            "target": self.target,
            "source_shape": list(self.source_shape) if self.source_shape is not None else None,
            "target_shape": list(self.target_shape) if self.target_shape is not None else None,
        }


@dataclass
class WeightMap:
    entries: list[Entry]

    def of(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    @property
    def exact(self) -> bool:
        """Every tensor kept under its own key: what ``--strict`` accepts."""
        return all(e.kind == "kept" for e in self.entries)

    def groups(self) -> dict[str, dict[str, int]]:
        """Counts of each kind per top-level module (``conv1``, ``layer1``, ``fc``), in order."""
        out: dict[str, dict[str, int]] = {}
        for e in self.entries:
            group = out.setdefault(e.key.split(".")[0], dict.fromkeys(KINDS, 0))
            group[e.kind] += 1
        return out


def _module(key: str) -> str:
    return key.rpartition(".")[0]


def _leaf(key: str) -> str:
    return key.rpartition(".")[2]


def _modules(tensors: Sequence[tuple[str, Shape]]) -> list[tuple[str, tuple[tuple[str, Shape], ...]]]:
    """Tensors grouped by module, in order: (module path, ((leaf name, shape), ...))."""
    out: dict[str, list[tuple[str, Shape]]] = {}
    for key, shape in tensors:
        out.setdefault(_module(key), []).append((_leaf(key), shape))
    return [(m, tuple(sig)) for m, sig in out.items()]


def _stem_conv(key: str, target: Sequence[tuple[str, Shape]]) -> bool:
    """``key`` is the weight of the first convolution (the first 4-d tensor of the network)."""
    first = next((k for k, s in target if len(s) == 4), None)
    return key == first


def map_tensors(source: Sequence[tuple[str, Shape]], target: Sequence[tuple[str, Shape]]) -> WeightMap:
    """The map of ``source``'s tensors (key, shape) onto ``target``'s, in ``target``'s order."""
    src = dict(source)
    found: dict[str, Entry] = {}
    used: set[str] = set()

    def take(kind: str, s_key: str, t_key: str, s_shape: Shape, t_shape: Shape) -> None:
        found[t_key] = Entry(kind, s_key, t_key, s_shape, t_shape)
        used.add(s_key)

    # 1. modules under the same path whose common tensors all have the same shapes
    common: dict[str, bool] = {}
    for key, shape in target:
        if key in src:
            common[_module(key)] = common.get(_module(key), True) and src[key] == shape
    matched = {m for m, same in common.items() if same}
    for key, shape in target:
        if _module(key) in matched and key in src:
            take("kept", key, key, shape, shape)
    # 2. the other modules, aligned in order by their tensors' names and shapes
    t_mods = [(m, sig) for m, sig in _modules(target) if m not in matched]
    s_mods = [(m, sig) for m, sig in _modules(source) if m not in matched]
    matcher = difflib.SequenceMatcher(None, [s for _, s in s_mods], [s for _, s in t_mods], autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.size):
            s_mod, sig = s_mods[block.a + j]
            t_mod, _ = t_mods[block.b + j]
            for leaf, shape in sig:
                s_key, t_key = f"{s_mod}.{leaf}" if s_mod else leaf, f"{t_mod}.{leaf}" if t_mod else leaf
                take("kept" if s_key == t_key else "moved", s_key, t_key, shape, shape)
    # 3. what is left under the same key: kept when the shape agrees, else reshaped or skipped
    for key, shape in target:
        have = src.get(key)
        if key in found or have is None or key in used:
            continue
        stem = len(shape) == 4 and len(have) == 4 and have[0] == shape[0] and have[2:] == shape[2:]
        kind = "kept" if have == shape else "reshaped" if stem and _stem_conv(key, target) else "skipped"
        take(kind, key, key, have, shape)
    entries = [found.get(key) or Entry("new", None, key, None, shape) for key, shape in target]
    entries += [Entry("unused", key, None, shape, None) for key, shape in source if key not in used]
    return WeightMap(entries)


def report(m: WeightMap, source_name: str, target_name: str, limit: int = 12) -> list[str]:
    """The map for a person: a count per kind and top-level module, then the keys that are not
    simply kept (the first ``limit`` of each kind)."""
    groups = m.groups()
    shown = [k for k in KINDS if any(g[k] for g in groups.values())]
    width = max([len("group"), *map(len, groups)])
    lines = [f"{source_name} → {target_name}: {len(m.of('kept'))} of {sum(1 for e in m.entries if e.target)} "
             f"tensors kept" + ("" if m.exact else ", the rest below")]  # fmt: skip
    lines.append(f"{'group':<{width}}  " + "  ".join(f"{k:>8}" for k in shown))
    for name, g in groups.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{g[k] or '':>8}" for k in shown))
    total = {k: sum(g[k] for g in groups.values()) for k in shown}
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{total[k]:>8}" for k in shown))
    for kind in KINDS[1:]:
        found = m.of(kind)
        if not found:
            continue
        count = sum(prod(e.target_shape or e.source_shape or ()) for e in found)
        lines.append(f"{kind} ({len(found)} tensors, {count:,} values):")
        for e in found[:limit]:
            lines.append("  " + _describe(e))
        if len(found) > limit:
            lines.append(f"  ... and {len(found) - limit} more")
    return lines


def _describe(e: Entry) -> str:
    def shape(s: Shape | None) -> str:
        return "x".join(map(str, s)) if s else "scalar"

    if e.kind == "moved":
        return f"{e.source} → {e.target} ({shape(e.target_shape)})"
    if e.kind in ("skipped", "reshaped"):
        how = " (input channels adapted)" if e.kind == "reshaped" else " (keeps its initial values)"
        return f"{e.target}: {shape(e.source_shape)} → {shape(e.target_shape)}{how}"
    return f"{e.key} ({shape(e.target_shape or e.source_shape)})"
