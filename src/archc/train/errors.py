"""The ways a run ends early, as exceptions the CLI turns into one message and an exit code."""

from __future__ import annotations

from archc.dsl.diagnostics import ArchcError


class TrainError(ArchcError):
    """A run that cannot go on (a loss that turned NaN, data that does not fit): exit 1."""


class CheckpointError(ArchcError):
    """A checkpoint or weights file that cannot be trusted or read: exit 1, never a traceback."""


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped the run at a step boundary, after its checkpoint was written.

    The CLI exits with ``128 + signum``, as a shell reports a process ended by that signal."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum
        self.message = message
