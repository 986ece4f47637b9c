"""Diagnostics: one error root for everything a user can get wrong.

Every user mistake becomes a :class:`Diagnostic` carrying a :class:`Span`; a run that fails
raises one :class:`ArchcError` holding all of them.  ``render`` prints them the way compilers
do::

    specs/x.arch:12:5: error: add: shapes differ: 256x56x56 vs 64x56x56
       12 |     return y + skip -> relu
          |            ^^^^^^^^
      hint: add a projection on the skip edge
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Span:
    """A source range: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Span("<command line>", 0, 0)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One message about one place in a spec."""

    span: Span
    message: str
    hint: str | None = None
    kind: str = "error"

    def render(self, sources: dict[str, str] | None = None) -> str:
        """Format as ``file:line:col: error: message`` plus the source line, a caret and a hint."""
        if self.span.line <= 0:
            out = [f"{self.span.file}: {self.kind}: {self.message}"]
        else:
            out = [f"{self.span}: {self.kind}: {self.message}"]
            text = _source_line(self.span, sources)
            if text is not None:
                gutter = f"{self.span.line:5d} | "
                out.append(gutter + text)
                width = 1
                if self.span.end_line == self.span.line and self.span.end_col > self.span.col:
                    width = self.span.end_col - self.span.col
                pad = "".join(c if c == "\t" else " " for c in text[: self.span.col - 1])
                out.append(" " * (len(gutter) - 2) + "| " + pad + "^" * width)
        if self.hint:
            out.append(f"  hint: {self.hint}")
        return "\n".join(out)


def _source_line(span: Span, sources: dict[str, str] | None) -> str | None:
    text = sources.get(span.file) if sources else None
    if text is None:
        try:
            text = Path(span.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    lines = text.splitlines()
    if 0 < span.line <= len(lines):
        return lines[span.line - 1].rstrip()
    return None


class ArchcError(Exception):
    """The one error type archc raises for bad input; holds every diagnostic of the run."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics: list[Diagnostic] = list(dict.fromkeys(diagnostics))
        self.sources: dict[str, str] = dict(sources or {})
        super().__init__(self.render())

    @classmethod
    def at(cls, span: Span, message: str, hint: str | None = None) -> ArchcError:
        return cls([Diagnostic(span, message, hint)])

    def render(self) -> str:
        body = "\n".join(d.render(self.sources) for d in self.diagnostics)
        n = len(self.diagnostics)
        if n > 1:
            body += f"\n{n} errors"
        return body


class UsageError(ArchcError):
    """A mistake on the command line rather than in a spec (exit code 2)."""


@dataclass
class DiagnosticSink:
    """Collects diagnostics so that a pass can report all errors, not only the first."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, span: Span, message: str, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(span, message, hint))

    def raise_if_any(self, sources: dict[str, str] | None = None) -> None:
        if self.diagnostics:
            raise ArchcError(self.diagnostics, sources)
