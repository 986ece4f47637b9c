"""The contract every primitive op fulfils, and the registry that holds them.

Shapes exclude the batch dimension, which is symbolic (``B``) throughout: an image is
``(C, H, W)``, a token sequence ``(N, D)``, a vector ``(D,)``.  A feature map permuted
channels-last (``permute(0, 2, 3, 1)``, as torchvision's ConvNeXt and Swin do) is ``(H, W, C)``
held in a :class:`ChannelsLast` tuple, so that every op can tell the two layouts apart: ops that
act on the last dimension (``linear``, ``layernorm``) then act on the channels, ops that need
channels first (``conv``, ``bn``, pooling) refuse it with a located error.  A 1-D signal is
``(C, L)``, channels first as ``nn.Conv1d`` reads it; it has the rank of tokens ``(N, D)``, which
are its channels-last form (``transpose`` swaps them).

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
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from fractions import Fraction

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
    kind: str  # one of KINDS
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    doc: str = ""


#: The argument kinds the elaborator checks: ``int``, ``pos`` (> 0) and ``nonneg`` (>= 0) integers;
#: ``float`` (> 0) and ``prob`` (0..1) numbers; ``bool``; an integer or ``[h, w]`` pair of
#: ``posint_pair`` (> 0) or ``nonneg_pair`` (>= 0); ``float_triple`` (three numbers).
KINDS = frozenset(
    ["int", "pos", "nonneg", "float", "prob", "bool", "posint_pair", "nonneg_pair", "float_triple"]
)


class ChannelsLast(tuple[int, ...]):
    """The shape of a feature map stored channels-last, ``(H, W, C)``; a plain tuple of rank 3
    is channels-first ``(C, H, W)``.  It compares equal to the plain tuple of the same sizes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ChannelsLast({tuple(self)!r})"


CHW, HWC = "chw", "hwc"


def layout_of(shape: Sequence[int]) -> str | None:
    """``"chw"`` or ``"hwc"`` for a feature map; None for other ranks and for a plain map whose
    sizes are symbols.  The code generator elaborates a block with symbolic input sizes and
    without the layout tag: such a map may be either, and the check before it has already
    validated the layouts, so ops accept it as the layout they need."""
    if len(shape) != 3:
        return None
    if isinstance(shape, ChannelsLast):
        return HWC
    from archc.dsl.symbolic import names

    return None if names(tuple(shape)) else CHW


def like(shape: Sequence[int], dims: Sequence[int]) -> Shape:
    """``dims`` as a shape in the layout of ``shape`` (a channels-last map stays channels-last)."""
    return ChannelsLast(dims) if isinstance(shape, ChannelsLast) else tuple(dims)


def describe(shape: Sequence[int]) -> str:
    """``an image (CxHxW) 3x32x32``, ``a channels-last map (HxWxC) 7x7x96``, ``tokens (NxD) 197x768``."""
    if isinstance(shape, ChannelsLast):
        return f"a channels-last map (HxWxC) {fmt(shape)}"
    return f"{_RANK_WORDS.get(len(shape), f'rank {len(shape)}')} {fmt(shape)}"


