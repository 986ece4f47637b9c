"""Running fuzz cases: in-process checks with a time and memory budget, classified.

:func:`run_case` is the unit: it writes the case's files into a mirror of the corpus, runs what
``archc check`` runs (``compile_from_cli`` then ``check_line``) under a CPU-time budget
(``ITIMER_PROF``, raised as :class:`Budget`, which archc's ``except Exception`` cannot swallow),
and classifies the outcome:

``ok``          the spec compiled
``error``       an :class:`ArchcError` (a located diagnostic, or a usage error), or an
                ``OSError`` the CLI reports as a message (exit 2)
``unlocated``   an ``ArchcError`` whose diagnostics point nowhere in a spec
``traceback``   any other exception: what the CLI would print as a traceback
``hang``        over the CPU budget (or, in a worker, the wall-clock backstop)
``memory``      a ``MemoryError``, or (in a worker) resident memory over the budget

What compiles is then built: the emitted module is executed and constructed on the meta device
and compared with the analysis (:func:`archc.validate.validate`; ``build`` is ``same``,
``differs``, ``refused`` for an ``ArchcError``, ``traceback`` or ``hang``).  Cases carrying a
canary, and a sample of the others, have their emitted source saved for :func:`import_canaries`,
which imports each in a fresh Python process whose working folder is watched for markers.

:class:`Pool` runs cases in worker processes (``python -c`` over this module) and adds the
wall-clock and resident-memory budgets, restarting a worker it had to kill.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fuzz.corpus import ROOT, mirror
from fuzz.mutate import Case, make_case

CHECK_BUDGET_S = 5.0  # CPU seconds for one check
BUILD_BUDGET_S = 30.0  # CPU seconds for building and comparing one compiled case
WALL_BACKSTOP_S = 90.0  # a worker silent this long is killed (a hang outside Python's reach)
MEMORY_BUDGET_MIB = 1536  # resident memory above the worker's baseline before it is killed


class Budget(BaseException):
    """The case ran past its CPU budget (a ``BaseException``, so ``except Exception`` in the
    code under test cannot swallow it)."""


@dataclass
class Result:
    """What one case did."""

    id: str
    kind: str
    cls: str  # ok, error, unlocated, traceback, hang, memory
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_mib: float = 0.0  # resident high-water mark during the case
    message: str = ""
    signature: str = ""
    build: str = ""  # "", same, differs, refused, traceback, hang
    build_s: float = 0.0
    differences: list[str] = field(default_factory=list)
    canary_file: str = ""  # emitted source saved for the canary import
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.cls in ("traceback", "hang", "memory", "unlocated") or self.build in (
            "differs",
            "traceback",
            "hang",
            "refused",
        )


def _on_prof(signum: int, frame: Any) -> None:
    raise Budget()


def _rss_kib(field_name: str, pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def signature(e: BaseException) -> str:
    """Where an exception was raised, as ``Type@file:line`` of the innermost archc frame (the
    message left out, digits folded), to deduplicate findings."""
    frames = traceback.extract_tb(e.__traceback__)
    mine = [f for f in frames if "archc" in f.filename or "/dsl/" in f.filename or "/codegen/" in f.filename]
    picked = mine or list(frames)
    where = f"{Path(picked[-1].filename).name}:{picked[-1].lineno}" if picked else "?"
    return f"{type(e).__name__}@{where}"


def fold(message: str) -> str:
    """A message with numbers and quoted names folded, to group alike differences."""
    return re.sub(r"'[^']*'|\d[\d,]*", "#", message)[:160]


@contextmanager
def entered_workspace() -> Iterator[Workspace]:
    """A fresh :class:`Workspace`, the process's working folder inside it until the block ends."""
    ws = Workspace()
    cwd = os.getcwd()
    os.chdir(ws.root)
    try:
        yield ws
    finally:
        os.chdir(cwd)


