"""Checkpoints that are data, not code, and that say when they were damaged.

A checkpoint is a ``torch.save`` file of plain data only (tensors, numbers, strings, lists,
tuples and dicts: the RNG states are tensors and tuples of ints), so it is read with
``torch.load(weights_only=True)``: a file that names any other Python object, e.g. a pickle
that would call ``os.system``, is refused before anything in it runs.  Inside it, ``sha256``
is a hash of everything else (every key, number and tensor byte, in order); a file changed
after it was written, by a flipped bit or a truncated copy, fails that check.  Every problem
is one :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import pickletools
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from archc.build import write_atomic
from archc.dsl.diagnostics import NOWHERE
from archc.train.errors import CheckpointError

FORMAT = "archc-checkpoint"
VERSION = 1


def content_hash(payload: Any) -> str:
    """A SHA-256 of ``payload``'s content: its structure, keys, plain values and tensor bytes."""
    h = hashlib.sha256()
    _feed(h, payload)
    return h.hexdigest()


def _feed(h: Any, x: Any) -> None:
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(x, dict):
        h.update(f"D{len(x)}:".encode())
        for k, v in x.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(x, list | tuple):
        h.update(f"{'L' if isinstance(x, list) else 'U'}{len(x)}:".encode())
        for v in x:
            _feed(h, v)
    elif x is None or isinstance(x, bool | int | float | str):
        h.update(f"{type(x).__name__}:{x!r};".encode())
    else:
        raise TypeError(f"a checkpoint holds plain data only, not {type(x).__name__}")


def encode(payload: dict[str, Any]) -> bytes:
    """The bytes of a checkpoint holding ``payload`` (a dict of plain data and tensors)."""
    body = {"format": FORMAT, "version": VERSION, **payload}
    body["sha256"] = content_hash(body)
    buf = io.BytesIO()
    torch.save(body, buf)
    return buf.getvalue()


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically: readers see the previous file or the new one, never half."""
    write_atomic({path: encode(payload)})


def read(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A ``torch.load``-able file of data only, or one :class:`CheckpointError` naming it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError.at(NOWHERE, f"{path}: no such file") from None
    except OSError as e:
        raise CheckpointError.at(NOWHERE, f"{path}: cannot read it: {e.strerror or e}") from None
    if not raw:
        raise CheckpointError.at(NOWHERE, f"{path} is empty", "a copy or a write that did not finish?")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols; the error says enough
            warnings.simplefilter("ignore")
            state = torch.load(io.BytesIO(raw), map_location=map_location, weights_only=True)
    except Exception:  # torch raises many types for bad files; none may escape as a traceback
        code = code_in_pickle(raw)
        if code is not None:
            raise CheckpointError.at(
                NOWHERE,
                f"{path} refers to Python code ({code}), not only to data; archc does not load it",
                "archc reads tensors, numbers and strings only; never unpickle a file you do not trust",
            ) from None
        raise CheckpointError.at(
            NOWHERE,
            f"{path} is not a readable PyTorch file (truncated, damaged or of another kind)",
            "a checkpoint or state_dict written by torch.save, or a .safetensors file",
        ) from None
    return state  # type: ignore[no-any-return]


#: What a data-only torch file may name: tensor storages and the rebuild functions for tensors.
_DATA_GLOBALS = ("torch.", "collections.OrderedDict", "_codecs.encode", "builtins.set")


def code_in_pickle(raw: bytes) -> str | None:
    """The first Python object outside plain data that a pickle (or the ``data.pkl`` of a torch
    zip file) names, e.g. ``posix.system``; found by reading its opcodes, never by running them."""
    if raw[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                raw = z.read(name) if name else b""
        except Exception:
            return None
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(raw):
            if isinstance(arg, str):
                strings.append(arg)
            if op.name == "GLOBAL" and isinstance(arg, str):
                found = arg.replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found = f"{strings[-2]}.{strings[-1]}"
            else:
                continue
            if not found.startswith(_DATA_GLOBALS):
                return found
    except Exception:  # a damaged pickle: what it names before the damage has been checked
        return None
    return None


def load(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint archc wrote, its content hash checked."""
    state = read(path, map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError.at(
            NOWHERE, f"{path} is not an archc checkpoint", "--weights FILE loads other weight files"
        )
    verify(path, state)
    return state


def verify(path: Path, state: dict[str, Any]) -> None:
    if state.get("version") != VERSION:
        raise CheckpointError.at(
            NOWHERE, f"{path}: checkpoint version {state.get('version')!r}; this archc reads {VERSION}"
        )
    stored = state.get("sha256")
    rest = {k: v for k, v in state.items() if k != "sha256"}
    try:
        actual = content_hash(rest)
    except TypeError:
        actual = None
    if stored != actual:
        raise CheckpointError.at(
            NOWHERE,
            f"{path} is damaged: its content does not match the hash written with it",
            "it changed after archc wrote it (a bad copy, disk or edit); use another checkpoint",
        )


def rng_state() -> dict[str, Any]:
    """Every random state a step uses, as tensors and tuples of ints."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
