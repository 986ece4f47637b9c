"""Check that archc-emitted modules compute what torchvision computes, with the same weights.

Why this exists: "exact" in archc includes outputs. The project's tests never import
torchvision, so this check runs in the separate torchvision virtualenv (see make_manifests.py)
and its results are recorded in docs/reference_outputs.md.

For each case (emitted file in generated/, torchvision constructor name, torchvision keyword
arguments, optional keyword arguments for the emitted factory):

1. ``torch.manual_seed(0)``; torchvision's model with ``weights=None`` (its own initialisation);
2. the emitted module file is imported by path (importlib) and its factory, the function named
   like the file (``generated/resnet50.py`` -> ``resnet50()``), builds the archc model;
3. torchvision's ``state_dict`` is loaded into it with ``strict=True`` (and the key order is
   compared);
4. both run in eval mode under ``torch.no_grad()`` (``--grad`` keeps autograd on) on the same
   random float32 input of the manifest's input shape (``tests/reference/torchvision_<name>.json``,
   else the crop size of the DEFAULT weights; ``--batch`` changes the batch size, ``--size`` the
   height and width);
5. it prints max |diff| and whether the outputs are bit-identical (``torch.equal``).

Freshly initialised weights hide some mistakes: BatchNorm's running statistics are 0 and 1, many
biases are 0, torchvision's ViT starts with a zero head (every output is 0), and GoogLeNet's
init (std 0.01) shrinks activations until its output no longer depends on the input. Each case
is therefore run twice: with torchvision's initial weights, and with every floating state_dict
entry replaced by random values of a scale that keeps the signal alive (see ``perturbed``),
loaded into both models. The "input sensitivity" column says whether the comparison means
something: the relative change of torchvision's output for another random input.

Usage (from the repository root)::

    /work/refenv/bin/python tests/reference/check_outputs.py            # the CASES table below
    /work/refenv/bin/python tests/reference/check_outputs.py --only resnet50 vit_b_16
    /work/refenv/bin/python tests/reference/check_outputs.py \
        --case generated/efficientnet_b3.py efficientnet_b3 \
        --case generated/googlenet.py googlenet '{"aux_logits": false, "init_weights": true}'

``--case FILE TORCHVISION_NAME [TORCHVISION_KWARGS_JSON [EMITTED_KWARGS_JSON]]`` may be repeated;
it replaces the table. The exit status is 1 when any case fails to load or differs.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import re
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights

REPO = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    """One emitted network and the torchvision model it must equal."""

    generated: str  # path relative to the repository root
    torchvision: str
    torchvision_kwargs: dict[str, Any] = field(default_factory=dict)
    emitted_kwargs: dict[str, Any] = field(default_factory=dict)
    # (pattern, replacement): torchvision's keys renamed (re.sub) before they are loaded, for the
    # names archc cannot spell; empty for every exact case
    rename: tuple[str, str] | None = None

    def emitted_key(self, key: str) -> str:
        return key if self.rename is None else re.sub(self.rename[0], self.rename[1], key)


_NO_AUX = {"aux_logits": False, "init_weights": True}
CASES: tuple[Case, ...] = (
    Case("generated/resnet18.py", "resnet18"),
    Case("generated/resnet34.py", "resnet34"),
    Case("generated/resnet50.py", "resnet50"),
    Case("generated/resnet101.py", "resnet101"),
    Case("generated/resnet152.py", "resnet152"),
    Case("generated/vgg11.py", "vgg11"),
    Case("generated/vgg16.py", "vgg16"),
    Case("generated/vgg19.py", "vgg19"),
    Case("generated/vgg16_bn.py", "vgg16_bn"),
    Case("generated/vgg19_bn.py", "vgg19_bn"),
    Case("generated/alexnet.py", "alexnet"),
    Case("generated/googlenet.py", "googlenet", _NO_AUX),
    Case("generated/vit_b_16.py", "vit_b_16"),
)

EFFICIENTNET_REGNET: tuple[Case, ...] = (
    *(Case(f"generated/efficientnet_b{i}.py", f"efficientnet_b{i}") for i in range(8)),
    Case("generated/efficientnet_v2_s.py", "efficientnet_v2_s"),
    *(
        Case(f"generated/regnet_{kind}_{size}.py", f"regnet_{kind}_{size}")
        for kind in ("x", "y")
        for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")
    ),
    Case("generated/regnet_y_128gf.py", "regnet_y_128gf"),
)
TABLES = {"seed": CASES, "efficientnet_regnet": EFFICIENTNET_REGNET}


@dataclass
class Result:
    case: Case
    input_shape: list[int]
    error: str | None = None
    same_key_order: bool | None = None
    diffs: dict[str, float] = field(default_factory=dict)
    identical: dict[str, bool] = field(default_factory=dict)
    sensitivity: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def import_by_path(path: Path) -> ModuleType:
    """Import an emitted module file without putting generated/ on sys.path."""
    spec = importlib.util.spec_from_file_location(f"archc_emitted_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing look the module up by name
    spec.loader.exec_module(module)
    return module


def input_shape(name: str, batch: int | None, size: int | None = None) -> list[int]:
    manifest = REFERENCE / f"torchvision_{name}.json"
    if manifest.exists():
        shape = list(json.loads(manifest.read_text(encoding="utf-8"))["input_shape"])
    else:
        crop = list(get_model_weights(name).DEFAULT.transforms().crop_size)
        shape = [1, 3, *(crop * 2 if len(crop) == 1 else crop)]
    if batch is not None:
        shape[0] = batch
    if size is not None:
        shape[2:] = [size, size]
    return shape


def perturbed(state: dict[str, torch.Tensor], seed: int = 1234) -> dict[str, torch.Tensor]:
    """Random weights that keep the signal alive, so no weight, bias or statistic is trivial.

    Weight matrices and kernels get N(0, 2/fan_in) (He), norm scales 1 + N(0, 0.2^2), biases,
    running means, tokens, position embeddings and layer scales N(0, 0.2^2), running variances
    U(0.5, 1.5). Integer buffers are kept.
    """
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, t in state.items():
        if not t.is_floating_point():
            out[key] = t.clone()
            continue
        noise = torch.randn(t.shape, generator=g, dtype=t.dtype)
        if key.endswith("running_var"):
            out[key] = torch.rand(t.shape, generator=g, dtype=t.dtype) + 0.5
        elif key.endswith("weight") and t.dim() >= 2:
            fan_in = t.numel() // t.shape[0]
            out[key] = noise * (2.0 / fan_in) ** 0.5
        elif key.endswith("weight") and t.dim() == 1:
            out[key] = 1.0 + 0.2 * noise
        else:
            out[key] = 0.2 * noise
    # keep the per-module metadata (versions) of state_dict(): torchvision's MNASNet refuses to
    # load a state_dict without its version
    metadata = getattr(state, "_metadata", None)
    if metadata is not None:
        out = OrderedDict(out)
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def renamed(state: dict[str, torch.Tensor], case: Case) -> dict[str, torch.Tensor]:
    """``state`` with the case's keys renamed (the same tensors, in the same order)."""
    if case.rename is None:
        return state
    return OrderedDict((case.emitted_key(k), t) for k, t in state.items())


