"""``archc summary``: per-layer table, JSON or CSV, and the static analyses (no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archc.dsl.analysis import Row, human, rows, stage_totals
from archc.dsl.ops import fmt

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled
    from archc.dsl.counting import Ledger

#: What one MAC is, wherever a figure is printed.
MAC_UNIT = "1 MAC = one multiply-add = 2 FLOPs"


def check_line(c: Compiled) -> str:
    t = c.totals
    return (
        f"{c.name}: ok: {fmt(t.input_shape)} -> {fmt(t.output_shape)}, "
        f"{t.params:,} parameters, {t.macs:,} MACs ({human(t.macs)}), {t.layers} layers"
    )


def _rows(c: Compiled, depth: int | None, count: Ledger | None) -> list[Row]:
    return rows(c.graph, depth, count.per_layer if count is not None else None)


def summary_data(c: Compiled, depth: int | None = None, count: Ledger | None = None) -> dict[str, Any]:
    t = c.totals
    layers = []
    for r in _rows(c, depth, count):
        row = r.as_dict(t.params)
        if count is not None:
            row["count"] = r.count
        layers.append(row)
    return {
        "network": c.name,
        "file": c.program.project_path(c.network.file),
        "parameters": {k: _plain(v) for k, v in c.network.params.items()},
        "input_shape": ["B", *t.input_shape],
        "output_shape": ["B", *t.output_shape],
        "totals": {
            "params": t.params,
            "buffers": t.buffers,
            "macs": t.macs,
            "macs_other": t.macs_other,
            "layers": t.layers,
        },
        "macs_convention": f"{MAC_UNIT}; macs counts conv, linear and attention (torchvision's published "
        "convention); macs_other counts norms and adaptive pooling as fvcore does",
        "ops_not_counted": t.uncounted,
        "stages": stage_totals(c.graph),
        "layers": layers,
    }


def _plain(v: Any) -> Any:
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return str(v)


def _count_cell(n: int | None) -> str:
    return "?" if n is None else (f"{n:,}" if n else "")


def _macs_header(count: Ledger | None) -> str:
    return "MACs" if count is None else f"MACs ({count.convention.name})"


def to_csv(c: Compiled, depth: int | None, count: Ledger | None = None) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    extra = [f"count_{count.convention.name}"] if count is not None else []
    w.writerow(["name", "op", "output_shape", "params", "params_share", "macs", "macs_other", *extra])
    total = c.totals.params
    for r in _rows(c, depth, count):
        share = f"{r.params / total:.6f}" if total else "0"
        more = [("" if r.count is None else r.count)] if count is not None else []
        w.writerow([r.name, r.op, fmt(r.shape), r.params, share, r.macs, r.macs_other, *more])
    return buf.getvalue()


def to_table(c: Compiled, depth: int | None, count: Ledger | None = None) -> Any:
    from rich.table import Table

    t = c.totals
    macs = t.macs if count is None else count.total
    title = f"{c.name}  ({c.network.file})" + (
        f"  MACs as {count.convention.name} counts them" if count else ""
    )
    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("layer", footer="total", no_wrap=True)
    table.add_column("op")  # wraps on a narrow terminal, so that the numbers never do
    table.add_column("output", footer=fmt(t.output_shape), no_wrap=True)
    table.add_column("params", justify="right", footer=f"{t.params:,}", no_wrap=True)
    table.add_column("share", justify="right", footer="100.0%", no_wrap=True)
    table.add_column("MACs", justify="right", footer=f"{macs:,}", no_wrap=True)
    for r in _rows(c, depth, count):
        name = "  " * r.depth + r.name.rpartition(".")[2] if depth else r.name
        table.add_row(name, *_cells(r, t.params, count is not None))
    return table


def _cells(r: Row, total: int, counted: bool = False) -> tuple[str, str, str, str, str]:
    """op, output, params, share and MACs of one summary row, as printed."""
    share = f"{100 * r.params / total:.1f}%" if total and r.params else ""
    macs = _count_cell(r.count) if counted else (f"{r.macs:,}" if r.macs else "")
    return r.op, fmt(r.shape), f"{r.params:,}" if r.params else "", share, macs


def columns(rows: Sequence[Sequence[str]], left: int) -> list[str]:
    """Rows as aligned text: the first ``left`` columns flush left, the others flush right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def to_plain(c: Compiled, depth: int | None, count: Ledger | None = None) -> str:
    """The summary table as plain text, for pipes and files."""
    t = c.totals
    macs = t.macs if count is None else count.total
    table: list[tuple[str, ...]] = [("layer", "op", "output", "params", "share", _macs_header(count))]
    table += [(r.name, *_cells(r, t.params, count is not None)) for r in _rows(c, depth, count)]
    table.append(("total", "", fmt(t.output_shape), f"{t.params:,}", "100.0%", f"{macs:,}"))
    return "\n".join(columns(table, left=3)) + "\n"


