"""Runs against the real Agent Server: stream modes, subgraphs, stateless runs, the runs resource, failures,
multitask strategies on a busy thread, interrupts, background runs, and leaving a stream early.

Runs take about a second to start (the server's worker polls), so independent runs of a test are started
together with asyncio.gather.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from lmsystems import (
    AnyStreamPart,
    AnySubgraphPart,
    AsyncRunStream,
    MetadataPart,
    MultitaskStrategy,
    NotFoundError,
    RunError,
    StreamMode,
    StreamPart,
    SubgraphCustomPart,
    SubgraphUpdatesPart,
    SubgraphValuesPart,
    SyncLmsystemsClient,
    ThreadBusyError,
    ThreadStatus,
    UpdatesPart,
    ValuesPart,
)
from lmsystems import LmsystemsClient as Client

AnyPart = AnyStreamPart | AnySubgraphPart

CHAT_INPUT = {"messages": [{"role": "user", "content": "hi"}]}
CHAT_REPLY = "[marketplace] Hello from the chat graph! You said: hi"
APPROVAL_INPUT = {"messages": [{"role": "user", "content": "deploy"}]}
SLOW_FIRST = {"seconds": 0.4, "steps": 4}  # about 1.6 s of work after it starts
SLOW_SECOND = {"seconds": 0.05, "steps": 1}


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@asynccontextmanager
async def client_for(marketplace: Any, graph_name: str, **options: Any) -> AsyncIterator[Client]:
    client = await Client.create(
        graph_name=graph_name, api_key=marketplace.user_key, base_url=marketplace.url, **options
    )
    try:
        yield client
    finally:
        await client.aclose()


def kinds(parts: list[StreamPart]) -> Counter[str]:
    return Counter(part.event for part in parts)


async def wait_for_run_status(
    client: Client, thread: Any, run_id: str, statuses: set[str], timeout: float = 20.0
) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = (await client.runs.get(thread, run_id))["status"]
        if status in statuses or time.monotonic() > deadline:
            return str(status)
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------------------- stream modes

#: mode -> (graph that produces it, input, the event kinds it must yield)
MODES: dict[str, tuple[str, dict[str, Any], set[str]]] = {
    "values": ("chat-graph", CHAT_INPUT, {"values"}),
    "messages": ("chat-graph", CHAT_INPUT, {"messages/metadata", "messages/partial"}),
    "messages-tuple": ("chat-graph", CHAT_INPUT, {"messages"}),
    "updates": ("chat-graph", CHAT_INPUT, {"updates"}),
    "custom": ("custom-events-graph", {"count": 3}, {"custom"}),
    "events": ("chat-graph", CHAT_INPUT, {"events"}),
    "debug": ("chat-graph", CHAT_INPUT, {"debug"}),
    "tasks": ("chat-graph", CHAT_INPUT, {"tasks"}),
    "checkpoints": ("chat-graph", CHAT_INPUT, {"checkpoints"}),
}
assert set(MODES) == {mode.value for mode in StreamMode}

FORMS = {
    "string": lambda mode: mode,
    "list": lambda mode: [mode],
    "enum": StreamMode,
    "enum-list": lambda mode: [StreamMode(mode)],
}


def _check_mode(mode: str, parts: list[StreamPart]) -> None:
    found = kinds(parts)
    assert parts[0].event == "metadata" and parts[0].data["run_id"], parts[:1]
    assert MODES[mode][2] <= set(found), f"{mode}: {found}"
    assert set(found) - {"metadata"} <= MODES[mode][2], f"{mode} yielded other kinds: {found}"
    if mode == "messages":
        partial = [p.data for p in parts if p.event == "messages/partial"]
        assert partial[-1][0]["content"] == CHAT_REPLY  # the partial text so far; the last is all of it
    if mode == "messages-tuple":
        chunk, metadata = parts[1].data
        assert chunk["type"] == "AIMessageChunk" and metadata["langgraph_node"] == "chatbot"
        assert "".join(p.data[0]["content"] for p in parts if p.event == "messages") == CHAT_REPLY
    if mode == "custom":
        assert [p.data for p in parts if p.event == "custom"] == [{"index": i, "total": 3} for i in range(3)]
    if mode == "values":
        assert parts[-1].data["messages"][-1]["content"] == CHAT_REPLY


@pytest.mark.parametrize("form", list(FORMS))
def test_every_stream_mode_yields_its_events(marketplace: Any, form: str) -> None:
    async def scenario() -> dict[str, list[StreamPart]]:
        async with (
            client_for(marketplace, "chat-graph") as chat,
            client_for(marketplace, "custom-events-graph") as custom,
        ):
            clients = {"chat-graph": chat, "custom-events-graph": custom}

            async def one(mode: str) -> list[StreamPart]:
                graph, input, _ = MODES[mode]
                client = clients[graph]
                thread = await client.create_thread()
                return await client.stream_run(thread, input, stream_mode=FORMS[form](mode)).collect()

            results = await asyncio.gather(*[one(mode) for mode in MODES])
            return dict(zip(MODES, results, strict=True))

    for mode, parts in run(scenario()).items():
        _check_mode(mode, parts)


def test_several_stream_modes_at_once(marketplace: Any) -> None:
    async def scenario() -> tuple[list[StreamPart], list[StreamPart]]:
        async with (
            client_for(marketplace, "chat-graph") as chat,
            client_for(marketplace, "custom-events-graph") as custom,
        ):
            thread = await chat.create_thread()  # checkpoints are streamed only for runs on a thread
            return await asyncio.gather(
                chat.stream_run(thread, CHAT_INPUT, stream_mode=list(StreamMode)).collect(),
                custom.stream_run(
                    None, {"count": 2}, stream_mode=["values", StreamMode.UPDATES, "custom", "custom"]
                ).collect(),
            )

    everything, mixed = run(scenario())
    # with both "messages" and "messages-tuple" the server streams the tuples (`messages` events) only
    expected = {"metadata", "values", "messages", "updates", "events", "debug", "tasks", "checkpoints"}
    assert set(kinds(everything)) == expected
    assert set(kinds(mixed)) == {"metadata", "values", "updates", "custom"}
    assert kinds(mixed)["custom"] == 2  # a mode named twice is streamed once


def test_sync_stream_modes(marketplace: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as client:
        thread = client.threads.create()
        parts = client.stream_run(
            thread, CHAT_INPUT, stream_mode=[StreamMode.MESSAGES_TUPLE, "updates"]
        ).collect()
        assert set(kinds(parts)) == {"metadata", "messages", "updates"}
        assert "".join(p.data[0]["content"] for p in parts if p.event == "messages") == CHAT_REPLY


def test_stream_subgraphs(marketplace: Any) -> None:
    async def scenario() -> tuple[list[AnyPart], list[AnyStreamPart]]:
        async with client_for(marketplace, "subgraphs-graph") as client:
            return await asyncio.gather(
                client.stream_run(
                    None, {"topic": "t"}, stream_mode=["updates", "custom"], stream_subgraphs=True
                ).collect(),
                client.stream_run(None, {"topic": "t"}, stream_mode=["updates", "custom"]).collect(),
            )

    nested, flat = run(scenario())
    # The wire names are kept (as langgraph-sdk and lmsystems 1.0.8 show them).
    child_updates = [p for p in nested if p.event.startswith("updates|child:")]
    child_custom = [p for p in nested if p.event.startswith("custom|child:")]
    assert [next(iter(p.data)) for p in child_updates] == ["child_step_one", "child_step_two"]
    assert [p.data for p in child_custom] == [{"node": "child_step_one"}, {"node": "child_step_two"}]
    assert [next(iter(p.data)) for p in nested if p.event == "updates"] == ["prepare", "child", "finish"]
    assert not [p for p in flat if "|" in p.event]
    assert [next(iter(p.data)) for p in flat if p.event == "updates"] == ["prepare", "child", "finish"]
    # Each part is of its kind, with its mode and namespace: a subgraph's as a root's.
    for part in child_updates:
        assert type(part) is SubgraphUpdatesPart and part.mode == "updates"
        assert part.namespace == (part.event.split("|", 1)[1],) and part.namespace[0].startswith("child:")
    assert all(type(p) is SubgraphCustomPart and p.mode == "custom" for p in child_custom)
    roots = [p for p in nested if "|" not in p.event]
    assert all(p.namespace == () and p.mode == p.event for p in roots)
    assert {type(p) for p in roots} == {MetadataPart, UpdatesPart}  # (the root graph writes nothing custom)
    updates = [(p.namespace != (), next(iter(p.data))) for p in nested if p.mode == "updates"]
    assert updates == [
        (False, "prepare"),
        (True, "child_step_one"),
        (True, "child_step_two"),
        (False, "child"),
        (False, "finish"),
    ]


def test_stream_subgraphs_sync_resources_and_values(marketplace: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="subgraphs-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as client:
        thread = client.threads.create()
        parts = client.runs.stream(
            thread, {"topic": "t"}, stream_mode="values", stream_subgraphs=True
        ).collect()
        child = [p for p in parts if isinstance(p, SubgraphValuesPart)]
        assert child and all(p.mode == "values" and p.namespace[0].startswith("child:") for p in child)
        assert child[-1].data["trail"] == ["prepare", "child_step_one", "child_step_two"]
        root = [p for p in parts if isinstance(p, ValuesPart)]
        assert root[-1].data["trail"][-3:] == ["child_step_one", "child_step_two", "finish"]
        assert [p for p in parts if p.mode == "values"] == [p for p in parts if p.event.startswith("values")]


# ------------------------------------------------------------------------------------ stateless runs


def test_stateless_runs(marketplace: Any) -> None:
    async def scenario() -> None:
        async with client_for(marketplace, "chat-graph") as client:
            stream = client.stream_run(thread=None, input=CHAT_INPUT, stream_mode="values")
            parts, waited, batch = await asyncio.gather(
                stream.collect(),
                client.runs.wait(None, CHAT_INPUT),
                client.runs.create_batch(
                    [{"input": CHAT_INPUT}, {"input": CHAT_INPUT, "metadata": {"n": 2}}]
                ),
            )
            assert stream.thread_id is None
            assert stream.run_id == parts[0].data["run_id"]
            assert parts[-1].data["messages"][-1]["content"] == CHAT_REPLY
            assert waited["messages"][-1]["content"] == CHAT_REPLY
            assert len(batch) == 2 and len({r["run_id"] for r in batch}) == 2
            assert all(r["status"] in ("pending", "running", "success") for r in batch)
            assert batch[1]["metadata"]["n"] == 2

    run(scenario())


# ----------------------------------------------------------------------------------- the runs resource


def test_runs_create_join_get_list_wait_delete(marketplace: Any) -> None:
    async def scenario() -> None:
        async with client_for(marketplace, "chat-graph") as client:
            thread = await client.create_thread()
            created = await client.runs.create(thread, CHAT_INPUT, metadata={"purpose": "test"})
            assert created["status"] == "pending" and created["thread_id"] == thread["thread_id"]
            joined = await client.runs.join(thread, created["run_id"])
            assert joined["messages"][-1]["content"] == CHAT_REPLY
            got = await client.runs.get(thread, created["run_id"])
            assert got["status"] == "success" and got["metadata"]["purpose"] == "test"
            waited = await client.runs.wait(thread, {"messages": [{"role": "user", "content": "again"}]})
            assert waited["messages"][-1]["content"].endswith("You said: again")
            assert len(waited["messages"]) == 4  # the thread kept the first exchange
            listed = await client.runs.list(thread)
            assert len(listed) == 2 and created["run_id"] in {r["run_id"] for r in listed}
            assert listed[0]["created_at"] >= listed[1]["created_at"]  # newest first
            assert [r["run_id"] for r in await client.runs.list(thread, limit=1, offset=1)] == [
                listed[1]["run_id"]
            ]
            assert {r["run_id"] for r in await client.runs.list(thread, status="success")} == {
                r["run_id"] for r in listed
            }
            await client.runs.delete(thread, created["run_id"])
            assert [r["run_id"] for r in await client.runs.list(thread)] == [listed[0]["run_id"]]
            with pytest.raises(NotFoundError):
                await client.runs.get(thread, created["run_id"])

    run(scenario())


def test_runs_join_stream(marketplace: Any) -> None:
    async def scenario() -> None:
        async with client_for(marketplace, "slow-graph") as client:
            first, second = await asyncio.gather(client.create_thread(), client.create_thread())
            run_a, run_b = await asyncio.gather(
                client.runs.create(
                    first,
                    {"seconds": 0.1, "steps": 3},
                    stream_mode=["custom", "values"],
                    stream_resumable=True,
                ),
                client.runs.create(second, {"seconds": 0.1, "steps": 3}, stream_mode=["custom", "values"]),
            )
            everything, only_custom = await asyncio.gather(
                client.runs.join_stream(first, run_a["run_id"]).collect(),
                client.runs.join_stream(second, run_b["run_id"], stream_mode="custom").collect(),
            )
            custom_events = [{"step": i, "steps": 3} for i in (1, 2, 3)]
            assert [p.data for p in everything if p.event == "custom"] == custom_events
            assert [p for p in everything if p.event == "values"][-1].data["completed"] == 3
            assert [p.data for p in only_custom] == custom_events
            # a resumable run's stream is replayed after it ended: all of it from "0", the rest after an id
            replay = await client.runs.join_stream(first, run_a["run_id"], last_event_id="0").collect()
            assert [(p.event, p.data) for p in replay] == [(p.event, p.data) for p in everything]
            third = replay[2]
            rest = await client.runs.join_stream(first, run_a["run_id"], last_event_id=third.id).collect()
            assert [p.id for p in rest] == [p.id for p in replay[3:]]

    run(scenario())


def test_runs_cancel_and_cancel_many(marketplace: Any) -> None:
    async def scenario() -> None:
        async with client_for(marketplace, "slow-graph") as client:
            threads = await asyncio.gather(*[client.create_thread() for _ in range(3)])
            long = {"seconds": 1.0, "steps": 10}
            runs = await asyncio.gather(*[client.runs.create(t, long) for t in threads])
            await asyncio.gather(
                *[
                    wait_for_run_status(client, t, r["run_id"], {"running"})
                    for t, r in zip(threads, runs, strict=True)
                ]
            )
            await client.runs.cancel(threads[0], runs[0]["run_id"], wait=True)
            assert (await client.runs.get(threads[0], runs[0]["run_id"]))["status"] == "interrupted"

            await client.runs.cancel_many(thread=threads[1], run_ids=[runs[1]["run_id"]])
            status = await wait_for_run_status(client, threads[1], runs[1]["run_id"], {"interrupted"})
            assert status == "interrupted"

            await client.runs.cancel(threads[2], runs[2]["run_id"], wait=True, action="rollback")
            with pytest.raises(NotFoundError):  # a rolled-back run is deleted
                await client.runs.get(threads[2], runs[2]["run_id"])

    run(scenario())


def test_runs_cancel_many_all_runs_of_a_thread(marketplace: Any) -> None:
    """cancel_many's docstring: "by ids (with their thread), all of a thread, or all with a status"."""

    async def scenario() -> None:
        async with client_for(marketplace, "slow-graph") as client:
            thread = await client.create_thread()
            created = await client.runs.create(thread, {"seconds": 1.0, "steps": 10})
            await wait_for_run_status(client, thread, created["run_id"], {"running"})
            try:
                await client.runs.cancel_many(thread=thread)
                status = await wait_for_run_status(client, thread, created["run_id"], {"interrupted"}, 5)
                assert status == "interrupted"
            finally:
                with contextlib.suppress(NotFoundError):  # already stopped: the server has nothing to cancel
                    await client.runs.cancel(thread, created["run_id"])

    run(scenario())


