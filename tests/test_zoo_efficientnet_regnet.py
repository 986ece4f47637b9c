"""torchvision's EfficientNet-B0...B7, EfficientNetV2-S, RegNetX and RegNetY, exactly.

Every figure of each manifest (tests/reference/torchvision_<name>.json, made with torchvision by
make_manifests.py): parameters, buffers, dense MACs (= torchvision's published ``_ops``),
fvcore's total, input and output shapes, and the ordered ``state_dict``; then translation
validation of the emitted module (archc.validate). The specs are
specs/<torchvision's constructor name>.arch over two family specs, specs/efficientnet.arch and
specs/regnet.arch.

EfficientNet-B1...B7 and RegNetY-128GF state their own input in their derived network's `with:`.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from typing import Any

import pytest
from conftest import SPECS, assert_counts_equal, manifest

import archc
from archc.api import parse_sets
from archc.codegen.emit import emit
from archc.validate import validate

EFFICIENTNETS = [f"efficientnet_b{i}" for i in range(8)] + ["efficientnet_v2_s"]
REGNETS = [
    f"regnet_{kind}_{size}"
    for kind in ("x", "y")
    for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")
] + ["regnet_y_128gf"]
MODELS = EFFICIENTNETS + REGNETS
# one per family spec and kind: its emitted classes are also built with other argument values
REPRESENTATIVES = ["efficientnet_b0", "efficientnet_v2_s", "regnet_x_400mf", "regnet_y_400mf"]


def _reference_input(name: str) -> tuple[int, ...]:
    return tuple(manifest(f"torchvision_{name}")["input_shape"][1:])


@cache
def _spec(name: str) -> archc.Compiled:
    """The spec as written, at its own input."""
    return archc.compile_spec(SPECS / f"{name}.arch")


@cache
def _compiled(name: str, shape: tuple[int, ...] | None = None) -> archc.Compiled:
    """The spec at the reference's input (``shape``: at another)."""
    shape = shape or _reference_input(name)
    if tuple(_spec(name).input_shape) == shape:
        return _spec(name)
    return archc.compile_spec(SPECS / f"{name}.arch", input_shape=shape)


def _ops(c: archc.Compiled) -> Counter[str]:
    return Counter(str(d["op"]) for _, d in c.graph.nodes(data=True))


@pytest.mark.parametrize("name", MODELS)
def test_counts_match_torchvision(name: str) -> None:
    m = manifest(f"torchvision_{name}")
    c = _compiled(name)
    assert c.name == name
    assert_counts_equal(c, m)


@pytest.mark.parametrize("name", MODELS)
def test_published_figures_of_every_weight(name: str) -> None:
    """torchvision's num_params and _ops (GMACs) of each of its weights, at that weight's crop:
    RegNetY-16GF, -32GF and -128GF have SWAG weights at 384x384 besides those at 224x224."""
    for weights in manifest(f"torchvision_{name}")["torchvision_weights_meta"].values():
        c = _compiled(name, (3, *weights["crop_size"]))
        assert c.params == weights["num_params"]
        assert round(c.macs / 1e9, 3) == weights["_ops"]


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_is_torchvisions_in_order(name: str) -> None:
    m = manifest(f"torchvision_{name}")
    ours = list(_compiled(name).state_dict_shapes().items())
    assert ours == [(k, tuple(s)) for k, s in m["state_dict"]]
    assert len(ours) == m["num_state_dict_entries"]
    assert ours == list(_spec(name).state_dict_shapes().items())  # the input changes no tensor


@pytest.mark.parametrize("name", MODELS)
def test_spec_input_is_the_references(name: str) -> None:
    assert tuple(_spec(name).input_shape) == _reference_input(name)


@pytest.mark.parametrize("name", MODELS)
def test_emitted_module_is_the_analysis(name: str) -> None:
    report = validate(_spec(name), variants=2 if name in REPRESENTATIVES else 0)
    assert report.ok, report.differences
    if name in REPRESENTATIVES:
        assert len(report.checked) > 1  # other argument values were built and compared


# The operators fvcore saw but does not count, with their occurrences in torchvision's forward
# pass (the manifest's macs_unsupported_ops), and the archc op each one is.
FVCORE_OPS = {
    "add": ("aten::add", "aten::add_"),  # residuals: present only where the shapes agree
    "mul": ("aten::mul",),  # squeeze-excitation gates
    "sigmoid": ("aten::sigmoid",),
    "silu": ("aten::silu_",),
    "dropout": ("aten::dropout_",),
}


@pytest.mark.parametrize("name", MODELS)
def test_layers_torchvision_runs_are_the_specs(name: str) -> None:
    """Residuals, gates and activations occur as often as in torchvision's traced forward pass:
    the conditional residual is there exactly where torchvision's use_res_connect (MBConv) or
    its identity shortcut (RegNet) is."""
    seen = manifest(f"torchvision_{name}")["macs_unsupported_ops"]
    ours = _ops(_compiled(name))
    expected = {op: sum(seen.get(a, 0) for a in atens) for op, atens in FVCORE_OPS.items()}
    assert expected["add"] > 0
    if name.startswith("regnet"):
        del expected["dropout"]  # RegNet has no dropout; fvcore does not list ReLU
    assert {op: ours[op] for op in expected} == expected


