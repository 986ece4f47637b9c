"""Counting conventions: what fvcore, torchvision, ptflops and torchinfo each count, per op.

The tools disagree because each counts different things: fvcore counts aten operators it has a
handle for; ptflops hooks ``nn.Module`` types and patches a few functions (so an ``nn.ReLU`` is
counted twice, once by its module hook and once by the patched ``F.relu`` it calls); torchinfo
multiplies each leaf module's parameters by its output size; torchvision publishes the dense
multiply-adds only.  Each convention below is a table keyed by archc op name, the way fvcore
keeps its own handle table keyed by aten operator: a :class:`Rule` says how many MACs that tool
reports for one layer of the op and, in words, what it counts or why it counts nothing.  An op a
table lacks is reported as having *no rule* (the total is then marked incomplete), never as 0.

The tables keep each tool's rules together (they are read side by side with the tool's source);
the shared arithmetic (a convolution's multiply-adds, a bias per output element) comes from the
op classes (:meth:`Op.macs`, :meth:`Op.tensors`), so the size of a convolution is still defined
in one place.  Every rule was derived from the tool's source and checked, to the unit, against
what the tool prints for archc's emitted modules (``tests/reference/make_counting.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import prod
from typing import Any

import networkx as nx

from archc.dsl.ops import REGISTRY, Op, Shape

Count = Callable[[Op, dict[str, Any], list[Shape], Shape], int]


@dataclass(frozen=True, slots=True)
class Rule:
    """How one tool counts one op: ``count`` gives the MACs it reports for one sample, ``says``
    what that covers (or why it is nothing)."""

    count: Count
    says: str

    @property
    def zero(self) -> bool:
        return self.count is _zero


@dataclass(frozen=True, slots=True)
class Convention:
    name: str
    tool: str  # the tool and the call whose figure this reproduces
    unit: str  # what one unit of the figure is: MACs, or MACs plus other operations
    rules: Mapping[str, Rule]


# ------------------------------------------------------------------ shared arithmetic


def _zero(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return 0


def _dense(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """The op's dense multiply-adds (convolution, linear, attention), as :meth:`Op.macs` defines."""
    return op.macs(a, ins, out)[0]


