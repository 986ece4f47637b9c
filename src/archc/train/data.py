"""The data a run trains on: scikit-learn's digits, or an image folder, fitted to the spec's input.

Everything random about the data is a function of the seed, the epoch and the image's index
(the order of an epoch, the crop and flip of an image), never of a global random state, so a run
resumed mid-epoch sees exactly the batches and augmentations it had not seen, with any number
of loader workers.
"""

from __future__ import annotations

import hashlib
import random
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset

from archc.dsl.diagnostics import NOWHERE, ArchcError, UsageError
from archc.dsl.ops import fmt
from archc.train.runtime import Dist

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Pillow's own bound on decoded pixels (about 8,000 x 11,000): a larger image is refused before
#: it is decoded, so a small file that expands to gigabytes (a decompression bomb) costs nothing.
MAX_PIXELS = 89_478_485
BAD_LABEL = -1  # what an image that cannot be read yields; the loop stops on it with its name


@dataclass
class Data:
    train: Dataset[tuple[torch.Tensor, int]]
    val: Dataset[tuple[torch.Tensor, int]]
    classes: list[str]
    description: str
    fingerprint: str  # what --resume compares: the files and their sizes, or "digits"


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
        "digits",
    )


class ImageFolder(Dataset[tuple[torch.Tensor, int]]):
    """Images in one sub-folder per class, read with Pillow and fitted to the spec's input.

    An image that cannot be read (corrupt, truncated, too large) yields the label
    :data:`BAD_LABEL`; the loop stops at that batch and :meth:`problem` says what is wrong, in
    the main process (an exception raised in a loader worker would arrive as a traceback)."""

    def __init__(self, files: list[tuple[Path, int]], shape: tuple[int, ...], augment: bool, seed: int):
        self.files = files
        self.shape = shape
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.files[i]
        try:
            t = self._read(path, random.Random(f"{self.seed}:{self.epoch}:{i}"))
        except Exception:  # a bad file is reported by problem(), with its reason
            return torch.zeros(self.shape), BAD_LABEL
        return t, label

    def problem(self, i: int) -> str | None:
        """Why image ``i`` cannot be read, or None."""
        try:
            self._read(self.files[i][0], random.Random(0))
        except Exception as e:
            return f"{self.files[i][0]}: {type(e).__name__}: {e}"
        return None

    def _read(self, path: Path, rng: random.Random) -> torch.Tensor:
        from PIL import Image

        c, h, w = self.shape
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
        with opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise ValueError(
                    f"{opened.width}x{opened.height} pixels is more than the {MAX_PIXELS:,} an image may have"
                )
            im: Image.Image = opened.convert("RGB" if c == 3 else "L")
            if self.augment:  # a random crop of 60-100% of the area, then a random flip
                scale = rng.uniform(0.6, 1.0) ** 0.5
                cw, ch = max(1, int(im.width * scale)), max(1, int(im.height * scale))
                left, top = rng.randint(0, im.width - cw), rng.randint(0, im.height - ch)
                im = im.crop((left, top, left + cw, top + ch))
                if rng.random() < 0.5:
                    im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            else:  # resize the shorter side, then a centre crop
                ratio = max(h / im.height, w / im.width)
                im = im.resize((max(w, round(im.width * ratio)), max(h, round(im.height * ratio))))
                left, top = (im.width - w) // 2, (im.height - h) // 2
                im = im.crop((left, top, left + w, top + h))
            im = im.resize((w, h))
            t = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).reshape(h, w, -1)
        t = t.permute(2, 0, 1).float() / 255.0
        mean = torch.tensor(IMAGENET_MEAN if c == 3 else (0.5,)).view(-1, 1, 1)
        std = torch.tensor(IMAGENET_STD if c == 3 else (0.5,)).view(-1, 1, 1)
        return (t - mean) / std


def _usage(root: Path, message: str, hint: str | None = None) -> ArchcError:
    return UsageError.at(NOWHERE, f"--data {root}: {message}", hint)


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]


