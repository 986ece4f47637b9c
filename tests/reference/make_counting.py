"""Make ``tests/reference/counting/*.json``: what each counting tool prints for each network.

Run it in a separate environment, never the project's (torchvision must not enter it)::

    python3 -m venv /work/refenv-analysis
    /work/refenv-analysis/bin/pip install torch==2.14.1 torchvision==0.29.1 fvcore ptflops torchinfo
    /work/refenv-analysis/bin/python tests/reference/make_counting.py

For every network it runs each tool twice, on batch-1 input in eval mode:

- on the reference model (``torchvision.models.get_model(name, weights=None)``) where there is one;
- on archc's emitted module for the spec (``generated/<spec>.py``, loaded as a plain Python file;
  it imports only torch), which is what archc's conventions model.

The tools and what is recorded (the exact integer each computes, and the line it prints):

- ``fvcore``: ``FlopCountAnalysis(model, x).total()``, ``by_operator()`` and ``unsupported_ops()``;
- ``ptflops`` (its default ``pytorch`` backend) and ``ptflops_aten`` (``backend="aten"``):
  ``get_model_complexity_info(model, (3, H, W), as_strings=False)``;
- ``torchinfo``: ``summary(model, input_size=(1, 3, H, W)).total_mult_adds`` ("Total mult-adds");
- ``torchvision``: the ``_ops`` figure torchvision publishes in each weight's ``meta`` (GFLOPS, three
  decimals) and ``min_size``.

The tests read the JSON; they never import torch's reference tools.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import platform
import re
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import torchvision
from fvcore.nn import FlopCountAnalysis
from ptflops import get_model_complexity_info
from torchinfo import summary

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "counting"

# spec name -> (torchvision model or None, constructor kwargs, input shape CxHxW)
NETWORKS: dict[str, tuple[str | None, dict[str, Any], tuple[int, int, int]]] = {
    "resnet18": ("resnet18", {}, (3, 224, 224)),
    "resnet34": ("resnet34", {}, (3, 224, 224)),
    "resnet50": ("resnet50", {}, (3, 224, 224)),
    "resnet101": ("resnet101", {}, (3, 224, 224)),
    "resnet152": ("resnet152", {}, (3, 224, 224)),
    "vgg11": ("vgg11", {}, (3, 224, 224)),
    "vgg16": ("vgg16", {}, (3, 224, 224)),
    "vgg19": ("vgg19", {}, (3, 224, 224)),
    "vgg16_bn": ("vgg16_bn", {}, (3, 224, 224)),
    "vgg19_bn": ("vgg19_bn", {}, (3, 224, 224)),
    "alexnet": ("alexnet", {}, (3, 224, 224)),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": True}, (3, 224, 224)),
    "vit_b_16": ("vit_b_16", {}, (3, 224, 224)),
    # the zoo (ops the classic networks lack: ReLU6, hard swish and sigmoid, SiLU, channel shuffle
    # and chunks, layer scale, channels-last layer norms, window attention, patch merging)
    "mobilenet_v2": ("mobilenet_v2", {}, (3, 224, 224)),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, (3, 224, 224)),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, (3, 224, 224)),
    "mnasnet1_0": ("mnasnet1_0", {}, (3, 224, 224)),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, (3, 224, 224)),
    "squeezenet1_0": ("squeezenet1_0", {}, (3, 224, 224)),
    "squeezenet1_1": ("squeezenet1_1", {}, (3, 224, 224)),
    "convnext_tiny": ("convnext_tiny", {}, (3, 224, 224)),
    "swin_t": ("swin_t", {}, (3, 224, 224)),
    "densenet121": ("densenet121", {}, (3, 224, 224)),
    "resnext50_32x4d": ("resnext50_32x4d", {}, (3, 224, 224)),
    "wide_resnet50_2": ("wide_resnet50_2", {}, (3, 224, 224)),
    # no torchvision model: the tools on archc's emitted module only (ops the others lack:
    # mul and sigmoid gates, pixel shuffle, mean shift, zero-padding shortcuts, patch embedding)
    "se_resnet50": (None, {}, (3, 224, 224)),
    "resnet20": (None, {}, (3, 32, 32)),
    "rcan": (None, {}, (3, 48, 48)),
    "vit_hybrid": (None, {}, (3, 224, 224)),
}

# torchvision models whose weights meta give min_size (the resolution oracle)
MIN_SIZE_MODELS = [
    "alexnet",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet50",
    "resnet152",
    "vgg11",
    "vgg16",
    "vgg16_bn",
    "vit_b_16",
    "swin_t",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mnasnet1_0",
    "shufflenet_v2_x1_0",
    "squeezenet1_0",
    "squeezenet1_1",
    "densenet121",
    "convnext_tiny",
    "mobilenet_v3_small",
    "resnext50_32x4d",
    "wide_resnet50_2",
]


def emitted(spec: str) -> torch.nn.Module:
    """archc's emitted module for ``spec``: ``generated/<spec>.py``, its factory called with defaults."""
    path = ROOT / "generated" / f"{spec}.py"
    module_spec = importlib.util.spec_from_file_location(f"emitted_{spec}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    factory = re.findall(r"^def (\w+)\(\*\*kwargs", path.read_text(), re.M)[-1]
    return getattr(module, factory)()  # type: ignore[no-any-return]


def reference(name: str, kwargs: dict[str, Any]) -> torch.nn.Module:
    return torchvision.models.get_model(name, weights=None, **kwargs)


def run_tools(model: torch.nn.Module, shape: tuple[int, int, int]) -> dict[str, Any]:
    model.eval()
    x = torch.randn(1, *shape)
    out: dict[str, Any] = {}

    f = FlopCountAnalysis(model, x)
    f.unsupported_ops_warnings(False)
    f.uncalled_modules_warnings(False)
    out["fvcore"] = {
        "total": int(f.total()),
        "by_operator": {k: int(v) for k, v in sorted(f.by_operator().items())},
        "unsupported_ops": dict(sorted(f.unsupported_ops().items())),
    }

    for backend, key in (("pytorch", "ptflops"), ("aten", "ptflops_aten")):
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            macs, params = get_model_complexity_info(
                model, shape, as_strings=False, print_per_layer_stat=False, backend=backend, ost=sink
            )
            text, _ = get_model_complexity_info(
                model, shape, as_strings=True, print_per_layer_stat=False, backend=backend, ost=sink
            )
        out[key] = {"total": int(macs), "printed": text, "params": int(params)}

    stats = summary(model, input_size=(1, *shape), verbose=0)
    printed = next(line for line in str(stats).splitlines() if line.startswith("Total mult-adds"))
    out["torchinfo"] = {"total": int(stats.total_mult_adds), "printed": printed}
    return out


def runs_at(name: str, size: int) -> bool:
    """Whether torchvision's model (eval mode, no weights) runs on a ``size`` x ``size`` image."""
    kwargs: dict[str, Any] = {}
    if name in ("googlenet", "inception_v3"):
        kwargs = {"aux_logits": False, "init_weights": True}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, size, size))
    except Exception:  # any failure means "does not run at this size"
        return False
    return True


