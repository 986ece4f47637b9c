"""Evaluation: loss, top-1 and top-5 over a data set (each epoch's validation, and ``archc eval``:
a run's checkpoint rebuilt from its spec)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from archc.dsl.diagnostics import NOWHERE, UsageError
from archc.train import data, runtime
from archc.train.errors import CheckpointError


def evaluate(
    net: nn.Module,
    dataset: Any,
    batch_size: int,
    workers: int,
    where: runtime.Dist,
    device: torch.device,
    amp: bool = False,
    channels_last: bool = False,
) -> tuple[torch.Tensor, int | None]:
    """Summed loss, top-1 and top-5 hits and count over ``dataset`` (split across processes), and
    the index of an item that could not be read, if any (-1: another process found one)."""
    net.eval()
    n = len(dataset)
    order = list(range(where.rank, n, where.world))
    totals = torch.zeros(4, dtype=torch.float64, device=device)
    bad: int | None = None
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        for k, (x, y) in enumerate(data.batches(dataset, order, batch_size, workers)):
            if (y == data.BAD_LABEL).any():
                bad = order[k * batch_size + int((y == data.BAD_LABEL).nonzero()[0])]
                break
            x, y = x.to(device), y.to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out = net(x).float()
            top = out.topk(min(5, out.shape[1]), dim=1).indices
            totals += torch.tensor(
                [
                    F.cross_entropy(out, y, reduction="sum").item(),
                    (top[:, 0] == y).sum().item(),
                    (top == y[:, None]).any(dim=1).sum().item(),
                    len(y),
                ],
                dtype=torch.float64,
                device=device,
            )
    if runtime.agree(int(bad is not None), where, device) and bad is None:
        bad = -1
    if where.world > 1:
        dist.all_reduce(totals)
    return totals, bad


def evaluate_checkpoint(
    target: Path,
    data_arg: str | None,
    best: bool,
    spec: Path | None,
    batch_size: int,
    device_choice: str,
    threads: int | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from archc.api import compile_spec, parse_sets, parse_shape
    from archc.train import checkpoint
    from archc.train.resume import misfit

    if target.is_dir():
        path = target / ("best.pt" if best else "checkpoint.pt")
        if not path.exists():
            raise UsageError.at(NOWHERE, f"{target}: no {path.name} in this run folder")
    else:
        path = target
    state = checkpoint.load(path)
    info, recipe = state.get("network"), state.get("recipe")
    if not isinstance(info, dict) or not isinstance(recipe, dict) or not isinstance(state.get("model"), dict):
        raise CheckpointError.at(NOWHERE, f"{path}: the checkpoint does not say which network it holds")
    if spec is None:
        spec = Path(str(info["spec"]))
        copy = path.parent / "spec" / spec.name
        if not spec.exists() and copy.exists():
            spec = copy
    shape = parse_shape(str(info["input"])) if info.get("input") else None
    c = compile_spec(
        spec, network=info.get("network"), sets=parse_sets(list(info["sets"])), input_shape=shape
    )
    where = runtime.Dist()
    device = runtime.device(device_choice, where)
    runtime.set_threads(threads)
    model = c.module().to(device)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise CheckpointError.at(NOWHERE, misfit(path, state["model"], model)) from None
    name = data_arg or str(recipe.get("data", "digits"))
    found = data.load(name, c.input_shape, False, int(recipe.get("seed", 0)), None)
    if found.classes != list(info.get("classes", found.classes)):
        raise UsageError.at(
            NOWHERE,
            f"--data {name}: its classes ({', '.join(found.classes[:5])}, ...) are not the run's",
            "give data with the same class folders the run was trained on",
        )
    sums, bad = evaluate(model, found.val, batch_size, 0, where, device)
    if bad is not None:
        raise UsageError.at(NOWHERE, f"cannot read {data.problem(found.val, bad)}", "fix or remove that file")
    loss, top1, top5, count = sums.tolist()
    return {
        "checkpoint": str(path),
        "loss": loss / max(count, 1),
        "top1": top1 / max(count, 1),
        "top5": top5 / max(count, 1),
        "k": min(5, len(found.classes)),
        "images": int(count),
        "data": found.description.replace("train, ", "train (not used), ", 1),
    }
