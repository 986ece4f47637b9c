"""The served folder: which paths a request may name, reading specs and saving them safely.

Every path from a request goes through :meth:`Workspace.path`, which accepts only a relative
POSIX path of ``.arch`` file inside the folder: no absolute path, no ``..`` or ``.``
component, no hidden component, no backslash or NUL, and no symbolic link anywhere along the
way (checked with ``lstat`` on each component, then by resolving the whole path).  ``use``
inside a spec is kept in the folder by the loader (``root=``), which resolves symlinks.

A save is an atomic replace (:func:`archc.build.write_atomic`) made under a per-file lock, and
only when the file on disk is still the version the page opened (its SHA-256; the version also
carries mtime and size for the page to show): two tabs saving the same file never interleave
their bytes, and the second, stale one is refused instead of silently overwriting the first.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from archc.dsl.diagnostics import ArchcError, Span
from archc.dsl.loader import read_spec
from archc.dsl.parser import MAX_SOURCE_BYTES

#: The file list stops after this many specs, and does not descend deeper than this.
MAX_LISTED = 2000
MAX_DEPTH = 8
MAX_PATH_CHARS = 1024
SUFFIX = ".arch"


class PathRefused(ValueError):
    """A request named a path outside the folder, or not a spec file."""


class NotFound(LookupError):
    """A request named a spec that does not exist."""


class Conflict(Exception):
    """The file changed on disk since the page opened it (or exists, when the page thought not)."""

    def __init__(self, current: Version | None):
        super().__init__("the file changed on disk since it was opened")
        self.current = current


@dataclass(frozen=True)
class Version:
    """What the page remembers of a file it opened, to tell whether it changed since."""

    mtime_ns: int
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Version:
        if not isinstance(data, dict):
            raise ValueError("version must be an object")
        mtime, size, digest = data.get("mtime_ns"), data.get("size"), data.get("sha256")
        if not isinstance(mtime, int) or not isinstance(size, int) or not isinstance(digest, str):
            raise ValueError("version needs mtime_ns, size and sha256")
        return cls(mtime, size, digest)


def _read_bytes(path: Path) -> tuple[bytes, os.stat_result]:
    """A regular file's bytes (at most one more than the size limit), never following a link
    and never blocking on a FIFO that replaced it."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PathRefused(f"{path.name} is not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_SOURCE_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks), st


def _version(data: bytes, st: os.stat_result) -> Version:
    return Version(st.st_mtime_ns, st.st_size, hashlib.sha256(data).hexdigest())


class Workspace:
    def __init__(self, root: Path):
        self.root = root.resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(str(root))
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def path(self, rel: Any) -> Path:
        """The file ``rel`` names inside the folder; :class:`PathRefused` for anything else."""
        if not isinstance(rel, str) or not rel or len(rel) > MAX_PATH_CHARS:
            raise PathRefused("a path must be a non-empty string")
        if "\\" in rel or "\x00" in rel or rel.startswith("/") or ":" in rel.split("/")[0]:
            raise PathRefused(f"{rel!r} is not a relative path inside the served folder")
        parts = rel.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise PathRefused(f"{rel!r} is not a relative path inside the served folder")
        if not parts[-1].endswith(SUFFIX) or parts[-1] == SUFFIX:
            raise PathRefused(f"{rel!r} is not a {SUFFIX} file")
        path = self.root
        for part in parts:
            path = path / part
            try:
                st = path.lstat()
            except FileNotFoundError:
                break  # the rest does not exist yet: nothing there can be a link
            except OSError as e:
                raise PathRefused(f"{rel!r}: {e.strerror or e}") from None
            if stat.S_ISLNK(st.st_mode):
                raise PathRefused(f"{rel!r} goes through a symbolic link")
        path = self.root.joinpath(*parts)
        try:
            path.resolve().relative_to(self.root)
        except ValueError:
            raise PathRefused(f"{rel!r} is outside the served folder") from None
        return path

    def files(self) -> list[str]:
        """The specs in the folder, relative, sorted; hidden folders and symbolic links skipped."""
        out: list[str] = []
        for folder, dirs, names in os.walk(self.root):
            here = Path(folder)
            depth = len(here.relative_to(self.root).parts)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (here / d).is_symlink())
            if depth >= MAX_DEPTH:
                dirs[:] = []
            for name in sorted(names):
                full = here / name
                if name.startswith(".") or not name.endswith(SUFFIX) or full.is_symlink():
                    continue
                if full.is_file():
                    out.append(full.relative_to(self.root).as_posix())
                    if len(out) >= MAX_LISTED:
                        return sorted(out)
        return sorted(out)

    def read(self, rel: str) -> tuple[str, Version]:
        """A spec's text and version; :class:`NotFound` when missing, an :class:`ArchcError`
        when it is not a regular UTF-8 file within the size limit."""
        path = self.path(rel)
        if not path.exists():
            raise NotFound(rel)
        read_spec(path, rel)  # checks it is a regular UTF-8 file within the size limit
        data, st = _read_bytes(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ArchcError.at(Span(rel, 0, 0), f"cannot read '{rel}': it is not UTF-8 text") from None
        return text.removeprefix("\ufeff"), _version(data, st)

    def version(self, rel: str) -> Version | None:
        """The file's version now, ``None`` when it does not exist."""
        path = self.path(rel)
        try:
            data, st = _read_bytes(path)
        except FileNotFoundError:
            return None
        return _version(data, st)

    def _lock(self, path: Path) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(path, threading.Lock())

    def save(self, rel: str, text: str, base: Version | None) -> Version:
        """Write ``text`` atomically if the file is still at ``base`` (``None``: must not exist)."""
        from archc.build import write_atomic

        path = self.path(rel)
        data = text.encode("utf-8")
        if len(data) > MAX_SOURCE_BYTES:
            raise ValueError(f"the spec is larger than {MAX_SOURCE_BYTES:,} bytes")
        with self._lock(path):
            current = self.version(rel)
            if base is None and current is not None:
                raise Conflict(current)
            if base is not None and (current is None or current.sha256 != base.sha256):
                raise Conflict(current)
            self.path(rel)  # again, under the lock: no link appeared meanwhile
            write_atomic({path: data})
            st = path.stat()
            return _version(data, st)
