"""A thread's stream (`threads.join_stream`) survives dropped connections without losing or repeating events.

The real server's thread join replays stored events and only then subscribes to the runs' live events,
so the client repairs a broken thread stream run by run (each run's own stream subscribes before it
replays) and then rejoins the thread after the last event delivered. The proof: two thread streams of
the same thread, read at the same time, one straight from the server and one through the fault proxy
with drops at seeded points; they deliver the same events (ids, names and data), in the same order,
across two runs queued on the thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from support.agent_server import RunningAgentServer
from support.fault_proxy import JOIN_STREAM, Cut, FaultPlan, start_fault_proxy

import lmsystems._retry
from lmsystems import LmsystemsClient, StreamPart, SyncLmsystemsClient

pytestmark = pytest.mark.timeout(120)

THREAD_STREAM = r"/threads/[^/]+/stream"
REPAIRED = f"(?:{THREAD_STREAM})|(?:{JOIN_STREAM})"
SLOW_INPUT = {"seconds": 0.15, "steps": 8}
RUNS = 2


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lmsystems._retry, "backoff", lambda attempt, rng=None: min(0.05, 0.005 * 2**attempt))


def run_done(part: StreamPart, run_id: str) -> bool:
    return part.event == "metadata" and part.data == {"status": "run_done", "run_id": run_id}


def start_runs(agent_server: RunningAgentServer, thread_id: str) -> list[str]:
    """Queue RUNS resumable runs of the slow graph on the thread, straight at the server."""
    with httpx.Client(base_url=agent_server.url, headers=agent_server.headers, timeout=30) as http:
        return [
            http.post(
                f"/threads/{thread_id}/runs",
                json={
                    "assistant_id": "slow",
                    "input": SLOW_INPUT,
                    "stream_mode": ["custom", "values"],
                    "stream_resumable": True,
                    "multitask_strategy": "enqueue",
                },
            ).json()["run_id"]
            for _ in range(RUNS)
        ]


def read_sync(url: str, key: str, thread_id: str, parts: list[StreamPart], done: Callable[[], bool]) -> int:
    with SyncLmsystemsClient("slow", deployment_url=url, deployment_key=key, max_reconnects=20) as client:
        with client.threads.join_stream(thread_id) as stream:
            for part in stream:
                parts.append(part)
                if done():
                    break
        return stream.reconnects


async def read_async(
    url: str, key: str, thread_id: str, parts: list[StreamPart], done: Callable[[], bool]
) -> int:
    async with LmsystemsClient("slow", deployment_url=url, deployment_key=key, max_reconnects=20) as client:
        async with client.threads.join_stream(thread_id) as stream:
            async for part in stream:
                parts.append(part)
                if done():
                    break
        return stream.reconnects


def comparable(parts: list[StreamPart]) -> list[tuple[str | None, str, Any]]:
    """Ids, names and data; a run's end notice without its id (a repair announces it with the id of the
    run's last event, as a run's own stream does not send the notice)."""
    return [(None if is_end(part) else part.id, part.event, part.data) for part in parts]


def is_end(part: StreamPart) -> bool:
    return part.event == "metadata" and isinstance(part.data, dict) and part.data.get("status") == "run_done"


@pytest.mark.parametrize(
    "cuts",
    [
        pytest.param([Cut("drop", after_events=4), Cut("drop", after_events=3, inner=9)], id="two-drops"),
        pytest.param(
            [Cut("drop", offset=0), Cut("drop", after_events=6), Cut("close", after_events=2)],
            id="headers-drop-close",
        ),
    ],
)
@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_a_thread_stream_survives_drops_across_runs(
    agent_server: RunningAgentServer, fast_backoff: None, flavour: str, cuts: list[Cut]
) -> None:
    key = agent_server.deployment_key
    with SyncLmsystemsClient("slow", deployment_url=agent_server.url, deployment_key=key) as setup:
        thread_id = setup.create_thread()["thread_id"]
    run_ids: list[str] = []
    direct: list[StreamPart] = []
    repaired: list[StreamPart] = []
    plan = FaultPlan(0)
    plan.cut_streams(*cuts, method="GET", path=REPAIRED)

    def finished(parts: list[StreamPart]) -> Callable[[], bool]:
        return lambda: len(run_ids) == RUNS and any(run_done(p, run_ids[-1]) for p in parts[-3:])

    results: dict[str, Any] = {}

    def reader(name: str, url: str, parts: list[StreamPart]) -> None:
        try:
            if flavour == "sync":
                results[name] = read_sync(url, key or "", thread_id, parts, finished(parts))
            else:
                results[name] = asyncio.run(read_async(url, key or "", thread_id, parts, finished(parts)))
        except BaseException as error:
            results[name] = error

    with start_fault_proxy(agent_server.url, plan) as proxy:
        readers = [
            threading.Thread(target=reader, args=("direct", agent_server.url, direct)),
            threading.Thread(target=reader, args=("repaired", proxy.url, repaired)),
        ]
        for thread in readers:
            thread.start()
        deadline = time.monotonic() + 10
        while len(plan.requests_to("GET", THREAD_STREAM)) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # both joins are subscribed (the server polls for new runs every 20 ms)
        run_ids.extend(start_runs(agent_server, thread_id))
        for thread in readers:
            thread.join(60)
        assert not any(thread.is_alive() for thread in readers), "a thread stream never saw the last run end"

    assert isinstance(results["direct"], int) and results["direct"] == 0, results["direct"]
    assert isinstance(results["repaired"], int), repr(results["repaired"])
    assert plan.pending_cuts() == 0, "every planned cut happened"
    assert results["repaired"] == len(cuts)
    # Two runs of 8 steps: each a start, 8 custom events, 9 values, and its end on the thread stream.
    assert sum(part.event == "custom" for part in direct) == RUNS * SLOW_INPUT["steps"]
    assert comparable(repaired) == comparable(direct)
    for got, want in zip(repaired, direct, strict=True):
        assert got.id is not None and want.id is not None
        assert got.id == want.id or (is_end(got) and (len(got.id), got.id) <= (len(want.id), want.id))
    # The repair went through the runs' own streams, then back to the thread's.
    joins = plan.requests_to("GET", JOIN_STREAM)
    assert joins and all(any(run in r.path for run in run_ids) for r in joins)
    assert all(r.last_event_id for r in plan.requests_to("GET", THREAD_STREAM)[1:])