class Workspace:
    """A mirror of the corpus to write cases into, with the process's working folder inside it
    (so that paths print as they would in a checkout: ``specs/...``)."""

    def __init__(self, root: Path | None = None) -> None:
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="archc-fuzz-")
        self.root = mirror(Path(root or self._tmp.name))  # type: ignore[union-attr]

    def write(self, case: Case) -> tuple[Path, list[Path]]:
        """Write the case's files; returns the spec's path (relative) and every path to remove."""
        folder = self.root / case.folder
        spec = folder / case.name
        made: list[Path] = []
        parent = spec.parent
        if not parent.exists():
            os.makedirs(os.fsencode(parent), exist_ok=True)
            made.append(parent)
        with open(os.fsencode(spec), "wb") as f:
            f.write(case.data)
        made.insert(0, spec)
        for name, data in case.extras:
            p = folder / name
            if data is None:
                os.mkfifo(os.fsencode(p))
            else:
                p.write_bytes(data)
            made.insert(0, p)
        return spec.relative_to(self.root), made

    def clean(self, made: list[Path]) -> None:
        for p in made:
            try:
                if os.path.isdir(os.fsencode(p)):
                    os.rmdir(os.fsencode(p))
                else:
                    os.unlink(os.fsencode(p))
            except OSError:
                pass


def run_case(
    case: Case,
    ws: Workspace,
    *,
    build: bool = True,
    canary_dir: Path | None = None,
    sample: bool = False,
    check_budget: float = CHECK_BUDGET_S,
    build_budget: float = BUILD_BUDGET_S,
) -> Result:
    """Run one case in this process (whose working folder must be ``ws.root``)."""
    from archc.cli.common import compile_from_cli
    from archc.dsl.diagnostics import ArchcError, UsageError
    from archc.summary import check_line

    res = Result(case.id, case.kind, "ok", notes=list(case.notes))
    what = _what(case)
    spec, made = ws.write(case)
    old = signal.signal(signal.SIGPROF, _on_prof)
    _reset_peak()
    c = None
    t0, w0 = time.process_time(), time.perf_counter()
    try:
        signal.setitimer(signal.ITIMER_PROF, check_budget)
        c = compile_from_cli(spec, case.network, list(case.sets), case.input)
        check_line(c)
        signal.setitimer(signal.ITIMER_PROF, 0)
    except Budget:
        res.cls, res.signature = "hang", f"hang:{what}"
    except ArchcError as e:
        signal.setitimer(signal.ITIMER_PROF, 0)
        try:
            res.message = e.render()[:400]
            located = isinstance(e, UsageError) or all(d.span.file != "<command line>" for d in e.diagnostics)
            res.cls = "error" if located else "unlocated"
            res.signature = f"unlocated:{fold(e.diagnostics[0].message)}" if not located else ""
        except Budget:
            res.cls, res.signature = "hang", f"hang-render:{case.kind}"
        except Exception as e2:  # rendering the diagnostic failed: the CLI would show a traceback
            res.cls, res.message, res.signature = "traceback", repr(e2)[:400], signature(e2)
    except OSError as e:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.cls, res.message = "error", f"OSError: {e}"[:400]
    except MemoryError:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.cls, res.signature = "memory", f"memory:{what}"
    except Exception as e:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.cls, res.message, res.signature = "traceback", f"{type(e).__name__}: {e}"[:400], signature(e)
        res.notes.append("".join(traceback.format_exception(e, limit=-6))[-1500:])
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.cpu_s = time.process_time() - t0
        res.wall_s = time.perf_counter() - w0
        res.peak_mib = _rss_kib("VmHWM") / 1024
    try:
        if c is not None and res.cls == "ok" and build:
            _build(case, c, res, build_budget)
        if c is not None and res.cls == "ok" and canary_dir is not None and (case.canary or sample):
            _save_for_canary(case, c, spec, canary_dir, res)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)
        ws.clean(made)
    return res


def _what(case: Case) -> str:
    """The kind of a case, with its form for generated ones (to group hangs)."""
    words = case.notes[0].split() if case.notes and case.kind in ("nesting", "layout", "use") else []
    return case.kind + (f":{words[0]}" if words else "")


