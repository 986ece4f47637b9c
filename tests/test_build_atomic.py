"""Crash-consistent builds: kill -9 at random points, concurrent builds, failures while writing.

Writers run as child processes whose file-system calls (``os.replace``, ``rename``, ``link``,
``unlink``, ``rmdir``, ``mkdir``, ``fsync``) are slowed down, as on a network filesystem, and
announce each call on stderr before making it; the parent kills them with SIGKILL after a random
number of calls (plus a random fraction of the delay), so kills land before and after every step
of the protocol. Every set of files carries its build id in its content: after each kill the next
reader (``recover``) or the next run must find the old complete set or the new complete set, and
no staging debris. ``benchmarks/kill_builds.py`` runs the same harness for longer and against the
real ``archc build``; ``ARCHC_KILL_TRIALS=N`` lengthens the slices here.
"""

from __future__ import annotations

import errno
import fcntl
import inspect
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import archc.build
from archc.build import TXN_PREFIX, locked, recover, write_atomic

BUILD_PY = Path(archc.build.__file__).resolve()
NAMES = ("net.py", "net.summary.json", "net.svg")
OTHER = "other.py"  # another network's file in the same folder: never touched
TRIALS = int(os.environ.get("ARCHC_KILL_TRIALS", "0"))

# Imported first by every child: slow down and announce each file-system call.
SLOW = r"""
import os, sys, time
DELAY = {"replace": float(os.environ["SLOW_REPLACE"]), "other": float(os.environ["SLOW_OTHER"])}
HOLD = os.environ.get("SLOW_HOLD")  # a call to wait at until killed
def slowed(name, fn):
    delay = DELAY["replace" if name == "replace" else "other"]
    def wrapper(*args, **kwargs):
        what = args[1] if name in ("replace", "rename", "link") else (args[0] if args else "")
        what = what if isinstance(what, int) else os.path.basename(os.fsdecode(what))
        sys.stderr.write(f"@{name} {what}\n")
        sys.stderr.flush()
        time.sleep(60 if f"{name} {what}" == HOLD else delay)
        return fn(*args, **kwargs)
    return wrapper
for name in ("replace", "rename", "link", "unlink", "rmdir", "mkdir", "fsync"):
    setattr(os, name, slowed(name, getattr(os, name)))
"""

# A writer of synthetic sets: build.py is loaded by path, so a child starts in milliseconds
# instead of importing the whole compiler (the benchmark kills the real `archc build`).
LOAD = r"""
import importlib.util, pathlib, sys
spec = importlib.util.spec_from_file_location("archc_build", sys.argv[1])
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)
"""
WRITER = (
    LOAD
    + r"""
folder, bid = pathlib.Path(sys.argv[2]), int(sys.argv[3])
build.write_atomic({folder / name: content(name, bid) for name in NAMES})
"""
)


def content(name: str, bid: int) -> bytes:
    """The file ``name`` of build ``bid``: its id on every line, a few KiB like a real output."""
    return f"{name}: build {bid}\n".encode() * 200


CONTENT_SRC = f"NAMES = {NAMES!r}\n" + inspect.getsource(content)


def synthetic_cmd(folder: Path) -> Callable[[int], list[str]]:
    def cmd(bid: int) -> list[str]:
        return [sys.executable, "-c", SLOW + CONTENT_SRC + WRITER, str(BUILD_PY), str(folder), str(bid)]

    return cmd


def synthetic_sets(ids: Iterable[int]) -> dict[int, dict[str, bytes]]:
    return {bid: {name: content(name, bid) for name in NAMES} for bid in ids}


# The real command: `archc build SPEC -o FOLDER --set width=ID`, slowed like the synthetic writer.
SPEC = "network net(width=4):\n    input 3x8x8\n    x -> conv(width, k=1) -> relu\n"
CLI = r"""
from archc.cli import main
spec, folder, width = sys.argv[1:4]
sys.argv = ["archc", "build", spec, "-o", folder, "--set", f"width={width}"]
main()
"""


def cli_cmd(spec: Path, folder: Path) -> Callable[[int], list[str]]:
    def cmd(bid: int) -> list[str]:
        return [sys.executable, "-c", SLOW + CLI, str(spec), str(folder), str(bid)]

    return cmd


