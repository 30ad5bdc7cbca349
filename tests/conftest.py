"""Shared fixtures: one real Agent Server and one fake LMSystems marketplace per test session.

* ``agent_server`` -> :class:`support.agent_server.RunningAgentServer` (``.url``, ``.port``, ``.pid``,
  ``.deployment_key``, ``.headers``, ``.log_path``): ``langgraph dev`` serving the graphs of
  ``tests/agent_server`` (approval, chat, custom_events, slow, failing, subgraphs) behind the
  ``x-api-key`` deployment-key auth; the key is random per session.
* ``marketplace`` -> :class:`MarketplaceFixture` (``.url``, ``.user_key``, ``.other_user_key``,
  ``.table``, ``.app``, ``.tracked_runs``, ``.graph_info_requests``, ``.graphs``, ``.agent_server``).
* ``agent_http`` -> an ``httpx.Client`` for the Agent Server with the deployment key set.

Tests that use ``agent_server`` or ``marketplace`` (directly or through another fixture) get the
``server`` marker automatically, so ``-m "not server"`` skips them.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # also works under --import-mode=importlib
    sys.path.insert(0, str(TESTS_DIR))

from support.agent_server import TEST_AGENT_SERVER_DIR, RunningAgentServer, start_agent_server  # noqa: E402
from support.marketplace import (  # noqa: E402
    OTHER_USER_KEY,
    TEST_USER_KEY,
    UNPURCHASED_GRAPH,
    MarketplaceFixture,
    build_test_table,
    create_marketplace_app,
    start_marketplace_server,
)

_SERVER_FIXTURES = {"agent_server", "marketplace", "agent_http"}

# tests/distributed needs the production-shaped test bed (Postgres, Redis, langgraph-runtime-pg in a venv
# of its own): only `nox -s distributed`, which builds it, collects those tests.
collect_ignore = [] if os.environ.get("LMSYSTEMS_DISTRIBUTED") == "1" else ["distributed"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def agent_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAgentServer]:
    log_path = tmp_path_factory.mktemp("agent-server") / "agent-server.log"
    server = start_agent_server(
        TEST_AGENT_SERVER_DIR,
        deployment_key=f"lms_test_deployment_{secrets.token_hex(16)}",
        log_path=log_path,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def marketplace(agent_server: RunningAgentServer) -> Iterator[MarketplaceFixture]:
    table = build_test_table(TEST_USER_KEY, OTHER_USER_KEY, unpurchased=(UNPURCHASED_GRAPH,))
    app = create_marketplace_app(table, agent_server.url, agent_server.deployment_key)
    with start_marketplace_server(app) as running:
        yield MarketplaceFixture(
            url=running.url,
            user_key=TEST_USER_KEY,
            other_user_key=OTHER_USER_KEY,
            table=table,
            app=app,
            agent_server=agent_server,
        )


@pytest.fixture
def agent_http(agent_server: RunningAgentServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=agent_server.url, headers=agent_server.headers, timeout=60.0) as client:
        yield client
