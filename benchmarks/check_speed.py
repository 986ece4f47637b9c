"""How fast `archc check` is: whole-process time against references measured in the same run.

- `archc check specs/resnet152.arch` against `python -c "import typer, lark, networkx"` (what any
  tool built on archc's libraries pays before doing anything); the issue's goal is a ratio of at
  most 1.15, i.e. archc's own work (its modules, the grammar, parsing, elaborating 515 layers,
  the report) within 15% of that;
- against what a PyTorch user runs to get the same figures: `import torchvision`, build ResNet-152
  and count its parameters and MACs (`torch.utils.flop_counter`), in a separate environment with
  torchvision (`--torchvision-python`, or the environment variable ARCHC_TORCHVISION_PYTHON;
  skipped with a message when there is none);
- generated specs of 1,000 and 10,000 layers, in process and as a whole process.

Every command is run alternately (one of each per round, so load on the machine hits all alike)
and the median of the rounds is printed.  Python's bytecode cache is on for every child (a
private PYTHONPYCACHEPREFIX, warmed by a first run that is not timed), as it is after
`pip install`; without it archc's own modules are compiled from source on every run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHC = [sys.executable, "-m", "archc"]
TORCHVISION = (
    "import torch, torchvision\n"
    "from torch.utils.flop_counter import FlopCounterMode\n"
    "m = torchvision.models.resnet152()\n"
    "params = sum(p.numel() for p in m.parameters())\n"
    "with torch.device('meta'):\n"
    "    x = torch.empty(1, 3, 224, 224)\n"
    "with FlopCounterMode(display=False) as f:\n"
    "    m.to('meta')(x)\n"
    "print(params, f.get_total_flops() // 2)\n"
)


# Where archc's own time goes, in CPU time of a fresh process (the phases `archc check` runs).
PHASES = (
    "import gc, json, time\n"
    "t = [time.process_time()]\n"
    "import typer, lark, networkx\n"
    "t.append(time.process_time())\n"
    "import archc.cli\n"
    "t.append(time.process_time())\n"
    "from typer.main import get_command\n"
    "get_command(archc.cli.app)\n"
    "t.append(time.process_time())\n"
    "gc.freeze()\n"
    "from archc.dsl.parser import _lark\n"
    "_lark()\n"
    "t.append(time.process_time())\n"
    "from archc.dsl.loader import load\n"
    "program = load('specs/resnet152.arch')\n"
    "t.append(time.process_time())\n"
    "from archc.dsl.resolve import resolve\n"
    "from archc.dsl.elaborate import elaborate\n"
    "g = elaborate(resolve(program, None, None, None), program.sources)\n"
    "t.append(time.process_time())\n"
    "from archc.dsl.analysis import totals\n"
    "totals(g)\n"
    "t.append(time.process_time())\n"
    "print(json.dumps([b - a for a, b in zip(t, t[1:])]))\n"
)
PHASE_NAMES = (
    "typer, lark, networkx",
    "archc's modules",
    "typer builds the commands",
    "the grammar (Lark, cached)",
    "parse resnet152.arch + resnet.arch",
    "resolve and elaborate 515 layers",
    "totals",
)


def breakdown(env: dict[str, str], rounds: int) -> list[float]:
    import json

    runs = []
    for _ in range(rounds):
        cmd = [sys.executable, "-c", PHASES]
        out = subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
        runs.append(json.loads(out.stdout))
    return [statistics.median(r[i] for r in runs) for i in range(len(PHASE_NAMES))]


def environment(cache: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
    return time.perf_counter() - start


def interleaved(cmds: dict[str, list[str]], env: dict[str, str], rounds: int) -> dict[str, float]:
    """Median wall time of each command over ``rounds`` rounds of one run of each."""
    for cmd in cmds.values():  # warm the bytecode and file caches
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, env=env)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(rounds):
        for k, cmd in cmds.items():
            times[k].append(timed(cmd, env))
    return {k: statistics.median(v) for k, v in times.items()}


def generated_spec(layers: int) -> str:
    """A plain chain of conv-bn-relu triples: `layers` primitive layers in all."""
    blocks = layers // 3
    return (
        "block unit(c):\n"
        "    return x -> conv: conv(c, k=3, p=1) -> bn: bn -> relu\n\n"
        f"network big(depth={blocks}):\n"
        "    input 16x32x32\n"
        "    x -> units: unit(16) x depth\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument(
        "--torchvision-python",
        default=os.environ.get("ARCHC_TORCHVISION_PYTHON"),
        help="a Python with torch and torchvision (never the project's environment)",
    )
    ap.add_argument("--no-scaling", action="store_true", help="skip the generated 1k/10k-layer specs")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        env = environment(cache)
        cmds = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "import typer, lark, networkx": [sys.executable, "-c", "import typer, lark, networkx"],
            "archc check resnet152": [*ARCHC, "check", "specs/resnet152.arch"],
        }
        tv = args.torchvision_python
        if tv and Path(tv).exists():
            cmds["torchvision: import, build, count"] = [tv, "-c", TORCHVISION]
        t = interleaved(cmds, env, args.rounds)
        phases = breakdown(env, args.rounds)

    print(f"archc check specs/resnet152.arch, whole processes (median of {args.rounds} interleaved rounds)")
    for k, v in t.items():
        print(f"  {k:36s} {v:7.3f} s")
    deps, check = t["import typer, lark, networkx"], t["archc check resnet152"]
    print(f"  archc's own work (check - imports)   {check - deps:7.3f} s")
    print(f"  ratio check / imports                {check / deps:7.2f}   goal <= 1.15")
    if "torchvision: import, build, count" in t:
        ref = t["torchvision: import, build, count"]
        print(f"  ratio torchvision / check            {ref / check:7.1f}   (how many times faster archc is)")
    else:
        print("  torchvision: skipped (no --torchvision-python or ARCHC_TORCHVISION_PYTHON)")

    print(f"\nwhere the time goes: CPU time of each phase in a fresh process (median of {args.rounds})")
    for name, seconds in zip(PHASE_NAMES, phases, strict=True):
        print(f"  {name:36s} {1000 * seconds:7.1f} ms")
    print(f"  archc's own (all but the first)      {1000 * sum(phases[1:]):7.1f} ms")

    if args.no_scaling:
        return
    import archc

    print("\ngenerated specs (in process, median of 5; whole process, median of 3)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as cache:
        env = environment(cache)
        for layers in (1_000, 10_000):
            path = Path(tmp) / f"big{layers}.arch"
            path.write_text(generated_spec(layers))
            times = []
            for _ in range(5):
                start = time.perf_counter()
                c = archc.compile_spec(path)
                times.append(time.perf_counter() - start)
            results[layers] = statistics.median(times)
            process = interleaved({"check": [*ARCHC, "check", str(path)]}, env, 3)["check"]
            print(
                f"  {c.totals.layers:6,} layers: {results[layers]:6.3f} s in process, {process:6.3f} s whole"
            )
    print(f"  10k / 1k ratio: {results[10_000] / results[1_000]:.1f} (10 is linear)   target: 10k < 2 s")


if __name__ == "__main__":
    main()
