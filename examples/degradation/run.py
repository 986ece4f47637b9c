"""The degradation experiment of the ResNet paper (He et al., 2015, Figure 1 and Figure 6),
on the digits data set that ships with scikit-learn.

Trains plain20, plain56, resnet20 and resnet56 with identical settings (SGD, a linear warmup of
one epoch, then a cosine per step) and plots their training error (solid) and validation error
(dashed) per epoch in one figure:

    python examples/degradation/run.py [--epochs 30] [--input 3x16x16]

writes examples/degradation/runs/<network>/ (one archc run folder each) and
examples/degradation/degradation.png.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from archc.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NETWORKS = ["plain20", "plain56", "resnet20", "resnet56"]
FLOOR = 0.05  # percent: where a 0% error is drawn on the log axis


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--input", default="3x16x16", help="digits are 8x8; 16x16 keeps the run short")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--warmup", default="1", help="linear warmup (epochs, or e.g. 200steps)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot-only", action="store_true", help="redraw from the runs' metrics.csv")
    args = parser.parse_args()
    curves: dict[str, list[dict[str, str]]] = {}
    for name in NETWORKS:
        out = HERE / "runs" / name
        if not args.plot_only:
            cfg = TrainConfig(
                ROOT / "specs" / f"{name}.arch", input=args.input, epochs=args.epochs, lr=args.lr,
                warmup=args.warmup, batch_size=args.batch_size, seed=args.seed, out=out, device="auto",
            )  # fmt: skip
            train(cfg, progress=False)
        curves[name] = list(csv.DictReader((out / "metrics.csv").open()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, group in zip(axes, (["plain20", "plain56"], ["resnet20", "resnet56"]), strict=True):
        for name, colour in zip(group, ("#1f77b4", "#d62728"), strict=True):
            rows = curves[name]
            epochs = [int(r["epoch"]) for r in rows]
            # an error of exactly 0% is drawn at the floor of the log axis instead of vanishing
            train_err = [max(FLOOR, 100 * (1 - float(r["train_acc"]))) for r in rows]
            val_err = [max(FLOOR, 100 * (1 - float(r["val_acc"]))) for r in rows]
            ax.plot(epochs, train_err, color=colour, label=f"{name} train")
            ax.plot(epochs, val_err, color=colour, ls="--", lw=1, label=f"{name} val")
        ax.set(xlabel="epoch", title=" vs ".join(group), yscale="log", ylim=(FLOOR * 0.8, 120))
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    axes[0].set_ylabel(f"error (%; {FLOOR} means none)")
    fig.suptitle(
        f"digits {args.input}, SGD lr {args.lr}, warmup {args.warmup} then cosine per step, "
        f"batch {args.batch_size}, {args.epochs} epochs"
    )
    fig.tight_layout()
    fig.savefig(HERE / "degradation.png", dpi=110)
    for name in NETWORKS:
        last = curves[name][-1]
        print(f"{name}: final train error {100 * (1 - float(last['train_acc'])):.2f}%, "
              f"val error {100 * (1 - float(last['val_acc'])):.2f}%")  # fmt: skip


if __name__ == "__main__":
    main()
