"""Input sizes: the smallest a network accepts (torchvision's `min_size` is the oracle), the set
of valid sizes in words, the nearest valid sizes in `--input` errors, and formulas of H and W."""

from __future__ import annotations

import json
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from conftest import REFERENCE, ROOT
from typer.testing import CliRunner

import archc
from archc.cli import app
from archc.dsl.diagnostics import ArchcError
from archc.dsl.resolution import Resizer, _fit, analyse, formulas, nearest

COUNTING = REFERENCE / "counting"
RUNS: dict[str, Any] = json.loads((COUNTING / "torchvision_min_sizes.json").read_text())["models"]
#: The smallest size torchvision's model runs at: its published `min_size`, or, where the model
#: runs one below it (Swin's min_size is its training size), the smallest size it was seen to run at.
ORACLE: dict[str, int] = {}
PUBLISHED: dict[str, int] = {}
for path in sorted(COUNTING.glob("*.json")):
    meta = json.loads(path.read_text()).get("torchvision_weights_meta")
    if meta:
        PUBLISHED[path.stem] = meta["IMAGENET1K_V1"]["min_size"][0]
        ORACLE[path.stem] = RUNS.get(path.stem, {}).get("smallest_that_runs", PUBLISHED[path.stem])


@cache
def compiled(spec: str, shape: tuple[int, ...] | None = None) -> archc.Compiled:
    return archc.compile_spec(ROOT / "specs" / f"{spec}.arch", input_shape=shape)


def test_the_oracle() -> None:
    assert ORACLE["alexnet"] == 63 and ORACLE["googlenet"] == 15 and ORACLE["vgg16"] == 32
    assert ORACLE["vit_b_16"] == 224 and ORACLE["resnet50"] == 1
    # torchvision's models run at min_size and fail one below, except Swin, which runs at any
    # size from 4 (checked when the oracle was made)
    for name, r in RUNS.items():
        assert r["runs_at_min_size"], name
        if name in ORACLE:
            assert r["min_size"] == PUBLISHED[name]
            assert r["runs_one_below"] in (False, None) or r["smallest_that_runs"] == ORACLE[name], name
    assert PUBLISHED["swin_t"] == 224 and ORACLE["swin_t"] == 4


@pytest.mark.parametrize("spec", sorted(ORACLE))
def test_min_size_is_torchvisions(spec: str) -> None:
    c = compiled(spec)
    res = analyse(c.graph)
    assert res is not None and res.min_size == ORACLE[spec]
    # confirmed by compiling: the same weights at min_size, none (or other weights) one below
    m = ORACLE[spec]
    assert compiled(spec, (3, m, m)).state_dict_shapes() == c.state_dict_shapes()
    if m > 1:
        try:
            below = compiled(spec, (3, m - 1, m - 1))
        except ArchcError:
            return
        assert below.state_dict_shapes() != c.state_dict_shapes()


@pytest.mark.parametrize(
    ("spec", "valid", "exact"),
    [
        ("resnet50", "any size", "multiples of 32 from 32"),
        ("vgg16", "any size from 32", "multiples of 32 from 32"),
        ("alexnet", "any size from 63", "92, 124, 156, ... (every 32)"),
        ("vit_b_16", "224–239", "exactly 224"),
        ("resnet20", "any size", "multiples of 4 from 4"),
    ],
)
def test_valid_sizes_in_words(spec: str, valid: str, exact: str) -> None:
    res = analyse(compiled(spec).graph)
    assert res is not None
    assert res.describe() == valid
    assert res.describe_exact() == exact


def test_vit_is_pinned_by_its_position_embedding() -> None:
    res = analyse(compiled("vit_b_16").graph)
    assert res is not None and res.pinned_by == ["encoder.pos_embedding"]
    assert 384 not in res.valid and res.is_valid(230) and not res.is_valid(240) and not res.is_valid(448)
    # 240 compiles, with another position embedding (15x15 patches + the class token)
    assert compiled("vit_b_16", (3, 240, 240)).state_dict_shapes()["encoder.pos_embedding"] == (1, 226, 768)


