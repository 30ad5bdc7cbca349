"""Streams through faults of a production deployment: dropped load-balancer connections, dead replicas.

The ticker graph names, in every tick, the replica executing the run and the run's attempt, so a test
knows which replica to kill; the balancer's record names the replica that holds each stream connection.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
from helpers import FLAVOURS, collect, drive, settle
from support.distributed import Cluster
from support.fault_proxy import JOIN_STREAM, RUN_STREAM, FaultPlan

from lmsystems._types import StreamPart

pytestmark = pytest.mark.timeout(240)

STREAMS = f"(?:{RUN_STREAM})|(?:{JOIN_STREAM})"
MODES = ["custom", "updates"]


def ticks(parts: list[StreamPart]) -> list[tuple[int, int]]:
    """(attempt, tick) of every tick delivered."""
    return [(part.data["attempt"], part.data["tick"]) for part in parts if part.event == "custom"]


def assert_ids_increase(parts: list[StreamPart]) -> None:
    ids = [part.id for part in parts]
    assert None not in ids
    orders = [tuple(int(n) for n in str(i).split("-")) for i in ids]
    assert orders == sorted(set(orders)), "event ids repeat or go backwards"


def holder_of_stream(plan: FaultPlan) -> str | None:
    """The replica holding the open stream connection (the latest stream response still going)."""
    going = [r for r in plan.requests if r.stream and r.ended is None]
    return going[-1].upstream if going else None


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_sigkill_of_the_replica_holding_the_stream_loses_and_repeats_nothing(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    count = 25
    killed: dict[str, Any] = {}
    both = list(live_cluster.balancer.upstreams)

    async def scenario(client: Any) -> tuple[list[StreamPart], int]:
        thread = await settle(client.create_thread())
        run = await settle(
            client.runs.create(
                thread, {"count": count, "seconds": 0.1}, stream_mode=MODES, stream_resumable=True
            )
        )
        parts: list[StreamPart] = []
        stream = client.runs.join_stream(thread, run["run_id"], stream_mode=MODES)
        async for part in _iterate(stream):
            parts.append(part)
            if part.event != "custom" or killed:
                continue
            # The replica holding the stream must not be the one executing the run: if the balancer
            # sent the stream there, move it (only the other replica is balanced to while it moves).
            executor, holder = part.data["replica"], holder_of_stream(plan)
            if holder == executor:
                live_cluster.balancer.use_upstreams([u for u in both if u != executor])
                live_cluster.balancer.drop_connections()
            elif part.data["tick"] >= 5:
                live_cluster.balancer.use_upstreams(both)
                killed.update(holder=holder, executor=executor, tick=part.data["tick"])
                live_cluster.replica_at(holder).kill()
        return parts, stream.reconnects

    try:
        parts, reconnects = drive(flavour, live_cluster, scenario, graph="ticker")
    finally:
        live_cluster.balancer.use_upstreams(both)
    assert killed and killed["holder"] != killed["executor"], killed
    assert not live_cluster.replica_at(killed["holder"]).alive()
    assert reconnects >= 1
    assert ticks(parts) == [(1, index) for index in range(count)]
    assert parts[-1].data == {"tick": {"ticks": count}}
    assert_ids_increase(parts)


async def _iterate(stream: Any) -> Any:
    if hasattr(stream, "__aiter__"):
        async for part in stream:
            yield part
    else:
        for part in stream:
            yield part


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_five_balancer_drops_deliver_every_event_once_in_order(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    count = 30
    plan.drop_streams(5, span_events=count + 2, path=STREAMS)

    async def scenario(client: Any) -> tuple[list[StreamPart], int]:
        thread = await settle(client.create_thread())
        stream = client.stream_run(thread, {"count": count, "seconds": 0.05}, stream_mode=MODES)
        return await collect(stream), stream.reconnects

    parts, reconnects = drive(flavour, live_cluster, scenario, graph="ticker", max_reconnects=10)
    assert reconnects == 5 == len(plan.cuts_applied("drop"))
    assert [part.event for part in parts] == ["metadata"] + ["custom"] * count + ["updates"]
    assert parts[0].data["attempt"] == 1
    assert ticks(parts) == [(1, index) for index in range(count)]
    assert parts[-1].data == {"tick": {"ticks": count}}
    assert_ids_increase(parts)
    assert len({r.upstream for r in plan.stream_responses()}) == 2  # the stream moved between replicas


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_sigkill_of_the_executing_replica_ends_with_the_result_and_shows_the_retry(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    count = 15
    killed: dict[str, Any] = {}

    async def scenario(client: Any) -> tuple[list[StreamPart], Any]:
        thread = await settle(client.create_thread())
        stream = client.stream_run(thread, {"count": count, "seconds": 0.2}, stream_mode=MODES)
        parts: list[StreamPart] = []
        async for part in _iterate(stream):
            parts.append(part)
            if part.event == "custom" and part.data["tick"] == 3 and not killed:
                killed["executor"] = part.data["replica"]
                killed["holder"] = holder_of_stream(plan)
                live_cluster.replica_at(part.data["replica"]).kill()
        return parts, stream

    parts, stream = drive(flavour, live_cluster, scenario, graph="ticker", max_reconnects=20)
    metadata = [part.data for part in parts if part.event == "metadata"]
    assert [m["attempt"] for m in metadata] == [1, 2], metadata
    second = parts.index(next(p for p in parts if p.event == "metadata" and p.data["attempt"] == 2))
    assert ticks(parts[:second]) == [(1, index) for index in range(4)]
    assert ticks(parts[second:]) == [(2, index) for index in range(count)]
    assert parts[-1].data == {"tick": {"ticks": count}}
    assert stream.attempts == 2
    assert_ids_increase(parts)


TALK = {"turns": 3, "words": 8, "seconds": 0.1, "wait": 1.0}
TALK_MODES = ["messages", "updates"]


def _key(part: StreamPart) -> tuple[str | None, str, str]:
    return part.id, part.event, json.dumps(part.data, sort_keys=True)


def _order(event_id: str) -> tuple[int, ...]:
    return tuple(int(n) for n in event_id.split("-"))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_drops_during_a_token_stream_deliver_each_token_once_or_name_the_gap(
    live_cluster: Cluster, plan: FaultPlan, flavour: str
) -> None:
    """langgraph-api 0.11.1 keeps no stream_mode "messages" events for replay: tokens sent while the
    connection is down cannot come back. Five drops through the balancer during a token stream: every
    event delivered is the run's (compared with an undisturbed join of the same run, straight to a
    replica), once and in order; every `updates` event arrives; and every token that did not arrive lies
    after the `after` of a `gap` part naming its kind. Nothing is lost silently."""
    plan.drop_streams(5, span_events=30, path=JOIN_STREAM)
    reference: list[StreamPart] = []

    async def scenario(client: Any) -> tuple[list[StreamPart], Any]:
        thread = await settle(client.create_thread())
        run = await settle(client.runs.create(thread, TALK, stream_mode=TALK_MODES, stream_resumable=True))
        clean = threading.Thread(target=_join_directly, args=(live_cluster, thread, run["run_id"], reference))
        clean.start()  # the talker waits 1 s before its first token: both joins are in by then
        try:
            stream = client.runs.join_stream(thread, run["run_id"], stream_mode=TALK_MODES)
            return await collect(stream), stream
        finally:
            clean.join(timeout=60)

    parts, stream = drive(flavour, live_cluster, scenario, graph="talker", max_reconnects=20)
    assert len(plan.cuts_applied("drop")) == 5 and stream.reconnects >= 5
    assert [p.event for p in reference].count("updates") == TALK["turns"]
    gaps = [part for part in parts if part.event == "gap"]
    assert [gap.data for gap in gaps] == stream.gaps and all(gap.id is None for gap in gaps)
    delivered = [_key(part) for part in parts if part.event != "gap"]
    expected = [_key(part) for part in reference]
    assert len(set(delivered)) == len(delivered), "an event was delivered twice: " + str(
        [(p.id, p.event, p.data[0]["content"] if p.event == "messages/partial" else "") for p in parts]
    )
    assert [key for key in expected if key in set(delivered)] == delivered, "not the run's events in order"
    missing = [part for part in reference if _key(part) not in set(delivered)]
    for part in missing:
        assert part.event.startswith("messages/"), f"a stored {part.event} event was lost"
        assert part.id is not None
        assert any(
            part.event in gap.data["events"]
            and (gap.data["after"] is None or _order(gap.data["after"]) < _order(part.id))
            for gap in gaps
        ), f"{part.event} {part.id} was lost silently"


def _join_directly(cluster: Cluster, thread: Any, run_id: str, into: list[StreamPart]) -> None:
    """The run's stream, undisturbed and read raw (no repair of ours), from one replica: not through the
    balancer and its drops. `metadata` is left out, as the join with modes leaves it out."""
    url = f"{cluster.replicas[0].url}/threads/{thread['thread_id']}/runs/{run_id}/stream"
    fields: dict[str, str] = {}
    with httpx.stream("GET", url, headers=cluster.headers, timeout=60) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.strip()
                continue
            if fields.get("event") and fields["event"] != "metadata":
                into.append(StreamPart(fields["event"], json.loads(fields["data"]), fields.get("id")))
            fields = {}
