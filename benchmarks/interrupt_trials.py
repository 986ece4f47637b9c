"""Interrupt-exact training, with real processes: ``archc train`` is sent SIGINT or SIGTERM at a
random moment, resumed with ``--resume`` until it finishes, and compared with a run never
interrupted: weights, optimizer state, RNG state, per-step and per-epoch records must be
bit-identical.

    python benchmarks/interrupt_trials.py [--trials 20] [--seed 0]

The network is two convolutions on scikit-learn's 8x8 digits (2 epochs of 4 steps), so a trial
takes a few seconds, most of it process start-up.  ``tests/test_train_interrupt.py`` does the
same in-process, with signals placed inside forward, backward, the optimizer step, data loading,
evaluation, plotting and checkpoint writing (``ARCHC_INTERRUPT_TRIALS=40`` for more).
"""

from __future__ import annotations

import argparse
import csv
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from archc.train import checkpoint

SPEC = """\
network tiny(width=8, num_classes=10):
    input 1x8x8
    x -> conv1: conv(width, k=3, p=1) -> bn1: bn -> relu
      -> conv2: conv(16, k=3, s=2, p=1) -> bn2: bn -> relu
      -> avgpool: gap -> flatten -> drop: dropout(0.2) -> fc: linear(num_classes)
"""
ARGS = [
    "--epochs",
    "2",
    "--batch-size",
    "64",
    "--limit",
    "256",
    "--lr",
    "0.1",
    "--warmup",
    "1",
    "--threads",
    "1",
]


def outcome(run: Path) -> dict[str, Any]:
    state = checkpoint.load(run / "checkpoint.pt")
    timing = {"seconds", "images_per_s"}

    def table(name: str) -> list[dict[str, str]]:
        return [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader((run / name).open())]

    return {
        "model": state["model"],
        "optimizer": state["optimizer"]["state"],
        "rng": state["rng"]["torch"],
        "history": [{k: v for k, v in h.items() if k not in timing} for h in state["history"]],
        "best": checkpoint.load(run / "best.pt")["model"],
        "steps": table("steps.csv"),
        "metrics": table("metrics.csv"),
    }


def identical(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(map(identical, a, b))
    return bool(a == b)


def start(spec: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "archc", "train", str(spec), *ARGS, "--out", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen[str], start: str) -> float:
    """Read stderr until a line starts with ``start``; returns that moment."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith(start):
            break
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = folder / "tiny.arch"
        spec.write_text(SPEC)
        lengths = []
        for name in ("reference", "again"):  # the second without first-run costs (caches)
            proc = start(spec, folder / name)
            began = wait_for(proc, "training tiny")
            lengths.append(wait_for(proc, "epoch 2:") - began)  # the training proper
            proc.communicate()
            assert proc.returncode == 0
        expected = outcome(folder / "reference")
        assert identical(outcome(folder / "again"), expected)
        length = lengths[-1]
        print(f"reference: {length:.2f} s from the start of training to its last epoch; {args.trials} trials")
        counts = {"identical": 0, "interrupted": 0, "finished first": 0}
        for trial in range(args.trials):
            signum = rng.choice([signal.SIGINT, signal.SIGTERM])
            delay = rng.uniform(0, length)
            out = folder / f"trial{trial}"
            proc = start(spec, out)
            wait_for(proc, "training tiny")
            time.sleep(delay)
            proc.send_signal(signum)
            _, err = proc.communicate()
            stopped = next((ln for ln in err.splitlines() if ln.startswith("interrupted by")), "")
            if stopped:
                assert proc.returncode == 128 + signum, (proc.returncode, err[-2000:])
                where = stopped.split(": saved ")[1].split(";")[0].split(" at ", 1)[1]
                counts["interrupted"] += 1
                resumed = start(spec, out, "--resume")
                _, err = resumed.communicate()
                assert resumed.returncode == 0, err[-2000:]
            else:  # the signal came after the last epoch: the run is complete on disk
                assert checkpoint.load(out / "checkpoint.pt")["epoch"] == 2, (proc.returncode, err[-2000:])
                where = f"finished before the signal (exit {proc.returncode})"
                counts["finished first"] += 1
            same = identical(outcome(out), expected)
            counts["identical"] += same
            name = signal.Signals(signum).name
            print(f"trial {trial:2d}: {name:7s} after {delay:4.2f} s: {where:42s} bit-identical: {same}")
        print(
            f"{counts['identical']}/{args.trials} bit-identical; {counts['interrupted']} interrupted and "
            f"resumed, {counts['finished first']} finished before the signal"
        )
        if counts["identical"] != args.trials:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
