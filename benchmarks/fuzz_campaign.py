"""The fuzzing campaign of issue 14 (``make fuzz``): 50,000 seeded cases by default.

    python benchmarks/fuzz_campaign.py                       # 50,000 cases of seed 1, 2 workers
    python benchmarks/fuzz_campaign.py --cases 2000 --seed 7 --workers 1 --out build/fuzz-7
    python benchmarks/fuzz_campaign.py --time-limit 3600     # stop taking new cases after an hour
    python benchmarks/fuzz_campaign.py --case 1-4711         # show one case and run it here

Each case is made from its id (``seed-index``) by ``tests/fuzz/mutate.py``, run like
``archc check`` in a worker process with a 5 s CPU budget and a memory budget, and built on the
meta device when it compiles (the emitted module compared with the analysis); every tenth
compiled case, and every case carrying a canary, has its module imported in a fresh process
that watches for canary markers.  Figures go to ``OUT/figures.json`` (rewritten every 250
cases), one folder per failure signature (reduced spec, original, ``case.json``) to
``OUT/failures/``.  Exit status: 0 when no case crashed, hung, ran out of memory, miscompiled
or ran a canary; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzz.campaign import run_campaign, write_failures  # noqa: E402
from fuzz.mutate import make_case  # noqa: E402


def show(cid: str) -> int:
    """Print case ``cid`` and run it in this process."""
    import tempfile
    from dataclasses import asdict

    from fuzz.runner import entered_workspace, run_case

    case = make_case(cid)
    print(f"case {cid}: kind {case.kind}, from {case.source or '(generated)'}, notes {list(case.notes)}")
    print(f"written as {case.folder}/{case.name!r}; --set {list(case.sets)}")
    print(f"--input {case.input}; --network {case.network}")
    for name, data in case.extras:
        print(f"  with {name!r} ({'a FIFO' if data is None else f'{len(data)} bytes'})")
    print("-" * 72)
    print(case.data[:4000].decode("utf-8", "backslashreplace"))
    print("-" * 72)
    with entered_workspace() as ws, tempfile.TemporaryDirectory() as canary:
        r = run_case(case, ws, canary_dir=Path(canary), sample=True)
        print(json.dumps(asdict(r), indent=1))
        if r.canary_file:
            from fuzz.runner import import_canaries

            print("canary import:", import_canaries(Path(canary)))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first case index")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "fuzz")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds; no new case after it")
    ap.add_argument("--reduce-time", type=float, default=600, help="seconds for reducing failures")
    ap.add_argument("--case", help="show and run one case id (seed-index) and exit")
    args = ap.parse_args()
    if args.case:
        return show(args.case)
    tally = run_campaign(
        seed=args.seed,
        cases=args.cases,
        workers=args.workers,
        out=args.out,
        start=args.start,
        time_limit=args.time_limit,
    )
    write_failures(args.out, tally, reduce_time=args.reduce_time)
    f = tally.figures()
    print(json.dumps({k: v for k, v in f.items() if k not in ("failures", "canary")}, indent=1))
    canary = f["canary"]
    print(f"canary: {canary['executions']} executions", end="; ")
    print(f"imported {canary['imported']}, failed {canary['import_failed']}")
    for sig, info in f["failures"].items():
        print(f"{info['count']:6d}  {sig}  (first {info['first']})")
    if f["cases"] < args.cases:
        print(f"NOTE: {f['cases']} of {args.cases} cases ran (time limit)")
    bad = f["tracebacks"] + f["hangs"] + f["memory"] + f["validation_differences"] + f["build_tracebacks"]
    return 1 if bad or f["canary"]["executions"] else 0


if __name__ == "__main__":
    sys.exit(main())
