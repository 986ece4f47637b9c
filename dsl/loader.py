"""Reading spec files: ``use`` imports, with missing, circular and out-of-project imports reported.

A spec and everything it uses must lie inside its *project*: the nearest folder above the main
spec that holds a ``specs/`` folder (else the main spec's own folder), or the folder a caller
names as ``root`` (``archc serve`` names the folder it serves).  Paths are resolved, symlinks
included, before they are checked, and only regular files are read: a FIFO, a device or a
directory is refused before it is opened, and no file is read past :data:`MAX_SOURCE_BYTES`.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError, Diagnostic, Span, UsageError
from archc.dsl.names import identifier_problem
from archc.dsl.parser import MAX_SOURCE_BYTES, parse_text

#: The most files one spec may reach through ``use``, and the deepest chain of ``use``.
MAX_FILES = 256
MAX_USE_DEPTH = 32


@dataclass
class Program:
    """Every file a spec reaches through ``use``, with the definitions they make."""

    main: str
    root: Path = field(default_factory=Path.cwd)
    modules: dict[str, ast.Module] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    networks: dict[str, ast.NetworkDef] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)  # display name -> resolved path

    def default_network(self) -> ast.NetworkDef | None:
        """The last network defined in the main file itself."""
        own = self.modules[self.main].networks
        return own[-1] if own else None

    def project_path(self, name: str) -> str:
        """A file's path relative to the project root (the same from any working directory)."""
        path = self.paths.get(name)
        if path is None:
            return name
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return name


def display_path(path: Path) -> str:
    """A path as a user typed it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def project_root(spec: Path) -> Path:
    """The nearest folder above ``spec`` that holds a ``specs/`` folder, else ``spec``'s folder."""
    folder = spec.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / "specs").is_dir():
            return candidate
    return folder


