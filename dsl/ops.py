"""The primitive ops: each defined once, with its arguments, shape rule, tensors and MACs.

Shapes exclude the batch dimension, which is symbolic (``B``) throughout: an image is
``(C, H, W)``, a token sequence ``(N, D)``, a vector ``(D,)``.

MAC convention (as fvcore and torchvision's published figures): one multiply-add is one MAC.
``macs`` counts the dense ops (convolution, linear, attention products); ``macs_other`` counts
normalisation and adaptive pooling the way fvcore does (batch norm 2 per element with affine,
layer norm 5 per element with affine, adaptive average pooling 1 per input element).  Ops with
``counted = False`` (activations, elementwise merges, max/avg pooling, reshapes) count none and
are listed as such in summaries, never silently reported as zero.

Adding an op: subclass :class:`Op`, declare ``args``, implement ``infer`` (and ``tensors`` and
``macs`` if it has weights or arithmetic), decorate with ``@register``.  Its PyTorch emission
lives in :mod:`archc.codegen.torch_ops`, keyed by the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod
from typing import Any, ClassVar

Shape = tuple[int, ...]


class OpError(Exception):
    """A shape or argument problem found by an op; the elaborator adds the location."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


REQUIRED: Any = object()


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """One argument of an op: its name, short aliases, kind and default."""

    name: str
    kind: str  # int | pos | nonneg | float | prob | bool | pair | posint_pair
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    doc: str = ""


def fmt(shape: Sequence[int] | None) -> str:
    """``(256, 56, 56)`` as ``256x56x56``."""
    if shape is None:
        return "?"
    return "x".join(str(d) for d in shape) if shape else "scalar"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A parameter or buffer an op owns: ``suffix`` is appended to the layer's name
    (``weight`` gives ``layer1.0.conv1.weight``); an empty suffix names the layer itself."""

    suffix: str
    shape: Shape
    buffer: bool = False

    @property
    def numel(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True, slots=True)
class Emission:
    """How an op appears in emitted PyTorch code.

    ``module`` constructs the ``nn.Module`` kept as an attribute (None: the op is written inline);
    ``call`` is the forward expression, with ``{m}`` for the module or parameter and ``{x}`` for
    the input; ``parameter`` initialises an ``nn.Parameter`` that is the layer itself;
    ``seq_module`` is the module to use inside ``nn.Sequential`` when ``module`` is None;
    ``helpers`` names helper classes of :mod:`archc.codegen.helpers` the code needs.
    """

    module: str | None = None
    call: str = "{m}({x})"
    parameter: str | None = None
    seq_module: str | None = None
    helpers: tuple[str, ...] = ()


def ctor(name: str, *args: Any, **kwargs: Any) -> str:
    """``nn.Conv2d(64, 256, kernel_size=1)``; keyword values of None are left out."""
    from archc.dsl.symbolic import code

    parts = [code(a) for a in args] + [f"{k}={code(v)}" for k, v in kwargs.items() if v is not None]
    return f"{name}({', '.join(parts)})"


def unless_default(value: Any, default: Any) -> Any:
    """``value``, or None when it is the constant ``default`` (so that it is left out)."""
    from archc.dsl.symbolic import names

    return None if not names(value) and value == default else value


class Op:
    """Base class of every primitive op."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    args: ClassVar[tuple[ArgSpec, ...]] = ()
    arity: ClassVar[int] = 1  # number of inputs; 0 means "two or more" (merges)
    ranks: ClassVar[tuple[int, ...]] = (1, 2, 3)
    counted: ClassVar[bool] = False  # does fvcore count MACs for it?
    layer_is_parameter: ClassVar[bool] = False  # its tensor is keyed by the layer's own name

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return []

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        """(dense MACs, other MACs) for one sample."""
        return 0, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        """A short summary for diagrams, e.g. ``conv 3x3, 64, /2``."""
        return self.name

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        """Its PyTorch form; the values may be symbolic (:mod:`archc.dsl.symbolic`)."""
        raise NotImplementedError(f"no PyTorch emission for op '{self.name}'")

    # -- helpers shared by the rules
    def check_rank(self, ins: list[Shape]) -> None:
        for s in ins:
            if len(s) not in self.ranks:
                want = " or ".join(_RANK_WORDS[r] for r in self.ranks)
                raise OpError(
                    f"{self.name}: expects {want}, got {_RANK_WORDS.get(len(s), f'rank {len(s)}')} {fmt(s)}",
                    _rank_hint(len(s), self.ranks),
                )


