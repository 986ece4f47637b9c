"""The modern-zoo ops, each checked three ways against references made outside archc.

``tests/fixtures/ops_reference.json`` and ``ops_torchvision.pt`` come from
``tests/fixtures/make_ops_reference.py``, run with torch, torchvision and fvcore in a separate
environment (never imported here).  For every case - one op on a small input - the tests check:

- the inferred output shape, tensors (keys, shapes, buffer flags, in order), parameter count and
  MACs (dense and other) equal the reference module's and fvcore's figures;
- the emitted module builds, runs with exactly the inferred shapes, has the inferred
  ``state_dict``, and - where it is PyTorch's own module - the reference's class and configuration;
- where archc emits a copy of a torchvision class, its outputs equal torchvision's, bit for bit,
  with torchvision's ``state_dict`` loaded ``strict=True``.
"""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ROOT
from torch import nn

import archc
from archc.codegen.emit import emit, instantiate
from archc.dsl.diagnostics import ArchcError
from archc.dsl.ops import REGISTRY, ChannelsLast, OpError, lookup

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REFERENCE: dict[str, Any] = json.loads((FIXTURES / "ops_reference.json").read_text())["cases"]
TORCHVISION: dict[str, Any] = torch.load(FIXTURES / "ops_torchvision.pt", weights_only=True)["cases"]
_WORK = Path(tempfile.mkdtemp(prefix="archc-test-ops-"))


def compile_text(text: str, name: str = "case") -> archc.Compiled:
    path = _WORK / f"{name}.arch"
    path.write_text(text)
    return archc.compile_spec(path)


def spec_of(case: dict[str, Any]) -> str:
    chain = f"{case['pre']} -> op: {case['spec']}" if case["pre"] else f"op: {case['spec']}"
    shape = "x".join(map(str, case["input"]))
    return f"network n():\n    input {shape}\n    x -> {chain}\n"


@cache
def compiled(case_id: str) -> archc.Compiled:
    return compile_text(spec_of(REFERENCE[case_id]), case_id.replace(".", "_"))


def built(case_id: str) -> nn.Module:
    torch.manual_seed(0)
    model = instantiate(compiled(case_id))
    assert isinstance(model, nn.Module)
    return model.eval()


CASES = sorted(REFERENCE)


def test_every_new_op_has_a_case() -> None:
    tested = {lookup(c["spec"].split("(")[0]).name for c in REFERENCE.values()}  # type: ignore[union-attr]
    new = {
        *("relu6", "hardswish", "hardsigmoid", "silu", "leaky_relu", "softmax", "groupnorm"),
        *("instancenorm", "layernorm2d", "drop_path", "layer_scale", "conv1d", "conv_transpose"),
        *("upsample", "upsample_bilinear", "channel_shuffle", "chunk", "slice", "permute", "transpose"),
        *("window_attention", "patch_merging", "linear"),
    }
    assert new <= tested
    assert new <= set(REGISTRY)


# ------------------------------------------------------------------ inferred = reference


@pytest.mark.parametrize("case_id", CASES)
def test_inferred_equals_reference(case_id: str) -> None:
    ref = REFERENCE[case_id]
    node = compiled(case_id).graph.nodes["op"]
    assert list(node["shape"]) == ref["output"]
    assert [[k, list(s), b] for k, s, b in node["tensors"]] == ref["state_dict"]
    assert node["params"] == ref["params"]
    assert (node["macs"], node["macs_other"]) == (ref["macs_dense"], ref["macs_other"]), ref[
        "macs_by_operator"
    ]
    # an op that fvcore does not count is listed as uncounted, never reported as a silent zero
    assert REGISTRY[node["op"]].counted == (ref["macs_dense"] + ref["macs_other"] > 0)


# ------------------------------------------------------------------ emitted = inferred = reference


def _config(m: nn.Module) -> dict[str, Any]:
    out = {}
    for name in type(m).__constants__:
        v = getattr(m, name)
        out[name] = list(v) if isinstance(v, tuple) else v
    return out


