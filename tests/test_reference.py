"""Exactness against the reference manifests (copied from ../shared/reference)."""

from __future__ import annotations

import pytest
from conftest import SPECS, manifest

import archc
from archc.api import parse_sets

# (spec, --set overrides, manifest, whether fvcore's total also covers our other MACs)
CASES = [
    ("resnet18", [], "torchvision_resnet18", True),
    ("resnet34", [], "torchvision_resnet34", True),
    ("resnet50", [], "torchvision_resnet50", True),
    ("resnet101", [], "torchvision_resnet101", True),
    ("resnet152", [], "torchvision_resnet152", True),
    ("resnet50", [], "timm_resnet50", True),
    ("se_resnet50", [], "timm_seresnet50", False),  # timm's SE pools with x.mean(), which fvcore skips
    ("vit_b_16", [], "torchvision_vit_b_16", True),
    ("vit_b_16", ["dim=1024", "depth=24", "heads=16", "mlp_dim=4096"], "torchvision_vit_l_16", True),
    ("resnet20", [], "cifar_resnet20_optionA", True),
    ("resnet56", [], "cifar_resnet56_optionA", True),
    ("plain20", [], "cifar_plain20", True),
    ("plain56", [], "cifar_plain56", True),
    ("resnet20", ["n=18"], "cifar_resnet110_optionA", True),
    ("vgg11", [], "torchvision_vgg11", True),
    ("vgg16", [], "torchvision_vgg16", True),
    ("vgg19", [], "torchvision_vgg19", True),
    ("vgg16_bn", [], "torchvision_vgg16_bn", True),
    ("vgg19_bn", [], "torchvision_vgg19_bn", True),
    ("alexnet", [], "torchvision_alexnet", True),
    ("googlenet", [], "torchvision_googlenet", True),
    ("rcan", ["scale=2"], "rcan_x2", True),
    ("rcan", ["scale=3"], "rcan_x3", True),
    ("rcan", [], "rcan_x4", True),
    ("rcan", ["scale=8"], "rcan_x8", True),
]


def _compile(spec: str, sets: list[str]) -> archc.Compiled:
    return archc.compile_spec(SPECS / f"{spec}.arch", sets=parse_sets(sets))


@pytest.mark.parametrize(("spec", "sets", "ref", "other"), CASES, ids=[c[2] for c in CASES])
def test_counts_and_state_dict(spec: str, sets: list[str], ref: str, other: bool) -> None:
    m = manifest(ref)
    c = _compile(spec, sets)
    assert c.params == m["total_params"]
    assert c.totals.buffers == m["buffer_numel"]
    assert c.macs == m["macs_dense_ops"]
    if other:
        assert c.macs + c.totals.macs_other == m["macs"]
    assert list(c.output_shape) == m["output_shape"][1:]
    assert list(c.input_shape) == m["input_shape"][1:]
    ours = list(c.state_dict_shapes().items())
    theirs = [(k, tuple(s)) for k, s in m["state_dict"]]
    assert sorted(ours) == sorted(theirs)
    if not ref.startswith("rcan"):  # the official RCAN registers add_mean before the body
        assert ours == theirs  # in the reference's order, as state_dict() lists them
    assert len(ours) == m["num_state_dict_entries"]


def test_hybrid_vit_counts_equal_timm() -> None:
    """Our hybrid uses BatchNorm and plain convolutions where timm's ResNetV2 uses GroupNorm and
    standardised convolutions: the same parameters and MACs under other key names."""
    m = manifest("timm_vit_base_r50_s16_224_nc1000")
    c = _compile("vit_hybrid", [])
    assert c.params == m["total_params"]
    assert c.macs == m["macs_dense_ops"]
    assert list(c.output_shape) == m["output_shape"][1:]


def test_state_dict_order_matches_torchvision_resnet50() -> None:
    c = _compile("resnet50", [])
    assert list(c.state_dict_shapes()) == [k for k, _ in manifest("torchvision_resnet50")["state_dict"]]


def test_se_adds_what_the_paper_says() -> None:
    base = _compile("resnet50", []).params
    se = _compile("se_resnet50", []).params
    # (2/r) * sum over stages of N_s * C_s^2, plus the biases of fc1 (C/r) and fc2 (C) in every block
    stages = [(3, 256), (4, 512), (6, 1024), (3, 2048)]
    weights = sum(n * 2 * c * c // 16 for n, c in stages)
    biases = sum(n * (c // 16 + c) for n, c in stages)
    assert se - base == weights + biases


def test_reduction_override_changes_se_only() -> None:
    r16 = _compile("se_resnet50", [])
    r8 = _compile("se_resnet50", ["reduction=8"])
    assert r8.params > r16.params
    assert r8.state_dict_shapes()["layer1.0.se.fc1.weight"] == (32, 256, 1, 1)
    assert r16.state_dict_shapes()["layer1.0.se.fc1.weight"] == (16, 256, 1, 1)


def test_resnet_depth_override_gives_resnet101() -> None:
    c = _compile("resnet50", ["depths=[3, 4, 23, 3]"])
    assert c.params == manifest("torchvision_resnet101")["total_params"]


def test_input_override_changes_shapes_not_params() -> None:
    c = archc.compile_spec(SPECS / "resnet50.arch", input_shape=(3, 128, 128))
    assert c.params == 25_557_032
    assert c.graph.nodes["layer4.2.bn3"]["shape"] == (2048, 4, 4)


def test_graph_has_hierarchy_and_skip_edges() -> None:
    c = _compile("resnet50", [])
    g = c.graph
    scopes = g.graph["scopes"]
    assert scopes["layer1.0"].definition == "bottleneck"
    assert scopes["layer1.0"].args == {"width": 64, "stride": 1, "groups": 1, "base_width": 64}
    assert scopes["layer2.0"].args == {"width": 128, "stride": 2, "groups": 1, "base_width": 64}
    assert scopes["layer1"].kind == "seq" and scopes["layer1"].children == ["0", "1", "2"]
    node = g.nodes["layer1.0.conv2"]
    assert node["op"] == "conv" and node["in_shapes"] == [(64, 56, 56)] and node["shape"] == (64, 56, 56)
    assert node["span"].line > 0
    # the identity skip of layer1.1 is drawn as a skip edge into the add; the main path is not
    add = "layer1.1.add"
    assert g.edges["layer1.0.relu_2", add]["skip"] is True
    assert g.edges["layer1.1.bn3", add]["skip"] is False
    # layer1.0 projects: the downsample branch is the skip operand
    assert g.edges["layer1.0.downsample.1", "layer1.0.add"]["skip"] is True