class QuotedStr(str):
    """A string constant an op writes into emitted code (``mode="nearest"``): its ``repr`` uses
    double quotes, as ``ruff format`` writes them.  Never built from a spec's text."""

    __slots__ = ()

    def __new__(cls, text: str) -> QuotedStr:
        if not text.replace("_", "").isalnum() or not text.isascii():
            raise ValueError(f"not a plain word: {text!r}")
        return super().__new__(cls, text)

    def __repr__(self) -> str:
        return '"' + self + '"'


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

    module: Ctor | str | None = None
    call: str = "{m}({x})"
    parameter: str | None = None
    seq_module: Ctor | str | None = None
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
    after ``p`` of padding; ``up`` != 1 for layers that resample by that factor (a fraction where
    it is not whole: pixel shuffle and nearest upsampling by r, a transposed convolution of
    stride r, a resize to a fixed size), whose every output position sees ``k`` neighbouring
    input positions, the first centred ``(k - 1) / 2 - p`` input positions from the first input;
    ``whole`` for layers whose every output sees the whole input (global pooling, attention,
    flattening into a vector)."""

    __slots__ = ("d", "k", "p", "s", "up", "whole")

    def __init__(
        self,
        k: int = 1,
        s: int = 1,
        p: int | Fraction = 0,
        d: int = 1,
        up: int | Fraction = 1,
        whole: bool = False,
    ):
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


def ctor(name: str, *args: Any, **kwargs: Any) -> Ctor:
    """``nn.Conv2d(64, 256, kernel_size=1)``: ``str()`` gives the code; keyword values of None
    are left out.  Mark the arguments that come from the input's shape with :class:`Dim`."""
    return Ctor(name, args, tuple(kwargs.items()))


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
    inplace: ClassVar[bool] = False  # can run in place (the code generator decides when it may)
    # The layout it needs of a rank-3 input: "chw", "hwc" or "any"; None means "chw" for an op
    # that takes only feature maps (conv, bn, pooling) and "any" otherwise (elementwise ops, and
    # ops on the last dimension such as layernorm).
    layout: ClassVar[str | None] = None
    # How it reads a rank, where that differs from "a vector (D)", "tokens (NxD)", "an image (CxHxW)"
    rank_names: ClassVar[dict[int, str]] = {}
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
        which the memory report lists (and counts as keeping the inputs).  Besides the layer's
        arguments, ``a`` says whether it runs in place (``inplace``) and the batch size
        (``batch``: whether a kernel copies an operand can depend on it)."""
        return None

    def scratch(self, a: dict[str, Any], ins: list[Shape], out: Shape) -> tuple[tuple[Shape, str, bool], ...]:
        """Tensors a layer allocates and frees within itself in an inference forward, beyond its
        output, as ``(shape, dtype, batched)`` like :attr:`Saves.extra` (max pooling's indices);
        ``a`` holds the batch size as ``batch`` too."""
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
                words = {**_RANK_WORDS, **self.rank_names}
                want = " or ".join(words[r] for r in self.ranks)
                hint = _rank_hint(len(s), self.ranks)
                if isinstance(s, ChannelsLast) and 2 in self.ranks:
                    hint = "permute back (permute(0, 3, 1, 2)), then make tokens (tokens)"
                raise OpError(f"{self.name}: expects {want}, got {describe(s)}", hint)
        self.check_layout(ins)

    def check_layout(self, ins: list[Shape]) -> None:
        """Feature maps in the layout the op needs, and merged maps in one layout."""
        want = self.layout or (CHW if self.ranks == (3,) else "any")
        maps = [(s, layout_of(s)) for s in ins if len(s) == 3]
        for s, got in maps:
            if want == "any" or got is None or got == want:
                continue
            if want == CHW:
                raise OpError(
                    f"{self.name}: expects a channels-first map (CxHxW), got {describe(s)}",
                    "permute back first: permute(0, 3, 1, 2)",
                )
            hint = "permute(0, 2, 3, 1) first, as torchvision's ConvNeXt and Swin do"
            if 1 in self.ranks:
                hint = "pool and flatten first (gap -> flatten); or, to act on each pixel's channels, " + hint
            raise OpError(
                f"{self.name}: expects a channels-last map (HxWxC), "
                f"got a channels-first map {fmt(s)} (CxHxW)",
                hint,
            )
        known = [(s, got) for s, got in maps if got is not None]
        if len({got for _, got in known}) > 1:
            first, layout = known[0]
            other = next(s for s, got in known if got != layout)
            raise OpError(
                f"{self.name}: operands differ in layout: {describe(first)} and {describe(other)}",
                "permute one of them so that both are channels-first (or both channels-last)",
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


class RegistrationError(Exception):
    """An op that cannot join the registry: a broken declaration, or a name already taken (by
    the op ``taken_by``)."""

    def __init__(self, message: str, taken_by: str | None = None):
        super().__init__(message)
        self.taken_by = taken_by


def register(*aliases: str) -> Any:
    """Class decorator: add one instance of the op to the registry, under its name and aliases.
    Plugins register the same way (:mod:`archc.dsl.ops.plugins`)."""

    def deco(cls: type[Op]) -> type[Op]:
        problem = _declaration_problem(cls, aliases)
        if problem:
            raise RegistrationError(problem)
        for n in (cls.name, *aliases):
            if n in REGISTRY or n in ALIASES:
                owner = ALIASES.get(n, n)
                raise RegistrationError(f"op name '{n}' is already taken (by op '{owner}')", owner)
        op = cls()
        REGISTRY[cls.name] = op
        for alias in aliases:
            ALIASES[alias] = cls.name
        return cls

    return deco


# Words of the language that cannot name an op.
_RESERVED = frozenset(
    [
        "input",
        "return",
        "block",
        "network",
        "use",
        "if",
        "else",
        "in",
        "and",
        "or",
        "not",
        "true",
        "false",
        "x",
    ]
)


def _declaration_problem(cls: Any, aliases: tuple[str, ...]) -> str | None:
    if not isinstance(cls, type) or not issubclass(cls, Op):
        return f"{cls!r} is not a subclass of archc.dsl.ops.Op"
    name = getattr(cls, "name", None)
    if not isinstance(name, str):
        return f"{cls.__name__} has no op name (set the class attribute `name`)"
    for n in (name, *aliases):
        if (
            not (isinstance(n, str) and n.isascii() and n.isidentifier())
            or n.startswith("_")
            or n in _RESERVED
        ):
            return f"{cls.__name__}: {n!r} cannot name an op (use lower-case letters, digits and _)"
    if len(set(aliases)) != len(aliases) or name in aliases:
        return f"op '{name}' lists an alias twice"
    seen: set[str] = set()
    for spec in cls.args:
        if not isinstance(spec, ArgSpec):
            return f"op '{name}': args must be ArgSpec instances"
        if spec.kind not in KINDS:
            kinds = ", ".join(sorted(KINDS))
            return f"op '{name}': argument '{spec.name}' has unknown kind '{spec.kind}' (one of {kinds})"
        for n in (spec.name, *spec.aliases):
            if n in seen or not n.isidentifier():
                return f"op '{name}': argument name '{n}' is repeated or not an identifier"
            seen.add(n)
    if cls.layout not in (None, CHW, HWC, "any"):
        return f"op '{name}': layout must be 'chw', 'hwc' or 'any'"
    if not cls.ranks or any(r not in (1, 2, 3) for r in cls.ranks):
        return f"op '{name}': ranks must be among 1, 2 and 3"
    return None


def lookup(name: str) -> Op | None:
    """The op called ``name`` (or an alias of it).  A name the built-in registry lacks is looked
    up among the installed plugins, whose modules are imported only then (and only the one
    that declares the name)."""
    op = REGISTRY.get(ALIASES.get(name, name))
    if op is None:
        from archc.dsl.ops.plugins import load_plugin_for

        if load_plugin_for(name):
            op = REGISTRY.get(ALIASES.get(name, name))
    return op


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