def read_spec(path: Path, name: str, span: Span | None = None) -> str:
    """The text of one spec file: a regular file, at most :data:`MAX_SOURCE_BYTES`, UTF-8.

    Everything else is one located error that quotes nothing of the file: a :class:`UsageError`
    when the path is missing or not a regular file, an :class:`ArchcError` when its content
    cannot be a spec."""
    where = span or Span(name, 0, 0)
    try:
        info = path.stat()
    except FileNotFoundError:
        hint = "paths in `use` are relative to the file" if span else "check the path"
        what = f"cannot find spec file '{name}'" if span else f"no such spec file: {name}"
        raise UsageError.at(where, what, hint) from None
    except OSError as e:
        raise UsageError.at(where, f"cannot read '{name}': {e.strerror or e}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise UsageError.at(where, f"'{name}' is {kind}", "give the path of a .arch spec file")
    if info.st_size > MAX_SOURCE_BYTES:
        raise ArchcError.at(
            where,
            f"spec too big: '{name}' is {info.st_size:,} bytes (the limit is {MAX_SOURCE_BYTES:,})",
            "is it a spec?",
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise ArchcError.at(where, f"cannot read '{name}': {e.strerror or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the check
            raise ArchcError.at(
                where, f"'{name}' is not a regular file", "give the path of a .arch spec file"
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_SOURCE_BYTES:
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    break
                raise ArchcError.at(where, f"cannot read '{name}': {e.strerror or e}") from None
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_SOURCE_BYTES:
        raise ArchcError.at(
            where, f"spec too big: '{name}' grew past {MAX_SOURCE_BYTES:,} bytes", "is it a spec?"
        )
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchcError.at(where, f"cannot read '{name}': it is not UTF-8 text", "is it a spec?") from None
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the spec


class _Loader:
    def __init__(self, program: Program, root: Path | None):
        self.program = program
        self.root = root.resolve() if root is not None else None
        self.out: list[Diagnostic] = []

    def inside(self, path: Path) -> bool:
        if self.root is None:
            return True
        try:
            path.relative_to(self.root)
        except ValueError:
            return False
        return True

    def load(self, path: Path, stack: list[str], at: ast.Use | None) -> None:
        name = display_path(path)
        if at is not None:
            span = at.span
            if not self.inside(path.resolve()):
                self.out.append(
                    Diagnostic(
                        span,
                        f"'{at.path}' is outside the project ({self.root})",
                        "`use` reads specs inside the project; `archc --allow-outside ...` lifts that",
                    )
                )
                return
        if name in stack:
            assert at is not None
            chain = " -> ".join([*stack[stack.index(name) :], name])
            self.out.append(
                Diagnostic(at.span, f"circular import: {chain}", "move the shared blocks into a third file")
            )
            return
        if name in self.program.modules or name in self.program.sources:
            return
        if len(stack) >= MAX_USE_DEPTH or len(self.program.sources) >= MAX_FILES:
            assert at is not None
            limit = f"{MAX_USE_DEPTH} deep" if len(stack) >= MAX_USE_DEPTH else f"{MAX_FILES} files"
            raise ArchcError(
                [
                    Diagnostic(
                        at.span,
                        f"spec too big: `use` reaches more than {limit}",
                        "put the blocks that belong together into one file",
                    )
                ],
                self.program.sources,
            )
        try:
            text = read_spec(path, name, at.span if at else None)
        except ArchcError as e:
            if at is None:  # the spec named on the command line: report it alone
                raise
            self.out.extend(e.diagnostics)
            return
        if at is not None and path.suffix != ".arch" and not self.parses(text, name, at):
            return
        self.program.paths[name] = path.resolve()
        self.add(name, text, path.parent, [*stack, name])

    def parses(self, text: str, name: str, at: ast.Use) -> bool:
        """Whether a file ``use`` reaches that is not named ``.arch`` parses; if it does not, it
        is no spec and one error at the ``use`` says so, quoting nothing of it (it could be
        ``/etc/passwd`` read with ``--allow-outside``)."""
        try:
            parse_text(text, name)
        except ArchcError as e:
            where = e.diagnostics[0].span
            self.out.append(
                Diagnostic(
                    at.span,
                    f"'{at.path}' is not a spec: it does not parse (line {where.line}, column {where.col})",
                    "`use` reads .arch spec files",
                )
            )
            return False
        return True

    def add(self, name: str, text: str, folder: Path, stack: list[str]) -> None:
        self.program.sources[name] = text
        try:
            module = parse_text(text, name)
        except ArchcError as e:
            self.out.extend(e.diagnostics)
            return
        self.program.modules[name] = module
        for use in module.uses:
            self.load(folder / use.path, stack, use)


def load(path: str | Path, *, root: Path | None = None, allow_outside: bool = False) -> Program:
    """Parse ``path`` and everything it uses, inside ``root`` (default: the spec's project)."""
    main = Path(path)
    top = root if root is not None else project_root(main)
    program = Program(display_path(main), top.resolve())
    loader = _Loader(program, None if allow_outside else top)
    loader.load(main, [], None)
    return _finish(program, loader.out)


def load_text(
    text: str,
    file: str = "<string>",
    *,
    folder: Path | None = None,
    root: Path | None = None,
    allow_outside: bool = False,
) -> Program:
    """Parse a spec given as text; ``use`` resolves against ``folder`` (default: the working
    directory) and must stay inside ``root`` (default: ``folder``)."""
    base = (folder or Path.cwd()).resolve()
    top = (root or base).resolve()
    program = Program(file, top)
    loader = _Loader(program, None if allow_outside else top)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise ArchcError.at(
            Span(file, 0, 0), f"spec too big: the text is larger than {MAX_SOURCE_BYTES:,} bytes"
        )
    loader.add(file, text.removeprefix("\ufeff"), base, [file])
    return _finish(program, loader.out)


def _finish(program: Program, out: list[Diagnostic]) -> Program:
    if not out:
        _collect(program, out)
    if out:
        raise ArchcError(out, program.sources)
    return program


def _check_names(d: ast.BlockDef | ast.NetworkDef, out: list[Diagnostic]) -> None:
    """Definition and parameter names become class and argument names in emitted code."""
    kind = "block" if isinstance(d, ast.BlockDef) else "network"
    problem = identifier_problem(d.name)
    if problem:
        out.append(Diagnostic(d.span, f"'{d.name}' cannot be a {kind} name: {problem}", f"rename the {kind}"))
    for p in d.params:
        problem = identifier_problem(p.name)
        if p.name == "i":
            problem = "'i' is the index of a repeat"
        if problem:
            out.append(Diagnostic(p.span, f"'{p.name}' cannot be a parameter name: {problem}", "rename it"))


def _collect(program: Program, out: list[Diagnostic]) -> None:
    seen: dict[str, Span] = {}
    for module in program.modules.values():
        definitions: list[ast.BlockDef | ast.NetworkDef] = [*module.blocks, *module.networks]
        for d in definitions:
            if d.name in seen:
                out.append(
                    Diagnostic(
                        d.span, f"'{d.name}' is already defined at {seen[d.name]}", "rename one of them"
                    )
                )
                continue
            seen[d.name] = d.span
            _check_names(d, out)
            if isinstance(d, ast.BlockDef):
                program.blocks[d.name] = d
            else:
                program.networks[d.name] = d
