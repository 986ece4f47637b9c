"""What every ``archc`` command shares: the typer app, common options, and error reporting.

Exit codes: 0 success, 1 a spec that does not compile, 2 a usage error.  Data goes to
stdout, diagnostics and progress to stderr.  ``check``, ``summary`` and ``render`` never
import torch.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from archc.dsl.diagnostics import NOWHERE, ArchcError, UsageError

__all__ = [
    "NOWHERE",
    "ArchcError",
    "DType",
    "Format",
    "InputOpt",
    "NetworkOpt",
    "SetOpt",
    "SpecArg",
    "UsageError",
    "app",
]

app = typer.Typer(
    name="archc",
    help="A compiler for neural-network architectures: check, summarise, render, build and train specs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

#: Options that hold for every command of one run (set by the app's callback).
SETTINGS: dict[str, Any] = {"allow_outside": False}


@app.callback()
def _settings(
    allow_outside: Annotated[
        bool,
        typer.Option(
            "--allow-outside",
            help="Let `use` read specs outside the spec's project (the folder holding specs/).",
        ),
    ] = False,
) -> None:
    """A compiler for neural-network architectures: check, summarise, render, build and train specs."""
    SETTINGS["allow_outside"] = allow_outside


SpecArg = Annotated[Path, typer.Argument(help="The .arch spec file.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", help="Override a network parameter: name=value (repeatable).", show_default=False
    ),
]
InputOpt = Annotated[
    str | None,
    typer.Option("--input", "-i", help="Override the input shape, e.g. 3x32x32.", show_default=False),
]
NetworkOpt = Annotated[
    str | None,
    typer.Option(
        "--network", "-n", help="Which network of the file (default: its last one).", show_default=False
    ),
]


def err(text: str) -> None:
    print(text, file=sys.stderr)


def reports_errors(fn: F) -> F:
    """Turn archc's errors into a message and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UsageError as e:
            err(e.render())
            raise typer.Exit(2) from None
        except BrokenPipeError:  # the reader went away (`archc summary ... | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except OSError as e:  # a path that cannot be written or read: the user's to fix, not a bug
            where = f"{e.filename}: " if e.filename else ""
            err(f"error: {where}{e.strerror or e}\n  hint: check the path and its permissions")
            raise typer.Exit(2) from None
        except ArchcError as e:
            err(e.render())
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def compile_from_cli(spec: Path, network: str | None, sets: list[str] | None, input_shape: str | None) -> Any:
    from archc.api import compile_spec, parse_sets, parse_shape

    shape = parse_shape(input_shape) if input_shape is not None else None
    return compile_spec(
        spec,
        network=network,
        sets=parse_sets(sets),
        input_shape=shape,
        allow_outside=bool(SETTINGS["allow_outside"]),
    )


class DType(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
