"""``archc serve``: the live playground (the ``serve`` extra: Starlette and uvicorn)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import typer

from archc.cli.common import UsageError, app, err, reports_errors


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
@reports_errors
def serve(
    target: Annotated[
        Path,
        typer.Argument(
            help="A spec to open, or a folder of specs (default: the current folder).", show_default=False
        ),
    ] = Path("."),
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 8000,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; anything but loopback is reachable by others."),
    ] = "127.0.0.1",
    workers: Annotated[
        int, typer.Option("--workers", min=0, max=64, help="Compiler processes (default 0: the CPU count).")
    ] = 0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds one compile may take before it is stopped.")
    ] = 10.0,
) -> None:
    """A live playground in the browser: edit a spec, see its diagram, totals and errors as you type."""
    from archc.dsl.diagnostics import NOWHERE

    try:
        import uvicorn

        from archc.serve.app import create_app
    except ImportError:
        raise UsageError.at(
            NOWHERE, "archc serve needs the serve extra", "install it with: pip install 'archc[serve]'"
        ) from None
    if target.is_dir():
        folder, first = target, None
    elif target.is_file() and target.suffix == ".arch":
        folder, first = target.parent, target.name
    else:
        raise UsageError.at(
            NOWHERE, f"{target} is neither a folder nor a .arch spec", "give a spec or a folder"
        )
    loopback = {"127.0.0.1", "localhost", "::1"}
    hosts: set[str] | None = loopback
    if not _loopback(host):
        err(
            f"warning: listening on {host}: anyone who can reach this address can read and overwrite "
            f"the specs in {folder.resolve()}"
        )
        # on every interface the names this machine is reached by are unknown: any Host is let in
        hosts = None if host in ("0.0.0.0", "::") else {*loopback, host.strip("[]").lower()}
    application = create_app(
        folder, first, hosts=hosts, workers=workers or os.cpu_count() or 2, timeout=timeout
    )
    shown = f"[{host}]" if ":" in host else host
    print(f"archc serve: {folder.resolve()} on http://{shown}:{port}/  (Ctrl-C stops)", flush=True)
    uvicorn.run(application, host=host, port=port, log_level="warning")
