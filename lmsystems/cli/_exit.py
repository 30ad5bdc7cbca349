"""Exit codes, and the one-line message for each of our errors (never a traceback, never a key)."""

from __future__ import annotations

import enum

from .._exceptions import (
    APIError,
    AuthenticationError,
    GraphError,
    GraphNotFoundError,
    InputError,
    LmsystemsError,
    RunError,
)


class ExitCode(enum.IntEnum):
    """What `lmsystems` exits with (documented in `--help` and docs/cli.md)."""

    OK = 0
    #: Any other failure, e.g. the local Agent Server of `lmsystems dev` did not start.
    FAILURE = 1
    #: A usage error: a bad option or argument, invalid --input JSON, a missing extra (InputError), a
    #: graph or thread the user named that does not exist (GraphNotFoundError, a thread's 404).
    USAGE = 2
    #: The run stopped at an interrupt and nobody answered it: resume it with --thread and --resume.
    INTERRUPT_PENDING = 3
    #: The run failed, or the graph / thread refused it (RunError, GraphError).
    RUN_ERROR = 4
    #: The marketplace or the deployment refused the API key (AuthenticationError).
    AUTHENTICATION = 5
    #: The API could not be reached or answered an error (APIError, e.g. a connection error or a 404).
    API_ERROR = 6
    #: Stopped with Ctrl-C.
    CANCELLED = 130


EXIT_CODES_HELP = (
    "Exit codes: 0 success · 2 usage error or bad input · 3 interrupt left pending · 4 run or graph error "
    "· 5 authentication error · 6 connection or API error · 1 anything else · 130 Ctrl-C."
)


def exit_code_for(error: LmsystemsError) -> ExitCode:
    """The exit code for one of our errors."""
    if isinstance(error, AuthenticationError):
        return ExitCode.AUTHENTICATION
    if isinstance(error, InputError | GraphNotFoundError):
        return ExitCode.USAGE
    if isinstance(error, GraphError):
        return ExitCode.RUN_ERROR
    if isinstance(error, APIError):
        return ExitCode.API_ERROR
    return ExitCode.FAILURE


_KINDS: tuple[tuple[type[LmsystemsError], str], ...] = (
    (AuthenticationError, "authentication failed"),
    (InputError, "invalid input"),
    (RunError, "run failed"),
    (GraphError, "graph error"),
    (APIError, "API error"),
)


def describe(error: LmsystemsError) -> str:
    """`lmsystems: <kind>: <message> (request id ...)` on one line. Our messages are already redacted."""
    kind = next((label for cls, label in _KINDS if isinstance(error, cls)), "error")
    text = " ".join(str(error).split())
    return f"lmsystems: {kind}: {text}"