def _build(case: Case, c: Any, res: Result, budget: float) -> None:
    """Build the emitted module on the meta device and compare it with the analysis."""
    from archc.dsl.diagnostics import ArchcError
    from archc.validate import validate

    t0 = time.process_time()
    try:
        signal.setitimer(signal.ITIMER_PROF, budget)
        report = validate(c, variants=0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.build = "same" if report.ok else "differs"
        res.differences = report.differences[:6]
        if not report.ok:
            res.signature = "differs:" + fold(report.differences[0])
    except Budget:
        res.build, res.signature = "hang", f"build-hang:{_what(case)}"
    except ArchcError as e:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.build, res.message, res.signature = (
            "refused",
            e.render()[:400],
            "refused:" + fold(e.diagnostics[0].message),
        )
    except Exception as e:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.build, res.message, res.signature = (
            "traceback",
            f"{type(e).__name__}: {e}"[:400],
            "build:" + signature(e),
        )
        res.notes.append("".join(traceback.format_exception(e, limit=-6))[-1500:])
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.build_s = time.process_time() - t0


def _save_for_canary(case: Case, c: Any, spec: Path, canary_dir: Path, res: Result) -> None:
    """Emit the module as ``archc build`` would (header, command and all) into ``canary_dir``."""
    from archc.codegen.emit import emit

    command = shlex.join(
        [
            "archc",
            "build",
            c.program.project_path(c.program.main),
            *(["--network", case.network] if case.network else []),
            *(arg for item in case.sets for arg in ("--set", item)),
            *(["--input", case.input] if case.input else []),
        ]
    )
    try:
        source = emit(c, command=command)
    except Exception:
        return  # a build that fails is counted by _build
    path = canary_dir / f"case_{case.id.replace('-', '_')}.py"
    try:
        tmp = path.with_suffix(".tmp")  # whole files only: the importer may be listing the folder
        tmp.write_text(source, encoding="utf-8", errors="surrogatepass")
        os.replace(tmp, path)
    except OSError as e:
        res.notes.append(f"canary source not saved: {e}")
        return
    res.canary_file = path.name


IMPORTER = r"""
import importlib.util, json, sys
import torch
torch.set_num_threads(1)
out = {}
for name in sys.argv[1:]:
    try:
        spec = importlib.util.spec_from_file_location(name[:-3], name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        classes = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
                   and v.__module__ == module.__name__]
        if classes:
            with torch.device("meta"):
                classes[-1]()
        out[name] = "ok"
    except BaseException as e:
        out[name] = f"{type(e).__name__}: {e}"[:300]
print(json.dumps(out))
"""


def import_canaries(canary_dir: Path, timeout: float = 600) -> dict[str, Any]:
    """Import every saved module in a fresh process whose working folder is ``canary_dir``,
    construct its network class on the meta device, and collect the canary markers that
    appeared.  Returns ``{"imported": n, "failed": {file: error}, "executions": [marker, ...]}``;
    the modules are removed, those that failed to import are moved to ``canary_dir/failed``."""
    files = sorted(p.name for p in canary_dir.glob("case_*.py"))
    if not files:
        return {"imported": 0, "failed": {}, "executions": []}
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTER, *files],
        cwd=canary_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        results = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        results = {f: f"importer failed: {proc.stderr[-300:]}" for f in files}
    markers = sorted(p.name for p in canary_dir.iterdir() if p.name.startswith("CANARY"))
    failed = {f: r for f, r in results.items() if r != "ok"}
    (canary_dir / "failed").mkdir(exist_ok=True)
    for f in files:  # each module is imported once; those that failed are kept aside
        if f in failed:
            os.replace(canary_dir / f, canary_dir / "failed" / f)
        else:
            (canary_dir / f).unlink()
    return {"imported": len(files) - len(failed), "failed": failed, "executions": markers}


# -- worker processes ---------------------------------------------------------------------------

WORKER = r"""
import sys
sys.path.insert(0, {tests!r})
from fuzz.runner import worker_main
worker_main()
"""


