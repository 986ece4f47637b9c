"""Where a run executes: the process group under ``torchrun``, the device and the CPU threads."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from archc.dsl.diagnostics import NOWHERE, UsageError


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def dist_from_env() -> Dist:
    """This process's place under ``torchrun`` (WORLD_SIZE, RANK, LOCAL_RANK), or a lone process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that prints and writes."""
    return dist_from_env().main


def device(choice: str, d: Dist) -> torch.device:
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


def set_threads(threads: int | None) -> int:
    """Use ``threads`` CPU threads for intra-op work (all cores by default); returns the count used.

    On a busy machine fewer threads than cores is often much faster (no thread waits for a core
    another process holds)."""
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def start(d: Dist, dev: torch.device) -> None:
    if d.world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)


def finish(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def agree(value: int, d: Dist, dev: torch.device) -> int:
    """The largest ``value`` of all processes.  Every rank must stop at the same step, or the
    others would wait forever in the next collective, so a reason to stop found by one (a
    signal, an unreadable image, a loss that is not finite) is shared before anyone acts on it."""
    if d.world <= 1:
        return value
    t = torch.tensor([float(value)], device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())
