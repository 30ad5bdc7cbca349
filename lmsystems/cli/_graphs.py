"""`lmsystems graphs [show ID]`: the assistants (graphs) of a deployment, and their schemas."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._exceptions import GraphNotFoundError, InputError, NotFoundError
from ._exit import EXIT_CODES_HELP
from ._options import (
    ApiKeyOption,
    BaseUrlOption,
    Connection,
    DeploymentKeyOption,
    DeploymentUrlOption,
    GraphOption,
    JsonOption,
)
from ._output import Output

if TYPE_CHECKING:
    from .._sync_client import SyncLmsystemsClient

graphs_app = typer.Typer(
    help="The graphs of a deployment: its assistants with their graph ids (`graphs`), and one graph's "
    "input, output and config schemas (`graphs show ID`).",
    epilog=EXIT_CODES_HELP,
    invoke_without_command=True,
)


@dataclasses.dataclass(frozen=True)
class _Given:
    """What `lmsystems graphs ...` was given before its subcommand (defaults for `show`)."""

    graph: str | None
    json_output: bool
    connection: Connection


@graphs_app.callback()
def list_graphs(
    ctx: typer.Context,
    graph: GraphOption = None,
    json_output: JsonOption = False,
    api_key: ApiKeyOption = None,
    base_url: BaseUrlOption = None,
    deployment_url: DeploymentUrlOption = None,
    deployment_key: DeploymentKeyOption = None,
) -> None:
    """The assistants of the deployment serving --graph, with their graph ids."""
    connection = Connection(api_key, base_url, deployment_url, deployment_key)
    if ctx.invoked_subcommand is not None:
        ctx.obj = _Given(graph, json_output, connection)
        return
    out = Output(json_mode=json_output)
    with connection.client(graph) as client:
        assistants = client.assistants.search(limit=100, sort_by="graph_id", sort_order="asc")
    if json_output:
        for assistant in assistants:
            out.json(assistant)
        return
    rows = [
        [
            str(assistant.get("graph_id") or ""),
            str(assistant.get("assistant_id") or ""),
            str(assistant.get("name") or ""),
            str(assistant.get("version") or ""),
            str(assistant.get("description") or ""),
        ]
        for assistant in assistants
    ]
    out.table(["graph", "assistant", "name", "version", "description"], rows)


@graphs_app.command("show")
def show_graph(
    ctx: typer.Context,
    graph_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[ID]",
            help="A graph id or assistant id of the deployment (default: the one --graph resolves to).",
            show_default=False,
        ),
    ] = None,
    graph: GraphOption = None,
    json_output: JsonOption = False,
    api_key: ApiKeyOption = None,
    base_url: BaseUrlOption = None,
    deployment_url: DeploymentUrlOption = None,
    deployment_key: DeploymentKeyOption = None,
) -> None:
    """A graph's input, output and config schemas (and its state and context schemas)."""
    given = ctx.obj if isinstance(ctx.obj, _Given) else _Given(None, False, Connection())
    connection = Connection(
        api_key if api_key is not None else given.connection.api_key,
        base_url if base_url is not None else given.connection.base_url,
        deployment_url if deployment_url is not None else given.connection.deployment_url,
        deployment_key if deployment_key is not None else given.connection.deployment_key,
    )
    json_output = json_output or given.json_output
    out = Output(json_mode=json_output)
    with connection.client(graph if graph is not None else given.graph) as client:
        deployment = client.deployment
        wanted = (
            graph_id or (deployment.assistant_id if deployment is not None else None) or client.graph_name
        )
        if wanted is None:
            raise InputError("which graph? name it: lmsystems graphs show ID (a graph id or an assistant id)")
        assistant = _find_assistant(client, wanted)
        schemas = client.assistants.get_schemas(assistant["assistant_id"])
    document: dict[str, Any] = {"assistant_id": assistant["assistant_id"], **schemas}
    if json_output:
        out.json(document)
        return
    out.write(f"graph {document.get('graph_id')}  (assistant {assistant['assistant_id']})", style="bold")
    for key, title in (
        ("input_schema", "input schema"),
        ("output_schema", "output schema"),
        ("config_schema", "config schema"),
        ("state_schema", "state schema"),
        ("context_schema", "context schema"),
    ):
        if document.get(key) is not None:
            out.document(document[key], title=title)


def _find_assistant(client: SyncLmsystemsClient, wanted: str) -> dict[str, Any]:
    """The assistant `wanted` names: an assistant id (a UUID), else a graph's default assistant."""
    try:
        uuid.UUID(wanted)
    except ValueError:
        try:
            found = client.assistants.search(graph_id=wanted, limit=1)
        except NotFoundError:  # the server answers 404 for a graph id it does not serve
            found = []
        if not found:
            raise GraphNotFoundError(
                f"the deployment has no graph {wanted!r} (`lmsystems graphs` lists them)"
            ) from None
        return dict(found[0])
    return dict(client.assistants.get(wanted))
