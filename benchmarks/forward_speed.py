"""Speed of the emitted modules against their reference implementation, measured in one run.

For ResNet-50 and ViT-B/16 (batch 8, CPU, float32): forward (eval, no grad) and
forward+backward (train mode) of the module archc emits, and of torchvision's model when
torchvision is installed, with the ratio reference/emitted (>= 0.98 means "no slower").
Both models get the same weights (the reference's state_dict loads with strict=True).

    python benchmarks/forward_speed.py [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import archc

ROOT = Path(__file__).resolve().parent.parent


def step_functions(model: torch.nn.Module, x: torch.Tensor) -> tuple[Callable[[], None], Callable[[], None]]:
    def forward() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    def train_step() -> None:
        model.train()
        model(x).sum().backward()
        model.zero_grad(set_to_none=True)

    return forward, train_step


def interleaved(fns: list[Callable[[], None]], repeats: int) -> list[float]:
    """Median time of each function, run in turn (a, b, a, b, ...) so that drift hits all alike."""
    for fn in fns:
        fn()  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def reference(name: str) -> torch.nn.Module | None:
    try:
        import torchvision
    except ImportError:
        return None
    model: torch.nn.Module = torchvision.models.get_model(name, weights=None)
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, CPU float32")
    for spec, ref_name in (("resnet50", "resnet50"), ("vit_b_16", "vit_b_16")):
        emitted = archc.compile_spec(ROOT / "specs" / f"{spec}.arch").module()
        x = torch.randn(args.batch, 3, 224, 224)
        ref = reference(ref_name)
        if ref is not None:
            emitted.load_state_dict(ref.state_dict(), strict=True)
        ours = step_functions(emitted, x)
        if ref is None:
            fwd, step = interleaved(list(ours), args.repeats)
            print(f"\n{spec}: emitted   forward {fwd * 1e3:8.1f} ms   forward+backward {step * 1e3:8.1f} ms")
            print("  reference: torchvision is not installed; `pip install torchvision` to compare")
            continue
        theirs = step_functions(ref, x)
        fwd, rfwd = interleaved([ours[0], theirs[0]], args.repeats)
        step, rstep = interleaved([ours[1], theirs[1]], args.repeats)
        print(f"\n{spec}: emitted   forward {fwd * 1e3:8.1f} ms   forward+backward {step * 1e3:8.1f} ms")
        print(f"{spec}: reference forward {rfwd * 1e3:8.1f} ms   forward+backward {rstep * 1e3:8.1f} ms")
        print(f"  ratio reference/emitted: forward {rfwd / fwd:.3f}, forward+backward {rstep / step:.3f}")


if __name__ == "__main__":
    main()
