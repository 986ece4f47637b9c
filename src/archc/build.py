"""``archc build``: the emitted module, its summary and its diagram, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archc.dsl.compiler import Compiled


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(files: dict[Path, bytes]) -> None:
    """Write every file or none.

    Each file goes to a temporary file beside its target first; targets are replaced only
    once all temporaries are complete, and a failure while replacing puts back the files
    already replaced (from hard-linked backups), so readers see the old set or the new one.
    """
    for target in files:
        if target.exists() and not target.is_file():
            raise IsADirectoryError(f"{target} exists and is not a file")
    staged: list[tuple[str, Path]] = []
    backups: list[tuple[Path, str | None]] = []
    try:
        for target, data in files.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((tmp, target))
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes private files; ours are ordinary ones
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        try:
            for tmp, target in staged:
                backup = None
                if target.exists():
                    backup = f"{tmp}.old"
                    os.link(target, backup)
                os.replace(tmp, target)
                backups.append((target, backup))
        except BaseException:
            for target, backup in reversed(backups):
                if backup is None:
                    target.unlink(missing_ok=True)
                else:
                    os.replace(backup, target)
            backups.clear()
            raise
        staged.clear()
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
            Path(f"{tmp}.old").unlink(missing_ok=True)
        for _, backup in backups:
            if backup is not None:
                Path(backup).unlink(missing_ok=True)


def outputs(compiled: Compiled, out_dir: Path, warn: Callable[[str], None]) -> dict[Path, bytes]:
    """Everything a build writes, rendered in memory before anything touches the disk."""
    from archc.codegen.emit import emit
    from archc.summary import summary_data

    stem = compiled.network.name
    files = {
        out_dir / f"{stem}.py": emit(compiled).encode(),
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


def build(compiled: Compiled, out_dir: Path, warn: Callable[[str], None]) -> list[Path]:
    files = outputs(compiled, out_dir, warn)
    write_atomic(files)
    return list(files)
