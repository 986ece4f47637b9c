"""``archc train``: train the emitted module of a spec, on CPU, GPU or several processes.

One process by default; under ``torchrun`` (WORLD_SIZE > 1) it trains with
DistributedDataParallel (NCCL on GPUs, gloo on CPUs) and a DistributedSampler, and only
rank 0 writes metrics, plots and checkpoints.

The order of the data in epoch ``e`` depends only on the seed and ``e``, so a run resumed from
a checkpoint taken mid-epoch (Ctrl-C) continues with exactly the batches it had not seen.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from archc.api import Compiled, compile_spec, parse_sets, parse_shape
from archc.build import write_atomic
from archc.dsl import ast
from archc.dsl.diagnostics import NOWHERE, ArchcError, UsageError
from archc.dsl.ops import fmt

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TrainError(ArchcError):
    """A run that cannot go on (a loss that turned NaN, data that does not fit): exit 1."""


@dataclass
class TrainConfig:
    spec: Path
    network: str | None = None
    sets: list[str] = field(default_factory=list)
    input: str | None = None
    data: str = "digits"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    out: Path | None = None
    resume: bool = False
    augment: bool = False
    seed: int = 0
    workers: int = 0
    limit: int | None = None
    rank_digests: bool = False


# ------------------------------------------------------------------ data


@dataclass
class Data:
    train: Dataset[tuple[torch.Tensor, int]]
    val: Dataset[tuple[torch.Tensor, int]]
    classes: list[str]
    description: str


def builtin_digits(shape: tuple[int, ...], seed: int) -> Data:
    """scikit-learn's handwritten digits (1,797 8x8 images, 10 classes), resized to ``shape``."""
    from sklearn.datasets import load_digits

    c, h, w = shape
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False).expand(-1, c, -1, -1)
    y = torch.tensor(d.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    cut = len(x) * 4 // 5
    train_idx, val_idx = order[:cut], order[cut:]
    mean, std = x[train_idx].mean(), x[train_idx].std()
    x = ((x - mean) / std).contiguous()
    train_set: Dataset[Any] = TensorDataset(x[train_idx], y[train_idx])
    val_set: Dataset[Any] = TensorDataset(x[val_idx], y[val_idx])
    return Data(
        train_set,
        val_set,
        [str(i) for i in range(10)],
        f"digits (scikit-learn): {cut} train, {len(x) - cut} val images, resized to {fmt(shape)}",
    )


class ImageFolder(Dataset[tuple[torch.Tensor, int]]):
    """Images in one sub-folder per class, read with Pillow and fitted to the spec's input."""

    def __init__(self, files: list[tuple[Path, int]], shape: tuple[int, ...], augment: bool):
        self.files = files
        self.shape = shape
        self.augment = augment

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.files[i]
        c, h, w = self.shape
        with Image.open(path) as opened:
            im: Image.Image = opened.convert("RGB" if c == 3 else "L")
            if self.augment:  # a random crop of 60-100% of the area, then a random flip
                scale = random.uniform(0.6, 1.0) ** 0.5
                cw, ch = max(1, int(im.width * scale)), max(1, int(im.height * scale))
                left, top = random.randint(0, im.width - cw), random.randint(0, im.height - ch)
                im = im.crop((left, top, left + cw, top + ch))
                if random.random() < 0.5:
                    im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            else:  # resize the shorter side, then a centre crop
                ratio = max(h / im.height, w / im.width)
                im = im.resize((max(w, round(im.width * ratio)), max(h, round(im.height * ratio))))
                left, top = (im.width - w) // 2, (im.height - h) // 2
                im = im.crop((left, top, left + w, top + h))
            im = im.resize((w, h))
            t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).reshape(h, w, -1)
        t = t.permute(2, 0, 1).float() / 255.0
        mean = torch.tensor(IMAGENET_MEAN[:c] if c == 3 else (0.5,)).view(-1, 1, 1)
        std = torch.tensor(IMAGENET_STD[:c] if c == 3 else (0.5,)).view(-1, 1, 1)
        return (t - mean) / std, label