# ---------------------------------------------------------------------------------------- failing runs


def test_failing_graph_raises_run_error_from_stream_wait_and_join(marketplace: Any) -> None:
    async def scenario() -> None:
        async with client_for(marketplace, "failing-graph") as client:
            t_stream, t_wait, t_join = await asyncio.gather(*[client.create_thread() for _ in range(3)])

            async def from_stream() -> tuple[RunError, AsyncRunStream, list[StreamPart]]:
                stream = client.stream_run(t_stream, {"fail": True}, stream_mode=["updates", "values"])
                seen: list[StreamPart] = []
                with pytest.raises(RunError) as caught:
                    async for part in stream:
                        seen.append(part)
                return caught.value, stream, seen

            async def from_wait() -> RunError:
                with pytest.raises(RunError) as caught:
                    await client.runs.wait(t_wait, {"fail": True, "message": "in wait"})
                return caught.value

            async def from_join() -> tuple[RunError, str]:
                created = await client.runs.create(t_join, {"fail": True, "message": "in join"})
                with pytest.raises(RunError) as caught:
                    await client.runs.join(t_join, created["run_id"])
                return caught.value, created["run_id"]

            async def stateless() -> RunError:
                with pytest.raises(RunError) as caught:
                    await client.stream_run(None, {"fail": True}).collect()
                return caught.value

            (streamed, stream, seen), waited, (joined, join_run_id), no_thread = await asyncio.gather(
                from_stream(), from_wait(), from_join(), stateless()
            )
            assert streamed.error_type == "ValueError"
            assert "lmsystems test graph failure: requested failure" in str(streamed)
            assert streamed.run_id == stream.run_id == seen[0].data["run_id"]
            assert streamed.thread_id == t_stream["thread_id"]
            assert waited.error_type == "ValueError" and "in wait" in str(waited)
            assert waited.thread_id == t_wait["thread_id"]
            assert joined.error_type == "ValueError" and "in join" in str(joined)
            assert joined.run_id == join_run_id and joined.thread_id == t_join["thread_id"]
            assert no_thread.error_type == "ValueError"
            assert (await client.runs.get(t_join, join_run_id))["status"] == "error"
            assert await client.get_thread_status(t_stream) == ThreadStatus.ERROR
            # the graph succeeds when told to
            assert (await client.runs.wait(None, {"fail": False}))["result"] == "ok"

    run(scenario())