def footer_lines(c: Compiled) -> list[str]:
    t = c.totals
    lines = [
        f"input {fmt(t.input_shape)} -> output {fmt(t.output_shape)} (batch dimension B omitted)",
        f"parameters {t.params:,} ({human(t.params)}), buffers {t.buffers:,}",
        f"MACs {t.macs:,} ({human(t.macs)}) in conv, linear and attention; "
        f"{t.macs_other:,} more in norms and adaptive pooling ({MAC_UNIT})",
    ]
    if t.uncounted:
        lines.append("no MACs counted for: " + ", ".join(t.uncounted))
    return lines


# ------------------------------------------------------------------ counting conventions


def count_lines(c: Compiled, count: Ledger) -> list[str]:
    """A convention's total, its unit, and per op what it counts or skips."""
    conv = count.convention
    lines = [
        f"{conv.name}: {count.total:,} ({human(count.total)}) for one sample"
        + ("" if count.complete else f" without the ops it has no rule for ({', '.join(count.no_rule)})"),
        f"  unit: {conv.unit}",
        f"  reproduces: {conv.tool}",
    ]
    table = [("op", "layers", "count", "rule")]
    for op, e in count.ops.items():
        table.append((op, str(e.layers), _count_cell(e.count) or "0", e.says))
    head = columns([r[:3] for r in table], left=1)
    return lines + [f"  {a}  {r[3]}" for a, r in zip(head, table, strict=True)]


def count_all_lines(c: Compiled) -> list[str]:
    """Every convention's total side by side, with the default (torchvision's dense MACs plus
    fvcore's norms and pooling)."""
    from archc.dsl.counting import all_ledgers

    t = c.totals
    table = [("convention", "total", "", "counts")]
    table.append(("archc (default)", f"{t.macs + t.macs_other:,}", human(t.macs + t.macs_other),
                  "dense MACs plus norms and adaptive pooling as fvcore counts them"))  # fmt: skip
    for name, ledger in all_ledgers(c.graph).items():
        mark = "" if ledger.complete else " (incomplete)"
        table.append((name, f"{ledger.total:,}{mark}", human(ledger.total), ledger.convention.unit))
    head = columns([r[:3] for r in table], left=1)
    return [f"{a}  {r[3]}" for a, r in zip(head, table, strict=True)] + [f"({MAC_UNIT})"]


def count_data(c: Compiled, name: str | None) -> dict[str, Any]:
    from archc.dsl.counting import CONVENTIONS, ledger

    names = list(CONVENTIONS) if name in (None, "all") else [name]
    return {n: ledger(c.graph, n).as_dict() for n in names}


def gate_lines(c: Compiled) -> list[str]:
    """What the gating (SE) blocks add, per stage and in total, next to the SE paper's estimate."""
    from archc.dsl.analysis import gates

    stages = gates(c.graph)
    if not stages:
        return ["no gating (SE) blocks in this network"]
    rows = [("stage", "blocks", "channels", "params", "(2/r)·N·C²", "difference")]
    for s in stages:
        chans = sorted(set(s.channels))
        rows.append((s.stage, str(s.blocks), ",".join(map(str, chans)), f"{s.params:,}", f"{s.estimate:,.0f}",
                     f"{s.params - s.estimate:,.0f}"))  # fmt: skip
    total = sum(s.params for s in stages)
    estimate = sum(s.estimate for s in stages)
    rows.append(("total", str(sum(s.blocks for s in stages)), "", f"{total:,}", f"{estimate:,.0f}",
                 f"{total - estimate:,.0f}"))  # fmt: skip
    lines = columns(rows, left=3)
    biases = sum(s.biases for s in stages)
    share = 100 * total / c.params
    lines.append(
        f"the gates add {total:,} parameters ({share:.1f}% of {c.params:,}); the SE paper's "
        "(2/r)·Σ N_s·C_s² counts the weights of the two fully connected layers only, and the difference, "
        f"{total - estimate:,.0f}, is their biases (C/r + C per block: {biases:,})"
    )
    return lines


def gate_data(c: Compiled) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from archc.dsl.analysis import gates

    return [asdict(g) for g in gates(c.graph)]


# ------------------------------------------------------------------ memory


def memory_data(c: Compiled, batch: int, dtype: str, optimizer: str = "momentum") -> dict[str, Any]:
    from archc.dsl.memory import memory

    return memory(c.graph, batch, dtype, optimizer).as_dict()


def memory_lines(c: Compiled, batch: int, dtype: str, optimizer: str = "momentum") -> list[str]:
    from archc.dsl.memory import memory

    m = memory(c.graph, batch, dtype, optimizer)

    def mib(n: int) -> str:
        return f"{n / 2**20:,.1f} MiB"

    lines = [
        f"memory at batch {batch}, {dtype}, training mode:",
        f"  activations autograd keeps for backward  {mib(m.saved)}",
        f"  training peak (end of forward)           {mib(m.training_peak)} = parameters {mib(m.params)}"
        f" + gradients {mib(m.gradients)} + {optimizer} state {mib(m.optimizer_state)}"
        f" + buffers {mib(m.buffers)} + activations {mib(m.saved)} + output {mib(m.output)}",
        f"  inference peak (no autograd)             {mib(m.inference_peak)} = parameters and buffers "
        f"{mib(m.params + m.buffers)} + the most activations alive at once {mib(m.inference)}",
    ]
    if m.no_rule:
        lines.append(f"  no memory rule for: {', '.join(m.no_rule)} (counted as keeping their inputs)")
    return lines


