"""Reading spec files: ``use`` imports, with missing and circular imports reported."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archc.dsl import ast
from archc.dsl.diagnostics import ArchcError, Diagnostic, Span
from archc.dsl.names import identifier_problem
from archc.dsl.parser import parse_text


@dataclass
class Program:
    """Every file a spec reaches through ``use``, with the definitions they make."""

    main: str
    modules: dict[str, ast.Module] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    networks: dict[str, ast.NetworkDef] = field(default_factory=dict)

    def default_network(self) -> ast.NetworkDef | None:
        """The last network defined in the main file itself."""
        own = self.modules[self.main].networks
        return own[-1] if own else None


def display_path(path: Path) -> str:
    """A path as a user typed it: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load(path: str | Path) -> Program:
    """Parse ``path`` and everything it uses."""
    main = Path(path)
    program = Program(display_path(main))
    diagnostics: list[Diagnostic] = []
    _load(main, program, [], None, diagnostics)
    if diagnostics:
        raise ArchcError(diagnostics, program.sources)
    _collect(program, diagnostics)
    if diagnostics:
        raise ArchcError(diagnostics, program.sources)
    return program


def load_text(text: str, file: str = "<string>") -> Program:
    """Parse a spec given as text (``use`` resolves against the working directory)."""
    program = Program(file)
    diagnostics: list[Diagnostic] = []
    _add(program, file, text, Path.cwd(), [file], diagnostics)
    if not diagnostics:
        _collect(program, diagnostics)
    if diagnostics:
        raise ArchcError(diagnostics, program.sources)
    return program


def _load(path: Path, program: Program, stack: list[str], at: ast.Use | None, out: list[Diagnostic]) -> None:
    name = display_path(path)
    if name in stack:
        assert at is not None
        chain = " -> ".join([*stack[stack.index(name) :], name])
        out.append(
            Diagnostic(at.span, f"circular import: {chain}", "move the shared blocks into a third file")
        )
        return
    if name in program.modules:
        return
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        span = at.span if at else Span(name, 0, 0)
        out.append(
            Diagnostic(span, f"cannot find spec file '{name}'", "paths in `use` are relative to the file")
        )
        return
    except UnicodeDecodeError:
        span = at.span if at else Span(name, 0, 0)
        out.append(Diagnostic(span, f"cannot read '{name}': it is not UTF-8 text", "is it a spec?"))
        return
    except OSError as e:
        span = at.span if at else Span(name, 0, 0)
        out.append(Diagnostic(span, f"cannot read '{name}': {e.strerror or e}"))
        return
    _add(program, name, text, path.parent, [*stack, name], out)


def _add(
    program: Program, name: str, text: str, folder: Path, stack: list[str], out: list[Diagnostic]
) -> None:
    program.sources[name] = text
    try:
        module = parse_text(text, name)
    except ArchcError as e:
        out.extend(e.diagnostics)
        return
    program.modules[name] = module
    for use in module.uses:
        _load(folder / use.path, program, stack, use, out)


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
