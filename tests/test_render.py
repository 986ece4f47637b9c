"""Diagrams: golden DOT files, an SVG render, and what happens without Graphviz."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, SPECS, check_golden
from typer.testing import CliRunner

import archc
from archc.api import parse_sets
from archc.cli import app
from archc.render import dot_source, render_bytes

runner = CliRunner()

CASES = [
    ("resnet18", [], None, 2),  # stages as clusters, runs of blocks collapsed
    ("se_resnet50", ["depths=[1, 1, 1, 1]"], (3, 64, 64), 4),  # SE gate cluster, skip edges
    ("vit_b_16", ["depth=24"], None, 2),  # 24 encoder layers collapsed into one node
]


@pytest.mark.parametrize(("spec", "sets", "shape", "depth"), CASES, ids=[c[0] for c in CASES])
def test_golden_dot(
    spec: str, sets: list[str], shape: tuple[int, ...] | None, depth: int, update_golden: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(ROOT)
    c = archc.compile_spec(Path("specs") / f"{spec}.arch", sets=parse_sets(sets), input_shape=shape)
    check_golden(GOLDEN / "render" / f"{spec}.gv", dot_source(c, depth), update_golden)


def test_skip_edges_stand_out_and_identity_skips_are_drawn() -> None:
    c = archc.compile_spec(SPECS / "resnet18.arch")
    dot = dot_source(c, depth=None)
    skip = '[label="64x56x56" color="#c0392b" fontcolor="#c0392b" penwidth=1.4 style=dashed]'
    # identity skips: the block's input goes straight into its add, drawn dashed red
    assert f'maxpool -> "layer1.0.add" {skip}' in dot
    assert f'"layer1.0.relu_1" -> "layer1.1.add" {skip}' in dot
    # the projection shortcut of layer2.0 is a skip edge too; the main path is not
    assert '"layer2.0.downsample.1" -> "layer2.0.add" [label="128x28x28" color="#c0392b"' in dot
    assert '"layer2.0.bn2" -> "layer2.0.add" [label="128x28x28"]' in dot


def test_repeated_blocks_collapse_to_one_node() -> None:
    c = archc.compile_spec(SPECS / "resnet152.arch")
    dot = dot_source(c)
    assert "bottleneck × 35" in dot
    assert dot.count("cluster_") == 4  # one per stage; nothing deeper at the default depth
    full = dot_source(c, depth=None)
    assert full.count("->") > 500


def test_attention_and_gates_are_marked() -> None:
    c = archc.compile_spec(SPECS / "se_resnet50.arch", sets=parse_sets(["depths=[1, 1, 1, 1]"]))
    dot = dot_source(c, depth=None)
    assert dot.count('color="#8e44ad"') == 4  # one SE cluster per block
    vit = dot_source(archc.compile_spec(SPECS / "vit_b_16.arch", sets=parse_sets(["depth=1"])), depth=None)
    assert 'fillcolor="#fde2c8"' in vit  # the attention layer


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by `make test`")
def test_svg_render() -> None:
    svg = render_bytes(archc.compile_spec(SPECS / "vit_b_16.arch"), "svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "encoder_block × 12" in svg and "197x768" in svg


def test_render_command_formats(tmp_path: Path) -> None:
    out = tmp_path / "r.dot"
    result = runner.invoke(app, ["render", str(SPECS / "resnet18.arch"), "-o", str(out), "--rankdir", "LR"])
    assert result.exit_code == 0, result.output
    assert "rankdir=LR" in out.read_text()
    bad = runner.invoke(app, ["render", str(SPECS / "resnet18.arch"), "-o", str(tmp_path / "r.gif")])
    assert bad.exit_code == 2 and "unknown format 'gif'" in bad.stderr


def test_render_without_graphviz_writes_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(app, ["render", str(SPECS / "resnet18.arch"), "-o", str(tmp_path / "r.svg")])
    assert result.exit_code == 0
    assert (tmp_path / "r.dot").read_text().startswith("digraph resnet18")
    assert "apt-get install graphviz" in result.stderr


def test_build_without_graphviz_warns_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(app, ["build", str(SPECS / "resnet18.arch"), "-o", str(tmp_path)])
    assert result.exit_code == 0
    assert (tmp_path / "resnet18.py").exists() and not (tmp_path / "resnet18.svg").exists()
    assert "warning" in result.stderr


def test_build_writes_everything(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", str(SPECS / "resnet18.arch"), "-o", str(tmp_path)])
    assert result.exit_code == 0
    assert f"wrote {tmp_path / 'resnet18.py'}" in result.stdout
    assert "11,689,512 parameters" in result.stdout
    assert (tmp_path / "resnet18.py").stat().st_mode & 0o044  # readable by others, like any file


def test_failed_build_leaves_previous_files_intact(tmp_path: Path) -> None:
    spec = tmp_path / "net.arch"
    spec.write_text("network net():\n    input 3x8x8\n    x -> conv(4, k=1)\n")
    assert runner.invoke(app, ["build", str(spec), "-o", str(tmp_path / "out")]).exit_code == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    spec.write_text("network net():\n    input 3x8x8\n    x -> conv(4, k=9)\n")
    result = runner.invoke(app, ["build", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "larger than its input" in result.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_interrupted_write_leaves_nothing_partial(tmp_path: Path) -> None:
    from archc.build import write_atomic

    (tmp_path / "a.py").write_text("old a")
    (tmp_path / "b.py").mkdir()  # a target that cannot be replaced
    with pytest.raises(OSError):
        write_atomic({tmp_path / "a.py": b"new a", tmp_path / "b.py": b"new b"})
    assert (tmp_path / "a.py").read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py"]


def test_failure_while_replacing_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from archc.build import write_atomic

    (tmp_path / "a.py").write_text("old a")
    (tmp_path / "c.py").write_text("old c")
    real_replace = os.replace
    calls = []

    def flaky_replace(src: str, dst: str) -> None:
        calls.append(dst)
        if str(dst).endswith("c.py") and len(calls) == 3:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic({tmp_path / "a.py": b"new a", tmp_path / "b.py": b"new b", tmp_path / "c.py": b"new c"})
    assert (tmp_path / "a.py").read_text() == "old a"
    assert (tmp_path / "c.py").read_text() == "old c"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "c.py"]


def test_concatenated_branches_are_not_skip_edges() -> None:
    c = archc.compile_spec(SPECS / "googlenet.arch")
    edges = c.graph.in_edges("inception3a.cat", data=True)
    assert len(edges) == 4 and not any(e["skip"] for _, _, e in edges)
