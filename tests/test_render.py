"""Diagrams: golden DOT files, what labels say, what folds, the layout as Graphviz lays it out
(no edge label on a cluster title, no edge through one), formats, DPI, and builds."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GOLDEN, ROOT, SPECS, check_golden
from typer.testing import CliRunner

import archc
from archc.api import parse_sets
from archc.cli import app
from archc.dsl.names import join_path
from archc.render import GATE_EDGE, SKIP_EDGE, diagram, dot_source, render_bytes

runner = CliRunner()
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by `make test`")
INCEPTION = GOLDEN / "render" / "inception_branches.arch"

CASES = [
    ("resnet18", "specs/resnet18.arch", [], 2, None),  # stages as clusters, runs of blocks folded
    ("se_resnet50_depth4", "specs/se_resnet50.arch", [], 4, "first"),  # one open block per stage
    ("googlenet_depth3", "specs/googlenet.arch", [], 3, None),  # branches of different convs
    ("inception_branches", "tests/golden/render/inception_branches.arch", [], 3, None),  # 1x7, 7x1, g, d
    ("vit_b_16", "specs/vit_b_16.arch", ["depth=24"], 2, None),  # 24 encoder layers folded into one node
]


@pytest.mark.parametrize(("name", "spec", "sets", "depth", "expand"), CASES, ids=[c[0] for c in CASES])
def test_golden_dot(
    name: str, spec: str, sets: list[str], depth: int, expand: str | None, update_golden: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(ROOT)
    c = archc.compile_spec(spec, sets=parse_sets(sets))
    check_golden(GOLDEN / "render" / f"{name}.gv", dot_source(c, depth, expand=expand), update_golden)


# ------------------------------------------------------------------ what the nodes say

_NODE = re.compile(r'^\t+("?)([^"\s]+)\1 \[label=(.*)$')


def nodes(dot: str) -> Iterator[tuple[str, str]]:
    """(id, label) of every node statement of a DOT source."""
    for line in dot.splitlines():
        m = _NODE.match(line)
        if m:
            yield m.group(2), m.group(3)


def _same_kind(c: Any, path: str) -> tuple[Any, ...]:
    """What must be equal for two siblings to be drawn as one: definition, arguments, shapes."""
    if path in c.graph.nodes:
        d = c.graph.nodes[path]
        return ("layer", d["op"], d["args"])
    s = c.graph.graph["scopes"][path]
    return (s.kind, s.definition, s.args, s.in_shape, s.out_shape)


ALL_SPECS = sorted(p.name for p in SPECS.glob("*.arch"))


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_every_times_n_node_stands_for_n_identical_instances(spec: str) -> None:
    """A folded node ``a..b`` marked ``× N`` stands for exactly N consecutive siblings of one
    block with the same arguments and shapes; a cluster title or node that counts a sequence's
    items (``bottleneck(stride=1) × 3``) counts runs of identical items that make up the whole
    sequence."""
    c = archc.compile_spec(SPECS / spec)
    scopes = c.graph.graph["scopes"]
    checked = 0
    for depth, expand in [(1, "all"), (2, "all"), (3, "first"), (4, "first"), (4, "once")]:
        for node_id, label in nodes(dot_source(c, depth, expand=expand)):
            counts = [int(n) for n in re.findall(r"× (\d+)", label)]
            if ".." in node_id:
                first, _, last = node_id.partition("..")
                parent, _, leaf = first.rpartition(".")
                siblings = scopes[parent].children
                run = siblings[siblings.index(leaf) : siblings.index(last) + 1]
                assert counts and counts[-1] == len(run) >= 2, (spec, node_id, label)
                kinds = [_same_kind(c, join_path(parent, s)) for s in run]
                assert all(k == kinds[0] for k in kinds), f"{spec}: {node_id} folds different blocks"
                checked += 1
    for scope in scopes.values():
        if scope.kind != "seq":
            continue
        from archc.render import seq_text

        text = seq_text(scope, c.graph)
        if not re.search(r"× \d+", text) or text.endswith(("layers", "modules")):
            continue
        paths = [join_path(scope.path, ch) for ch in scope.children]
        periodic = re.fullmatch(r"\[([^\[\]]*)\] × (\d+)", text)
        if periodic:  # a repeated pattern: [a → b] × k
            k = int(periodic.group(2))
            p = len(paths) // k
            assert p * k == len(paths), text
            assert all(
                _same_kind(c, paths[i])[:3] == _same_kind(c, paths[i % p])[:3] for i in range(len(paths))
            )
            checked += 1
            continue
        if "[" in text:  # nested sequences: checked on their own
            continue
        runs: list[int] = []
        for i, p in enumerate(paths):
            same = i > 0 and _same_kind(c, p)[:3] == _same_kind(c, paths[i - 1])[:3]
            if same:
                runs[-1] += 1
            else:
                runs.append(1)
        claimed = [
            int(m.group(1)) if (m := re.search(r" × (\d+)$", part)) else 1 for part in text.split(" → ")
        ]
        assert claimed == runs, f"{spec}: {scope.path}: '{text}' but runs of {runs}"
        checked += 1
    assert checked or spec not in ("resnet50.arch", "vit_b_16.arch", "rcan.arch")


def test_googlenet_branches_are_told_apart() -> None:
    c = archc.compile_spec(SPECS / "googlenet.arch")
    for depth in (2, 3):
        dot = dot_source(c, depth)
        assert "basic_conv × 2" not in dot
    dot2 = dot_source(c, 2)
    assert "conv 1x1, 96 → conv 3x3, 128" in dot2  # inception3a.branch2
    dot3 = dot_source(c, 3)
    assert "basic_conv: conv 1x1, 96" in dot3 and "basic_conv: conv 3x3, 128" in dot3


def test_labels_show_what_distinguishes_a_layer() -> None:
    c = archc.compile_spec(INCEPTION)
    dot = dot_source(c, 3)
    for text in ("conv 1x7, 128", "conv 7x1, 192", "conv 3x3, 192, dilation 2", "conv 3x3, 128, g4",
                 "conv 3x3, 768, /2"):  # fmt: skip
        assert text in dot, text
    folded = dot_source(c, 2)  # the branches folded: their sequences still say 1x7 and 7x1
    assert "conv 1x1, 128 → conv 1x7, 128 → conv 7x1, 192" in folded


def test_no_label_says_a_word_twice() -> None:
    """``se · se`` and ``encoder · encoder`` said the name and the block it instantiates."""
    for spec, depth in [
        ("se_resnet50.arch", 4),
        ("vit_b_16.arch", 3),
        ("googlenet.arch", 3),
        ("rcan.arch", 4),
    ]:
        dot = dot_source(archc.compile_spec(SPECS / spec), depth)
        for _, label in nodes(dot):
            lines = [re.sub(r"<[^>]+>", "", part).strip() for part in label.split("<br")]
            words = [w.split("(")[0].split(":")[0] for w in " ".join(lines).replace(">", " ").split()]
            assert not re.search(r"\b(\w+) · \1\b", label), label
            title = words[0] if words else ""
            assert not (len(lines) > 1 and title and lines[1].startswith(title + " ")), label
    dot = dot_source(archc.compile_spec(SPECS / "se_resnet50.arch"), 4)
    assert '"layer1.0.se#title" [label=<<b>se</b><br align="left"/><font' in dot  # name, then params


def test_skip_edges_are_red_and_gates_purple() -> None:
    c = archc.compile_spec(SPECS / "resnet18.arch")
    dot = dot_source(c, depth=None)  # every layer its own node
    skip = f'[color="{SKIP_EDGE["color"]}" fontcolor="{SKIP_EDGE["color"]}" penwidth=1.4 style=dashed]'
    # identity skips: the block's input goes straight into its add, drawn dashed red; the
    # shape is written once, on the first edge out of a node (maxpool -> conv1)
    assert f'maxpool -> "layer1.0.add" {skip}' in dot
    assert f'"layer1.0.relu_1" -> "layer1.1.add" {skip}' in dot
    assert 'maxpool -> "layer1.0.conv1" [label="64x56x56"]' in dot
    assert '"layer2.0.bn2" -> "layer2.0.add" [label="128x28x28"]' in dot  # the main path is plain
    se = dot_source(
        archc.compile_spec(SPECS / "se_resnet50.arch", sets=parse_sets(["depths=[1, 1, 1, 1]"])), None
    )
    gate = f'color="{GATE_EDGE["color"]}"'
    gate_edges = [line for line in se.splitlines() if "->" in line and gate in line]
    assert len(gate_edges) == 4 and all('sigmoid" -> ' in line and "se.mul" in line for line in gate_edges)
    assert not any("sigmoid" in line and "dashed" in line for line in se.splitlines() if "->" in line)
    assert se.count("cluster_layer") and se.count('color="#8e44ad" fillcolor="#f5eefa"') == 4  # SE clusters


def test_attention_is_orange() -> None:
    vit = dot_source(archc.compile_spec(SPECS / "vit_b_16.arch", sets=parse_sets(["depth=1"])), depth=None)
    assert 'fillcolor="#fbd3a9"' in vit  # the attention layer
    assert 'color="#e67e22"' in vit  # the block holding it


def test_repeated_blocks_fold_to_one_node() -> None:
    c = archc.compile_spec(SPECS / "resnet152.arch")
    dot = dot_source(c)
    assert "bottleneck(stride=1) × 35" in dot
    assert dot.count("subgraph cluster_") == 4  # one per stage; nothing deeper at the default depth
    full = dot_source(c, depth=None)
    assert full.count("->") > 500


def test_expand_first_opens_one_block_per_run() -> None:
    c = archc.compile_spec(SPECS / "se_resnet50.arch")
    first = dot_source(c, 4)  # expand="first" is the default from depth 3 on
    assert re.findall(r'subgraph "cluster_(layer\d\.\d+)"', first) == [
        "layer1.0",
        "layer2.0",
        "layer3.0",
        "layer4.0",
    ]
    for node_id, count in [("layer1.1..2", 2), ("layer2.1..3", 3), ("layer3.1..5", 5), ("layer4.1..2", 2)]:
        assert re.search(rf'"{re.escape(node_id)}" \[label=<.*× {count}<', first), node_id
    once = dot_source(c, 4, expand="once")
    assert re.findall(r'subgraph "cluster_(layer\d\.\d+)"', once) == ["layer1.0"]
    everything = dot_source(c, 4, expand="all")
    assert len(re.findall(r'subgraph "cluster_layer\d\.\d+"', everything)) == 16


def test_title_counts_what_is_drawn() -> None:
    c = archc.compile_spec(SPECS / "se_resnet50.arch", sets=parse_sets(["depths=[1, 1, 1, 1]"]))
    title = diagram(c, 4, overrides=["depths"]).graph_attr["label"]
    assert c.params == 10_765_336  # an SE-ResNet with one block per stage: not SE-ResNet-50
    assert title == f"se_resnet50 (depths=[1, 1, 1, 1])  ·  {c.params:,} parameters  ·  {c.macs:,} MACs"
    full = diagram(archc.compile_spec(SPECS / "se_resnet50.arch"), 4).graph_attr["label"]
    assert full == "se_resnet50  ·  28,088,024 parameters  ·  4,091,699,200 MACs"  # timm's seresnet50


# ------------------------------------------------------------------ the layout Graphviz makes


def _text_boxes(ops: list[dict[str, Any]] | None) -> list[tuple[float, float, float, float, str]]:
    boxes = []
    size = 14.0
    for op in ops or []:
        if op["op"] == "F":
            size = op["size"]
        if op["op"] == "T":
            (x, y), w = op["pt"], op["width"]
            x0 = {"l": x, "c": x - w / 2, "r": x - w}[op["align"]]
            boxes.append((x0, y - 0.25 * size, x0 + w, y + 0.8 * size, op["text"]))
    return boxes


def _node_box(o: dict[str, Any]) -> tuple[float, float, float, float, str]:
    x, y = map(float, o["pos"].split(","))
    w, h = 36 * float(o["width"]), 36 * float(o["height"])
    return (x - w, y - h, x + w, y + h, o["name"])


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _bezier(points: list[list[float]]) -> Iterator[tuple[float, float]]:
    for i in range(0, len(points) - 3, 3):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = points[i : i + 4]
        for k in range(25):
            t = k / 24
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t**3
            yield a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3


def layout_problems(source: str) -> list[str]:
    """Lay ``source`` out with Graphviz and list every edge label that overlaps a cluster title
    or a node, and every edge drawn through a cluster title."""
    data = json.loads(
        subprocess.run(["dot", "-Tjson"], input=source.encode(), capture_output=True, check=True).stdout
    )
    objects = data.get("objects", [])
    placed = [o for o in objects if "pos" in o]
    titles = [_node_box(o) for o in placed if o["name"].endswith("#title")]
    titles += [
        b for o in objects if o.get("name", "").startswith("cluster") for b in _text_boxes(o.get("_ldraw_"))
    ]
    others = [_node_box(o) for o in placed if not o["name"].endswith("#title")]
    problems = []
    for e in data.get("edges", []):
        labels = [b for key in ("_ldraw_", "_tldraw_", "_hldraw_") for b in _text_boxes(e.get(key))]
        for label in labels:
            for box in titles + others:
                if _overlaps(label, box):
                    problems.append(f"edge label {label[4]} overlaps {box[4]}")
        if e.get("style") == "invis":
            continue
        curves = [op["points"] for op in e.get("_draw_", []) if op["op"] == "b"]
        for title in titles:
            if any(_overlaps((x, y, x, y), title) for pts in curves for x, y in _bezier(pts)):
                problems.append(f"edge {e['tail']} -> {e['head']} crosses the title {title[4]}")
    return problems


LAYOUTS = [
    ("resnet50.arch", 2, None),
    ("se_resnet50.arch", 4, None),
    ("vit_b_16.arch", 3, None),
    ("googlenet.arch", 3, None),
    ("rcan.arch", 4, None),
    ("se_googlenet.arch", 2, None),
    ("vit_hybrid.arch", 3, None),
]


@needs_dot
@pytest.mark.parametrize(("spec", "depth", "expand"), LAYOUTS, ids=[f"{s}-{d}" for s, d, _ in LAYOUTS])
def test_edge_labels_and_edges_keep_off_cluster_titles(spec: str, depth: int, expand: str | None) -> None:
    source = dot_source(archc.compile_spec(SPECS / spec), depth, expand=expand)
    assert layout_problems(source) == []


@needs_dot
def test_inception_layout_is_clean() -> None:
    assert layout_problems(dot_source(archc.compile_spec(INCEPTION), 3)) == []


# ------------------------------------------------------------------ files, formats, Graphviz


@needs_dot
def test_svg_render() -> None:
    svg = render_bytes(archc.compile_spec(SPECS / "vit_b_16.arch"), "svg").decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "encoder_block × 12" in svg and "197x768" in svg


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@needs_dot
def test_png_dpi(tmp_path: Path) -> None:
    spec = str(SPECS / "resnet18.arch")
    for name, extra in [("default.png", []), ("d100.png", ["--dpi", "100"])]:
        result = runner.invoke(app, ["render", spec, "-o", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
    (w200, h200), (w100, h100) = _png_size(tmp_path / "default.png"), _png_size(tmp_path / "d100.png")
    assert abs(w200 / w100 - 2) < 0.03 and abs(h200 / h100 - 2) < 0.03  # the default is 200 dpi
    assert w200 > 1000  # not the 550-pixel thumbnails of 72 dpi


def test_render_command_formats(tmp_path: Path) -> None:
    spec = str(SPECS / "resnet18.arch")
    out = tmp_path / "r.dot"
    result = runner.invoke(app, ["render", spec, "-o", str(out), "--rankdir", "LR"])
    assert result.exit_code == 0, result.output
    assert "rankdir=LR" in out.read_text()
    bad = runner.invoke(app, ["render", spec, "-o", str(tmp_path / "r.gif")])
    assert bad.exit_code == 2 and "unknown format 'gif'" in bad.stderr
    clash = runner.invoke(app, ["render", spec, "-o", str(tmp_path / "x.png"), "--format", "svg"])
    assert clash.exit_code == 2 and "--format svg does not match the file name x.png" in clash.stderr
    assert not (tmp_path / "x.png").exists()
    same = runner.invoke(app, ["render", spec, "-o", str(tmp_path / "y.gv"), "--format", "dot"])
    assert same.exit_code == 0 and (tmp_path / "y.gv").read_text().startswith("digraph resnet18")
    bare = runner.invoke(app, ["render", spec, "-o", str(tmp_path / "noext"), "--format", "dot"])
    assert bare.exit_code == 0 and (tmp_path / "noext").read_text().startswith("digraph")


def test_render_without_graphviz_fails_after_writing_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for fmt in ("svg", "png", "pdf"):
        result = runner.invoke(
            app, ["render", str(SPECS / "resnet18.arch"), "-o", str(tmp_path / f"r.{fmt}")]
        )
        assert result.exit_code == 2, result.output
        assert "apt-get install graphviz" in result.stderr and "r.dot" in result.stderr
        assert not (tmp_path / f"r.{fmt}").exists()
    assert (tmp_path / "r.dot").read_text().startswith("digraph resnet18")
    dot = runner.invoke(app, ["render", str(SPECS / "resnet18.arch"), "-o", str(tmp_path / "only.dot")])
    assert dot.exit_code == 0  # DOT needs no Graphviz


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
