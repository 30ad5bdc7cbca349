"""What the distributed tests share: one body of test code drives the async and the sync client."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from support.distributed import Cluster

from lmsystems import LmsystemsClient, SyncLmsystemsClient
from lmsystems._types import StreamPart

FLAVOURS = ["async", "sync"]
T = TypeVar("T")


async def settle(value: Any) -> Any:
    """The value of a client call, whether the client is async (awaitable) or sync (the value itself)."""
    return await value if inspect.isawaitable(value) else value


async def collect(stream: Any, into: list[StreamPart] | None = None) -> list[StreamPart]:
    """Every part of a stream of either client; appended to `into` as they come when given."""
    parts = into if into is not None else []
    if hasattr(stream, "__aiter__"):
        async for part in stream:
            parts.append(part)
    else:
        for part in stream:
            parts.append(part)
    return parts


def drive(
    flavour: str,
    cluster: Cluster,
    scenario: Callable[[Any], Awaitable[T]],
    *,
    graph: str | None = None,
    **options: Any,
) -> T:
    """Run `scenario(client)` with an async or a sync client pointed at the cluster's load balancer.

    A sync client's calls block the event loop `scenario` runs on, which nothing else uses.
    """
    settings = {"deployment_url": cluster.url, "deployment_key": cluster.deployment_key, **options}

    async def main() -> T:
        if flavour == "async":
            async with LmsystemsClient(graph, **settings) as client:
                return await scenario(client)
        with SyncLmsystemsClient(graph, **settings) as sync_client:
            return await scenario(sync_client)

    return asyncio.run(main())
