"""The `lmsystems` command: run graphs, answer their interrupts, read threads, and run a local stack.

    lmsystems run chat-graph --input '{"messages": [{"role": "user", "content": "hi"}]}'
    lmsystems threads list --graph chat-graph
    lmsystems dev --config langgraph.json

Needs the `cli` extra (`pip install 'lmsystems[cli]'`; `lmsystems dev` needs `lmsystems[dev]`).
`import lmsystems` never imports this package; `main()` imports typer and rich only when it runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]

#: Exit code for a usage error, also when the CLI's own dependencies are missing.
_EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run the command line `argv` (default: sys.argv[1:]) and exit with its code."""
    try:
        from ._app import run_app
    except ImportError as error:
        sys.stderr.write(
            f"lmsystems: the command line needs the 'cli' extra: pip install 'lmsystems[cli]' "
            f"(missing: {error.name})\n"
        )
        raise SystemExit(_EXIT_USAGE) from None
    raise SystemExit(run_app(argv))


def __getattr__(name: str) -> Any:
    if name == "app":
        from ._app import app

        return app
    raise AttributeError(f"module 'lmsystems.cli' has no attribute {name!r}")


if TYPE_CHECKING:
    app: typer.Typer