def image_folder(root: Path, shape: tuple[int, ...], augment: bool, seed: int) -> Data:
    """``root/train`` and ``root/val`` when both exist, else a 90/10 split of ``root``."""

    def scan(folder: Path, classes: list[str]) -> list[tuple[Path, int]]:
        return [
            (p, k)
            for k, name in enumerate(classes)
            for p in sorted((folder / name).rglob("*"))
            if p.suffix.lower() in IMAGE_SUFFIXES
        ]

    split = (root / "train").is_dir() and (root / "val").is_dir()
    base = root / "train" if split else root
    classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise UsageError.at(
            NOWHERE, f"--data {root}: expected one sub-folder per class", "e.g. data/cat, data/dog"
        )
    if split:
        train_files, val_files = scan(root / "train", classes), scan(root / "val", classes)
    else:
        files = scan(root, classes)
        random.Random(seed).shuffle(files)
        cut = max(1, len(files) // 10)
        train_files, val_files = files[cut:], files[:cut]
    if not train_files or not val_files:
        raise UsageError.at(
            NOWHERE, f"--data {root}: no images found", f"images end in {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    return Data(
        ImageFolder(train_files, shape, augment),
        ImageFolder(val_files, shape, False),
        classes,
        f"{root}: {len(classes)} classes, {len(train_files)} train, {len(val_files)} val images, "
        f"fitted to {fmt(shape)}",
    )


# ------------------------------------------------------------------ the run


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _dist_from_env() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def _device(choice: str, d: Dist) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise UsageError.at(
                NOWHERE, "--device cuda: no CUDA device is available", "use --device cpu or auto"
            )
        return torch.device("cuda", d.local_rank)
    if choice != "cpu":
        raise UsageError.at(NOWHERE, f"--device {choice}: unknown device", "use auto, cpu or cuda")
    return torch.device("cpu")


def _compile(cfg: TrainConfig, extra: dict[str, ast.Expr] | None = None) -> Compiled:
    sets = {**parse_sets(cfg.sets), **(extra or {})}
    shape = parse_shape(cfg.input) if cfg.input else None
    return compile_spec(cfg.spec, network=cfg.network, sets=sets, input_shape=shape)


def _fit_classes(c: Compiled, cfg: TrainConfig, classes: int) -> Compiled:
    """``c``, or ``c`` recompiled with ``num_classes`` set to the data's class count."""
    if c.output_shape != (classes,):
        if "num_classes" in c.network.params and "num_classes" not in parse_sets(cfg.sets):
            c = _compile(cfg, {"num_classes": ast.Num(classes, NOWHERE)})
        else:
            raise UsageError.at(
                NOWHERE,
                f"the network outputs {fmt(c.output_shape)} but the data has {classes} classes",
                f"--set num_classes={classes}, or a spec whose output matches",
            )
    return c


def _run_dir(cfg: TrainConfig, name: str) -> Path:
    if cfg.out is not None:
        return cfg.out
    base = Path("runs") / name
    if cfg.resume or not base.exists():
        return base
    n = 2
    while Path(f"{base}-{n}").exists():
        n += 1
    return Path(f"{base}-{n}")


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(path: Path, payload: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_atomic({path: buf.getvalue()})


METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"]


def _write_metrics(run: Path, history: list[dict[str, float]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, METRICS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in METRICS})
    files = {run / "metrics.csv": buf.getvalue().encode()}
    plot = _plot(history)
    if plot is not None:
        files[run / "metrics.png"] = plot
    write_atomic(files)


def _plot(history: list[dict[str, float]]) -> bytes | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency of the train extra
        return None
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax1.plot(epochs, [h["val_loss"] for h in history], label="val")
    ax1.set(xlabel="epoch", ylabel="loss", title="loss")
    ax2.plot(epochs, [100 * h["train_acc"] for h in history], label="train")
    ax2.plot(epochs, [100 * h["val_acc"] for h in history], label="val")
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _order(n: int, epoch: int, cfg: TrainConfig, d: Dist, dataset: Dataset[Any]) -> list[int]:
    """The indices this process sees in ``epoch``: a function of the seed and the epoch only."""
    if d.world > 1:
        sampler: DistributedSampler[Any] = DistributedSampler(
            dataset, d.world, d.rank, shuffle=True, seed=cfg.seed, drop_last=True
        )
        sampler.set_epoch(epoch)
        return list(sampler)
    return torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)).tolist()


