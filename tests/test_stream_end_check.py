"""The check after a clean close, against small real servers (tests/support/bad_server.py), both clients.

A run's stream that closes cleanly is rejoined after its last event: the server ends a finished run's
rejoin at once (then the stream ends, with no status request) and keeps a running run's open. A rejoin
that stays silent is not waited on: the run's status is asked, and decides. Nothing here rests on how
fast the server answered: a silent rejoin of a finished run is read once more to its end, a silent rejoin
of a running run is followed on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from support.bad_server import json_reply, sse_reply, start_bad_server
from support.hostile import silent_after_head

from lmsystems import LmsystemsClient, SyncLmsystemsClient
from lmsystems._stream_plan import CHECK_SILENCE

pytestmark = pytest.mark.timeout(60)

FLAVOURS = ["async", "sync"]
HEADERS = {"Location": "/threads/t1/runs/r1/stream"}
META = b'event: metadata\nid: 1-0\ndata: {"run_id": "r1"}\n\n'
FIRST = b'event: values\nid: 2-0\ndata: {"step": 1}\n\n'
SECOND = b'event: values\nid: 3-0\ndata: {"step": 2}\n\n'
RUN = "GET /threads/t1/runs/r1"
REJOIN = "GET /threads/t1/runs/r1/stream"
ASSISTANT = {"GET /assistants/agent": json_reply(200, {"assistant_id": "agent", "graph_id": "g"})}


def stream_parts(flavour: str, url: str) -> list[tuple[str, Any]]:
    options: dict[str, Any] = {"deployment_url": url, "deployment_key": "k", "max_retries": 0}

    async def main() -> list[tuple[str, Any]]:
        if flavour == "async":
            async with LmsystemsClient("agent", **options) as client:
                return [(part.event, part.data) async for part in client.stream_run("t1", {"x": 1})]
        with SyncLmsystemsClient("agent", **options) as sync_client:
            return [(part.event, part.data) for part in sync_client.stream_run("t1", {"x": 1})]

    return asyncio.run(main())


def requests_of(server: Any) -> list[str]:
    """The run's requests (the assistant's lookup left out)."""
    return [f"{r.method} {r.path}" for r in server.requests if "/assistants/" not in r.path]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_undisturbed_stream_ends_on_the_rejoin_the_server_ends_at_once(flavour: str) -> None:
    server = start_bad_server(
        {
            **ASSISTANT,
            "POST /threads/t1/runs/stream": sse_reply(META, FIRST, headers=HEADERS, pause=0.0),
            REJOIN: sse_reply(pause=0.0),
            RUN: json_reply(200, {"run_id": "r1", "status": "running"}),  # never asked
        }
    )
    with server:
        parts = stream_parts(flavour, server.url)
        assert [event for event, _ in parts] == ["metadata", "values"]
        assert requests_of(server) == ["POST /threads/t1/runs/stream", REJOIN]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_silent_rejoin_of_a_finished_run_asks_the_status_and_reads_to_the_end(flavour: str) -> None:
    """The server holds the rejoin open without a byte although the run is over: the stream does not
    wait for it (nor for the idle timeout); the run's status says it is over, and one more read ends it."""
    server = start_bad_server(
        {
            **ASSISTANT,
            "POST /threads/t1/runs/stream": sse_reply(META, FIRST, headers=HEADERS, pause=0.0),
            REJOIN: [silent_after_head(headers=HEADERS, forever=30.0), sse_reply(SECOND, pause=0.0)],
            RUN: json_reply(200, {"run_id": "r1", "status": "success"}),
        }
    )
    with server:
        started = time.monotonic()
        parts = stream_parts(flavour, server.url)
        elapsed = time.monotonic() - started
        assert [data for _, data in parts] == [{"run_id": "r1"}, {"step": 1}, {"step": 2}]
        assert requests_of(server) == ["POST /threads/t1/runs/stream", REJOIN, RUN, REJOIN]
        assert elapsed < CHECK_SILENCE + 10


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_silent_rejoin_of_a_running_run_is_followed_on(flavour: str) -> None:
    """The rejoin stays silent because the run is in a long step: the status says it runs, so the stream
    rejoins (without the silence limit of a check) and goes on to the run's end: nothing is lost."""
    late = b'event: values\nid: 4-0\ndata: {"step": 3}\n\n'
    server = start_bad_server(
        {
            **ASSISTANT,
            "POST /threads/t1/runs/stream": sse_reply(META, FIRST, headers=HEADERS, pause=0.0),
            REJOIN: [
                silent_after_head(headers=HEADERS, forever=30.0),
                sse_reply(SECOND, CHECK_SILENCE + 0.5, late, pause=0.0),  # silent longer than a check may be
                sse_reply(pause=0.0),
            ],
            RUN: json_reply(200, {"run_id": "r1", "status": "running"}),
        }
    )
    with server:
        parts = stream_parts(flavour, server.url)
        assert [data for _, data in parts] == [{"run_id": "r1"}, {"step": 1}, {"step": 2}, {"step": 3}]
        assert requests_of(server) == ["POST /threads/t1/runs/stream", REJOIN, RUN, REJOIN, REJOIN]
