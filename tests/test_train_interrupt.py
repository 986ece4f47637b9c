"""Interrupt-exact training: real SIGINT and SIGTERM at random moments (inside forward, backward,
the optimizer step, data loading, evaluation, plotting, checkpoint writing, or at a random time
from a timer thread), then ``--resume``: every run must end bit-identical to one never
interrupted: weights, optimizer state, per-step losses and learning rates, per-epoch metrics.

A seeded slice of ``ARCHC_INTERRUPT_TRIALS`` trials (8 by default) runs in ``make test``;
``benchmarks/interrupt_trials.py`` runs more, and real ``archc train`` processes.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from test_train import TINY, cli

from archc.train import Interrupted, TrainConfig, checkpoint, loop, records
from archc.train.loop import train

TRIALS = int(os.environ.get("ARCHC_INTERRUPT_TRIALS", "8"))
SEED = int(os.environ.get("ARCHC_INTERRUPT_SEED", "2026"))
#: Where a signal may land, and how many calls of that place a two-epoch tiny run makes before
#: its last epoch's evaluation (a signal after that finds the run complete: nothing to resume).
MOMENTS = {
    "forward": 28,  # Conv2d.forward: 2 convolutions x (4 train + 6 val batches + 4 train)
    "backward": 14,  # a gradient hook on each convolution's output, 7 steps
    "optimizer": 7,  # SGD.step
    "data": 872,  # TensorDataset.__getitem__: 256 train + 360 val + 256 train
    "evaluation": 1,
    "plotting": 1,
    "checkpointing": 3,  # the initial checkpoint, then best and last after epoch 1
    "timer": 0,  # a timer thread, at a random time of the run
}


def config(spec: Path, out: Path, resume: bool = False) -> TrainConfig:
    return TrainConfig(
        spec, epochs=2, batch_size=64, limit=256, lr=0.1, warmup="1", threads=1, out=out, resume=resume
    )


@contextmanager
def signal_at(moment: str, n: int, signum: int, delay: float) -> Iterator[dict[str, Any]]:
    """Send ``signum`` to this process at the ``n``-th call of ``moment`` (or after ``delay`` s)."""
    fired: dict[str, Any] = {"calls": 0, "sent": False}

    def fire() -> None:
        fired["calls"] += 1
        if fired["calls"] == n and not fired["sent"]:
            fired["sent"] = True
            os.kill(os.getpid(), signum)

    def around(owner: Any, name: str, before: bool = True) -> Callable[[], None]:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if before:
                fire()
            result = original(*args, **kwargs)
            return result

        setattr(owner, name, wrapper)
        return lambda: setattr(owner, name, original)

    undo: list[Callable[[], None]] = []
    timer = None
    # a signal that arrives after train() returned must not end the test run: note it, and go on
    late = {s: signal.signal(s, lambda *_: fired.update(late=True)) for s in (signal.SIGINT, signal.SIGTERM)}
    undo += [lambda s=s, h=h: signal.signal(s, h) for s, h in late.items()]
    if moment == "forward":
        undo.append(around(torch.nn.Conv2d, "forward"))
    elif moment == "backward":
        original = torch.nn.Conv2d.forward

        def forward(self: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
            out = original(self, x)
            if out.requires_grad:
                out.register_hook(lambda g: (fire(), g)[1])
            return out

        torch.nn.Conv2d.forward = forward  # type: ignore[method-assign]
        undo.append(lambda: setattr(torch.nn.Conv2d, "forward", original))
    elif moment == "optimizer":
        undo.append(around(torch.optim.SGD, "step"))
    elif moment == "data":
        undo.append(around(torch.utils.data.TensorDataset, "__getitem__"))
    elif moment == "evaluation":
        undo.append(around(loop, "evaluate"))
    elif moment == "plotting":
        undo.append(around(records, "render_plot"))
    elif moment == "checkpointing":
        undo.append(around(checkpoint, "encode"))
    else:
        timer = threading.Timer(delay, lambda: (fired.update(sent=True), os.kill(os.getpid(), signum)))
        timer.start()
    try:
        yield fired
    finally:
        if timer is not None:
            timer.cancel()
            timer.join()
        for u in undo:
            u()


def outcome(run: Path) -> dict[str, Any]:
    """Everything a finished run computed, without its timings."""
    state = checkpoint.load(run / "checkpoint.pt")
    best = checkpoint.load(run / "best.pt")
    timing = {"seconds", "images_per_s"}

    def table(name: str) -> list[dict[str, str]]:
        return [
            {k: v for k, v in row.items() if k not in timing} for row in csv.DictReader((run / name).open())
        ]

    return {
        "model": state["model"],
        "optimizer": state["optimizer"]["state"],
        "rng": state["rng"]["torch"],
        "history": [{k: v for k, v in h.items() if k not in timing} for h in state["history"]],
        "best": (best["epoch"], best["model"]),
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


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float]:
    """An uninterrupted run, twice: the second gives the run's duration once everything is
    imported (the timer's range), and both must agree."""
    folder = tmp_path_factory.mktemp("reference")
    spec = folder / "tiny.arch"
    spec.write_text(TINY)
    train(config(spec, folder / "run"), log=lambda _: None, progress=False)
    began = time.perf_counter()
    train(config(spec, folder / "again"), log=lambda _: None, progress=False)
    seconds = time.perf_counter() - began
    expected = outcome(folder / "run")
    assert identical(outcome(folder / "again"), expected)
    return spec, expected, seconds


def run_trial(spec: Path, out: Path, moment: str, n: int, signum: int, delay: float) -> tuple[str, int]:
    """One interrupted run, resumed to the end; what stopped it and how many resumes it took."""
    message = "not interrupted"
    with signal_at(moment, n, signum, delay) as fired:
        try:
            train(config(spec, out), log=lambda _: None, progress=False)
        except Interrupted as stop:
            message = stop.message
            assert stop.signum == signum
    if fired["sent"] and moment != "timer":
        assert fired["calls"] >= n
    resumes = 0
    if message != "not interrupted":
        saved = checkpoint.load(out / "checkpoint.pt")
        # the message names exactly the position the file holds (the race of issue 11)
        epoch, step = saved["epoch"], saved["step"]
        if step:
            assert f"at epoch {epoch + 1} with {step} of 4 steps done" in message, message
        else:
            assert f"at the end of epoch {epoch}" in message or (epoch == 0 and "start" in message), message
        train(config(spec, out, resume=True), log=lambda _: None, progress=False)
        resumes += 1
    return message, resumes


def test_interrupts_at_random_moments_resume_bit_identical(
    reference: tuple[Path, dict[str, Any], float], tmp_path: Path
) -> None:
    spec, expected, seconds = reference
    rng = random.Random(SEED)
    names = list(MOMENTS)
    interrupted = 0
    where: dict[str, int] = {}
    for trial in range(TRIALS):
        moment = names[trial % len(names)]
        n = rng.randint(1, MOMENTS[moment]) if MOMENTS[moment] else 0
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        delay = rng.uniform(0.0, seconds)
        out = tmp_path / f"trial{trial}"
        message, resumes = run_trial(spec, out, moment, n, signum, delay)
        interrupted += resumes
        assert identical(outcome(out), expected), f"trial {trial}: {moment} #{n}, {signum!r}: {message}"
        stopped = message.split(" at ", 1)[1].split(";")[0] if resumes else "finished first"
        kind = "mid-epoch" if "steps done" in stopped else stopped.removeprefix("the ")
        where[f"{moment}: {kind}"] = where.get(f"{moment}: {kind}", 0) + 1
    print(f"\n{TRIALS} trials, {interrupted} interrupted and resumed, all bit-identical:")
    for key, count in sorted(where.items()):
        print(f"  {key}: {count}")
    assert interrupted >= TRIALS // 2  # most signals land before the run ends


def test_a_real_sigterm_to_archc_train_exits_143_and_resumes(
    reference: tuple[Path, dict[str, Any], float], tmp_path: Path
) -> None:
    """The CLI path, in a real process: SIGTERM (how clusters preempt) checkpoints and exits."""
    import subprocess
    import sys

    spec, expected, _ = reference
    args = [sys.executable, "-m", "archc", "train", str(spec), "--epochs", "2", "--batch-size", "64",
            "--limit", "256", "--lr", "0.1", "--warmup", "1", "--threads", "1"]  # fmt: skip
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "split")], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # epoch 1's line comes before its plot and checkpoint are written
        if line.startswith("epoch 1:"):
            break
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 143, rest
    assert "interrupted by SIGTERM: saved" in rest and "--resume" in rest
    code, output = cli(*args[3:], "--out", str(tmp_path / "split"), "--resume")
    assert code == 0, output
    assert identical(outcome(tmp_path / "split"), expected)
