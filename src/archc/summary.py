"""``archc summary``: per-layer table, JSON or CSV (no torch)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archc.dsl.analysis import Row, human, stage_totals
from archc.dsl.ops import fmt

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled


def check_line(c: Compiled) -> str:
    t = c.totals
    return (
        f"{c.name}: ok: {fmt(t.input_shape)} -> {fmt(t.output_shape)}, "
        f"{t.params:,} parameters, {t.macs:,} MACs ({human(t.macs)}), {t.layers} layers"
    )


def summary_data(c: Compiled, depth: int | None = None) -> dict[str, Any]:
    t = c.totals
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
        "macs_convention": "one multiply-add = one MAC; macs counts conv, linear and attention; "
        "macs_other counts norms and adaptive pooling as fvcore does",
        "ops_not_counted": t.uncounted,
        "stages": stage_totals(c.graph),
        "layers": [r.as_dict(t.params) for r in c.rows(depth)],
    }


def _plain(v: Any) -> Any:
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return str(v)


def to_csv(c: Compiled, depth: int | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "op", "output_shape", "params", "params_share", "macs", "macs_other"])
    total = c.totals.params
    for r in c.rows(depth):
        share = f"{r.params / total:.6f}" if total else "0"
        w.writerow([r.name, r.op, fmt(r.shape), r.params, share, r.macs, r.macs_other])
    return buf.getvalue()


def to_table(c: Compiled, depth: int | None) -> Any:
    from rich.table import Table

    t = c.totals
    table = Table(title=f"{c.name}  ({c.network.file})", title_justify="left", show_footer=True)
    table.add_column("layer", footer="total", no_wrap=True)
    table.add_column("op", no_wrap=True)
    table.add_column("output", footer=fmt(t.output_shape), no_wrap=True)
    table.add_column("params", justify="right", footer=f"{t.params:,}")
    table.add_column("share", justify="right", footer="100.0%")
    table.add_column("MACs", justify="right", footer=f"{t.macs:,}")
    for r in c.rows(depth):
        name = "  " * r.depth + r.name.rpartition(".")[2] if depth else r.name
        table.add_row(name, *_cells(r, t.params))
    return table


def _cells(r: Row, total: int) -> tuple[str, str, str, str, str]:
    """op, output, params, share and MACs of one summary row, as printed."""
    share = f"{100 * r.params / total:.1f}%" if total and r.params else ""
    return r.op, fmt(r.shape), f"{r.params:,}" if r.params else "", share, f"{r.macs:,}" if r.macs else ""


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


def to_plain(c: Compiled, depth: int | None) -> str:
    """The summary table as plain text, for pipes and files."""
    t = c.totals
    rows: list[tuple[str, ...]] = [("layer", "op", "output", "params", "share", "MACs")]
    rows += [(r.name, *_cells(r, t.params)) for r in c.rows(depth)]
    rows.append(("total", "", fmt(t.output_shape), f"{t.params:,}", "100.0%", f"{t.macs:,}"))
    return "\n".join(columns(rows, left=3)) + "\n"


def footer_lines(c: Compiled) -> list[str]:
    t = c.totals
    lines = [
        f"input {fmt(t.input_shape)} -> output {fmt(t.output_shape)} (batch dimension B omitted)",
        f"parameters {t.params:,} ({human(t.params)}), buffers {t.buffers:,}",
        f"MACs {t.macs:,} ({human(t.macs)}) in conv, linear and attention; "
        f"{t.macs_other:,} more in norms and adaptive pooling",
    ]
    if t.uncounted:
        lines.append("no MACs counted for: " + ", ".join(t.uncounted))
    return lines


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


def memory_data(c: Compiled, batch: int, dtype: str) -> dict[str, Any]:
    from archc.dsl.analysis import memory

    m = memory(c.graph, batch, dtype)
    return {
        "batch_size": batch,
        "dtype": dtype,
        "params_bytes": m.params,
        "buffers_bytes": m.buffers,
        "activations_bytes": m.activations,
        "training_bytes": m.training,
        "activations_per_layer": m.per_layer,
    }


def memory_lines(c: Compiled, batch: int, dtype: str) -> list[str]:
    from archc.dsl.analysis import memory

    m = memory(c.graph, batch, dtype)
    mib = 1024 * 1024
    return [
        f"memory at batch {batch}, {dtype}: parameters {m.params / mib:,.1f} MiB, "
        f"activations kept for backward {m.activations / mib:,.1f} MiB",
        f"training estimate (parameters + gradients + SGD momentum + buffers + activations): "
        f"{m.training / mib:,.1f} MiB; inference needs about {(m.params + m.buffers) / mib:,.1f} MiB "
        "plus the largest two activations",
    ]
