"""``train()``: the recipe, and the :class:`Trainer` that carries it out step by step.

Interrupts are exact: SIGINT and SIGTERM only set a flag, which the loop reads at step
boundaries, when the step before is complete and counted (and after evaluation, plotting and
the epoch's checkpoint); the checkpoint written there is exactly the state it names, so a
resumed run ends bit-identical to one never interrupted.  The NaN guard checks the loss before
the backward pass and every parameter and buffer after the optimizer step; a checkpoint is only
ever written from a finite state, and a fresh run writes one before its first step, so a run
stopped by the guard always leaves finite weights on disk.
"""

from __future__ import annotations

import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from archc.api import Compiled, compile_spec, parse_sets, parse_shape
from archc.dsl import ast
from archc.dsl.diagnostics import NOWHERE, UsageError
from archc.dsl.ops import fmt
from archc.train import checkpoint, data, records, runtime, schedule
from archc.train.config import TrainConfig
from archc.train.errors import Interrupted, TrainError
from archc.train.evaluate import evaluate
from archc.train.progress import Progress
from archc.train.resume import differences, fields, misfit

Log = Callable[[str], None]


def train(cfg: TrainConfig, log: Log = print, progress: bool = True) -> Path:
    """Train as configured; returns the run folder.  Raises :class:`Interrupted` after saving
    when SIGINT or SIGTERM asked the run to stop."""
    cfg.check()
    where = runtime.dist_from_env()
    device = runtime.device(cfg.device, where)
    threads = runtime.set_threads(cfg.threads)
    runtime.start(where, device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    network, dataset = compile_for_data(cfg)
    trainer = Trainer(cfg, network, dataset, where, device, log if where.main else _quiet, progress)
    with trainer.stop:  # from here on, SIGINT and SIGTERM are read at step boundaries
        trainer.begin(threads)  # a fresh run folder, or the state of the checkpoint to resume
        trainer.fit()  # every epoch left: steps, evaluation, records, checkpoints
    runtime.finish(where)
    return trainer.run


def _quiet(_: str) -> None:
    pass


# ------------------------------------------------------------------ the network and its data


def compile_network(cfg: TrainConfig, sets: list[str]) -> Compiled:
    shape = parse_shape(cfg.input) if cfg.input else None
    return compile_spec(cfg.spec, network=cfg.network, sets=parse_sets(sets), input_shape=shape)


def compile_for_data(cfg: TrainConfig) -> tuple[Compiled, data.Data]:
    """The network, compiled again with ``num_classes`` set when the data has another class count."""
    c = compile_network(cfg, cfg.sets)
    found = data.load(cfg.data, c.input_shape, cfg.augment, cfg.seed, cfg.limit)
    classes = len(found.classes)
    if c.output_shape != (classes,):
        if "num_classes" in c.network.params and "num_classes" not in parse_sets(cfg.sets):
            c = compile_network(cfg, [*cfg.sets, f"num_classes={classes}"])
        else:
            raise UsageError.at(
                NOWHERE,
                f"the network outputs {fmt(c.output_shape)} but the data has {classes} classes",
                f"--set num_classes={classes}, or a spec whose output matches",
            )
    return c, found


def set_of(c: Compiled, cfg: TrainConfig) -> list[str]:
    """The overrides the network was compiled with, ``num_classes`` included when it was fitted."""
    sets = list(cfg.sets)
    if "num_classes" in c.network.params and "num_classes" not in parse_sets(sets):
        value = c.network.params["num_classes"]
        if not isinstance(value, ast.Expr):
            sets.append(f"num_classes={value}")
    return sets


# ------------------------------------------------------------------ signals


class StopFlag:
    """While active, SIGINT and SIGTERM set :attr:`signum` instead of raising; a second signal
    aborts at once (the last checkpoint on disk stays whole: every write is atomic)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)


class _Stop(Exception):
    """Leave the epoch loop after saving: on a signal, or on an item of ``dataset`` that cannot be
    read (``bad``: its index here; -1 when another process found it)."""

    def __init__(self, signum: int | None = None, bad: int | None = None, dataset: Any = None):
        self.signum = signum
        self.bad = bad
        self.dataset = dataset


# ------------------------------------------------------------------ the trainer


@dataclass
class Position:
    """Where a run is: epochs done, steps done in the next epoch, and what those steps summed."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    partial: torch.Tensor = field(default_factory=lambda: torch.zeros(3, dtype=torch.float64))
    best: float | None = None


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        c: Compiled,
        d: data.Data,
        where: runtime.Dist,
        device: torch.device,
        log: Log,
        progress: bool,
    ):
        self.cfg, self.c, self.data, self.where, self.device = cfg, c, d, where, device
        self.log, self.progress = log, progress
        self.run = records.run_dir(cfg, c.name)
        self.path = self.run / "checkpoint.pt"
        self.model: nn.Module = c.module().to(device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.optimizer = schedule.optimizer(self.model, c, cfg)
        n = len(d.train)  # type: ignore[arg-type]
        local = n // where.world if where.world > 1 else n  # DistributedSampler drops the remainder
        self.steps = math.ceil(local / cfg.batch_size)
        self.schedule = schedule.Schedule.of(cfg, self.steps)
        self.pos = Position()
        self.saved: tuple[int, int] | None = None  # the position of the checkpoint on disk
        self.net: nn.Module = self.model
        self.step_fn: nn.Module = self.model
        self.stop = StopFlag()
        self.steplog: records.StepLog | None = None
        self.board = records.Board(self.run, False, None)

    # -------------------------------------------------------------- start

    def meta(self) -> dict[str, Any]:
        """What a checkpoint says about the run it belongs to."""
        return {
            "recipe": self.cfg.recipe(),
            "spec_sha256": records.spec_hash(self.c),
            "data_fingerprint": self.data.fingerprint,
            "steps_per_epoch": self.steps,
            "network": {
                "name": self.c.name,
                "spec": str(Path(self.cfg.spec).resolve()),
                "network": self.cfg.network,
                "sets": set_of(self.c, self.cfg),
                "input": self.cfg.input,
                "input_shape": list(self.c.input_shape),
                "classes": list(self.data.classes),
                "data": self.data.description,
            },
        }

    def begin(self, threads: int) -> None:
        cfg, main = self.cfg, self.where.main
        if cfg.resume:
            self.resume()
            if cfg.weights:
                self.log("--weights is ignored on --resume: the checkpoint holds the weights")
        else:
            if cfg.weights:  # before the run folder is touched: it may be this folder's checkpoint
                from archc.train.weights import load_into

                load_into(self.model, cfg.weights, cfg.strict, self.log, self.c.name)
            if main:
                records.prepare(self.run, self.c)
            self.save(0, 0, self.pos.partial)  # a finite state on disk before the first step
        if main:
            env = records.environment(str(self.device), threads, self.where.world)
            records.write_run_json(self.run, self.c, cfg, self.data, env, (self.pos.epoch, self.pos.step))
            if self.pos.history:
                records.write_metrics(self.run, self.pos.history)
        resume_at = self.pos.epoch * self.steps + self.pos.step if cfg.resume else None
        self.steplog = records.StepLog(self.run, resume_at) if main else None
        self.board = records.Board(self.run, cfg.tensorboard and main, resume_at)
        if self.where.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if cfg.compile:
            self.step_fn = torch.compile(self.net)  # type: ignore[assignment]
        else:
            self.step_fn = self.net

    def resume(self) -> None:
        cfg = self.cfg
        if not self.run.is_dir():
            raise UsageError.at(
                NOWHERE, f"--resume: no run folder {self.run}", "give the run folder with --out"
            )
        if not self.path.exists():
            raise UsageError.at(
                NOWHERE,
                f"nothing to resume: no checkpoint yet in {self.run}",
                "the run stopped before its first checkpoint; start it again without --resume",
            )
        state = checkpoint.load(self.path, map_location=self.device)
        saved = fields(self.path, state)
        changed = differences(saved, self.meta())
        if changed and not cfg.force:
            raise UsageError.at(
                NOWHERE,
                f"--resume: {self.run} was trained with other settings: {'; '.join(changed)}",
                "give the run's settings again, or add --force to continue with these",
            )
        try:
            self.model.load_state_dict(saved["model"])
        except RuntimeError:
            raise TrainError.at(NOWHERE, misfit(self.path, saved["model"], self.model)) from None
        if saved["recipe"].get("optimizer") == cfg.optimizer:
            try:
                self.optimizer.load_state_dict(saved["optimizer"])
            except (ValueError, KeyError, RuntimeError):
                raise TrainError.at(
                    NOWHERE, f"{self.path}: its optimizer state does not fit this network's parameters"
                ) from None
            for group, wd in zip(self.optimizer.param_groups, (cfg.decay, 0.0), strict=False):
                group["weight_decay"] = wd  # --force may have changed it
                if "momentum" in group:
                    group["momentum"] = cfg.momentum
        else:
            self.log(f"--force: a fresh {cfg.optimizer} state (the checkpoint's is for another optimizer)")
        checkpoint.set_rng_state(saved["rng"])
        self.pos = Position(saved["epoch"], saved["step"], saved["history"], saved["partial"], saved["best"])
        if self.pos.step and saved["steps_per_epoch"] != self.steps:  # --force with another --batch-size
            self.log(f"--force: epoch {self.pos.epoch + 1} starts again (the batch size changed)")
            self.pos.step, self.pos.partial = 0, torch.zeros(3, dtype=torch.float64)
        self.saved = (self.pos.epoch, self.pos.step)
        at = f"epoch {self.pos.epoch + 1}" + (f", step {self.pos.step + 1}" if self.pos.step else "")
        self.log(f"resuming {self.run} at {at}")

    # -------------------------------------------------------------- checkpoints

    def save(self, epoch: int, step: int, sums: torch.Tensor) -> None:
        """The checkpoint of the state after ``step`` steps of epoch ``epoch`` (0-based)."""
        if self.where.main:
            if self.steplog is not None:
                self.steplog.flush()
            checkpoint.save(
                self.path,
                {
                    "epoch": epoch,
                    "step": step,
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "rng": checkpoint.rng_state(),
                    "history": self.pos.history,
                    "partial": sums.detach().cpu(),
                    "best": self.pos.best,
                    **self.meta(),
                },
            )
            self.board.flush()
        self.saved = (epoch, step)

    def save_best(self, epoch: int, row: dict[str, float]) -> None:
        if self.where.main and (self.pos.best is None or row["val_acc"] > self.pos.best):
            self.pos.best = row["val_acc"]
            checkpoint.save(
                self.run / "best.pt",
                {
                    "kind": "best",
                    "epoch": epoch,
                    "model": self.model.state_dict(),
                    "metrics": row,
                    **self.meta(),
                },
            )

    # -------------------------------------------------------------- the loop

    def fit(self) -> None:
        cfg = self.cfg
        if self.pos.epoch >= cfg.epochs:
            self.log(f"nothing to do: {self.run} has done {self.pos.epoch} epochs; give a larger --epochs")
            return
        self.log(
            f"training {self.c.name} ({self.c.params:,} parameters) on {self.data.description}; "
            f"device {self.device}" + (f", {self.where.world} processes" if self.where.world > 1 else "")
            + f"; writing to {self.run}"
        )  # fmt: skip
        try:
            for epoch in range(self.pos.epoch, cfg.epochs):
                self.epoch(epoch)
                if epoch + 1 < cfg.epochs and self._agree(self.stop.signum is not None):
                    raise _Stop(signum=self.stop.signum or signal.SIGINT)
        except _Stop as stop:
            self._stopped(stop)
        finally:
            self.board.close()
            if self.where.world > 1 and cfg.rank_digests:
                import hashlib

                params = b"".join(p.detach().cpu().numpy().tobytes() for p in self.model.parameters())
                (self.run / f"rank{self.where.rank}.sha256").write_text(
                    hashlib.sha256(params).hexdigest() + "\n"
                )

    def _agree(self, flag: bool) -> bool:
        return runtime.agree(int(flag), self.where, self.device) > 0

    def _saved_at(self) -> str:
        """Where the checkpoint on disk is, in words."""
        epoch, step = self.saved or (0, 0)
        if step:
            return f"epoch {epoch + 1} with {step} of {self.steps} steps done"
        return f"the end of epoch {epoch}" if epoch else "the start of the run"

    def _stopped(self, stop: _Stop) -> None:
        where = self._saved_at()
        again = (
            f"continue with: archc train {self.cfg.spec} --out {self.run} --resume (and the same settings)"
        )
        if stop.bad is not None:
            what = (
                data.problem(stop.dataset, stop.bad) if stop.bad >= 0 else "an image (see the other process)"
            )
            raise TrainError.at(
                NOWHERE,
                f"cannot read {what}",
                f"fix or remove that file; {self.path} holds the state at {where}; {again}",
            )
        name = signal.Signals(stop.signum or signal.SIGINT).name
        raise Interrupted(stop.signum or signal.SIGINT, f"{name}: saved {self.path} at {where}; {again}")

    def batches(
        self, dataset: Any, indices: list[int]
    ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        bs = self.cfg.batch_size
        for k, (x, y) in enumerate(data.batches(dataset, indices, bs, self.cfg.workers)):
            yield indices[k * bs : (k + 1) * bs], x, y

    def epoch(self, epoch: int) -> None:
        cfg = self.cfg
        order = data.order(len(self.data.train), epoch, cfg.seed, self.where, self.data.train)  # type: ignore[arg-type]
        data.set_epoch(self.data.train, epoch)
        skip = self.pos.step if epoch == self.pos.epoch else 0
        sums = (self.pos.partial if skip else torch.zeros(3, dtype=torch.float64)).to(self.device)
        images, began = 0, time.perf_counter()  # images of this session only: the speed is honest
        lr = math.nan
        self.net.train()
        title = f"epoch {epoch + 1}/{cfg.epochs}"
        with Progress(self.progress and self.where.main, title, self.steps, skip) as bar:
            for step, (idx, x, y) in enumerate(
                self.batches(self.data.train, order[skip * cfg.batch_size :]), skip
            ):
                bad = (y == data.BAD_LABEL).nonzero()
                # the step boundary: the step before is complete and counted; all processes agree
                why = runtime.agree(
                    2 if len(bad) else int(self.stop.signum is not None), self.where, self.device
                )
                if why:
                    self.save(epoch, step, sums)
                    found = int(idx[int(bad[0])]) if len(bad) else -1
                    raise _Stop(self.stop.signum, found if why == 2 else None, self.data.train)
                self.schedule.apply(self.optimizer, epoch * self.steps + step)
                lr = float(self.optimizer.param_groups[0]["lr"])  # logged as the optimizer has it
                loss, correct = self.train_step(x, y, epoch, step, lr)
                sums += torch.tensor(
                    [loss * len(y), correct, len(y)], dtype=torch.float64, device=self.device
                )
                images += len(y)
                if self.steplog is not None:
                    self.steplog.add(epoch * self.steps + step + 1, epoch + 1, loss, correct / len(y), lr)
                self.board.step(epoch * self.steps + step + 1, loss, lr)
                bar.update(loss, (sums[1] / sums[2]).item(), images * self.where.world / _since(began))
        self.end_epoch(epoch, sums, images, _since(began), lr)

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int, lr: float
    ) -> tuple[float, int]:
        """One optimizer step; its loss and correct count.  Stops the run, without saving, when
        the loss or any parameter stops being finite."""
        x, y = self._to(x), y.to(self.device)
        with self._autocast():
            out = self.step_fn(x)
            loss = F.cross_entropy(out.float(), y, label_smoothing=self.cfg.label_smoothing)
        if self._agree(not bool(torch.isfinite(loss))):
            self._non_finite(f"the loss became {loss.item()}", epoch, step, lr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        self.optimizer.step()
        if self._agree(not _all_finite(self.model)):  # buffers are per process under DDP
            self._non_finite("a parameter became non-finite", epoch, step, lr)
        return loss.item(), int((out.argmax(1) == y).sum().item())

    def _non_finite(self, what: str, epoch: int, step: int, lr: float) -> None:
        raise TrainError.at(
            NOWHERE,
            f"{what} at epoch {epoch + 1}, step {step + 1} (learning rate {lr:g}); stopped",
            f"{self.path} keeps the last finite state ({self._saved_at()}); resume it with a lower "
            f"--lr and --force (the peak is now {self.cfg.peak_lr:g})",
        )

    def end_epoch(self, epoch: int, sums: torch.Tensor, images: int, seconds: float, lr: float) -> None:
        local = sums.clone()
        if self.where.world > 1:
            dist.all_reduce(sums)
        val_loss, val_acc, val_top5 = self.evaluate(epoch, local)
        row = {
            "epoch": epoch + 1,
            "train_loss": (sums[0] / sums[2]).item(),
            "train_acc": (sums[1] / sums[2]).item(),
            "val_loss": val_loss,
            "val_acc": val_acc,
            "val_top5": val_top5,
            "lr": lr,
            "seconds": seconds,
            "images_per_s": images * self.where.world / seconds if images else math.nan,
        }
        self.pos.history.append(row)
        if self.where.main:
            self.log(
                f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.1f}%, "
                f"val loss {val_loss:.4f} acc {100 * val_acc:.1f}%, "
                f"{row['images_per_s']:.0f} images/s ({images * self.where.world} images in {seconds:.1f} s)"
            )
            records.write_metrics(self.run, self.pos.history)
            self.board.epoch(row, (epoch + 1) * self.steps)
        self.save_best(epoch + 1, row)
        self.pos.epoch, self.pos.step = epoch + 1, 0
        self.save(epoch + 1, 0, torch.zeros(3, dtype=torch.float64))

    def evaluate(self, epoch: int, sums: torch.Tensor) -> tuple[float, float, float]:
        cfg = self.cfg
        found, bad = evaluate(
            self.net,
            self.data.val,
            cfg.batch_size,
            cfg.workers,
            self.where,
            self.device,
            cfg.amp,
            cfg.channels_last,
        )
        if bad is not None:
            self.save(epoch, self.steps, sums)
            raise _Stop(bad=bad, dataset=self.data.val)
        loss, top1, top5, count = found.tolist()
        return loss / max(count, 1), top1 / max(count, 1), top5 / max(count, 1)

    def _to(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp)


def _since(began: float) -> float:
    return max(time.perf_counter() - began, 1e-9)


def _all_finite(model: nn.Module) -> bool:
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True
