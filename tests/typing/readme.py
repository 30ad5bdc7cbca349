"""The README's and the guide's calls, typed as a user writes them: resume, chat text, interrupts,
multitask strategies as enums, a LangGraph Command, runs and threads resources."""

from __future__ import annotations

from langgraph.types import Command as LangGraphCommand

from lmsystems import LmsystemsClient, MultitaskStrategy, StreamMode, SyncLmsystemsClient, Thread


async def streams(client: LmsystemsClient, thread: Thread) -> None:
    stream = client.stream_run(
        thread=thread, input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode="updates"
    )
    async for chunk in stream:
        print(chunk.event, chunk.data, chunk.id)
    if stream.interrupted:
        print(stream.interrupts[0]["value"])
        async for chunk in client.resume(thread, True):
            print(chunk)
    async for piece in client.stream_run(thread, {"messages": []}, stream_mode="messages-tuple").text():
        print(piece, end="")
    async for part in client.stream_run(
        thread, {"messages": []}, stream_mode=[StreamMode.MESSAGES_TUPLE, "values"]
    ):
        print(part.text or "", end="")
    async for part in client.stream_run(
        thread,
        None,
        command={"resume": {"approved": True}},
        multitask_strategy=MultitaskStrategy.ENQUEUE,
        durability="exit",
        interrupt_before="*",
    ):
        print(part)
    async for part in client.stream_run(thread, None, command=LangGraphCommand(resume="yes")):
        print(part)
    run = await client.runs.create(
        thread, {"messages": []}, multitask_strategy="interrupt", if_not_exists="create"
    )
    print(run["run_id"], run["status"])
    await client.runs.cancel(thread, run["run_id"], action="rollback")
    created = await client.create_thread(metadata={"user": "a"}, if_exists="do_nothing")
    print(created["thread_id"])
    found = await client.threads.search(status="idle", sort_order="desc", limit=5)
    print(len(found))


def sync_streams(client: SyncLmsystemsClient, thread: Thread) -> None:
    for piece in client.stream_run(thread, {"messages": []}, stream_mode="messages").text():
        print(piece, end="")
    for part in client.resume(thread, "yes", interrupt_id="abc", stream_mode=["values", "updates"]):
        print(part.event)
