"""The optimizer and its learning-rate schedule.

The schedule is a closed form of the optimizer step (linear warmup, then a cosine to zero over
the remaining steps), set on the optimizer before every step: nothing about it is state, so a
checkpoint needs none, a resumed run may extend ``--epochs``, and what is logged is what the
optimizer used.  Weight decay skips biases, normalisation parameters, class tokens and position
embeddings, as timm does: decaying them towards zero only hurts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from archc.dsl.analysis import layers
from archc.dsl.compiler import Compiled
from archc.train.config import TrainConfig, warmup_spec

#: Ops whose tensors are never decayed (besides every bias and every 1-d tensor).
NO_DECAY_OPS = frozenset({"bn", "layernorm", "cls_token", "pos_embed"})


def no_decay_keys(c: Compiled) -> set[str]:
    """The ``state_dict`` keys weight decay leaves alone, read from the layer graph."""
    keys = set()
    for d in layers(c.graph):
        for key, shape, _ in d["tensors"]:
            if d["op"] in NO_DECAY_OPS or key.endswith(".bias") or len(shape) <= 1:
                keys.add(key)
    return keys


def optimizer(model: nn.Module, c: Compiled, cfg: TrainConfig) -> torch.optim.Optimizer:
    skip = no_decay_keys(c)
    decay: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (plain if name in skip or p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.decay}, {"params": plain, "weight_decay": 0.0}]
    lr = cfg.peak_lr
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum)


@dataclass(frozen=True)
class Schedule:
    """Per-step learning rate: ``peak * (s + 1) / warmup`` for the first ``warmup`` steps, then
    ``peak * (1 + cos(pi * (s - warmup) / (total - warmup))) / 2``."""

    peak: float
    total: int  # optimizer steps in the whole run
    warmup: int

    @classmethod
    def of(cls, cfg: TrainConfig, steps_per_epoch: int) -> Schedule:
        amount, unit = warmup_spec(cfg.warmup)
        warm = round(amount * steps_per_epoch) if unit == "epochs" else round(amount)
        total = cfg.epochs * steps_per_epoch
        return cls(cfg.peak_lr, total, min(warm, total))

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        rest = self.total - self.warmup
        if rest <= 0:
            return self.peak
        return self.peak * 0.5 * (1.0 + math.cos(math.pi * min(step - self.warmup, rest) / rest))

    def apply(self, opt: torch.optim.Optimizer, step: int) -> float:
        lr = self.lr(step)
        for group in opt.param_groups:
            group["lr"] = lr
        return lr
