"""GPU training throughput: ResNet-50 with AMP (bfloat16) and channels_last, the module archc
emits against torchvision's, in the same run on the same card.

    python benchmarks/gpu_train.py [--batch 128] [--steps 30] [--compile]

Prints the card, images/s for both and their ratio. Needs CUDA and torchvision.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import archc

ROOT = Path(__file__).resolve().parent.parent


def throughput(model: torch.nn.Module, batch: int, steps: int, compile_: bool) -> float:
    model = model.cuda().to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    run = torch.compile(model) if compile_ else model
    x = torch.randn(batch, 3, 224, 224, device="cuda").contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device="cuda")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(run(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a GPU machine")
    import torchvision

    torch.backends.cudnn.benchmark = True
    card = torch.cuda.get_device_name()
    extra = ", torch.compile" if args.compile else ""
    print(f"{card}, torch {torch.__version__}, batch {args.batch}, bf16 AMP, channels_last{extra}")
    ref = torchvision.models.resnet50()
    emitted = archc.compile_spec(ROOT / "specs" / "resnet50.arch").module()
    emitted.load_state_dict(ref.state_dict(), strict=True)
    ours = throughput(emitted, args.batch, args.steps, args.compile)
    theirs = throughput(ref, args.batch, args.steps, args.compile)
    print(f"emitted resnet50:     {ours:8.1f} images/s")
    print(f"torchvision resnet50: {theirs:8.1f} images/s")
    print(f"ratio emitted/reference: {ours / theirs:.3f}")


if __name__ == "__main__":
    main()
