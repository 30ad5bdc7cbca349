"""`lmsystems threads list|show|history|delete`: the threads of a graph's deployment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.text import Text

from .._interrupts import interrupts_in_thread
from ._exit import EXIT_CODES_HELP
from ._options import (
    ApiKeyOption,
    BaseUrlOption,
    Connection,
    DeploymentKeyOption,
    DeploymentUrlOption,
    GraphOption,
    JsonOption,
    PlainUsageCommand,
    client_graph,
    thread_given,
)
from ._output import Output, compact

if TYPE_CHECKING:
    from .._arguments import ThreadStatusName

threads_app = typer.Typer(
    help="The threads of a graph's deployment: list them, show one, its history, delete one.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
)

ThreadArgument = Annotated[str, typer.Argument(metavar="ID", help="The thread's id.", show_default=False)]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@threads_app.command("list", cls=PlainUsageCommand)
def list_threads(
    graph: GraphOption = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, metavar="N", help="At most this many threads.")
    ] = 20,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only threads with this status: idle, busy, interrupted, error.",
        ),
    ] = None,
    json_output: JsonOption = False,
    api_key: ApiKeyOption = None,
    base_url: BaseUrlOption = None,
    deployment_url: DeploymentUrlOption = None,
    deployment_key: DeploymentKeyOption = None,
) -> None:
    """The threads of a graph (--graph; with --deployment-url and no graph: of the whole deployment),
    most recently updated first. A thread belongs to the graph that ran on it."""
    out = Output(json_mode=json_output)
    with Connection(api_key, base_url, deployment_url, deployment_key).client(graph) as client:
        assistant = client_graph(client)
        metadata = {"graph_id": assistant["graph_id"]} if assistant is not None else None
        threads = client.threads.search(
            metadata=metadata,
            limit=limit,
            status=cast("ThreadStatusName | None", status),  # threads.search checks it
            sort_by="updated_at",
            sort_order="desc",
        )
    if json_output:
        for thread in threads:
            out.json(thread)
        return
    rows = []
    for thread in threads:
        metadata = thread.get("metadata") or {}
        pending = len(interrupts_in_thread(thread))
        rows.append(
            [
                _text(thread.get("thread_id")),
                _text(thread.get("status")) + (f" ({pending} waiting)" if pending else ""),
                _text(metadata.get("graph_id") if isinstance(metadata, Mapping) else ""),
                _text(thread.get("updated_at")),
            ]
        )
    out.table(["thread", "status", "graph", "updated"], rows)


@threads_app.command("show", cls=PlainUsageCommand)
def show_thread(
    thread_id: ThreadArgument,
    graph: GraphOption = None,
    json_output: JsonOption = False,
    api_key: ApiKeyOption = None,
    base_url: BaseUrlOption = None,
    deployment_url: DeploymentUrlOption = None,
    deployment_key: DeploymentKeyOption = None,
) -> None:
    """A thread: its status, the interrupts it waits on, and its current values."""
    out = Output(json_mode=json_output)
    connection = Connection(api_key, base_url, deployment_url, deployment_key)
    with connection.client(graph) as client, thread_given(thread_id):
        thread = client.get_thread(thread_id)
    if json_output:
        out.json(thread)
        return
    metadata = thread.get("metadata") or {}
    out.table(
        ["field", "value"],
        [
            ["thread", _text(thread.get("thread_id"))],
            ["status", _text(thread.get("status"))],
            ["graph", _text(metadata.get("graph_id") if isinstance(metadata, Mapping) else "")],
            ["created", _text(thread.get("created_at"))],
            ["updated", _text(thread.get("updated_at"))],
        ],
    )
    for interrupt in interrupts_in_thread(thread):
        out.out.print(Text(f"waits on: {compact(interrupt.get('value'), 200)}", style="yellow"))
    out.document(thread.get("values"), title="values")


@threads_app.command("history", cls=PlainUsageCommand)
def thread_history(
    thread_id: ThreadArgument,
    graph: GraphOption = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, metavar="N", help="At most this many checkpoints.")
    ] = 10,
    json_output: JsonOption = False,
    api_key: ApiKeyOption = None,
    base_url: BaseUrlOption = None,
    deployment_url: DeploymentUrlOption = None,
    deployment_key: DeploymentKeyOption = None,
) -> None:
    """A thread's past states (checkpoints), newest first."""
    out = Output(json_mode=json_output)
    connection = Connection(api_key, base_url, deployment_url, deployment_key)
    with connection.client(graph) as client, thread_given(thread_id):
        states = client.get_state_history(thread_id, limit=limit)
    if json_output:
        for state in states:
            out.json(state)
        return
    rows = []
    for state in states:
        metadata = state.get("metadata") or {}
        checkpoint = state.get("checkpoint") or {}
        rows.append(
            [
                _text(checkpoint.get("checkpoint_id") if isinstance(checkpoint, Mapping) else ""),
                _text(metadata.get("step") if isinstance(metadata, Mapping) else ""),
                _text(metadata.get("source") if isinstance(metadata, Mapping) else ""),
                ", ".join(str(node) for node in state.get("next") or []),
                _text(state.get("created_at")),
            ]
        )
    out.table(["checkpoint", "step", "source", "next", "created"], rows)


@threads_app.command("delete", cls=PlainUsageCommand)
def delete_thread(
    thread_id: ThreadArgument,
    graph: GraphOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_output: JsonOption = False,
    api_key: ApiKeyOption = None,
    base_url: BaseUrlOption = None,
    deployment_url: DeploymentUrlOption = None,
    deployment_key: DeploymentKeyOption = None,
) -> None:
    """Delete a thread with its state and runs (asks first on a terminal, unless --yes)."""
    out = Output(json_mode=json_output)
    interactive = typer.get_text_stream("stdin").isatty() and not json_output
    if interactive and not yes and not typer.confirm(f"Delete thread {thread_id}?", err=True):
        raise typer.Exit(1)
    connection = Connection(api_key, base_url, deployment_url, deployment_key)
    with connection.client(graph) as client, thread_given(thread_id):
        client.threads.delete(thread_id)
    if json_output:
        out.json({"deleted": thread_id})
    else:
        out.write(f"deleted thread {thread_id}")
