"""The playground's web application (Starlette): a static page and a small JSON API.

``GET /`` is a fixed page (no spec text is ever written into HTML: the page fetches specs as
JSON and puts them into the editor and the DOM as text); ``/static`` its bundle.  The API:

- ``GET /api/files``: the specs of the folder and the one to open first;
- ``GET /api/file?path=``: a spec's text and version (mtime, size, SHA-256);
- ``POST /api/compile``: the editor's text compiled (diagnostics, totals, stages, diagram, ...);
- ``POST /api/export``: the emitted PyTorch module, or the diagram as SVG or PNG, as a download;
- ``POST /api/save``: an atomic save that refuses to overwrite a file changed since it was opened.

Every request passes :class:`Guard`: the ``Host`` must be one the server was started for (a web
page elsewhere cannot reach it by DNS rebinding), a request that changes or computes something
must come from this origin with a JSON body (another site's form or script gets a refusal, or
a CORS preflight that is never granted), and a body larger than :data:`MAX_BODY` is refused with
413 before it is read whole.  Compiles run in worker processes with a time limit
(:mod:`archc.serve.pool`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from archc.dsl.diagnostics import ArchcError
from archc.dsl.names import identifier_problem
from archc.dsl.parser import MAX_SOURCE_BYTES
from archc.serve.jobs import Compare, Job, Result, Source
from archc.serve.pool import Compiler, CompileTimeout, PoolBusy, WorkerLost, WorkerPool
from archc.serve.workspace import Conflict, NotFound, PathRefused, Version, Workspace

STATIC = Path(__file__).resolve().parent / "static"  # resolved: the editable install links files
#: A spec at the size limit, JSON-escaped (a newline becomes two bytes), plus the other fields.
MAX_BODY = 2 * MAX_SOURCE_BYTES + 256 * 1024
MAX_SETS = 256
MAX_FOLDS = 4096
MAX_VALUE_CHARS = 10_000

SECURITY_HEADERS = {
    # Scripts come from this server only, so markup that slipped into the page could not run;
    # CodeMirror and the diagram set inline styles.
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Refused(Exception):
    """A request the API does not serve: answered with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _hostname(value: str) -> str:
    """``127.0.0.1:8000`` as ``127.0.0.1``, ``[::1]:8000`` as ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class Guard:
    """Host and origin checks, and the body size limit, before the application sees a request."""

    def __init__(self, app: Starlette, hosts: Iterable[str] | None, max_body: int = MAX_BODY):
        self.app = app
        self.hosts = None if hosts is None else {h.lower() for h in hosts}
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        problem = None
        if self.hosts is not None and _hostname(host) not in self.hosts:
            problem = (400, "unknown host")
        elif scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if origin is not None and origin.lower() not in (
                f"http://{host}".lower(),
                f"https://{host}".lower(),
            ):
                problem = (403, "cross-origin request refused")
            elif headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                problem = (403, "cross-site request refused")
            elif headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
                problem = (415, "send JSON (application/json)")
            else:
                length = headers.get("content-length")
                if length is not None and (not length.isdigit() or int(length) > self.max_body):
                    problem = (413, f"request body larger than {self.max_body:,} bytes")
        if problem is not None:
            response = JSONResponse({"error": problem[1]}, status_code=problem[0], headers=SECURITY_HEADERS)
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise Refused(413, f"request body larger than {self.max_body:,} bytes")
            return message

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message.setdefault("headers", [])
                present = {k.lower() for k, _ in raw}
                for k, v in SECURITY_HEADERS.items():
                    if k.encode() not in present:
                        raw.append((k.encode(), v.encode()))
            await send(message)

        await self.app(scope, limited, secured)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.body()
    except Refused:
        raise
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(400, "the body must be a JSON object")
    return data


def _str(data: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise Refused(400, f"'{key}' must be a string")
    return value


class Api:
    """The API's handlers, around one workspace and one compiler."""

    def __init__(self, workspace: Workspace, compiler: Compiler, first: str | None, timeout: float):
        self.workspace = workspace
        self.compiler = compiler
        self.first = first
        self.timeout = timeout

    def path(self, value: Any) -> str:
        try:
            self.workspace.path(value)
        except PathRefused as e:
            raise Refused(400, str(e)) from None
        return str(value)

    async def files(self, request: Request) -> Response:
        files = await anyio.to_thread.run_sync(self.workspace.files)
        first = self.first if self.first in files else (files[0] if files else None)
        from archc.dsl.ops import REGISTRY

        ops = sorted(REGISTRY)  # the editor colours primitive ops by this list
        return JSONResponse({"folder": self.workspace.root.name, "files": files, "open": first, "ops": ops})

    def _read(self, rel: str) -> tuple[str, Version]:
        try:
            return self.workspace.read(rel)
        except PathRefused as e:
            raise Refused(400, str(e)) from None
        except NotFound:
            raise Refused(404, f"no spec '{rel}' in the served folder") from None
        except ArchcError as e:
            raise Refused(422, e.diagnostics[0].message) from None
        except OSError as e:
            raise Refused(422, f"cannot read '{rel}': {e.strerror or e}") from None

    async def file(self, request: Request) -> Response:
        rel = self.path(request.query_params.get("path"))
        text, version = await anyio.to_thread.run_sync(self._read, rel)
        return JSONResponse({"path": rel, "text": text, "version": version.as_dict()})

    async def _job(self, data: dict[str, Any], output: str) -> Job:
        rel = self.path(data.get("path"))
        text = _str(data, "text")
        network = _str(data, "network", optional=True)
        if network is not None and identifier_problem(network):
            raise Refused(400, "'network' must be a network name")
        sets = data.get("sets") or {}
        if not isinstance(sets, dict) or len(sets) > MAX_SETS:
            raise Refused(400, f"'sets' must be an object of at most {MAX_SETS} name: value pairs")
        for k, v in sets.items():
            if not k.isidentifier() or not isinstance(v, str) or len(v) > MAX_VALUE_CHARS:
                raise Refused(400, "'sets' maps parameter names to values written as in a spec")
        folds = data.get("folds") or {}
        if not isinstance(folds, dict) or len(folds) > MAX_FOLDS:
            raise Refused(400, f"'folds' must be an object of at most {MAX_FOLDS} path: bool pairs")
        if not all(isinstance(v, bool) and len(k) <= 1000 for k, v in folds.items()):
            raise Refused(400, "'folds' maps module paths to true (expanded) or false (collapsed)")
        compare = await self._compare(data.get("compare"), rel, text)
        return Job(
            str(self.workspace.root),
            Source(rel, text),
            tuple(sorted(sets.items())),
            network,
            tuple(sorted(folds.items())),
            compare,
            output,
        )

    async def _compare(self, spec: Any, rel: str, text: str) -> Compare | None:
        if spec is None:
            return None
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind == "defaults":
            return Compare(Source(rel, text), with_sets=False)
        if kind == "saved":
            saved, _ = await anyio.to_thread.run_sync(self._read, rel)
            return Compare(Source(rel, saved), with_sets=True)
        if kind == "file":
            other = self.path(spec.get("path"))
            saved, _ = await anyio.to_thread.run_sync(self._read, other)
            return Compare(Source(other, saved), with_sets=False)
        raise Refused(400, "'compare' is null or has kind 'saved', 'defaults' or 'file' (with a path)")

    async def _run(self, job: Job) -> Result | dict[str, Any]:
        """The job's result, or the answer to give when it has none (a timeout, a lost worker)."""
        try:
            return await self.compiler.run(job)
        except PoolBusy:
            raise Refused(503, "the server is busy compiling; try again in a moment") from None
        except CompileTimeout:
            return _error(job, f"compiling took longer than {self.timeout:g} s and was stopped",
                          "is a repeat count, or the expanded diagram, very large?")  # fmt: skip
        except WorkerLost:
            return _error(job, "the compiler process died while compiling (out of memory?)", None)

    async def compile(self, request: Request) -> Response:
        outcome = await self._run(await self._job(await _json(request), "view"))
        if isinstance(outcome, dict):
            return JSONResponse(outcome)
        return Response(outcome.payload or json.dumps(outcome.data), media_type="application/json")

    async def export(self, request: Request) -> Response:
        data = await _json(request)
        output = data.get("format")
        if output not in ("py", "svg", "png"):
            raise Refused(400, "'format' must be py, svg or png")
        outcome = await self._run(await self._job(data, output))
        answer, body = (outcome, None) if isinstance(outcome, dict) else (outcome.data, outcome.body)
        if not answer.get("ok") or body is None:
            return JSONResponse(answer, status_code=422)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(answer.get("name", f"network.{output}")))
        media = {"py": "text/x-python; charset=utf-8", "svg": "image/svg+xml", "png": "image/png"}[output]
        return Response(
            body, media_type=media, headers={"content-disposition": f'attachment; filename="{name}"'}
        )

    async def save(self, request: Request) -> Response:
        data = await _json(request)
        rel = self.path(data.get("path"))
        text = _str(data, "text")
        base = None
        if data.get("base") is not None:
            try:
                base = Version.from_dict(data["base"])
            except ValueError as e:
                raise Refused(400, str(e)) from None
        try:
            version = await anyio.to_thread.run_sync(self.workspace.save, rel, text, base)
        except Conflict as e:
            current = e.current.as_dict() if e.current else None
            return JSONResponse(
                {"error": f"'{rel}' changed on disk since it was opened; reload it or save elsewhere",
                 "current": current},
                status_code=409,
            )  # fmt: skip
        except PathRefused as e:
            raise Refused(400, str(e)) from None
        except ValueError as e:
            raise Refused(413, str(e)) from None
        except OSError as e:
            raise Refused(500, f"cannot write '{rel}': {e.strerror or e}") from None
        return JSONResponse({"path": rel, "version": version.as_dict()})


