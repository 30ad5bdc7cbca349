"""What a client's connections go through: cancelled streams, and a second event loop.

Against real loopback servers (`support.hostile.KeepAliveEventServer`, an asyncio server keeping its
connections alive; `support.bad_server`). The pool is looked at through httpcore's public connection
API (`connections`, `info()`, `is_idle()`, `is_closed()`), reached from the client for the test only.
"""

from __future__ import annotations

import asyncio
import os
import random
import stat
from typing import Any

from support.bad_server import json_reply, start_bad_server
from support.hostile import KeepAliveEventServer

from lmsystems import APIConnectionError, LmsystemsClient

ASSISTANT = "asst"
INPUT = {"messages": [{"role": "user", "content": "hi"}]}
STORM = 500


def open_sockets() -> int:
    """How many sockets this process has open."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if stat.S_ISSOCK(os.stat(f"/proc/self/fd/{name}").st_mode):
                count += 1
        except OSError:
            continue  # closed while we looked
    return count


def pool_connections(client: LmsystemsClient) -> list[Any]:
    """The httpcore connections of the client's pool (read only, for this test)."""
    transport: Any = client._core.http._client._transport  # the client's own AsyncBoundedTransport
    return list(transport.pool.connections)


async def _storm(client: LmsystemsClient, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    cancelled = finished = 0

    async def one() -> None:
        async with client.stream_run(None, INPUT, assistant_id=ASSISTANT) as stream:
            async for _ in stream:
                pass

    for start in range(0, STORM, 25):
        tasks = [asyncio.ensure_future(one()) for _ in range(start, start + 25)]
        await asyncio.sleep(0)
        for task in tasks:
            await asyncio.sleep(rng.uniform(0, 0.004))  # cancel at every moment: connect, head, body
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, asyncio.CancelledError):
                cancelled += 1
            elif result is None:
                finished += 1
            else:
                raise result
    return cancelled, finished


def test_five_hundred_cancelled_streams_strand_no_connection() -> None:
    async def main() -> None:
        with KeepAliveEventServer(events=30, pause=0.001) as server:
            client = LmsystemsClient(deployment_url=server.url, max_retries=0)
            try:
                before = open_sockets()
                cancelled, _finished = await _storm(client, seed=7)
                assert cancelled > STORM // 2, f"only {cancelled} of {STORM} streams were cancelled"
                await asyncio.sleep(0.5)  # requests given up on finish their head, then close
                connections = pool_connections(client)
                states = [connection.info() for connection in connections]
                stranded = [
                    info
                    for connection, info in zip(connections, states, strict=True)
                    if not (connection.is_idle() or connection.is_closed())
                ]
                assert stranded == [], f"connections neither reusable nor closed: {stranded}"
                idle = sum(1 for connection in connections if connection.is_idle())
                # the server runs in this process too: each kept connection is two sockets here
                assert server.open == idle, f"the server holds {server.open} connections, the pool {idle}"
                assert open_sockets() == before + 2 * idle, (
                    f"{open_sockets()} sockets open, {before} before the storm and {idle} idle in the pool"
                )
                # and the pool still serves: one more stream, start to end
                async with client.stream_run(None, INPUT, assistant_id=ASSISTANT) as stream:
                    assert len([part async for part in stream]) == 30
            finally:
                await client.aclose()
            await asyncio.sleep(0.1)
            assert open_sockets() == before
            assert server.open == 0

    asyncio.run(main())


def test_an_async_client_in_a_second_event_loop_says_what_to_do() -> None:
    routes = {f"GET /assistants/{ASSISTANT}": json_reply(200, {"assistant_id": ASSISTANT, "graph_id": "g"})}
    routes["GET /threads/t1"] = json_reply(200, {"thread_id": "t1"})
    with start_bad_server(routes) as server:
        client = LmsystemsClient(ASSISTANT, deployment_url=server.url, max_retries=0)
        assert asyncio.run(client.get_thread("t1"))["thread_id"] == "t1"
        sent = len(server.requests)
        try:
            asyncio.run(client.get_thread("t1"))
        except APIConnectionError as error:
            assert "one client per loop" in str(error)
            assert "event loop" in str(error)
        else:
            raise AssertionError("a second event loop was not refused")
        assert len(server.requests) == sent, "a request was sent from the second loop"
