"""What the reproduction tests of issues 9, 15 and 16 share: running a spec as a user would
(the ``archc`` command in a subprocess, or ``archc.compile_spec``) and the two outcomes a valid
reproduction may have: a located error, or a module equal to the analysis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

import archc
from archc.dsl.analysis import state_dict
from archc.validate import load_module, validate


@dataclass(frozen=True)
class Located:
    """``archc check`` exits 1 with ``spec.arch:LINE:COL: error: ...MESSAGE...`` and a hint."""

    line: int
    col: int
    message: str


@dataclass(frozen=True)
class Builds:
    """The spec checks, and the emitted module has exactly ``params`` parameters."""

    params: int


def write(folder: Path, text: str, name: str = "spec.arch") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def run_archc(
    *args: str | Path, cwd: Path, fresh: bool = False, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``archc ARGS`` run from ``cwd``: with ``fresh``, in a new process of this environment's
    Python, exactly as a user runs it; else through the same typer app in this process (no
    interpreter and torch start-up), where an exception escaping the app is reported in
    ``stderr`` as the traceback it would have printed."""
    argv = [str(a) for a in args]
    if fresh:
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        return subprocess.run(
            [sys.executable, "-m", "archc", *argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    from typer.testing import CliRunner

    from archc.cli import app

    here = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, argv, env={"COLUMNS": "200", "NO_COLOR": "1"})
    finally:
        os.chdir(here)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (most recent call last):\n" + "".join(
            traceback.format_exception(result.exception)
        )
    return subprocess.CompletedProcess(["archc", *argv], result.exit_code, result.stdout, stderr)


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]


def assert_located(result: subprocess.CompletedProcess[str], where: str, message: str) -> None:
    """Exit 1, the error at ``where`` (``file:line:col``; column 0: any column) saying ``message``,
    a hint, no traceback."""
    assert_no_traceback(result)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    place = re.escape(where[:-2]) + r":\d+" if where.endswith(":0") else re.escape(where)
    assert re.search(rf"^{place}: error: .*{re.escape(message)}", result.stderr, re.M), result.stderr
    assert "hint:" in result.stderr, result.stderr


def assert_usage(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 2 (a usage error) with ``message`` and a hint, no traceback."""
    assert_no_traceback(result)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert message in result.stderr, result.stderr
    assert "hint:" in result.stderr, result.stderr


def assert_equals_analysis(path: Path, params: int, **sets: object) -> archc.Compiled:
    """Compile ``path``; the analysis counts ``params``; translation validation (the emitted
    module on the meta device, at the spec's values and at others) finds no difference; and the
    module runs for real on CPU with the inferred output shape and ``state_dict``."""
    c = archc.load(path, **sets)  # type: ignore[arg-type]
    assert c.params == params
    report = validate(c)
    assert report.ok, report.differences
    torch.manual_seed(0)
    model = c.module().eval()
    assert sum(p.numel() for p in model.parameters()) == params
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [
        (k, tuple(s)) for k, s, _ in state_dict(c.graph)
    ]
    with torch.no_grad():
        y = model(torch.randn(2, *c.input_shape))
    assert tuple(y.shape) == (2, *c.output_shape)
    assert torch.isfinite(y).all()
    return c


def import_built(folder: Path, name: str) -> object:
    """The module ``archc build`` wrote as ``folder/name.py``, imported from its file."""
    path = folder / f"{name}.py"
    return load_module(path.read_text(), f"built_{name}")
