"""A rich progress bar on stderr (epoch, step, loss, accuracy, images/s), or nothing."""

from __future__ import annotations

from typing import Any


class Progress:
    def __init__(self, enabled: bool, title: str, total: int, done: int = 0):
        self.enabled = enabled
        self.title = title
        self.total = total
        self.done = done
        self.bar: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(
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
            self.task = self.bar.add_task(
                self.title, total=self.total, completed=self.done, loss=0.0, acc=0.0, ips=0.0
            )
        return self

    def update(self, loss: float, acc: float, ips: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, loss=loss, acc=100 * acc, ips=ips)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
