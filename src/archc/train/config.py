"""What a training run is asked to do (:class:`TrainConfig`), and which of it defines the run.

No torch here: the CLI and ``archc weights`` read this module without paying for torch's import.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archc.dsl.diagnostics import NOWHERE, UsageError

OPTIMIZERS = ("sgd", "adamw")
#: The peak learning rate and weight decay each optimizer gets unless told otherwise.
DEFAULT_LR = {"sgd": 0.1, "adamw": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adamw": 0.05}
FLOAT32_MAX = 3.4028234663852886e38


@dataclass
class TrainConfig:
    spec: Path
    network: str | None = None
    sets: list[str] = field(default_factory=list)
    input: str | None = None
    data: str = "digits"
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float | None = None  # None: DEFAULT_LR[optimizer]
    momentum: float = 0.9
    weight_decay: float | None = None  # None: DEFAULT_WEIGHT_DECAY[optimizer]
    warmup: str = "1"  # "2" or "2epochs": epochs; "300steps": optimizer steps
    label_smoothing: float = 0.0
    device: str = "auto"
    threads: int | None = None
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    out: Path | None = None
    resume: bool = False
    force: bool = False
    augment: bool = False
    seed: int = 0
    workers: int = 0
    limit: int | None = None
    weights: str | None = None
    strict: bool = False
    tensorboard: bool = False
    rank_digests: bool = False

    @property
    def peak_lr(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def decay(self) -> float:
        return DEFAULT_WEIGHT_DECAY[self.optimizer] if self.weight_decay is None else self.weight_decay

    def check(self) -> None:
        """Refuse, before anything is written, settings that cannot train."""
        if self.optimizer not in OPTIMIZERS:
            raise UsageError.at(
                NOWHERE, f"--optimizer {self.optimizer}: unknown optimizer", f"use {' or '.join(OPTIMIZERS)}"
            )
        lr = self.peak_lr
        if not math.isfinite(lr) or lr < 0 or lr > FLOAT32_MAX:
            from archc.train.errors import TrainError

            raise TrainError.at(
                NOWHERE,
                f"--lr {lr:g}: the learning rate must be a finite float32 number, at least 0",
                "a usual peak is 0.1 for SGD and 1e-3 for AdamW",
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UsageError.at(NOWHERE, f"--label-smoothing {self.label_smoothing}: must be in [0, 1)")
        warmup_spec(self.warmup)

    def recipe(self) -> dict[str, Any]:
        """The settings that decide what a run computes; ``--resume`` refuses other ones.

        ``--epochs`` may grow on resume (the schedule is a closed form of the step and the total),
        and the device, threads, precision flags and workers change speed, not the recipe."""
        return {
            "network": self.network,
            "sets": list(self.sets),
            "input": self.input,
            "data": self.data,
            "limit": self.limit,
            "augment": self.augment,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "lr": self.peak_lr,
            "momentum": self.momentum,
            "weight_decay": self.decay,
            "warmup": self.warmup,
            "label_smoothing": self.label_smoothing,
        }


_WARMUP = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(steps?|epochs?)?\s*$")


def warmup_spec(text: str) -> tuple[float, str]:
    """``"2"`` or ``"2epochs"`` as ``(2.0, "epochs")``, ``"300steps"`` as ``(300.0, "steps")``."""
    m = _WARMUP.match(text)
    if m is None:
        raise UsageError.at(
            NOWHERE,
            f"--warmup {text!r}: not a number of epochs or steps",
            "e.g. --warmup 1 or --warmup 500steps",
        )
    unit = "steps" if (m.group(2) or "epochs").startswith("step") else "epochs"
    return float(m.group(1)), unit


#: Flags named as a person typed them, for the message of a refused resume.
FLAGS = {
    "network": "--network",
    "sets": "--set",
    "input": "--input",
    "data": "--data",
    "limit": "--limit",
    "augment": "--augment",
    "seed": "--seed",
    "batch_size": "--batch-size",
    "optimizer": "--optimizer",
    "lr": "--lr",
    "momentum": "--momentum",
    "weight_decay": "--weight-decay",
    "warmup": "--warmup",
    "label_smoothing": "--label-smoothing",
}
