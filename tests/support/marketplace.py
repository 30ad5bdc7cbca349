"""The test bed's marketplace: the library's emulator (``lmsystems._dev.marketplace``) with the test table.

No pytest imports here: conftest fixtures and scripts both use it.

The app (``POST /api/get_graph_info`` and ``/api/track_run``, their error codes and bodies, and the
records in ``app.state.graph_info_requests`` / ``app.state.tracked_runs``) lives in the library, where
``lmsystems dev`` serves it too; its docstring lists every error code. What only tests need is here: the
test user keys, :data:`UNPURCHASED_GRAPH`, the test table (:func:`build_test_table`) and
:class:`MarketplaceFixture`, what the ``marketplace`` fixture yields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lmsystems._dev.marketplace import (
    GRAPH_NAME_PATTERN,
    GraphInfoRequest,
    MarketplaceError,
    MarketplaceGraph,
    MarketplaceTable,
    RunningMarketplace,
    TrackedRun,
    create_marketplace_app,
    start_marketplace_server,
)

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
