"""The ``archc`` command line (typer): one module per command group, combined into one app.

Exit codes: 0 success, 1 a spec that does not compile, 2 a usage error.  Data goes to
stdout, diagnostics and progress to stderr.  ``check``, ``summary`` and ``render`` never
import torch.
"""

import sys

from archc.cli import build, check, diff, evaluate, render, serve, train, weights
from archc.cli.common import app

__all__ = ["app", "build", "check", "diff", "evaluate", "main", "render", "serve", "train", "weights"]


def main() -> None:
    # paths may hold bytes that are not UTF-8 (read as surrogates) and terminals may refuse
    # characters: print what cannot be encoded as escapes rather than end in a traceback
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    app()
