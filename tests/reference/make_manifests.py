"""Make the torchvision reference manifests (`torchvision_<model>.json`) from real torchvision.

Why this exists: archc's tests compare every spec of a known network with a manifest of its
reference implementation (parameter count, ordered ``state_dict`` keys and shapes, MACs). The
tests never import torchvision, so the manifests are made here, once, in a separate virtualenv,
and committed. This script is that generator; rerun it to reproduce the files.

It runs OUTSIDE the project's .venv (torchvision must never be installed there)::

    python3 -m venv /work/refenv
    /work/refenv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        fvcore==0.1.5.post20221221 timm==1.0.31
    /work/refenv/bin/python tests/reference/make_manifests.py            # the zoo, into tests/reference/
    /work/refenv/bin/python tests/reference/make_manifests.py --models mobilenet_v2 \
        resnext50_32x4d wide_resnet50_2 --out /tmp/regen --compare tests/reference

Conventions (the same as the manifests that existed before this script, see README.md):
``torch.manual_seed(0)`` before each build, ``weights=None`` (no pretrained weights are
downloaded), eval mode, float32 on CPU, one image at the crop size of the model's DEFAULT
weights' transforms (224 for most, 300 for efficientnet_b3, 384 for efficientnet_v2_s, ...).
``macs`` is fvcore's ``FlopCountAnalysis(model, x).total()`` traced with autograd enabled (as
``FlopCountAnalysis`` is normally called: with grad disabled, ``nn.MultiheadAttention`` takes its
fused fast path, which fvcore cannot count), plus one handle fvcore 0.1.5 lacks:
``aten::scaled_dot_product_attention`` counts ``L*S*E + L*S*Ev`` per batch*head.

Besides the manifests it writes ``torchvision_min_sizes.json`` (the DEFAULT weights' published
``min_size`` of every torchvision model with a manifest) and prints a table that checks, for
every published weights entry, ``macs_dense_ops`` (at that entry's crop size) against its
``_ops`` figure to the decimals published, and ``total_params`` against ``num_params``.
``--compare DIR`` checks the files written against same-named files in DIR, field by field,
ignoring ``versions`` and the ``crop_size`` this script adds to ``torchvision_weights_meta``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
import torchvision
from fvcore.nn import FlopCountAnalysis
from fvcore.nn.jit_handles import get_shape
from torch import nn
from torchvision.models import get_model, get_model_weights

HERE = Path(__file__).resolve().parent

# The classification zoo of issue 9, in torchvision's constructor names.
ZOO: tuple[str, ...] = (
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    *(f"efficientnet_b{i}" for i in range(8)),
    "efficientnet_v2_s",
    *(f"regnet_x_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")),
    *(f"regnet_y_{s}" for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")),
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
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
    "mnasnet0_5",
    "mnasnet0_75",
    "mnasnet1_0",
    "mnasnet1_3",
)

# Manifests that existed before this script (made the same way); --models can remake them.
EARLIER: tuple[str, ...] = (
    "alexnet",
    "googlenet",
    "inception_v3",
    "mobilenet_v2",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "vgg11",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "vit_b_16",
    "vit_l_16",
)

# Constructor arguments other than weights=None (the auxiliary classifiers are left out).
EXTRA_ARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": True},
    "inception_v3": {"aux_logits": False, "init_weights": True},
}

DENSE_OPS = (
    "conv",
    "linear",
    "matmul",
    "bmm",
    "einsum",
    "addmm",
    "scaled_dot_product_attention",
)

MACS_NOTE = (
    "macs = fvcore FlopCountAnalysis total (one fused multiply-add counted as one), traced in "
    "eval mode on one image; it includes fvcore's counts for batch_norm (2 per element in eval "
    "mode with affine), group_norm/layer_norm, adaptive_avg_pool2d and upsample; elementwise ops "
    "(add, mul, relu, gelu, sigmoid, softmax), max/avg pooling and pixel_shuffle count zero. An "
    "extra handle counts aten::scaled_dot_product_attention as L*S*E + L*S*Ev per (batch*head). "
    "macs_dense_ops sums only conv, linear, matmul, bmm, einsum, addmm and "
    "scaled_dot_product_attention."
)

_EFFNET = (
    "Stochastic depth (torchvision.ops.StochasticDepth, 'row' mode, probability rising linearly "
    "with the block index to stochastic_depth_prob) is the identity in eval mode and has no "
    "parameters. MBConv's squeeze-excitation pools with adaptive_avg_pool2d and has two 1x1 "
    "convs with bias (squeeze channels max(1, block input channels // 4)), SiLU then Sigmoid; "
    "fvcore counts silu/sigmoid/mul zero. "
)
_BN = {
    **{f"efficientnet_b{i}": "BatchNorm2d defaults (eps 1e-5, momentum 0.1)." for i in range(5)},
    **{f"efficientnet_b{i}": "BatchNorm2d eps 0.001, momentum 0.01." for i in range(5, 8)},
    "efficientnet_v2_s": "BatchNorm2d eps 0.001 (momentum 0.1); early stages are FusedMBConv.",
}
_REGNET = (
    "Keys: stem, trunk_output.block{i}.block{i}-{j} (ResBottleneckBlock: proj, the "
    "shortcut conv+BN of a block whose width or stride changes, listed first, then f.a, f.b, "
    "f.se, f.c), fc; widths and group widths come from BlockParams.from_init_params and are "
    "rounded by _adjust_widths_groups_compatibilty."
)
_REGNET_Y = " RegNetY adds squeeze-excitation (se_ratio 0.25 of the block's input width)."
NOTES: dict[str, str] = {
    "googlenet": (
        "Built with aux_logits=False (no aux1/aux2 branches); matches torchvision's weights meta "
        "num_params 6624904. transform_input defaults to False when weights=None."
    ),
    "inception_v3": (
        "Built with aux_logits=False, so the AuxLogits branch is absent; torchvision's weights "
        "meta num_params (27161264) counts the aux branch (3326696 more parameters). "
        "transform_input defaults to False when weights=None."
    ),
    "vit_b_16": (
        "torchvision VisionTransformer uses nn.MultiheadAttention (packed in_proj_weight "
        "[3*768, 768]); key names differ from timm's vit_base_patch16_224 although the "
        "parameter count is identical."
    ),
    "vit_l_16": (
        "torchvision VisionTransformer uses nn.MultiheadAttention (packed in_proj_weight [3*1024, 1024])."
    ),
    "mobilenet_v3_small": (
        "Hardswish and Hardsigmoid (aten::hardswish_, aten::hardsigmoid) count zero in fvcore; "
        "the SE block (SqueezeExcitation) pools with adaptive_avg_pool2d and has 1x1 convs with "
        "bias, squeeze channels _make_divisible(expanded // 4, 8). BatchNorm eps 0.001, momentum "
        "0.01. The classifier is Linear-Hardswish-Dropout-Linear."
    ),
    "mobilenet_v3_large": (
        "Hardswish and Hardsigmoid (aten::hardswish_, aten::hardsigmoid) count zero in fvcore; "
        "the SE block (SqueezeExcitation) pools with adaptive_avg_pool2d and has 1x1 convs with "
        "bias, squeeze channels _make_divisible(expanded // 4, 8). BatchNorm eps 0.001, momentum "
        "0.01. The classifier is Linear-Hardswish-Dropout-Linear."
    ),
    **{name: _EFFNET + bn for name, bn in _BN.items()},
    **{f"regnet_x_{s}": _REGNET for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")},
    **{
        f"regnet_y_{s}": _REGNET + _REGNET_Y
        for s in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")
    },
    **{
        f"convnext_{s}": (
            "CNBlock: depthwise 7x7 conv, Permute to channels-last, LayerNorm(eps 1e-6) over "
            "channels, Linear 4x, GELU, Linear, Permute back; layer_scale is a parameter of shape "
            "[C, 1, 1] (init 1e-6); StochasticDepth is the identity in eval mode. Downsampling "
            "layers use LayerNorm2d (channels-first, layer_norm over permuted input)."
        )
        for s in ("tiny", "small", "base", "large")
    },
    **{
        f"swin_{s}": (
            "Each attention block holds relative_position_bias_table (a parameter) and the "
            "persistent int64 buffer relative_position_index; window attention is "
            "shifted_window_attention with F.linear/matmul/softmax (fvcore counts the matmuls "
            "and linears; roll, pad, softmax count zero). PatchMerging concatenates 2x2 "
            "neighbours, then LayerNorm(4C), then Linear 4C->2C without bias; its state_dict "
            "lists reduction before norm (construction order)."
        )
        for s in ("t", "s", "b")
    },
    **{
        f"densenet{n}": (
            "memory_efficient=False; each _DenseLayer is norm1-relu1-conv1-norm2-relu2-conv2 over "
            "the concatenation of all earlier features of its block; keys "
            "features.denseblock{i}.denselayer{j}.{norm1,conv1,norm2,conv2} (older checkpoints "
            "with 'norm.1' keys are renamed by torchvision's loader)."
        )
        for n in (121, 161, 169, 201)
    },
    **{
        f"shufflenet_v2_{s}": (
            "Channel shuffle (view, transpose, reshape) and chunk are free in fvcore; stride-1 "
            "units split the input in two halves and run branch2 on one; branch1 is an empty "
            "Sequential (no keys) in stride-1 units."
        )
        for s in ("x0_5", "x1_0", "x1_5", "x2_0")
    },
    **{
        f"squeezenet{v}": (
            "The classifier is Dropout, a 1x1 conv with bias to num_classes, ReLU, "
            "AdaptiveAvgPool2d(1); then flatten. Max pooling uses ceil_mode=True."
        )
        for v in ("1_0", "1_1")
    },
    **{
        f"mnasnet{s}": (
            "BatchNorm momentum 0.0003 (1 - 0.9997). MNASNet sets _version = 2; its loader "
            "rebuilds the stem as version 1 only for a version-1 checkpoint with alpha != 1.0, so "
            "these keys and shapes are version 2's."
        )
        for s in ("0_5", "0_75", "1_0", "1_3")
    },
}


def sdpa_flop_jit(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle for aten::scaled_dot_product_attention: Q*K^T plus attention*V."""
    q, k, v = (get_shape(t) for t in inputs[:3])
    batch = math.prod(q[:-2])
    return batch * q[-2] * k[-2] * q[-1] + batch * q[-2] * k[-2] * v[-1]