def test_periodic_beyond_the_scan() -> None:
    res = analyse(compiled("alexnet").graph)
    assert res is not None and res.periodic and res.scanned < 224
    assert res.is_valid(4000) and res.is_valid(63) and not res.is_valid(62)
    assert res.nearest(50) == [63, 64] and res.nearest(100) == [100, 99]


def test_nearest_sizes_per_dimension() -> None:
    r = Resizer(compiled("alexnet").graph)
    found = nearest(r, (3, 50, 100))
    assert found["h"] == [63, 64] and found["w"] == [] and found["square"] == [75, 74]


def test_check_input_error_names_the_nearest_sizes() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(ROOT / "specs" / "alexnet.arch"), "--input", "3x50x50"])
    assert result.exit_code == 1
    assert "error: maxpool: kernel 3 (dilation 1) is larger than its input" in result.stderr
    note = "note: alexnet does not accept 3x50x50; the nearest sizes it accepts: 3x63x63 or 3x64x64"
    assert note in result.stderr
    assert "Traceback" not in result.output


def test_check_input_notes_other_weights() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(ROOT / "specs" / "vit_b_16.arch"), "--input", "3x384x384"])
    assert result.exit_code == 0
    assert "encoder.pos_embedding 1x577x768 (spec 1x197x768)" in result.stderr


@pytest.mark.parametrize(("spec", "size"), [("resnet50", 320), ("vit_b_16", 384), ("alexnet", 256)])
def test_formulas_equal_compiling_at_that_size(spec: str, size: int) -> None:
    f = formulas(compiled(spec).graph)
    for h, w in ((224, 224), (size, size), (size, 224)):
        c = compiled(spec, (3, h, w))
        assert f.total_macs(h, w) == c.macs
        assert f.total_params(h, w) == c.params
        shapes = {n: d["shape"] for n, d in c.graph.nodes(data=True)}
        for n, polys in f.shapes.items():
            assert tuple(p(h, w) for p in polys) == shapes[n], n


def test_formula_text() -> None:
    f = formulas(compiled("resnet50").graph)
    assert f.step == 32 and f.total_macs.text() == "81,456·H·W + 2,048,000"
    assert f.shape_text("layer4.2.relu_2") == "2,048 x H/32 x W/32"
    v = formulas(compiled("vit_b_16").graph)
    assert v.total_macs.text() == "9·H²·W²/32 + 334,224·H·W + 85,721,088"
    assert v.shape_text("encoder.ln") == "H·W/256 + 1 x 768" and v.pinned_by == ["encoder.pos_embedding"]


def test_fit_recovers_a_polynomial() -> None:
    def p(h: int, w: int) -> int:
        return 3 * h * h * w - 7 * h * w + 5 * w * w + 11

    axis = [2, 3, 4, 5]
    poly = _fit(axis, axis, {(h, w): p(h, w) for h in axis for w in axis})
    assert all(poly(h, w) == p(h, w) for h in range(10) for w in range(10))
    assert dict(poly.terms) == {(0, 0): 11, (1, 1): -7, (0, 2): 5, (2, 1): 3}
    assert poly(Fraction(1, 2), 0) == 11  # type: ignore[arg-type]


def test_summary_resolution_and_symbolic(tmp_path: Path) -> None:
    runner = CliRunner()
    spec = str(ROOT / "specs" / "googlenet.arch")
    args = ["summary", spec, "--resolution", "--symbolic", "--format", "json"]
    data = json.loads(runner.invoke(app, args).stdout)
    assert data["resolution"]["min_size"] == 15 and data["resolution"]["valid"] == "any size from 15"
    assert data["symbolic"]["macs"] == "29,842·H·W + 1,024,000"
    text = runner.invoke(app, ["summary", spec, "--symbolic", "--depth", "1"]).stdout
    assert "MACs = 29,842·H·W + 1,024,000" in text and "inception5b" in text