def test_run_error_from_wait_names_the_run(marketplace: Any) -> None:
    """RunError: "run_id/thread_id say which run" -- the server names it (Content-Location) for wait too."""

    async def scenario() -> None:
        async with client_for(marketplace, "failing-graph") as client:
            thread = await client.create_thread()
            with pytest.raises(RunError) as caught:
                await client.runs.wait(thread, {"fail": True})
            runs = await client.runs.list(thread)
            assert caught.value.run_id == runs[0]["run_id"], str(caught.value)
            assert "run None" not in str(caught.value)

    run(scenario())


def test_sync_failing_graph_raises_run_error(marketplace: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="failing-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as client:
        thread = client.threads.create()
        with pytest.raises(RunError) as caught:
            for _part in client.stream_run(thread, {"fail": True}):
                pass
        assert caught.value.error_type == "ValueError"
        with pytest.raises(RunError) as waited:
            client.runs.wait(None, {"fail": True})
        assert waited.value.error_type == "ValueError"


# ---------------------------------------------------------------------- multitask strategies (busy thread)


async def for_both(scenario: Callable[[Any], Awaitable[None]], *strategies: Any) -> None:
    """The same scenario with the strategy as a string and as a MultitaskStrategy member, side by side."""
    await asyncio.gather(*[scenario(strategy) for strategy in strategies])


async def _busy_thread(client: Client, *, running: bool = False) -> tuple[dict[str, Any], str]:
    thread = dict(await client.create_thread())
    first = await client.runs.create(thread, SLOW_FIRST)
    if running:
        assert await wait_for_run_status(client, thread, first["run_id"], {"running"}) == "running"
    assert await client.get_thread_status(thread) == ThreadStatus.BUSY
    return thread, first["run_id"]


def test_multitask_reject(marketplace: Any) -> None:
    async def scenario(strategy: Any) -> None:
        async with client_for(marketplace, "slow-graph") as client:
            thread, first = await _busy_thread(client)
            with pytest.raises(ThreadBusyError) as streamed:
                await client.stream_run(thread, SLOW_SECOND, multitask_strategy=strategy).collect()
            assert streamed.value.status_code == 409
            with pytest.raises(ThreadBusyError) as created:
                await client.runs.create(thread, SLOW_SECOND, multitask_strategy=strategy)
            assert created.value.status_code == 409
            with pytest.raises(ThreadBusyError) as waited:
                await client.runs.wait(thread, SLOW_SECOND, multitask_strategy=strategy)
            assert waited.value.status_code == 409
            with pytest.raises(ThreadBusyError):
                await client.stream_run(
                    thread, SLOW_SECOND, multitask_strategy=strategy, is_background=True
                ).collect()
            # the first run is untouched and the only one
            assert (await client.runs.join(thread, first))["completed"] == 4
            assert [r["run_id"] for r in await client.runs.list(thread)] == [first]

    run(for_both(scenario, "reject", MultitaskStrategy.REJECT))


def test_multitask_rollback(marketplace: Any) -> None:
    async def scenario(strategy: Any) -> None:
        async with client_for(marketplace, "slow-graph") as client:
            thread, first = await _busy_thread(client, running=True)
            stream = client.stream_run(thread, SLOW_SECOND, multitask_strategy=strategy)
            parts = await stream.collect()
            assert parts[-1].data == {**SLOW_SECOND, "completed": 1}
            with pytest.raises(NotFoundError):  # rolled back: the first run is gone
                await client.runs.get(thread, first)
            runs = await client.runs.list(thread)
            assert [(r["run_id"], r["status"]) for r in runs] == [(stream.run_id, "success")]
            assert (await client.get_thread_state(thread))["values"] == {**SLOW_SECOND, "completed": 1}

    run(for_both(scenario, "rollback", MultitaskStrategy.ROLLBACK))


def test_multitask_interrupt(marketplace: Any) -> None:
    """The server stops the run in progress (status `interrupted`, checkpoints kept), runs the new one."""

    async def scenario(strategy: Any) -> None:
        async with client_for(marketplace, "slow-graph") as client:
            thread, first = await _busy_thread(client, running=True)
            stream = client.stream_run(thread, SLOW_SECOND, multitask_strategy=strategy)
            parts = await stream.collect()
            assert parts[-1].data == {**SLOW_SECOND, "completed": 1}
            assert (await client.runs.get(thread, first))["status"] == "interrupted"
            assert (await client.runs.get(thread, str(stream.run_id)))["status"] == "success"
            statuses = {r["run_id"]: r["status"] for r in await client.runs.list(thread)}
            assert statuses == {first: "interrupted", stream.run_id: "success"}
            assert await client.get_thread_status(thread) == ThreadStatus.IDLE

    run(for_both(scenario, "interrupt", MultitaskStrategy.INTERRUPT))


def test_multitask_enqueue(marketplace: Any) -> None:
    async def scenario(strategy: Any) -> None:
        async with client_for(marketplace, "slow-graph") as client:
            thread, first = await _busy_thread(client, running=True)
            stream = client.stream_run(thread, SLOW_SECOND, multitask_strategy=strategy, stream_mode="values")
            first_status_when_second_started = None
            parts = []
            async for part in stream:
                if part.event == "values" and first_status_when_second_started is None:
                    first_status_when_second_started = (await client.runs.get(thread, first))["status"]
                parts.append(part)
            assert first_status_when_second_started == "success"  # the second ran after the first
            assert parts[-1].data == {**SLOW_SECOND, "completed": 1}
            runs = {r["run_id"]: r for r in await client.runs.list(thread)}
            assert {run_id: r["status"] for run_id, r in runs.items()} == {
                first: "success",
                stream.run_id: "success",
            }
            assert runs[first]["updated_at"] <= runs[str(stream.run_id)]["updated_at"]

    run(for_both(scenario, "enqueue", MultitaskStrategy.ENQUEUE))


def test_sync_thread_busy(marketplace: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="slow-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as c:
        thread = c.threads.create()
        first = c.runs.create(thread, SLOW_FIRST)
        with pytest.raises(ThreadBusyError) as caught:
            c.stream_run(thread, SLOW_SECOND, multitask_strategy=MultitaskStrategy.REJECT).collect()
        assert caught.value.status_code == 409
        c.runs.cancel(thread, first["run_id"])


# ------------------------------------------------------------------------------------------ interrupts


def test_interrupts_resume_and_command(marketplace: Any) -> None:
    async def scenario() -> None:
        async with client_for(marketplace, "approval-graph") as client:
            threads = await asyncio.gather(*[client.create_thread() for _ in range(3)])
            streams = [client.stream_run(t, APPROVAL_INPUT, stream_mode="updates") for t in threads]
            await asyncio.gather(*[s.collect() for s in streams])
            for stream in streams:
                assert stream.interrupted is True
                assert len(stream.interrupts) == 1
                assert stream.interrupts[0]["value"] == {"question": "Approve?", "proposal": "deploy"}
            pending = await client.get_interrupts(threads[0])
            assert [i["id"] for i in pending] == [streams[0].interrupts[0]["id"]]
            assert pending[0]["value"]["question"] == "Approve?"
            assert await client.get_thread_status(threads[0]) == ThreadStatus.INTERRUPTED

            by_resume = client.resume(threads[0], True, stream_mode="updates")
            by_command = client.stream_run(threads[1], None, command={"resume": "no"}, stream_mode="values")
            by_id = client.resume(threads[2], {"accepted": True}, interrupt_id=pending_id(streams[2]))
            resumed, commanded, targeted = await asyncio.gather(
                by_resume.collect(), by_command.collect(), by_id.collect()
            )
            assert resumed[-1].data["finalize"]["outcome"] == "approved"
            assert commanded[-1].data["outcome"] == "rejected"
            assert targeted[-1].data["outcome"] == "approved"
            for stream in (by_resume, by_command, by_id):
                assert stream.interrupted is False and stream.interrupts == []
            for thread in threads:
                assert await client.get_interrupts(thread) == []
                assert await client.get_thread_status(thread) == ThreadStatus.IDLE

    run(scenario())


def pending_id(stream: AsyncRunStream) -> str:
    return str(stream.interrupts[0]["id"])


def test_interrupts_from_values_stream_and_sync(marketplace: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="approval-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as client:
        thread = client.threads.create()
        stream = client.stream_run(thread, APPROVAL_INPUT, stream_mode="values")
        stream.collect()
        assert stream.interrupted and stream.interrupts[0]["value"]["question"] == "Approve?"
        assert [i["id"] for i in client.get_interrupts(thread)] == [stream.interrupts[0]["id"]]
        resumed = client.resume(thread, "yes")
        parts = resumed.collect()
        assert parts[-1].data["outcome"] == "approved"
        assert not resumed.interrupted
        assert client.get_interrupts(thread) == []


# -------------------------------------------------------------------------------------- thread status


def test_thread_status_values(marketplace: Any) -> None:
    assert [s.value for s in ThreadStatus] == ["idle", "busy", "interrupted", "error"]
    assert ThreadStatus.BUSY == "busy" and str(ThreadStatus.ERROR) == "error"

    async def scenario() -> None:
        async with (
            client_for(marketplace, "slow-graph") as slow,
            client_for(marketplace, "approval-graph") as approval,
            client_for(marketplace, "failing-graph") as failing,
        ):
            idle, busy, interrupted, errored = await asyncio.gather(
                slow.create_thread(), slow.create_thread(), approval.create_thread(), failing.create_thread()
            )
            assert await slow.get_thread_status(idle) == ThreadStatus.IDLE
            created = await slow.runs.create(busy, {"seconds": 1.0, "steps": 5})
            await asyncio.gather(
                approval.stream_run(interrupted, APPROVAL_INPUT).collect(),
                failing.runs.create(errored, {"fail": True}),
            )
            with pytest.raises(RunError):
                await failing.runs.join(errored, (await failing.runs.list(errored))[0]["run_id"])
            statuses = await asyncio.gather(
                slow.get_thread_status(idle),
                slow.get_thread_status(busy),
                approval.get_thread_status(interrupted["thread_id"]),
                failing.get_thread_status(errored),
            )
            assert statuses == [
                ThreadStatus.IDLE,
                ThreadStatus.BUSY,
                ThreadStatus.INTERRUPTED,
                ThreadStatus.ERROR,
            ]
            assert all(type(s) is ThreadStatus for s in statuses)
            await slow.runs.cancel(busy, created["run_id"])

    run(scenario())


# --------------------------------------------------------------------------- background runs, leaving early


def test_background_run_keeps_running_after_leaving_the_loop(marketplace: Any) -> None:
    async def scenario() -> None:
        async with client_for(marketplace, "slow-graph") as client:
            thread = await client.create_thread()
            stream = client.stream_run(
                thread, {"seconds": 0.3, "steps": 4}, stream_mode="custom", is_background=True
            )
            async for part in stream:
                if part.event == "metadata":  # first, as in a stream_run without is_background
                    assert part.data["attempt"] == 1
                    continue
                assert part.data == {"step": 1, "steps": 4}
                break
            await stream.aclose()
            assert stream.run_id is not None
            assert (await client.runs.get(thread, stream.run_id))["status"] in ("pending", "running")
            status = await wait_for_run_status(
                client, thread, stream.run_id, {"success", "error", "interrupted"}
            )
            assert status == "success"
            assert (await client.get_thread_state(thread))["values"]["completed"] == 4

    run(scenario())


class OpenStreamsTransport(httpx.AsyncBaseTransport):
    """A real transport that counts the responses whose body is still open."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.open = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.open += 1
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CountedStream(self, response.stream),  # type: ignore[arg-type]
            extensions=response.extensions,
        )


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, owner: OpenStreamsTransport, inner: httpx.AsyncByteStream) -> None:
        self.owner = owner
        self.inner = inner
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield chunk

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self.owner.open -= 1
        await self.inner.aclose()


def test_leaving_a_stream_early_releases_its_connection(marketplace: Any) -> None:
    async def scenario() -> list[dict[str, Any]]:
        loop_errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        transport = OpenStreamsTransport()
        async with client_for(marketplace, "slow-graph", transport=transport) as client:
            thread = await client.create_thread()
            slow = {"seconds": 0.3, "steps": 3}

            stream = client.stream_run(thread, slow, stream_mode="custom", multitask_strategy="enqueue")
            async with stream:
                async for _part in stream:
                    break
            assert transport.open == 0, "async with did not release the stream"

            stream = client.stream_run(None, slow, stream_mode="custom")
            async for _part in stream:
                break
            await stream.aclose()
            assert transport.open == 0, "aclose() did not release the stream"

            await client.runs.create(thread, slow, multitask_strategy="enqueue")
            joined = client.threads.join_stream(thread)
            async with joined:
                async for _part in joined:
                    break
            assert transport.open == 0

            # the client still works afterwards
            assert (await client.create_thread())["thread_id"]
        return loop_errors

    errors = run(scenario())
    assert errors == [], [str(e.get("exception") or e.get("message")) for e in errors]


def test_leaving_the_documented_loop_with_break_releases_the_stream(marketplace: Any) -> None:
    """`async for chunk in client.stream_run(...): break` -- nothing else -- frees the connection, quietly."""

    async def scenario() -> tuple[int, int, list[dict[str, Any]]]:
        loop_errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        transport = OpenStreamsTransport()
        async with client_for(marketplace, "slow-graph", transport=transport) as client:
            thread = await client.create_thread()
            async for _chunk in client.stream_run(thread, {"seconds": 0.3, "steps": 3}, stream_mode="custom"):
                break
            await asyncio.sleep(0.3)
            open_after_break = transport.open
            gc.collect()  # what the interpreter does some time later
            await asyncio.sleep(0.3)
            open_after_gc = transport.open
            assert (await client.create_thread())["thread_id"]
        return open_after_break, open_after_gc, loop_errors

    open_after_break, open_after_gc, errors = run(scenario())
    logged = [str(e.get("exception") or e.get("message")) for e in errors]
    # expected: released at once, and nothing logged when the interpreter finalizes the stream
    assert (open_after_break, open_after_gc, logged) == (0, 0, [])


class OpenStreamsSyncTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.open = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.open += 1
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CountedSyncStream(self, response.stream),  # type: ignore[arg-type]
            extensions=response.extensions,
        )


class _CountedSyncStream(httpx.SyncByteStream):
    def __init__(self, owner: OpenStreamsSyncTransport, inner: httpx.SyncByteStream) -> None:
        self.owner = owner
        self.inner = inner
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.inner

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.owner.open -= 1
        self.inner.close()


def test_sync_leaving_a_stream_with_break_releases_it(marketplace: Any) -> None:
    transport = OpenStreamsSyncTransport()
    with SyncLmsystemsClient(
        graph_name="slow-graph", api_key=marketplace.user_key, base_url=marketplace.url, transport=transport
    ) as c:
        thread = c.threads.create()
        for _chunk in c.stream_run(thread, {"seconds": 0.3, "steps": 3}, stream_mode="custom"):
            break
        open_after_break = transport.open
        gc.collect()
        assert transport.open == 0
    assert open_after_break == 0, "the stream's connection stays open after break (until a gc cycle)"


def test_sync_with_releases_the_stream(marketplace: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="slow-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as c:
        thread = c.threads.create()
        stream = c.stream_run(thread, {"seconds": 0.2, "steps": 3}, stream_mode="custom")
        with stream:
            for part in stream:
                assert part.event == "metadata"
                break
        background = c.stream_run(
            thread, {"seconds": 0.2, "steps": 2}, is_background=True, multitask_strategy="enqueue"
        )
        for _part in background:
            break
        background.close()
        assert background.run_id is not None
        assert c.runs.join(thread, background.run_id)["completed"] == 2


def test_stream_nested_subgraphs_carry_both_namespaces(agent_server: Any) -> None:
    """Two levels: the leaf's parts are `SubgraphUpdatesPart`s etc. with a two-item namespace."""

    async def scenario() -> list[AnyPart]:
        async with Client(
            "nested", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
        ) as client:
            return await client.stream_run(
                None, {}, stream_mode=["updates", "values", "custom"], stream_subgraphs=True
            ).collect()

    parts = run(scenario())
    deep = [p for p in parts if len(p.namespace) == 2]
    assert deep and all(p.event == "|".join((p.mode, *p.namespace)) for p in deep)
    assert all(p.namespace[0].startswith("outer:") and p.namespace[1].startswith("inner:") for p in deep)
    by_mode = {p.mode: p for p in deep}
    assert type(by_mode["updates"]) is SubgraphUpdatesPart and by_mode["updates"].data["leaf"]["depth"] == 2
    assert type(by_mode["custom"]) is SubgraphCustomPart and by_mode["custom"].data == {"node": "leaf"}
    assert type(by_mode["values"]) is SubgraphValuesPart
    assert [p.data["path"] for p in parts if isinstance(p, ValuesPart)][-1][-2:] == ["leaf", "end"]
    middle = [p for p in parts if len(p.namespace) == 1]
    assert middle and all(p.namespace[0].startswith("outer:") for p in middle)
