"""A stand-in for the LMSystems marketplace backend, as the original ``lmsystems`` SDK 1.0.8 spoke it.

No pytest imports here: conftest fixtures and scripts both use it.

Endpoints (JSON in, JSON out; auth is ``Authorization: Bearer <user key>`` on both):

``POST /api/get_graph_info`` with ``{"graph_name": str}``
    200 ``{"graph_url", "lgraph_api_key", "assistant_id", "configurables": {"configurable": {...}},
    "environment_variables": {...}}``. ``graph_url`` is the test Agent Server's URL and
    ``lgraph_api_key`` its deployment key.

``POST /api/track_run`` with ``{"graph_name": str, "run_id": str}``
    200 ``{"status": "ok"}``; the call is appended to ``app.state.tracked_runs``
    (a list of :class:`TrackedRun`).

Errors are non-2xx with body ``{"detail": {"error": CODE, "message": TEXT}}``, checked in this order:

=======================  ======  =====================================================================
CODE                     status  when
=======================  ======  =====================================================================
``missing_api_key``      401     no ``Authorization`` header, not ``Bearer``, or an empty key
``invalid_api_key``      401     the key is not a known user key
``missing_graph_name``   400     ``graph_name`` absent, ``null`` or ``""`` (or the body is not a
                                 JSON object)
``invalid_graph_name``   400     ``graph_name`` not a string, or not matching ``GRAPH_NAME_PATTERN``
``graph_not_found``      404     no graph with that name
``graph_not_purchased``  403     the graph exists but this user did not buy it
``missing_run_id``       400     (track_run only) ``run_id`` absent, not a string or empty
=======================  ======  =====================================================================

Every ``get_graph_info`` call (successful or not) is appended to ``app.state.graph_info_requests``
(a list of :class:`GraphInfoRequest`), so tests can count round trips (e.g. caching).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from .agent_server import RunningAgentServer

__all__ = [
    "GRAPH_NAME_PATTERN",
    "OTHER_USER_KEY",
    "TEST_GRAPHS",
    "TEST_USER_KEY",
    "UNPURCHASED_GRAPH",
    "GraphInfoRequest",
    "MarketplaceError",
    "MarketplaceFixture",
    "MarketplaceGraph",
    "MarketplaceTable",
    "RunningMarketplace",
    "TrackedRun",
    "build_test_table",
    "create_marketplace_app",
    "start_marketplace_server",
]

GRAPH_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

#: The marketplace user who bought every test graph.
TEST_USER_KEY = "lms_test_user_key"
#: A valid marketplace user who bought nothing.
OTHER_USER_KEY = "lms_test_other_user_key"
#: Listed in the marketplace (points at ``chat``) but purchased by nobody.
UNPURCHASED_GRAPH = "unpurchased-graph"

#: Marketplace graph name -> graph id on the test Agent Server (tests/agent_server/langgraph.json).
TEST_GRAPHS: dict[str, str] = {
    "approval-graph": "approval",
    "chat-graph": "chat",
    "custom-events-graph": "custom_events",
    "slow-graph": "slow",
    "failing-graph": "failing",
    "subgraphs-graph": "subgraphs",
}


@dataclass
class MarketplaceGraph:
    """A listed graph. ``assistant_id`` defaults to ``graph_id`` (the Agent Server accepts a graph id
    wherever an assistant id is expected and resolves it to that graph's default assistant)."""

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
                raise KeyError(f"unknown graph {name!r}")
        self.add_user(user_key)
        self.purchases[user_key].update(graph_names)

    def has_purchased(self, user_key: str, graph_name: str) -> bool:
        return graph_name in self.purchases.get(user_key, set())


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


class MarketplaceError(Exception):
    def __init__(self, status_code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"detail": {"error": self.error, "message": self.message}}, status_code=self.status_code
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
    """Build the marketplace app. ``app.state`` holds ``table``, ``agent_server_url``,
    ``deployment_key``, ``tracked_runs`` and ``graph_info_requests`` (tests may mutate the table)."""

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
            _record_info_request(request, graph_name, exc.status_code)
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

    app = Starlette(
        routes=[
            Route("/api/get_graph_info", get_graph_info, methods=["POST"]),
            Route("/api/track_run", track_run, methods=["POST"]),
        ]
    )
    app.state.table = table
    app.state.agent_server_url = agent_server_url.rstrip("/")
    app.state.deployment_key = deployment_key
    app.state.tracked_runs = []
    app.state.graph_info_requests = []
    return app


def build_test_table(
    user_key: str = TEST_USER_KEY,
    other_user_key: str = OTHER_USER_KEY,
    *,
    graphs: Mapping[str, str] = TEST_GRAPHS,
    unpurchased: Iterable[str] = (UNPURCHASED_GRAPH,),
) -> MarketplaceTable:
    """The standard test table: ``user_key`` bought every graph in ``graphs``; ``other_user_key``
    bought nothing; each name in ``unpurchased`` is listed (pointing at ``chat``) but bought by nobody.

    ``chat-graph`` carries ``configurables={"persona": "marketplace"}`` (the chat graph prefixes its
    reply with ``[marketplace]``) and ``environment_variables={"LMSYSTEMS_TEST_GRAPH": "chat"}``."""
    table = MarketplaceTable()
    table.add_user(user_key)
    table.add_user(other_user_key)
    for graph_name, graph_id in graphs.items():
        extra: dict[str, Any] = {}
        if graph_id == "chat":
            extra = {
                "configurables": {"persona": "marketplace"},
                "environment_variables": {"LMSYSTEMS_TEST_GRAPH": "chat"},
            }
        table.add_graph(graph_name, graph_id, **extra)
    for graph_name in unpurchased:
        table.add_graph(graph_name, "chat")
    table.purchase(user_key, *graphs)
    return table


@dataclass
class MarketplaceFixture:
    """What the ``marketplace`` pytest fixture yields (kept here so scripts can build the same thing)."""

    url: str
    user_key: str
    other_user_key: str
    table: MarketplaceTable
    app: Any  # starlette.applications.Starlette
    agent_server: RunningAgentServer  # support.agent_server.RunningAgentServer
    #: marketplace graph name -> Agent Server graph id
    graphs: dict[str, str] = field(default_factory=lambda: dict(TEST_GRAPHS))
    unpurchased_graph: str = UNPURCHASED_GRAPH

    @property
    def tracked_runs(self) -> list[TrackedRun]:
        return self.app.state.tracked_runs  # type: ignore[no-any-return]

    @property
    def graph_info_requests(self) -> list[GraphInfoRequest]:
        return self.app.state.graph_info_requests  # type: ignore[no-any-return]

    def reset_records(self) -> None:
        self.tracked_runs.clear()
        self.graph_info_requests.clear()


@dataclass
class RunningMarketplace:
    """A marketplace app served by uvicorn in a background thread. Context manager; call :meth:`stop`."""

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
    """Serve ``app`` on 127.0.0.1 (a free port unless ``port`` is given) in a daemon thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port or 0))
    except OSError:
        sock.close()
        raise
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
            raise RuntimeError(f"marketplace server did not start: {errors[0] if errors else 'timeout'}")
        time.sleep(0.02)
    return RunningMarketplace(
        app=app, url=f"http://127.0.0.1:{bound_port}", port=bound_port, _server=server, _thread=thread
    )