_RANK_WORDS = {1: "a vector (D)", 2: "tokens (NxD)", 3: "an image (CxHxW)"}


def _rank_hint(got: int, want: tuple[int, ...]) -> str | None:
    if got == 3 and 2 in want:
        return "turn the feature map into tokens first (tokens or patch_embed)"
    if got == 3 and want == (1,):
        return "pool and flatten first (gap -> flatten)"
    if got == 2 and 3 in want:
        return "this op works on feature maps; it cannot follow a token layer"
    if got == 1 and 3 in want:
        return "this op works on feature maps; it cannot follow flatten or linear"
    return None


REGISTRY: dict[str, Op] = {}
ALIASES: dict[str, str] = {}


def register(*aliases: str) -> Any:
    def deco(cls: type[Op]) -> type[Op]:
        op = cls()
        REGISTRY[cls.name] = op
        for alias in aliases:
            ALIASES[alias] = cls.name
        return cls

    return deco


def lookup(name: str) -> Op | None:
    return REGISTRY.get(ALIASES.get(name, name))


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _window_out(size: int, k: int, s: int, p: int, d: int, ceil: bool, what: str) -> int:
    span = k if d == 1 else d * (k - 1) + 1
    if span > size + 2 * p:
        raise OpError(
            f"{what}: kernel {k} (dilation {d}) is larger than its input {size} padded by {p}",
            "use a smaller kernel, more padding, or downsample less before this layer",
        )
    num = (size if p == 0 else size + 2 * p) - span
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:  # PyTorch: the last window must start inside the input
        out -= 1
    return out


# ------------------------------------------------------------------ convolution


