"""torchvision's mobile networks, exact: MobileNetV2, MobileNetV3, MNASNet, ShuffleNetV2, SqueezeNet.

Every figure comes from the model's manifest (tests/reference/torchvision_<name>.json, made with
torchvision by make_manifests.py); the specs are specs/<torchvision's constructor name>.arch.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cache

import pytest
from conftest import SPECS, assert_counts_equal, manifest

import archc
from archc.api import parse_sets
from archc.codegen.emit import emit
from archc.validate import validate

MODELS = [
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mnasnet0_5",
    "mnasnet0_75",
    "mnasnet1_0",
    "mnasnet1_3",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
]


def _pooled_by_mean(name: str) -> int:
    """MNASNet and ShuffleNetV2 pool with ``x.mean([2, 3])``, which fvcore does not count; the spec's
    ``gap`` is an adaptive average pool (the same numbers: PyTorch computes a 1x1 adaptive pool as
    that mean), which archc counts as fvcore counts ``adaptive_avg_pool2d``: one per input element."""
    return name.startswith(("mnasnet", "shufflenet"))


@cache
def _compiled(name: str) -> archc.Compiled:
    return archc.compile_spec(SPECS / f"{name}.arch")


def _ops(c: archc.Compiled) -> Counter[str]:
    return Counter(str(d["op"]) for _, d in c.graph.nodes(data=True))


@pytest.mark.parametrize("name", MODELS)
def test_counts_match_torchvision(name: str) -> None:
    m = manifest(f"torchvision_{name}")
    c = _compiled(name)
    assert c.name == name
    for weights in m["torchvision_weights_meta"].values():  # torchvision's published figures
        assert c.params == weights["num_params"]
        assert round(c.macs / 1e9, 3) == weights["_ops"]
    final = c.graph.nodes["gap"]["in_shapes"][0] if _pooled_by_mean(name) else (0, 0, 0)
    assert_counts_equal(c, m, fvcore_extra=final[0] * final[1] * final[2])


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_is_torchvisions_in_order(name: str) -> None:
    m = manifest(f"torchvision_{name}")
    ours = list(_compiled(name).state_dict_shapes().items())
    assert ours == [(k, tuple(s)) for k, s in m["state_dict"]]
    assert len(ours) == m["num_state_dict_entries"]


@pytest.mark.parametrize("name", MODELS)
def test_emitted_module_is_the_analysis(name: str) -> None:
    report = validate(_compiled(name), variants=0)
    assert report.ok, report.differences


# The operators fvcore saw but does not count, with their occurrences in torchvision's forward
# pass (the manifest's macs_unsupported_ops), and the archc op each one is.
FVCORE_OPS = {
    "add": ("aten::add", "aten::add_"),  # residuals: present only where the shapes agree
    "mul": ("aten::mul",),  # squeeze-excitation gates
    "relu6": ("aten::hardtanh_",),
    "hardswish": ("aten::hardswish_",),
    "hardsigmoid": ("aten::hardsigmoid",),
    "maxpool": ("aten::max_pool2d",),
}


@pytest.mark.parametrize("name", MODELS)
def test_layers_torchvision_runs_are_the_specs(name: str) -> None:
    """Residuals, gates and activations occur as often as in torchvision's traced forward pass:
    the conditional residual is there exactly where torchvision's use_res_connect holds."""
    seen = manifest(f"torchvision_{name}")["macs_unsupported_ops"]
    ours = _ops(_compiled(name))
    expected = {op: sum(seen.get(a, 0) for a in atens) for op, atens in FVCORE_OPS.items()}
    assert any(expected.values())
    assert {op: ours[op] for op in FVCORE_OPS} == expected
    if "aten::mean" in seen:  # MNASNet and ShuffleNetV2 pool with x.mean([2, 3])
        assert ours["gap"] == seen["aten::mean"] == 1


# torchvision's batch norm settings (eps, momentum): MobileNetV3's eps 0.001 and momentum 0.01,
# MNASNet's momentum 1 - 0.9997 (the manifests' notes), PyTorch's defaults in MobileNetV2 and
# ShuffleNetV2; SqueezeNet has none.
NORMS = {"mobilenet_v3": (0.001, 0.01), "mnasnet": (1e-5, 0.0003), "squeezenet": None}


@pytest.mark.parametrize("name", MODELS)
def test_batch_norms_have_torchvisions_settings(name: str) -> None:
    want = next((v for k, v in NORMS.items() if name.startswith(k)), (1e-5, 0.1))
    norms = [d["args"] for _, d in _compiled(name).graph.nodes(data=True) if d.get("op") == "bn"]
    assert {(a["eps"], a["momentum"]) for a in norms} == (set() if want is None else {want})


# One representative per family spec, also at other values of the emitted class's arguments.
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mnasnet0_5", "shufflenet_v2_x0_5", "squeezenet1_1"])
def test_emitted_module_is_the_analysis_for_other_arguments(name: str) -> None:
    report = validate(_compiled(name), variants=2)
    assert report.ok, report.differences
    assert len(report.checked) > 1


def test_inverted_residual_is_one_block_with_a_conditional_residual() -> None:
    """Issue 9: MobileNetV2's inverted residual is one block; its residual is emitted as
    torchvision writes it, and its activation is a value the network passes down."""
    c = _compiled("mobilenet_v2")
    blocks = {s.definition for s in c.graph.graph["scopes"].values() if s.kind == "block"}
    assert blocks == {"inverted_residual"}
    source = emit(c)
    assert re.findall(r"^class (\w+)\(", source, re.M) == ["InvertedResidual", "MobilenetV2"]
    assert "self.use_res_connect = stride == 1 and in_channels == out" in source
    assert "return x + y if self.use_res_connect else y" in source
    assert "act: Callable[..., nn.Module] = nn.ReLU6" in source


def test_mobilenet_v2_with_silu_is_one_set_away() -> None:
    base = _compiled("mobilenet_v2")
    silu = archc.compile_spec(SPECS / "mobilenet_v2.arch", sets=parse_sets(["act=silu"]))
    assert silu.state_dict_shapes() == base.state_dict_shapes()
    assert _ops(silu)["relu6"] == 0
    assert (
        _ops(silu)["silu"]
        == _ops(base)["relu6"]
        == manifest("torchvision_mobilenet_v2")["macs_unsupported_ops"]["aten::hardtanh_"]
    )
