"""Worker processes that compile with a time limit, and a cache in front of them.

A spec can be made to take long (a repeat near the layer limit, a diagram of thousands of
nodes), so compiles never run in the server's own process.  Each worker is a process of its
own, leading its own process group: when a job runs past the time limit, the whole group (the
worker and any ``dot`` it started) is killed and a fresh worker takes its place, and the server
answers with an error.  Workers start from a fork server that has already imported archc, so a
replacement is ready in milliseconds.

:class:`Compiler` adds what the page needs in front of the pool: a small LRU cache of answers
(checked against the mtimes and sizes of the files they read through ``use``) and sharing of
an answer between identical jobs in flight, since several tabs, or the same keystrokes
replayed, ask for the same compile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

import anyio

from archc.serve.jobs import Job, Result, install_worker_caches, run


class CompileTimeout(Exception):
    """A job ran past the time limit; its worker was replaced."""


class WorkerLost(Exception):
    """A worker died while compiling (killed from outside, or by its memory limit)."""


class PoolBusy(Exception):
    """Every worker stayed busy for longer than a request may wait."""


def _worker_main(conn: Connection, memory_limit: int | None) -> None:
    """The loop of one worker process: receive a job, send its result, until the pipe closes."""
    os.setsid()  # its own process group, so a kill takes the `dot` it started with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    install_worker_caches()
    if memory_limit:
        import resource

        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(run(job))


class _Worker:
    def __init__(self, ctx: Any, memory_limit: int | None):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, memory_limit), daemon=True)
        self.process.start()
        child.close()

    def kill(self) -> None:
        pid = self.process.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.join(5)
        self.conn.close()


class WorkerPool:
    """``size`` worker processes; :meth:`run` is blocking and safe to call from many threads."""

    def __init__(self, size: int, timeout: float, *, wait: float = 30.0, memory_limit: int | None = None):
        self.timeout = timeout
        self.wait = wait
        self.memory_limit = memory_limit
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["archc.serve.jobs", "archc.render", "archc.codegen.emit"])
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(max(1, size)):
            self._add()

    def _add(self) -> None:
        worker = _Worker(self._ctx, self.memory_limit)
        with self._lock:
            if self._closed:
                worker.kill()
                return
            self._all.add(worker)
        self._idle.put(worker)

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.kill()
        self._add()

    def run(self, job: Job) -> Result:
        try:
            worker = self._idle.get(timeout=self.wait)
        except queue.Empty:
            raise PoolBusy() from None
        try:
            worker.conn.send(job)
            if not worker.conn.poll(self.timeout):
                self._replace(worker)
                raise CompileTimeout()
            result: Result = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self._replace(worker)
            raise WorkerLost() from None
        self._idle.put(worker)
        return result

    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            w.kill()


def _fresh(result: Result) -> bool:
    """Whether the files a cached answer read through ``use`` are unchanged."""
    for path, mtime, size in result.deps:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if (st.st_mtime_ns, st.st_size) != (mtime, size):
            return False
    return True


class Compiler:
    """The pool behind a cache, for the server's event loop: identical jobs in flight share one
    compile, recent answers are reused while the files they read are unchanged, and an answer
    is serialised to JSON once, however many requests receive it.  Only a compile leaves the
    event loop (a thread waits on the worker), so a cached answer costs no thread hop."""

    def __init__(self, pool: WorkerPool, cache_size: int = 64, threads: int = 64):
        self.pool = pool
        self.cache_size = cache_size
        self._cache: OrderedDict[Job, Result] = OrderedDict()
        self._inflight: dict[Job, asyncio.Future[Result]] = {}
        self._limiter = anyio.CapacityLimiter(threads)
        self.compiles = 0  # jobs that reached a worker (for tests and the benchmark)

    def _compile(self, job: Job) -> Result:
        started = time.perf_counter()
        result = self.pool.run(job)
        result.data["elapsed_ms"] = round(1000 * (time.perf_counter() - started), 1)
        result.payload = json.dumps(result.data, separators=(",", ":")).encode()
        return result

    async def run(self, job: Job) -> Result:
        if job.output != "view":  # downloads are rare and large: not cached
            return await anyio.to_thread.run_sync(self._compile, job, limiter=self._limiter)
        hit = self._cache.get(job)
        if hit is not None and _fresh(hit):
            self._cache.move_to_end(job)
            return hit
        waiting = self._inflight.get(job)
        if waiting is not None:
            return await asyncio.shield(waiting)
        mine: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        mine.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved: never "unhandled"
        self._inflight[job] = mine
        try:
            result = await anyio.to_thread.run_sync(self._compile, job, limiter=self._limiter)
        except BaseException as e:
            del self._inflight[job]
            if not mine.done():
                mine.set_exception(e if isinstance(e, Exception) else RuntimeError("compile cancelled"))
            raise
        del self._inflight[job]
        self.compiles += 1
        self._cache[job] = result
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        mine.set_result(result)
        return result

    def close(self) -> None:
        self.pool.close()
