"""torchvision's ConvNeXt, Swin, DenseNet, Wide ResNet-50-2 and ResNeXt-50 32x4d, exactly.

Every figure of each manifest (tests/reference/torchvision_<model>.json, made by
make_manifests.py with torchvision 0.29.1 and fvcore): parameters, buffers, dense MACs (=
torchvision's published ``_ops``), fvcore's total, input and output shapes, and the ordered
``state_dict``; then translation validation of the emitted module (archc.validate)."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import torch
from conftest import SPECS, assert_counts_equal, manifest

import archc
from archc.api import parse_sets
from archc.codegen.emit import emit
from archc.dsl.diagnostics import ArchcError
from archc.validate import load_module, validate

MODELS = [
    "convnext_tiny",
    "convnext_small",
    "convnext_base",
    "convnext_large",
    "swin_t",
    "swin_s",
    "swin_b",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "wide_resnet50_2",
    "resnext50_32x4d",
]
# one per family: its emitted class is also built with other values of its arguments
REPRESENTATIVES = ["convnext_tiny", "swin_t", "densenet121", "resnext50_32x4d"]


@cache
def _compile(spec: str, sets: tuple[str, ...] = ()) -> archc.Compiled:
    return archc.compile_spec(SPECS / f"{spec}.arch", sets=parse_sets(list(sets)))


@pytest.mark.parametrize("model", MODELS)
def test_counts_equal_torchvision(model: str) -> None:
    m, c = manifest(f"torchvision_{model}"), _compile(model)
    assert_counts_equal(c, m)


@pytest.mark.parametrize("model", MODELS)
def test_state_dict_is_torchvisions_in_its_order(model: str) -> None:
    m, c = manifest(f"torchvision_{model}"), _compile(model)
    ours = list(c.state_dict_shapes().items())
    assert ours == [(k, tuple(s)) for k, s in m["state_dict"]]
    assert len(ours) == m["num_state_dict_entries"]


@pytest.mark.parametrize("model", MODELS)
def test_emitted_module_is_the_analysed_network(model: str) -> None:
    report = validate(_compile(model), variants=2 if model in REPRESENTATIVES else 0)
    assert report.ok, report.differences
    if model in REPRESENTATIVES:
        assert len(report.checked) > 1  # other argument values were built and compared


def test_relative_position_index_is_an_int64_buffer() -> None:
    """Swin's relative_position_index is an int64 buffer in torchvision's state_dict."""
    c = _compile("swin_t")
    dtypes = manifest("torchvision_swin_t")["state_dict_dtypes"]
    assert len(dtypes) == 12
    with torch.device("meta"):
        model = load_module(emit(c), "swin_t").swin_t()
    sd = model.state_dict()
    buffers = {k for k, _ in model.named_buffers()}
    for key, dtype in dtypes.items():
        assert sd[key].dtype == getattr(torch, dtype) and key in buffers


def _stage_blocks(c: archc.Compiled, stages: list[str]) -> list[Any]:
    scopes = c.graph.graph["scopes"]
    return [scopes[f"{s}.{child}"] for s in stages for child in scopes[s].children]


@pytest.mark.parametrize(
    ("model", "stages", "p"),
    [
        ("convnext_tiny", ["features.1", "features.3", "features.5", "features.7"], 0.1),
        ("convnext_large", ["features.1", "features.3", "features.5", "features.7"], 0.5),
        ("swin_t", ["features.1", "features.3", "features.5", "features.7"], 0.2),
        ("swin_b", ["features.1", "features.3", "features.5", "features.7"], 0.5),
    ],
)
def test_stochastic_depth_rises_linearly_over_the_blocks(model: str, stages: list[str], p: float) -> None:
    """torchvision: sd_prob = stochastic_depth_prob * block_id / (total_blocks - 1)."""
    blocks = _stage_blocks(_compile(model), stages)
    assert [b.args["stochastic_depth_prob"] for b in blocks] == [
        p * k / (len(blocks) - 1.0) for k in range(len(blocks))
    ]


def test_swin_shifts_every_other_block_by_half_a_window() -> None:
    blocks = _stage_blocks(_compile("swin_s"), ["features.1", "features.3", "features.5", "features.7"])
    assert len(blocks) == 24
    for stage in ("features.1", "features.3", "features.5", "features.7"):
        scopes = _compile("swin_s").graph.graph["scopes"]
        shifts = [scopes[f"{stage}.{i}"].args["shift"] for i in scopes[stage].children]
        assert shifts == [0 if i % 2 == 0 else 3 for i in range(len(shifts))]


def test_densenet_grows_by_the_growth_rate_and_halves_in_transitions() -> None:
    c = _compile("densenet161")
    shapes = c.state_dict_shapes()
    # DenseNet-161: 96 initial features, growth 48; layer i of block 1 sees 96 + 48 * i channels
    assert [shapes[f"features.denseblock1.denselayer{i + 1}.norm1.weight"] for i in range(6)] == [
        (96 + 48 * i,) for i in range(6)
    ]
    assert shapes["features.transition1.conv.weight"] == (192, 384, 1, 1)
    assert shapes["classifier.weight"] == (1000, 2208)


def test_resnet_groups_and_width_per_group_are_torchvisions() -> None:
    """resnet50 with torchvision's ResNeXt / Wide ResNet arguments is those networks; the
    seed networks keep their counts (tests/test_reference.py checks them in full)."""
    rx = _compile("resnet50", ("groups=32", "width_per_group=4"))
    assert rx.params == manifest("torchvision_resnext50_32x4d")["total_params"]
    wide = _compile("resnet50", ("width_per_group=128",))
    assert wide.params == manifest("torchvision_wide_resnet50_2")["total_params"]
    assert _compile("resnext50_32x4d").state_dict_shapes()["layer1.0.conv2.weight"] == (128, 4, 3, 3)


def test_basic_block_refuses_groups_as_torchvision_does() -> None:
    with pytest.raises(ArchcError) as info:
        archc.compile_spec(SPECS / "resnet18.arch", sets=parse_sets(["groups=32"]))
    d = info.value.diagnostics[0]
    assert "basic_block only supports groups=1 and base_width=64" in d.message
    assert d.span.file.endswith("resnet.arch")
