"""One compile for the playground, as a pure function of a :class:`Job` (run in a worker process).

A job carries the editor's text, never a path to read: the server reads files through its
:class:`~archc.serve.workspace.Workspace`, and the only files a job opens are those the spec
reaches through ``use``, which the loader keeps inside the served folder (``root``).  A job is
frozen and hashable, so the server can cache and share results; its answer is plain JSON data
(or bytes for a download) that pickles across the process boundary.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.dsl import ast
from archc.dsl.analysis import describe, layers, module_params, stage_totals
from archc.dsl.diagnostics import ArchcError, Diagnostic
from archc.dsl.ops import fmt, lookup
from archc.dsl.values import BlockRef, Value, show

if TYPE_CHECKING:
    from graphviz import Digraph

    from archc.dsl.compiler import Compiled
    from archc.dsl.loader import Program
    from archc.dsl.resolve import Network

#: Outputs a job can ask for: the playground's view, or one of the downloads.
OUTPUTS = ("view", "py", "svg", "png")
#: A diagram with more nodes than this is not drawn (Graphviz takes seconds, then runs out of
#: memory, on tens of thousands); collapsing modules brings it back.
MAX_DIAGRAM_NODES = 1500


@dataclass(frozen=True)
class Source:
    """A spec held in memory: ``name`` is its path relative to the served folder."""

    name: str
    text: str


@dataclass(frozen=True)
class Compare:
    """The other side of a comparison; ``with_sets`` applies the editor's ``--set`` values to it
    too (for the saved version: then only the edits show)."""

    source: Source
    with_sets: bool = False


@dataclass(frozen=True)
class Job:
    root: str
    source: Source
    sets: tuple[tuple[str, str], ...] = ()
    network: str | None = None
    folds: tuple[tuple[str, bool], ...] = ()
    compare: Compare | None = None
    output: str = "view"


@dataclass
class Result:
    """A job's answer: ``data`` is JSON-ready; ``body`` the bytes of a download; ``deps`` the
    files read through ``use`` with their (mtime_ns, size), to tell when a cached answer is stale."""

    data: dict[str, Any]
    body: bytes | None = None
    deps: list[tuple[str, int, int]] = field(default_factory=list)
    payload: bytes | None = None  # ``data`` as JSON, written once by the server


#: Parsed files kept by a worker: the files a spec uses rarely change between keystrokes.
PARSE_CACHE_SIZE = 32
PARSE_CACHE_MAX_CHARS = 512 * 1024


def install_worker_caches() -> None:
    """Make the loader reuse the parse of a file whose text and name it has parsed before.

    Called in worker processes only.  Safe because nothing after the parser mutates the AST
    (resolve copies what an edit changes); errors are not cached.  It saves the parse of every
    file a spec uses, on every keystroke (ResNet-152's ``resnet.arch``: about 20 ms of a
    compile's 80)."""
    from archc.dsl import loader
    from archc.dsl.parser import parse_text

    cached = functools.lru_cache(maxsize=PARSE_CACHE_SIZE)(parse_text)

    def parse(text: str, file: str = "<string>") -> ast.Module:
        return cached(text, file) if len(text) <= PARSE_CACHE_MAX_CHARS else parse_text(text, file)

    loader.parse_text = parse  # type: ignore[attr-defined]  # the name the loader calls


def run(job: Job) -> Result:
    """Compile ``job``; a spec's errors are an answer (``ok: false``), never an exception."""
    try:
        return _run(job)
    except ArchcError as e:
        return Result({"ok": False, "diagnostics": diagnostics(e.diagnostics, job)})
    except RecursionError:
        return _fail(job, "the spec nests too deeply to compile")
    except MemoryError:
        return _fail(job, "compiling the spec ran out of memory")
    except Exception:  # a bug in archc: logged, and the page says so without a traceback
        traceback.print_exc(file=sys.stderr)
        return _fail(job, "internal error while compiling (the server's log has the details)")


def _fail(job: Job, message: str) -> Result:
    return Result({"ok": False, "diagnostics": [_diag(job.source.name, 0, 0, 0, 0, message, None)]})


def load(source: Source, root: Path) -> Program:
    from archc.dsl.loader import load_text

    folder = (root / source.name).parent
    return load_text(source.text, source.name, folder=folder, root=root)


def build(program: Program, defaults: Network, network: str | None, sets: dict[str, str]) -> Compiled:
    """The network with ``sets`` applied; those it has no parameter for are dropped (a control
    of a parameter just renamed must not break the spec)."""
    from archc.dsl.compiler import Compiled, parse_sets
    from archc.dsl.elaborate import elaborate
    from archc.dsl.resolve import resolve

    known = {k: v for k, v in sets.items() if k in defaults.params}
    net = resolve(program, network, parse_sets([f"{k}={v}" for k, v in known.items()])) if known else defaults
    return Compiled(program, net, elaborate(net, program.sources))


def resolve_defaults(program: Program, network: str | None) -> Network:
    from archc.dsl.resolve import resolve

    return resolve(program, network)


def _run(job: Job) -> Result:
    from archc.render import DotMissing, render_bytes

    root = Path(job.root)
    program = load(job.source, root)
    deps = _deps(program, job.source.name)
    sets = dict(job.sets)
    folds = dict(job.folds)
    defaults = resolve_defaults(program, job.network)
    controls = {
        "params": _params(program, defaults),
        "networks": [n.name for n in program.modules[program.main].networks],
    }
    try:
        c = build(program, defaults, job.network, sets)
    except ArchcError as e:
        return Result({"ok": False, "diagnostics": diagnostics(e.diagnostics, job), **controls}, deps=deps)
    if job.output != "view":
        name = f"{c.name}.{job.output}"
        if job.output == "py":
            from archc.codegen.emit import emit

            return Result({"ok": True, "name": name}, emit(c).encode(), deps)
        try:
            body = render_bytes(c, job.output, overrides=_overrides(c, sets), folds=folds)
        except DotMissing as e:
            return _fail(job, str(e))
        return Result({"ok": True, "name": name}, body, deps)

    from archc.render import drawing

    warnings: list[str] = []
    drawn = drawing(c, overrides=_overrides(c, sets), folds=folds)
    svg = _svg(drawn.dot, warnings) if _small_enough(drawn.parts, warnings) else None
    data: dict[str, Any] = {
        "ok": True,
        "diagnostics": [],
        "network": c.name,
        "check": _check_line(c),
        "totals": _totals(c),
        "stages": _stages(c),
        "info": _info(c, drawn.parts) if svg else {},
        "svg": svg,
        "warnings": warnings,
        **controls,
        "compare": None,
    }
    if job.compare is not None:
        data["compare"] = _compare(job, root, c, sets)
    return Result(data, deps=deps)


#: Diagrams a worker has drawn, by their DOT source: an edit that leaves the network as it was
#: (a comment, a half-typed word that is undone, a fold opened and closed again) costs no
#: second run of `dot` (~40 ms of a ResNet-152 compile's ~100, most of it Graphviz starting).
#: A `dot` kept running would skip that start, but lays out a graph differently depending on
#: the graphs it drew before; a fresh one draws the same source the same way every time.
SVG_CACHE_SIZE = 16
_SVG_CACHE: dict[str, str] = {}


def _overrides(c: Compiled, sets: dict[str, str]) -> list[str]:
    """The parameters set from the page that the network has (named in the diagram's title)."""
    return [k for k in sets if k in c.network.params]


def _small_enough(parts: dict[str, tuple[str, ...]], warnings: list[str]) -> bool:
    from archc.render import MAX_DIAGRAM_CLUSTERS

    nodes = sum(1 for key in parts if not key.startswith("c:"))
    clusters = len(parts) - nodes
    if nodes > MAX_DIAGRAM_NODES or clusters > MAX_DIAGRAM_CLUSTERS:
        what = (
            f"{nodes:,} nodes (more than {MAX_DIAGRAM_NODES:,})"
            if nodes > MAX_DIAGRAM_NODES
            else f"{clusters:,} open modules (more than {MAX_DIAGRAM_CLUSTERS:,})"
        )
        warnings.append(
            f"the diagram would have {what}: collapse some modules, or put long runs of layers in a block"
        )
        return False
    return True


def _svg(dot: Digraph, warnings: list[str]) -> str | None:
    """The diagram for the page, or ``None`` with a warning saying why there is none."""
    import graphviz

    from archc.render import DotMissing

    source: str = dot.source
    cached = _SVG_CACHE.pop(source, None)
    if cached is not None:
        _SVG_CACHE[source] = cached  # the most recent again
        return cached
    try:
        data: bytes = dot.pipe(format="svg")
    except graphviz.ExecutableNotFound:
        warnings.append(str(DotMissing()))
        return None
    except graphviz.CalledProcessError as e:
        why = str(e.stderr or b"", "utf-8", "replace").strip()
        warnings.append(f"Graphviz could not draw this diagram ({why})")
        return None
    svg = data.decode("utf-8")
    _SVG_CACHE[source] = svg
    while len(_SVG_CACHE) > SVG_CACHE_SIZE:
        del _SVG_CACHE[next(iter(_SVG_CACHE))]
    return svg


def _check_line(c: Compiled) -> str:
    from archc.summary import check_line

    return check_line(c)


def _compare(job: Job, root: Path, c: Compiled, sets: dict[str, str]) -> dict[str, Any]:
    from archc.serve.compare import compare

    assert job.compare is not None
    other = job.compare
    try:
        program = load(other.source, root)
        base = build(program, resolve_defaults(program, None), None, sets if other.with_sets else {})
    except ArchcError as e:
        first = e.diagnostics[0]
        where = f"{first.span.file}:{first.span.line}: " if first.span.line > 0 else ""
        return {"error": f"{other.source.name} does not compile: {where}{first.message}"}
    return compare(base, c)


def _deps(program: Program, main: str) -> list[tuple[str, int, int]]:
    out = []
    for name, path in program.paths.items():
        if name == main:
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return out


def _display(file: str, job: Job) -> str:
    """A diagnostic's file as the page names files: relative to the served folder."""
    if file == job.source.name or file.startswith(("<", "--set")):
        return file
    if job.compare is not None and file == job.compare.source.name:
        return file
    try:
        return Path(os.path.abspath(file)).relative_to(job.root).as_posix()
    except ValueError:
        return file


def _diag(
    file: str, line: int, col: int, end_line: int, end_col: int, message: str, hint: str | None
) -> dict[str, Any]:
    return {
        "file": file,
        "line": line,
        "col": col,
        "end_line": end_line,
        "end_col": end_col,
        "message": message,
        "hint": hint,
    }


def diagnostics(items: list[Diagnostic], job: Job) -> list[dict[str, Any]]:
    return [
        _diag(
            _display(d.span.file, job),
            d.span.line,
            d.span.col,
            d.span.end_line,
            d.span.end_col,
            d.message,
            d.hint,
        )
        for d in items
    ]


def _totals(c: Compiled) -> dict[str, Any]:
    t = c.totals
    return {
        "params": t.params,
        "buffers": t.buffers,
        "macs": t.macs,
        "macs_other": t.macs_other,
        "layers": t.layers,
        "input": fmt(t.input_shape),
        "output": fmt(t.output_shape),
    }


def _stages(c: Compiled) -> list[dict[str, Any]]:
    g = c.graph
    scopes = g.graph["scopes"]
    total = c.totals.params
    out = []
    for stage, t in stage_totals(g).items():
        if stage in g.nodes:
            shape = g.nodes[stage]["shape"]
            what = _layer_label(g.nodes[stage])
        else:
            scope = scopes[stage]
            shape = scope.out_shape
            what = describe(scope, scopes)
        out.append(
            {
                "stage": stage,
                "what": what,
                "shape": fmt(shape),
                "params": t["params"],
                "share": t["params"] / total if total else 0.0,
                "macs": t["macs"],
            }
        )
    return out


def _layer_label(d: dict[str, Any]) -> str:
    op = lookup(d["op"])
    return op.label(d["args"], d["shape"]) if op is not None else str(d["op"])


def _info(c: Compiled, parts: dict[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """What hovering a node of the diagram shows, by its SVG id (see
    :class:`archc.render.Drawing`): what it is, its input and output shapes, parameters, MACs
    and layers, and the paths it draws (``members``: the modules a click on ``m:`` opens, the
    layers or module a comparison marks)."""
    from archc.render import layer_text, module_text

    g = c.graph
    scopes = g.graph["scopes"]
    params = module_params(g)
    macs: dict[str, int] = {}
    count: dict[str, int] = {}
    for d in layers(g):
        probe = d["name"].rpartition(".")[0]
        while probe:
            macs[probe] = macs.get(probe, 0) + d["macs"]
            count[probe] = count.get(probe, 0) + 1
            probe = probe.rpartition(".")[0]
    out: dict[str, dict[str, Any]] = {}
    for key, members in parts.items():
        if all(m in g.nodes for m in members):  # a layer, with the norms and activations drawn in it
            first, last = g.nodes[members[0]], g.nodes[members[-1]]
            out[key] = {
                "name": members[0],
                "what": " → ".join(layer_text(g.nodes[m]) for m in members),
                "in": ", ".join(fmt(s) for s in first["in_shapes"]),
                "out": fmt(last["shape"]),
                "params": sum(g.nodes[m]["params"] for m in members),
                "macs": sum(g.nodes[m]["macs"] for m in members),
                "layers": len(members),
                "members": list(members),
            }
            continue
        head, tail = scopes[members[0]], scopes[members[-1]]
        what = module_text(head, g)
        out[key] = {
            "name": members[0] if len(members) == 1 else f"{members[0]} … {members[-1]}",
            "what": f"{what} × {len(members)}" if len(members) > 1 else what,
            "in": fmt(head.in_shape),
            "out": fmt(tail.out_shape),
            "params": sum(params.get(m, 0) for m in members),
            "macs": sum(macs.get(m, 0) for m in members),
            "layers": sum(count.get(m, 0) for m in members),
            "members": list(members),
        }
    return out


def _kind(v: Value) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, list):
        return "list"
    if isinstance(v, BlockRef):
        return "block"
    return "text"


def _params(program: Program, defaults: Network) -> list[dict[str, Any]]:
    """The network's parameters as controls: name, kind and default value (in spec syntax)."""
    out = []
    for name, default in defaults.params.items():
        kind = _kind(default)
        choices = sorted(program.blocks) if kind == "block" else []
        out.append({"name": name, "kind": kind, "default": show(default), "choices": choices})
    return out
