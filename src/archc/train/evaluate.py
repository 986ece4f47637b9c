"""``archc eval``: a run's checkpoint, rebuilt from its spec and evaluated on a validation set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from archc.dsl.diagnostics import NOWHERE, UsageError
from archc.train.errors import CheckpointError


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
    from archc.train import checkpoint, data, runtime
    from archc.train.loop import _misfit, evaluate

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
        raise CheckpointError.at(NOWHERE, _misfit(path, state["model"], model)) from None
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
