"""``archc build``: the emitted module, its summary and its diagram, written crash-consistently.

A build writes several files (``NAME.py``, ``NAME.summary.json``, ``NAME.svg``) into a folder
that holds other networks' files too, and users import them from their usual paths, so they stay
plain files there: no directory swap or symlink can switch the set at once. Instead
:func:`write_atomic` commits a set of files in one folder as a transaction with an undo journal:

1. **Lock.** The folder itself is opened and locked with ``fcntl.flock`` (exclusive). Writers,
   and readers that go through :func:`recover` or :func:`locked`, take turns; the kernel drops
   the lock of a killed process. No lock file is left behind (filesystems whose ``flock`` refuses
   a directory, such as NFS, fall back to a persistent ``.archc.lock`` file, locked with
   ``lockf``; where that fails too, writes go on unlocked: crash-consistent still, but two
   concurrent writers could interleave their renames).
2. **Recover.** Whatever a killed transaction left is undone first (step 6).
3. **Stage.** A fresh hidden folder ``.archc-txn-XXXXXXXX`` beside the targets receives every new
   file (``new.0``, ``new.1``, ...; each fsynced, created with mode ``0o666`` so that the umask
   decides its permissions like any file's) and a hard link to every existing target
   (``old.0``, ...; a copy where the filesystem has no hard links). Then the journal
   (``journal``: target names, which had an old version, the inode of each new file) is written
   to ``journal.tmp``, fsynced, renamed into place, and the staging folder is fsynced.
   A failure up to here (a full disk, a read-only folder) removes the staging folder: the
   targets were never touched.
4. **Replace.** Each staged file is renamed over its target (``os.replace``), then the folder is
   fsynced. While the journal exists, the old set is what counts: a failure here puts back every
   target from its backup (removing targets that did not exist before), in process.
5. **Commit.** Removing the journal (and fsyncing the staging folder) is the commit point; the
   staging folder with its backups is then removed. A failure after the commit is ignored: the
   new set is complete and the debris is removed by the next run.
6. **Recovery** (:func:`recover`, also step 2): a staging folder without a journal was either
   never committed to (targets untouched) or already committed (targets all new), so it is only
   removed; one with a journal belonged to a writer killed between steps 3 and 5, and is rolled
   back exactly as in step 4. Rolling back is idempotent, so a kill during recovery is recovered
   by the next one. Temporary files of archc versions before this scheme
   (``.NAME.XXXXXXXX.tmp`` and ``.tmp.old``) are removed too.

So a kill at any instant leaves, to the next archc run and to any reader that calls
:func:`recover` (or reads under :func:`locked`), the old complete set or the new complete set:
the new one exactly when :func:`write_atomic` had passed its commit point. A reader that opens the
files without the lock can see a mixture while a writer is between the first and the last rename
of step 4, or after it was killed there and before the next recovery; no scheme with plain files
at fixed paths can avoid that window, only keep it short. Concurrent builds into one folder are
serialised by the lock, so the folder ends with the complete set of whichever committed last.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled

TXN_PREFIX = ".archc-txn-"
"""Name prefix of a transaction's staging folder; a target may not start with ``.archc-``."""
LOCK_FILE = ".archc.lock"
"""The lock file, only on filesystems that cannot lock a directory."""
_JOURNAL = "journal"
# what earlier versions of archc left when killed: .NAME.XXXXXXXX.tmp (tempfile.mkstemp) and .tmp.old
_LEGACY_TMP = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp(\.old)?")


