"""Receptive fields and strides, against their closed forms."""

from __future__ import annotations

import json
from functools import cache

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