def worker_main() -> None:
    """Serve cases on stdin/stdout (one JSON object a line); the spec under test cannot write to
    the protocol's stdout (it is moved to another descriptor first)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    import torch

    torch.set_num_threads(1)
    import archc.cli.common
    import archc.summary
    import archc.validate  # noqa: F401

    ws = Workspace()
    os.chdir(ws.root)
    proto.write(json.dumps({"ready": _rss_kib("VmRSS") / 1024}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("mode") == "tv":
            from fuzz.translation import make_tv_case, run_tv

            proto.write(json.dumps(asdict(run_tv(make_tv_case(req["id"]), ws))) + "\n")
            continue
        case = make_case(req["id"])
        if "data" in req:  # a reduced variant of the case (see reduce)
            case = Case(**{**asdict(case), "data": bytes.fromhex(req["data"]), "extras": case.extras})
        canary = Path(req["canary_dir"]) if req.get("canary_dir") else None
        res = run_case(
            case, ws, build=req.get("build", True), canary_dir=canary, sample=req.get("sample", False)
        )
        proto.write(json.dumps(asdict(res)) + "\n")


def _worker_log() -> Any:
    """Where workers' stderr goes: ``$FUZZ_WORKER_LOG`` (appended) when set, else nowhere."""
    path = os.environ.get("FUZZ_WORKER_LOG")
    return open(path, "a") if path else subprocess.DEVNULL


class Worker:
    """One worker process and the budgets the parent enforces on it."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER.format(tests=str(ROOT / "tests"))],  # as nice as its parent
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=_worker_log(),
            text=True,
            bufsize=1,
        )
        ready = self._read(300)
        self.baseline_mib = float(json.loads(ready)["ready"]) if ready else 0.0

    def _read(self, timeout: float) -> str | None:
        assert self.proc.stdout is not None
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if r else None

    def run(
        self, req: dict[str, Any], wall: float = WALL_BACKSTOP_S, memory_mib: float = MEMORY_BUDGET_MIB
    ) -> dict[str, Any] | str:
        """The result of one request, or ``"hang"`` / ``"memory"`` / ``"died"`` when the parent
        had to kill the worker (then it must be replaced)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        start = time.monotonic()
        pid = self.proc.pid
        child = _child_pid(pid)
        peak = 0.0
        while True:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if r:
                line = self.proc.stdout.readline()
                if not line:
                    return "died"
                return json.loads(line)  # type: ignore[no-any-return]
            rss = _rss_kib("VmRSS", child) / 1024
            peak = max(peak, rss)
            if rss - self.baseline_mib > memory_mib:
                self.kill()
                return "memory"
            if time.monotonic() - start > wall:
                self.kill()
                return "hang"
            if self.proc.poll() is not None:
                return "died"

    def kill(self) -> None:
        try:
            self.proc.kill()
            for pid in (_child_pid(self.proc.pid),):
                if pid != self.proc.pid:
                    os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, OSError):
            pass
        self.proc.wait()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


def _child_pid(pid: int) -> int:
    """The python process under ``nice`` (nice execs it, so it is the same pid)."""
    return pid


class Pool:
    """``n`` workers running requests from many threads; a killed worker is replaced."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.restarts = 0

    def map(
        self, requests: Iterator[dict[str, Any]], on_result: Callable[[dict[str, Any], dict[str, Any]], None]
    ) -> None:
        lock = threading.Lock()
        it = iter(requests)

        def loop() -> None:
            w = Worker()
            try:
                while True:
                    with lock:
                        req = next(it, None)
                    if req is None:
                        return
                    out = w.run(req)
                    if isinstance(out, str):
                        res = asdict(
                            Result(
                                req["id"], req.get("mode", "fuzz"), "memory" if out == "memory" else "hang"
                            )
                        )
                        res["signature"] = f"{res['cls']}-killed:{res['kind']}"
                        res["message"] = f"worker {out}"
                        w = Worker()
                        with lock:
                            self.restarts += 1
                        out = res
                    with lock:
                        on_result(req, out)
            finally:
                w.close()

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(self.n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
