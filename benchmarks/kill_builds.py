"""Kill builds at random points and count what the next reader finds (issues 14 and 16).

The harness is tests/test_build_atomic.py's (writers whose file-system calls are slowed and
announced, SIGKILLed after a random call); here it runs longer and against the real command:

- synthetic writers (`write_atomic` of three files), killed at random points;
- `archc build SPEC -o FOLDER --set width=N` itself, killed at random points;
- two concurrent writers into one folder, both finishing or one killed, with a reader under the
  lock snapshotting the folder all along;
- what the journal costs: one three-file `write_atomic` against writing and fsyncing the same
  three files in place (the floor), measured in the same run.

Every trial asserts that the next reader (`recover`) or the next run finds the old complete set or
the new complete set, and no leftovers; the figures go into docs/reliability.md.

    python benchmarks/kill_builds.py [--trials 200] [--cli-trials 60] [--rounds 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_build_atomic import (  # noqa: E402
    NAMES,
    OTHER,
    SPEC,
    cli_cmd,
    cli_sets,
    concurrent_campaign,
    content,
    kill_campaign,
    synthetic_cmd,
    synthetic_sets,
)

from archc.build import write_atomic  # noqa: E402


def fresh(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / OTHER).write_text("another network's module\n")
    return folder


def cost(root: Path, runs: int = 30) -> tuple[float, float]:
    """Median seconds of a three-file `write_atomic`, and of writing the files in place with fsync."""
    folder = fresh(root, "cost")
    files = {folder / n: content(n, 1) for n in NAMES}
    journal, floor = [], []
    for _ in range(runs):
        start = time.perf_counter()
        write_atomic(files)
        journal.append(time.perf_counter() - start)
        start = time.perf_counter()
        for path, data in files.items():
            with open(path, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        floor.append(time.perf_counter() - start)
    return statistics.median(journal), statistics.median(floor)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200, help="kills of synthetic writers")
    ap.add_argument("--cli-trials", type=int, default=60, help="kills of `archc build`")
    ap.add_argument("--rounds", type=int, default=30, help="rounds of two concurrent writers")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if shutil.which("dot") is None:
        sys.exit("Graphviz's dot is needed (`make install` installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        folder = fresh(root, "synthetic")
        sets = synthetic_sets(range(2 * args.trials + 1))
        write_atomic({folder / n: sets[0][n] for n in NAMES})
        tally = kill_campaign(folder, args.trials, args.seed, synthetic_cmd(folder), sets, lambda t: t)
        print(f"synthetic writers: {tally.line()} ({time.perf_counter() - start:.0f} s)")
        print(f"  last call announced when killed: {dict(sorted(tally.killed_at.items()))}")

        start = time.perf_counter()
        spec = root / "net.arch"
        spec.write_text(SPEC)
        widths = list(range(4, 11))
        cli = cli_sets(spec, widths)
        folder = fresh(root, "cli")
        write_atomic({folder / n: cli[4][n] for n in NAMES})
        tally = kill_campaign(
            folder, args.cli_trials, args.seed, cli_cmd(spec, folder), cli, lambda t: widths[t % len(widths)]
        )
        print(f"archc build: {tally.line()} ({time.perf_counter() - start:.0f} s)")
        print(f"  last call announced when killed: {dict(sorted(tally.killed_at.items()))}")

        for kill in (False, True):
            start = time.perf_counter()
            folder = fresh(root, f"concurrent-{kill}")
            sets = synthetic_sets(range(2 * args.rounds + 1))
            write_atomic({folder / n: sets[0][n] for n in NAMES})
            tally = concurrent_campaign(
                folder, args.rounds, args.seed, synthetic_cmd(folder), sets, lambda t: t, kill
            )
            what = "one of them killed" if kill else "both finishing"
            print(
                f"two concurrent writers, {what}: {tally.trials} rounds, {tally.killed} killed, "
                f"{tally.checks} snapshots under the lock and final states: {tally.mixed} mixed, "
                f"{tally.leftovers} leftovers ({time.perf_counter() - start:.0f} s)"
            )

        journal, floor = cost(root)
        print(
            f"three-file write_atomic: {journal * 1e3:.1f} ms; writing them in place with fsync: "
            f"{floor * 1e3:.1f} ms ({journal / floor:.1f}x)"
        )


if __name__ == "__main__":
    main()
