"""``archc train``: train the emitted module of a spec, on CPU, GPU or several processes.

One module per idea: :mod:`~archc.train.config` (what a run is asked to do), :mod:`.data`
(digits and image folders), :mod:`.schedule` (optimizer, warmup and cosine), :mod:`.loop` (the
recipe and the step loop, interrupts, the NaN guard), :mod:`.checkpoint` (data-only files with
a content hash), :mod:`.records` (run folder, ``run.json``, metrics, plots), :mod:`.weights`
(weights in) and :mod:`.weightmap` (how one network's tensors map onto another's, no torch).

Importing this package does not import torch; ``train`` and the modules that need torch load
it when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archc.train.config import TrainConfig
from archc.train.errors import CheckpointError, Interrupted, TrainError

if TYPE_CHECKING:
    from archc.train.loop import train

__all__ = ["CheckpointError", "Interrupted", "TrainConfig", "TrainError", "train"]


def __getattr__(name: str) -> Any:
    if name == "train":
        from archc.train.loop import train

        return train
    raise AttributeError(f"module 'archc.train' has no attribute {name!r}")
