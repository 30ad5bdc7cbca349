"""A local LMSystems marketplace: the API of `openapi/marketplace.yaml`, served by Starlette and uvicorn.

Endpoints (JSON in, JSON out; auth is `Authorization: Bearer <user key>` on both):

`POST /api/get_graph_info` with `{"graph_name": str}`
    200 `{"graph_url", "lgraph_api_key", "assistant_id", "configurables": {"configurable": {...}},
    "environment_variables": {...}}`. `graph_url` is the Agent Server's URL and `lgraph_api_key` its
    deployment key.

`POST /api/nodes/upload` with `{"node_code": base64 ZIP, "metadata": {...}}` (custom nodes)
    200 `{"node_id", "endpoint_url", "api_key"}`; the node is then served at `POST /nodes/{id}/invoke`
    (see `lmsystems._dev.nodes`); `app.state.nodes` holds the deployed nodes.

`POST /api/track_run` with `{"graph_name": str, "run_id": str}`
    200 `{"status": "ok"}`; the call is appended to `app.state.tracked_runs` (a list of TrackedRun).

Errors are non-2xx with body `{"detail": {"error": CODE, "message": TEXT}}`, checked in this order:

=======================  ======  =====================================================================
CODE                     status  when
=======================  ======  =====================================================================
`missing_api_key`        401     no `Authorization` header, not `Bearer`, or an empty key
`invalid_api_key`        401     the key is not a known user key
`missing_graph_name`     400     `graph_name` absent, `null` or `""` (or the body is not a JSON object)
`invalid_graph_name`     400     `graph_name` not a string, or not matching `GRAPH_NAME_PATTERN`
`graph_not_found`        404     no graph with that name
`graph_not_purchased`    403     the graph exists but this user did not buy it
`missing_run_id`         400     (track_run only) `run_id` absent, not a string or empty
=======================  ======  =====================================================================

Every `get_graph_info` call (successful or not) is appended to `app.state.graph_info_requests` (a list of
GraphInfoRequest), so callers can count round trips.

`lmsystems dev` serves a `dev_table()`: one user (a random key per session) who bought every graph of the
local langgraph.json. The test bed builds richer tables (several users, unpurchased graphs).
Needs the `dev` extra (starlette, uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .._exceptions import InputError, LmsystemsError
from ._extras import MissingExtraError

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
except ImportError as _error:  # pragma: no cover - depends on the installed extras
    raise MissingExtraError(
        f"the local marketplace needs the 'dev' extra: pip install 'lmsystems[dev]' (missing: {_error.name})"
    ) from None

from .nodes import DeployedNode, node_routes

__all__ = [
    "GRAPH_NAME_PATTERN",
    "GraphInfoRequest",
    "MarketplaceError",
    "MarketplaceGraph",
    "MarketplaceTable",
    "RunningMarketplace",
    "TrackedRun",
    "create_marketplace_app",
    "dev_table",
    "start_marketplace_server",
]

logger = logging.getLogger("lmsystems")

GRAPH_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


@dataclass
class MarketplaceGraph:
    """A listed graph. `assistant_id` defaults to `graph_id` (the Agent Server accepts a graph id wherever
    an assistant id is expected and resolves it to that graph's default assistant)."""

    graph_name: str
    graph_id: str
    assistant_id: str | None = None
    configurables: dict[str, Any] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.assistant_id is None:
            self.assistant_id = self.graph_id


@dataclass
class MarketplaceTable:
    """The marketplace's in-memory data: user keys, listed graphs and purchases (user key -> names)."""

    user_keys: set[str] = field(default_factory=set)
    graphs: dict[str, MarketplaceGraph] = field(default_factory=dict)
    purchases: dict[str, set[str]] = field(default_factory=dict)

    def add_user(self, user_key: str) -> str:
        self.user_keys.add(user_key)
        self.purchases.setdefault(user_key, set())
        return user_key

    def add_graph(
        self,
        graph_name: str,
        graph_id: str,
        *,
        assistant_id: str | None = None,
        configurables: Mapping[str, Any] | None = None,
        environment_variables: Mapping[str, str] | None = None,
    ) -> MarketplaceGraph:
        if not GRAPH_NAME_PATTERN.fullmatch(graph_name):
            raise InputError(f"invalid marketplace graph name: {graph_name!r}")
        graph = MarketplaceGraph(
            graph_name=graph_name,
            graph_id=graph_id,
            assistant_id=assistant_id,
            configurables=dict(configurables or {}),
            environment_variables=dict(environment_variables or {}),
        )
        self.graphs[graph_name] = graph
        return graph

    def purchase(self, user_key: str, *graph_names: str) -> None:
        for name in graph_names:
            if name not in self.graphs:
                raise InputError(f"unknown graph {name!r}")
        self.add_user(user_key)
        self.purchases[user_key].update(graph_names)

    def has_purchased(self, user_key: str, graph_name: str) -> bool:
        return graph_name in self.purchases.get(user_key, set())


def dev_table(
    user_key: str, graph_ids: Iterable[str], *, names: Mapping[str, str] | None = None
) -> MarketplaceTable:
    """One user who bought every graph: each graph id is listed under its own name (when it is a valid
    marketplace name), and `names` adds more names (marketplace name -> graph id), e.g. the names the
    graphs have in production."""
    table = MarketplaceTable()
    table.add_user(user_key)
    ids = list(graph_ids)
    for graph_id in ids:
        if GRAPH_NAME_PATTERN.fullmatch(graph_id):
            table.add_graph(graph_id, graph_id)
        else:
            logger.warning("graph id %r is not a valid marketplace name: give it one with names=", graph_id)
    for name, graph_id in (names or {}).items():
        if graph_id not in ids:
            raise InputError(f"{name!r} names the graph {graph_id!r}, which the config does not serve")
        table.add_graph(name, graph_id)
    table.purchase(user_key, *table.graphs)
    return table


@dataclass(frozen=True)
class TrackedRun:
    user_key: str
    graph_name: str
    run_id: str


@dataclass(frozen=True)
class GraphInfoRequest:
    user_key: str | None
    graph_name: Any
    status_code: int


class MarketplaceError(LmsystemsError):
    """An error answer of the marketplace (turned into its JSON body; never leaves the app)."""

    def __init__(self, status_code: int, error: str, message: str) -> None:
        super().__init__(message, status_code=status_code)
        self.error = error

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"detail": {"error": self.error, "message": self.message}}, status_code=self.status_code or 500
        )


