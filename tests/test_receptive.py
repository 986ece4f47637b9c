"""Receptive fields and strides, against their closed forms."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

import archc
from archc.cli import app
from archc.dsl.receptive import LayerField, receptive_fields


@cache
def fields(spec: str) -> dict[str, LayerField]:
    c = archc.compile_spec(ROOT / "specs" / f"{spec}.arch")
    return {f.name: f for f in receptive_fields(c.graph)}


def test_vgg16_pool5_is_212() -> None:
    """VGG: stages of n 3x3 convolutions then a 2x2 max pool; at jump j a k-wide window adds
    (k - 1)·j, and each pool doubles j: r = 1 + Σ_i (2·n_i + 1)·2^i."""
    depths = [2, 2, 3, 3, 3]
    r = 1 + sum((2 * n + 1) * 2**i for i, n in enumerate(depths))
    assert r == 212
    f = fields("vgg16")["features.30"]  # pool5
    assert f.op == "maxpool"
    assert (f.h.size, f.w.size, f.h.jump) == (212, 212, 32)
    assert f.size_text == "212x212" and f.jump_text == "32"


def test_resnet50_stages() -> None:
    """ResNet-50 (torchvision, stride on the 3x3): the stem gives 7 (conv 7/2) + 2·2 (pool 3/2) = 11
    at jump 4; every bottleneck adds 2·j at its 3x3 conv, where the first block of stages 2-4 sees
    j before doubling it."""
    depths = [3, 4, 6, 3]
    r, j = 11, 4
    want = {}
    for stage, n in enumerate(depths, start=1):
        for block in range(n):
            r += 2 * j
            if block == 0 and stage > 1:
                j *= 2
        want[f"layer{stage}.{n - 1}.relu_2"] = (r, j)
    assert [v[0] for v in want.values()] == [35, 91, 267, 427]
    got = fields("resnet50")
    for name, (size, jump) in want.items():
        assert (got[name].h.size, got[name].h.jump) == (size, jump), name
    assert got["avgpool"].h.whole and got["fc"].size_text == "whole"


def test_vit_patches_then_everything() -> None:
    got = fields("vit_b_16")
    assert (got["conv_proj"].h.size, got["conv_proj"].h.jump) == (16, 16)
    assert got["encoder.layers.encoder_layer_0.ln_1"].h.size == 16
    assert got["encoder.layers.encoder_layer_0.self_attention"].h.whole


def test_pixel_shuffle_divides_the_jump() -> None:
    got = fields("rcan")
    head = got["head.0"]
    assert (head.h.size, head.h.jump) == (3, 1)
    # the channel-attention gate pools globally, so every later position sees the whole image
    assert got["tail.1"].h.whole
    assert got["tail.0.1"].h.jump == pytest.approx(0.5) and got["tail.0.3"].h.jump == pytest.approx(0.25)


def test_an_op_without_a_window_makes_the_rest_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    from archc.dsl.ops import REGISTRY

    c = archc.compile_spec(ROOT / "specs" / "vgg11.arch")
    monkeypatch.setattr(type(REGISTRY["maxpool"]), "window", lambda self, a, ins, out: None)
    got = {f.name: f for f in receptive_fields(c.graph)}
    assert got["features.1"].h.size == 3  # before the first pool
    assert got["features.2"].h.unknown == "maxpool" and got["classifier.0"].size_text == "?"


def test_summary_rf_table_and_json() -> None:
    runner = CliRunner()
    spec = str(ROOT / "specs" / "vgg16.arch")
    out = runner.invoke(app, ["summary", spec, "--rf"]).stdout
    line = next(x for x in out.splitlines() if x.startswith("features.30 "))
    assert line.split()[-2:] == ["212x212", "32"]
    data = json.loads(runner.invoke(app, ["summary", spec, "--rf", "--format", "json"]).stdout)
    pool5 = next(f for f in data["receptive_fields"] if f["name"] == "features.30")
    assert pool5["h"] == {"size": 212, "stride": 32, "centre": 15.5}


def test_convnext_tiny_closed_form() -> None:
    """ConvNeXt: a 4x4/4 stem, then per stage n blocks whose 7x7 depthwise convolution adds 6·j,
    and a 2x2/2 downsampling before stages 2-4 that adds j and doubles it."""
    depths = [3, 3, 9, 3]
    r, j = 4, 4
    for stage, n in enumerate(depths):
        if stage:
            r, j = r + j, 2 * j
        r += n * 6 * j
    f = fields("convnext_tiny")["features.7.2.block.0"]  # the last depthwise convolution
    assert (f.h.size, f.h.jump) == (r, 32) == (1688, 32)
    assert fields("convnext_tiny")["avgpool"].h.whole


def _gradient_extent(spec: str, tmp_path: Path) -> tuple[archc.Compiled, list[int]]:
    """The widest span of input rows that the gradient of an output row reaches (the true receptive
    field along H where no padding is involved), over a dozen rows in the middle of the spec's
    output (more than any period of these layers' positions); channels-first maps."""
    torch = pytest.importorskip("torch")
    path = tmp_path / "rf.arch"
    path.write_text(spec)
    c = archc.compile_spec(path)
    torch.manual_seed(0)
    module = c.module().eval()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand_like(p) + 0.1)  # positive weights: no gradient cancels out
    x = torch.rand(1, *c.input_shape, requires_grad=True)
    y = module(x)
    spans = []
    middle = y.shape[2] // 2
    for i in range(max(0, middle - 6), min(y.shape[2], middle + 6)):  # a dozen rows away from the borders
        (g,) = torch.autograd.grad(y[0, :, i].sum(), x, retain_graph=True)
        rows = g[0].abs().sum(dim=(0, 2)).nonzero().flatten().tolist()
        spans.append(rows[-1] - rows[0] + 1)
    return c, spans


