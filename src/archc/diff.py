"""``archc diff``: what B changes against A, per stage and per layer (no torch).

The two layer graphs are aligned by :func:`archc.dsl.align.align`; this module turns the
alignment into a report: one row per stage (top-level layer or module) with parameters, MACs and
output shape on both sides, and the list of changes in network order.  A change is reported
where it happens: an added or removed module is one entry (not one per layer inside it), a block
whose arguments changed is one entry, and a module in which only shapes changed, because
something before it changed (ViT's encoder when the patch size grows), is one entry with its new
output shape.  ``depth`` folds the entries below it into their module, as ``summary --depth``.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archc.dsl.align import Alignment, Pair, align
from archc.dsl.ops import Shape, fmt
from archc.dsl.values import show as _show
from archc.render import layer_text, module_text
from archc.summary import columns

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled

MARKS = {"added": "+", "removed": "-", "changed": "~", "same": " "}


@dataclass
class Entry:
    """One line of the change list."""

    change: str  # added | removed | changed (in itself) | reshaped (only shapes carried in)
    a: str | None
    b: str | None
    kind: str  # layer | module
    what: str  # what it is, or what it became: ``relu → gelu``
    shape: tuple[Shape | None, Shape | None]
    params: tuple[int, int]
    macs: tuple[int, int]

    @property
    def path(self) -> str:
        if self.a is not None and self.b is not None and self.a != self.b:
            return f"{self.a} → {self.b.rpartition('.')[2]}"
        return self.b if self.b is not None else self.a or ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "a": self.a,
            "b": self.b,
            "kind": self.kind,
            "what": self.what,
            "output_shape": [_shape(s) for s in self.shape],
            "params": list(self.params),
            "macs": list(self.macs),
        }


def changes(al: Alignment, a: Compiled, b: Compiled, depth: int | None = None) -> list[Entry]:
    """The changes of B against A in network order, folded below ``depth``."""
    out: list[Entry] = []
    for ch in al.root.children:
        _collect(ch, a, b, depth, out)
    return out


def _collect(p: Pair, a: Compiled, b: Compiled, depth: int | None, out: list[Entry]) -> None:
    if p.status == "same":
        return
    renamed = "name" in p.changes
    if p.kind == "layer" or p.status != "changed" or not p.structural or (p.own and not renamed):
        out.append(_entry(p, a, b))
    elif depth is not None and p.level >= depth:
        inner: list[Entry] = []
        for ch in p.children:
            _collect(ch, a, b, None, inner)
        out.append(_entry(p, a, b, _summary(inner)))
    else:
        if p.own:  # renamed: say so, then show what changed inside
            out.append(_entry(p, a, b))
        for ch in p.children:
            _collect(ch, a, b, depth, out)


def _entry(p: Pair, a: Compiled, b: Compiled, what: str | None = None) -> Entry:
    change = p.status if p.status in ("added", "removed") else "changed" if p.structural else "reshaped"
    return Entry(change, p.a, p.b, p.kind, what or _what(p, a, b), p.shape, p.params, p.macs)


def _what(p: Pair, a: Compiled, b: Compiled) -> str:
    """What the pair is on each side, in a few words (``A → B`` where they differ)."""
    ta = _text(a, p.a, p.kind) if p.a is not None else None
    tb = _text(b, p.b, p.kind) if p.b is not None else None
    if p.kind == "module" and "args" in p.changes and p.a is not None and p.b is not None:
        sa, sb = a.graph.graph["scopes"][p.a], b.graph.graph["scopes"][p.b]
        args = [
            f"{k}={_show(sa.args.get(k))} → {_show(v)}" for k, v in sb.args.items() if sa.args.get(k) != v
        ]
        return f"{sb.definition}({', '.join(args)})"
    if ta is None or tb is None or ta == tb:
        text = tb if tb is not None else ta or ""
        if "input" in p.changes and "shape" not in p.changes:
            shapes = (_in_shape(a, p.a, p.kind), _in_shape(b, p.b, p.kind))
            text += f" (input {fmt(shapes[0])} → {fmt(shapes[1])})"
        return text
    return f"{ta} → {tb}"


def _text(c: Compiled, path: str, kind: str) -> str:
    if kind == "layer":
        return layer_text(c.graph.nodes[path])
    return module_text(c.graph.graph["scopes"][path], c.graph, sep="; ")


def _in_shape(c: Compiled, path: str | None, kind: str) -> Shape | None:
    if path is None:
        return None
    if kind == "layer":
        shapes = c.graph.nodes[path]["in_shapes"]
        return tuple(shapes[0]) if len(shapes) == 1 else None
    shape: Shape | None = c.graph.graph["scopes"][path].in_shape
    return shape


def _summary(inner: list[Entry]) -> str:
    """Folded entries in a few words: ``3 added: se(reduction=16)``, ``9 changed: relu → gelu``."""
    groups = Counter((e.change, e.what) for e in inner)
    parts = [
        f"{n} {change}: {what}" if n > 1 else f"{change}: {what}"
        for (change, what), n in groups.most_common()
    ]
    if len(parts) > 3:
        counts = Counter(e.change for e in inner)
        return ", ".join(f"{n} {change}" for change, n in counts.most_common())
    return "; ".join(parts)


def _shape(s: Shape | None) -> list[int] | None:
    return list(s) if s is not None else None


def _shape_text(shape: tuple[Shape | None, Shape | None]) -> str:
    sa, sb = shape
    if sa is None or sb is None or sa == sb:
        return fmt(sb if sb is not None else sa)
    return f"{fmt(sa)} → {fmt(sb)}"


def _label(c: Compiled) -> str:
    from archc.dsl.values import show

    return f"{c.name} ({', '.join(f'{k}={show(v)}' for k, v in c.network.params.items())})"


def stages(al: Alignment) -> list[Pair]:
    """The top-level pairs: stages, and the layers of the network itself."""
    return list(al.root.children)


def _counts(al: Alignment) -> dict[str, int]:
    """Layers added, removed, changed in themselves, and changed only in shape."""
    out = {"added": 0, "removed": 0, "changed": 0, "reshaped": 0}
    for p in al.layers():
        if p.status in ("added", "removed"):
            out[p.status] += 1
        elif p.status == "changed":
            out["changed" if p.own else "reshaped"] += 1
    return out


def diff_data(a: Compiled, b: Compiled, depth: int | None = None) -> dict[str, Any]:
    """The diff as plain data (what ``archc diff --format json`` prints)."""
    al = align(a.graph, b.graph)
    return {
        "a": _side(a),
        "b": _side(b),
        "stages": [
            {
                "stage": p.path,
                "a": p.a,
                "b": p.b,
                "change": _stage_change(p),
                "output_shape": [_shape(s) for s in p.shape],
                "params": list(p.params),
                "macs": list(p.macs),
            }
            for p in stages(al)
        ],
        "changes": [e.as_dict() for e in changes(al, a, b, depth)],
        "layers": _counts(al),
        "total": {"params": [a.params, b.params], "macs": [a.macs, b.macs]},
    }


def _side(c: Compiled) -> dict[str, Any]:
    return {
        "network": _label(c),
        "file": c.program.project_path(c.network.file),
        "input_shape": list(c.input_shape),
        "output_shape": list(c.output_shape),
    }


def _stage_change(p: Pair) -> str:
    if p.status in ("added", "removed", "same"):
        return p.status
    return "changed" if p.structural else "reshaped"


def diff_lines(a: Compiled, b: Compiled, depth: int | None = None) -> list[str]:
    """The diff as text: both networks, a table of stages, the changes, and the totals."""
    al = align(a.graph, b.graph)
    rows = [("", "stage", "output", "params A", "params B", "difference", "MACs A", "MACs B", "difference")]
    for p in stages(al):
        (pa, pb), (ma, mb) = p.params, p.macs
        if p.status == "same" and (pa, pb, ma, mb) == (0, 0, 0, 0):
            continue
        mark = MARKS[p.status] if p.status != "changed" or p.structural else ">"
        rows.append((mark, _name(p), _shape_text(p.shape), f"{pa:,}", f"{pb:,}", f"{pb - pa:+,}", f"{ma:,}",
                     f"{mb:,}", f"{mb - ma:+,}"))  # fmt: skip
    out = _shape_text((a.output_shape, b.output_shape))
    rows.append(("", "total", out, f"{a.params:,}", f"{b.params:,}", f"{b.params - a.params:+,}",
                 f"{a.macs:,}", f"{b.macs:,}", f"{b.macs - a.macs:+,}"))  # fmt: skip
    lines = [
        f"A: {_label(a)} [{a.network.file}]: {fmt(a.input_shape)} -> {fmt(a.output_shape)}",
        f"B: {_label(b)} [{b.network.file}]: {fmt(b.input_shape)} -> {fmt(b.output_shape)}",
        "",
        *columns(rows, left=3),
        "",
    ]
    entries = changes(al, a, b, depth)
    if entries:
        lines.append("changes in B, in network order (+ added, - removed, ~ changed, > new shapes only):")
        erows = [("", "layer", "what", "output", "params", "MACs")]
        for e in entries:
            mark = {"added": "+", "removed": "-", "changed": "~", "reshaped": ">"}[e.change]
            (pa, pb), (ma, mb) = e.params, e.macs
            erows.append((mark, e.path, e.what, _shape_text(e.shape), f"{pb - pa:+,}", f"{mb - ma:+,}"))
        lines += columns(erows, left=4)
    else:
        lines.append("no layer differs")
    n = _counts(al)
    lines += [
        "",
        f"layers: {n['added']} added, {n['removed']} removed, {n['changed']} changed, "
        f"{n['reshaped']} with new shapes only",
    ]
    if a.params and a.macs:
        dp = 100 * (b.params - a.params) / a.params
        dm = 100 * (b.macs - a.macs) / a.macs
        lines.append(f"B has {dp:+.2f}% parameters and {dm:+.2f}% MACs relative to A")
    return lines


def _name(p: Pair) -> str:
    if p.a is not None and p.b is not None and p.a != p.b:
        return f"{p.a} → {p.b}"
    return p.path


def to_csv(a: Compiled, b: Compiled, depth: int | None = None) -> str:
    """The change list as CSV, one row per change, and a last row with the totals."""
    al = align(a.graph, b.graph)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["change", "a", "b", "kind", "what", "output_a", "output_b", "params_a", "params_b",
                "params_delta", "macs_a", "macs_b", "macs_delta"])  # fmt: skip
    for e in changes(al, a, b, depth):
        (pa, pb), (ma, mb) = e.params, e.macs
        w.writerow([e.change, e.a or "", e.b or "", e.kind, e.what, fmt(e.shape[0]) if e.shape[0] else "",
                    fmt(e.shape[1]) if e.shape[1] else "", pa, pb, pb - pa, ma, mb, mb - ma])  # fmt: skip
    w.writerow(["total", "", "", "network", "", fmt(a.output_shape), fmt(b.output_shape), a.params, b.params,
                b.params - a.params, a.macs, b.macs, b.macs - a.macs])  # fmt: skip
    return buf.getvalue()
