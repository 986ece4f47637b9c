"""``archc summary``: per-layer table, JSON or CSV (no torch)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from archc.dsl.analysis import stage_totals
from archc.dsl.ops import fmt

if TYPE_CHECKING:
    from archc.api import Compiled


def human(n: float, unit: str = "") -> str:
    """``25557032`` as ``25.56M``."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


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
        "file": c.network.file,
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
        share = f"{100 * r.params / t.params:.1f}%" if t.params and r.params else ""
        table.add_row(
            "  " * r.depth + r.name.rpartition(".")[2] if depth else r.name,
            r.op,
            fmt(r.shape),
            f"{r.params:,}" if r.params else "",
            share,
            f"{r.macs:,}" if r.macs else "",
        )
    return table


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