def _batches(
    dataset: Dataset[Any], order: list[int], cfg: TrainConfig
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    loader = DataLoader(
        dataset, batch_size=cfg.batch_size, sampler=order, num_workers=cfg.workers, drop_last=False
    )
    yield from loader


def _evaluate(
    model: nn.Module, data: Dataset[Any], cfg: TrainConfig, d: Dist, device: torch.device
) -> tuple[float, float]:
    model.eval()
    n = len(data)  # type: ignore[arg-type]
    order = list(range(d.rank, n, d.world))
    totals = torch.zeros(3, dtype=torch.float64, device=device)
    with torch.no_grad(), _autocast(device, cfg.amp):
        for x, y in _batches(data, order, cfg):
            x, y = _to(x, device, cfg), y.to(device)
            out = model(x).float()
            totals += torch.tensor(
                [F.cross_entropy(out, y, reduction="sum").item(), (out.argmax(1) == y).sum().item(), len(y)],
                dtype=torch.float64,
                device=device,
            )
    if d.world > 1:
        dist.all_reduce(totals)
    loss, correct, count = totals.tolist()
    return loss / max(count, 1), correct / max(count, 1)


def _to(x: torch.Tensor, device: torch.device, cfg: TrainConfig) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if cfg.channels_last else x


def _autocast(device: torch.device, enabled: bool) -> Any:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def train(cfg: TrainConfig, log: Any = print, progress: bool = True) -> Path:
    """Run training as configured; returns the run folder."""
    d = _dist_from_env()
    device = _device(cfg.device, d)
    if d.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)

    probe = _compile(cfg)
    shape = probe.input_shape
    if len(shape) != 3:
        raise UsageError.at(NOWHERE, f"train needs an image input (CxHxW), the spec takes {fmt(shape)}")
    if cfg.data == "digits":
        data = builtin_digits(shape, cfg.seed)
    else:
        root = Path(cfg.data)
        if not root.is_dir():
            raise UsageError.at(
                NOWHERE, f"--data {cfg.data}: no such folder", "give an image folder, or digits"
            )
        data = image_folder(root, shape, cfg.augment, cfg.seed)
    if cfg.limit is not None and cfg.limit < len(data.train):  # type: ignore[arg-type]
        data.train = torch.utils.data.Subset(data.train, range(cfg.limit))
        data.description += f" (training on the first {cfg.limit})"
    c = _fit_classes(probe, cfg, len(data.classes))
    run = _run_dir(cfg, c.name)
    checkpoint = run / "checkpoint.pt"
    if cfg.resume and not checkpoint.exists():
        raise UsageError.at(NOWHERE, f"--resume: no checkpoint in {run}", "give the run folder with --out")

    model: nn.Module = c.module().to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )

    def cosine(epoch: int) -> float:  # closed form, so that a resumed run may change --epochs
        return 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    start_epoch, start_step, history = 0, 0, []
    partial = torch.zeros(3, dtype=torch.float64)  # loss, correct, seen in an interrupted epoch
    if cfg.resume:
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
            group["lr"] = base * cosine(scheduler.last_epoch)
        _set_rng_state(state["rng"])
        start_epoch, start_step, history = state["epoch"], state["step"], state["history"]
        partial = state.get("partial", partial)
        if d.main:
            log(f"resuming {run} at epoch {start_epoch + 1}" + (f", step {start_step}" if start_step else ""))
    elif d.main:
        _prepare_run(run, c, cfg, data)
    net: nn.Module = model
    if d.world > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    step_fn: nn.Module = torch.compile(net) if cfg.compile else net  # type: ignore[assignment]

    def save(epoch: int, step: int, sums: torch.Tensor) -> None:
        if d.main:
            _save(
                checkpoint,
                {
                    "epoch": epoch,
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": _rng_state(),
                    "history": history,
                    "spec": str(cfg.spec),
                    "partial": sums.cpu(),
                },
            )

    if d.main:
        log(
            f"training {c.name} ({c.params:,} parameters) on {data.description}; device {device}"
            + (f", {d.world} processes" if d.world > 1 else "")
            + f"; writing to {run}"
        )
    epoch, done = start_epoch, start_step  # done: optimizer steps completed in this epoch
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    try:
        for epoch in range(start_epoch, cfg.epochs):
            order = _order(len(data.train), epoch, cfg, d, data.train)  # type: ignore[arg-type]
            steps = math.ceil(len(order) / cfg.batch_size)
            skip = start_step if epoch == start_epoch else 0
            net.train()
            began = time.perf_counter()
            done = skip
            sums = (partial if skip else torch.zeros(3, dtype=torch.float64)).to(device)
            with _Progress(progress and d.main, f"epoch {epoch + 1}/{cfg.epochs}", steps) as bar:
                bar.advance(skip)
                for step, (x, y) in enumerate(
                    _batches(data.train, order[skip * cfg.batch_size :], cfg), skip
                ):
                    x, y = _to(x, device, cfg), y.to(device)
                    with _autocast(device, cfg.amp):
                        out = step_fn(x)
                        loss = F.cross_entropy(out.float(), y)
                    if not torch.isfinite(loss):
                        raise TrainError.at(
                            NOWHERE,
                            f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; stopping",
                            f"the last good checkpoint is kept in {checkpoint}; "
                            f"try a lower --lr (now {cfg.lr})",
                        )
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    optimizer.step()
                    sums += torch.tensor(
                        [loss.item() * len(y), (out.argmax(1) == y).sum().item(), len(y)],
                        dtype=torch.float64,
                        device=device,
                    )
                    done = step + 1
                    seconds = time.perf_counter() - began
                    bar.update(
                        loss.item(), (sums[1] / sums[2]).item(), sums[2].item() * d.world / max(seconds, 1e-9)
                    )
            if d.world > 1:
                dist.all_reduce(sums)
            seconds = time.perf_counter() - began
            val_loss, val_acc = _evaluate(net, data.val, cfg, d, device)
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": (sums[0] / sums[2]).item(),
                    "train_acc": (sums[1] / sums[2]).item(),
                    "val_loss": val_loss,
                    "val_acc": val_acc,
                    "lr": scheduler.get_last_lr()[0],
                    "seconds": seconds,
                    "images_per_s": sums[2].item() / max(seconds, 1e-9),
                }
            )
            scheduler.step()
            if d.main:
                h = history[-1]
                log(
                    f"epoch {epoch + 1}: train loss {h['train_loss']:.4f} acc {100 * h['train_acc']:.1f}%, "
                    f"val loss {val_loss:.4f} acc {100 * val_acc:.1f}%, {h['images_per_s']:.0f} images/s"
                )
                _write_metrics(run, history)
            done = 0
            save(epoch + 1, 0, torch.zeros(3, dtype=torch.float64))
    except KeyboardInterrupt:
        save(epoch, done, sums)
        if d.main:
            log(
                f"interrupted: saved {checkpoint} at epoch {epoch + 1}, step {done}; "
                f"continue with --resume --out {run}"
            )
        raise
    finally:
        if d.world > 1 and cfg.rank_digests:
            digest = hashlib.sha256(b"".join(p.detach().cpu().numpy().tobytes() for p in model.parameters()))
            (run / f"rank{d.rank}.sha256").write_text(digest.hexdigest() + "\n")
    if d.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return run