@register("conv2d")
class Conv(Op):
    name = "conv"
    summary = "2-D convolution (nn.Conv2d); bias off by default, as before a batch norm"
    args = (
        ArgSpec("out", "pos", doc="output channels"),
        ArgSpec("k", "posint_pair", aliases=("kernel", "kernel_size"), doc="kernel size"),
        ArgSpec("s", "posint_pair", 1, aliases=("stride",)),
        ArgSpec("p", "nonneg_pair", 0, aliases=("padding",)),
        ArgSpec("d", "posint_pair", 1, aliases=("dilation",)),
        ArgSpec("groups", "pos", 1, aliases=("g",)),
        ArgSpec("bias", "bool", False),
    )
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        g = a["groups"]
        if c % g or a["out"] % g:
            raise OpError(
                f"conv: groups={g} must divide input channels {c} and output channels {a['out']}",
                "choose groups that divides both channel counts",
            )
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(a[n]) for n in ("k", "s", "p", "d"))
        return (
            a["out"],
            _window_out(h, kh, sh, ph, dh, False, "conv"),
            _window_out(w, kw, sw, pw, dw, False, "conv"),
        )

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        kh, kw = pair(a["k"])
        t = [TensorSpec("weight", (a["out"], ins[0][0] // a["groups"], kh, kw))]
        if a["bias"]:
            t.append(TensorSpec("bias", (a["out"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        kh, kw = pair(a["k"])
        return prod(out) * (ins[0][0] // a["groups"]) * kh * kw, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        kh, kw = pair(a["k"])
        text = f"conv {kh}x{kw}, {a['out']}"
        if pair(a["s"]) != (1, 1):
            text += f", /{a['s'] if isinstance(a['s'], int) else 'x'.join(map(str, a['s']))}"
        if a["groups"] != 1:
            text += f", g{a['groups']}"
        return text

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.Conv2d",
                ins[0][0],
                a["out"],
                kernel_size=a["k"],
                stride=unless_default(a["s"], 1),
                padding=unless_default(a["p"], 0),
                dilation=unless_default(a["d"], 1),
                groups=unless_default(a["groups"], 1),
                bias=None if a["bias"] is True else a["bias"],
            )
        )


@register("patch_embedding")
class PatchEmbed(Op):
    name = "patch_embed"
    summary = "non-overlapping patches to tokens: conv k=s=patch, then (C,H,W) -> (H*W, C)"
    args = (ArgSpec("dim", "pos"), ArgSpec("patch", "pos"), ArgSpec("bias", "bool", True))
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        _, h, w = ins[0]
        p = a["patch"]
        if h % p or w % p:
            raise OpError(
                f"patch_embed: image {h}x{w} does not divide into {p}x{p} patches",
                f"use an input size that is a multiple of {p}, or another patch size",
            )
        return ((h // p) * (w // p), a["dim"])

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        t = [TensorSpec("proj.weight", (a["dim"], ins[0][0], a["patch"], a["patch"]))]
        if a["bias"]:
            t.append(TensorSpec("proj.bias", (a["dim"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return prod(out) * ins[0][0] * a["patch"] ** 2, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"patches {a['patch']}x{a['patch']}, {a['dim']}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        module = ctor("PatchEmbed", ins[0][0], a["dim"], a["patch"], bias=unless_default(a["bias"], True))
        return Emission(module, helpers=("PatchEmbed",))


# ------------------------------------------------------------------ normalisation


@register("batchnorm", "batchnorm2d")
class BatchNorm(Op):
    name = "bn"
    summary = "batch normalisation over channels (nn.BatchNorm2d)"
    args = (ArgSpec("eps", "float", 1e-5), ArgSpec("momentum", "prob", 0.1), ArgSpec("affine", "bool", True))
    ranks = (3,)
    counted = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        c = ins[0][0]
        t = [TensorSpec("weight", (c,)), TensorSpec("bias", (c,))] if a["affine"] else []
        return [
            *t,
            TensorSpec("running_mean", (c,), True),
            TensorSpec("running_var", (c,), True),
            TensorSpec("num_batches_tracked", (), True),
        ]

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0]) * (2 if a["affine"] else 1)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "batchnorm"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor(
                "nn.BatchNorm2d",
                ins[0][0],
                eps=unless_default(a["eps"], 1e-5),
                momentum=unless_default(a["momentum"], 0.1),
                affine=unless_default(a["affine"], True),
            )
        )


@register("ln", "layer_norm")
class LayerNorm(Op):
    name = "layernorm"
    summary = "layer normalisation over the last dimension (nn.LayerNorm)"
    args = (ArgSpec("eps", "float", 1e-5), ArgSpec("affine", "bool", True))
    counted = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        d = ins[0][-1]
        return [TensorSpec("weight", (d,)), TensorSpec("bias", (d,))] if a["affine"] else []

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0]) * (5 if a["affine"] else 4)

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        affine = unless_default(a["affine"], True)
        return Emission(
            ctor("nn.LayerNorm", ins[0][-1], eps=unless_default(a["eps"], 1e-5), elementwise_affine=affine)
        )


# ------------------------------------------------------------------ activations and friends


class _Elementwise(Op):
    counted = False
    torch_module: ClassVar[str] = ""

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(f"{self.torch_module}()")


@register()
class ReLU(_Elementwise):
    name = "relu"
    summary = "max(x, 0)"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission("nn.ReLU(inplace=True)" if a.get("inplace") else "nn.ReLU()")


@register()
class GELU(_Elementwise):
    name = "gelu"
    summary = "Gaussian error linear unit (exact erf form)"
    torch_module = "nn.GELU"


@register()
class Sigmoid(_Elementwise):
    name = "sigmoid"
    summary = "logistic sigmoid"
    torch_module = "nn.Sigmoid"


@register()
class Identity(_Elementwise):
    name = "identity"
    summary = "passes its input through"
    torch_module = "nn.Identity"


@register()
class Dropout(_Elementwise):
    name = "dropout"
    summary = "dropout with probability p (identity in eval mode)"
    args = (ArgSpec("p", "prob", 0.5),)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"dropout {a['p']:g}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.Dropout", a["p"]))


# ------------------------------------------------------------------ pooling


class _Pool(Op):
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        (kh, kw) = pair(a["k"])
        (sh, sw) = pair(a["s"] if a["s"] is not None else a["k"])
        (ph, pw) = pair(a["p"])
        if 2 * ph > kh or 2 * pw > kw:
            raise OpError(f"{self.name}: padding {a['p']} is more than half the kernel {a['k']}")
        d = a.get("d", 1)
        ceil = a["ceil"]
        return (
            c,
            _window_out(h, kh, sh, ph, d, ceil, self.name),
            _window_out(w, kw, sw, pw, d, ceil, self.name),
        )

    def label(self, a: dict[str, Any], out: Shape) -> str:
        k = pair(a["k"])
        s = a["s"] if a["s"] is not None else a["k"]
        return f"{self.name} {k[0]}x{k[1]}" + (f", /{s}" if s != 1 else "")

    torch_name: ClassVar[str] = ""

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        extra: dict[str, Any] = {"dilation": unless_default(a["d"], 1)} if "d" in a else {}
        return Emission(
            ctor(
                self.torch_name,
                kernel_size=a["k"],
                stride=a["s"],
                padding=unless_default(a["p"], 0),
                **extra,
                ceil_mode=unless_default(a["ceil"], False),
            )
        )


_POOL_ARGS = (
    ArgSpec("k", "posint_pair", aliases=("kernel", "kernel_size")),
    ArgSpec("s", "posint_pair", None, aliases=("stride",), doc="defaults to k"),
    ArgSpec("p", "nonneg_pair", 0, aliases=("padding",)),
)


@register("maxpool2d")
class MaxPool(_Pool):
    name = "maxpool"
    torch_name = "nn.MaxPool2d"
    summary = "max pooling (nn.MaxPool2d)"
    args = (*_POOL_ARGS, ArgSpec("d", "pos", 1, aliases=("dilation",)), ArgSpec("ceil", "bool", False))


@register("avgpool2d")
class AvgPool(_Pool):
    name = "avgpool"
    torch_name = "nn.AvgPool2d"
    summary = "average pooling (nn.AvgPool2d)"
    args = (*_POOL_ARGS, ArgSpec("ceil", "bool", False))


@register("adaptive_avgpool2d")
class AdaptiveAvgPool(Op):
    name = "adaptive_avgpool"
    summary = "adaptive average pooling to a fixed output size (nn.AdaptiveAvgPool2d)"
    args: ClassVar[tuple[ArgSpec, ...]] = (ArgSpec("size", "posint_pair", 1),)
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        oh, ow = pair(a["size"])
        return (ins[0][0], oh, ow)

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return 0, prod(ins[0])

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"avgpool to {fmt(out[1:])}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.AdaptiveAvgPool2d", tuple(pair(a.get("size", 1)))))


@register("global_avgpool")
class GlobalAvgPool(AdaptiveAvgPool):
    name = "gap"
    summary = "global average pooling to Cx1x1 (nn.AdaptiveAvgPool2d((1, 1)))"
    args: ClassVar[tuple[ArgSpec, ...]] = ()

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        return (ins[0][0], 1, 1)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "global avgpool"


# ------------------------------------------------------------------ reshapes


@register()
class Flatten(Op):
    name = "flatten"
    summary = "flattens everything but the batch dimension"
    ranks = (1, 2, 3)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        return (prod(ins[0]),)

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(call="torch.flatten({x}, 1)", seq_module="nn.Flatten()")


@register()
class Tokens(Op):
    name = "tokens"
    summary = "feature map to tokens: (C, H, W) -> (H*W, C)"
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        return (h * w, c)

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(call="{x}.flatten(2).transpose(1, 2)", seq_module="Tokens()", helpers=("Tokens",))


@register("select_token")
class Token(Op):
    name = "token"
    summary = "selects one token: (N, D) -> (D)"
    args = (ArgSpec("index", "int", 0),)
    ranks = (2,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        n, d = ins[0]
        if not -n <= a["index"] < n:
            raise OpError(f"token: index {a['index']} is out of range for {n} tokens")
        return (d,)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"token {a['index']}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            call=f"{{x}}[:, {a['index']}]",
            seq_module=ctor("SelectToken", a["index"]),
            helpers=("SelectToken",),
        )


@register()
class PixelShuffle(Op):
    name = "pixel_shuffle"
    summary = "(C*r*r, H, W) -> (C, H*r, W*r) (nn.PixelShuffle)"
    args = (ArgSpec("r", "pos", aliases=("factor", "upscale_factor")),)
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        r = a["r"]
        if c % (r * r):
            raise OpError(
                f"pixel_shuffle: {c} channels do not divide by r*r = {r * r}",
                f"make the preceding conv output a multiple of {r * r} channels",
            )
        return (c // (r * r), h * r, w * r)

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.PixelShuffle", a["r"]))


@register("zero_pad_shortcut")
class PadChannels(Op):
    name = "pad_channels"
    summary = "subsample by s and append zero channels up to out (ResNet's parameter-free option A shortcut)"
    args = (ArgSpec("out", "pos"), ArgSpec("s", "pos", 1, aliases=("stride",)))
    ranks = (3,)

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        c, h, w = ins[0]
        if a["out"] < c:
            raise OpError(
                f"pad_channels: cannot pad {c} channels down to {a['out']}", "use a 1x1 conv to reduce"
            )
        s = a["s"]
        return (a["out"], (h - 1) // s + 1, (w - 1) // s + 1)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"subsample /{a['s']}, zero-pad to {a['out']}" if a["s"] != 1 else f"zero-pad to {a['out']}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor("PadChannels", ins[0][0], a["out"], stride=unless_default(a["s"], 1)),
            helpers=("PadChannels",),
        )


@register("meanshift")
class MeanShift(Op):
    name = "mean_shift"
    summary = "adds sign * range * RGB mean (EDSR/RCAN's MeanShift: a 1x1 conv 3->3 initialised to do so)"
    args = (
        ArgSpec("range", "float", 255.0, aliases=("rgb_range",)),
        ArgSpec("sign", "int", -1),
        ArgSpec("mean", "float_triple", (0.4488, 0.4371, 0.4040)),
    )
    ranks = (3,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        if ins[0][0] != 3:
            raise OpError(f"mean_shift: expects 3 (RGB) channels, got {ins[0][0]}")
        if a["sign"] not in (-1, 1):
            raise OpError(f"mean_shift: sign must be -1 or 1, got {a['sign']}")
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return [TensorSpec("weight", (3, 3, 1, 1)), TensorSpec("bias", (3,))]

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return prod(out) * 3, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "subtract RGB mean" if a["sign"] < 0 else "add RGB mean"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            ctor("MeanShift", a["range"], tuple(a["mean"]), sign=a["sign"]), helpers=("MeanShift",)
        )


# ------------------------------------------------------------------ dense layers


@register("fc", "dense")
class Linear(Op):
    name = "linear"
    summary = "fully connected layer on the last dimension (nn.Linear)"
    args = (ArgSpec("out", "pos"), ArgSpec("bias", "bool", True))
    ranks = (1, 2)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        return (*ins[0][:-1], a["out"])

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        t = [TensorSpec("weight", (a["out"], ins[0][-1]))]
        if a["bias"]:
            t.append(TensorSpec("bias", (a["out"],)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        return prod(ins[0]) * a["out"], 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"linear {a['out']}"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(ctor("nn.Linear", ins[0][-1], a["out"], bias=unless_default(a["bias"], True)))


@register("mhsa", "self_attention")
class Attention(Op):
    name = "attention"
    summary = "multi-head self-attention (nn.MultiheadAttention, packed q/k/v projection)"
    args = (ArgSpec("heads", "pos"), ArgSpec("dropout", "prob", 0.0), ArgSpec("bias", "bool", True))
    ranks = (2,)
    counted = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        d = ins[0][1]
        if d % a["heads"]:
            raise OpError(
                f"attention: width {d} does not divide into {a['heads']} heads",
                "choose a head count that divides the token width",
            )
        return ins[0]

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        d = ins[0][1]
        t = [TensorSpec("in_proj_weight", (3 * d, d))]
        if a["bias"]:
            t.append(TensorSpec("in_proj_bias", (3 * d,)))
        t.append(TensorSpec("out_proj.weight", (d, d)))
        if a["bias"]:
            t.append(TensorSpec("out_proj.bias", (d,)))
        return t

    def macs(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[int, int]:
        n, d = ins[0]
        projections = n * d * 3 * d + n * d * d
        products = 2 * n * n * d  # Q·Kᵀ and attention·V over all heads
        return projections + products, 0

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return f"self-attention, {a['heads']} heads"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        module = ctor(
            "nn.MultiheadAttention",
            ins[0][1],
            a["heads"],
            dropout=unless_default(a["dropout"], 0.0),
            bias=unless_default(a["bias"], True),
            batch_first=True,
        )
        return Emission(module, call="{m}({x}, {x}, {x}, need_weights=False)[0]")


@register("class_token")
class ClassToken(Op):
    name = "cls_token"
    summary = "prepends a learned class token: (N, D) -> (N+1, D); the parameter is the layer itself"
    ranks = (2,)
    layer_is_parameter = True

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        n, d = ins[0]
        return (n + 1, d)

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return [TensorSpec("", (1, 1, ins[0][1]))]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "prepend class token"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        return Emission(
            parameter=f"nn.Parameter(torch.zeros(1, 1, {code_of(ins[0][1])}))",
            call="torch.cat([{m}.expand({x}.shape[0], -1, -1), {x}], dim=1)",
        )


@register("pos_embedding", "position_embedding")
class PosEmbed(Op):
    name = "pos_embed"
    summary = "adds a learned position embedding (1, N, D); the parameter is the layer itself"
    ranks = (2,)
    layer_is_parameter = True

    def tensors(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> list[TensorSpec]:
        return [TensorSpec("", (1, *ins[0]))]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "+ position embedding"

    def emit(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Emission:
        n, d = ins[0]
        return Emission(
            parameter=f"nn.Parameter(torch.empty(1, {code_of(n)}, {code_of(d)}).normal_(std=0.02))",
            call="{x} + {m}",
        )


# ------------------------------------------------------------------ merges


class _Merge(Op):
    arity = 0


@register()
class Add(_Merge):
    name = "add"
    summary = "elementwise sum of equal shapes"

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        for s in ins[1:]:
            if s != ins[0]:
                raise OpError(
                    f"add: shapes differ: {fmt(ins[0])} vs {fmt(s)}",
                    "add a projection on the skip edge (a 1x1 conv with the right width and stride)",
                )
        return ins[0]

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "+"


@register()
class Mul(_Merge):
    name = "mul"
    summary = "elementwise product, broadcasting size-1 dimensions (gates such as SE)"

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        out = list(ins[0])
        for s in ins[1:]:
            if len(s) != len(out) or any(x != y and 1 not in (x, y) for x, y in zip(out, s, strict=True)):
                raise OpError(
                    f"mul: shapes do not broadcast: {fmt(out)} vs {fmt(s)}",
                    "a gate must match in every dimension or be 1 there (e.g. Cx1x1 for a CxHxW map)",
                )
            out = [max(x, y) for x, y in zip(out, s, strict=True)]
        return tuple(out)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "×"


@register("concat")
class Cat(_Merge):
    name = "cat"
    summary = "concatenation along channels (images) or the last dimension"

    def infer(self, a: dict[str, Any], ins: list[Shape]) -> Shape:
        first = ins[0]
        axis = 0 if len(first) == 3 else len(first) - 1
        for s in ins[1:]:
            if len(s) != len(first) or any(
                x != y for i, (x, y) in enumerate(zip(first, s, strict=True)) if i != axis
            ):
                raise OpError(
                    f"cat: shapes differ outside the concatenated dimension: {fmt(first)} vs {fmt(s)}",
                    "every branch must keep the same spatial size; check strides and padding",
                )
        out = list(first)
        out[axis] = sum((s[axis] for s in ins[1:]), start=ins[0][axis])
        return tuple(out)

    def label(self, a: dict[str, Any], out: Shape) -> str:
        return "concat"


def code_of(v: Any) -> str:
    from archc.dsl.symbolic import code

    return code(v)


def uncounted_ops() -> list[str]:
    """The ops for which no MACs are counted, for summaries."""
    return sorted(name for name, op in REGISTRY.items() if not op.counted)
