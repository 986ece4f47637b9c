"""Record how torchvision initialises a freshly built model (`tests/reference/init/<model>.json`).

Why this exists: a spec reproduces its reference's keys, shapes and outputs with the reference's
weights loaded, but a network trained from scratch also depends on the initialisation its
constructor applies. These files let a test compare an archc-emitted model's fresh tensors with
torchvision's without importing torchvision: per ``state_dict`` entry the statistics measured over
several seeds, the spread of those statistics from seed to seed (the sampling error a test's
tolerance can be based on), and the distribution torchvision's constructor draws from (read from
its source and written out per tensor as ``expected``).

Runs in the separate torchvision virtualenv (see make_manifests.py for how to make it)::

    /work/refenv/bin/python tests/reference/make_init_stats.py

Conventions: ``torch.manual_seed(seed)`` then ``torchvision.models.get_model(name,
weights=None)`` for each seed in SEEDS; statistics in float64; ``std`` is the population standard
deviation (``correction=0``, so a one-element tensor has std 0). The script ends by checking every
measured mean and std against ``expected`` and exits 1 if one is further away than sampling error
allows, so a wrong reading of the torchvision source shows up here.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models import get_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_manifests import dumps  # the manifests' JSON layout

HERE = Path(__file__).resolve().parent
SEEDS = (0, 1, 2, 3, 4)

Rule = dict[str, Any]


def _fans(t: torch.Tensor) -> tuple[int, int]:
    return nn.init._calculate_fan_in_and_fan_out(t)


def normal(std: float, init: str) -> Rule:
    return {"init": init, "distribution": "normal", "mean": 0.0, "std": std}


def trunc_normal(std: float, init: str) -> Rule:
    # torch's trunc_normal_ cuts at the absolute values a=-2, b=2; for std <= 0.1 that is
    # beyond 20 sigma, so mean and std are the untruncated ones.
    return {"init": init, "distribution": "truncated_normal", "mean": 0.0, "std": std, "a": -2.0, "b": 2.0}


def uniform(bound: float, init: str) -> Rule:
    return {
        "init": init,
        "distribution": "uniform",
        "mean": 0.0,
        "std": bound / math.sqrt(3),
        "low": -bound,
        "high": bound,
    }


def constant(value: float, init: str) -> Rule:
    return {"init": init, "distribution": "constant", "value": value}


def linear_default(m: nn.Linear) -> dict[str, Rule]:
    """nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) and U(+-1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(m.in_features)
    rules = {"weight": uniform(bound, "nn.Linear default: kaiming_uniform_(a=sqrt(5))")}
    if m.bias is not None:
        rules["bias"] = uniform(bound, "nn.Linear default: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))")
    return rules


def bn_rules(m: nn.Module, how: str) -> dict[str, Rule]:
    return {
        "weight": constant(1.0, how),
        "bias": constant(0.0, how),
        "running_mean": constant(0.0, "BatchNorm buffer"),
        "running_var": constant(1.0, "BatchNorm buffer"),
        "num_batches_tracked": constant(0.0, "BatchNorm buffer"),
    }


def ln_rules(how: str = "nn.LayerNorm default") -> dict[str, Rule]:
    return {"weight": constant(1.0, how), "bias": constant(0.0, how)}


def resnet_rules(name: str, m: nn.Module, model: nn.Module) -> dict[str, Rule]:
    if isinstance(m, nn.Conv2d):
        fan_out = _fans(m.weight)[1]
        return {
            "weight": normal(math.sqrt(2 / fan_out), "kaiming_normal_(mode='fan_out', nonlinearity='relu')")
        }
    if isinstance(m, nn.BatchNorm2d):
        return bn_rules(m, "constant_ 1 (weight) / 0 (bias)")
    if isinstance(m, nn.Linear):
        return linear_default(m)
    return {}


def mobilenet_v2_rules(name: str, m: nn.Module, model: nn.Module) -> dict[str, Rule]:
    if isinstance(m, nn.Conv2d):
        fan_out = _fans(m.weight)[1]
        # kaiming_normal_ with the default nonlinearity leaky_relu, a=0: gain sqrt(2).
        rules = {
            "weight": normal(
                math.sqrt(2 / fan_out), "kaiming_normal_(mode='fan_out') (leaky_relu, a=0: gain sqrt 2)"
            )
        }
        if m.bias is not None:
            rules["bias"] = constant(0.0, "zeros_")
        return rules
    if isinstance(m, nn.BatchNorm2d):
        return bn_rules(m, "ones_ (weight) / zeros_ (bias)")
    if isinstance(m, nn.Linear):
        return {"weight": normal(0.01, "normal_(0, 0.01)"), "bias": constant(0.0, "zeros_")}
    return {}


def convnext_rules(name: str, m: nn.Module, model: nn.Module) -> dict[str, Rule]:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        rules = {"weight": trunc_normal(0.02, "trunc_normal_(std=0.02)")}
        if m.bias is not None:
            rules["bias"] = constant(0.0, "zeros_")
        return rules
    if isinstance(m, nn.LayerNorm):  # LayerNorm2d included
        return ln_rules()
    if type(m).__name__ == "CNBlock":
        return {"layer_scale": constant(1e-6, "torch.ones(dim, 1, 1) * layer_scale (1e-6)")}
    return {}


def vit_rules(name: str, m: nn.Module, model: nn.Module) -> dict[str, Rule]:
    if name == "conv_proj":
        fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        return {
            "weight": trunc_normal(math.sqrt(1 / fan_in), "trunc_normal_(std=sqrt(1/fan_in))"),
            "bias": constant(0.0, "zeros_"),
        }
    if name == "":
        return {"class_token": constant(0.0, "torch.zeros(1, 1, hidden_dim)")}
    if name == "encoder":
        return {"pos_embedding": normal(0.02, "normal_(std=0.02) (from BERT)")}
    if name == "heads.head":
        return {"weight": constant(0.0, "zeros_"), "bias": constant(0.0, "zeros_")}
    if isinstance(m, nn.MultiheadAttention):
        fan_in, fan_out = _fans(m.in_proj_weight)
        return {
            "in_proj_weight": uniform(
                math.sqrt(6 / (fan_in + fan_out)), "xavier_uniform_ (MultiheadAttention._reset_parameters)"
            ),
            "in_proj_bias": constant(0.0, "constant_ 0 (MultiheadAttention._reset_parameters)"),
        }
    if name.endswith("self_attention.out_proj"):
        return {
            "weight": linear_default(m)["weight"],
            "bias": constant(0.0, "constant_ 0 (MultiheadAttention._reset_parameters)"),
        }
    if isinstance(m, nn.Linear) and ".mlp." in name:
        fan_in, fan_out = _fans(m.weight)
        return {
            "weight": uniform(math.sqrt(6 / (fan_in + fan_out)), "xavier_uniform_ (MLPBlock)"),
            "bias": normal(1e-6, "normal_(std=1e-6) (MLPBlock)"),
        }
    if isinstance(m, nn.LayerNorm):
        return ln_rules("nn.LayerNorm default (eps 1e-6)")
    return {}


MODELS: dict[str, tuple[Callable[[str, nn.Module, nn.Module], dict[str, Rule]], str]] = {
    "resnet50": (
        resnet_rules,
        "ResNet.__init__: every nn.Conv2d weight kaiming_normal_(mode='fan_out', "
        "nonlinearity='relu'), i.e. N(0, sqrt(2/fan_out)) with fan_out = out_channels*kh*kw (convs "
        "have no bias); every BatchNorm2d weight 1 and bias 0 (running_mean 0, running_var 1, "
        "num_batches_tracked 0); the fc keeps nn.Linear's default (weight and bias "
        "U(-1/sqrt(in_features), 1/sqrt(in_features))). zero_init_residual=False by default, so "
        "the last BN of each block is not zeroed.",
    ),
    "vit_b_16": (
        vit_rules,
        "VisionTransformer: conv_proj weight trunc_normal_(std=sqrt(1/(3*16*16))) (cut at the "
        "absolute values +-2), bias 0; class_token zeros; encoder.pos_embedding normal_(std=0.02); "
        "each MultiheadAttention: in_proj_weight xavier_uniform_, in_proj_bias 0, out_proj.bias 0, "
        "out_proj.weight nn.Linear's default kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(768)); "
        "MLPBlock linears xavier_uniform_ weights and normal_(std=1e-6) biases; LayerNorms 1/0; "
        "heads.head weight and bias zeros (so the fresh model outputs all zeros).",
    ),
    "convnext_tiny": (
        convnext_rules,
        "ConvNeXt.__init__: every nn.Conv2d and nn.Linear weight trunc_normal_(std=0.02) (cut at "
        "the absolute values +-2), bias 0; LayerNorm and LayerNorm2d weight 1, bias 0 (defaults); "
        "each CNBlock's layer_scale is torch.ones(dim, 1, 1) * 1e-6.",
    ),
    "mobilenet_v2": (
        mobilenet_v2_rules,
        "MobileNetV2.__init__: every nn.Conv2d weight kaiming_normal_(mode='fan_out') with the "
        "default nonlinearity (leaky_relu, a=0, gain sqrt(2)), i.e. N(0, sqrt(2/fan_out)), fan_out "
        "= out_channels*kh*kw whatever the groups (depthwise convs included), bias (none here) 0; "
        "BatchNorm2d weight 1, bias 0; the classifier's nn.Linear weight normal_(0, 0.01), bias 0.",
    ),
}


def tensor_stats(t: torch.Tensor) -> tuple[float, float, float, float]:
    x = t.detach().to(torch.float64).flatten()
    return (x.mean().item(), x.std(correction=0).item() if x.numel() else 0.0, x.min().item(), x.max().item())


def collect(name: str, seeds: tuple[int, ...]) -> dict[str, Any]:
    rules_of, scheme = MODELS[name]
    per_seed: list[dict[str, torch.Tensor]] = []
    expected: dict[str, Rule] = {}
    param_names: set[str] = set()
    for seed in seeds:
        torch.manual_seed(seed)
        model = get_model(name, weights=None)
        per_seed.append({k: v.clone() for k, v in model.state_dict().items()})
        if not expected:
            param_names = {k for k, _ in model.named_parameters()}
            for mname, module in model.named_modules():
                for local, rule in rules_of(mname, module, model).items():
                    key = f"{mname}.{local}" if mname else local
                    expected[key] = rule
        del model

    tensors: dict[str, Any] = {}
    for key, first in per_seed[0].items():
        stats = [tensor_stats(sd[key]) for sd in per_seed]
        means = [s[0] for s in stats]
        stds = [s[1] for s in stats]
        values = [sd[key] for sd in per_seed]
        tensors[key] = {
            "shape": list(first.shape),
            "dtype": str(first.dtype).removeprefix("torch."),
            "kind": "parameter" if key in param_names else "buffer",
            "expected": expected.get(key),
            "mean": statistics.fmean(means),
            "std": statistics.fmean(stds),
            "min": min(s[2] for s in stats),
            "max": max(s[3] for s in stats),
            "all_zeros": all(bool((v == 0).all()) for v in values),
            "all_ones": all(bool((v == 1).all()) for v in values),
            "same_for_every_seed": all(torch.equal(values[0], v) for v in values[1:]),
            "per_seed_mean": means,
            "per_seed_std": stds,
            "mean_spread": statistics.stdev(means) if len(means) > 1 else 0.0,
            "std_spread": statistics.stdev(stds) if len(stds) > 1 else 0.0,
        }
    return {
        "source": "torchvision",
        "model": name,
        "constructor": f"torchvision.models.{name}",
        "constructor_args": {"weights": None},
        "seeds": list(seeds),
        "scheme": scheme,
        "statistics_note": (
            "Per state_dict entry, for each seed: mean, population std (correction=0), min, max "
            "in float64. mean/std are averaged over the seeds, min/max taken over all seeds; "
            "per_seed_mean/per_seed_std list them per seed and mean_spread/std_spread are their "
            "sample standard deviations across seeds (the sampling error of one draw). all_zeros "
            "/ all_ones / same_for_every_seed hold for every seed. expected is the distribution "
            "torchvision's constructor draws from (std of a uniform(-b, b) is b/sqrt(3); a constant "
            "value is stored as the nearest float32, e.g. 1e-6 as 9.99999997e-07)."
        ),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        },
        "tensors": tensors,
    }


