"""How fast `archc check` is: whole-process time, and scaling with spec size.

Prints figures and ratios against references measured in the same run:
- `archc check specs/resnet152.arch` against a bare `python -c pass` (the floor) and against
  importing archc's dependencies alone (what any Python tool built on them pays);
- checking generated specs of 1,000 and 10,000 layers, in process and as a whole process,
  and the 10k/1k ratio (10 means linear growth).

Targets (issue 2): resnet152 under 0.3 s whole-process, the 10,000-layer spec under 2 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHC = [sys.executable, "-m", "archc"]


def wall(cmd: list[str], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    floor = wall([sys.executable, "-c", "pass"])
    deps = wall([sys.executable, "-c", "import lark, networkx, typer, rich"])
    check = wall([*ARCHC, "check", "specs/resnet152.arch"])
    print("archc check specs/resnet152.arch (median of 7 whole-process runs)")
    print(f"  python -c pass                      {floor:7.3f} s")
    print(f"  import lark, networkx, typer, rich  {deps:7.3f} s")
    print(f"  archc check                         {check:7.3f} s   target < 0.300 s")
    print(f"  archc's own share (check - deps)    {check - deps:7.3f} s")

    import archc

    print("\ngenerated specs (in process, median of 5; whole process, median of 3)")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for layers in (1_000, 10_000):
            path = Path(tmp) / f"big{layers}.arch"
            path.write_text(generated_spec(layers))
            times = []
            for _ in range(5):
                start = time.perf_counter()
                c = archc.compile_spec(path)
                times.append(time.perf_counter() - start)
            results[layers] = statistics.median(times)
            process = wall([*ARCHC, "check", str(path)], runs=3)
            print(
                f"  {c.totals.layers:6,} layers: {results[layers]:6.3f} s in process, {process:6.3f} s whole"
            )
    print(f"  10k / 1k ratio: {results[10_000] / results[1_000]:.1f} (10 is linear)   target: 10k < 2 s")


if __name__ == "__main__":
    main()