# torchvision's batch norm settings (eps, momentum): B5...B7 use eps 0.001 and momentum 0.01,
# EfficientNetV2 eps 0.001 (the manifests' notes), the others PyTorch's defaults.
NORMS = {
    "efficientnet_b5": (0.001, 0.01),
    "efficientnet_b6": (0.001, 0.01),
    "efficientnet_b7": (0.001, 0.01),
    "efficientnet_v2_s": (0.001, 0.1),
}


@pytest.mark.parametrize("name", MODELS)
def test_batch_norms_have_torchvisions_settings(name: str) -> None:
    norms = [d["args"] for _, d in _spec(name).graph.nodes(data=True) if d.get("op") == "bn"]
    assert {(a["eps"], a["momentum"]) for a in norms} == {NORMS.get(name, (1e-5, 0.1))}


def _blocks(c: archc.Compiled, stages: range) -> list[Any]:
    scopes = c.graph.graph["scopes"]
    return [scopes[f"features.{s}.{i}"] for s in stages for i in scopes[f"features.{s}"].children]


@pytest.mark.parametrize(
    ("name", "stages", "blocks"),
    [
        ("efficientnet_b0", range(1, 8), 16),
        ("efficientnet_b7", range(1, 8), 55),
        ("efficientnet_v2_s", range(1, 7), 40),
    ],
)
def test_stochastic_depth_rises_linearly_over_the_blocks(name: str, stages: range, blocks: int) -> None:
    """torchvision: sd_prob = stochastic_depth_prob * float(stage_block_id) / total_stage_blocks;
    a drop_path exists (and uses it) exactly in the blocks with a residual."""
    found = _blocks(_spec(name), stages)
    assert len(found) == blocks
    assert [b.args["stochastic_depth_prob"] for b in found] == [
        0.2 * float(k) / blocks for k in range(blocks)
    ]
    assert _ops(_spec(name))["drop_path"] == _ops(_spec(name))["add"]


def test_mbconv_is_one_block_with_a_conditional_residual() -> None:
    """MBConv and FusedMBConv are one block each; the residual is emitted as torchvision writes
    it, and the expansion exists only where it widens (B0's first stage has none)."""
    c = _spec("efficientnet_v2_s")
    blocks = {s.definition for s in c.graph.graph["scopes"].values() if s.kind == "block"}
    assert blocks == {"mbconv", "fused_mbconv", "squeeze_excitation"}
    assert re.search(r"\bif self\.use_res_connect\b", emit(c))  # a statement or a ternary
    shapes = _spec("efficientnet_b0").state_dict_shapes()
    assert shapes["features.1.0.block.0.0.weight"] == (32, 1, 3, 3)  # depthwise first: t = 1
    assert shapes["features.2.0.block.0.0.weight"] == (96, 16, 1, 1)  # 1x1 expansion: t = 6
    assert shapes["features.2.0.block.2.fc1.weight"] == (4, 96, 1, 1)  # squeeze to in.c // 4


def test_regnet_widths_and_groups_are_torchvisions() -> None:
    """The group width is at most the bottleneck width (RegNetX-8GF's first stage: 80 < 120),
    RegNetY squeezes to a quarter of the block's input width, and proj exists where the width or
    the stride changes."""
    shapes = _spec("regnet_x_8gf").state_dict_shapes()
    assert shapes["trunk_output.block1.block1-0.f.b.0.weight"] == (80, 80, 3, 3)  # one group
    assert shapes["trunk_output.block2.block2-0.f.b.0.weight"] == (240, 120, 3, 3)  # two groups
    y = _spec("regnet_y_400mf").state_dict_shapes()
    assert y["trunk_output.block2.block2-0.f.se.fc1.weight"] == (12, 104, 1, 1)  # 0.25 * 48
    assert y["trunk_output.block2.block2-1.f.se.fc1.weight"] == (26, 104, 1, 1)  # 0.25 * 104
    assert "trunk_output.block2.block2-0.proj.0.weight" in y
    assert "trunk_output.block2.block2-1.proj.0.weight" not in y


def test_regnet_x_is_regnet_y_without_squeeze_excitation() -> None:
    """The family spec's se_ratio: 0 leaves the gate out, the rest of the network unchanged."""
    y = archc.compile_spec(SPECS / "regnet_y_400mf.arch")
    x = archc.compile_spec(SPECS / "regnet_y_400mf.arch", sets=parse_sets(["se_ratio=0.0"]))
    assert _ops(x)["mul"] == 0 < _ops(y)["mul"]
    without_se = {k: v for k, v in y.state_dict_shapes().items() if ".f.se." not in k}
    assert x.state_dict_shapes() == without_se