def self_check(doc: dict[str, Any]) -> list[str]:
    """Measured statistics that disagree with `expected` beyond sampling error."""
    problems = []
    for key, t in doc["tensors"].items():
        rule = t["expected"]
        if rule is None:
            problems.append(f"{doc['model']}.{key}: no expected rule")
            continue
        n = math.prod(t["shape"]) or 1
        if rule["distribution"] == "constant":
            # The tensor holds float32(value): 1e-6 is stored as 9.99999997e-07.
            value = torch.tensor(rule["value"], dtype=torch.float32).item()
            if not (t["min"] == t["max"] == value):
                problems.append(f"{doc['model']}.{key}: not constant {rule['value']}")
            continue
        # Mean of n draws averaged over the seeds: standard error std/sqrt(n*seeds).
        k = len(doc["seeds"])
        se_mean = rule["std"] / math.sqrt(n * k)
        # Sample std of n normal draws: relative standard error about 1/sqrt(2n).
        se_std = rule["std"] / math.sqrt(2 * n * k)
        if abs(t["mean"] - rule["mean"]) > 6 * se_mean:
            problems.append(f"{doc['model']}.{key}: mean {t['mean']:.3g} vs {rule['mean']}")
        if n >= 16 and abs(t["std"] - rule["std"]) > 6 * se_std + 1e-12:
            problems.append(f"{doc['model']}.{key}: std {t['std']:.4g} vs {rule['std']:.4g}")
        if rule["distribution"] == "uniform" and (t["min"] < rule["low"] or t["max"] > rule["high"]):
            problems.append(f"{doc['model']}.{key}: outside uniform bounds")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--out", type=Path, default=HERE / "init")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for name in args.models:
        doc = collect(name, SEEDS)
        (args.out / f"{name}.json").write_text(dumps(doc) + "\n", encoding="utf-8")
        found = self_check(doc)
        problems += found
        print(f"{name}: {len(doc['tensors'])} tensors, {len(found)} disagree with the scheme")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