def _bias_outputs(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """One addition per output element that has a bias (conv, linear, patch embedding)."""
    has_bias = any(t.suffix.endswith("bias") for t in op.tensors(a, ins, out))
    return prod(out) if has_bias else 0


def _dense_and_bias(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return _dense(op, a, ins, out) + _bias_outputs(op, a, ins, out)


def _dense_and_other(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """The op's dense and other MACs (:meth:`Op.macs`: fvcore's norm, upsampling and pooling handles)."""
    dense, other = op.macs(a, ins, out)
    return dense + other


def _numel_in(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return prod(ins[0])


def _twice_numel_in(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return 2 * prod(ins[0])


def _twice_numel_out(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return 2 * prod(out)


def _numel_out(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    return prod(out)


def _ptflops_upsample(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """The nn.Upsample hook counts the output's elements (of its first sample: at batch 1 the
    same), and the patched F.interpolate it calls counts the size's elements, or the input's times
    the scale squared (truncated here where that is not whole)."""
    if a["scale"] is None:
        return 2 * prod(out)
    return prod(out) + int(prod(ins[0]) * float(a["scale"]) ** 2)


def _padded_tokens(a: dict[str, Any], ins: list[Shape]) -> tuple[int, int, int]:
    """Window attention's tokens padded to whole windows, tokens per window, and channels."""
    h, w, c = ins[0]
    wh, ww = (a["window"], a["window"]) if isinstance(a["window"], int) else a["window"]
    return -(-h // wh) * wh * (-(-w // ww) * ww), wh * ww, c


def _ptflops_window_attention(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """Only what the patched Tensor.matmul and F.softmax see: Q·Kᵀ and A·V, and the softmax's input."""
    tokens, n, c = _padded_tokens(a, ins)
    heads: int = a["heads"]
    return 2 * tokens * n * c + heads * tokens * n


def _window_attention_and_biases(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """aten.addmm of the qkv and proj linears (and aten.bmm): the products and 1 per biased output."""
    tokens, _, c = _padded_tokens(a, ins)
    biased = 3 * int(a["qkv_bias"]) + int(a["proj_bias"])
    return _dense(op, a, ins, out) + tokens * c * biased


def _ptflops_patch_merging(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """Its nn.Linear hook (4C → 2C, no bias) and its nn.LayerNorm's: 1 per merged element."""
    return _dense(op, a, ins, out) + 2 * prod(out)


def _params_per_output_position(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """torchinfo's ConvNd (any class named with 'Conv'): (weight + bias elements) × output positions."""
    return _params(op, a, ins, out) * prod(out[1:])


def _per_element(k_affine: int, k_plain: int) -> Count:
    def count(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
        return prod(ins[0]) * (k_affine if a.get("affine", True) else k_plain)

    return count


def _params(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """Every parameter once (torchinfo: a non-convolution leaf's parameters times the batch)."""
    return sum(t.numel for t in op.tensors(a, ins, out) if not t.buffer)


def _params_per_position(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """torchinfo's convolution: (weight + bias elements) × output positions (H'·W' or tokens)."""
    positions = prod(out[1:]) if len(out) == 3 else out[0]
    return _params(op, a, ins, out) * positions


def _attention_projections(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    n, d = ins[0]
    return 4 * n * d * d


def _attention_projections_and_bias(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    n, d = ins[0]
    return 4 * n * d * d + (4 * n * d if a["bias"] else 0)


def _ptflops_attention(op: Op, a: dict[str, Any], ins: list[Shape], out: Shape) -> int:
    """ptflops' ``multihead_attention_counter_hook`` for self-attention (q = k = v, N tokens of D)."""
    n, d = ins[0]
    h: int = a["heads"]
    flops: int = n * d  # scaling q
    flops += 3 * n * d * d  # q, k, v projections
    if a["bias"]:
        flops += 3 * n * d
    flops += h * (2 * n * n * (d // h) + n * n)  # Q·Kᵀ, softmax, A·V per head
    flops += n * d * (d + 1)  # output projection, its bias always counted
    return flops


def _skip(why: str) -> Rule:
    return Rule(_zero, why)


# ------------------------------------------------------------------ the conventions

#: The ops that are not convolutions, linear layers or attention.
_NOT_DENSE = (
    "bn", "layernorm", "relu", "gelu", "sigmoid", "identity", "dropout", "maxpool", "avgpool",
    "adaptive_avgpool", "gap", "flatten", "tokens", "token", "pixel_shuffle", "pad_channels",
    "cls_token", "pos_embed", "add", "mul", "cat",
    "groupnorm", "instancenorm", "layernorm2d", "relu6", "hardswish", "hardsigmoid", "silu",
    "leaky_relu", "softmax", "drop_path", "layer_scale", "upsample", "upsample_bilinear", "permute",
    "transpose", "channel_shuffle", "chunk", "slice",
)  # fmt: skip
_HAVE_PARAMS = (
    "bn",
    "layernorm",
    "cls_token",
    "pos_embed",
    "groupnorm",
    "instancenorm",
    "layernorm2d",
    "layer_scale",
)
_TORCHVISION_ZERO = "not a convolution, linear layer or attention product"

TORCHVISION = Convention(
    "torchvision",
    "torchvision's published `_ops` (weights meta, GFLOPS to three decimals)",
    "MACs (one multiply-add = 1); torchvision's docs label these GFLOPS",
    {
        "conv": Rule(_dense, "weights × output positions (bias not counted)"),
        "patch_embed": Rule(_dense, "weights × patches (bias not counted)"),
        "mean_shift": Rule(_dense, "its 1x1 convolution: 3 × 3 per pixel (bias not counted)"),
        "linear": Rule(_dense, "inputs × outputs per token (bias not counted)"),
        "attention": Rule(_dense, "q, k, v and output projections (4·N·D²) plus Q·Kᵀ and A·V (2·N²·D)"),
        "conv1d": Rule(_dense, "weights × output positions (bias not counted)"),
        "conv_transpose": Rule(_dense, "weights × input positions (bias not counted)"),
        "window_attention": Rule(
            _dense, "qkv and proj (4·T·C², T the tokens padded to whole windows) plus Q·Kᵀ and A·V (2·T·w²·C)"
        ),
        "patch_merging": Rule(_dense, "its linear 4C → 2C per merged position (the layer norm not counted)"),
        **{name: _skip(_TORCHVISION_ZERO) for name in _NOT_DENSE},
    },
)

FVCORE = Convention(
    "fvcore",
    "fvcore FlopCountAnalysis(model, x).total(), eval mode, its default handles",
    "MACs (fvcore calls them flops: one fused multiply-add = 1)",
    {
        "conv": Rule(_dense, "aten::_convolution: weights × output positions; the bias is ignored"),
        "patch_embed": Rule(_dense, "aten::_convolution: weights × patches; the bias is ignored"),
        "mean_shift": Rule(_dense, "aten::_convolution (1x1, 3 → 3): 9 per pixel; the bias is ignored"),
        "linear": Rule(_dense, "aten::linear: inputs × outputs per token; the bias is ignored"),
        "attention": Rule(
            _attention_projections,
            "the q, k, v and output projections (aten::linear, 4·N·D²); Q·Kᵀ and A·V run inside "
            "aten::scaled_dot_product_attention, which has no fvcore handle (0, reported as unsupported; "
            "timm's published figures add 2·N²·D, traced as matmul before torch 2.0)",
        ),
        "bn": Rule(_per_element(2, 1), "aten::batch_norm in eval mode: 2 per element (1 without affine)"),
        "layernorm": Rule(_per_element(5, 4), "aten::layer_norm: 5 per element (4 without affine)"),
        "adaptive_avgpool": Rule(_numel_in, "aten::adaptive_avg_pool2d: 1 per input element"),
        "gap": Rule(_numel_in, "aten::adaptive_avg_pool2d: 1 per input element"),
        "relu": _skip("aten::relu is on fvcore's ignore list"),
        "dropout": _skip("aten::dropout is on fvcore's ignore list"),
        "identity": _skip("no operator runs"),
        "flatten": _skip("aten::flatten is on fvcore's ignore list"),
        "tokens": _skip("aten::flatten and aten::transpose are on fvcore's ignore list"),
        "token": _skip("aten::select is on fvcore's ignore list"),
        "cat": _skip("aten::cat is on fvcore's ignore list"),
        "cls_token": _skip("aten::expand and aten::cat are on fvcore's ignore list"),
        "gelu": _skip("aten::gelu has no handle (unsupported, 0)"),
        "sigmoid": _skip("aten::sigmoid has no handle (unsupported, 0)"),
        "maxpool": _skip("aten::max_pool2d has no handle (unsupported, 0)"),
        "avgpool": _skip("aten::avg_pool2d has no handle (unsupported, 0)"),
        "pixel_shuffle": _skip("aten::pixel_shuffle has no handle (unsupported, 0)"),
        "pad_channels": _skip("aten::slice is ignored and aten::pad has no handle (unsupported, 0)"),
        "add": _skip("aten::add has no handle (unsupported, 0)"),
        "pos_embed": _skip("aten::add has no handle (unsupported, 0)"),
        "mul": _skip("aten::mul has no handle (unsupported, 0)"),
        "conv1d": Rule(_dense, "aten::_convolution: weights × output positions; the bias is ignored"),
        "conv_transpose": Rule(
            _dense, "aten::_convolution, transposed: weights × input positions; the bias is ignored"
        ),
        "window_attention": Rule(
            _dense,
            "aten::linear (qkv, proj) and aten::matmul (Q·Kᵀ, A·V) on the tokens padded to whole windows; "
            "aten::mul, add and softmax have no handle (unsupported, 0), aten::roll, constant_pad_nd "
            "and masked_fill are ignored",
        ),
        "patch_merging": Rule(
            _dense_and_other, "aten::layer_norm: 5 per merged element; aten::linear 4C → 2C; the rest ignored"
        ),
        "groupnorm": Rule(_dense_and_other, "aten::group_norm: 5 per element (4 without affine)"),
        "instancenorm": Rule(_dense_and_other, "aten::instance_norm: 5 per element (4 without affine)"),
        "layernorm2d": Rule(_dense_and_other, "aten::layer_norm: 5 per element (4 without affine)"),
        "upsample": Rule(_dense_and_other, "aten::upsample_nearest2d: 1 per output element"),
        "upsample_bilinear": Rule(_dense_and_other, "aten::upsample_bilinear2d: 4 per output element"),
        "relu6": _skip("aten::hardtanh has no handle (unsupported, 0)"),
        "hardswish": _skip("aten::hardswish has no handle (unsupported, 0)"),
        "hardsigmoid": _skip("aten::hardsigmoid has no handle (unsupported, 0)"),
        "silu": _skip("aten::silu has no handle (unsupported, 0)"),
        "leaky_relu": _skip("aten::leaky_relu has no handle (unsupported, 0)"),
        "softmax": _skip("aten::softmax has no handle (unsupported, 0)"),
        "drop_path": _skip("returns its input in eval mode: no operator runs"),
        "layer_scale": _skip("aten::mul has no handle (unsupported, 0)"),
        "permute": _skip("aten::permute is on fvcore's ignore list"),
        "transpose": _skip("aten::transpose is on fvcore's ignore list"),
        "channel_shuffle": _skip("aten::view, transpose and contiguous are on fvcore's ignore list"),
        "chunk": _skip("aten::chunk is on fvcore's ignore list"),
        "slice": _skip("aten::slice is on fvcore's ignore list"),
    },
)

PTFLOPS = Convention(
    "ptflops",
    "ptflops get_model_complexity_info(model, (C, H, W)), default pytorch backend (module hooks "
    "plus patched functionals)",
    "MACs ('GMac') plus 1 per element for activations, pooling and normalisation; biases counted",
    {
        "conv": Rule(
            _dense_and_bias, "nn.Conv2d hook: weights × output positions, plus 1 per output for a bias"
        ),
        "patch_embed": Rule(_dense_and_bias, "its nn.Conv2d: weights × patches, plus the bias"),
        "mean_shift": _skip("MeanShift subclasses nn.Conv2d, and ptflops hooks exact types only"),
        "linear": Rule(_dense_and_bias, "nn.Linear hook: (inputs × outputs + bias) per token"),
        "attention": Rule(
            _ptflops_attention,
            "nn.MultiheadAttention hook: q scaling (N·D), projections (4·N·D²) and their biases (the output "
            "bias always), Q·Kᵀ, softmax and A·V per head (2·N²·D + heads·N²)",
        ),
        "bn": Rule(_per_element(2, 1), "nn.BatchNorm2d hook: 2 per element (1 without affine)"),
        "layernorm": Rule(
            _per_element(1, 1),
            "nn.LayerNorm, by the batch-norm hook: 1 per element (its affine flag is named "
            "elementwise_affine, which the hook does not read)",
        ),
        "relu": Rule(
            _twice_numel_out,
            "2 per element: the nn.ReLU hook counts its output and the patched F.relu it calls its input",
        ),
        "gelu": Rule(
            _twice_numel_out,
            "2 per element: the nn.GELU hook counts its output and the patched F.gelu it calls its input",
        ),
        "maxpool": Rule(
            _twice_numel_in, "2 per input element: the nn.MaxPool2d hook and the patched F.max_pool2d"
        ),
        "avgpool": Rule(
            _twice_numel_in, "2 per input element: the nn.AvgPool2d hook and the patched F.avg_pool2d"
        ),
        "adaptive_avgpool": Rule(
            _twice_numel_in,
            "2 per input element: the nn.AdaptiveAvgPool2d hook and the patched F.adaptive_avg_pool2d",
        ),
        "gap": Rule(
            _twice_numel_in,
            "2 per input element: the nn.AdaptiveAvgPool2d hook and the patched F.adaptive_avg_pool2d",
        ),
        "sigmoid": _skip("nn.Sigmoid has no hook and torch.sigmoid is not patched"),
        "dropout": _skip("nn.Dropout has no hook"),
        "identity": _skip("nn.Identity has no hook"),
        "flatten": _skip("a view; no hook"),
        "tokens": _skip("a view; no hook"),
        "token": _skip("a view; no hook"),
        "pixel_shuffle": _skip("nn.PixelShuffle has no hook"),
        "pad_channels": _skip("slicing and F.pad are not patched"),
        "cls_token": _skip("torch.cat is not patched"),
        "pos_embed": _skip("x + p (Tensor.__add__) is not patched (only torch.add and Tensor.add are)"),
        "add": _skip("a + b (Tensor.__add__) is not patched (only torch.add and Tensor.add are)"),
        "mul": _skip("a * b (Tensor.__mul__) is not patched (only torch.mul and Tensor.mul are)"),
        "cat": _skip("torch.cat is not patched"),
        "conv1d": Rule(
            _dense_and_bias, "nn.Conv1d hook: weights × output positions, plus 1 per output for a bias"
        ),
        "conv_transpose": Rule(
            _dense_and_bias,
            "nn.ConvTranspose2d hook (transpose=True): weights × input positions, plus 1 per output "
            "for a bias",
        ),
        "window_attention": Rule(
            _ptflops_window_attention,
            "only the patched Tensor.matmul (Q·Kᵀ, A·V: 2·T·w²·C over the padded tokens) and F.softmax "
            "(heads·T·w²): qkv and proj run as F.linear, which is not patched, and their nn.Linear "
            "never runs",
        ),
        "patch_merging": Rule(
            _ptflops_patch_merging,
            "nn.Linear hook (4C → 2C, no bias) and nn.LayerNorm by the batch-norm hook: 1 per merged element",
        ),
        "groupnorm": Rule(
            _per_element(2, 1), "nn.GroupNorm, by the batch-norm hook: 2 per element (1 without affine)"
        ),
        "instancenorm": Rule(
            _per_element(2, 1), "nn.InstanceNorm2d, by the batch-norm hook: 2 per element (1 without affine)"
        ),
        "layernorm2d": _skip("LayerNorm2d subclasses nn.LayerNorm, and ptflops hooks exact types only"),
        "relu6": Rule(_numel_out, "nn.ReLU6 hook: 1 per element (it calls F.hardtanh, which is not patched)"),
        "leaky_relu": Rule(_numel_out, "nn.LeakyReLU hook: 1 per element (F.leaky_relu is not patched)"),
        "silu": Rule(_numel_out, "the patched F.silu, which nn.SiLU calls: 1 per element (no module hook)"),
        "softmax": Rule(_numel_out, "the patched F.softmax, which nn.Softmax calls: 1 per element"),
        "hardswish": _skip("nn.Hardswish has no hook and F.hardswish is not patched"),
        "hardsigmoid": _skip("nn.Hardsigmoid has no hook and F.hardsigmoid is not patched"),
        "upsample": Rule(
            _ptflops_upsample,
            "nn.Upsample hook: 1 per output element; the patched F.interpolate: as many again",
        ),
        "upsample_bilinear": Rule(
            _ptflops_upsample,
            "nn.Upsample hook: 1 per output element; the patched F.interpolate: as many again",
        ),
        "drop_path": _skip("returns its input in eval mode; no hook"),
        "layer_scale": _skip("p * x (Tensor.__mul__) is not patched (only torch.mul and Tensor.mul are)"),
        "permute": _skip("torch.permute is not patched"),
        "transpose": _skip("a view; not patched"),
        "channel_shuffle": _skip("views and a contiguous copy; not patched"),
        "chunk": _skip("a view; not patched"),
        "slice": _skip("a view; not patched"),
    },
)

_ATEN_ONLY = "ptflops' aten backend counts only aten convolution, mm, matmul, addmm and bmm"

PTFLOPS_ATEN = Convention(
    "ptflops-aten",
    "ptflops get_model_complexity_info(model, (C, H, W), backend='aten') (a TorchDispatchMode on CPU)",
    "MACs ('GMac') of convolutions and matrix products; biases counted",
    {
        "conv": Rule(
            _dense_and_bias, "aten.convolution: weights × output positions, plus 1 per output for a bias"
        ),
        "patch_embed": Rule(_dense_and_bias, "aten.convolution: weights × patches, plus the bias"),
        "mean_shift": Rule(_dense_and_bias, "aten.convolution (1x1, 3 → 3): 9 per pixel, plus the bias"),
        "linear": Rule(_dense_and_bias, "aten.addmm or aten.mm: (inputs × outputs + bias) per token"),
        "attention": Rule(
            _attention_projections_and_bias,
            "the projections (4·N·D² and their biases, aten.addmm); on CPU Q·Kᵀ and A·V run in "
            "aten._scaled_dot_product_flash_attention_for_cpu, which it does not count (a math-backend "
            "attention would show them as bmm)",
        ),
        "conv1d": Rule(_dense_and_bias, "aten.convolution: weights × output positions, plus the bias"),
        "conv_transpose": Rule(
            _dense_and_bias, "aten.convolution, transposed: weights × input positions, plus the bias"
        ),
        "window_attention": Rule(
            _window_attention_and_biases,
            "aten.addmm (qkv, proj, with their biases) and aten.bmm (Q·Kᵀ, A·V) over the padded tokens",
        ),
        "patch_merging": Rule(
            _dense, "aten.mm of its linear 4C → 2C (no bias); the layer norm is not counted"
        ),
        **{name: _skip(_ATEN_ONLY) for name in _NOT_DENSE},
    },
)

_NO_PARAMS = "a leaf module without parameters"

TORCHINFO = Convention(
    "torchinfo",
    "torchinfo summary(model, input_size=(1, C, H, W)).total_mult_adds ('Total mult-adds')",
    "mult-adds: a convolution's parameters × its output positions, any other leaf module's parameters once",
    {
        "conv": Rule(_params_per_position, "Conv2d: (weight + bias elements) × output positions"),
        "patch_embed": Rule(_params_per_position, "its Conv2d: (weight + bias elements) × patches"),
        "mean_shift": Rule(
            _params,
            "its 12 parameters once: the class is named MeanShift, and only names containing 'Conv' "
            "are counted per position",
        ),
        "linear": Rule(_params, "(weight + bias elements) once per sample, not per token"),
        "bn": Rule(_params, "weight + bias elements once (2·C; 0 without affine)"),
        "layernorm": Rule(_params, "weight + bias elements once (2·D; 0 without affine)"),
        "attention": _skip(
            "nn.MultiheadAttention holds in_proj_weight itself and is not a leaf; "
            "its out_proj never runs as a module"
        ),
        "cls_token": _skip("the parameter belongs to a module with children, which is not a leaf"),
        "pos_embed": _skip("the parameter belongs to a module with children, which is not a leaf"),
        "conv1d": Rule(_params_per_output_position, "Conv1d: (weight + bias elements) × output positions"),
        "conv_transpose": Rule(
            _params_per_output_position, "ConvTranspose2d: (weight + bias elements) × output positions"
        ),
        "groupnorm": Rule(_params, "weight + bias elements once (2·C; 0 without affine)"),
        "instancenorm": Rule(_params, "weight + bias elements once (2·C; 0 without affine)"),
        "layernorm2d": Rule(_params, "weight + bias elements once (2·C): the class name has no 'Conv'"),
        "layer_scale": _skip("the parameter belongs to the block's module, which has children: not a leaf"),
        "window_attention": _skip(
            "ShiftedWindowAttention has children and is not a leaf; it calls F.linear with their "
            "weights, so its qkv and proj modules never run"
        ),
        "patch_merging": Rule(
            _params, "its leaves' parameters once: the linear's weight and the layer norm's"
        ),
        **{name: _skip(_NO_PARAMS) for name in _NOT_DENSE if name not in _HAVE_PARAMS},
    },
)

CONVENTIONS: dict[str, Convention] = {
    c.name: c for c in (TORCHVISION, FVCORE, PTFLOPS, PTFLOPS_ATEN, TORCHINFO)
}


# ------------------------------------------------------------------ applying a convention


@dataclass
class OpEntry:
    """One op's line in a ledger: how many layers, what they add up to, and the rule."""

    op: str
    layers: int
    count: int | None  # None: the convention has no rule for this op
    says: str

    def as_dict(self) -> dict[str, Any]:
        return {"layers": self.layers, "count": self.count, "rule": self.says}


@dataclass
class Ledger:
    """A network counted under one convention."""

    convention: Convention
    total: int  # over the ops with a rule
    per_layer: dict[str, int | None]
    ops: dict[str, OpEntry] = field(default_factory=dict)

    @property
    def no_rule(self) -> list[str]:
        return sorted(op for op, e in self.ops.items() if e.count is None)

    @property
    def complete(self) -> bool:
        return not self.no_rule

    @property
    def counted(self) -> list[str]:
        return [op for op, e in self.ops.items() if e.count]

    @property
    def skipped(self) -> list[str]:
        return [op for op, e in self.ops.items() if e.count == 0]

    def as_dict(self) -> dict[str, Any]:
        c = self.convention
        return {
            "convention": c.name,
            "tool": c.tool,
            "unit": c.unit,
            "total": self.total,
            "complete": self.complete,
            "no_rule": self.no_rule,
            "ops": {op: e.as_dict() for op, e in self.ops.items()},
        }


NO_RULE = "no rule: archc does not know what this tool counts for this op"


def ledger(g: nx.DiGraph, convention: Convention | str) -> Ledger:
    """Count every layer of ``g`` under ``convention`` (one sample), with the per-op ledger."""
    conv = CONVENTIONS[convention] if isinstance(convention, str) else convention
    per_layer: dict[str, int | None] = {}
    ops: dict[str, OpEntry] = {}
    total = 0
    for name, d in g.nodes(data=True):
        if name == "input":
            continue
        rule = conv.rules.get(d["op"])
        entry = ops.get(d["op"])
        if entry is None:
            entry = ops[d["op"]] = OpEntry(d["op"], 0, 0 if rule else None, rule.says if rule else NO_RULE)
        entry.layers += 1
        if rule is None:
            per_layer[name] = None
            continue
        n = rule.count(REGISTRY[d["op"]], d["args"], d["in_shapes"], d["shape"])
        per_layer[name] = n
        assert entry.count is not None
        entry.count += n
        total += n
    return Ledger(conv, total, per_layer, dict(sorted(ops.items(), key=lambda kv: -(kv[1].count or 0))))


def all_ledgers(g: nx.DiGraph) -> dict[str, Ledger]:
    return {name: ledger(g, name) for name in CONVENTIONS}