def count_macs(model: nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int], dict[str, int]]:
    """fvcore total, per operator and unsupported operators (autograd enabled, eval mode)."""
    analysis = FlopCountAnalysis(model, x)
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    by_op = {k: int(v) for k, v in sorted(analysis.by_operator().items())}
    unsupported = {k: int(v) for k, v in sorted(analysis.unsupported_ops().items())}
    return int(analysis.total()), by_op, unsupported


def dense(by_op: dict[str, int]) -> int:
    """The conv/linear/matmul/attention part of an fvcore count (torchvision's `_ops`)."""
    unknown = (
        set(by_op)
        - set(DENSE_OPS)
        - {
            "batch_norm",
            "group_norm",
            "layer_norm",
            "instance_norm",
            "adaptive_avg_pool2d",
            "upsample_nearest2d",
            "upsample_bilinear2d",
        }
    )
    if unknown:
        raise SystemExit(f"fvcore counted operators this script does not classify: {unknown}")
    return sum(v for k, v in by_op.items() if k in DENSE_OPS)


def crop_size(weights: Any) -> list[int]:
    """[h, w] of the centre crop of a weights entry's transforms."""
    size = list(weights.transforms().crop_size)
    return size * 2 if len(size) == 1 else size


def build(name: str, **overrides: Any) -> nn.Module:
    """torch.manual_seed(0), then the torchvision model without weights, in eval mode."""
    torch.manual_seed(0)
    kwargs = {"weights": None, **EXTRA_ARGS.get(name, {}), **overrides}
    return get_model(name, **kwargs).eval()


