"""The translation-validation long run of issue 15 (``make validate-long``).

    python benchmarks/translation_validation.py                  # until 10,000 specs validated
    python benchmarks/translation_validation.py --specs 500 --seed 3 --workers 1
    python benchmarks/translation_validation.py --case 1-77      # one case, here

Specs are the corpus entries that compile, then mutations of them that usually stay valid
(``--set`` variants of header parameters, nearby numbers, flipped conditions, small token and
line edits; see ``tests/fuzz/translation.py``), deduplicated by text and settings.  Each one that
compiles is validated on the meta device: the module from the emitted code has exactly the
analysis' ``state_dict`` keys, shapes and order, parameter count and output shape, and the
emitted class constructed with other values of two of its arguments equals the analysis at
those values.  Figures go to ``OUT/figures.json``; each difference found, grouped by message,
to ``OUT/differences/`` (spec, settings, differences).  Exit status 1 when any difference,
build refusal or traceback was found.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzz.corpus import corpus_digest  # noqa: E402
from fuzz.mutate import case_id  # noqa: E402
from fuzz.runner import Pool  # noqa: E402
from fuzz.translation import ARGS, make_tv_case  # noqa: E402


def show(cid: str) -> int:
    from dataclasses import asdict

    from fuzz.runner import entered_workspace
    from fuzz.translation import run_tv

    case = make_tv_case(cid)
    print(f"case {cid}: {case.kind} of {case.source}; --set {list(case.sets)}; --network {case.network}")
    print(case.data.decode("utf-8", "backslashreplace"))
    with entered_workspace() as ws:
        print(json.dumps(asdict(run_tv(case, ws)), indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--specs", type=int, default=10_000, help="stop after this many specs were validated")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "translation")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds; no new case after it")
    ap.add_argument("--case", help="show and run one case id (seed-index) and exit")
    args = ap.parse_args()
    if args.case:
        return show(args.case)
    out: Path = args.out.resolve()
    (out / "differences").mkdir(parents=True, exist_ok=True)
    start = time.time()
    deadline = start + args.time_limit if args.time_limit else None
    lock = threading.Lock()
    seen: set[str] = set()
    n = {"generated": 0, "duplicates": 0, "ran": 0, "validated": 0, "settings": 0}
    cls: Counter[str] = Counter()
    builds: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    sigs: dict[str, list[str]] = {}
    first: dict[str, dict[str, Any]] = {}
    max_build: dict[str, Any] = {"value": 0.0, "case": ""}

    def requests() -> Iterator[dict[str, Any]]:
        i = 0
        while True:
            with lock:
                if n["validated"] >= args.specs:
                    return
            if deadline and time.time() > deadline:
                return
            cid = case_id(args.seed, i)
            i += 1
            case = make_tv_case(cid)
            key = hashlib.sha256(repr((case.source, case.data, case.sets, case.network)).encode()).hexdigest()
            with lock:
                n["generated"] += 1
                if key in seen:
                    n["duplicates"] += 1
                    continue
                seen.add(key)
            yield {"id": cid, "mode": "tv"}

    def figures() -> dict[str, Any]:
        return {
            "seed": args.seed,
            "target_specs": args.specs,
            "corpus_digest": corpus_digest(),
            "seconds": round(time.time() - start, 1),
            "arguments_varied_per_spec": ARGS,
            **n,
            "outcomes": dict(sorted(cls.items())),
            "builds": dict(sorted(builds.items())),
            "kinds_validated": dict(sorted(kinds.items())),
            "differences": builds["differs"],
            "refused": builds["refused"],
            "build_tracebacks": builds["traceback"],
            "check_tracebacks": cls["traceback"],
            "hangs": cls["hang"] + builds["hang"],
            "max_build_cpu_s": {"value": round(max_build["value"], 3), "case": max_build["case"]},
            "findings": {
                s: {
                    "count": len(ids),
                    "first": ids[0],
                    "ids": ids[:20],
                    "differences": first[s]["differences"] or [first[s]["message"]],
                }
                for s, ids in sorted(sigs.items(), key=lambda kv: -len(kv[1]))
            },
        }

    def write() -> None:
        tmp = out / "figures.json.tmp"
        tmp.write_text(json.dumps(figures(), indent=1) + "\n")
        os.replace(tmp, out / "figures.json")

    def on_result(req: dict[str, Any], r: dict[str, Any]) -> None:
        n["ran"] += 1
        cls[r["cls"]] += 1
        if r["build"]:
            builds[r["build"]] += 1
        if r["build"] in ("same", "differs"):
            n["validated"] += 1
            n["settings"] += len(r["notes"])
            kinds[r["kind"]] += 1
        if r["build_s"] > max_build["value"]:
            max_build.update(value=r["build_s"], case=r["id"])
        if r["signature"]:
            sigs.setdefault(r["signature"], []).append(r["id"])
            if r["signature"] not in first:
                first[r["signature"]] = r
                case = make_tv_case(r["id"])
                folder = out / "differences" / f"{len(first):02d}-{r['build'] or r['cls']}-{r['id']}"
                folder.mkdir(exist_ok=True)
                (folder / "spec.arch").write_bytes(case.data)
                info = {
                    "id": r["id"],
                    "kind": case.kind,
                    "source": case.source,
                    "folder": case.folder,
                    "sets": list(case.sets),
                    "network": case.network,
                    "outcome": r["cls"],
                    "build": r["build"],
                    "differences": r["differences"],
                    "message": r["message"],
                    "settings_compared": r["notes"],
                    "reproduce": f"python benchmarks/translation_validation.py --case {r['id']}",
                }
                (folder / "case.json").write_text(json.dumps(info, indent=1) + "\n")
        if n["ran"] % 100 == 0:
            write()
            print(
                f"{n['ran']} ran, {n['validated']} validated, {round(time.time() - start)} s: "
                f"builds {dict(builds)} findings {len(sigs)}",
                flush=True,
            )

    Pool(args.workers).map(requests(), on_result)
    write()
    f = figures()
    print(json.dumps({k: v for k, v in f.items() if k != "findings"}, indent=1))
    for s, info in f["findings"].items():
        print(f"{info['count']:6d}  {s}  (first {info['first']})")
    if n["validated"] < args.specs:
        print(f"NOTE: {n['validated']} of {args.specs} specs validated (time limit)")
    return 1 if f["differences"] or f["refused"] or f["build_tracebacks"] or f["check_tracebacks"] else 0


if __name__ == "__main__":
    sys.exit(main())
