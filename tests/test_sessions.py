"""Thread sessions (`client.thread_stream`) against the real Agent Server, over SSE and WebSocket, async and
sync: where langgraph-sdk's v3 client is wrong, each property is checked on every one of REPEATS runs.

The graph is tests/agent_server/graphs/session_events.py (its stream_transformers() turn on updates,
custom and tools).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from support.agent_server import RunningAgentServer
from support.fault_proxy import Cut, FaultPlan, start_fault_proxy
from support.sse import iter_events
from support.tcp_cut_proxy import start_tcp_cut_proxy

from lmsystems import (
    InputError,
    LmsystemsClient,
    NotFoundError,
    RunError,
    StreamError,
    StreamGapError,
    SyncLmsystemsClient,
)

GRAPH = "session_events"
REPEATS = 20
COUNT = 4  # custom progress items per run
EVENTS_PATH = r"/threads/[^/]+/stream/events"
#: No single read may take longer than this: a hang fails the test instead of blocking it.
HANG = 30.0


def _check_first_run(i: int, texts: list[tuple[str, str]], summary: dict[str, Any]) -> None:
    """What the first run of repeat `i` must have shown (the same for all four clients)."""
    topic = f"topic-{i}"
    assert texts == [(f"Session reply: {topic}", f"Session reply: {topic}")], texts
    assert summary["status"] == "interrupted"
    [interrupt] = summary["interrupts"]
    assert interrupt.payload == {"question": "Approve?", "topic": topic}  # the peer loses the payload
    assert interrupt.namespace == ()
    # Nothing lost although the run stopped at an interrupt.
    assert summary["progress"] == [{"index": n, "progress": (n + 1) / COUNT} for n in range(COUNT)]
    assert summary["updates"][-1:] != [] and any("chat" in u for u in summary["updates"])
    # Subgraph values apart from the root's.
    root_trails = [v["trail"][-1] for v in summary["values"] if v.get("trail")]
    assert root_trails == ["prepare", "chat", "use_tool", "child_step_two"]  # no snapshot of the child's
    assert [v["trail"][-1] for v in summary["child_values"]][-2:] == ["child_step_one", "child_step_two"]
    assert [c.graph_name for c in summary["subgraphs"]] == ["child"]
    assert [(c.name, c.input) for c in summary["tools"]] == [("lookup", {"query": topic})]
    assert summary["tool_output"]["content"] == f"found {topic}"
    assert summary["kinds"][0] == "lifecycle" and "input.requested" in summary["kinds"]


async def _async_repeat(client: LmsystemsClient, transport: str, i: int) -> None:
    async with client.thread_stream(assistant_id=GRAPH, transport=transport) as session:
        await session.start({"topic": f"topic-{i}", "count": COUNT, "ask": True})
        texts = []
        async for message in session.messages():
            deltas = [delta async for delta in message]
            texts.append(("".join(deltas), await message.text()))  # read inside the iteration
        kinds = [event["method"] async for event in session]
        subgraphs = [graph async for graph in session.subgraphs()]
        tools = [call async for call in session.tool_calls()]
        summary = {
            "status": session.status,
            "interrupts": session.interrupts,
            "progress": [item async for item in session.custom("progress")],
            "updates": [update async for update in session.updates()],
            "values": [values async for values in session.values()],
            "child_values": [v async for v in session.values(namespace=subgraphs[0].namespace)],
            "subgraphs": subgraphs,
            "tools": tools,
            "tool_output": await tools[0].output(),
            "kinds": kinds,
        }
        _check_first_run(i, texts, summary)
        await session.respond(f"answer-{i}")
        output = await session.output()
        assert output["answer"] == f"answer-{i}" and session.status == "completed"
        # A cut-off message ends with a typed error, never a hang; the failed run is a RunError.
        await session.start({"topic": f"cut-{i}", "cut": True})
        async for message in session.messages():
            with pytest.raises(StreamError, match="cut off"):
                await message.text()
        with pytest.raises(RunError) as failed:
            await session.output()
        assert failed.value.error_type == "ConnectionError" and failed.value.run_id


def _sync_repeat(client: SyncLmsystemsClient, transport: str, i: int) -> None:
    with client.thread_stream(assistant_id=GRAPH, transport=transport) as session:
        session.start({"topic": f"topic-{i}", "count": COUNT, "ask": True})
        texts = []
        for message in session.messages():
            deltas = list(message)
            texts.append(("".join(deltas), message.text()))
        kinds = [event["method"] for event in session]
        subgraphs = list(session.subgraphs())
        tools = list(session.tool_calls())
        summary = {
            "status": session.status,
            "interrupts": session.interrupts,
            "progress": list(session.custom("progress")),
            "updates": list(session.updates()),
            "values": list(session.values()),
            "child_values": list(session.values(namespace=subgraphs[0].namespace)),
            "subgraphs": subgraphs,
            "tools": tools,
            "tool_output": tools[0].output(),
            "kinds": kinds,
        }
        _check_first_run(i, texts, summary)
        session.respond(f"answer-{i}")
        assert session.output()["answer"] == f"answer-{i}" and session.status == "completed"
        session.start({"topic": f"cut-{i}", "cut": True})
        for message in session.messages():
            with pytest.raises(StreamError, match="cut off"):
                message.text()
        with pytest.raises(RunError) as failed:
            session.output()
        assert failed.value.error_type == "ConnectionError"


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_async_sessions_repeated(agent_server: RunningAgentServer, transport: str) -> None:
    _async_repeats(agent_server, lambda client, i: _async_repeat(client, transport, i), REPEATS, HANG * 4)


def _async_repeats(
    server: RunningAgentServer,
    repeat: Callable[[LmsystemsClient, int], Awaitable[None]],
    times: int,
    limit: float,
) -> None:
    """`repeat(client, i)` for i in range(times), concurrently (the runs wait on the server more than on
    the client), each bounded by `limit` seconds."""

    async def main() -> None:
        async with LmsystemsClient(deployment_url=server.url, deployment_key=server.deployment_key) as client:
            await asyncio.gather(*(asyncio.wait_for(repeat(client, i), limit) for i in range(times)))

    asyncio.run(main())


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_sync_sessions_repeated(agent_server: RunningAgentServer, transport: str) -> None:
    with (
        SyncLmsystemsClient(
            deployment_url=agent_server.url, deployment_key=agent_server.deployment_key, timeout=HANG
        ) as client,
        ThreadPoolExecutor(max_workers=5) as pool,
    ):
        for done in [pool.submit(_sync_repeat, client, transport, i) for i in range(REPEATS)]:
            done.result()


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_protocol_errors_are_typed(agent_server: RunningAgentServer, transport: str) -> None:
    with SyncLmsystemsClient(
        deployment_url=agent_server.url, deployment_key=agent_server.deployment_key, timeout=HANG
    ) as client:
        with pytest.raises(InputError, match="transport"):
            client.thread_stream(assistant_id=GRAPH, transport="carrier-pigeon")
        with client.thread_stream(assistant_id=GRAPH, transport=transport) as session:
            with pytest.raises(InputError, match="nothing to respond to"):
                session.respond("yes")
            with pytest.raises(InputError, match="input"):
                session.start({"not json": object()})
            session.start({"topic": "errors", "ask": True})
            assert session.output() is not None and session.status == "interrupted"
            with pytest.raises(NotFoundError, match="no_such_interrupt"):
                session.respond("yes", interrupt_id="no-such-interrupt")
            with pytest.raises(InputError, match="invalid_argument"):
                session.start({"topic": "x"}, config={"configurable": {"checkpoint_id": "not-a-uuid"}})


def test_dropped_connection_is_repaired_or_names_the_gap(agent_server: RunningAgentServer) -> None:
    """SSE through the fault proxy: the event stream is cut three times during runs. Compared with an
    unbroken observer of the same runs, every event arrives once and in order; only if a StreamGapError
    named a gap may some be missing (the server's replay leaves out events of named custom channels)."""
    for seed in range(3):
        plan = FaultPlan(seed=seed).cut_streams(
            Cut("drop", after_events=12 + seed),
            Cut("drop", after_new_events=40 + seed, inner=7),
            Cut("close", after_new_events=70),
            path=EVENTS_PATH,
        )
        with (
            start_fault_proxy(agent_server.url, plan) as proxy,
            SyncLmsystemsClient(
                deployment_url=proxy.url, deployment_key=agent_server.deployment_key, timeout=HANG
            ) as client,
            client.thread_stream(assistant_id=GRAPH) as session,
        ):
            with _Observer(agent_server, session.thread_id, runs=2) as observer:
                delivered: list[tuple[Any, ...]] = []
                gaps: list[str] = []
                for run in range(2):
                    session.start({"topic": f"drop-{seed}-{run}", "count": 10})
                    events, run_gaps = _drain(session)
                    delivered += events
                    gaps += run_gaps
                    assert session.status == "completed"
            assert session.reconnects >= 2, plan.requests
        _check_against(delivered, observer.events, gaps)


# The socket's messages are compressed: a whole run is about 4 KB on the wire.
@pytest.mark.parametrize("cuts", [(1_200, 700), (2_000, 2_600), (3_000, 300)])
def test_dropped_websocket_is_repaired_or_names_the_gap(
    agent_server: RunningAgentServer, cuts: tuple[int, int]
) -> None:
    """WebSocket through a TCP relay that drops the first two connections after so many bytes (during the
    run, then during the new connection's replay), compared with an unbroken observer."""
    host, port = agent_server.url.removeprefix("http://").rsplit(":", 1)
    with start_tcp_cut_proxy(host, int(port), cuts=cuts) as proxy:
        with (
            SyncLmsystemsClient(
                deployment_url=proxy.url, deployment_key=agent_server.deployment_key, timeout=HANG
            ) as client,
            client.thread_stream(assistant_id=GRAPH, transport="websocket") as session,
            _Observer(agent_server, session.thread_id, runs=1) as observer,
        ):
            session.start({"topic": "ws-drop", "count": 30})
            delivered, gaps = _drain(session)
            assert session.status == "completed"
        assert proxy.cuts_applied == 2 and session.reconnects >= 1  # a cut in a handshake fails that attempt
    _check_against(delivered, observer.events, gaps)


def _content(event: Any) -> tuple[Any, ...]:
    """An event without what differs between connections (seq, the id's counter, timestamps)."""
    return (event["method"], tuple(event["params"]["namespace"]), json.dumps(event["params"]["data"]))


def _drain(session: Any) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The last run's events (as `_content`), iterating on after each StreamGapError (their messages)."""
    delivered: list[tuple[Any, ...]] = []
    gaps: list[str] = []
    iterator = iter(session)
    while True:
        try:
            event = next(iterator)
        except StreamGapError as gap:
            gaps.append(str(gap))
            continue
        except StopIteration:
            return delivered, gaps
        delivered.append(_content(event))


def _check_against(
    delivered: list[tuple[Any, ...]], reference: list[tuple[Any, ...]], gaps: list[str]
) -> None:
    if not gaps:
        assert delivered == reference
        return
    # With a gap named: a subsequence of the reference (nothing twice, nothing reordered), except for the
    # one known move. A connection that joins a run that goes on can miss the event the run publishes
    # while it joins (langgraph-runtime-inmem's join_event_streaming sends its replay snapshot before it
    # subscribes to the live queue, and sending it awaits the earlier runs' final state); when that event
    # carried a subgraph's lifecycle "completed", the server derives it again at the run's end, just
    # before the root's terminal event. Such an event is checked apart: once, and where the server puts it.
    cascaded = [item for i, item in enumerate(delivered) if _in_run_end_cascade(delivered, i)]
    for item in cascaded:
        assert delivered.count(item) == 1 and item in reference, f"delivered twice or unknown: {item}"
    # And a connection that joined a run may have missed an event the next replay holds: the session
    # passes it on then, later than it happened, and its gap says how many ("held N event(s) an earlier
    # connection never got"). Those may be out of place, once each.
    late = sum(int(n) for gap in gaps for n in re.findall(r"held (\d+) event", gap))
    kept = [item for item in delivered if item not in cascaded]
    _check_subsequence(kept, [item for item in reference if item not in cascaded], late=late)


def _in_run_end_cascade(delivered: list[tuple[Any, ...]], i: int) -> bool:
    """Whether `delivered[i]` is a subgraph's completed among those just before a root terminal event."""
    if not _subgraph_completed(delivered[i]):
        return False
    for item in delivered[i + 1 :]:
        if not _subgraph_completed(item):
            return item[0] == "lifecycle" and not item[1]
    return False


def _subgraph_completed(item: tuple[Any, ...]) -> bool:
    return item[0] == "lifecycle" and bool(item[1]) and json.loads(item[2]).get("event") == "completed"


def _check_subsequence(
    items: list[tuple[Any, ...]], reference: list[tuple[Any, ...]], *, late: int = 0
) -> None:
    """`items` is a subsequence of `reference` but for at most `late` items out of place, each delivered
    once (an AssertionError naming the first item that is neither)."""
    position = 0
    for item in items:
        ahead = position
        while ahead < len(reference) and reference[ahead] != item:
            ahead += 1
        if ahead < len(reference):
            position = ahead + 1
            continue
        assert late > 0 and items.count(item) == 1 and item in reference, (
            f"delivered twice or out of order: {item}"
        )
        late -= 1


class _Observer:
    """An unbroken SSE connection to the thread (plain httpx), collecting `runs` runs' events live."""

    def __init__(self, server: RunningAgentServer, thread_id: str | None, *, runs: int) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._url = f"{server.url}/threads/{thread_id}/stream/events"
        self._headers = server.headers
        self._runs = runs
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)

    def __enter__(self) -> _Observer:
        self._thread.start()
        assert self._open.wait(HANG), "the observer could not connect"
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(HANG)
        assert not self._thread.is_alive(), "the observer did not see the runs end"

    def _collect(self) -> None:
        body = {"channels": ["values", "updates", "messages", "tools", "custom", "lifecycle", "input"]}
        ended = 0
        with httpx.stream("POST", self._url, json=body, headers=self._headers, timeout=HANG) as response:
            self._open.set()
            for sse in iter_events(response.iter_bytes()):
                if not sse.data:
                    continue
                event = json.loads(sse.data)
                self.events.append(_content(event))
                data = event["params"]["data"]
                if (
                    event["method"] == "lifecycle"
                    and not event["params"]["namespace"]
                    and data.get("event") in ("completed", "failed", "interrupted")
                ):
                    ended += 1
                    if ended == self._runs:
                        return


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_a_marketplace_graph_in_a_session(marketplace: Any, transport: str) -> None:
    """Through the marketplace: the graph's assistant, the deployment key and its configurables come from
    the resolution; the run is recorded with the marketplace; a plain graph (no stream_transformers)
    still gives lifecycle, values, messages and its interrupt's payload."""

    async def main() -> None:
        client = await LmsystemsClient.create(
            graph_name="approval-graph", api_key=marketplace.user_key, base_url=marketplace.url
        )
        async with client, client.thread_stream(transport=transport) as session:
            run_id = await session.start({"messages": [{"role": "user", "content": "Ship it"}]})
            methods = {event["method"] async for event in session}
            assert {"lifecycle", "values", "input.requested"} <= methods
            [interrupt] = session.interrupts
            assert interrupt.payload == {"question": "Approve?", "proposal": "Ship it"}
            await session.respond(True)
            output = await session.output()
            assert output["outcome"] == "approved" and session.status == "completed"
        assert run_id in [tracked.run_id for tracked in marketplace.tracked_runs]

    asyncio.run(asyncio.wait_for(main(), HANG * 2))


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_projections_read_concurrently_by_several_tasks(
    agent_server: RunningAgentServer, transport: str
) -> None:
    """Tasks reading different projections of one run at once: one reads the connection at a time, every
    task gets all it wants (no event read twice, none skipped, no deadlock)."""

    async def texts(session: Any) -> list[str]:
        return [await message.text() async for message in session.messages()]

    async def main() -> None:
        async with (
            LmsystemsClient(
                deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
            ) as client,
            client.thread_stream(assistant_id=GRAPH, transport=transport) as session,
        ):
            for i in range(5):
                await session.start({"topic": f"together-{i}", "count": COUNT})
                got_texts, progress, events, output = await asyncio.gather(
                    texts(session),
                    _collect(session.custom("progress")),
                    _collect(session),
                    session.output(),
                )
                assert got_texts == [f"Session reply: together-{i}"]
                assert [item["index"] for item in progress] == list(range(COUNT))
                assert (
                    events[0]["method"] == "lifecycle"
                    and events[-1]["params"]["data"]["event"] == "completed"
                )
                assert output["topic"] == f"together-{i}"

    asyncio.run(asyncio.wait_for(main(), HANG * 2))


