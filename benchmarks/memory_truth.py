"""What autograd really keeps for backward, and what an inference pass really holds at once,
against what `archc summary --memory` predicts.

For each spec it builds archc's own emitted module (``archc.load(spec).module()``, the reference
network itself), runs one training-mode forward pass on a random batch under
``torch.autograd.graph.saved_tensors_hooks``, and adds up the storages of the tensors autograd
saves: each storage once (views and in-place results share one), parameters and buffers left
out (they exist anyway).  Then one eval-mode pass without autograd, following every tensor an
aten operator returns until it is freed, gives the most activation bytes alive at once.  It
prints measured and predicted bytes and their ratios per network.

    python benchmarks/memory_truth.py                  # every spec in specs/, float32 and bfloat16
    python benchmarks/memory_truth.py resnet50 vit_b_16
    python benchmarks/memory_truth.py --write          # also rewrite tests/reference/memory/saved.json
    python benchmarks/memory_truth.py --write swin_t   # measure swin_t again, keep the other records
    python benchmarks/memory_truth.py swin_b --cases 1:float32 1:bfloat16   # only these cases

``--write`` records the measurements the tests compare the prediction with (``tests/test_memory.py``);
with names, it replaces only those networks' records (and adds the new ones), keeping the rest.  A
spec that builds the same module as one already measured (``specs/swin.arch`` defaults to Swin-T)
takes that one's measurements, recorded with ``same_module_as``.
On a machine with CUDA, ``--cuda`` adds the peak allocated during one training step
(``torch.cuda.max_memory_allocated``) next to the predicted peak.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

import archc
from archc.api import parse_sets
from archc.dsl.memory import memory

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "reference" / "memory" / "saved.json"

# (name, spec, --set overrides, batch sizes, dtypes): every spec in specs/, and variants that
# exercise what the defaults do not (dropout noise, attention's math path)
EXTRA: list[tuple[str, str, list[str]]] = [
    ("vit_b_16_dropout", "specs/vit_b_16.arch", ["dropout=0.1"]),
    ("opsnet", "tests/reference/memory/opsnet.arch", []),
    ("zoo_ops", "tests/reference/memory/zoo_ops.arch", []),
]
CASES = [(1, "float32"), (2, "float32"), (1, "bfloat16")]


def measure(module: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """Bytes and number of the distinct storages autograd saves in one forward pass."""
    skip = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    kept: dict[int, int] = {}
    alive: list[torch.Tensor] = []  # keep every saved tensor so no storage address is reused

    def pack(t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in skip and ptr not in kept:
            kept[ptr] = t.untyped_storage().nbytes()
        alive.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = module(x)
    del y
    alive.clear()
    return sum(kept.values()), len(kept)


def inference_activations(module: torch.nn.Module, x: torch.Tensor) -> int:
    """The most bytes of activation storages alive at once in an eval-mode forward pass without
    autograd (the input included, which the caller holds): every tensor an aten operator returns
    is followed until its last Python reference goes, through a TorchDispatchMode."""
    import weakref

    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    skip = {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}
    live: dict[int, list[int]] = {}  # storage address -> [bytes, tensors on it]
    now = peak = 0

    def drop(ptr: int) -> None:
        nonlocal now
        entry = live[ptr]
        entry[1] -= 1
        if entry[1] == 0:
            now -= entry[0]
            del live[ptr]

    def add(t: torch.Tensor) -> None:
        nonlocal now, peak
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in skip or storage.nbytes() == 0:
            return
        if ptr not in live:
            live[ptr] = [storage.nbytes(), 0]
            now += storage.nbytes()
            peak = max(peak, now)
        live[ptr][1] += 1
        weakref.finalize(t, drop, ptr)

    class Follow(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    add(t)
            return out

    module.eval()
    with torch.no_grad():
        add(x)
        with Follow():
            y = module(x)
        del y
    return peak


def cuda_peak(module: torch.nn.Module, x: torch.Tensor) -> int:
    """Peak bytes allocated on the GPU during forward, backward and an SGD-momentum step."""
    module = module.cuda()
    x = x.cuda()
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    module(x).float().sum().backward()
    opt.step()  # creates the momentum buffers
    opt.zero_grad(set_to_none=False)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    module(x).float().sum().backward()
    opt.step()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


def structure(c: archc.Compiled) -> str:
    """What the measurements depend on: every layer's name (the module tree), op, arguments and
    shapes, and the edges.  Two specs with the same structure (a family's file and the variant it
    defaults to) build the same module, so one's measurements are the other's."""
    g = c.graph
    layers = [
        (n, d.get("op"), repr(sorted(d.get("args", {}).items())), tuple(d["shape"]))
        for n, d in g.nodes(data=True)
    ]
    return repr((c.input_shape, sorted(layers), sorted(g.edges(data="skip"))))


def cases(names: list[str]) -> list[tuple[str, str, list[str]]]:
    every = [(p.stem, f"specs/{p.name}", []) for p in sorted((ROOT / "specs").glob("*.arch"))] + EXTRA
    return [c for c in every if not names or c[0] in names]


def one(spec: str, sets: list[str], batch: int, dtype: str, cuda: bool) -> dict[str, Any]:
    """Measure one case (in a process of its own, so that no allocation outlives it)."""
    torch.manual_seed(0)
    c = archc.compile_spec(ROOT / spec, sets=parse_sets(sets))
    tdtype = getattr(torch, dtype)
    module = c.module().to(tdtype).train()
    x = torch.randn(batch, *c.input_shape, dtype=tdtype)
    start = time.perf_counter()
    measured, storages = measure(module, x)
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {"saved_bytes": measured, "saved_storages": storages, "seconds": seconds}
    out["inference_bytes"] = inference_activations(module, x)
    if cuda and torch.cuda.is_available():
        out["cuda_max_memory_allocated"] = cuda_peak(module, x)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="spec names (default: all)")
    ap.add_argument("--write", action="store_true", help=f"rewrite {OUT.relative_to(ROOT)}")
    ap.add_argument("--cuda", action="store_true", help="also measure the peak of a training step on the GPU")
    ap.add_argument(
        "--cases",
        nargs="+",
        metavar="BATCH:DTYPE",
        default=[f"{b}:{d}" for b, d in CASES],
        help="the batch sizes and dtypes to measure (default: %(default)s)",
    )
    ap.add_argument("--one", nargs=4, metavar=("SPEC", "SETS", "BATCH", "DTYPE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        spec, sets, batch, dtype = args.one
        print(json.dumps(one(spec, json.loads(sets), int(batch), dtype, args.cuda)))
        return
    records: list[dict[str, Any]] = []
    worst = 0.0
    print(f"{'':38s} {'kept for backward (training)':^38s} {'alive at once (inference)':^35s}")
    print(
        f"{'network':22s} {'batch':>5s} {'dtype':9s} {'measured':>14s} {'predicted':>14s} {'ratio':>7s}"
        f" {'measured':>13s} {'predicted':>13s} {'ratio':>7s}"
    )
    # measurements already made, by structure: a spec that builds the same module is not run again
    known: dict[tuple[str, int, str], dict[str, Any]] = {}
    if OUT.exists():
        by_name = {name: (spec, sets) for name, spec, sets in cases([])}
        for r in json.loads(OUT.read_text())["measurements"]:
            if r["name"] in by_name and "same_module_as" not in r:
                spec, sets = by_name[r["name"]]
                shape = structure(archc.compile_spec(ROOT / spec, sets=parse_sets(sets)))
                known[(shape, r["batch"], r["dtype"])] = r
    for name, spec, sets in cases(args.names):
        c = archc.compile_spec(ROOT / spec, sets=parse_sets(sets))
        shape = structure(c)
        for batch, dtype in ((int(b), d) for b, _, d in (case.partition(":") for case in args.cases)):
            cmd = [sys.executable, __file__, "--one", spec, json.dumps(sets), str(batch), dtype]
            if args.cuda:
                cmd.append("--cuda")
            same = known.get((shape, batch, dtype))
            if same is not None and same["name"] != name:
                got = {k: same[k] for k in ("saved_bytes", "saved_storages", "inference_bytes")} | {
                    "seconds": 0.0
                }
            else:
                got = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            measured = got["saved_bytes"]
            m = memory(c.graph, batch, dtype, optimizer="momentum")
            ratio = m.saved / measured
            inference = m.inference / got["inference_bytes"]
            worst = max(worst, abs(ratio - 1), abs(inference - 1))
            line = f"{name:22s} {batch:5d} {dtype:9s} {measured:14,d} {m.saved:14,d} {ratio:7.4f}"
            line += f" {got['inference_bytes']:13,d} {m.inference:13,d} {inference:7.4f}"
            if "cuda_max_memory_allocated" in got:
                peak = got["cuda_max_memory_allocated"]
                predicted = m.training_peak
                line += f"   GPU peak {peak:,d} vs predicted {predicted:,d} ({predicted / peak:.3f})"
            print(line + f"   ({got['seconds']:.1f} s)", flush=True)
            records.append({"name": name, "spec": spec, "sets": sets, "batch": batch, "dtype": dtype,
                            "saved_bytes": measured, "saved_storages": got["saved_storages"],
                            "inference_bytes": got["inference_bytes"]}
                           | ({"cuda_max_memory_allocated": got["cuda_max_memory_allocated"]}
                              if "cuda_max_memory_allocated" in got else {})
                           | ({"same_module_as": same["name"]} if same is not None and same["name"] != name
                              else {}))  # fmt: skip
            if same is None:
                known[(shape, batch, dtype)] = records[-1]
    print(f"largest deviation: {100 * worst:.2f}% (target: within 3%)")
    if args.write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "made_by": "benchmarks/memory_truth.py --write",
            "what": "saved_bytes: bytes of the distinct storages autograd saves in one training-mode forward "
            "pass of archc.load(spec).module() on CPU, parameters and buffers excluded; inference_bytes: the "
            "most activation bytes alive at once in an eval-mode forward without autograd, input included",
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": platform.machine(),
        }
        import fcntl
        import tempfile

        with open(
            Path(tempfile.gettempdir()) / "archc-memory-truth.lock", "w"
        ) as lock:  # runs for other networks may write too
            fcntl.flock(lock, fcntl.LOCK_EX)
            if args.names and OUT.exists():  # replace these networks' records, keep the others
                mine = {r["name"] for r in records}
                kept = [r for r in json.loads(OUT.read_text())["measurements"] if r["name"] not in mine]
                order = {name: i for i, (name, _, _) in enumerate(cases([]))}
                records = sorted(kept + records, key=lambda r: order.get(r["name"], len(order)))
            OUT.write_text(json.dumps({"meta": meta, "measurements": records}, indent=1) + "\n")
        print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
