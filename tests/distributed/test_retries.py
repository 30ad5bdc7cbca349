"""What is sent again after a failure that hid the answer: creates that are get-or-create, never a run.

The balancer breaks the connection of one request: before the request reaches a replica (`disconnect`:
it reads the request and closes, as a replica does with a pooled connection it gave up), or after the
replica acted (`lose_answer`: it forwards the request, waits for the answer and closes instead).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from helpers import FLAVOURS, drive, settle
from support.distributed import Cluster
from support.fault_proxy import RUNS, FaultPlan

from lmsystems._exceptions import APIConnectionError

pytestmark = pytest.mark.timeout(120)
THREADS = "/threads"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_create_thread_is_sent_again_and_creates_one_thread(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    closed, lost = uuid.uuid4().hex, uuid.uuid4().hex

    async def scenario(client: Any) -> dict[str, Any]:
        assert await settle(client.health())  # a pooled connection to the balancer
        plan.disconnect(method="POST", path=THREADS)
        first = await settle(client.create_thread(metadata={"case": closed}))
        plan.lose_answer(method="POST", path=THREADS)
        second = await settle(client.create_thread(metadata={"case": lost}))
        return {
            "first": first,
            "second": second,
            "closed": await settle(client.threads.search(metadata={"case": closed})),
            "lost": await settle(client.threads.search(metadata={"case": lost})),
        }

    seen = drive(flavour, live_cluster, scenario, graph="ticker")
    # Each create was sent twice (the first attempt's answer never came) and made one thread.
    posts = plan.requests_to("POST", THREADS)
    assert [post.fault for post in posts] == ["disconnect", None, "lose answer", None]
    assert [thread["thread_id"] for thread in seen["closed"]] == [seen["first"]["thread_id"]]
    assert [thread["thread_id"] for thread in seen["lost"]] == [seen["second"]["thread_id"]]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_run_whose_answer_was_lost_is_not_sent_again(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    async def scenario(client: Any) -> tuple[BaseException | None, list[Any]]:
        thread = await settle(client.create_thread())
        plan.lose_answer(method="POST", path=RUNS)
        error: BaseException | None = None
        try:
            await settle(client.runs.create(thread, {"count": 1, "seconds": 0.01}))
        except APIConnectionError as caught:
            error = caught
        return error, await settle(client.runs.list(thread))

    error, runs = drive(flavour, live_cluster, scenario, graph="ticker")
    assert isinstance(error, APIConnectionError)
    assert len(plan.requests_to("POST", RUNS)) == 1  # not sent again: the replica had acted on it
    assert len(runs) == 1  # the one run it created


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_run_whose_connection_closed_before_it_reached_a_replica_is_not_sent_again(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    """From the client, a connection closed under a request looks the same whether the server acted or
    not: a run is sent again only when the failure came before the request was written whole."""

    async def scenario(client: Any) -> tuple[BaseException | None, list[Any]]:
        thread = await settle(client.create_thread())
        plan.disconnect(method="POST", path=RUNS)
        error: BaseException | None = None
        try:
            await settle(client.runs.create(thread, {"count": 1, "seconds": 0.01}))
        except APIConnectionError as caught:
            error = caught
        return error, await settle(client.runs.list(thread))

    error, runs = drive(flavour, live_cluster, scenario, graph="ticker")
    assert isinstance(error, APIConnectionError)
    assert len(plan.requests_to("POST", RUNS)) == 1
    assert runs == []
