"""The diagram options ``archc serve`` draws with: ``ids`` (every node and cluster named by the
paths it draws) and ``folds`` (modules opened or folded by path, over ``--depth`` and
``--expand``).  Without them a diagram is exactly what ``archc render`` draws; with them every
layer is drawn by one id, and opening or folding a module changes that module only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import SPECS

import archc
from archc.api import parse_sets
from archc.render import Drawing, diagram, drawing, render_bytes

CASES = [  # spec, --set, depth, expand: every kind of fold, fusion and title the drawer makes
    ("resnet18.arch", [], 2, None),  # expand=all; stages of identical blocks as one node
    ("se_resnet50.arch", [], 4, "first"),  # the first block of each stage open, runs × N, gates
    ("se_resnet50.arch", [], 3, "once"),
    ("googlenet.arch", [], 3, None),  # modules that are one conv, bn and relu: one node
    ("vit_b_16.arch", ["depth=3"], 3, None),  # attention clusters
    ("resnet50.arch", [], None, None),  # every layer its own node, nothing fused
]
IDS = [f"{spec}-{depth}-{expand}" for spec, _, depth, expand in CASES]
_ID_ATTR = re.compile(r' id="[^"]*"|\n\t+id="[^"]*"')


def compiled(spec: str, sets: list[str]) -> Any:
    return archc.compile_spec(SPECS / spec, sets=parse_sets(sets))


def draw(c: Any, depth: int | None, expand: str | None, folds: dict[str, bool] | None = None) -> Drawing:
    return drawing(c, depth, expand=expand, folds=folds)


def layers_drawn(c: Any, d: Drawing) -> list[str]:
    """Every layer, once for each node (not cluster) that draws it."""
    scopes = c.graph.graph["scopes"]
    out = []
    for key, parts in d.parts.items():
        if key[0] not in "nm":
            continue
        for p in parts:
            if p in c.graph.nodes:
                out.append(p)
            else:
                assert p in scopes, (key, p)
                out += [n for n in c.graph.nodes if n.startswith(p + ".")]
    return out


def inside(key: str, parts: tuple[str, ...], paths: list[str]) -> bool:
    """Whether an id draws something inside (or equal to) one of ``paths``."""
    return any(p == q or p.startswith(q + ".") for p in parts for q in paths) or any(
        key[2:].startswith(q + ".") for q in paths
    )


@pytest.mark.parametrize(("spec", "sets", "depth", "expand"), CASES, ids=IDS)
def test_ids_name_every_node_and_change_nothing_else(
    spec: str, sets: list[str], depth: int | None, expand: str | None
) -> None:
    c = compiled(spec, sets)
    plain = diagram(c, depth, expand=expand).source
    d = draw(c, depth, expand)
    source = d.dot.source
    assert source != plain and _ID_ATTR.sub("", source) == plain
    assert diagram(c, depth, expand=expand, folds={}, ids=False).source == plain
    # one id per node statement (input and output aside) and per cluster, each recorded
    statements = [line for line in source.splitlines() if re.match(r'^\t+("[^"]+"|\w+) \[label=', line)]
    named = re.findall(r' id="([^"]+)"', source)
    clusters = re.findall(r'^\t+id="([^"]+)"$', source, re.MULTILINE)
    assert len(named) == len(statements) - 2
    assert len(set(named + clusters)) == len(named) + len(clusters)
    assert set(named + clusters) == set(d.parts)
    # every layer is drawn by exactly one node
    drawn = layers_drawn(c, d)
    assert sorted(drawn) == sorted(n for n in c.graph.nodes if n != "input")
    # what a title node names is its cluster
    titles = {k[2:] for k in d.parts if k.startswith("t:")}
    assert titles == {k[2:] for k in d.parts if k.startswith("c:")}


@pytest.mark.parametrize(("spec", "sets", "depth", "expand"), CASES[:5], ids=IDS[:5])
def test_opening_a_folded_node_opens_its_modules_only(
    spec: str, sets: list[str], depth: int | None, expand: str | None
) -> None:
    c = compiled(spec, sets)
    before = draw(c, depth, expand)
    folded = [(k, v) for k, v in before.parts.items() if k.startswith("m:")]
    assert folded
    for key, members in folded:
        after = draw(c, depth, expand, {m: True for m in members})
        # each module of the fold is now open: a cluster, or a node that draws one layer chain
        for m in members:
            assert f"c:{m}" in after.parts or after.parts.get(f"n:{m}") == (m,), (key, m)
        assert not any(k.startswith("m:") and set(v) & set(members) for k, v in after.parts.items())
        # the rest of the diagram is as it was
        outside = {k for k, v in after.parts.items() if not inside(k, v, list(members))}
        assert outside == {k for k, v in before.parts.items() if not inside(k, v, list(members))}
        assert sorted(layers_drawn(c, after)) == sorted(layers_drawn(c, before))


@pytest.mark.parametrize(("spec", "sets", "depth", "expand"), CASES[:5], ids=IDS[:5])
def test_folding_a_cluster_makes_it_one_node(
    spec: str, sets: list[str], depth: int | None, expand: str | None
) -> None:
    c = compiled(spec, sets)
    before = draw(c, depth, expand)
    clusters = [k[2:] for k in before.parts if k.startswith("c:")]
    assert clusters
    for path in clusters:
        after = draw(c, depth, expand, {path: False})
        assert f"c:{path}" not in after.parts and f"t:{path}" not in after.parts
        node = [k for k, v in after.parts.items() if k.startswith("m:") and path in v]
        assert node == [f"m:{path}"] or (len(node) == 1 and len(after.parts[node[0]]) > 1), (path, node)
        # nothing outside it opens or folds (a fold may only join identical folded siblings)
        run = list(after.parts[node[0]])
        outside = {k for k, v in after.parts.items() if not inside(k, v, run)}
        assert outside == {k for k, v in before.parts.items() if not inside(k, v, run)}
        assert sorted(layers_drawn(c, after)) == sorted(layers_drawn(c, before))


def test_a_run_opens_and_folds_back() -> None:
    """ResNet-50 at depth 4: ``layer3.1..5`` is one node marked × 5; opening it draws five
    blocks, folding one of them again leaves the other four open."""
    c = compiled("resnet50.arch", [])
    before = draw(c, 4, None)
    members = before.parts["m:layer3.1..5"]
    assert members == tuple(f"layer3.{i}" for i in range(1, 6))
    opened = {m: True for m in members}
    after = draw(c, 4, None, opened)
    assert all(f"c:{m}" in after.parts for m in members)
    again = draw(c, 4, None, {**opened, "layer3.3": False})
    assert "m:layer3.3" in again.parts and "c:layer3.3" not in again.parts
    assert all(f"c:{m}" in again.parts for m in members if m != "layer3.3")
    # the first block folded: the rest of the stage stays folded, joined to it when identical
    first = draw(c, 4, None, {"layer3.0": False})
    assert {"m:layer3.0", "m:layer3.1..5"} <= set(first.parts) and "c:layer3.0" not in first.parts
    # a folded stage, and its blocks opened by depth
    stage = draw(c, 2, None, {"layer3": False})
    assert stage.parts["m:layer3"] == ("layer3",) and not any(k.startswith("m:layer3.") for k in stage.parts)


def test_fused_nodes_say_what_they_draw() -> None:
    """A layer with its norm and activation is one node naming all three; a module that is only
    that (GoogLeNet's ``basic_conv``) is one node named by the module."""
    c = compiled("googlenet.arch", [])
    d = draw(c, 3, None)
    assert d.parts["n:conv1"] == ("conv1",)  # a basic_conv module drawn as one node
    assert c.graph.graph["scopes"]["conv1"].definition == "basic_conv"
    r = draw(compiled("resnet18.arch", []), 2, None)
    assert r.parts["n:conv1"] == ("conv1", "bn1", "relu")


def test_svg_carries_the_ids() -> None:
    c = compiled("resnet18.arch", [])
    svg = render_bytes(c, "svg", folds={"layer2.0": True}, ids=True).decode()
    for key in ("c:layer2", "t:layer2", "c:layer2.0", "m:layer2.1", "n:conv1", "n:layer2.0.conv1"):
        assert f'<g id="{key}"' in svg, key
    assert 'id="c:' not in render_bytes(c, "svg").decode()