# ------------------------------------------------------------------ receptive fields


def rf_data(c: Compiled) -> list[dict[str, Any]]:
    from archc.dsl.receptive import receptive_fields

    return [f.as_dict() for f in receptive_fields(c.graph)]


def rf_lines(c: Compiled) -> list[str]:
    from archc.dsl.receptive import receptive_fields

    shapes = {d["name"]: d["shape"] for _, d in c.graph.nodes(data=True)}
    table = [("layer", "op", "output", "receptive field", "stride")]
    unknown: set[str] = set()
    for f in receptive_fields(c.graph):
        table.append((f.name, f.op, fmt(shapes[f.name]), f.size_text, f.jump_text))
        if f.h.unknown:
            unknown.add(f.h.unknown)
    lines = columns(table, left=3)
    lines.append(
        "receptive field: input pixels one output position sees (padding included); stride: input "
        "pixels between neighbouring positions; whole: every position sees the whole input"
    )
    if unknown:
        lines.append(
            f"no receptive-field rule for: {', '.join(sorted(unknown))}; later layers are unknown (?)"
        )
    return lines


# ------------------------------------------------------------------ resolution


def resolution_data(c: Compiled) -> dict[str, Any] | None:
    from archc.dsl.resolution import analyse

    r = analyse(c.graph)
    return None if r is None else r.as_dict()


def resolution_lines(c: Compiled) -> list[str]:
    from archc.dsl.resolution import analyse

    r = analyse(c.graph)
    if r is None:
        return [f"input {fmt(c.input_shape)} is not an image: no resolution analysis"]
    lines = [
        f"input sizes (square, HxW; the spec's is {r.spec_size[0]}x{r.spec_size[1]}):",
        f"  smallest that compiles with these weights: {r.min_size if r.min_size is not None else 'none'}",
        f"  valid: {r.describe()}",
    ]
    exact = r.describe_exact()
    if exact and exact != r.describe():
        lines.append(f"  every stride divides evenly (no rows or columns dropped by rounding): {exact}")
    if r.pinned_by:
        also = sorted(set(r.compiles) - set(r.valid))
        resized = f"; resized, {_ranges_text(also)} also compile" if also else ""
        lines.append(
            f"  the weights fix the size: at other sizes {', '.join(r.pinned_by)} "
            f"{'changes' if len(r.pinned_by) == 1 else 'change'} shape{resized}"
        )
    beyond = f", and the pattern repeats every {r.period} beyond" if r.periodic else ""
    lines.append(f"  total stride {r.period}; sizes 1-{r.scanned} checked{beyond}")
    return lines


def _ranges_text(sizes: list[int]) -> str:
    from archc.dsl.resolution import ranges

    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in ranges(sizes)]
    return ", ".join(parts[:6]) + (" ..." if len(parts) > 6 else "")


def symbolic_data(c: Compiled) -> dict[str, Any]:
    from archc.dsl.resolution import NoFormula, formulas

    try:
        f = formulas(c.graph)
    except NoFormula as e:
        return {"error": str(e)}
    return {
        "valid_for": f"H and W multiples of {f.step} from {f.first}",
        "macs": f.total_macs.text(),
        "params": f.total_params.text(),
        "resized_with_the_input": f.pinned_by,
        "layers": [
            {"name": n, "output_shape": [p.text() for p in f.shapes[n]], "macs": f.macs[n].text()}
            for n in f.shapes
        ],
    }


def symbolic_lines(c: Compiled, depth: int | None = None) -> list[str]:
    from archc.dsl.resolution import NoFormula, Poly, formulas

    try:
        f = formulas(c.graph)
    except NoFormula as e:
        return [f"no formulas in H and W: {e}"]
    folded: dict[str, tuple[str, Poly]] = {}  # row -> (its last layer, MACs summed)
    for n in f.shapes:
        key = ".".join(n.split(".")[:depth]) if depth is not None else n
        last, total = folded.get(key, (n, Poly(())))
        folded[key] = (n, total + f.macs[n])
    table = [("layer", "output", "MACs")]
    for key, (last, m) in folded.items():
        table.append((key, f.shape_text(last), m.text() if m.terms else ""))
    where = f"H, W multiples of {f.step}" + (f" from {f.first}" if f.first > f.step else "")
    lines = columns(table, left=2)
    lines += [
        f"MACs = {f.total_macs.text()}   ({where}; {MAC_UNIT})",
        f"parameters = {f.total_params.text()}",
    ]
    if f.pinned_by:
        lines.append(f"with {', '.join(f.pinned_by)} resized to the input (the spec's weights fix its size)")
    if f.step > 1:
        lines.append("at other sizes the strides round down; archc summary --input CxHxW gives exact counts")
    return lines