def sensitivity(model: nn.Module, x: torch.Tensor, grad: bool) -> float:
    """How much the output moves for another input: max|f(x) - f(x')| / max|f(x)|.

    Near 0 means the output hardly depends on the input (vanishing activations), and then
    "bit-identical" says little.
    """
    g = torch.Generator().manual_seed(2)
    other = torch.randn(x.shape, generator=g, dtype=x.dtype)
    with torch.set_grad_enabled(grad):
        a, b = model(x), model(other)
    scale = a.abs().max().item()
    return (a - b).abs().max().item() / scale if scale > 0 else 0.0


def run_case(case: Case, batch: int | None, grad: bool, size: int | None = None) -> Result:
    start = time.perf_counter()
    result = Result(case, input_shape(case.torchvision, batch, size))
    try:
        torch.manual_seed(0)
        reference = get_model(case.torchvision, weights=None, **case.torchvision_kwargs).eval()
        module = import_by_path(REPO / case.generated)
        factory = getattr(module, Path(case.generated).stem)
        emitted: nn.Module = factory(**case.emitted_kwargs).eval()
        state = reference.state_dict()
        emitted.load_state_dict(renamed(state, case), strict=True)
        result.same_key_order = list(emitted.state_dict()) == [case.emitted_key(k) for k in state]
    except Exception as exc:  # reported per case; the other cases still run
        result.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        return result

    g = torch.Generator().manual_seed(1)
    x = torch.randn(result.input_shape, generator=g, dtype=torch.float32)
    for label, weights in (("init", state), ("perturbed", perturbed(state))):
        reference.load_state_dict(weights, strict=True)
        emitted.load_state_dict(renamed(weights, case), strict=True)
        with torch.set_grad_enabled(grad):
            want = reference(x)
            got = emitted(x)
        if got.shape != want.shape:
            result.error = f"output shape {list(got.shape)} != torchvision's {list(want.shape)}"
            return result
        result.diffs[label] = (got - want).abs().max().item()
        result.identical[label] = torch.equal(got, want)
        result.sensitivity[label] = sensitivity(reference, x, grad)
    result.seconds = time.perf_counter() - start
    return result