def cli_sets(spec: Path, ids: Iterable[int]) -> dict[int, dict[str, bytes]]:
    """What `archc build --set width=ID` writes, for each ID, computed in process."""
    from archc.api import compile_spec, parse_sets

    sets = {}
    for bid in ids:
        c = compile_spec(spec, sets=parse_sets([f"width={bid}"]))
        command = f"archc build {c.program.project_path(c.program.main)} --set width={bid}"
        files = archc.build.outputs(c, Path("."), print, command=command)
        sets[bid] = {path.name: data for path, data in files.items()}
    assert all(sorted(s) == sorted(NAMES) for s in sets.values()), "Graphviz is needed for the .svg"
    return sets


def state(folder: Path, sets: dict[int, dict[str, bytes]]) -> int | None:
    """The id of the complete set in ``folder``, or None for a mixture."""
    found = {name: (folder / name).read_bytes() if (folder / name).exists() else None for name in NAMES}
    ids = [bid for bid, files in sets.items() if all(found[n] == files[n] for n in NAMES)]
    return ids[0] if ids else None


def debris(folder: Path) -> list[str]:
    """Everything in ``folder`` that is neither a target nor the other network's file."""
    return sorted(p.name for p in folder.iterdir() if p.name not in (*NAMES, OTHER))


@dataclass
class Tally:
    """What a kill campaign saw: figures for the report, and the invariant checked every time."""

    trials: int = 0
    killed: int = 0
    raw_mixed: int = 0  # mixtures on disk right after a kill, before any recovery
    checks: int = 0  # times the next reader or the next run looked
    mixed: int = 0  # mixtures the next reader or run saw (must stay 0)
    leftovers: int = 0  # debris after the next reader or run (must stay 0)
    killed_at: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        mid = sum(v for k, v in self.killed_at.items() if k in (f"replace {NAMES[1]}", f"replace {NAMES[2]}"))
        return (
            f"{self.trials} trials, {self.killed} killed ({mid} between two renames of targets), "
            f"{self.raw_mixed} mixed on disk before recovery, {self.checks} checks: "
            f"{self.mixed} mixed sets, {self.leftovers} leftover temporaries"
        )


def run_child(cmd: list[str], kill_at: int | str | None, offset: float = 0) -> tuple[list[str], bool]:
    """Run a slowed writer; SIGKILL it ``offset`` seconds after it announces its ``kill_at``-th
    call (made or not by then, at random), or just before it makes the call ``kill_at`` (such as
    ``"replace net.svg"``, where it waits). Returns the calls it announced and whether it died
    by the kill."""
    env = {**os.environ, "SLOW_REPLACE": str(SLOW_DELAYS[0]), "SLOW_OTHER": str(SLOW_DELAYS[1])}
    if isinstance(kill_at, str):
        env["SLOW_HOLD"] = kill_at
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    calls: list[str] = []
    other: list[str] = []
    killed = False
    for line in proc.stderr:
        if not line.startswith("@"):
            other.append(line)
            continue
        calls.append(line[1:].strip())
        if kill_at in (len(calls), calls[-1]):
            time.sleep(offset)
            proc.kill()
            killed = proc.wait() == -9
            break
    rest = proc.stderr.read()
    proc.wait()
    if not killed:
        assert proc.returncode == 0, "".join(other) + rest
    return calls, killed


SLOW_DELAYS = (0.004, 0.001)  # seconds before each os.replace, and before each other call


def kill_campaign(
    folder: Path,
    trials: int,
    seed: int,
    cmd: Callable[[int], list[str]],
    sets: dict[int, dict[str, bytes]],
    next_id: Callable[[int], int],
) -> Tally:
    """Kill writers at random calls; after each kill the next reader, the next complete run or
    the next (itself killed) writer takes over, and whoever looks finds one complete set.

    ``sets[0]`` must be in ``folder`` already; ``next_id(t)`` is trial t's build id.
    """
    rng = random.Random(seed)
    other = (folder / OTHER).read_bytes()
    calls, _ = run_child(cmd(next_id(0)), None)  # calibrate: how many calls a whole build makes
    committed = {next_id(0)}
    tally = Tally()
    for t in range(1, trials + 1):
        bid = next_id(t)
        # every other kill aims between two renames of targets (the window a slow filesystem
        # widens; a build's own, or its recovery's of a killed build), the others at any call
        kill_at = f"replace {rng.choice(NAMES[1:])}" if t % 2 else rng.randint(1, len(calls) + 1)
        calls_now, killed = run_child(cmd(bid), kill_at, rng.uniform(0, SLOW_DELAYS[0]))
        tally.trials += 1
        if killed:
            tally.killed += 1
            op, what = calls_now[-1].split(" ", 1)
            what = "fd" if what.isdigit() else "txn" if what.startswith(TXN_PREFIX) else what
            tally.killed_at[f"{op} {what}"] += 1
        possible = committed | {bid}
        raw = state(folder, sets)
        tally.raw_mixed += raw is None
        how = "reader" if t == trials else rng.choice(["reader", "next run", "next writer"])
        if how == "next writer":  # leave it all to the next child, which may be killed in recovery
            committed = possible
            continue
        if how == "reader":
            recover(folder)
            found = state(folder, sets)
        else:
            bid = next_id(t + trials)
            run_child(cmd(bid), None)
            found, possible = state(folder, sets), {bid}
        tally.checks += 1
        tally.mixed += found is None or found not in possible
        tally.leftovers += len(debris(folder))
        assert found in possible, f"trial {t} ({how}): {found} not in {possible}; killed at {calls_now[-3:]}"
        assert debris(folder) == [], f"trial {t} ({how}): left {debris(folder)}"
        assert (folder / OTHER).read_bytes() == other
        committed = {found}
    return tally


