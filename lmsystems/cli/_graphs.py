"""`lmsystems graphs [show ID]`: the assistants (graphs) of a deployment, and their schemas."""

from __future__ import annotations

import dataclasses
import os
from typing import Annotated, Any

import typer

from .._exceptions import InputError
from ._exit import EXIT_CODES_HELP
from ._options import (
    GRAPH_ENV,
    ApiKeyOption,
    BaseUrlOption,
    Connection,
    DeploymentKeyOption,
    DeploymentUrlOption,
    GraphOption,
    JsonOption,
    PlainUsageCommand,
    find_assistant,
)
from ._output import Output
from ._schema import schema_fields

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


@graphs_app.command("show", cls=PlainUsageCommand)
def show_graph(
    ctx: typer.Context,
    graph_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAME]",
            help="The graph: its marketplace name, or a graph id or assistant id of the deployment of "
            "--graph (default: the graph --graph names).",
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
    """A graph's input, output and config keys with their types (--json: the whole JSON Schemas, with
    the state and context schemas)."""
    given = ctx.obj if isinstance(ctx.obj, _Given) else _Given(None, False, Connection())
    connection = Connection(
        api_key if api_key is not None else given.connection.api_key,
        base_url if base_url is not None else given.connection.base_url,
        deployment_url if deployment_url is not None else given.connection.deployment_url,
        deployment_key if deployment_key is not None else given.connection.deployment_key,
    )
    json_output = json_output or given.json_output
    out = Output(json_mode=json_output)
    graph = graph if graph is not None else given.graph
    if graph is None and not os.environ.get(GRAPH_ENV) and connection.deployment_url is None:
        graph, graph_id = graph_id, None  # through the marketplace, NAME is the graph to resolve
    with connection.client(graph) as client:
        deployment = client.deployment
        wanted = (
            graph_id or (deployment.assistant_id if deployment is not None else None) or client.graph_name
        )
        if wanted is None:
            raise InputError("which graph? name it: lmsystems graphs show ID (a graph id or an assistant id)")
        assistant = find_assistant(client, wanted)
        schemas = client.assistants.get_schemas(assistant["assistant_id"])
    document: dict[str, Any] = {"assistant_id": assistant["assistant_id"], **schemas}
    if json_output:
        out.json(document)
        return
    out.write(f"graph {document.get('graph_id')}  (assistant {assistant['assistant_id']})", style="bold")
    for key, title in (("input_schema", "input"), ("output_schema", "output"), ("config_schema", "config")):
        out.write(f"{title}:", style="bold")
        fields = schema_fields(document.get(key))
        if not fields:
            out.write("  (none)", style="dim")
        width = max((len(field.name) for field in fields), default=0)
        for field in fields:
            out.write(f"  {field.name:<{width}}  {field.type}{'' if field.required else '  (optional)'}")
    name = graph_id or graph or client.graph_name or document.get("graph_id")
    out.write(f"the whole schemas: lmsystems graphs show {name} --json", style="dim")
