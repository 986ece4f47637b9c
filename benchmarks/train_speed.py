"""Training throughput (images/s) of the emitted ResNet-50 on the CPU.

One SGD step = forward, loss, backward, optimizer step, on random 3x224x224 images. Runs
torchvision's resnet50 in the same process for reference when torchvision is installed.

    python benchmarks/train_speed.py [--batch 16] [--steps 5] [--threads N]

On a machine where other processes use the cores, compare --threads 1 with the default.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import archc

ROOT = Path(__file__).resolve().parent.parent


def images_per_second(model: torch.nn.Module, batch: int, steps: int, device: str = "cpu") -> float:
    model.train().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {args.batch}")
    emitted = archc.compile_spec(ROOT / "specs" / "resnet50.arch").module()
    ours = images_per_second(emitted, args.batch, args.steps)
    print(f"emitted resnet50:     {ours:7.1f} images/s")
    try:
        import torchvision
    except ImportError:
        print("torchvision resnet50: not installed (`pip install torchvision` to compare)")
        return
    theirs = images_per_second(torchvision.models.resnet50(), args.batch, args.steps)
    print(f"torchvision resnet50: {theirs:7.1f} images/s   ratio emitted/reference {ours / theirs:.3f}")


if __name__ == "__main__":
    main()
