"""Issue 15, "the emitted module is exactly the checked network": each reproduction of its five
groups, written out as the issue gives it and run as a user would.  Each ends either in a
located error or in a module that equals the analysis (translation validation on the meta
device, then a real forward pass on CPU), with the parameter count worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from repro_helpers import (
    assert_equals_analysis,
    assert_located,
    assert_no_traceback,
    import_built,
    run_archc,
    write,
)

import archc
from archc.dsl.analysis import state_dict

# ---------------------------------------------------------------- 1. conditional spliced list

SPLICED = """\
block b(extra=false):
    return x -> body: [conv(8, k=1), *[relu, conv(8, k=1)] if extra]
network n():
    input 8x8x8
    x -> l1: b(false) -> l2: b(true)
"""


def test_conditional_spliced_list_is_emitted_only_where_it_holds(tmp_path: Path) -> None:
    """`check` said 192 parameters and the module had 256: the spliced list was always kept."""
    c = assert_equals_analysis(write(tmp_path, SPLICED), params=3 * 8 * 8)
    assert [k for k, _, _ in state_dict(c.graph)] == [
        "l1.body.0.weight",
        "l2.body.0.weight",
        "l2.body.2.weight",
    ]


def test_conditional_spliced_list_through_build(tmp_path: Path) -> None:
    spec = write(tmp_path, SPLICED)
    result = run_archc("build", spec, "-o", tmp_path / "out", cwd=tmp_path, fresh=True)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    module = import_built(tmp_path / "out", "n")
    model = module.n()  # type: ignore[attr-defined]
    assert sum(p.numel() for p in model.parameters()) == 192
    assert list(model.state_dict()) == ["l1.body.0.weight", "l2.body.0.weight", "l2.body.2.weight"]
    x = torch.randn(1, 8, 8, 8)
    w = [model.l1.body[0].weight, model.l2.body[0].weight, model.l2.body[2].weight]
    by_hand = torch.einsum("oi,bihw->bohw", w[0][:, :, 0, 0], x)
    by_hand = torch.einsum("oi,bihw->bohw", w[1][:, :, 0, 0], by_hand).relu()
    by_hand = torch.einsum("oi,bihw->bohw", w[2][:, :, 0, 0], by_hand)
    with torch.no_grad():
        torch.testing.assert_close(model(x), by_hand)


# ---------------------------------------------------------------- 2. max(), min(), a if c else b

MAX_ARG = """\
block b(w):
    return x -> conv1: conv({expr}, k=1)
network n(w=12):
    input 8x4x4
    x -> l1: b(w)
"""


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("max(8, w)", lambda w: max(8, w)),
        ("min(8, w)", lambda w: min(8, w)),
        ("w if w > 8 else 8", lambda w: max(8, w)),
    ],
)
@pytest.mark.parametrize("w", [4, 12, 16])
def test_layer_arguments_are_written_into_the_class(tmp_path: Path, expr: str, value: object, w: int) -> None:
    """`archc.load(path).module(w=4)` had 32 parameters where `archc.load(path, w=4).params`
    said 64: `max(8, w)` had been evaluated once, at the default."""
    spec = write(tmp_path, MAX_ARG.format(expr=expr))
    width = value(w)  # type: ignore[operator]
    assert archc.load(spec, w=w).params == 8 * width
    with torch.device("meta"):
        model = archc.load(spec).module(w=w)
    assert sum(p.numel() for p in model.parameters()) == 8 * width
    assert_equals_analysis(spec, params=8 * width, w=w)


@pytest.mark.parametrize(
    ("block", "calls", "params"),
    [
        ("block b(w):\n    return x -> conv1: conv(max(8, w), k=1)\n", "b(4) -> l2: b(16)", 8 * 8 + 8 * 16),
        ("block b(w):\n    return x -> conv1: conv(min(8, w), k=1)\n", "b(4) -> l2: b(16)", 8 * 4 + 4 * 8),
        (
            "block b(out, grow=false):\n    return x -> conv1: conv(out if grow else in.c, k=1)\n",
            "b(16, grow=true) -> l2: b(16, grow=false)",
            8 * 16 + 16 * 16,
        ),
    ],
)
def test_instances_taking_different_branches_build(
    tmp_path: Path, block: str, calls: str, params: int
) -> None:
    """`build` said "cannot emit one class for block" when two instances took different branches."""
    spec = write(tmp_path, f"{block}network n():\n    input 8x4x4\n    x -> l1: {calls}\n")
    assert_equals_analysis(spec, params=params)
    result = run_archc("build", spec, "-o", tmp_path / "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "cannot emit" not in result.stderr


# ---------------------------------------------------------------- 3. a block only under a false condition

GATE = """\
block gate():
    w = x -> gap -> sigmoid
    return x * w
block b(use_gate=false):
    return x -> conv1: conv(8, k=1) -> g: gate if use_gate
