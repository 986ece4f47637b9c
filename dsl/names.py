"""The one identifier check: every name from a spec that can reach emitted code passes here."""

from __future__ import annotations

import builtins
import keyword

# Attributes every nn.Module has; a layer named like one would shadow it.
_MODULE_ATTRS = frozenset(
    [
        "training",
        "forward",
        "parameters",
        "buffers",
        "children",
        "modules",
        "named_parameters",
        "named_buffers",
        "named_children",
        "named_modules",
        "state_dict",
        "load_state_dict",
        "train",
        "eval",
        "to",
        "cuda",
        "cpu",
        "type",
        "float",
        "double",
        "half",
        "bfloat16",
        "apply",
        "zero_grad",
        "register_buffer",
        "register_parameter",
        "add_module",
        "register_module",
        "get_submodule",
        "get_parameter",
        "get_buffer",
        "extra_repr",
        "requires_grad_",
        "share_memory",
        "compile",
        "dump_patches",
        "call_super_init",
    ]
)
_BUILTINS = frozenset(dir(builtins))

#: Global names an emitted module defines or imports besides its own classes: a parameter of
#: that name would shadow them inside a constructor.  Helper classes (codegen/helpers.py) are
#: listed here too (a test checks that every helper is).
EMITTED_GLOBALS = frozenset(
    [
        "annotations",
        "torch",
        "nn",
        "F",
        "math",
        "OrderedDict",
        "Any",
        "Callable",
        "Sequence",
        "partial",
        "_make_divisible",
        "PatchEmbed",
        "MeanShift",
        "PadChannels",
        "Tokens",
        "SelectToken",
        "SelfAttention",
        "LayerNorm2d",
        "StochasticDepth",
        "LayerScale",
        "Permute",
        "ChannelShuffle",
        "Chunk",
        "SliceChannels",
        "ShiftedWindowAttention",
        "PatchMerging",
        "Upsample",
    ]
)
#: The longest name that can reach emitted code (class, file and attribute names stay readable
#: and within file-system limits).
MAX_NAME = 64


def identifier_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Python identifier in emitted code, or None if it can."""
    if not name.isascii():
        return "names must be ASCII letters, digits and underscores"
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if not name.isidentifier():
        return "not a valid identifier"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "a Python keyword"
    if name.startswith("_"):  # _modules, _parameters, ...: nn.Module's own state
        return "names starting with '_' are reserved"
    if name in _BUILTINS:
        return "the name of a Python builtin"
    if name in _MODULE_ATTRS:
        return "an attribute every nn.Module already has"
    if name in ("self", "x") or name in EMITTED_GLOBALS:
        return "reserved by the emitted code"
    return None


def join_path(prefix: str, name: str) -> str:
    """``layer1`` + ``0`` is ``layer1.0``; at the top, just ``name``."""
    return f"{prefix}.{name}" if prefix else name
