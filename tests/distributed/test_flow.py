"""The documented flow on the production-shaped server, through the round-robin load balancer.

Consecutive calls land on different replicas, so every step also proves that what one replica wrote
(threads, checkpoints, runs, store items, crons in Postgres; streams in Redis) another one serves.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from helpers import FLAVOURS, collect, drive, settle
from support.distributed import Cluster
from support.fault_proxy import FaultPlan

from lmsystems._exceptions import NotFoundError, ThreadBusyError

pytestmark = pytest.mark.timeout(240)

CHAT_TEXT = "tell me about replicas"
CHAT_REPLY = f"Hello from the chat graph! You said: {CHAT_TEXT}"


def replicas_used(plan: FaultPlan) -> set[str | None]:
    return {record.upstream for record in plan._records if record.status is not None}


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_chat_stream_with_messages_and_updates(live_cluster: Cluster, plan: FaultPlan, flavour: str) -> None:
    async def scenario(client: Any) -> tuple[list[Any], Any]:
        thread = await settle(client.create_thread())
        stream = client.stream_run(
            thread,
            {"messages": [{"role": "user", "content": CHAT_TEXT}]},
            stream_mode=["messages", "updates"],
        )
        parts = await collect(stream)
        state = await settle(client.get_thread_state(thread))
        return parts, state

    parts, state = drive(flavour, live_cluster, scenario, graph="chat")
    assert parts[0].event == "metadata" and parts[0].data["attempt"] == 1
    events = {part.event for part in parts}
    assert {"metadata", "messages/metadata", "messages/partial", "updates"} <= events
    partial = [part for part in parts if part.event == "messages/partial"]
    assert partial[-1].data[0]["content"] == CHAT_REPLY
    updates = [part.data for part in parts if part.event == "updates"]
    assert updates[-1]["chatbot"]["messages"][-1]["content"] == CHAT_REPLY
    assert state["values"]["messages"][-1]["content"] == CHAT_REPLY
    assert len(replicas_used(plan)) == 2  # the balancer spread the calls


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_interrupt_update_state_checkpoint_and_history(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    async def scenario(client: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        thread = await settle(client.create_thread())
        stream = client.stream_run(thread, {"messages": [{"role": "user", "content": "ship it"}]})
        await collect(stream)
        seen["interrupted"] = stream.interrupted
        seen["question"] = stream.interrupts[0]["value"]["question"] if stream.interrupts else None
        seen["status"] = str(await settle(client.get_thread_status(thread)))
        updated = await settle(
            client.update_thread_state(thread, {"accepted": True}, as_node="human_interaction")
        )
        seen["checkpoint_id"] = updated["checkpoint_id"]
        final = await collect(client.stream_run(thread, None, checkpoint_id=updated["checkpoint_id"]))
        seen["outcome"] = final[-1].data.get("outcome")
        seen["history"] = await settle(client.get_state_history(thread, filter={"source": "update"}))
        other = await settle(client.create_thread())
        await collect(client.stream_run(other, {"messages": [{"role": "user", "content": "no way"}]}))
        resumed = await collect(client.resume(other, False))
        seen["resumed"] = resumed[-1].data.get("outcome")
        return seen

    seen = drive(flavour, live_cluster, scenario, graph="approval")
    assert seen["interrupted"] and seen["question"] == "Approve?"
    assert seen["status"] == "interrupted"
    assert seen["outcome"] == "approved"
    history = seen["history"]
    assert history and all(state["metadata"]["source"] == "update" for state in history)
    assert history[0]["checkpoint"]["checkpoint_id"] == seen["checkpoint_id"]
    assert seen["resumed"] == "rejected"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_multitask_strategies_and_background_runs(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    slow = {"seconds": 0.5, "steps": 3}

    async def scenario(client: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        thread = await settle(client.create_thread())

        async def taken(run: dict[str, Any]) -> None:
            """Wait (5 s at most) until a worker has taken `run`: with two replicas a created run may
            still be pending when the next request arrives, and a pending run is not interrupted."""
            for _ in range(200):
                if (await settle(client.runs.get(thread, run["run_id"])))["status"] == "running":
                    return
                await asyncio.sleep(0.025)
            raise AssertionError(f"no worker took run {run['run_id']} within 5 s")

        first = await settle(client.runs.create(thread, slow))
        try:
            await collect(client.stream_run(thread, {"steps": 1}, multitask_strategy="reject"))
        except ThreadBusyError as error:
            seen["rejected"] = error
        queued = await settle(
            client.runs.create(thread, {"seconds": 0.1, "steps": 1}, multitask_strategy="enqueue")
        )
        seen["first"] = await settle(client.runs.join(thread, first["run_id"]))
        seen["queued"] = await settle(client.runs.join(thread, queued["run_id"]))
        seen["statuses"] = [
            (await settle(client.runs.get(thread, run["run_id"])))["status"] for run in (first, queued)
        ]
        # interrupt: the running run stops and the new one runs.
        busy = await settle(client.runs.create(thread, slow))
        await taken(busy)
        newer = await settle(
            client.runs.create(thread, {"seconds": 0.1, "steps": 1}, multitask_strategy="interrupt")
        )
        seen["newer"] = await settle(client.runs.join(thread, newer["run_id"]))
        seen["interrupted_status"] = (await settle(client.runs.get(thread, busy["run_id"])))["status"]
        # rollback: the running run is deleted.
        doomed = await settle(client.runs.create(thread, slow))
        await taken(doomed)
        kept = await settle(
            client.runs.create(thread, {"seconds": 0.1, "steps": 1}, multitask_strategy="rollback")
        )
        await settle(client.runs.join(thread, kept["run_id"]))
        try:
            await settle(client.runs.get(thread, doomed["run_id"]))
        except NotFoundError:
            seen["rolled_back"] = True
        return seen

    seen = drive(flavour, live_cluster, scenario, graph="slow")
    assert isinstance(seen.get("rejected"), ThreadBusyError)
    assert seen["first"]["completed"] == 3
    assert seen["queued"]["completed"] == 1
    assert seen["statuses"] == ["success", "success"]
    assert seen["newer"]["completed"] == 1
    assert seen["interrupted_status"] == "interrupted"
    assert seen.get("rolled_back") is True


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_store_and_crons(live_cluster: Cluster, plan: FaultPlan, flavour: str) -> None:
    namespace = ["distributed", flavour, uuid.uuid4().hex[:8]]

    async def scenario(client: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        await settle(client.store.put_item(namespace, "a", {"kind": "alpha", "n": 1}))
        await settle(client.store.put_item(namespace, "b", {"kind": "beta", "n": 2}))
        seen["item"] = await settle(client.store.get_item(namespace, "a"))
        seen["found"] = await settle(client.store.search_items(namespace, filter={"kind": "beta"}))
        await settle(client.store.delete_item(namespace, "a"))
        seen["gone"] = await settle(client.store.get_item(namespace, "a"))
        thread = await settle(client.create_thread())
        cron = await settle(client.crons.create("*/5 * * * *", input={"steps": 1}, thread=thread))
        seen["cron"] = cron
        seen["listed"] = [c["cron_id"] for c in await settle(client.crons.search())]
        await settle(client.crons.delete(cron["cron_id"]))
        seen["listed_after"] = [c["cron_id"] for c in await settle(client.crons.search())]
        return seen

    seen = drive(flavour, live_cluster, scenario, graph="slow")
    assert seen["item"]["value"] == {"kind": "alpha", "n": 1}
    assert [item["key"] for item in seen["found"]] == ["b"]
    assert seen["gone"] is None
    assert seen["cron"]["cron_id"] in seen["listed"]
    assert seen["cron"]["cron_id"] not in seen["listed_after"]