@pytest.mark.parametrize("case_id", CASES)
def test_emitted_module_runs_with_the_inferred_shapes(case_id: str) -> None:
    ref = REFERENCE[case_id]
    c = compiled(case_id)
    node = c.graph.nodes["op"]
    model = built(case_id)
    with torch.no_grad():
        y = model(torch.randn(2, *ref["input"]))
    assert tuple(y.shape) == (2, *node["shape"])
    sd = model.state_dict()
    buffers = {k for k, _ in model.named_buffers()}
    assert [(k, tuple(v.shape), k in buffers) for k, v in sd.items()] == [
        (k, tuple(s), b) for k, s, b in node["tensors"]
    ]
    assert sum(p.numel() for p in model.parameters()) == node["params"] == c.totals.params
    if ref["module"] is not None:  # PyTorch's own module: the same class, built the same way
        op = model.get_submodule("op")
        assert type(op).__name__ == ref["module"]["class"]
        mine = _config(op)
        assert {k: mine[k] for k in ref["module"]["config"] if k in mine} == ref["module"]["config"]


@pytest.mark.parametrize("case_id", sorted(TORCHVISION))
def test_helper_outputs_equal_torchvision(case_id: str) -> None:
    """The helper computes torchvision's function.  The outputs were recorded by torchvision on
    another machine and torch version, whose float kernels (matmul, softmax) may round the last
    bit differently, so they agree to float32 rounding here; bit-identity with torchvision
    running beside the emitted module is what tests/reference/check_outputs.py checks."""
    fixture = TORCHVISION[case_id]
    model = built(case_id)
    model.load_state_dict(fixture["state_dict"], strict=True)
    with torch.no_grad():
        y = model(fixture["input"])
    torch.testing.assert_close(y, fixture["output"], rtol=1e-5, atol=1e-5)
    if "train_output" in fixture:  # stochastic depth: the same samples dropped for the same seed
        model.train()
        torch.manual_seed(fixture["train_seed"])
        with torch.no_grad():
            y = model(fixture["input"])
        assert torch.equal(y == 0, fixture["train_output"] == 0)
        torch.testing.assert_close(y, fixture["train_output"], rtol=1e-5, atol=1e-5)
        dropped = (fixture["train_output"] == 0).flatten(1).all(1)
        assert 0 < int(dropped.sum()) < len(dropped)  # the case exercises both outcomes


def test_torchvision_fixture_is_small() -> None:
    assert sum(p.stat().st_size for p in FIXTURES.iterdir()) < 1_000_000


# ------------------------------------------------------------------ emitted text


def test_emitted_constructors_read_like_torchvision() -> None:
    c = compile_text(
        "network n():\n    input 8x6x7\n"
        "    x -> drop: drop_path(0.1) -> norm: layernorm2d(eps=1e-6) -> up: upsample_bilinear(2)"
        " -> to_hwc: permute(0, 2, 3, 1) -> attn: window_attention(2, 4, shift=2)"
        " -> merge: patch_merging -> gate: hardsigmoid\n",
        "text",
    )
    source = emit(c)
    for line in (
        'self.drop = StochasticDepth(0.1, "row")',
        "self.norm = LayerNorm2d(8, eps=1e-06)",
        'self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)',
        "self.to_hwc = Permute([0, 2, 3, 1])",
        "self.attn = ShiftedWindowAttention(8, [4, 4], [2, 2], 2)",
        "self.merge = PatchMerging(8)",
        "self.gate = nn.Hardsigmoid(inplace=True)",
    ):
        assert line in source
    assert "torchvision" not in source.replace("torchvision's", "")


def test_inline_ops_inside_a_sequence_use_their_modules() -> None:
    """chunk, slice and transpose are written inline in forward; inside nn.Sequential they
    become small modules, with the same result."""
    inline = compile_text(
        "network n():\n    input 8x5x6\n    a = x -> chunk(2, 1)\n    b = x -> slice(4, 8)\n"
        "    return a + b\n",
        "inline",
    )
    seq = compile_text(
        "network n():\n    input 8x5x6\n    a = x -> s1: [chunk(2, 1)]\n    b = x -> s2: [slice(4, 8)]\n"
        "    return a + b\n",
        "seq",
    )
    assert "Chunk(2, 1)" in emit(seq) and "SliceChannels(4, 8)" in emit(seq)
    assert "x.chunk(2, dim=1)[1]" in emit(inline) and "x[:, 4:8]" in emit(inline)
    x = torch.randn(2, 8, 5, 6)
    assert torch.equal(instantiate(inline)(x), instantiate(seq)(x))
    assert torch.equal(instantiate(seq)(x), 2 * x[:, 4:8])
    tokens = compile_text("network n():\n    input 7x12\n    x -> t: [transpose, linear(3)]\n", "tokens")
    y = instantiate(tokens)(torch.randn(2, 7, 12))
    assert tuple(y.shape) == (2, *tokens.totals.output_shape) == (2, 12, 3)