async def _collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


# An interrupt raised inside a subgraph (tests/agent_server/graphs/subgraph_interrupt.py): answered with its
# namespace (on a WebSocket the server compares it with the namespace of the interrupt it sent on that
# connection and refuses a mismatch with no_such_interrupt), its payload present, and the resumed run goes
# on to the final output.
SUBGRAPH_INTERRUPT = "subgraph_interrupt"
SUBGRAPH_REPEATS = 5


def _check_subgraph_interrupt(i: int, interrupt: Any, subgraphs: list[Any], status: str | None) -> None:
    assert status == "interrupted"
    assert interrupt.payload == {"question": "Publish?", "draft": f"draft about sub-{i}"}
    assert len(interrupt.namespace) == 1 and interrupt.namespace[0].startswith("review:")
    assert [(graph.namespace, graph.graph_name) for graph in subgraphs] == [(interrupt.namespace, "review")]


def _check_subgraph_output(i: int, output: Any, status: str | None) -> None:
    assert status == "completed"
    assert output["answer"] == {"publish": i} and output["outcome"] == f"published: draft about sub-{i}"
    assert output["steps"] == ["draft", "ask", "apply"] and output["finished"] is True


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_async_answer_an_interrupt_inside_a_subgraph(
    agent_server: RunningAgentServer, transport: str
) -> None:
    async def repeat(client: LmsystemsClient, i: int) -> None:
        async with client.thread_stream(assistant_id=SUBGRAPH_INTERRUPT, transport=transport) as session:
            await session.start({"topic": f"sub-{i}"})
            subgraphs = [graph async for graph in session.subgraphs()]
            [interrupt] = session.interrupts
            _check_subgraph_interrupt(i, interrupt, subgraphs, session.status)
            await session.respond({"publish": i})  # the namespace goes with it
            _check_subgraph_output(i, await session.output(), session.status)

    _async_repeats(agent_server, repeat, SUBGRAPH_REPEATS, HANG * 2)


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_sync_answer_an_interrupt_inside_a_subgraph(agent_server: RunningAgentServer, transport: str) -> None:
    with SyncLmsystemsClient(
        deployment_url=agent_server.url, deployment_key=agent_server.deployment_key, timeout=HANG
    ) as client:
        for i in range(SUBGRAPH_REPEATS):
            with client.thread_stream(assistant_id=SUBGRAPH_INTERRUPT, transport=transport) as session:
                session.start({"topic": f"sub-{i}"})
                subgraphs = list(session.subgraphs())
                [interrupt] = session.interrupts
                _check_subgraph_interrupt(i, interrupt, subgraphs, session.status)
                session.respond({"publish": i}, interrupt_id=interrupt.id)
                _check_subgraph_output(i, session.output(), session.status)
