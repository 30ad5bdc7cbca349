"""Options every command shares (where to connect, `--json`), and reading JSON from the command line."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core

from .._exceptions import APIKeyError, GraphNotFoundError, InputError, NotFoundError
from .._settings import API_KEY_ENV, BASE_URL_ENV

if TYPE_CHECKING:
    from .._sync_client import SyncLmsystemsClient

#: The variable `--deployment-key` falls back to (kept out of the command line, where `ps` shows it).
DEPLOYMENT_KEY_ENV = "LMSYSTEMS_DEPLOYMENT_KEY"
#: The variable `--graph` of `threads` and `graphs` falls back to.
GRAPH_ENV = "LMSYSTEMS_GRAPH"

CONNECTION = "Connection"

ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        metavar="KEY",
        help=f"Your LMSystems API key. Default: ${API_KEY_ENV} (prefer it: options show up in `ps`).",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        help=f"The marketplace API. Default: ${BASE_URL_ENV}, else https://api.lmsystems.ai.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
DeploymentUrlOption = Annotated[
    str | None,
    typer.Option(
        "--deployment-url",
        metavar="URL",
        help="Talk to this Agent Server directly, without the marketplace (e.g. `langgraph dev`); "
        "the graph is then a graph id or an assistant id there.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
DeploymentKeyOption = Annotated[
    str | None,
    typer.Option(
        "--deployment-key",
        metavar="KEY",
        help=f"The key of --deployment-url (sent as x-api-key). Default: ${DEPLOYMENT_KEY_ENV}.",
        show_default=False,
        rich_help_panel=CONNECTION,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Machine output: one JSON object per line, nothing else on stdout."),
]
GraphOption = Annotated[
    str | None,
    typer.Option(
        "--graph",
        "-g",
        metavar="NAME",
        help=f"A graph of the deployment: its marketplace name (or, with --deployment-url, a graph id). "
        f"Default: ${GRAPH_ENV}.",
        show_default=False,
    ),
]


#: The type label Typer puts after an argument's name in help (`<str>`, `<int>`, `<list[str]>`).
_TYPE_LABEL = re.compile(r"\s+<[^<>]*>$")


class PlainUsageCommand(typer.core.TyperCommand):
    """A command whose usage line names its arguments as they are typed (`ID`, not Typer's `{ID}`)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:  # a click Context (typer vendors click)
        return [
            piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
            for piece in super().collect_usage_pieces(ctx)
        ]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """The Arguments and Options sections, an argument named by its metavar alone.

        Typer 0.28 and newer add a type label to arguments (`GRAPH <str>`); ours are named and described
        in words, so the label only adds noise.
        """
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_TYPE_LABEL.sub("", record[0]), record[1]))
            elif param.param_type_name == "option":
                options.append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


@dataclass(frozen=True)
class Connection:
    """Where to connect, as given on the command line (None: the SDK's own fallbacks apply)."""

    api_key: str | None = None
    base_url: str | None = None
    deployment_url: str | None = None
    deployment_key: str | None = None

    def __repr__(self) -> str:  # keys stay out of any repr
        return f"Connection(base_url={self.base_url!r}, deployment_url={self.deployment_url!r})"

    def client(self, graph: str | None) -> SyncLmsystemsClient:
        """A client for `graph`, resolved now (a wrong key or graph name fails here)."""
        from .._sync_client import SyncLmsystemsClient

        if graph is None:
            graph = os.environ.get(GRAPH_ENV) or None
        if not graph and self.deployment_url is None:
            raise InputError(
                f"which graph? the marketplace finds a deployment by a graph's name: pass --graph NAME or "
                f"set {GRAPH_ENV}=NAME (with --deployment-url URL, an Agent Server is read without one)"
            )
        if self.api_key is None and self.deployment_url is None and not os.environ.get(API_KEY_ENV):
            raise APIKeyError(
                f"no API key: set {API_KEY_ENV} or pass --api-key "
                "(or --deployment-url to talk to an Agent Server directly)"
            )
        deployment_key = self.deployment_key
        if deployment_key is None and self.deployment_url is not None:
            deployment_key = os.environ.get(DEPLOYMENT_KEY_ENV) or None
        return SyncLmsystemsClient(
            graph_name=graph,
            api_key=self.api_key,
            base_url=self.base_url,
            deployment_url=self.deployment_url,
            deployment_key=deployment_key,
        )


def find_assistant(client: SyncLmsystemsClient, wanted: str) -> dict[str, Any]:
    """The assistant `wanted` names: an assistant id (a UUID), else a graph's default assistant.

    GraphNotFoundError (exit code 2: a name the user typed) when the deployment has neither.
    """
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
    try:
        return dict(client.assistants.get(wanted))
    except NotFoundError:
        raise GraphNotFoundError(f"the deployment has no assistant {wanted!r}") from None


def client_graph(client: SyncLmsystemsClient) -> dict[str, Any] | None:
    """The assistant of the graph the client was made for (--graph, $LMSYSTEMS_GRAPH), or None."""
    deployment = client.deployment or client.connect()
    return find_assistant(client, deployment.assistant_id) if deployment.assistant_id else None


@contextlib.contextmanager
def thread_given(thread_id: str) -> Iterator[None]:
    """A thread id the user typed that the deployment does not have is bad input (exit code 2)."""
    try:
        yield
    except GraphNotFoundError:
        raise
    except NotFoundError:
        raise InputError(
            f"the deployment has no thread {thread_id} (`lmsystems threads list` lists them)"
        ) from None


def read_json_argument(text: str, *, option: str) -> Any:
    """A JSON value given inline, or as `@path` (`@-`: standard input); InputError when it is not JSON."""
    source = option
    if text.startswith("@"):
        path = text[1:]
        source = f"{option} {text}"
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(f"{option}: cannot read {path}: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise InputError(f"{option}: {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise InputError(f"{source} is not valid JSON: {error}") from None


def read_answer(text: str) -> Any:
    """An answer to an interrupt: JSON when it parses (`true`, `{"a": 1}`, `"quoted"`), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text
