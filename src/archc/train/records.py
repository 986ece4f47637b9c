"""What a run leaves for people to read: the run folder, ``run.json``, the metrics and the plot.

``metrics.csv`` (one row per epoch) and ``metrics.png`` are rewritten from the checkpoint's
history, so they always agree with it; ``steps.csv`` (one row per optimizer step) is appended
at every checkpoint and cut back to the checkpoint's step on resume; ``--tensorboard`` writes
the same scalars for TensorBoard.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from archc.build import write_atomic
from archc.dsl.compiler import Compiled
from archc.train.config import TrainConfig

METRICS = [
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "lr", "seconds", "images_per_s",
]  # fmt: skip
STEPS = ["step", "epoch", "loss", "acc", "lr"]


def run_dir(cfg: TrainConfig, name: str) -> Path:
    if cfg.out is not None:
        return cfg.out
    base = Path("runs") / name
    if cfg.resume or not base.exists():
        return base
    n = 2
    while Path(f"{base}-{n}").exists():
        n += 1
    return Path(f"{base}-{n}")


def spec_hash(c: Compiled) -> str:
    """A hash of every spec file the network was compiled from (their names and texts)."""
    h = hashlib.sha256()
    for name in sorted(c.program.sources):
        h.update(f"{Path(name).name}\0{c.program.sources[name]}\0".encode())
    return h.hexdigest()


def prepare(run: Path, c: Compiled) -> None:
    """A new run folder holds what it takes to understand the run: spec files, code, summary."""
    from archc.codegen.emit import emit
    from archc.summary import summary_data

    # write_atomic commits one folder at a time: the spec files, then the run's own
    write_atomic({run / "spec" / Path(name).name: text.encode() for name, text in c.program.sources.items()})
    write_atomic(
        {
            run / "model.py": emit(c).encode(),
            run / "summary.json": (json.dumps(summary_data(c), indent=2) + "\n").encode(),
        }
    )
    for stale in ("checkpoint.pt", "best.pt", "steps.csv"):  # a fresh run over an old folder
        if (run / stale).exists():
            os.replace(run / stale, run / f"{Path(stale).stem}.previous{Path(stale).suffix}")


def _git(folder: Path, files: list[Path]) -> dict[str, Any] | None:
    """The commit the spec files are from, and whether they differ from it; None outside git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--", *map(str, files)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "modified": bool(status.stdout.strip())}


def environment(device: str, threads: int, world: int) -> dict[str, Any]:
    import torch

    from archc import __version__

    env: dict[str, Any] = {
        "archc": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "threads": threads,
        "world_size": world,
    }
    if device.startswith("cuda"):
        env["device_name"] = torch.cuda.get_device_name()
    return env


def write_run_json(
    run: Path,
    c: Compiled,
    cfg: TrainConfig,
    data: Any,
    env: dict[str, Any],
    start: tuple[int, int],
) -> None:
    """``run.json``: the run's settings, its spec's provenance and one entry per session.

    Rewritten on every start, so it describes the run as it is now (``--epochs`` extended by a
    resume, the device of the last session); earlier sessions stay listed."""
    path = run / "run.json"
    sessions: list[Any] = []
    try:
        old = json.loads(path.read_text()) if cfg.resume else {}
        if isinstance(old, dict) and isinstance(old.get("sessions"), list):
            sessions = old["sessions"]
    except (OSError, ValueError):
        pass
    sessions.append(
        {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "from_epoch": start[0],
            "from_step": start[1],
            "argv": sys.argv[1:],
            **env,
        }
    )
    files = [Path(p) for p in c.program.paths.values()] or [cfg.spec]
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    record = {
        "network": c.name,
        "parameters": c.params,
        "input_shape": list(c.input_shape),
        "classes": data.classes,
        "data": data.description,
        "epochs": cfg.epochs,
        "config": config,
        "recipe": cfg.recipe(),
        "spec": {
            "path": str(cfg.spec),
            "sha256": spec_hash(c),
            "git": _git(Path(cfg.spec).resolve().parent, files),
        },
        "environment": env,
        "sessions": sessions,
    }
    write_atomic({path: (json.dumps(record, indent=2) + "\n").encode()})


