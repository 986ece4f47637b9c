"""The variants a researcher writes first, each a short edit under examples/variants/ (issue 9):
what each changes, counted independently, and that the emitted module is the analysed network."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import ROOT, SPECS

import archc
import archc.codegen.emit
from archc.validate import validate

VARIANTS = ROOT / "examples" / "variants"


def load(name: str) -> archc.Compiled:
    return archc.load(VARIANTS / f"{name}.arch")


def ops(c: archc.Compiled) -> Counter[str]:
    return Counter(d["op"] for n, d in c.graph.nodes(data=True) if n != "input")


def test_se_in_layer4_only_adds_three_se_blocks() -> None:
    base, c = archc.load(SPECS / "resnet50.arch"), load("se_layer4")
    # an SE block on C = 2048 channels, r = 16: two 1x1 convs with biases
    se = 2048 * 128 + 128 + 128 * 2048 + 2048
    assert c.params == base.params + 3 * se
    assert sorted({k.split(".se.")[0] for k in c.state_dict_shapes() if ".se." in k}) == [
        "layer4.0",
        "layer4.1",
        "layer4.2",
    ]
    text = (VARIANTS / "se_layer4.arch").read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) <= 5


def test_gelu_everywhere() -> None:
    base, c = ops(archc.load(SPECS / "resnet50.arch")), ops(load("resnet50_gelu"))
    assert c["gelu"] == base["relu"] == 49 and c["relu"] == 0
    assert load("resnet50_gelu").params == archc.load(SPECS / "resnet50.arch").params


def test_groupnorm_in_place_of_batchnorm() -> None:
    c = load("resnet50_gn")
    counts = ops(c)
    assert counts["groupnorm"] == 53 and counts["bn"] == 0
    assert c.totals.buffers == 0  # no running statistics
    assert all(d["args"]["groups"] == 32 for _, d in c.graph.nodes(data=True) if d["op"] == "groupnorm")


def test_stochastic_depth_on_every_residual_branch() -> None:
    c = load("resnet50_sd")
    drops = [d for _, d in c.graph.nodes(data=True) if d["op"] == "drop_path"]
    assert len(drops) == 16 and {d["args"]["p"] for d in drops} == {0.1}
    assert archc.load(VARIANTS / "resnet50_sd.arch", drop_path_rate=0.2).graph.nodes["layer1.0.drop_path"][
        "args"
    ]["p"] == pytest.approx(0.2)


def test_vit_with_patch_32() -> None:
    c = load("vit_b_32")
    # torchvision's vit_b_32: 88,224,232 parameters, 4.409 GFLOPs (its published _ops)
    assert c.params == 88_224_232
    assert round(c.macs / 1e9, 3) == 4.409
    assert c.graph.nodes["encoder.pos_embedding"]["shape"] == (50, 768)


def test_mobilenet_v2_with_silu() -> None:
    base, c = archc.load(SPECS / "mobilenet_v2.arch"), load("mobilenet_v2_silu")
    assert ops(c)["silu"] == ops(base)["relu6"] == 35 and ops(c)["relu6"] == 0
    assert c.state_dict_shapes() == base.state_dict_shapes()  # an activation has no weights
    assert "act: Callable[..., nn.Module] = nn.SiLU" in archc.codegen.emit.emit(c)


@pytest.mark.parametrize(
    "name", ["se_layer4", "resnet50_gelu", "resnet50_gn", "resnet50_sd", "vit_b_32", "mobilenet_v2_silu"]
)
def test_the_emitted_module_is_the_variant(name: str) -> None:
    report = validate(load(name), variants=1)
    assert report.ok, report.differences