def versions() -> dict[str, str | None]:
    def dist(pkg: str) -> str | None:
        try:
            return version(pkg)
        except Exception:
            return None

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": dist("timm"),
        "fvcore": dist("fvcore"),
    }


def manifest(name: str) -> dict[str, Any]:
    """Everything a spec of `name` must reproduce, in the manifests' field order."""
    default = get_model_weights(name).DEFAULT
    h, w = crop_size(default)
    model = build(name)
    x = torch.randn(1, 3, h, w)
    with torch.no_grad():
        out = model(x)
    macs, by_op, unsupported = count_macs(model, x)

    state = model.state_dict()
    param_names = {n for n, _ in model.named_parameters()}
    params = list(model.parameters())
    buffers = [k for k in state if k not in param_names]
    meta = {
        wt.name: {
            "num_params": wt.meta["num_params"],
            "_ops": wt.meta["_ops"],
            "min_size": list(wt.meta["min_size"]),
            "crop_size": crop_size(wt),
        }
        for wt in get_model_weights(name)
    }
    return {
        "source": "torchvision",
        "model": name,
        "constructor_args": {"weights": None, **EXTRA_ARGS.get(name, {})},
        "input_shape": list(x.shape),
        "output_shape": list(out.shape),
        "total_params": sum(p.numel() for p in params),
        "trainable_params": sum(p.numel() for p in params if p.requires_grad),
        "num_state_dict_entries": len(state),
        "num_parameter_tensors": len(state) - len(buffers),
        "num_buffer_tensors": len(buffers),
        "buffer_numel": sum(state[k].numel() for k in buffers),
        "macs": macs,
        "macs_reason": None,
        "macs_dense_ops": dense(by_op),
        "macs_by_operator": by_op,
        "macs_unsupported_ops": unsupported,
        "versions": versions(),
        "constructor": f"torchvision.models.{name}",
        "torchvision_weights_meta": meta,
        "macs_note": MACS_NOTE,
        "notes": NOTES.get(name),
        "state_dict_dtypes": {
            k: str(t.dtype).removeprefix("torch.") for k, t in state.items() if t.dtype != torch.float32
        },
        "state_dict": [[k, list(t.shape)] for k, t in state.items()],
    }