network n(use_gate=false):
    input 8x4x4
    x -> l1: b(use_gate) -> l2: b(use_gate)
"""


def test_block_used_only_under_a_false_condition_builds(tmp_path: Path) -> None:
    """`build` ended in `KeyError: 'gate'`."""
    spec = write(tmp_path, GATE)
    assert_equals_analysis(spec, params=2 * 8 * 8)
    assert_equals_analysis(spec, params=2 * 8 * 8, use_gate=True)  # the gate has no weights
    result = run_archc("build", spec, "-o", tmp_path / "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    model = import_built(tmp_path / "out", "n").n(use_gate=True)  # type: ignore[attr-defined]
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        plain = model.l1.conv1(x)
        gated = plain * plain.mean((2, 3), keepdim=True).sigmoid()
        torch.testing.assert_close(model.l1(x), gated)


# ---------------------------------------------------------------- 4. what check accepted and build refused


def test_one_block_called_with_an_int_and_a_list_kernel(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "block b(k=3):\n    return x -> conv1: conv(8, k=k, p=0)\n"
        "network n():\n    input 8x9x9\n    x -> l1: b(3) -> l2: b([1, 7])\n",
    )
    c = assert_equals_analysis(spec, params=8 * 8 * 3 * 3 + 8 * 8 * 1 * 7)
    assert c.output_shape == (8, 7 - 0, 7 - 6)


def test_spliced_repeat_with_counts_differing_between_instances(tmp_path: Path) -> None:
    """`[*[conv(8, k=1), bn] x reps]` with `reps` 1 and 3 (a plain `[conv x reps]` worked)."""
    spec = write(
        tmp_path,
        "block b(reps=1):\n    return x -> body: [*[conv(8, k=1), bn] x reps]\n"
        "network n():\n    input 8x4x4\n    x -> l1: b(1) -> l2: b(3)\n",
    )
    c = assert_equals_analysis(spec, params=(1 + 3) * (64 + 16))
    keys = [k for k, _, _ in state_dict(c.graph) if k.endswith(".weight")]
    assert keys == ["l1.body.0.weight", "l1.body.1.weight"] + [f"l2.body.{j}.weight" for j in range(6)]


def test_conditional_sub_list_inside_a_list(tmp_path: Path) -> None:
    """`[[conv, bn] if t != 1, conv]` emitted a Python list inside `nn.Sequential` (a TypeError
    at construction)."""
    spec = write(
        tmp_path,
        "block b(t=1):\n    return x -> body: [[conv(8, k=1), bn] if t != 1, conv(8, k=1)]\n"
        "network n():\n    input 8x4x4\n    x -> l1: b(1) -> l2: b(6)\n",
    )
    c = assert_equals_analysis(spec, params=64 + (64 + 16 + 64))
    model = c.module()
    assert isinstance(model.l2.body[0], torch.nn.Sequential)
    assert [type(m).__name__ for m in model.l1.body] == ["Conv2d"]


# ---------------------------------------------------------------- 5. smaller


def test_a_vector_input(tmp_path: Path) -> None:
    """`input 8` was a syntax error; the docs allow vectors."""
    spec = write(tmp_path, "network n():\n    input 8\n    x -> fc: linear(4) -> relu -> out: linear(2)\n")
    c = assert_equals_analysis(spec, params=8 * 4 + 4 + 4 * 2 + 2)
    assert c.input_shape == (8,) and c.output_shape == (2,)


def test_errors_after_an_unknown_op_are_reported(tmp_path: Path) -> None:
    line = "    x -> conv(8, k=3) -> frobnicate(3) -> conv(8, k=1) -> linear(4, nonsense=1)"
    write(tmp_path, f"network n():\n    input 3x8x8\n{line}\n")
    result = run_archc("check", "spec.arch", cwd=tmp_path)
    assert_located(result, f"spec.arch:3:{line.index('frobnicate') + 1}", "unknown op or block 'frobnicate'")
    assert_located(result, f"spec.arch:3:{line.index('nonsense') + 1}", "linear: unknown argument 'nonsense'")
    assert "2 errors" in result.stderr


@pytest.mark.parametrize(
    "body",
    [
        "    return x -> body: [conv(8, k=1), relu]\n        if t != 1\n",
        "    return x -> body: [conv(8, k=1),\n                       relu]\n                  if t != 1\n",
        "    y = x -> body: [conv(8, k=1), relu]\n      if t != 1\n    return y\n",
    ],
)
@pytest.mark.parametrize(("t", "params"), [(2, 64), (1, 0)])
def test_if_continues_a_line_after_a_closing_bracket(tmp_path: Path, body: str, t: int, params: int) -> None:
    """A line starting with `if` after `]` was rejected as "unexpected indentation"."""
    spec = write(tmp_path, f"block b(t=1):\n{body}network n(t={t}):\n    input 8x4x4\n    x -> l1: b(t)\n")
    assert_equals_analysis(spec, params=params)
