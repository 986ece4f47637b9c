"""The command line: exit codes, formats, and no torch on the fast paths."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, SPECS
from typer.testing import CliRunner

from archc.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_ok() -> None:
    code, out, _ = run("check", str(SPECS / "resnet50.arch"))
    assert code == 0
    assert "25,557,032 parameters" in out and "4,089,184,256 MACs" in out and "-> 1000" in out


def test_check_spec_error_exit_1_without_traceback() -> None:
    code, out, err = run("check", str(GOLDEN / "diagnostics" / "shape_add.arch"))
    assert code == 1
    assert "error: add: shapes differ: 32x16x16 vs 16x32x32" in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "no/such.arch"], "no such spec file"),
        (["check", str(SPECS / "resnet50.arch"), "--set", "depth=3"], "has no parameter 'depth'"),
        (["check", str(SPECS / "resnet50.arch"), "--set", "num_classes"], "is not name=value"),
        (["check", str(SPECS / "resnet50.arch"), "--set", "num_classes=(("], "syntax error"),
        (["check", str(SPECS / "resnet50.arch"), "--input", "3by32"], "is not a shape"),
        (["check", str(SPECS / "resnet50.arch"), "--network", "nope"], "no network named 'nope'"),
        (["summary", str(SPECS / "resnet50.arch"), "--format", "xml"], "Invalid value"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


def test_set_and_input_overrides() -> None:
    code, out, _ = run("check", str(SPECS / "resnet18.arch"), "--set", "num_classes=10", "--input", "3x32x32")
    assert code == 0
    assert "3x32x32 -> 10" in out and "11,181,642 parameters" in out


def test_summary_json_totals_and_share() -> None:
    code, out, _ = run("summary", str(SPECS / "resnet50.arch"), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["totals"]["params"] == 25_557_032
    assert data["output_shape"] == ["B", 1000]
    fc = next(layer for layer in data["layers"] if layer["name"] == "fc")
    assert fc["params"] == 2_049_000
    assert fc["params_share"] == pytest.approx(2_049_000 / 25_557_032)
    assert "relu" in data["ops_not_counted"]


def test_summary_csv_and_depth() -> None:
    code, out, _ = run("summary", str(SPECS / "resnet50.arch"), "--format", "csv", "--depth", "1")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten",
        "fc",
    ]
    assert sum(int(r["params"]) for r in rows) == 25_557_032
    assert next(r for r in rows if r["name"] == "layer4")["output_shape"] == "2048x7x7"


def test_summary_plain_table_when_piped() -> None:
    code, out, _ = run("summary", str(SPECS / "resnet18.arch"), "--depth", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["layer", "op", "output", "params", "share", "MACs"]
    assert any(line.startswith("total") and "11,689,512" in line for line in lines)
    assert "\x1b[" not in out


@pytest.mark.parametrize("command", ["check", "summary"])
def test_fast_commands_do_not_import_torch(command: str) -> None:
    code = (
        "import sys\n"
        "from archc.cli import app\n"
        "try:\n"
        f"    app([{command!r}, {str(SPECS / 'vit_b_16.arch')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_ops_lists_the_registry() -> None:
    code, out, _ = run("ops")
    assert code == 0
    assert "conv(out, k, s=1" in out and "[no MACs counted]" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", str(SPECS / "resnet18.arch"), "--set", "block=basic"], "did you mean 'basic_block'?"),
        (["check", str(SPECS / "resnet18.arch"), "--input", "0x32x32"], "is not a valid input shape"),
        (["build", str(SPECS / "resnet18.arch"), "-o", "/proc/archc-nowhere"], "check the path"),
        (["render", str(SPECS / "resnet18.arch"), "-o", "/proc/archc-nowhere/x.svg"], "check the path"),
    ],
)
def test_more_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert code == 2 and message in err
    assert "Traceback" not in err + out


def test_binary_file_is_a_located_error(tmp_path: Path) -> None:
    spec = tmp_path / "bin.arch"
    spec.write_bytes(b"\xff\xfe\x00binary")
    code, _, err = run("check", str(spec))
    assert code == 1 and "not UTF-8 text" in err


def test_a_closed_pipe_is_not_an_error() -> None:
    """`archc summary ... | head -1`: the reader leaves early; no message, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "archc", "summary", str(SPECS / "resnet152.arch"), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait()
    assert stderr == ""


def test_build_is_the_same_from_any_working_directory(tmp_path: Path) -> None:
    """Paths in built files are relative to the spec's project root, so a build does not depend
    on where it runs; --name names file, class and factory, and the header records the command."""
    spec = ROOT / "specs" / "resnet20.arch"
    here, there = tmp_path / "a", tmp_path / "b" / "deeper"
    for cwd in (here, there):
        cwd.mkdir(parents=True)
        result = subprocess.run(
            [sys.executable, "-m", "archc", "build", str(spec if cwd is here else os.path.relpath(spec, cwd)),
             "--set", "n=18", "--name", "resnet110", "-o", str(cwd / "out")],
            cwd=cwd, capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    for name in ("resnet110.py", "resnet110.summary.json", "resnet110.svg"):
        assert (here / "out" / name).read_bytes() == (there / "out" / name).read_bytes(), name
    source = (here / "out" / "resnet110.py").read_text()
    assert "#   archc build specs/resnet20.arch --set n=18 --name resnet110\n" in source
    assert "class Resnet110(nn.Module):" in source and "def resnet110(**kwargs: Any) -> Resnet110:" in source
    code, _, err = run("build", str(spec), "--name", "not a name", "-o", str(tmp_path / "x"))
    assert code == 2 and "cannot name a module" in err