# ------------------------------------------------------------------ blocks: symbolic sizes, channels-last

BLOCKS = """
block cnblock(dim, p=0.1):
    y = x -> block: [conv(dim, k=7, p=3, groups=dim, bias=true), permute(0, 2, 3, 1), layernorm(eps=1e-6),
                     linear(4 * dim), gelu, linear(dim), permute(0, 3, 1, 2)]
    y = y -> layer_scale: layer_scale(1e-6) -> stochastic_depth: drop_path(p)
    return y + x

block swin_block(dim, heads, shift):
    y = x -> norm1: layernorm -> attn: window_attention(heads, 4, shift=shift)
          -> stochastic_depth: drop_path(0.1)
    h = y + x
    z = h -> norm2: layernorm -> mlp: [linear(4 * dim), gelu, dropout(0.0), linear(dim), dropout(0.0)]
    return h + z -> drop_path(0.0)

block shuffle_unit(c):
    a = x -> chunk(2, 0)
    b = x -> chunk(2, 1)
          -> branch2: [conv(c, k=1), bn, relu6, conv(c, k=3, p=1, groups=c), bn, conv(c, k=1), bn, hardswish]
    return cat(a, b) -> channel_shuffle(2)

network n(dim=16):
    input 3x30x30
    x -> stem: [conv(dim, k=3, s=3, bias=true), layernorm2d(eps=1e-6)] -> cnblock(dim) -> cnblock(dim, p=0.2)
      -> shuffle_unit(dim // 2)
      -> features: [permute(0, 2, 3, 1), layernorm]
      -> swin_block(dim, 2, 0) -> swin_block(dim, 4, 2) -> patch_merging -> swin_block(2 * dim, 4, 2)
      -> norm: layernorm -> permute(0, 3, 1, 2) -> up: upsample(2) -> conv_transpose(4, k=2, s=2)
      -> groupnorm(2) -> instancenorm(affine=true) -> gap -> flatten -> head: linear(10) -> softmax
"""


def test_blocks_of_new_ops_build_and_run_with_the_inferred_shapes() -> None:
    """The code generator elaborates each block again with symbolic sizes, and without the
    channels-last tag of its input (swin_block's input is HxWxC): the emitted classes must still
    build the inferred layers, run, and give the inferred shapes."""
    c = compile_text(BLOCKS, "blocks")
    source = emit(c)
    assert "class SwinBlock(nn.Module)" in source and "ShiftedWindowAttention(" in source
    torch.manual_seed(0)
    model = instantiate(c).eval()
    shapes: dict[str, tuple[int, ...]] = {}
    for name, module in model.named_modules():
        if name in c.graph.nodes:
            module.register_forward_hook(
                lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:]))
            )
    with torch.no_grad():
        y = model(torch.randn(2, 3, 30, 30))
    assert tuple(y.shape) == (2, 10)
    assert shapes  # every hooked layer ran with its inferred shape
    for name, shape in shapes.items():
        assert shape == tuple(c.graph.nodes[name]["shape"]), name
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == c.state_dict_shapes()
    assert isinstance(c.graph.nodes["swin_block.attn"]["in_shapes"][0], ChannelsLast)
    assert not isinstance(c.graph.nodes["up"]["in_shapes"][0], ChannelsLast)


def test_blocks_of_new_ops_export_to_onnx() -> None:
    """Emitted code stays exportable: hence torchvision's channel_shuffle, not nn.ChannelShuffle."""
    import io

    onnx = pytest.importorskip("onnx")
    model = instantiate(compile_text(BLOCKS, "blocks_onnx")).eval()
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.randn(1, 3, 30, 30),), buf, dynamo=False)
    onnx.checker.check_model(onnx.load_from_string(buf.getvalue()))


# ------------------------------------------------------------------ layouts


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        (
            "permute(0, 2, 3, 1) -> conv(4, k=1)",
            "conv: expects a channels-first map (CxHxW), got a channels-last",
        ),
        ("permute(0, 2, 3, 1) -> bn", "bn: expects a channels-first map"),
        ("permute(0, 2, 3, 1) -> chunk(2, 0)", "chunk: expects a channels-first map"),
        ("permute(0, 2, 3, 1) -> tokens", "tokens: expects a channels-first map"),
        ("linear(4)", "linear: expects a channels-last map (HxWxC), got a channels-first map 8x6x7"),
        ("window_attention(2, 4)", "window_attention: expects a channels-last map"),
        ("patch_merging", "patch_merging: expects a channels-last map"),
        ("permute(0, 2, 3, 1) -> permute(0, 2, 3, 1)", "would put the channels between"),
        ("permute(0, 1, 3, 2) -> permute(0, 3, 1, 2)", "would put the channels between"),
    ],
)
def test_layout_misuse_is_a_located_error(chain: str, message: str) -> None:
    with pytest.raises(ArchcError) as info:
        compile_text(f"network n():\n    input 8x6x7\n    x -> {chain}\n", "layout")
    assert message in str(info.value)
    assert info.value.diagnostics[0].span.line == 3