def concurrent_campaign(
    folder: Path,
    rounds: int,
    seed: int,
    cmd: Callable[[int], list[str]],
    sets: dict[int, dict[str, bytes]],
    next_id: Callable[[int], int],
    kill: bool,
) -> Tally:
    """Two writers of different sets at once, ``rounds`` times; with ``kill``, one of them is
    killed at a random moment. A reader under the lock snapshots the folder all along."""
    rng = random.Random(seed)
    env = {**os.environ, "SLOW_REPLACE": str(SLOW_DELAYS[0]), "SLOW_OTHER": str(SLOW_DELAYS[1])}
    committed = state(folder, sets)
    tally = Tally()
    for r in range(rounds):
        ids = (next_id(2 * r + 1), next_id(2 * r + 2))
        procs = [
            subprocess.Popen(cmd(bid), stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
            for bid in ids
        ]
        victim, kill_at = rng.randrange(2), time.monotonic() + rng.uniform(0, 0.3)
        while any(p.poll() is None for p in procs):
            if kill and time.monotonic() > kill_at and procs[victim].poll() is None:
                procs[victim].kill()
            with locked(folder):  # a reader that takes the lock sees whole sets only
                tally.checks += 1
                tally.mixed += state(folder, sets) is None
            time.sleep(0.002)
        tally.trials += 1
        tally.killed += procs[victim].returncode == -9
        assert all(p.returncode == 0 or (kill and i == victim) for i, p in enumerate(procs))
        recover(folder)
        found = state(folder, sets)
        tally.mixed += found not in {committed, *ids}
        tally.leftovers += len(debris(folder))
        committed = found
    assert tally.mixed == tally.leftovers == 0, tally.line()
    return tally


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "generated"
    out.mkdir()
    (out / OTHER).write_text("another network's module\n")
    return out


def test_kill_between_renames_leaves_a_mixture_that_recovery_undoes(folder: Path) -> None:
    sets = synthetic_sets(range(3))
    write_atomic({folder / n: sets[0][n] for n in NAMES})
    calls, killed = run_child(synthetic_cmd(folder)(1), "replace net.summary.json")
    assert killed and calls[-2:] == ["replace net.py", "replace net.summary.json"]
    assert state(folder, sets) is None  # the window the journal is for: net.py is new, the rest old
    assert any(p.name.startswith(TXN_PREFIX) for p in folder.iterdir())
    recover(folder)
    assert state(folder, sets) == 0 and debris(folder) == []


def test_kill_at_random_points_leaves_old_or_new_set(folder: Path) -> None:
    trials = TRIALS or 10
    sets = synthetic_sets(range(2 * trials + 1))
    write_atomic({folder / n: sets[0][n] for n in NAMES})
    tally = kill_campaign(folder, trials, 2024, synthetic_cmd(folder), sets, lambda t: t)
    print(tally.line())
    assert tally.killed >= trials * 3 // 4  # most trials were really killed mid-write
    assert tally.raw_mixed > 0  # and some left a mixture for the next reader to undo
    assert tally.mixed == tally.leftovers == 0


@pytest.mark.parametrize("kill", [False, True], ids=["both finish", "one killed"])
def test_concurrent_builds_never_mix(folder: Path, kill: bool) -> None:
    rounds = max(TRIALS // 10, 2)
    sets = synthetic_sets(range(2 * rounds + 1))
    write_atomic({folder / n: sets[0][n] for n in NAMES})
    tally = concurrent_campaign(folder, rounds, 7, synthetic_cmd(folder), sets, lambda t: t, kill)
    assert tally.checks > rounds and tally.mixed == tally.leftovers == 0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by `make test`")
def test_archc_build_killed_between_renames(tmp_path: Path, folder: Path) -> None:
    from typer.testing import CliRunner

    from archc.cli import app

    spec = tmp_path / "net.arch"
    spec.write_text(SPEC)
    sets = cli_sets(spec, [5, 6, 7])
    cmd = cli_cmd(spec, folder)
    result = CliRunner().invoke(app, ["build", str(spec), "-o", str(folder), "--set", "width=5"])
    assert result.exit_code == 0 and state(folder, sets) == 5
    calls, killed = run_child(cmd(6), "replace net.svg")
    assert killed and calls[-1] == "replace net.svg"
    assert state(folder, sets) is None  # .py and .json of width 6, .svg of width 5
    result = CliRunner().invoke(app, ["build", str(spec), "-o", str(folder), "--set", "width=7"])
    assert result.exit_code == 0, result.output
    assert state(folder, sets) == 7 and debris(folder) == []


def test_a_kill_during_recovery_is_recovered_by_the_next_run(folder: Path) -> None:
    sets = synthetic_sets(range(4))
    write_atomic({folder / n: sets[0][n] for n in NAMES})
    run_child(synthetic_cmd(folder)(1), "replace net.svg")  # two targets new
    assert state(folder, sets) is None
    calls, killed = run_child(synthetic_cmd(folder)(2), "replace net.summary.json")  # rolling back
    assert killed and calls == ["replace net.py", "replace net.summary.json"]
    assert state(folder, sets) is None
    write_atomic({folder / n: sets[0][n] for n in NAMES})  # the next archc run
    assert state(folder, sets) == 0 and debris(folder) == []


def ops_of_one_write(folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for name in ("replace", "rename", "link", "unlink", "rmdir", "mkdir", "fsync"):
        real = getattr(os, name)

        def spy(
            *args: object, _real: Callable[..., object] = real, _name: str = name, **kw: object
        ) -> object:
            calls.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(os, name, spy)
    write_atomic({folder / n: b"probe" for n in NAMES})
    monkeypatch.undo()
    return calls


@pytest.mark.parametrize("persistent", [False, True], ids=["one failure", "failing from then on"])
def test_a_failure_at_any_call_leaves_the_old_set(
    folder: Path, monkeypatch: pytest.MonkeyPatch, persistent: bool
) -> None:
    """ENOSPC (or EROFS) injected into each file-system call of a write in turn."""
    sets = synthetic_sets(range(2))
    n_calls = len(ops_of_one_write(folder, monkeypatch))
    outcomes = Counter[str]()
    for k in range(1, n_calls + 1):
        write_atomic({folder / n: sets[0][n] for n in NAMES})
        count = 0
        for name in ("replace", "rename", "link", "unlink", "rmdir", "mkdir", "fsync"):
            real = getattr(os, name)

            def failing(
                *args: object, _real: Callable[..., object] = real, _k: int = k, **kw: object
            ) -> object:
                nonlocal count
                count += 1
                if count == _k or (persistent and count > _k):
                    raise OSError(errno.ENOSPC if count == _k else errno.EROFS, "injected")
                return _real(*args, **kw)

            monkeypatch.setattr(os, name, failing)
        try:
            write_atomic({folder / n: sets[1][n] for n in NAMES})
        except OSError:
            monkeypatch.undo()
            if not persistent:  # rolled back in process: nothing left to recover
                assert state(folder, sets) == 0 and debris(folder) == [], f"call {k}"
            recover(folder)
            assert state(folder, sets) == 0 and debris(folder) == [], f"call {k}"
            outcomes["failed, old set"] += 1
        else:  # the failure came after the commit point: the new set stands, debris goes later
            monkeypatch.undo()
            assert state(folder, sets) == 1, f"call {k}"
            recover(folder)
            assert debris(folder) == [], f"call {k}"
            outcomes["committed, new set"] += 1
    assert outcomes["failed, old set"] >= n_calls // 2


def test_full_disk_names_the_folder_and_leaves_nothing(folder: Path) -> None:
    """A real write failure: a file-size limit makes the kernel refuse the staged file's data."""
    (folder / "net.py").write_text("old")
    script = LOAD + (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        "folder = pathlib.Path(sys.argv[2])\n"
        "try:\n"
        "    build.write_atomic({folder / 'net.py': b'x' * 5000, folder / 'net.svg': b'y'})\n"
        "except OSError as e:\n"
        "    print(e.errno, e.filename)\n"
    )
    cmd = [sys.executable, "-c", script, str(BUILD_PY), str(folder)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(errno.EFBIG), str(folder)]
    assert (folder / "net.py").read_text() == "old"
    assert debris(folder) == []


def test_read_only_folder_is_refused_and_left_alone(folder: Path) -> None:
    """A folder without write permission, or, as root (who writes anyway), a read-only mount."""
    (folder / "net.py").write_text("old")
    script = LOAD + (
        "folder = pathlib.Path(sys.argv[2])\n"
        "try:\n"
        "    build.write_atomic({folder / 'net.py': b'new', folder / 'net.svg': b'new'})\n"
        "except OSError as e:\n"
        "    print(e.errno, e.filename)\n"
    )
    cmd = [sys.executable, "-c", script, str(BUILD_PY), str(folder)]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("root writes into read-only folders, and unshare is missing")
        mount = f"mount --bind {shlex.quote(str(folder))} {shlex.quote(str(folder))}"
        mount += f" && mount -o remount,ro,bind {shlex.quote(str(folder))}"
        probe = subprocess.run(["unshare", "-m", "sh", "-c", mount], capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"root writes into read-only folders, and cannot mount one: {probe.stderr.strip()}")
        cmd = ["unshare", "-m", "sh", "-c", f"{mount} && exec {shlex.join(cmd)}"]
        expected = errno.EROFS
    else:
        folder.chmod(0o555)
        expected = errno.EACCES
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    finally:
        folder.chmod(0o755)
    assert out.stdout.split() == [str(expected), str(folder)]
    assert (folder / "net.py").read_text() == "old" and debris(folder) == []


def test_not_a_file_is_an_error_before_anything_is_written(folder: Path) -> None:
    (folder / "net.py").write_text("old")
    (folder / "net.svg").mkdir()
    with pytest.raises(IsADirectoryError, match="exists and is not a file"):
        write_atomic({folder / "net.py": b"new", folder / "net.svg": b"new"})
    assert (folder / "net.py").read_text() == "old" and (folder / "net.svg").is_dir()
    assert debris(folder) == []


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077], ids=oct)
def test_written_files_follow_the_umask(folder: Path, mask: int) -> None:
    (folder / "net.py").write_text("old")
    (folder / "net.py").chmod(0o600)
    old = os.umask(mask)
    try:
        write_atomic({folder / "net.py": b"new", folder / "net.svg": b"new"})
    finally:
        os.umask(old)
    for name in ("net.py", "net.svg"):
        assert (folder / name).stat().st_mode & 0o777 == 0o666 & ~mask


def test_missing_folders_are_created(tmp_path: Path) -> None:
    write_atomic({tmp_path / "a" / "b" / "net.py": b"new"})
    assert (tmp_path / "a" / "b" / "net.py").read_bytes() == b"new"
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["net.py"]


def test_one_folder_per_write_and_reserved_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one folder"):
        write_atomic({tmp_path / "a.py": b"", tmp_path / "sub" / "b.py": b""})
    with pytest.raises(OSError, match="reserved"):
        write_atomic({tmp_path / f"{TXN_PREFIX}x": b""})
    assert list(tmp_path.iterdir()) == []


def test_older_archc_temporaries_are_removed(folder: Path) -> None:
    stale = [".net.py.k2j_9xq0.tmp", ".net.py.k2j_9xq0.tmp.old", ".net.svg.a1b2c3d4.tmp"]
    for name in [*stale, ".keep", ".net.py.tmp"]:
        (folder / name).write_text("x")
    write_atomic({folder / "net.py": b"new"})
    assert debris(folder) == [".keep", ".net.py.tmp"]


def test_an_unreadable_journal_is_reported_not_guessed(folder: Path) -> None:
    (folder / "net.py").write_text("old")
    txn = folder / f"{TXN_PREFIX}broken"
    txn.mkdir()
    (txn / "journal").write_text("{not json")
    with pytest.raises(OSError, match="unreadable build journal"):
        write_atomic({folder / "net.py": b"new"})
    assert (folder / "net.py").read_text() == "old"


def test_without_directory_locks_a_lock_file_serves(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_flock(fd: int, op: int) -> None:
        raise OSError(errno.EBADF, "flock on a directory")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    write_atomic({folder / "net.py": b"new"})
    assert debris(folder) == [archc.build.LOCK_FILE]
    assert (folder / "net.py").read_bytes() == b"new"
    monkeypatch.setattr(fcntl, "lockf", no_flock)  # no locks at all: the write still goes through
    write_atomic({folder / "net.py": b"newer"})
    assert (folder / "net.py").read_bytes() == b"newer" and debris(folder) == [archc.build.LOCK_FILE]