def _error(job: Job, message: str, hint: str | None) -> dict[str, Any]:
    diag = {"file": job.source.name, "line": 0, "col": 0, "end_line": 0, "end_col": 0, "message": message}
    return {"ok": False, "diagnostics": [{**diag, "hint": hint}]}


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


def create_app(
    folder: Path,
    first: str | None = None,
    *,
    hosts: Iterable[str] | None = ("127.0.0.1", "localhost", "::1"),
    workers: int = 2,
    timeout: float = 10.0,
    memory_limit: int | None = 4 << 30,
) -> Guard:
    """The application serving ``folder`` (``first``: the spec to open, relative to it).

    ``hosts`` are the names requests may give in ``Host`` (``None``: any, for ``--host 0.0.0.0``).
    The worker pool starts with the application's lifespan and stops with it."""
    workspace = Workspace(folder)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await anyio.to_thread.run_sync(lambda: WorkerPool(workers, timeout, memory_limit=memory_limit))
        app.state.api = Api(workspace, Compiler(pool), first, timeout)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(pool.close)

    def handler(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def call(request: Request) -> Response:
            method: Callable[[Request], Awaitable[Response]] = getattr(request.app.state.api, name)
            return await method(request)

        return call

    app = Starlette(
        routes=[
            Route("/", _index),
            Route("/api/files", handler("files")),
            Route("/api/file", handler("file")),
            Route("/api/compile", handler("compile"), methods=["POST"]),
            Route("/api/export", handler("export"), methods=["POST"]),
            Route("/api/save", handler("save"), methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={Refused: _refused},
        lifespan=lifespan,
    )
    return Guard(app, hosts)


@contextlib.contextmanager
def running(app: Guard, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL.

    For the tests, the benchmark and anything else that wants a real server in-process."""
    import socket
    import threading
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