def _prepare_run(run: Path, c: Compiled, cfg: TrainConfig, data: Data) -> None:
    """The run folder holds what it takes to understand the run: spec files, code, summary."""
    from archc.codegen.emit import emit

    (run / "spec").mkdir(parents=True, exist_ok=True)
    for name, text in c.program.sources.items():
        (run / "spec" / Path(name).name).write_text(text)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    resolved = {
        "network": c.name,
        "parameters": c.summary()["parameters"],
        "input_shape": list(c.input_shape),
        "classes": data.classes,
        "data": data.description,
        "config": config,
    }
    write_atomic(
        {
            run / "model.py": emit(c).encode(),
            run / "summary.json": (json.dumps(c.summary(), indent=2) + "\n").encode(),
            run / "run.json": (json.dumps(resolved, indent=2) + "\n").encode(),
        }
    )
    if (run / "checkpoint.pt").exists():
        shutil.move(run / "checkpoint.pt", run / "checkpoint.previous.pt")


class _Progress:
    """A rich progress bar on stderr (epoch, step, loss, accuracy, images/s), or nothing."""

    def __init__(self, enabled: bool, title: str, total: int):
        self.enabled = enabled
        self.title = title
        self.total = total

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "loss {task.fields[loss]:.4f}  acc {task.fields[acc]:5.1f}%  {task.fields[ips]:.0f} img/s"
                ),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.title, total=self.total, loss=0.0, acc=0.0, ips=0.0)
        return self

    def advance(self, n: int) -> None:
        if self.enabled and n:
            self.bar.advance(self.task, n)

    def update(self, loss: float, acc: float, ips: float) -> None:
        if self.enabled:
            self.bar.update(self.task, advance=1, loss=loss, acc=100 * acc, ips=ips)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(None, None, None)
