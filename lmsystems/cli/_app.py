"""The `lmsystems` Typer app, and the one place that turns errors into messages and exit codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from .. import __version__
from .._dev.agent_server import AgentServerError
from .._exceptions import LmsystemsError
from ._dev import DEV_HELP, dev_command
from ._exit import EXIT_CODES_HELP, ExitCode, describe, exit_code_for
from ._graphs import graphs_app
from ._node import node_app
from ._options import PlainUsageCommand
from ._run import RUN_HELP, run_command
from ._threads import threads_app

app = typer.Typer(
    name="lmsystems",
    help="Run hosted LangGraph graphs from the terminal: stream runs, answer interrupts, read threads, "
    "and run your graphs locally behind a local marketplace (`lmsystems dev`).",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    # Plain help (click's): Rich markup would eat `[dev]`-like text and cut long names at 80 columns.
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)
app.command(
    "run",
    help=RUN_HELP,
    short_help="Stream a run of GRAPH live; answer its interrupts.",
    no_args_is_help=True,
    cls=PlainUsageCommand,
)(run_command)
app.add_typer(threads_app, name="threads", short_help="List threads; show one, its history; delete one.")
app.add_typer(
    graphs_app, name="graphs", short_help="List the graphs; show one's input, output and config keys."
)
app.command(
    "dev",
    help=DEV_HELP,
    short_help="Run your graphs locally, behind a local marketplace.",
    cls=PlainUsageCommand,
)(dev_command)
app.add_typer(node_app, name="node", short_help="Deploy a custom node (lmsystems node up).")


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"lmsystems {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", callback=_show_version, is_eager=True),
    ] = False,
) -> None:
    """Run hosted LangGraph graphs from the terminal."""


def run_app(argv: Sequence[str] | None = None) -> int:
    """Run one command line; return its exit code. Our errors become one line on stderr, no traceback.

    Typer reports usage errors itself (exit code 2), and turns Ctrl-C into 130.
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=list(argv) if argv is not None else None, prog_name="lmsystems")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (ExitCode.OK if done.code is None else 1)
    except LmsystemsError as error:
        if isinstance(error, AgentServerError):  # it carries the tail of the server's log: keep its lines
            typer.echo(f"lmsystems: {error}", err=True)
        else:
            typer.echo(describe(error), err=True)
        return exit_code_for(error)
    return ExitCode.OK