def write_atomic(files: dict[Path, bytes]) -> None:
    """Write every file or none, crash-consistently (see the module docstring).

    All targets must lie in one folder (created if missing). A target that exists and is not a
    file raises ``IsADirectoryError`` before anything is written; any other failure leaves the
    old files as they were and raises.
    """
    if not files:
        return
    folders = {os.path.normpath(os.path.abspath(t.parent)) for t in files}
    if len(folders) != 1:
        raise ValueError(f"write_atomic writes into one folder at a time, not {sorted(folders)}")
    folder = next(iter(files)).parent
    names: list[str] = []
    for target in files:
        if target.name in ("", ".", "..") or target.name.startswith(".archc-"):
            raise OSError(errno.EINVAL, "this name is reserved for archc's build journal", str(target))
        if target.exists() and not target.is_file():
            raise IsADirectoryError(f"{target} exists and is not a file")
        names.append(target.name)
    _make_folder(folder)
    with locked(folder) as dir_fd:
        _transaction(folder, dir_fd, list(zip(names, files.values(), strict=True)))


def recover(folder: Path) -> None:
    """Finish what a killed :func:`write_atomic` left in ``folder``: afterwards it holds a complete set.

    Waits for a writer that is still running. Readers call it before reading a folder that a
    build may have been killed writing into; every write calls it first.
    """
    if folder.is_dir():
        with locked(folder):
            pass


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[int]:
    """Hold ``folder``'s write lock (after recovering it); yields the folder's descriptor.

    Readers that must not see a writer's renames read inside it. Not reentrant: do not call
    :func:`write_atomic` on the same folder inside it.
    """
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    lock_fd = -1
    try:
        try:
            fcntl.flock(dir_fd, fcntl.LOCK_EX)
        except OSError:  # NFS emulates flock with POSIX locks, which need a descriptor open for writing
            try:
                lock_fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                fcntl.lockf(lock_fd, fcntl.LOCK_EX)
            except OSError:  # no locks at all: still crash-consistent, but concurrent writers may interleave
                pass
        _recover_locked(folder, dir_fd)
        yield dir_fd
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)
        os.close(dir_fd)


def _make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) durably: each new entry is fsynced in its parent."""
    missing = []
    f = folder
    while not f.exists() and f != f.parent:
        missing.append(f)
        f = f.parent
    for f in reversed(missing):
        with contextlib.suppress(FileExistsError):
            f.mkdir()
        _fsync_path(f.parent)


def _transaction(folder: Path, dir_fd: int, files: list[tuple[str, bytes]]) -> None:
    try:
        txn = Path(tempfile.mkdtemp(prefix=TXN_PREFIX, dir=folder))
    except OSError as e:  # a read-only folder: name the folder, not the staging folder
        raise OSError(e.errno, e.strerror, str(folder)) from e
    journal: list[dict[str, Any]] = []
    try:
        for i, (name, data) in enumerate(files):
            ino = _write_new(txn / f"new.{i}", data)
            journal.append({"name": name, "backup": _backup(folder / name, txn / f"old.{i}"), "new": ino})
        _write_new(txn / "journal.tmp", (json.dumps({"archc-journal": 1, "files": journal}) + "\n").encode())
        os.rename(txn / "journal.tmp", txn / _JOURNAL)
        _fsync_path(txn)
    except BaseException as e:
        with contextlib.suppress(OSError):  # no target was touched; debris goes with the next recovery
            _discard(txn)
        if isinstance(e, OSError) and e.errno:  # a full disk: name the folder, not the staging file
            raise OSError(e.errno, e.strerror, str(folder)) from e
        raise
    try:
        for i, (name, _) in enumerate(files):
            os.replace(txn / f"new.{i}", folder / name)
        os.fsync(dir_fd)
        os.unlink(txn / _JOURNAL)  # the commit point
    except BaseException as e:
        try:
            _rollback(folder, dir_fd, txn)
        except BaseException as undo:  # leave the journal for the next run's recovery
            e.add_note(f"archc: could not roll back yet ({undo}); the next write into {folder} will")
            raise e from None
        with contextlib.suppress(OSError):
            _discard(txn)
        raise
    with contextlib.suppress(OSError):  # committed; leftovers are removed by the next recovery
        _fsync_path(txn)
        _discard(txn)


def _write_new(path: Path, data: bytes) -> list[int]:
    """Create ``path`` with ``data``, durably; returns its (device, inode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)  # umask applies
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
        st = os.fstat(f.fileno())
    return [st.st_dev, st.st_ino]


