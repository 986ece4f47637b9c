"""Weights in: a state_dict or checkpoint file (``.pt``, ``.pth``, ``.safetensors``), or the cached
weights of torchvision and timm, loaded into an emitted module through a :class:`WeightMap`.

Files are read as data only (``torch.load(weights_only=True)`` or safetensors); nothing is
ever downloaded: ``torchvision:NAME`` and ``timm:NAME`` read the files those libraries cached,
and say where the file is expected when it is not there.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from archc.dsl.diagnostics import NOWHERE, ArchcError
from archc.train import checkpoint
from archc.train.errors import CheckpointError
from archc.train.weightmap import WeightMap, map_tensors, report

#: Keys under which training scripts commonly nest the state_dict in their checkpoints.
NESTED = ("model", "state_dict", "model_state_dict", "model_state", "module", "ema")
#: Prefixes that wrappers add to every key: DistributedDataParallel, torch.compile.
WRAPPERS = ("module.", "_orig_mod.")


def _error(message: str, hint: str | None = None) -> ArchcError:
    return CheckpointError.at(NOWHERE, message, hint)


def read_file(path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in ``path``: a safetensors file, an archc checkpoint (hash checked), a bare
    state_dict, or a training checkpoint holding one under a usual key."""
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise _error(f"{path}: no such file")
        try:
            from safetensors.torch import load as load_safetensors

            loaded: dict[str, torch.Tensor] = load_safetensors(path.read_bytes())
            return loaded
        except ImportError:
            raise _error(
                f"{path}: reading .safetensors needs the safetensors package", "pip install 'archc[train]'"
            ) from None
        except Exception:
            raise _error(f"{path} is not a readable safetensors file (truncated or damaged)") from None
    state: Any = checkpoint.read(path)
    if isinstance(state, dict) and state.get("format") == checkpoint.FORMAT:
        checkpoint.verify(path, state)
    for _ in range(2):  # {"model": {...}} or {"state_dict": {"model": ...}} at most
        if isinstance(state, dict) and not _is_state_dict(state):
            inner = next((state[k] for k in NESTED if isinstance(state.get(k), dict)), None)
            if inner is None:
                break
            state = inner
    if not isinstance(state, dict) or not _is_state_dict(state) or not state:
        raise _error(
            f"{path} holds no state_dict (a mapping of names to tensors)",
            "give a file written by torch.save(model.state_dict()), a checkpoint, or a .safetensors file",
        )
    for prefix in WRAPPERS:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    out: dict[str, torch.Tensor] = state
    return out


def _is_state_dict(d: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def _torchvision_file(name: str) -> Path:
    try:
        import torchvision.models as tvm
    except ImportError:
        raise _error(
            f"torchvision:{name} needs torchvision, which is not installed",
            "install it, or give the weights file itself: --weights resnet50-11ad3fa6.pth",
        ) from None
    model, _, tag = name.partition(".")
    try:
        enum: Any = tvm.get_model_weights(model)
        weights = enum[tag] if tag else enum.DEFAULT
    except (ValueError, KeyError):
        raise _error(
            f"torchvision:{name}: torchvision has no such weights", "e.g. torchvision:resnet50"
        ) from None
    path = Path(str(torch.hub.get_dir())) / "checkpoints" / os.path.basename(urlparse(str(weights.url)).path)
    if not path.is_file():
        raise _error(
            f"torchvision:{name}: the weights are not in torchvision's cache; expected {path}",
            f"archc never downloads: copy the file there (it is {weights.url})",
        )
    return path


def _timm_file(name: str) -> Path:
    try:
        import timm
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        raise _error(
            f"timm:{name} needs timm (and huggingface_hub), which are not installed",
            "install them, or give the weights file itself with --weights FILE",
        ) from None
    cfg = timm.models.get_pretrained_cfg(name)
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if not repo:
        raise _error(f"timm:{name}: timm has no pretrained weights of that name", "e.g. timm:seresnet50")
    for filename in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(str(found))
    where = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
    raise _error(
        f"timm:{name}: the weights are not in the Hugging Face cache; expected them under {where}",
        "archc never downloads: fetch them with timm where there is a network, then copy that folder",
    )


def read_source(source: str) -> tuple[dict[str, torch.Tensor], str]:
    """The state_dict named by ``--weights`` (a file, ``torchvision:NAME`` or ``timm:NAME``)."""
    kind, sep, name = source.partition(":")
    if sep and kind == "torchvision":
        path = _torchvision_file(name)
    elif sep and kind == "timm":
        path = _timm_file(name)
    else:
        path = Path(source)
    return read_file(path), str(path)


def shapes(state: dict[str, torch.Tensor]) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in state.items()]


def adapt_input_conv(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A stem convolution for ``channels`` input channels from one for another count, as timm's
    ``adapt_input_conv``: summed for one channel, else repeated and scaled to keep the output's
    scale."""
    c = weight.shape[1]
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = -(-channels // c)
    return weight.repeat(1, reps, 1, 1)[:, :channels] * (c / channels)


def mapped_state(model: nn.Module, source: dict[str, torch.Tensor], m: WeightMap) -> dict[str, torch.Tensor]:
    """``model``'s state_dict with the source's tensors put in where the map says."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for e in m.entries:
        if e.source is None or e.target is None:
            continue
        if e.kind in ("kept", "moved"):
            state[e.target] = source[e.source].to(state[e.target].dtype)
        elif e.kind == "reshaped":
            adapted = adapt_input_conv(source[e.source].float(), state[e.target].shape[1])
            state[e.target] = adapted.to(state[e.target].dtype)
    return state


def load_into(
    model: nn.Module, source: str, strict: bool, log: Callable[[str], None], target_name: str = "the network"
) -> WeightMap:
    """Load ``--weights`` into ``model``; report per tensor group what was kept, moved, reshaped,
    skipped, new and unused.  ``strict`` refuses anything but every tensor kept exactly."""
    state, where = read_source(source)
    target = shapes(model.state_dict())  # type: ignore[arg-type]
    m = map_tensors(shapes(state), target)
    if strict and not m.exact:
        odd = [e for e in m.entries if e.kind != "kept"]
        raise _error(
            f"--strict: {where} does not match {target_name} exactly: "
            + ", ".join(f"{e.key} ({e.kind})" for e in odd[:8])
            + (f" and {len(odd) - 8} more" if len(odd) > 8 else ""),
            "without --strict, the tensors that fit are loaded and the rest reported",
        )
    if not any(e.kind in ("kept", "moved", "reshaped") for e in m.entries):
        raise _error(f"{where}: none of its {len(state)} tensors fits {target_name}", "is it the right file?")
    model.load_state_dict(mapped_state(model, state, m), strict=True)
    for line in report(m, Path(where).name, target_name):
        log(line)
    return m


def converted(c: Any, source: str, strict: bool, log: Callable[[str], None]) -> bytes:
    """The state_dict of ``c``'s emitted module with ``--weights`` loaded, as ``torch.save`` bytes,
    checked by loading it into a fresh module with ``strict=True`` (``archc build --weights``)."""
    model = c.module()
    load_into(model, source, strict, log, c.name)
    state = model.state_dict()
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise _error(f"{source}: non-finite values in {', '.join(bad[:5])}", "these weights are not usable")
    c.module().load_state_dict(state, strict=True)
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()
