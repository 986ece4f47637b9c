"""The corpus the fuzzer mutates: every shipped spec, in a fixed order.

``specs/``, ``examples/**``, every ``.arch`` file under ``tests/`` (golden, reference and fixture
specs), and the specs written inline in the test suite (string constants of ``tests/test_*.py``
that define a network or a block), which appear as ``tests/inline/<test file>_<n>.arch``.  The
order is sorted by path, so a case id names the same case on the same commit.
"""

from __future__ import annotations

import ast
import hashlib
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Spec:
    """One corpus entry: its path relative to the repository and its text."""

    path: str
    text: str

    @property
    def folder(self) -> str:
        return str(Path(self.path).parent)


def _inline(test_file: Path) -> list[str]:
    """Spec texts written as string constants in one test module (f-strings are skipped)."""
    try:
        tree = ast.parse(test_file.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return []
    inside_f = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_f:
            text = node.value
            if len(text) > 20 and any(
                text.lstrip().startswith(k) or f"\n{k}" in text for k in ("network ", "block ")
            ):
                out.append(text)
    return out


@lru_cache(maxsize=1)
def corpus() -> tuple[Spec, ...]:
    """Every shipped spec, sorted by path."""
    entries: dict[str, str] = {}
    for pattern in ("specs/*.arch", "examples/**/*.arch", "tests/**/*.arch"):
        for path in ROOT.glob(pattern):
            if "fuzz" in path.relative_to(ROOT).parts:
                continue
            entries[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    for test_file in sorted((ROOT / "tests").glob("test_*.py")):
        for n, text in enumerate(_inline(test_file)):
            entries[f"tests/inline/{test_file.stem}_{n}.arch"] = text
    return tuple(Spec(p, entries[p]) for p in sorted(entries))


def corpus_digest() -> str:
    """A short hash of the corpus: case ids reproduce only under the same digest."""
    h = hashlib.sha256()
    for s in corpus():
        h.update(s.path.encode() + b"\0" + s.text.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:12]


def mirror(into: Path) -> Path:
    """Copy the corpus into ``into`` (same relative paths, plus the files they ``use`` that lie
    beside them), so that mutated specs written there resolve ``use`` as the originals do.
    Returns ``into``; it holds a ``specs/`` folder, so it is the project root of every copy."""
    for s in corpus():
        target = into / s.path
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ROOT / s.path
        if source.exists():
            shutil.copyfile(source, target)
        else:
            target.write_text(s.text, encoding="utf-8")
    (into / "specs").mkdir(exist_ok=True)
    return into