def test_layouts_flow_through_ops_on_the_last_dimension() -> None:
    c = compile_text(
        "network n():\n    input 8x6x7\n"
        "    x -> permute(0, 2, 3, 1) -> layernorm -> linear(12) -> gelu -> drop_path(0.1) -> layer_scale"
        " -> permute(0, 2, 1, 3) -> permute(0, 3, 1, 2)\n",
        "flow",
    )
    shapes = [
        c.graph.nodes[n]["shape"] for n in sorted(c.graph.nodes, key=lambda n: c.graph.nodes[n]["order"])
    ]
    assert [isinstance(s, ChannelsLast) for s in shapes] == [
        False,
        True,
        True,
        True,
        True,
        True,
        True,
        True,
        False,
    ]
    assert c.totals.output_shape == (12, 7, 6)  # the permute(0, 1, 3, 2) swapped H and W
    assert c.graph.nodes["layer_scale"]["tensors"] == [("layer_scale", (12,), False)]


def test_merges_refuse_mixed_layouts() -> None:
    with pytest.raises(ArchcError, match="add: operands differ in layout"):
        compile_text(
            "network n():\n    input 8x8x8\n    a = x -> permute(0, 2, 3, 1)\n    return a + x\n", "mixed"
        )
    with pytest.raises(ArchcError, match="cat: expects a channels-first map"):
        compile_text(
            "network n():\n    input 8x8x8\n    a = x -> permute(0, 2, 3, 1)\n    return cat(a, a)\n", "cat"
        )


def test_upsample_rules() -> None:
    up = REGISTRY["upsample"]
    assert up.infer({"scale": 1.5, "size": None}, [(3, 5, 7)]) == (3, 7, 10)
    assert up.infer({"scale": None, "size": (4, 9)}, [(3, 5, 7)]) == (3, 4, 9)
    for args in ({"scale": None, "size": None}, {"scale": 2.0, "size": 4}):
        with pytest.raises(OpError, match="give either scale or size"):
            up.infer(args, [(3, 5, 7)])


def test_conv_transpose_output_size_rule() -> None:
    """out = (in - 1) * s - 2p + d(k - 1) + op + 1, against PyTorch's own module."""
    op = REGISTRY["conv_transpose"]
    for k, s, p, o, d in [
        (3, 2, 1, 1, 1),
        (4, 3, 0, 2, 1),
        (2, 1, 0, 0, 3),
        (5, 2, 2, 0, 2),
        (1, 4, 0, 3, 1),
    ]:
        args = {"out": 2, "k": k, "s": s, "p": p, "op": o, "d": d, "groups": 1, "bias": False}
        got = op.infer(args, [(3, 5, 4)])
        m = nn.ConvTranspose2d(3, 2, k, stride=s, padding=p, output_padding=o, dilation=d)
        assert got == tuple(m(torch.randn(1, 3, 5, 4)).shape[1:])
    with pytest.raises(OpError, match="output padding 2 must be smaller than the stride 2 or the dilation 1"):
        op.infer({"out": 2, "k": 3, "s": 2, "p": 0, "op": 2, "d": 1, "groups": 1, "bias": False}, [(3, 5, 4)])


def test_generated_code_with_new_ops_is_ruff_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    Path("blocks.arch").write_text(BLOCKS)
    Path("blocks.py").write_text(emit(archc.compile_spec("blocks.arch")))
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    for args in (
        ["check", "--isolated", "--select", "E,F,W,I,B,UP,SIM", "."],
        ["format", "--isolated", "--check", "."],
    ):
        result = subprocess.run([ruff, *args], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_docs_list_every_op() -> None:
    """docs/language.md's Ops section and docs/ops.md name every built-in op."""
    language = (ROOT / "docs" / "language.md").read_text()
    section = language.split("## Ops", 1)[1].split("\n## ", 1)[0]
    for name in REGISTRY:
        if REGISTRY[name].arity == 0:
            continue  # merges are written as +, * and cat(...)
        assert f"`{name}" in section, name
