"""A fuzzing campaign: many cases through a :class:`fuzz.runner.Pool`, tallied into figures,
with failures grouped by signature, reduced and written out as reproductions."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fuzz.corpus import corpus, corpus_digest
from fuzz.mutate import Case, case_id, make_case
from fuzz.runner import CHECK_BUDGET_S, MEMORY_BUDGET_MIB, Pool, Worker, import_canaries

CANARY_EVERY = 10  # every this many cases (by index), a compiled case's module is imported too


class Tally:
    """The running figures of a campaign."""

    def __init__(self, seed: int, target: int) -> None:
        self.seed, self.target = seed, target
        self.start = time.time()
        self.n = 0
        self.cls: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.build: Counter[str] = Counter()
        self.max_cpu = (0.0, "")
        self.max_wall = (0.0, "")
        self.max_build = (0.0, "")
        self.max_peak = (0.0, "")
        self.baseline = 0.0
        self.signatures: dict[str, list[str]] = {}
        self.results: dict[str, dict[str, Any]] = {}  # first failing result of each signature
        self.canary = {"saved": 0, "imported": 0, "import_failed": 0, "executions": 0}
        self.canary_failures: dict[str, str] = {}
        self.canary_markers: list[str] = []
        self.restarts = 0

    def add(self, r: dict[str, Any]) -> None:
        self.n += 1
        self.cls[r["cls"]] += 1
        self.kinds[r["kind"]] += 1
        if r["build"]:
            self.build[r["build"]] += 1
        for attr, key in (
            ("max_cpu", "cpu_s"),
            ("max_wall", "wall_s"),
            ("max_build", "build_s"),
            ("max_peak", "peak_mib"),
        ):
            if r[key] > getattr(self, attr)[0]:
                setattr(self, attr, (r[key], r["id"]))
        if r["canary_file"]:
            self.canary["saved"] += 1
        failed = r["cls"] in ("traceback", "hang", "memory", "unlocated") or r["build"] in (
            "differs",
            "traceback",
            "hang",
            "refused",
        )
        if failed:
            sig = r["signature"] or f"{r['cls']}/{r['build']}"
            self.signatures.setdefault(sig, []).append(r["id"])
            self.results.setdefault(sig, r)

    def figures(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "target_cases": self.target,
            "cases": self.n,
            "corpus": {"specs": len(corpus()), "digest": corpus_digest()},
            "seconds": round(time.time() - self.start, 1),
            "budgets": {"check_cpu_s": CHECK_BUDGET_S, "memory_mib_above_baseline": MEMORY_BUDGET_MIB},
            "outcomes": dict(sorted(self.cls.items())),
            "kinds": dict(sorted(self.kinds.items())),
            "tracebacks": self.cls["traceback"],
            "hangs": self.cls["hang"],
            "memory": self.cls["memory"],
            "unlocated_errors": self.cls["unlocated"],
            "compiled": self.cls["ok"],
            "builds": dict(sorted(self.build.items())),
            "validation_differences": self.build["differs"],
            "build_tracebacks": self.build["traceback"],
            "build_refused": self.build["refused"],
            "max_check_cpu_s": {"value": round(self.max_cpu[0], 3), "case": self.max_cpu[1]},
            "max_check_wall_s": {"value": round(self.max_wall[0], 3), "case": self.max_wall[1]},
            "max_build_cpu_s": {"value": round(self.max_build[0], 3), "case": self.max_build[1]},
            "max_peak_rss_mib": {"value": round(self.max_peak[0], 1), "case": self.max_peak[1]},
            "worker_baseline_rss_mib": round(self.baseline, 1),
            "worker_restarts": self.restarts,
            "canary": {
                **self.canary,
                "failures": dict(list(self.canary_failures.items())[:20]),
                "markers": self.canary_markers,
            },
            "failures": {
                sig: {
                    "count": len(ids),
                    "first": ids[0],
                    "ids": ids[:20],
                    "message": self.results[sig]["message"][:300],
                }
                for sig, ids in sorted(self.signatures.items(), key=lambda kv: -len(kv[1]))
            },
        }


def run_campaign(
    *,
    seed: int,
    cases: int,
    workers: int,
    out: Path,
    start: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
) -> Tally:
    """Run cases ``start .. start + cases`` of ``seed``; writes ``out/figures.json`` as it goes."""
    out = out.resolve()  # the workers run in their own working folders
    out.mkdir(parents=True, exist_ok=True)
    canary_dir = out / "canary"
    canary_dir.mkdir(exist_ok=True)
    tally = Tally(seed, cases)
    deadline = time.time() + time_limit if time_limit else None
    canary_lock = threading.Lock()

    def requests() -> Iterator[dict[str, Any]]:
        for i in range(start, start + cases):
            if deadline and time.time() > deadline:
                return
            yield {"id": case_id(seed, i), "canary_dir": str(canary_dir), "sample": i % CANARY_EVERY == 0}

    def canaries() -> None:
        with canary_lock:
            found = import_canaries(canary_dir)
        tally.canary["imported"] += found["imported"]
        tally.canary["import_failed"] += len(found["failed"])
        tally.canary_failures.update(found["failed"])
        new = [m for m in found["executions"] if m not in tally.canary_markers]
        tally.canary_markers += new
        tally.canary["executions"] = len(tally.canary_markers)

    def on_result(req: dict[str, Any], r: dict[str, Any]) -> None:
        tally.add(r)
        if tally.n % 2000 == 0:
            threading.Thread(target=canaries, daemon=True).start()
        if tally.n % 250 == 0:
            write_figures(out, tally)
            if progress:
                f = tally.figures()
                print(
                    f"{tally.n} cases, {f['seconds']} s: {f['outcomes']} builds {f['builds']} "
                    f"signatures {len(tally.signatures)}",
                    flush=True,
                )

    pool = Pool(workers)
    w = Worker()  # a worker's resident size before any case: the memory baseline
    tally.baseline = w.baseline_mib
    w.close()
    pool.map(requests(), on_result)
    tally.restarts = pool.restarts
    canaries()
    write_figures(out, tally)
    return tally


def write_figures(out: Path, tally: Tally) -> None:
    tmp = out / "figures.json.tmp"
    tmp.write_text(json.dumps(tally.figures(), indent=1, sort_keys=False) + "\n")
    os.replace(tmp, out / "figures.json")


def reproduction(case: Case, result: dict[str, Any], count: int) -> dict[str, Any]:
    """What a person needs to see a failure again."""
    args = [repr(case.name)] + [f"--set {s!r}" for s in case.sets]
    if case.input:
        args.append(f"--input {case.input}")
    if case.network:
        args.append(f"--network {case.network}")
    return {
        "id": case.id,
        "kind": case.kind,
        "source": case.source,
        "folder": case.folder,
        "file_name": repr(case.name),
        "sets": list(case.sets),
        "input": case.input,
        "network": case.network,
        "extras": [name for name, _ in case.extras],
        "outcome": result["cls"],
        "build": result["build"],
        "signature": result["signature"],
        "message": result["message"],
        "differences": result["differences"],
        "traceback": result["notes"][-1] if result["notes"] and "Traceback" in result["notes"][-1] else "",
        "cases_with_this_signature": count,
        "reproduce": f"python benchmarks/fuzz_campaign.py --case {case.id}",
        "command": f"cd <a copy of the repo>/{case.folder} && archc check " + " ".join(args),
    }


def reduce(worker: Worker, case: Case, sig: str, budget: int = 120) -> bytes:
    """The smallest spec (by whole lines, then by characters of lines) whose run still fails
    with signature ``sig``; at most ``budget`` runs."""
    runs = 0

    def same(data: bytes) -> bool:
        nonlocal runs
        runs += 1
        r = worker.run({"id": case.id, "data": data.hex(), "sample": False})
        return isinstance(r, dict) and (r["signature"] or f"{r['cls']}/{r['build']}") == sig

    lines = case.data.split(b"\n")
    chunk = max(1, len(lines) // 2)
    while chunk >= 1 and runs < budget:
        i = 0
        changed = False
        while i < len(lines) and runs < budget:
            trial = lines[:i] + lines[i + chunk :]
            if trial and same(b"\n".join(trial)):
                lines = trial
                changed = True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    return b"\n".join(lines)


def write_failures(out: Path, tally: Tally, *, reduce_budget: int = 120, reduce_time: float = 600) -> None:
    """One folder per signature under ``out/failures``: the case (``original.arch``), its reduced
    spec (``spec.arch``) and ``case.json``."""
    root = out / "failures"
    root.mkdir(parents=True, exist_ok=True)
    worker: Worker | None = None
    stop = time.time() + reduce_time
    for n, (sig, ids) in enumerate(sorted(tally.signatures.items(), key=lambda kv: -len(kv[1]))):
        first = tally.results[sig]
        case = make_case(first["id"])
        folder = root / f"{n:02d}-{first['cls']}{'-' + first['build'] if first['build'] else ''}-{case.id}"
        folder.mkdir(exist_ok=True)
        (folder / "original.arch").write_bytes(case.data)
        info = reproduction(case, first, len(ids))
        reduced = case.data
        if first["cls"] not in ("hang", "memory") and first["build"] != "hang" and time.time() < stop:
            if worker is None:
                worker = Worker()
            try:
                reduced = reduce(worker, case, sig, reduce_budget)
            except Exception as e:  # reduction is best effort
                info["reduce_error"] = repr(e)
                worker.kill()
                worker = None
        (folder / "spec.arch").write_bytes(reduced)
        info["reduced_lines"] = reduced.count(b"\n") + 1
        (folder / "case.json").write_text(json.dumps(info, indent=1) + "\n")
    if worker is not None:
        worker.close()
