"""``archc build``: the emitted module, its summary and its diagram, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archc.api import Compiled


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(files: dict[Path, bytes]) -> None:
    """Write every file or none: each goes to a temporary file beside its target first,
    and targets are replaced only once all temporaries are complete."""
    staged: list[tuple[str, Path]] = []
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
        for tmp, target in staged:
            os.replace(tmp, target)
        staged.clear()
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)


def outputs(compiled: Compiled, out_dir: Path, warn: Callable[[str], None]) -> dict[Path, bytes]:
    """Everything a build writes, rendered in memory before anything touches the disk."""
    from archc.codegen.emit import emit

    stem = compiled.network.name
    files = {
        out_dir / f"{stem}.py": emit(compiled).encode(),
        out_dir / f"{stem}.summary.json": (json.dumps(compiled.summary(), indent=2) + "\n").encode(),
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
