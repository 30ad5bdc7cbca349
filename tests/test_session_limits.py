"""Thread sessions stay bounded: in time (the client's stream idle timeout, measured only while a caller
waits), in memory (what the reconnect matcher keeps), and they say what a lost command may have done.

Against the real Agent Server, through the fault proxy (a stream that stalls after its headers) or a TCP
relay that drops a WebSocket on command; sync and async.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from support.agent_server import RunningAgentServer
from support.fault_proxy import FaultPlan, start_fault_proxy
from support.tcp_cut_proxy import start_tcp_cut_proxy

from lmsystems import (
    APIConnectionError,
    APITimeoutError,
    LmsystemsClient,
    StreamGapError,
    SyncLmsystemsClient,
    ThreadBusyError,
)
from lmsystems._session_core import KEEP_RUNS, lifecycle_status

GRAPH = "session_events"
EVENTS_PATH = r"/threads/[^/]+/stream/events"
HANG = 30.0
IDLE = 1.0
#: A timed-out wait must end within this many idle timeouts (the project's bound).
BOUND = 3 * IDLE


def _sync_client(url: str, server: RunningAgentServer) -> SyncLmsystemsClient:
    return SyncLmsystemsClient(deployment_url=url, deployment_key=server.deployment_key, timeout=HANG)


def _async_client(url: str, server: RunningAgentServer) -> LmsystemsClient:
    return LmsystemsClient(deployment_url=url, deployment_key=server.deployment_key, timeout=HANG)


def _sync_output_after_gaps(session: Any) -> Any:
    """The last run's output once the session repaired its connection (a gap is named at most once per
    repair)."""
    for _ in range(3):
        try:
            return session.output()
        except StreamGapError:
            continue
    raise AssertionError("the session never delivered its output")


async def _async_output_after_gaps(session: Any) -> Any:
    for _ in range(3):
        try:
            return await session.output()
        except StreamGapError:
            continue
    raise AssertionError("the session never delivered its output")


def _timed(call: Callable[[], Any]) -> float:
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="no event for 1 s while waiting") as raised:
        call()
    assert raised.value.final
    return time.monotonic() - started


# ----------------------------------------------------------------------------------------- idle timeout


@pytest.mark.parametrize("heartbeat_every", [None, 0.2])
def test_sync_stalled_event_stream_times_out(agent_server: RunningAgentServer, heartbeat_every: Any) -> None:
    """The event stream's headers come, then nothing (or only heartbeats): a waiting read ends with
    APITimeoutError within 3x the idle timeout set by with_options; the next read repairs the connection."""
    plan = FaultPlan().stall(
        60.0, method="POST", path=EVENTS_PATH, after_headers=True, heartbeat_every=heartbeat_every
    )
    with start_fault_proxy(agent_server.url, plan) as proxy, _sync_client(proxy.url, agent_server) as base:
        client = base.with_options(stream_idle_timeout=IDLE)
        with client.thread_stream(assistant_id=GRAPH) as session:
            session.start({"topic": "stalled", "count": 2})
            assert _timed(session.output) < BOUND
            assert _sync_output_after_gaps(session)["topic"] == "stalled"
            assert session.status == "completed" and session.reconnects == 1


@pytest.mark.parametrize("heartbeat_every", [None, 0.2])
def test_async_stalled_event_stream_times_out(agent_server: RunningAgentServer, heartbeat_every: Any) -> None:
    plan = FaultPlan().stall(
        60.0, method="POST", path=EVENTS_PATH, after_headers=True, heartbeat_every=heartbeat_every
    )

    async def main(url: str) -> None:
        async with _async_client(url, agent_server) as base:
            client = base.with_options(stream_idle_timeout=IDLE)
            async with client.thread_stream(assistant_id=GRAPH) as session:
                await session.start({"topic": "stalled", "count": 2})
                started = time.monotonic()
                with pytest.raises(APITimeoutError, match="no event for 1 s while waiting"):
                    await session.output()
                assert time.monotonic() - started < BOUND
                assert (await _async_output_after_gaps(session))["topic"] == "stalled"
                assert session.status == "completed" and session.reconnects == 1

    with start_fault_proxy(agent_server.url, plan) as proxy:
        asyncio.run(main(proxy.url))


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_silent_run_times_out(agent_server: RunningAgentServer, transport: str) -> None:
    """A run that sends nothing for longer than the idle timeout (the `slow` graph sleeps 4 s; on SSE the
    server's heartbeats keep coming): the waiting caller gets APITimeoutError, sync and async."""
    with _sync_client(agent_server.url, agent_server) as base:
        client = base.with_options(stream_idle_timeout=IDLE)
        with client.thread_stream(assistant_id="slow", transport=transport) as session:
            session.start({"seconds": 4.0, "steps": 1})
            assert _timed(session.output) < BOUND

    async def main() -> None:
        async with _async_client(agent_server.url, agent_server) as base:
            client = base.with_options(stream_idle_timeout=IDLE)
            async with client.thread_stream(assistant_id="slow", transport=transport) as session:
                await session.start({"seconds": 4.0, "steps": 1})
                started = time.monotonic()
                with pytest.raises(APITimeoutError, match="no event for 1 s while waiting"):
                    await session.output()
                assert time.monotonic() - started < BOUND

    asyncio.run(main())


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_a_pause_between_runs_is_not_idleness(agent_server: RunningAgentServer, transport: str) -> None:
    """The idle clock runs only while a caller waits: a user who pauses 6 s between runs (the server's
    5-second heartbeats pile up unread on SSE) with a 2-second idle timeout reads the next run fine."""
    with _sync_client(agent_server.url, agent_server) as base:
        client = base.with_options(stream_idle_timeout=2.0)
        with client.thread_stream(assistant_id=GRAPH, transport=transport) as session:
            session.start({"topic": "first", "count": 1})
            assert session.output()["topic"] == "first"
            time.sleep(6.0)
            session.start({"topic": "second", "count": 1})
            assert session.output()["topic"] == "second" and session.reconnects == 0

    async def main() -> None:
        async with _async_client(agent_server.url, agent_server) as base:
            client = base.with_options(stream_idle_timeout=2.0)
            async with client.thread_stream(assistant_id=GRAPH, transport=transport) as session:
                await session.start({"topic": "first", "count": 1})
                assert (await session.output())["topic"] == "first"
                await asyncio.sleep(6.0)
                await session.start({"topic": "second", "count": 1})
                assert (await session.output())["topic"] == "second" and session.reconnects == 0

    asyncio.run(main())


# ------------------------------------------------------------------------------------ refused commands


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_reject_on_a_busy_thread_is_thread_busy(agent_server: RunningAgentServer, transport: str) -> None:
    """run.start with multitask_strategy="reject" while the thread's run goes on (the `slow` graph, 9 s):
    the server refuses it with its 409 (answered as unknown_error), which the session raises as
    ThreadBusyError; the session stays on the run that goes on. With an input the server first waits up
    to 5 s for the thread to settle (it looks for interrupts to resume); with none it refuses at once."""
    with (
        _sync_client(agent_server.url, agent_server) as client,
        client.thread_stream(assistant_id="slow", transport=transport) as session,
    ):
        first = session.start({"seconds": 9.0, "steps": 1})
        with pytest.raises(ThreadBusyError, match="the thread is busy") as raised:
            session.start({"seconds": 0.1, "steps": 1}, multitask_strategy="reject")
        assert raised.value.status_code == 409
        assert session.status is None  # still on the first run, which goes on
        assert [run["run_id"] for run in client.runs.list(session.thread_id)] == [first]

    async def main() -> None:
        async with (
            _async_client(agent_server.url, agent_server) as client,
            client.thread_stream(assistant_id="slow", transport=transport) as session,
        ):
            first = await session.start({"seconds": 9.0, "steps": 1})
            with pytest.raises(ThreadBusyError, match="the thread is busy"):
                await session.start(None, multitask_strategy="reject")
            assert session.status is None
            assert [run["run_id"] for run in await client.runs.list(session.thread_id)] == [first]

    asyncio.run(main())


COMMANDS_PATH = r"/threads/[^/]+/commands"
LOST = r"before run\.start was answered: the run may have started\. Check before sending it again: list"


def test_sse_command_answer_lost(agent_server: RunningAgentServer) -> None:
    """The fault proxy forwards run.start and drops the connection instead of the answer: the
    APIConnectionError says the run may have started and how to check; the check finds it."""
    plan = FaultPlan().lose_answer(method="POST", path=COMMANDS_PATH)
    with (
        start_fault_proxy(agent_server.url, plan) as proxy,
        _sync_client(proxy.url, agent_server) as client,
        client.thread_stream(assistant_id=GRAPH) as session,
    ):
        with pytest.raises(APIConnectionError, match=LOST):
            session.start({"topic": "lost", "count": 1})
        assert len(client.runs.list(session.thread_id)) == 1  # it did start

    async def main(url: str) -> None:
        async with (
            _async_client(url, agent_server) as client,
            client.thread_stream(assistant_id=GRAPH) as session,
        ):
            with pytest.raises(APIConnectionError, match=LOST):
                await session.start({"topic": "lost", "count": 1})
            assert len(await client.runs.list(session.thread_id)) == 1

    plan = FaultPlan().lose_answer(method="POST", path=COMMANDS_PATH)
    with start_fault_proxy(agent_server.url, plan) as proxy:
        asyncio.run(main(proxy.url))


# --------------------------------------------------------------------------------------- bounded memory

RUNS = 25
STEP = {"seconds": 0.0, "steps": 1}  # the `slow` graph's state keeps its size: one step per run


def _kept_runs(session: Any) -> int:
    """How many runs' worth of keys the reconnect matcher holds (root `running` events among them)."""
    return sum(
        1
        for method, namespace, event_id in session._guard.seen
        if method == "lifecycle" and not namespace and str(event_id).endswith("running")
    )


def test_sync_long_session_keeps_a_bounded_matcher(agent_server: RunningAgentServer) -> None:
    """25 runs on one SSE session: the matcher keeps the keys of at most KEEP_RUNS + 1 runs throughout;
    then the connection is dropped between runs, and the replay of all 25 runs delivers nothing twice."""
    with (
        start_fault_proxy(agent_server.url, FaultPlan()) as proxy,
        _sync_client(proxy.url, agent_server) as client,
        client.thread_stream(assistant_id="slow") as session,
    ):
        kept = []
        for _ in range(RUNS):
            session.start(STEP)
            events = [event["method"] for event in session]
            assert events[0] == "lifecycle" and session.status == "completed"
            kept.append((len(session._guard.seen), _kept_runs(session)))
        assert max(runs for _, runs in kept) <= KEEP_RUNS + 1
        assert max(keys for keys, _ in kept) <= (KEEP_RUNS + 1) * max(len(events), 1) * 2
        proxy.drop_connections()
        # The session notices the drop only when it reads, after this start: it names a possible gap.
        session.start(STEP)
        after, gaps = [], 0
        iterator = iter(session)
        while True:
            try:
                after.append(next(iterator))
            except StreamGapError:
                gaps += 1
            except StopIteration:
                break
        # Two reconnects: the repair (during the run just started), and, once that run ended, the exact
        # replacement of the repaired connection (which waited at most RECHECK seconds at a time).
        assert session.output()["completed"] == 1 and session.reconnects == 2 and gaps <= 1
        # The replay of all 26 runs delivered this run's events once each, none of the older runs'. (Whole
        # event ids: on the in-memory runtime two events stored in the same millisecond share the stable
        # part of their ids, so replay keys may repeat; one connection's ids, counters included, do not.)
        ids = [(event["method"], event["event_id"]) for event in after]
        assert len(ids) == len(set(ids)) and len(after) <= len(events)
        assert [
            lifecycle_status(e) for e in after if e["method"] == "lifecycle" and not e["params"]["namespace"]
        ][-1] == "completed"
        assert sum(lifecycle_status(e) == "running" for e in after) <= 1
        assert session._log._runnings == RUNS + 1  # the matcher passed on no older run's start
        assert _kept_runs(session) <= KEEP_RUNS + 1


def test_async_long_websocket_session_keeps_a_bounded_matcher(agent_server: RunningAgentServer) -> None:
    async def main() -> None:
        async with (
            _async_client(agent_server.url, agent_server) as client,
            client.thread_stream(assistant_id="slow", transport="websocket") as session,
        ):
            for _ in range(RUNS):
                await session.start(STEP)
                assert (await session.output())["completed"] == 1
                assert _kept_runs(session) <= KEEP_RUNS + 1

    asyncio.run(main())


def test_websocket_dropped_while_waiting_for_an_answer(agent_server: RunningAgentServer) -> None:
    """A TCP relay passes run.start (the client's 2nd message: the 1st subscribes) to the server, loses
    the answer and drops the socket: the session repairs its connection, and the APIConnectionError says
    the run may have started and how to check; the check finds it. Sync and async."""
    host, port = agent_server.url.removeprefix("http://").rsplit(":", 1)
    with (
        start_tcp_cut_proxy(host, int(port), lose_answer_to=[2, None, 2]) as proxy,
        _sync_client(proxy.url, agent_server) as client,
    ):
        with client.thread_stream(assistant_id=GRAPH, transport="websocket") as session:
            with pytest.raises(APIConnectionError, match=LOST + r".*client\.runs\.list\('"):
                session.start({"topic": "lost", "count": 1})
            assert session.reconnects == 1 and proxy.cuts_applied == 1
            assert len(client.runs.list(session.thread_id)) == 1  # it did start

        async def main() -> None:
            async with (
                _async_client(proxy.url, agent_server) as client,
                client.thread_stream(assistant_id=GRAPH, transport="websocket") as session,
            ):
                with pytest.raises(APIConnectionError, match=LOST):
                    await session.start({"topic": "lost", "count": 1})
                assert len(await client.runs.list(session.thread_id)) == 1

        asyncio.run(main())
        assert proxy.cuts_applied == 2