def parse_cases(raw: list[list[str]] | None, table: str = "seed") -> list[Case]:
    if not raw:
        return list(TABLES[table])
    cases = []
    for items in raw:
        if not 2 <= len(items) <= 4:
            raise SystemExit("--case takes FILE TORCHVISION_NAME [TV_KWARGS_JSON [EMITTED_KWARGS_JSON]]")
        tv_kwargs = json.loads(items[2]) if len(items) > 2 else {}
        emitted_kwargs = json.loads(items[3]) if len(items) > 3 else {}
        cases.append(Case(items[0], items[1], tv_kwargs, emitted_kwargs))
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--case",
        nargs="+",
        action="append",
        metavar="ARG",
        help="FILE TORCHVISION_NAME [TV_KWARGS_JSON [EMITTED_KWARGS_JSON]]",
    )
    parser.add_argument("--only", nargs="+", help="torchvision names to keep from the table")
    parser.add_argument(
        "--table", choices=sorted(TABLES), default="seed", help="which built-in table (default: seed)"
    )
    parser.add_argument("--batch", type=int, help="batch size (default: the manifest's)")
    parser.add_argument("--size", type=int, help="input height and width (default: the manifest's)")
    parser.add_argument("--grad", action="store_true", help="run with autograd enabled")
    args = parser.parse_args()
    cases = parse_cases(args.case, args.table)
    if args.only:
        cases = [c for c in cases if c.torchvision in args.only]

    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, torchvision "
        f"{torchvision.__version__}, {torch.get_num_threads()} threads, CPU float32, "
        f"{'autograd on' if args.grad else 'torch.no_grad()'}"
    )
    print()
    print(
        "| network | torchvision | input | keys in order | max abs diff (init) | identical (init) "
        "| max abs diff (perturbed) | identical (perturbed) | input sensitivity (init / perturbed) |"
    )
    print("|---|---|---|---|---:|---|---:|---|---|")
    failed = 0
    for case in cases:
        r = run_case(case, args.batch, args.grad, args.size)
        shape = "x".join(map(str, r.input_shape))
        kwargs = "".join(f", {k}={v}" for k, v in case.torchvision_kwargs.items())
        name = f"`{case.torchvision}({kwargs.lstrip(', ')})`"
        if r.error is not None:
            failed += 1
            print(f"| `{case.generated}` | {name} | {shape} | - | error: {r.error} | no | - | no | - |")
            continue
        ok = all(r.identical.values()) and r.same_key_order
        failed += not ok
        print(
            f"| `{case.generated}` | {name} | {shape} | {'yes' if r.same_key_order else 'NO'} | "
            f"{r.diffs['init']:.3g} | {'yes' if r.identical['init'] else 'no'} | "
            f"{r.diffs['perturbed']:.3g} | {'yes' if r.identical['perturbed'] else 'no'} | "
            f"{r.sensitivity['init']:.3g} / {r.sensitivity['perturbed']:.3g} |",
            flush=True,
        )
    print(f"\n{len(cases) - failed} of {len(cases)} bit-identical")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