def image_folder(root: Path, shape: tuple[int, ...], augment: bool, seed: int) -> Data:
    """``root/train`` and ``root/val`` when both exist, else a 90/10 split of ``root``.

    A ``train/`` without ``val/`` (or the reverse), an empty class folder, or class folders that
    differ between ``train/`` and ``val/`` are refused: each would silently become a class."""
    if shape[0] not in (1, 3):
        raise _usage(
            root,
            f"images are read as grayscale (1 channel) or RGB (3), but the spec takes {shape[0]} channels",
            f"--input 3x{shape[1]}x{shape[2]} or 1x{shape[1]}x{shape[2]}",
        )
    has = {name: (root / name).is_dir() for name in ("train", "val")}
    if has["train"] != has["val"]:
        there, missing = ("train", "val") if has["train"] else ("val", "train")
        raise _usage(
            root,
            f"has {there}/ but no {missing}/",
            f"give both {root}/train and {root}/val (one sub-folder per class in each), "
            "or only class folders for a 90/10 split",
        )
    split = has["train"]
    base = root / "train" if split else root
    classes = _class_folders(base)
    if len(classes) < 2:
        raise _usage(root, "expected one sub-folder per class (at least two)", f"e.g. {base}/cat, {base}/dog")
    if split and _class_folders(root / "val") != classes:
        theirs = _class_folders(root / "val")
        odd = sorted(set(theirs) ^ set(classes))
        raise _usage(
            root,
            f"train/ and val/ have different class folders: {', '.join(odd)}",
            "give both the same classes",
        )

    def scan(folder: Path) -> list[tuple[Path, int]]:
        out: list[tuple[Path, int]] = []
        for k, name in enumerate(classes):
            found = _images(folder / name)
            if not found:
                raise _usage(
                    root,
                    f"class folder {folder / name} has no images",
                    f"add images (ending in {', '.join(sorted(IMAGE_SUFFIXES))}) or remove the folder",
                )
            out += [(p, k) for p in found]
        return out

    if split:
        train_files, val_files = scan(root / "train"), scan(root / "val")
    else:
        files = scan(root)
        random.Random(seed).shuffle(files)
        cut = max(1, len(files) // 10)
        train_files, val_files = files[cut:], files[:cut]
    digest = hashlib.sha256()
    for p, k in sorted(train_files + val_files):
        digest.update(f"{p.relative_to(root).as_posix()}\0{p.stat().st_size}\0{k}\n".encode())
    return Data(
        ImageFolder(train_files, shape, augment, seed),
        ImageFolder(val_files, shape, False, seed),
        classes,
        f"{root}: {len(classes)} classes, {len(train_files)} train, {len(val_files)} val images, "
        f"fitted to {fmt(shape)}",
        digest.hexdigest(),
    )


def load(data: str, shape: tuple[int, ...], augment: bool, seed: int, limit: int | None) -> Data:
    """The data named by ``--data``, with at most ``limit`` training images."""
    if len(shape) != 3:
        raise UsageError.at(NOWHERE, f"train needs an image input (CxHxW), the spec takes {fmt(shape)}")
    if data == "digits":
        out = builtin_digits(shape, seed)
    else:
        root = Path(data)
        if not root.is_dir():
            raise UsageError.at(NOWHERE, f"--data {data}: no such folder", "give an image folder, or digits")
        out = image_folder(root, shape, augment, seed)
    if limit is not None and limit < len(out.train):  # type: ignore[arg-type]
        out.train = Subset(out.train, range(limit))
        out.description += f" (training on the first {limit})"
    return out


def set_epoch(dataset: Dataset[Any], epoch: int) -> None:
    """Tell an image folder (under a ``Subset`` or not) which epoch its augmentations are for."""
    inner = dataset.dataset if isinstance(dataset, Subset) else dataset
    if isinstance(inner, ImageFolder):
        inner.epoch = epoch


def problem(dataset: Dataset[Any], i: int) -> str:
    """Why item ``i`` of ``dataset`` cannot be read."""
    if isinstance(dataset, Subset):
        return problem(dataset.dataset, int(dataset.indices[i]))
    found = dataset.problem(i) if isinstance(dataset, ImageFolder) else None
    return found or f"item {i} could not be read"


def order(n: int, epoch: int, seed: int, d: Dist, dataset: Dataset[Any]) -> list[int]:
    """The indices this process sees in ``epoch``: a function of the seed and the epoch only."""
    if d.world > 1:
        sampler: DistributedSampler[Any] = DistributedSampler(
            dataset, d.world, d.rank, shuffle=True, seed=seed, drop_last=True
        )
        sampler.set_epoch(epoch)
        return list(sampler)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()


def batches(
    dataset: Dataset[Any], indices: list[int], batch_size: int, workers: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of ``dataset`` in the given order.  The loader gets its own generator: by default it
    draws a seed from the global random state, which would make a resumed run's dropout differ."""
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=indices,
        num_workers=workers,
        drop_last=False,
        generator=torch.Generator().manual_seed(0),
    )
    yield from loader
