"""Issue 9, "check ⇒ build ⇒ run": the three specs that `archc check` accepted and whose code
did not build or run, and the errors a run did not report, each run as a user would."""

from __future__ import annotations

import inspect
from pathlib import Path

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
from archc.validate import validate

SUB_LIST = """\
block b(t=1):
    return x -> body: [[conv(8, k=1), bn] if t != 1, conv(8, k=1)]
network n(t=6):
    input 8x4x4
    x -> l1: b(1) -> l2: b(t)
"""


def test_conditional_sub_list_constructs_and_runs(tmp_path: Path) -> None:
    """Bug 1: `check` and `build` exited 0, then `TypeError: list is not a Module subclass`."""
    spec = write(tmp_path, SUB_LIST)
    assert run_archc("check", spec, cwd=tmp_path).returncode == 0
    result = run_archc("build", spec, "-o", tmp_path / "out", cwd=tmp_path, fresh=True)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    module = import_built(tmp_path / "out", "n")
    for t, params in [(6, 64 + (64 + 16 + 64)), (1, 64 + 64)]:
        model = module.n(t=t).eval()  # type: ignore[attr-defined]
        assert sum(p.numel() for p in model.parameters()) == params
        assert archc.load(spec, t=t).params == params
        with torch.no_grad():
            assert model(torch.randn(2, 8, 4, 4)).shape == (2, 8, 4, 4)
    assert_equals_analysis(spec, params=208)


KERNELS = """\
block b(k=1):
    return x -> conv1: conv(8, k=k, p=0)
network n():
    input 8x9x9
    x -> l1: b([1, 3]) -> l2: b([3, 3])
"""


def test_instances_with_different_list_kernels_build(tmp_path: Path) -> None:
    """Bug 2: `k=[1, 3]` and `k=[3, 3]` failed with "cannot emit one class for block", and the
    emitted default `k: Sequence[int] = 1` could not be used."""
    spec = write(tmp_path, KERNELS)
    result = run_archc("build", spec, "-o", tmp_path / "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    c = assert_equals_analysis(spec, params=8 * 8 * (1 * 3 + 3 * 3))
    assert c.output_shape == (8, 9 - 0 - 2, 9 - 2 - 2)
    model = import_built(tmp_path / "out", "n").n()  # type: ignore[attr-defined]
    assert model.l1.conv1.kernel_size == (1, 3) and model.l2.conv1.kernel_size == (3, 3)
    for block in (type(model.l1), type(model.l2)):
        k = inspect.signature(block).parameters["k"]
        assert k.default is inspect.Parameter.empty or isinstance(k.default, tuple | list), k


def test_a_list_kernel_exposed_as_a_network_parameter_follows_every_value(tmp_path: Path) -> None:
    """The class built with `k=(3, 4)` must be the network the spec gives for `k=[3, 4]`."""
    spec = write(
        tmp_path,
        "block b(k=1):\n    return x -> conv1: conv(8, k=k)\n"
        "network n(k=[3, 3]):\n    input 8x9x9\n    x -> l1: b(k)\n",
    )
    report = validate(archc.load(spec))
    assert report.ok, report.differences


def test_an_unknown_op_after_a_shape_error_is_reported(tmp_path: Path) -> None:
    """Bug 3: after one error left the block's shape unknown, the unknown op further on was not
    reported; every error of a run is."""
    line = "    return x -> conv(8, k=100) -> bn -> frobnicate -> relu -> conv(8, k=1, nonsense=2)"
    write(tmp_path, f"block b():\n{line}\nnetwork n():\n    input 3x8x8\n    x -> l1: b\n")
    result = run_archc("check", "spec.arch", cwd=tmp_path)
    assert_located(
        result, f"spec.arch:2:{line.index('conv') + 1}", "kernel 100 (dilation 1) is larger than its input 8"
    )
    assert_located(result, f"spec.arch:2:{line.index('frobnicate') + 1}", "unknown op or block 'frobnicate'")
    assert_located(result, f"spec.arch:2:{line.index('nonsense') + 1}", "conv: unknown argument 'nonsense'")
    assert "3 errors" in result.stderr


def test_an_error_caused_by_set_names_the_set(tmp_path: Path) -> None:
    line = "    x -> conv(8, k=3) -> layer1: conv(8, k=1) x depths[1]"
    write(tmp_path, f"network n(depths=[1, 1]):\n    input 3x8x8\n{line}\n")
    result = run_archc("check", "spec.arch", "--set", "depths=3", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert f"spec.arch:3:{line.index('depths') + 1}: error: cannot index an integer" in result.stderr
    assert "--set depths=3" in result.stderr, result.stderr
