"""Latency of ``archc serve`` under load: compile requests for specs/resnet152.arch on loopback.

Starts ``archc serve specs`` as its own process on a free loopback port, then sends bounded
bursts of ``POST /api/compile`` (each scenario 100 requests, every request with a 60 s timeout,
the whole run stopped after 10 minutes) and prints p50/p95/max latency per scenario:

- ``sequential``: one request at a time, each different (``num_classes`` varies): the latency
  of one compile with nothing else running, the reference for the rest;
- ``100 identical``: 100 requests at once with the same text (100 tabs opening the spec):
  identical jobs in flight share one compile;
- ``4 tabs typing``: 4 clients, each sending its next (different) request when the last one
  answered, 25 each: what a few people editing at once see;
- ``100 distinct``: 100 different requests at once: the pool's throughput bound (every
  request needs its own compile, and the machine has ``os.cpu_count()`` cores).

Usage: python benchmarks/serve_load.py [--requests 100] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx  # readiness only: the load goes through Client

ROOT = Path(__file__).resolve().parent.parent
SPEC = "resnet152.arch"
TARGET_P95_MS = 150.0
DEADLINE_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def report(name: str, ms: list[float], wall: float, target: bool = False) -> None:
    p50, p95 = statistics.median(ms), pct(ms, 0.95)
    mark = ""
    if target:
        mark = f"   target p95 < {TARGET_P95_MS:.0f} ms: {'met' if p95 < TARGET_P95_MS else 'NOT met'}"
    print(
        f"  {name:<16} n={len(ms):<4} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  max {max(ms):7.1f} ms"
        f"  wall {wall:6.2f} s{mark}"
    )


class Client:
    """A minimal HTTP/1.1 client on asyncio streams, one connection per request: the load
    generator shares the machine's cores with the server, so it should cost as little as it can
    (httpx's pool takes several times longer per request)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
            status_line = await reader.readline()
            length = None
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            data = await (reader.readexactly(length) if length is not None else reader.read())
            return int(status_line.split()[1]), data
        finally:
            writer.close()


async def one(client: Client, text: str, classes: int) -> float:
    body = json.dumps({"path": SPEC, "text": text, "sets": {"num_classes": str(classes)}}).encode()
    started = time.perf_counter()
    status, data = await client.post("/api/compile", body)
    elapsed = 1000 * (time.perf_counter() - started)
    if status != 200 or b'"ok":true' not in data[:20]:
        raise SystemExit(f"request failed: {status} {data[:300]!r}")
    return elapsed


async def run(port: int, text: str, n: int) -> None:
    client = Client("127.0.0.1", port)
    await one(client, text, 1000)  # warm the workers
    hits = [await one(client, text, 1000) for _ in range(20)]  # the same again: from the cache
    report("cached", hits, sum(hits) / 1000)
    seq: list[float] = []
    started = time.perf_counter()
    for i in range(min(n, 20)):
        seq.append(await one(client, text, 2000 + i))
    report("sequential", seq, time.perf_counter() - started)

    started = time.perf_counter()
    same = await asyncio.gather(*(one(client, text, 3000) for _ in range(n)))
    report(f"{n} identical", list(same), time.perf_counter() - started, target=True)

    tabs = 4
    typing: list[float] = []

    async def tab(t: int) -> None:
        for i in range(n // tabs):
            typing.append(await one(client, text, 4000 + t * 1000 + i))

    started = time.perf_counter()
    await asyncio.gather(*(tab(t) for t in range(tabs)))
    report(f"{tabs} tabs typing", typing, time.perf_counter() - started, target=True)

    started = time.perf_counter()
    distinct = await asyncio.gather(*(one(client, text, 10000 + i) for i in range(n)))
    report(f"{n} distinct", list(distinct), time.perf_counter() - started, target=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--workers", type=int, default=0, help="compiler processes (default: CPU count)")
    args = parser.parse_args()
    port = free_port()
    archc = Path(sys.executable).with_name("archc")
    cmd = [str(archc), "serve", str(ROOT / "specs"), "--port", str(port), "--workers", str(args.workers)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/api/files", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        text = (ROOT / "specs" / SPEC).read_text()
        workers = args.workers or os.cpu_count()
        print(
            f"archc serve: POST /api/compile of specs/{SPEC} on loopback, "
            f"{workers} workers, {os.cpu_count()} cores"
        )
        load = os.getloadavg()[0]
        print(f"load average before: {load:.2f} (other processes on these cores slow every figure)")
        asyncio.run(asyncio.wait_for(run(port, text, args.requests), DEADLINE_S))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