def _bearer_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise MarketplaceError(401, "missing_api_key", "Missing API key: send 'Authorization: Bearer <key>'.")
    return key.strip()


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _check_graph_name(value: Any) -> str:
    if value is None or value == "":
        raise MarketplaceError(400, "missing_graph_name", "The request body must contain 'graph_name'.")
    if not isinstance(value, str) or not GRAPH_NAME_PATTERN.fullmatch(value):
        raise MarketplaceError(400, "invalid_graph_name", f"Invalid graph name: {value!r}.")
    return value


def create_marketplace_app(
    table: MarketplaceTable, agent_server_url: str, deployment_key: str | None
) -> Starlette:
    """Build the marketplace app. `app.state` holds `table`, `agent_server_url`, `deployment_key`,
    `tracked_runs` and `graph_info_requests` (callers may change the table while it serves)."""

    def authorize(request: Request, graph_name: Any) -> tuple[str, MarketplaceGraph]:
        user_key = _bearer_key(request)
        if user_key not in table.user_keys:
            raise MarketplaceError(401, "invalid_api_key", "Invalid API key.")
        name = _check_graph_name(graph_name)
        graph = table.graphs.get(name)
        if graph is None:
            raise MarketplaceError(404, "graph_not_found", f"Graph '{name}' not found.")
        if not table.has_purchased(user_key, name):
            raise MarketplaceError(403, "graph_not_purchased", f"You have not purchased the graph '{name}'.")
        return user_key, graph

    async def get_graph_info(request: Request) -> JSONResponse:
        body = await _json_object(request)
        graph_name = body.get("graph_name")
        try:
            _, graph = authorize(request, graph_name)
        except MarketplaceError as exc:
            _record_info_request(request, graph_name, exc.status_code or 500)
            return exc.response()
        _record_info_request(request, graph_name, 200)
        return JSONResponse(
            {
                "graph_url": request.app.state.agent_server_url,
                "lgraph_api_key": request.app.state.deployment_key,
                "assistant_id": graph.assistant_id,
                "configurables": {"configurable": dict(graph.configurables)},
                "environment_variables": dict(graph.environment_variables),
            }
        )

    async def track_run(request: Request) -> JSONResponse:
        body = await _json_object(request)
        try:
            user_key, graph = authorize(request, body.get("graph_name"))
            run_id = body.get("run_id")
            if not isinstance(run_id, str) or not run_id.strip():
                raise MarketplaceError(400, "missing_run_id", "The request body must contain 'run_id'.")
        except MarketplaceError as exc:
            return exc.response()
        request.app.state.tracked_runs.append(
            TrackedRun(user_key=user_key, graph_name=graph.graph_name, run_id=run_id)
        )
        return JSONResponse({"status": "ok"})

    def _record_info_request(request: Request, graph_name: Any, status_code: int) -> None:
        try:
            user_key: str | None = _bearer_key(request)
        except MarketplaceError:
            user_key = None
        request.app.state.graph_info_requests.append(
            GraphInfoRequest(user_key=user_key, graph_name=graph_name, status_code=status_code)
        )

    nodes: dict[str, DeployedNode] = {}
    app = Starlette(
        routes=[
            Route("/api/get_graph_info", get_graph_info, methods=["POST"]),
            Route("/api/track_run", track_run, methods=["POST"]),
            *node_routes(table.user_keys, nodes),
        ]
    )
    app.state.nodes = nodes
    app.state.table = table
    app.state.agent_server_url = agent_server_url.rstrip("/")
    app.state.deployment_key = deployment_key
    app.state.tracked_runs = []
    app.state.graph_info_requests = []
    return app


@dataclass
class RunningMarketplace:
    """A marketplace app served by uvicorn in a background thread. Context manager; call `stop()`."""

    app: Starlette
    url: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)

    def __enter__(self) -> RunningMarketplace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_marketplace_server(
    app: Starlette, port: int | None = None, *, startup_timeout: float = 15.0
) -> RunningMarketplace:
    """Serve `app` on 127.0.0.1 (a free port unless `port` is given) in a daemon thread.

    Raises InputError when `port` cannot be bound, LmsystemsError when the server does not start.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port or 0))
    except OSError as error:
        sock.close()
        raise InputError(f"cannot serve the marketplace on 127.0.0.1:{port}: {error.strerror}") from None
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=serve, name=f"marketplace-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            with contextlib.suppress(OSError):
                sock.close()
            raise LmsystemsError(f"the marketplace did not start: {errors[0] if errors else 'timeout'}")
        time.sleep(0.02)
    return RunningMarketplace(
        app=app, url=f"http://127.0.0.1:{bound_port}", port=bound_port, _server=server, _thread=thread
    )