def write_metrics(run: Path, history: list[dict[str, float]]) -> None:
    """``metrics.csv`` and ``metrics.png``, from the history, in one atomic write."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, METRICS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in METRICS})
    files = {run / "metrics.csv": buf.getvalue().encode()}
    plot = render_plot(history)
    if plot is not None:
        files[run / "metrics.png"] = plot
    write_atomic(files)


def render_plot(history: list[dict[str, float]]) -> bytes | None:
    """Loss (log scale) and accuracy per epoch, with markers so that one epoch is a visible point."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.ticker import LogFormatter, MaxNLocator
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the train extra
        return None
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(9, 3.4))  # no pyplot: no global figure registry, nothing to close
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
    ax1, ax2 = fig.subplots(1, 2)
    style = {"marker": "o", "markersize": 4}
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train", **style)
    ax1.plot(epochs, [h["val_loss"] for h in history], label="val", **style)
    ax1.set(xlabel="epoch", ylabel="loss (log scale)", title="loss", yscale="log")
    # plain numbers (0.5, 2) rather than mathtext powers of ten: readable, and fast to draw
    ax1.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax1.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax2.plot(epochs, [100 * h["train_acc"] for h in history], label="train", **style)
    ax2.plot(epochs, [100 * h["val_acc"] for h in history], label="val", **style)
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(0, 100))
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, max(epochs[-1], 1) + 0.5)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


class StepLog:
    """``steps.csv``: one row per optimizer step, appended at each checkpoint."""

    def __init__(self, run: Path, resume_at: int | None):
        self.path = run / "steps.csv"
        self.rows: list[dict[str, Any]] = []
        if resume_at is None or not self.path.exists():
            write_atomic({self.path: (",".join(STEPS) + "\n").encode()})
            return
        kept = [",".join(STEPS)]  # a resume: drop the rows of steps the checkpoint does not have
        with self.path.open(newline="") as f:
            for row in csv.DictReader(f):
                try:
                    if int(row["step"]) <= resume_at and None not in row.values():
                        kept.append(",".join(str(row[k]) for k in STEPS))
                except (TypeError, ValueError):
                    break  # a torn last line
        write_atomic({self.path: ("\n".join(kept) + "\n").encode()})

    def add(self, step: int, epoch: int, loss: float, acc: float, lr: float) -> None:
        self.rows.append({"step": step, "epoch": epoch, "loss": loss, "acc": acc, "lr": lr})

    def flush(self) -> None:
        if not self.rows:
            return
        text = "".join(
            f"{r['step']},{r['epoch']},{r['loss']:.6g},{r['acc']:.6g},{r['lr']:.6g}\n" for r in self.rows
        )
        with self.path.open("a") as f:
            f.write(text)
        self.rows.clear()


class Board:
    """The same scalars for TensorBoard (``--tensorboard``), in ``RUN/tensorboard``."""

    def __init__(self, run: Path, enabled: bool, resume_at: int | None):
        self.writer: Any = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                from archc.dsl.diagnostics import NOWHERE, UsageError

                raise UsageError.at(
                    NOWHERE, "--tensorboard needs the tensorboard package", "pip install 'archc[train]'"
                ) from None
            # purge_step drops events a killed session logged after its last checkpoint
            self.writer = SummaryWriter(str(run / "tensorboard"), purge_step=(resume_at or 0) + 1)

    def step(self, step: int, loss: float, lr: float) -> None:
        if self.writer is not None:
            self.writer.add_scalar("train/loss_step", loss, step)
            self.writer.add_scalar("train/lr", lr, step)

    def epoch(self, row: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key in ("train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "images_per_s"):
                group, _, name = key.partition("_")
                self.writer.add_scalar(f"{group}/{name}", row[key], step)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
