"""The contract every primitive op fulfils, and the registry that holds them.

Shapes exclude the batch dimension, which is symbolic (``B``) throughout: an image is
``(C, H, W)``, a token sequence ``(N, D)``, a vector ``(D,)``.

MAC convention (as fvcore and torchvision's published figures): one multiply-add is one MAC.
``macs`` counts the dense ops (convolution, linear, attention products); ``macs_other`` counts
normalisation and adaptive pooling the way fvcore does (batch norm 2 per element with affine,
layer norm 5 per element with affine, adaptive average pooling 1 per input element).  Ops with
``counted = False`` (activations, elementwise merges, max/avg pooling, reshapes) count none and
are listed as such in summaries, never silently reported as zero.
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


class Saves:
    """What autograd keeps of one layer for the backward pass, in training mode on CPU.

    ``inputs``: the operands whose storage is kept (by index); ``output``: the layer keeps its own
    result; ``extra``: tensors the layer creates and keeps (statistics, indices, dropout noise), each
    ``(shape, dtype, batched)``: a shape without the batch dimension (which multiplies it when
    ``batched``) and a dtype: ``"act"`` (the activations'), ``"float32"``, ``"int64"``, or, for
    kernels that compute 16-bit inputs in float32, ``"act-unless-16bit"`` (kept only for 32-bit
    activations) and ``"float32-if-16bit"`` (a float32 copy kept only for 16-bit activations);
    ``alias``: the output is a view of
    input 0 (or the same tensor), so it shares that storage.  A storage is counted once however
    many layers keep it (see :mod:`archc.dsl.memory`).

    (Plain classes rather than dataclasses here and in :class:`Window`: this module is imported by
    every command, and a dataclass costs code generation at import.)
    """

    __slots__ = ("alias", "extra", "inputs", "output")

    def __init__(
        self,
        inputs: tuple[int, ...] = (),
        output: bool = False,
        extra: tuple[tuple[Shape, str, bool], ...] = (),
        alias: bool = False,
    ):
        self.inputs = inputs
        self.output = output
        self.extra = extra
        self.alias = alias

    def __repr__(self) -> str:
        return f"Saves(inputs={self.inputs}, output={self.output}, extra={self.extra}, alias={self.alias})"


NOTHING = Saves()
VIEW = Saves(alias=True)


class Window:
    """How a layer maps positions along one spatial dimension (receptive fields): an output
    position sees ``k`` input positions spaced ``d`` apart, windows start every ``s`` positions
    after ``p`` of padding; ``up`` > 1 for layers that multiply the size (pixel shuffle: each input
    position becomes ``up`` output positions); ``whole`` for layers whose every output sees the
    whole input (global pooling, attention, flattening into a vector)."""

    __slots__ = ("d", "k", "p", "s", "up", "whole")

    def __init__(self, k: int = 1, s: int = 1, p: int = 0, d: int = 1, up: int = 1, whole: bool = False):
        self.k, self.s, self.p, self.d, self.up, self.whole = k, s, p, d, up, whole

    def __repr__(self) -> str:
        return f"Window(k={self.k}, s={self.s}, p={self.p}, d={self.d}, up={self.up}, whole={self.whole})"


POINTWISE = Window()
GLOBAL = Window(whole=True)


@dataclass(frozen=True, slots=True)
class Dim:
    """A constructor argument that comes from the input's shape (channels, features), not from
    the op's own arguments: ``nn.BatchNorm2d(Dim(c))``.  An op passed as a value (``norm=bn``)
    is emitted as a factory called with exactly these arguments (``norm(width)``), the way
    torchvision calls ``norm_layer(planes)``."""

    value: Any


@dataclass(frozen=True, slots=True)
class Ctor:
    """A constructor call in emitted code: ``nn.Conv2d(64, 256, kernel_size=1)``.

    ``args`` are positional (a :class:`Dim` marks an input size), ``kwargs`` keyword arguments
    (values of None are left out).  ``str()`` gives the code."""

    callee: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __str__(self) -> str:
        from archc.dsl.symbolic import code

        parts = [code(a.value if isinstance(a, Dim) else a) for a in self.args]
        parts += [f"{k}={code(v)}" for k, v in self.kwargs if v is not None]
        return f"{self.callee}({', '.join(parts)})"


def ctor(name: str, *args: Any, **kwargs: Any) -> str:
    """``nn.Conv2d(64, 256, kernel_size=1)`` as code; keyword values of None are left out.
    Mark the arguments that come from the input's shape with :class:`Dim`."""
    return str(Ctor(name, args, tuple(kwargs.items())))


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
    identity_in_eval: ClassVar[bool] = False  # returns its input in eval mode (dropout)

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

    def saves(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> Saves | None:
        """What autograd keeps of this layer for backward (training mode, CPU); None: no rule yet,
        which the memory report lists (and counts as keeping the inputs)."""
        return None

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        """Tensors a layer allocates and frees within itself in an inference forward, beyond its
        output, as ``(shape, dtype, batched)`` like :attr:`Saves.extra` (max pooling's indices)."""
        return ()

    def window(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[Window, Window] | None:
        """How the layer maps positions along H and W (receptive fields); None: no rule yet, which
        the report says.  Layers on tokens or vectors return ``(GLOBAL, GLOBAL)`` when each output
        sees every input position, ``(POINTWISE, POINTWISE)`` when it sees one."""
        return None

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


def window_out(size: int, k: int, s: int, p: int, d: int, ceil: bool, what: str) -> int:
    """Output size of a sliding window, as PyTorch computes it.  In ceil mode the last window may
    hang past the padded input (by less than a stride), so a kernel may exceed a small input."""
    span = k if d == 1 else d * (k - 1) + 1
    num = (size if p == 0 else size + 2 * p) - span
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= size + p:  # PyTorch: the last window must start inside the input
        out -= 1
    if out < 1:
        raise OpError(
            f"{what}: kernel {k} (dilation {d}) is larger than its input {size} padded by {p}",
            "use a smaller kernel, more padding, or downsample less before this layer",
        )
    return out


def code_of(v: Any) -> str:
    from archc.dsl.symbolic import code

    return code(v)


def uncounted_ops() -> list[str]:
    """The ops for which no MACs are counted, for summaries."""
    return sorted(name for name, op in REGISTRY.items() if not op.counted)
