"""What ``--resume`` checks before it continues a run: the checkpoint's fields and types, the
settings that differ from the run's, and, when the network changed, which tensors no longer fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from archc.dsl.diagnostics import NOWHERE
from archc.train.config import FLAGS
from archc.train.errors import CheckpointError


def fields(path: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's fields, their types checked (a file can be well-formed and still odd)."""
    kinds: dict[str, type | tuple[type, ...]] = {
        "epoch": int, "step": int, "model": dict, "optimizer": dict, "rng": dict, "history": list,
        "partial": torch.Tensor, "recipe": dict, "spec_sha256": str, "data_fingerprint": str,
        "steps_per_epoch": int, "network": dict, "best": (float, type(None)),
    }  # fmt: skip
    for key, kind in kinds.items():
        if not isinstance(state.get(key), kind):
            raise CheckpointError.at(NOWHERE, f"{path}: the checkpoint has no valid {key!r}")
    if state["epoch"] < 0 or state["step"] < 0 or tuple(state["partial"].shape) != (3,):
        raise CheckpointError.at(NOWHERE, f"{path}: the checkpoint's position is not valid")
    return state


def differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    out = []
    if saved["spec_sha256"] != now["spec_sha256"]:
        out.append("the spec files changed")
    for key, value in now["recipe"].items():
        old = saved["recipe"].get(key)
        if old != value:
            out.append(f"{FLAGS.get(key, key)} {_show(old)} (now {_show(value)})")
    if (
        saved["data_fingerprint"] != now["data_fingerprint"]
        and saved["recipe"].get("data") == now["recipe"]["data"]
    ):
        out.append("the data's files changed")
    return out


def _show(value: Any) -> str:
    if value is None:
        return "not given"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "none"
    return str(value)


def misfit(path: Path, state: dict[str, Any], model: nn.Module) -> str:
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    shaped = [k for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

    parts = [f"{len(missing)} missing ({some(missing)})"] if missing else []
    parts += [f"{len(extra)} unexpected ({some(extra)})"] if extra else []
    parts += [f"{len(shaped)} of another shape ({some(shaped)})"] if shaped else []
    return f"{path} does not fit this network: " + "; ".join(parts)
