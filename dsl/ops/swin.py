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
    Saves,
    Shape,
    TensorSpec,
    Window,
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

    @staticmethod
    def _sizes(a: dict[str, Any], ins: list[Shape]) -> tuple[int, int, int, bool]:
        """Elements per sample of the map padded to whole windows, of the attention weights
        (heads x tokens x window tokens) and of the shift mask (windows x window tokens²), and
        whether the windows are shifted (torchvision drops a shift where one window covers the map)."""
        h, w, c = ins[0]
        (wh, ww), (sh, sw) = pair(a["window"]), pair(a["shift"])
        ph, pw = _ceil_to(h, wh), _ceil_to(w, ww)
        n = wh * ww
        shifted = (sh > 0 and wh < ph) or (sw > 0 and ww < pw)
        return ph * pw * c, a["heads"] * ph * pw * n, (ph // wh) * (pw // ww) * n * n, shifted

    @staticmethod
    def _one_window(a: dict[str, Any], ins: list[Shape]) -> bool:
        """Whether the batch holds one window in all: matmul's reshapes of q, k and v are then
        views, where otherwise (windows x heads merged into one dimension) they are copies."""
        h, w, _ = ins[0]
        (wh, ww) = pair(a["window"])
        return int(a.get("batch", 2)) * -(-h // wh) * -(-w // ww) == 1

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # torchvision's shifted_window_attention keeps five copies of the padded map: the windows
        # (the qkv linear's input), q scaled, k transposed and v (each copied by matmul's reshape),
        # and the attention output (the proj linear's input); and the softmax.  With one window in
        # the whole batch it keeps q scaled and the packed qkv (three maps) instead of the copies.
        # Attention dropout adds its noise and the dropped weights (A·V's operand); dropout its
        # noise on the map.
        padded, weights, _, _ = self._sizes(a, ins)
        maps = [((padded,), "act", True)] * 3 + [((3 * padded,), "act", True)]
        if not self._one_window(a, ins):
            maps = [((padded,), "act", True)] * 5
        kept = [*maps, ((weights,), "act", True)]
        if a["attn_dropout"]:
            kept += [((weights,), "act", True)] * 2
        if a["dropout"]:
            kept += [((padded,), "act", True)]
        return Saves(extra=tuple(kept))

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        # in eval the function holds, besides its input, the windows, the packed qkv (3 maps), q
        # scaled and the gathered position bias throughout, and the shift mask from the time it
        # is made; the most is held at A·V (the softmax, v copied for matmul - unless the batch
        # holds one window - and the product) or, when the weights outweigh those maps, at the
        # mask's or the bias's addition (the weights before and after).  The output does not
        # exist yet: the padding's extra elements stand in for one of the maps.
        padded, weights, mask, shifted = self._sizes(a, ins)
        n = pair(a["window"])[0] * pair(a["window"])[1]
        at_av = (1 if self._one_window(a, ins) else 2) * padded
        held = [((padded,), "act", True)] * 4 + [((padded - prod(out),), "act", True)]
        held += [((weights,), "act", True), ((max(at_av, weights),), "act", True)]
        held += [((a["heads"] * n * n,), "act", False)]
        return tuple(held + ([((mask,), "act", False)] if shifted else []))

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        # a position sees the positions of its window: exact for one layer; stacked layers compose
        # as if the windows slid, the field of a typical position (the partitions do not slide)
        from fractions import Fraction  # only receptive fields need it: not imported at start

        wh, ww = pair(a["window"])
        return Window(wh, 1, Fraction(wh - 1, 2)), Window(ww, 1, Fraction(ww - 1, 2))

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

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves:
        # the layer norm keeps the merged map (4C, the cat's result) and its statistics per
        # position; the linear keeps the normalised map
        merged, rows = 2 * prod(out), (prod(out[:2]),)
        return Saves(
            extra=(
                ((merged,), "act", True),
                (rows, "act", True),
                (rows, "act", True),
                ((merged,), "act", True),
            )
        )

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        # in eval the most is held during the layer norm: the padded copy of the input (whose four
        # slices stay referenced), the merged map, the normalised map and the statistics, three
        # maps of the merged size (2 × the output); the output does not exist yet
        merged, rows = 2 * prod(out), (prod(out[:2]),)
        return (((merged,), "act", True),) * 2 + (((prod(out),), "act", True),) + ((rows, "act", True),) * 2

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window]:
        w = Window(2, 2)  # 2x2 neighbours, odd sizes padded at the end
        return w, w

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("PatchMerging", Dim(ins[0][2])), helpers=("PatchMerging",))