def _backup(target: Path, backup: Path) -> bool:
    """Keep the current version of ``target`` as ``backup``; False when there is none."""
    try:
        os.link(target, backup, follow_symlinks=False)
    except FileNotFoundError:
        return False
    except OSError as e:  # no hard links on this filesystem (or too many): copy instead
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        shutil.copy2(target, backup, follow_symlinks=False)
        if not backup.is_symlink():
            with open(backup, "rb") as f:
                os.fsync(f.fileno())
    return True


def _rollback(folder: Path, dir_fd: int, txn: Path) -> None:
    """Put back the old set recorded in ``txn``'s journal; idempotent, so safe to repeat after a kill."""
    try:
        text = (txn / _JOURNAL).read_bytes()
    except FileNotFoundError:  # committed (or never begun): nothing to undo
        return
    try:
        entries = json.loads(text)["files"]
        plan = [(str(e["name"]), bool(e["backup"]), tuple(e["new"])) for e in entries]
    except (ValueError, KeyError, TypeError) as e:  # not a torn write: journals are renamed into place
        raise OSError(
            errno.EIO, f"unreadable build journal ({e}); check the files, then remove it", str(txn)
        ) from None
    for i, (name, had_old, new) in enumerate(plan):
        target = folder / name
        if had_old:
            with contextlib.suppress(FileNotFoundError):  # already put back
                os.replace(txn / f"old.{i}", target)
        else:  # the target did not exist: remove it if it is the file this transaction made
            with contextlib.suppress(FileNotFoundError):
                st = target.lstat()
                if (st.st_dev, st.st_ino) == new:
                    target.unlink()
    os.fsync(dir_fd)
    os.unlink(txn / _JOURNAL)
    _fsync_path(txn)


def _discard(txn: Path) -> None:
    shutil.rmtree(txn)
    _fsync_path(txn.parent)


def _recover_locked(folder: Path, dir_fd: int) -> None:
    for entry in os.scandir(folder):
        if entry.name.startswith(TXN_PREFIX) and entry.is_dir(follow_symlinks=False):
            txn = folder / entry.name
            _rollback(folder, dir_fd, txn)  # nothing to undo without a journal
            _discard(txn)
        elif _LEGACY_TMP.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            os.unlink(folder / entry.name)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # a filesystem that cannot sync a directory
            raise
    finally:
        os.close(fd)


def outputs(
    compiled: Compiled,
    out_dir: Path,
    warn: Callable[[str], None],
    *,
    name: str | None = None,
    command: str | None = None,
) -> dict[Path, bytes]:
    """Everything a build writes, rendered in memory before anything touches the disk: files
    named ``name`` (default: the network's), the module recording ``command`` in its header."""
    from archc.codegen.emit import emit
    from archc.summary import summary_data

    stem = name or compiled.network.name
    files = {
        out_dir / f"{stem}.py": emit(compiled, name=stem, command=command).encode(),
        out_dir / f"{stem}.summary.json": (json.dumps(summary_data(compiled), indent=2) + "\n").encode(),
    }
    try:
        from archc.render import DotMissing, render_bytes

        try:
            files[out_dir / f"{stem}.svg"] = render_bytes(compiled, "svg")
        except DotMissing as e:
            warn(f"warning: {e}; skipped {out_dir / (stem + '.svg')}")
    except ImportError:  # pragma: no cover - rendering is part of archc
        pass
    return files


def build(
    compiled: Compiled,
    out_dir: Path,
    warn: Callable[[str], None],
    *,
    name: str | None = None,
    command: str | None = None,
) -> list[Path]:
    files = outputs(compiled, out_dir, warn, name=name, command=command)
    write_atomic(files)
    return list(files)
