"""The Swin Transformer's ops on channels-last maps (HxWxC): shifted-window attention and patch
merging, emitted as helper classes that reproduce torchvision's ``ShiftedWindowAttention`` and
``PatchMerging`` (names, ``state_dict`` keys and forward)."""

from __future__ import annotations

from math import prod
from typing import Any

from archc.dsl.ops.base import (
    ArgSpec,
    Dim,
    Emission,
    Op,
    OpError,
    Shape,
    TensorSpec,
    ctor,
    like,
    pair,
    register,
    unless_default,
)


def _ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


@register("shifted_window_attention", "swin_attention")
class WindowAttention(Op):
    name = "window_attention"
    summary = (
        "multi-head self-attention within windows of a channels-last map, the windows shifted by shift, "
        "with a learned relative position bias (torchvision's Swin ShiftedWindowAttention); "
        "the map is padded to whole windows"
    )
    args = (
        ArgSpec("heads", "pos", aliases=("num_heads",)),
        ArgSpec("window", "posint_pair", aliases=("window_size",)),
        ArgSpec("shift", "nonneg_pair", 0, aliases=("shift_size",)),
        ArgSpec("qkv_bias", "bool", True),
        ArgSpec("proj_bias", "bool", True),
        ArgSpec("attn_dropout", "prob", 0.0, aliases=("attention_dropout",)),
        ArgSpec("dropout", "prob", 0.0),
    )
    ranks = (3,)
    layout = "hwc"
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c = ins[0][2]
        if c % a["heads"]:
            raise OpError(
                f"window_attention: {c} channels do not divide into {a['heads']} heads",
                "choose a head count that divides the channels",
            )
        for w, s in zip(pair(a["window"]), pair(a["shift"]), strict=True):
            if s >= w:
                raise OpError(
                    f"window_attention: shift {a['shift']} must be smaller than the window {a['window']}",
                    "Swin shifts by half a window: shift = window // 2 in every other block, 0 in the others",
                )
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        # torchvision's order: the module's own parameter and buffer, then qkv and proj
        c = ins[0][2]
        wh, ww = pair(a["window"])
        t = [
            TensorSpec("relative_position_bias_table", ((2 * wh - 1) * (2 * ww - 1), a["heads"])),
            TensorSpec("relative_position_index", (wh * ww * wh * ww,), True),
            TensorSpec("qkv.weight", (3 * c, c)),
        ]
        if a["qkv_bias"]:
            t.append(TensorSpec("qkv.bias", (3 * c,)))
        t.append(TensorSpec("proj.weight", (c, c)))
        if a["proj_bias"]:
            t.append(TensorSpec("proj.bias", (c,)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        h, w, c = ins[0]
        wh, ww = pair(a["window"])
        tokens = _ceil_to(h, wh) * _ceil_to(w, ww)  # after padding to whole windows
        qkv, proj = tokens * c * 3 * c, tokens * c * c
        products = 2 * tokens * (wh * ww) * c  # Q·Kᵀ and attention·V in each window, all heads
        return qkv + products + proj, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        wh, ww = pair(a["window"])
        text = f"window attention {wh}x{ww}, {a['heads']} heads"
        return text + (f", shift {a['shift']}" if pair(a["shift"]) != (0, 0) else "")

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "ShiftedWindowAttention",
                Dim(ins[0][2]),
                list(pair(a["window"])),
                list(pair(a["shift"])),
                a["heads"],
                qkv_bias=unless_default(a["qkv_bias"], True),
                proj_bias=unless_default(a["proj_bias"], True),
                attention_dropout=unless_default(a["attn_dropout"], 0.0),
                dropout=unless_default(a["dropout"], 0.0),
            ),
            helpers=("ShiftedWindowAttention",),
        )


@register()
class PatchMerging(Op):
    name = "patch_merging"
    summary = (
        "Swin's downsampling: each 2x2 patch of a channels-last map to one position of 4C channels, "
        "layer-normalised, then a linear to 2C (HxWxC -> ceil(H/2) x ceil(W/2) x 2C; odd sizes are padded)"
    )
    ranks = (3,)
    layout = "hwc"
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        h, w, c = ins[0]
        return like(ins[0], (-(-h // 2), -(-w // 2), 2 * c))

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][2]
        # torchvision assigns reduction before norm
        return [
            TensorSpec("reduction.weight", (2 * c, 4 * c)),
            TensorSpec("norm.weight", (4 * c,)),
            TensorSpec("norm.bias", (4 * c,)),
        ]

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        merged = prod(out[:2]) * 4 * ins[0][2]  # elements after the 2x2 merge
        return merged * out[2], 5 * merged  # the linear 4C -> 2C; the layer norm

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"patch merging, {out[2]}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("PatchMerging", Dim(ins[0][2])), helpers=("PatchMerging",))
