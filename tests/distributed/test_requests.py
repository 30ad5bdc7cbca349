"""What an undisturbed stream costs on the wire: no more requests than langgraph-sdk's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import FLAVOURS, collect, drive, settle
from langgraph_sdk import get_client
from support.distributed import Cluster
from support.fault_proxy import FaultPlan

pytestmark = pytest.mark.timeout(120)

INPUT = {"count": 5, "seconds": 0.05}
MODES = ["custom", "updates"]


def run_requests(plan: FaultPlan, thread_id: str) -> list[str]:
    """The requests made for runs of the thread (creating the thread is not counted)."""
    return [f"{r.method} {r.path}" for r in plan.requests if r.path.startswith(f"/threads/{thread_id}/runs")]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_undisturbed_stream_costs_no_more_requests_than_langgraph_sdk(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    async def ours(client: Any) -> tuple[str, list[Any]]:
        thread = await settle(client.create_thread())
        parts = await collect(client.stream_run(thread, INPUT, stream_mode=MODES))
        return thread["thread_id"], parts

    thread_id, parts = drive(flavour, live_cluster, ours, graph="ticker")
    assert [part.event for part in parts] == ["metadata"] + ["custom"] * 5 + ["updates"]
    ours_requests = run_requests(plan, thread_id)

    async def peer() -> tuple[str, list[Any]]:
        client = get_client(url=live_cluster.url, api_key=live_cluster.deployment_key)
        thread = await client.threads.create()
        chunks = [
            chunk
            async for chunk in client.runs.stream(
                thread["thread_id"], "ticker", input=INPUT, stream_mode=MODES, stream_resumable=True
            )
        ]
        return thread["thread_id"], chunks

    peer_thread, chunks = asyncio.run(peer())
    assert len(chunks) == len(parts)
    peer_requests = run_requests(plan, peer_thread)
    # Ours: the stream, then one rejoin of the run's stream that the server ends at once (the run is
    # over). The peer: the stream, then the run's status.
    assert len(ours_requests) == 2, ours_requests
    assert ours_requests[0].endswith("/runs/stream") and ours_requests[1].endswith("/stream")
    assert len(ours_requests) <= len(peer_requests), (ours_requests, peer_requests)