def published_checks(name: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Dense MACs and parameters against every published weights entry of `name`.

    An entry whose crop differs from the manifest's input (SWAG weights at 384 px, ...) is
    counted again at its own crop; ViT weights at another size also change the constructor
    (`image_size`), as torchvision's builder does.
    """
    rows = []
    for wt in get_model_weights(name):
        h, w = crop_size(wt)
        if [h, w] == doc["input_shape"][2:]:
            dense_macs, params = doc["macs_dense_ops"], doc["total_params"]
        else:
            overrides = {"image_size": h} if name.startswith("vit_") else {}
            model = build(name, **overrides)
            params = sum(p.numel() for p in model.parameters())
            dense_macs = dense(count_macs(model, torch.randn(1, 3, h, w))[1])
            del model
        published = wt.meta["_ops"]
        decimals = len(repr(float(published)).split(".")[1])
        rows.append(
            {
                "model": name,
                "weights": wt.name,
                "crop": h,
                "macs_dense_ops": dense_macs,
                "_ops": published,
                "ops_ok": round(dense_macs / 1e9, 3) == round(published, 3),
                "decimals": decimals,
                "total_params": params,
                "num_params": wt.meta["num_params"],
                "params_ok": params == wt.meta["num_params"],
            }
        )
    return rows


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 99
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def dumps(obj: Any, level: int = 0) -> str:
    """The manifests' layout: indent 1, lists of numbers and [key, shape] pairs on one line."""
    pad, end = " " * (level + 1), " " * level
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(k)}: {dumps(v, level + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(obj, list) and _depth(obj) > 2:
        return "[\n" + ",\n".join(pad + dumps(v, level + 1) for v in obj) + "\n" + end + "]"
    return json.dumps(obj)


def compare(new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    """Fields that differ, ignoring versions and the crop_size this script adds."""
    new, old = json.loads(json.dumps(new)), json.loads(json.dumps(old))
    for doc in (new, old):
        for meta in doc.get("torchvision_weights_meta", {}).values():
            meta.pop("crop_size", None)
    diffs = []
    for key in sorted(set(new) | set(old)):
        if key == "versions":
            continue
        if key not in new or key not in old:
            diffs.append(f"{key}: only in {'new' if key in new else 'old'}")
        elif new[key] != old[key]:
            diffs.append(f"{key}: {json.dumps(new[key])[:200]} != {json.dumps(old[key])[:200]}")
    if list(new) != list(old):
        diffs.append("field order differs")
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(ZOO), help="torchvision names")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the JSON files")
    parser.add_argument("--compare", type=Path, help="folder of earlier manifests to diff with")
    parser.add_argument(
        "--no-min-sizes", action="store_true", help="do not (re)write torchvision_min_sizes.json"
    )
    args = parser.parse_args(argv)
    torch.set_grad_enabled(True)
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    checks: list[dict[str, Any]] = []
    failures = 0
    for name in args.models:
        t0 = time.perf_counter()
        doc = manifest(name)
        path = args.out / f"torchvision_{name}.json"
        path.write_text(dumps(doc) + "\n", encoding="utf-8")
        rows = published_checks(name, doc)
        checks.extend(rows)
        line = f"{name:20s} {doc['total_params']:>12,d} params  {doc['macs_dense_ops']:>16,d} dense MACs"
        line += f"  {time.perf_counter() - t0:6.1f} s"
        if args.compare is not None:
            old_path = args.compare / path.name
            if old_path.exists():
                diffs = compare(doc, json.loads(old_path.read_text(encoding="utf-8")))
                failures += bool(diffs)
                line += "  same as " + str(old_path) if not diffs else "  DIFFERS: " + "; ".join(diffs)
        print(line, flush=True)
        del doc

    if not args.no_min_sizes:
        sizes = {
            name: list(get_model_weights(name).DEFAULT.meta["min_size"]) for name in sorted((*EARLIER, *ZOO))
        }
        min_sizes = args.out / "torchvision_min_sizes.json"
        min_sizes.write_text(dumps(sizes) + "\n", encoding="utf-8")

    print("\n| model | weights | crop | macs_dense_ops | `_ops` | ok | total_params | num_params | ok |")
    print("|---|---|---:|---:|---:|---|---:|---:|---|")
    for r in checks:
        print(
            f"| {r['model']} | {r['weights']} | {r['crop']} | {r['macs_dense_ops']:,} | {r['_ops']} | "
            f"{'yes' if r['ops_ok'] else 'NO'} | {r['total_params']:,} | {r['num_params']:,} | "
            f"{'yes' if r['params_ok'] else 'NO'} |"
        )
    bad = [r for r in checks if not (r["ops_ok"] and r["params_ok"])]
    print(f"\n{len(checks)} weights entries checked, {len(bad)} disagree with the published figures")
    print(f"total time {time.perf_counter() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