@pytest.mark.parametrize(
    "chain",
    [
        "conv(4, k=3) -> conv_transpose(4, k=4, s=2, p=1) -> conv(4, k=3)",
        "conv(4, k=3) -> upsample(2) -> conv(4, k=3)",
        "conv(4, k=3) -> upsample_bilinear(2) -> conv(4, k=3)",
        "conv(4, k=3) -> layernorm2d -> instancenorm(track=true) -> relu6 -> hardswish -> channel_shuffle(2)"
        " -> chunk(2, 0) -> slice(0, 1) -> layer_scale -> conv(4, k=3)",
        "conv(4, k=3) -> permute(0, 2, 3, 1) -> patch_merging -> permute(0, 3, 1, 2) -> conv(4, k=3)",
        "conv(4, k=3) -> permute(0, 2, 3, 1) -> window_attention(2, 5) -> permute(0, 3, 1, 2)",
    ],
)
def test_fields_are_the_widest_gradient_support(chain: str, tmp_path: Path) -> None:
    """The field archc composes from the ops' windows is the widest span of input rows that any
    output row's gradient reaches (positive weights, so that nothing cancels)."""
    c, spans = _gradient_extent(f"network rf():\n    input 3x32x32\n    x -> {chain}\n", tmp_path)
    last = receptive_fields(c.graph)[-1]
    assert last.h.size == max(spans)


@pytest.mark.parametrize(
    "chain",
    [
        "conv(4, k=3, s=2) -> conv_transpose(4, k=3, s=3, d=2) -> conv(4, k=3)",
        "conv(4, k=5, s=2) -> upsample_bilinear(size=[40, 40]) -> conv(4, k=3)",
    ],
)
def test_after_a_fractional_jump_the_field_is_a_continuous_span(chain: str, tmp_path: Path) -> None:
    """Where a resampling layer leaves a jump that is not whole, the field is the span in continuous
    input coordinates: within one jump of the last whole-stride layer (2 here) below the widest
    gradient support, which rounding to that layer's positions can make larger."""
    c, spans = _gradient_extent(f"network rf():\n    input 3x32x32\n    x -> {chain}\n", tmp_path)
    last = receptive_fields(c.graph)[-1]
    assert last.h.jump.denominator > 1
    assert max(spans) - 2 < last.h.size <= max(spans)


def test_group_and_instance_statistics_see_the_whole_map(tmp_path: Path) -> None:
    path = tmp_path / "gn.arch"
    path.write_text("network gn():\n    input 3x8x8\n    x -> conv(4, k=3) -> groupnorm(2) -> instancenorm\n")
    conv, gn, inorm = receptive_fields(archc.compile_spec(path).graph)
    assert conv.h.size == 3 and gn.h.whole and gn.w.whole and inorm.h.whole


def test_softmax_over_a_spatial_dimension_sees_all_of_it(tmp_path: Path) -> None:
    path = tmp_path / "sm.arch"
    path.write_text(
        "network sm():\n    input 3x8x8\n    x -> conv(4, k=3, p=1) -> softmax(2) -> softmax(1)\n"
    )
    first, last = receptive_fields(archc.compile_spec(path).graph)[1:]
    assert first.h.whole and not first.w.whole and first.w.size == 3
    assert last.h.whole and last.w.size == 3  # over the channels: no position added