def weights_meta(name: str) -> dict[str, Any]:
    """``_ops``, ``num_params`` and ``min_size`` of every weight torchvision publishes for a model."""
    enum = torchvision.models.get_model_weights(name)
    return {
        w.name: {
            "num_params": w.meta["num_params"],
            "_ops": w.meta["_ops"],
            "min_size": list(w.meta["min_size"]),
        }
        for w in enum
    }


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "fvcore": metadata.version("fvcore"),
        "ptflops": metadata.version("ptflops"),
        "torchinfo": metadata.version("torchinfo"),
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_grad_enabled(True)  # the tools run as a user runs them: grad on, eval mode
    OUT.mkdir(exist_ok=True)
    only = set(sys.argv[1:])
    for spec, (tv_name, kwargs, shape) in NETWORKS.items():
        if only and spec not in only:
            continue
        torch.manual_seed(0)
        record: dict[str, Any] = {
            "spec": f"specs/{spec}.arch",
            "input_shape": [1, *shape],
            "reference_model": f"torchvision.models.{tv_name}" if tv_name else None,
            "reference_kwargs": kwargs,
        }
        record["emitted"] = run_tools(emitted(spec), shape)
        if tv_name is not None:
            record["reference"] = run_tools(reference(tv_name, kwargs), shape)
            record["torchvision_weights_meta"] = weights_meta(tv_name)
        record["versions"] = versions()
        (OUT / f"{spec}.json").write_text(json.dumps(record, indent=1) + "\n")
        summary_line = {k: v["total"] for k, v in record["emitted"].items()}
        print(spec, summary_line, flush=True)

    if not only or "min_sizes" in only:
        sizes: dict[str, Any] = {}
        for name in MIN_SIZE_MODELS:
            meta = weights_meta(name)
            least = min(min(w["min_size"]) for w in meta.values())
            sizes[name] = {
                "min_size": least,
                "runs_at_min_size": runs_at(name, least),
                "runs_one_below": runs_at(name, least - 1) if least > 1 else None,
                "weights": meta,
            }
            if sizes[name]["runs_one_below"]:  # not a bound: the smallest size it runs at
                sizes[name]["smallest_that_runs"] = next(s for s in range(1, least) if runs_at(name, s))
            print(name, least, sizes[name]["runs_at_min_size"], sizes[name]["runs_one_below"], flush=True)
        (OUT / "torchvision_min_sizes.json").write_text(
            json.dumps({"versions": versions(), "models": sizes}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
