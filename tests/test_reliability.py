"""Reliability against a real Agent Server behind a fault-injecting proxy (tests/support/fault_proxy.py).

Dropped, truncated, silent and cleanly closed streams are repaired without losing or repeating a part;
retries happen only where they are safe; stalls end in APITimeoutError; leaving a stream early releases
its connection at once. Every scenario runs with the async and the sync client in direct mode.

Most stream scenarios patch `lmsystems._retry.backoff` (the reconnect and retry delay) down to a few
milliseconds so that 20 drops per stream stay fast; one headline run per flavour keeps the real backoff.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from support.agent_server import RunningAgentServer
from support.fault_proxy import (
    JOIN_STREAM,
    RUN,
    RUN_STREAM,
    RUNS,
    STATELESS_STREAM,
    THREAD,
    Cut,
    FaultPlan,
    RunningProxy,
    start_fault_proxy,
)

import lmsystems._retry
from lmsystems import LmsystemsClient, SyncLmsystemsClient
from lmsystems._exceptions import (
    APIConnectionError,
    APITimeoutError,
    ConflictError,
    InternalServerError,
    StreamError,
    ThreadBusyError,
)
from lmsystems._resume import ResumeTracker, Resync
from lmsystems._sse import ServerSentEvent
from lmsystems._types import StreamPart

pytestmark = pytest.mark.timeout(120)

FLAVOURS = ["async", "sync"]
STREAMS = f"(?:{RUN_STREAM})|(?:{JOIN_STREAM})"  # a run's first stream and its reconnects
DROPS = 20
CUSTOM_INPUT = {"count": 300}
CUSTOM_MODES = ["custom", "values"]
# Distinct words. Repeated ones put equal tokens (same id, event and data) in one millisecond of the
# in-memory runtime: test_repeated_tokens_survive_a_reconnect covers that case.
CHAT_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber basalt cobalt dune ember "
    "fjord glacier harbor island jungle kestrel lagoon meadow nebula"
)
CHAT_INPUT = {"messages": [{"role": "user", "content": CHAT_WORDS}]}
CHAT_MODES = ["messages-tuple", "values"]
SLOW_INPUT = {"seconds": 0.25, "steps": 6}
SLOW_MODES = ["custom", "values"]
# Fields that differ between two runs of the same graph and input (message, run and task ids).
VOLATILE = frozenset({"id", "run_id", "thread_id", "checkpoint_ns", "langgraph_checkpoint_ns"})


# ------------------------------------------------------------------------------------------ helpers


def stable(value: Any) -> Any:
    """`value` without the fields that differ from run to run."""
    if isinstance(value, dict):
        return {key: stable(item) for key, item in sorted(value.items()) if key not in VOLATILE}
    if isinstance(value, list):
        return [stable(item) for item in value]
    return value


def comparable(parts: list[StreamPart]) -> list[tuple[str, Any]]:
    """(event, data) of every part but `metadata` (checked on its own where it matters)."""
    return [(part.event, stable(part.data)) for part in parts if part.event != "metadata"]


@dataclass
class Outcome:
    """What one stream delivered, and how it ended."""

    parts: list[StreamPart] = field(default_factory=list)
    error: BaseException | None = None
    reconnects: int = 0
    resyncs: int = 0  # re-reads from an unambiguous point the tracker asked for (in-memory runtime only)
    gaps: list[Any] = field(default_factory=list)  # what the stream said may be missing (stream.gaps)
    events_delivered: int = 0
    run_id: str | None = None
    thread_id: str | None = None
    elapsed: float = 0.0
    idle_after: bool | None = None  # no active pooled connection right after the stream was left


def resyncs(stream: Any) -> int:
    """How many times the stream re-read from an unambiguous point (lmsystems/_resume.py, Resync)."""
    tracker = stream._progress.tracker
    return tracker.resyncs if tracker is not None else 0


def client_options(url: str, agent_server: RunningAgentServer, **options: Any) -> dict[str, Any]:
    return {"deployment_url": url, "deployment_key": agent_server.deployment_key, **options}


def active_connections(client: LmsystemsClient | SyncLmsystemsClient) -> list[Any]:
    """The pooled connections that are busy with a request (neither idle nor closed), plus the requests
    still holding the pool (httpcore: `pool.connections`, `is_idle()`, `is_closed()`, `pool._requests`)."""
    pool = client._core.http._client._transport._pool  # type: ignore[attr-defined]
    busy = [c for c in pool.connections if not c.is_idle() and not c.is_closed()]
    return busy + list(pool._requests)


def stream_through(
    flavour: str,
    url: str,
    agent_server: RunningAgentServer,
    graph: str,
    input: Any,
    *,
    stream_mode: Any,
    on_thread: bool = True,
    before: Callable[[str | None], None] | None = None,
    stop_after: int | None = None,
    run_options: dict[str, Any] | None = None,
    **options: Any,
) -> Outcome:
    """Run `graph` on a new thread (or statelessly) through `url` and read its stream to the end (or
    `stop_after` parts, leaving the `with` block then). `before(thread_id)` runs once the client is set
    up (so faults do not hit the setup requests). Any exception is caught into the Outcome."""
    if flavour == "async":
        return asyncio.run(
            _astream(
                url=url,
                agent_server=agent_server,
                graph=graph,
                input=input,
                stream_mode=stream_mode,
                on_thread=on_thread,
                before=before,
                stop_after=stop_after,
                run_options=run_options or {},
                options=options,
            )
        )
    outcome = Outcome()
    with SyncLmsystemsClient(graph, **client_options(url, agent_server, **options)) as client:
        outcome.thread_id = client.create_thread()["thread_id"] if on_thread else None
        if before is not None:
            before(outcome.thread_id)
        stream = client.stream_run(outcome.thread_id, input, stream_mode=stream_mode, **(run_options or {}))
        started = time.monotonic()
        try:
            with stream:
                for part in stream:
                    outcome.parts.append(part)
                    if stop_after is not None and len(outcome.parts) >= stop_after:
                        break
        except Exception as error:
            outcome.error = error
        outcome.elapsed = time.monotonic() - started
        outcome.idle_after = not active_connections(client)
        outcome.reconnects, outcome.events_delivered = stream.reconnects, stream.events_delivered
        outcome.resyncs = resyncs(stream)
        outcome.gaps = stream.gaps
        outcome.run_id = stream.run_id
    return outcome


async def _astream(
    *,
    url: str,
    agent_server: RunningAgentServer,
    graph: str,
    input: Any,
    stream_mode: Any,
    on_thread: bool,
    before: Callable[[str | None], None] | None,
    stop_after: int | None,
    run_options: dict[str, Any],
    options: dict[str, Any],
) -> Outcome:
    outcome = Outcome()
    async with LmsystemsClient(graph, **client_options(url, agent_server, **options)) as client:
        outcome.thread_id = (await client.create_thread())["thread_id"] if on_thread else None
        if before is not None:
            before(outcome.thread_id)
        stream = client.stream_run(outcome.thread_id, input, stream_mode=stream_mode, **run_options)
        started = time.monotonic()
        try:
            async with stream:
                async for part in stream:
                    outcome.parts.append(part)
                    if stop_after is not None and len(outcome.parts) >= stop_after:
                        break
        except Exception as error:
            outcome.error = error
        outcome.elapsed = time.monotonic() - started
        outcome.idle_after = not active_connections(client)
        outcome.reconnects, outcome.events_delivered = stream.reconnects, stream.events_delivered
        outcome.resyncs = resyncs(stream)
        outcome.gaps = stream.gaps
        outcome.run_id = stream.run_id
    return outcome


def call(
    flavour: str,
    url: str,
    agent_server: RunningAgentServer,
    graph: str,
    action: str,
    *args: Any,
    before: Callable[[Any], None] | None = None,
    **options: Any,
) -> tuple[Any, BaseException | None, float]:
    """Call `client.<action>(*args)` (a dotted name, e.g. "threads.get"); `args` may hold callables
    of the thread id, resolved after a thread was created. Returns (result, error, seconds)."""

    def target(client: Any) -> Any:
        for name in action.split("."):
            client = getattr(client, name)
        return client

    if flavour == "async":

        async def scenario() -> tuple[Any, BaseException | None, float]:
            async with LmsystemsClient(graph, **client_options(url, agent_server, **options)) as client:
                thread_id = (await client.create_thread())["thread_id"]
                resolved = [arg(thread_id) if callable(arg) else arg for arg in args]
                if before is not None:
                    before(thread_id)
                started = time.monotonic()
                try:
                    return await target(client)(*resolved), None, time.monotonic() - started
                except Exception as error:
                    return None, error, time.monotonic() - started

        return asyncio.run(scenario())
    with SyncLmsystemsClient(graph, **client_options(url, agent_server, **options)) as client:
        thread_id = client.create_thread()["thread_id"]
        resolved = [arg(thread_id) if callable(arg) else arg for arg in args]
        if before is not None:
            before(thread_id)
        started = time.monotonic()
        try:
            return target(client)(*resolved), None, time.monotonic() - started
        except Exception as error:
            return None, error, time.monotonic() - started


def run_status(agent_server: RunningAgentServer, thread_id: str, run_id: str) -> str:
    with httpx.Client(base_url=agent_server.url, headers=agent_server.headers, timeout=10.0) as http:
        return str(http.get(f"/threads/{thread_id}/runs/{run_id}").json()["status"])


def wait_for_status(
    agent_server: RunningAgentServer, thread_id: str, run_id: str, done: Callable[[str], bool], seconds: float
) -> str:
    deadline = time.monotonic() + seconds
    status = run_status(agent_server, thread_id, run_id)
    for _ in range(int(seconds / 0.1) + 1):
        if done(status) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
        status = run_status(agent_server, thread_id, run_id)
    return status


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    for _ in range(int(seconds / 0.02) + 1):
        if condition():
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return condition()


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect and retry delays of a few milliseconds instead of 0.5 s, 1 s, 2 s, ..."""
    monkeypatch.setattr(lmsystems._retry, "backoff", lambda attempt, rng=None: min(0.05, 0.005 * 2**attempt))


@pytest.fixture
def plan() -> FaultPlan:
    return FaultPlan(seed=0)


@pytest.fixture
def proxy(agent_server: RunningAgentServer, plan: FaultPlan) -> Iterator[RunningProxy]:
    with start_fault_proxy(agent_server.url, plan) as running:
        yield running


@pytest.fixture(scope="module")
def reference(agent_server: RunningAgentServer) -> Callable[[str, Any, list[str]], list[StreamPart]]:
    """The parts of an uninterrupted, proxy-less run of a graph (cached per graph, input and modes)."""
    cache: dict[str, list[StreamPart]] = {}

    def parts(graph: str, input: Any, modes: list[str]) -> list[StreamPart]:
        key = json.dumps([graph, input, modes], sort_keys=True)
        if key not in cache:
            outcome = stream_through("sync", agent_server.url, agent_server, graph, input, stream_mode=modes)
            assert outcome.error is None, outcome.error
            assert outcome.reconnects == 0
            cache[key] = outcome.parts
        return cache[key]

    return parts


# ------------------------------------------------------------------------------------------ the headline


def assert_lossless_through_drops(
    outcome: Outcome, expected: list[StreamPart], plan: FaultPlan, drops: int
) -> None:
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    # Every part, the run's metadata included (a repair rejoins without the server's mode filter).
    assert comparable(outcome.parts) == comparable(expected)
    assert [part.event for part in outcome.parts].count("metadata") == 1
    assert outcome.parts[0].event == "metadata"
    cut = plan.cuts_applied("drop")
    # Every planned drop happened, each after the stream's headers (so with the run id known), except
    # those planned for a connection the client left first to re-read from an unambiguous point.
    # (A drop that came while the client was leaving to re-read is repaired by that re-read.)
    assert outcome.reconnects <= len(cut) <= outcome.reconnects + outcome.resyncs
    assert drops - outcome.resyncs <= len(cut) <= drops
    assert plan.pending_cuts() == 0
    streams = plan.stream_responses()
    first, *reconnects, final = streams
    # After the last close, the run's stream is rejoined after the last event delivered: the server ends
    # that rejoin at once (the run is over), and that ends the stream. No status check is needed.
    assert final.method == "GET" and final.cut is None and final.last_event_id not in (None, "0")
    assert f"/runs/{outcome.run_id}/stream" in final.path
    assert not plan.requests_to("GET", RUN)
    assert first.method == "POST" and first.cut_at == 0  # right after the headers
    assert reconnects[0].cut_at is not None and reconnects[0].events == 0  # inside the first event
    assert reconnects[0].cut_at < 41
    # One request per drop, plus one per re-read from an unambiguous point, plus, when the run's end
    # came while a millisecond was held back as ambiguous, one more rejoin that re-reads it.
    assert 0 <= len(reconnects) - outcome.reconnects - outcome.resyncs <= 1
    assert all(r.method == "GET" and f"/runs/{outcome.run_id}/stream" in r.path for r in reconnects)
    # A reconnect asks for what follows the last delivered id: "0" before any, then never backwards.
    resumed_from = [r.last_event_id for r in reconnects]
    assert resumed_from[0] == "0" and None not in resumed_from
    assert resumed_from == sorted(resumed_from, key=lambda v: (len(v), v))
    ids = [part.id for part in outcome.parts]
    assert None not in ids and ids == sorted(ids, key=lambda v: (len(v or ""), v))
    assert outcome.events_delivered == len(outcome.parts)
    assert outcome.idle_after


@pytest.mark.parametrize("seed", [11, 23, 47])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_twenty_drops_per_stream_lose_and_repeat_nothing(
    agent_server: RunningAgentServer, reference: Any, fast_backoff: None, flavour: str, seed: int
) -> None:
    expected = reference("custom_events", CUSTOM_INPUT, CUSTOM_MODES)
    plan = FaultPlan(seed)
    with start_fault_proxy(agent_server.url, plan) as proxy:
        outcome = stream_through(
            flavour,
            proxy.url,
            agent_server,
            "custom_events",
            CUSTOM_INPUT,
            stream_mode=CUSTOM_MODES,
            before=lambda _: plan.drop_streams(DROPS, span_events=len(expected), path=STREAMS),
            max_reconnects=DROPS + 5,
        )
    assert_lossless_through_drops(outcome, expected, plan, DROPS)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_twenty_drops_with_the_real_backoff(
    agent_server: RunningAgentServer, reference: Any, flavour: str
) -> None:
    expected = reference("custom_events", CUSTOM_INPUT, CUSTOM_MODES)
    plan = FaultPlan(5)
    with start_fault_proxy(agent_server.url, plan) as proxy:
        outcome = stream_through(
            flavour,
            proxy.url,
            agent_server,
            "custom_events",
            CUSTOM_INPUT,
            stream_mode=CUSTOM_MODES,
            before=lambda _: plan.drop_streams(DROPS, span_events=len(expected), path=STREAMS),
            max_reconnects=DROPS + 5,
        )
    assert_lossless_through_drops(outcome, expected, plan, DROPS)


@pytest.mark.parametrize("seed", [3, 8])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_chat_tokens_survive_twenty_drops(
    agent_server: RunningAgentServer, reference: Any, fast_backoff: None, flavour: str, seed: int
) -> None:
    expected = reference("chat", CHAT_INPUT, CHAT_MODES)
    tokens = [part.data[0]["content"] for part in expected if part.event == "messages"]
    assert len(tokens) > 80 and "".join(tokens).endswith(CHAT_WORDS)
    plan = FaultPlan(seed)
    with start_fault_proxy(agent_server.url, plan) as proxy:
        outcome = stream_through(
            flavour,
            proxy.url,
            agent_server,
            "chat",
            CHAT_INPUT,
            stream_mode=CHAT_MODES,
            before=lambda _: plan.drop_streams(DROPS, span_events=len(expected), path=STREAMS),
            max_reconnects=DROPS + 5,
        )
    assert_lossless_through_drops(outcome, expected, plan, DROPS)
    got = [part.data[0]["content"] for part in outcome.parts if part.event == "messages"]
    assert got == tokens


CHAT_MESSAGES_MODES = ["messages", "values"]


@pytest.mark.parametrize("seed", [5, 9])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_messages_mode_through_drops_names_every_gap(
    agent_server: RunningAgentServer, reference: Any, fast_backoff: None, flavour: str, seed: int
) -> None:
    """stream_mode "messages" (`messages/metadata`, `messages/partial`): the in-memory runtime keeps
    none of them for replay either (it replays "messages-tuple" events), so tokens sent while the
    connection was down are gone. Through three drops the stream says so: every part delivered is the
    run's, once and in order, every `values` part arrives, and every `messages/*` part that did not is
    named by a `gap` part (the distributed bed checks the gaps' positions by event id)."""
    expected = reference("chat", CHAT_INPUT, CHAT_MESSAGES_MODES)
    assert [part.event for part in expected].count("messages/partial") > 80
    plan = FaultPlan(seed)
    with start_fault_proxy(agent_server.url, plan) as proxy:
        outcome = stream_through(
            flavour,
            proxy.url,
            agent_server,
            "chat",
            CHAT_INPUT,
            stream_mode=CHAT_MESSAGES_MODES,
            before=lambda _: plan.drop_streams(3, span_events=4, path=STREAMS),
            max_reconnects=10,
        )
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    # The run is over within milliseconds: the drops fall on the first connections (the first right
    # after the headers, so its tokens can only come from a replay).
    assert len(plan.cuts_applied("drop")) == 3
    gaps = [part for part in outcome.parts if part.event == "gap"]
    assert [gap.data for gap in gaps] == outcome.gaps and all(gap.id is None for gap in gaps)
    got = comparable([part for part in outcome.parts if part.event != "gap"])
    want = comparable(expected)
    assert [item for item in want if item in got] == got, "not the run's parts, once, in order"
    missing = [item for item in want if item not in got]
    assert all(event.startswith("messages/") for event, _ in missing), "a stored event was lost"
    named = {kind for gap in outcome.gaps for kind in gap["events"]}
    assert {event for event, _ in missing} <= named, "a part was lost silently"


#: Repetitions of the twenty-drop streams below; the proof run sets LMSYSTEMS_REPEAT_DROPS=50 (with a CPU
#: hog running: the in-memory runtime then puts many events in one millisecond).
REPEAT_DROPS = int(os.environ.get("LMSYSTEMS_REPEAT_DROPS", "2"))


@pytest.mark.parametrize("repetition", range(REPEAT_DROPS))
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_twenty_drops_repeated_with_new_seeds(
    agent_server: RunningAgentServer, reference: Any, fast_backoff: None, flavour: str, repetition: int
) -> None:
    """Exact, not lucky: the chat tokens (equal tokens in one millisecond) and the custom events through
    twenty drops each, with a new seed every repetition."""
    for graph, input, modes in (
        ("chat", CHAT_INPUT, CHAT_MODES),
        ("custom_events", CUSTOM_INPUT, CUSTOM_MODES),
    ):
        expected = reference(graph, input, modes)
        plan = FaultPlan(1000 + repetition)
        with start_fault_proxy(agent_server.url, plan) as proxy:
            outcome = stream_through(
                flavour,
                proxy.url,
                agent_server,
                graph,
                input,
                stream_mode=modes,
                before=lambda _, plan=plan, expected=expected: plan.drop_streams(
                    DROPS, span_events=len(expected), path=STREAMS
                ),
                max_reconnects=DROPS + 5,
            )
        # Exactly once, in order, the run's metadata included, through every drop that happened.
        assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
        assert comparable(outcome.parts) == comparable(expected)
        assert [part.event for part in outcome.parts].count("metadata") == 1
        ids = [part.id for part in outcome.parts]
        assert None not in ids and ids == sorted(ids, key=lambda v: (len(v or ""), v))
        drops = len(plan.cuts_applied("drop"))
        assert outcome.reconnects <= drops <= outcome.reconnects + outcome.resyncs
        assert DROPS - outcome.resyncs <= drops <= DROPS


# ------------------------------------------------------------------------------------------ clean closes


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_clean_close_while_the_run_is_running_is_resumed_not_reported_done(
    agent_server: RunningAgentServer, reference: Any, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    expected = reference("slow", SLOW_INPUT, SLOW_MODES)
    cuts = (
        Cut("close", after_events=3),  # between events, the run still going
        Cut("close", after_events=2, inner=7),  # in the middle of an event, with a proper terminator
    )
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "slow",
        SLOW_INPUT,
        stream_mode=SLOW_MODES,
        before=lambda _: plan.cut_streams(*cuts, path=STREAMS),
    )
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert comparable(outcome.parts) == comparable(expected)
    closes = plan.cuts_applied("close")
    assert len(closes) == 2 and outcome.reconnects == 2
    first, second, third, final = plan.stream_responses()
    assert first.events == 3 and second.events == 2 and third.cut is None
    assert final.cut is None  # the run was over: the rejoin ended at once (with the re-sent trailing id)
    # The clean close between events was followed by a rejoin (the check): it brought events, so the close
    # was a repair; the truncated event is repaired too. The last rejoin is the run's real end. The
    # run's status is never asked: the rejoins answer it.
    assert not plan.requests_to("GET", RUN)
    assert first.ended is not None and first.ended <= second.started
    assert third.last_event_id is not None and third.last_event_id != "0"
    assert run_status(agent_server, outcome.thread_id or "", outcome.run_id or "") == "success"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_clean_close_is_resumed_even_when_the_run_ends_before_the_status_check(
    agent_server: RunningAgentServer, reference: Any, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    """The stream closes cleanly 0.2 s into a 0.6 s run; the client's "is the run over?" reaches the server
    only after the run ended (a slow network: the check is delayed 1 s). The close still came while the run
    was running, and the rest of its events are stored on the server: nothing may be lost."""
    slow = {"seconds": 0.2, "steps": 3}
    expected = reference("slow", slow, SLOW_MODES)

    def before(_: str | None) -> None:
        plan.cut_streams(Cut("close", after_events=4), path=STREAMS)  # right after the first step's event
        plan.delay(1.0, method="GET", path=RUN)

    outcome = stream_through(
        flavour, proxy.url, agent_server, "slow", slow, stream_mode=SLOW_MODES, before=before
    )
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    first = plan.stream_responses()[0]
    assert first.cut == "close" and first.events == 4
    assert [part.event for part in outcome.parts[:4]] == ["metadata", "values", "values", "custom"]
    assert comparable(outcome.parts) == comparable(expected), (
        f"{len(outcome.parts)} of {len(expected)} parts delivered, then the stream was reported done"
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_clean_close_whose_status_check_fails_does_not_end_the_stream_silently(
    agent_server: RunningAgentServer, reference: Any, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    """The stream closes cleanly while the run is running, and the client's "is the run over?" (the rejoin
    of the run's stream, then the run's status) fails (503 on every try). Not knowing must not be taken for
    "the run is over": resume, or raise."""
    slow = {"seconds": 0.2, "steps": 3}
    expected = reference("slow", slow, SLOW_MODES)

    def before(_: str | None) -> None:
        plan.cut_streams(Cut("close", after_events=4), path=STREAMS)
        plan.fail_503(times=None, method="GET", path=JOIN_STREAM, retry_after="0")
        plan.fail_503(times=None, method="GET", path=RUN, retry_after="0")

    outcome = stream_through(
        flavour, proxy.url, agent_server, "slow", slow, stream_mode=SLOW_MODES, before=before
    )
    assert plan.cuts_applied("close") and plan.requests_to("GET", JOIN_STREAM)
    assert outcome.error is not None or comparable(outcome.parts) == comparable(expected), (
        f"{len(outcome.parts)} of {len(expected)} parts delivered, then the stream was reported done"
    )


def test_repeated_tokens_survive_a_reconnect(
    agent_server: RunningAgentServer, reference: Any, fast_backoff: None
) -> None:
    """A reply that repeats itself ("la la la ...") puts equal tokens (same id, event and data) in one
    millisecond, so a replay's overlap with the live events cannot be told from new tokens by looking:
    lmsystems/_resume.py then reads the millisecond again from storage (a resync). Every token arrives
    exactly once."""
    chat = {"messages": [{"role": "user", "content": " ".join(["la"] * 1200)}]}
    expected = reference("chat", chat, ["messages-tuple"])
    tokens = [part.data[0]["content"] for part in expected if part.event == "messages"]
    for seed, flavour in enumerate(["async", "sync", "async", "sync"]):
        plan = FaultPlan(seed)
        with start_fault_proxy(agent_server.url, plan) as proxy:
            outcome = stream_through(
                flavour,
                proxy.url,
                agent_server,
                "chat",
                chat,
                stream_mode=["messages-tuple"],
                before=lambda _, plan=plan, seed=seed: plan.cut_streams(
                    Cut("drop", after_events=5 + seed, inner=5), path=STREAMS
                ),
            )
        assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
        assert outcome.reconnects == 1
        got = [part.data[0]["content"] for part in outcome.parts if part.event == "messages"]
        assert got == tokens


def test_resume_tracker_keeps_repeated_events_after_the_replay() -> None:
    """The same on a model of the in-memory runtime (as in tests/test_resume.py: ids are `f"{ms}-0"`, a
    reconnect replays the stored events whose id is greater than `Last-Event-ID`). Fifty events after the
    replay, one millisecond holds ("la", " ") twice: both pairs are new and must be delivered. The second
    pair repeats the first within one millisecond, as a re-sent block would: the tracker asks for a
    re-read from storage (Resync), where the millisecond is complete, and delivers it exactly."""

    def event(ms: int, token: str) -> ServerSentEvent:
        return ServerSentEvent("custom", json.dumps([{"content": token}]), f"{ms}-0", None)

    run = [event(1000 + index, token) for index, token in enumerate("abcd")]
    run += [event(2000 + index, f"w{index}") for index in range(50)]
    run += [event(3000, "la"), event(3000, " "), event(3000, "la"), event(3000, " "), event(3001, "end")]
    tracker, delivered = ResumeTracker(), []
    for sent in run[:3]:  # the first connection drops after three events
        delivered += tracker.feed(sent)
    after = tracker.resume_from()
    assert after == "1001-0"
    with pytest.raises(Resync):
        for sent in [item for item in run if item.id is not None and item.id > after]:  # replay, live
            delivered += tracker.feed(sent)
    after = tracker.resume_from()  # the millisecond before the ambiguous one
    assert after == "2049-0"
    for sent in [item for item in run if item.id is not None and item.id > after]:
        delivered += tracker.feed(sent)
    delivered += tracker.end_of_stream()
    assert [json.loads(item.data)[0]["content"] for item in delivered[-6:]] == [
        "w49",
        "la",
        " ",
        "la",
        " ",
        "end",
    ]
    assert delivered == run


# ------------------------------------------------------------------------------------------ unrepairable


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_drop_of_a_stateless_stream_raises_our_error_with_the_count(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        {"count": 50},
        stream_mode=["custom"],
        on_thread=False,
        before=lambda _: plan.cut_streams(Cut("drop", after_events=5, inner=12)),
    )
    error = outcome.error
    assert isinstance(error, APIConnectionError) and not isinstance(error, httpx.HTTPError)
    assert error.__cause__ is None and error.__suppress_context__
    assert len(outcome.parts) == 5 == outcome.events_delivered
    assert "5 events delivered" in str(error) and "cannot be resumed" in str(error)
    assert outcome.reconnects == 0
    assert [r.path for r in plan.stream_responses()] == ["/runs/stream"]
    assert not plan.requests_to("GET", JOIN_STREAM)
    assert outcome.idle_after


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_truncated_stateless_stream_raises_stream_error_with_the_count(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        {"count": 50},
        stream_mode=["custom"],
        on_thread=False,
        before=lambda _: plan.cut_streams(Cut("close", after_events=7, inner=12)),
    )
    error = outcome.error
    assert isinstance(error, StreamError) and not isinstance(error, httpx.HTTPError)
    assert len(outcome.parts) == 7 == error.events_delivered
    assert "ended inside an event" in str(error)
    assert outcome.reconnects == 0 and len(plan.requests_to(path=STATELESS_STREAM)) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_gives_up_after_max_reconnects_saying_how_many_events_were_delivered(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    cuts = [Cut("drop", after_events=40), *[Cut("drop", offset=0) for _ in range(10)]]
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        CUSTOM_INPUT,
        stream_mode=CUSTOM_MODES,
        before=lambda _: plan.cut_streams(*cuts, path=STREAMS),
        max_reconnects=3,
    )
    error = outcome.error
    assert isinstance(error, StreamError), f"{type(error).__name__}: {error}"
    assert len(outcome.parts) == 40 == error.events_delivered == outcome.events_delivered
    assert "after 3 failed reconnects" in str(error) and "(40 events delivered)" in str(error)
    assert outcome.run_id is not None and outcome.run_id in str(error)
    joins = plan.requests_to("GET", JOIN_STREAM)
    assert len(joins) == 3 == outcome.reconnects
    # Each attempt resumed from the same point: the id before the last delivered millisecond's events.
    assert len({r.last_event_id for r in joins}) == 1 and joins[0].last_event_id not in (None, "0")
    assert outcome.idle_after


# ------------------------------------------------------------------------------------------ retries


def thread_path(thread_id: str) -> str:
    return f"/threads/{thread_id}"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_get_behind_two_503s_with_retry_after_zero_succeeds(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    result, error, elapsed = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        before=lambda _: plan.fail_503(times=2, method="GET", path=THREAD, retry_after="0"),
    )
    assert error is None, error
    gets = plan.requests_to("GET", THREAD)
    assert result["thread_id"] == gets[0].path.rsplit("/", 1)[1]
    assert [r.status for r in gets] == [503, 503, 200]
    assert elapsed < 2.0  # Retry-After: 0 was honoured, not the 0.5 s backoff... twice


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_retry_after_ms_wins_over_retry_after(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    _, error, elapsed = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        before=lambda _: plan.fail_503(
            times=1, method="GET", path=THREAD, retry_after="30", retry_after_ms="20"
        ),
    )
    assert error is None, error
    assert [r.status for r in plan.requests_to("GET", THREAD)] == [503, 200]
    assert elapsed < 5.0


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_no_retries_with_max_retries_zero(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    _, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        max_retries=0,
        before=lambda _: plan.fail_503(times=2, method="GET", path=THREAD),
    )
    assert isinstance(error, InternalServerError) and error.status_code == 503
    assert len(plan.requests_to("GET", THREAD)) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_html_502_is_retried(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    result, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        before=lambda _: plan.bad_gateway_html(times=1, method="GET", path=THREAD),
    )
    assert error is None and result["thread_id"]
    assert [r.status for r in plan.requests_to("GET", THREAD)] == [502, 200]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_persistent_html_502_names_the_page_title_not_the_html(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    title = "Upstream unavailable (maintenance)"
    _, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        max_retries=2,
        before=lambda _: plan.bad_gateway_html(times=None, method="GET", path=THREAD, title=title),
    )
    assert isinstance(error, InternalServerError) and error.status_code == 502
    message = str(error)
    assert title in message
    assert "<" not in message and "nginx" not in message
    assert len(plan.requests_to("GET", THREAD)) == 3


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_x_should_retry_false_stops_retries(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    _, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        before=lambda _: plan.fail_503(times=2, method="GET", path=THREAD, should_retry=False),
    )
    assert isinstance(error, InternalServerError) and error.status_code == 503
    assert len(plan.requests_to("GET", THREAD)) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_get_is_retried_after_the_connection_drops_before_an_answer(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str, fast_backoff: None
) -> None:
    result, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        before=lambda _: plan.disconnect(times=2, method="GET", path=THREAD),
    )
    assert error is None and result["thread_id"]
    assert [r.fault for r in plan.requests_to("GET", THREAD)] == ["disconnect", "disconnect", None]


def list_runs(agent_server: RunningAgentServer, thread_id: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=agent_server.url, headers=agent_server.headers, timeout=10.0) as http:
        runs: list[dict[str, Any]] = http.get(f"/threads/{thread_id}/runs").json()
        return runs


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_run_creating_post_answered_503_is_not_replayed(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    threads: list[str] = []

    def before(thread_id: str) -> None:
        threads.append(thread_id)
        plan.fail_503(times=3, method="POST", path=RUNS, retry_after="0")

    _, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "runs.create",
        lambda t: t,
        {"count": 1},
        before=before,
    )
    assert isinstance(error, InternalServerError) and error.status_code == 503
    assert len(plan.requests_to("POST", RUNS)) == 1
    assert list_runs(agent_server, threads[0]) == []


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_stream_run_answered_503_is_not_replayed(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        {"count": 5},
        stream_mode=["custom"],
        before=lambda _: plan.fail_503(times=3, method="POST", path=RUN_STREAM, retry_after="0"),
    )
    assert isinstance(outcome.error, InternalServerError) and outcome.error.status_code == 503
    assert len(plan.requests_to("POST", RUN_STREAM)) == 1 and not outcome.parts
    assert list_runs(agent_server, outcome.thread_id or "") == []
    assert outcome.idle_after


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_run_creating_post_whose_connection_drops_is_not_replayed(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    _, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "runs.create",
        lambda t: t,
        {"count": 1},
        before=lambda _: plan.disconnect(times=3, method="POST", path=RUNS),
    )
    assert isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError)
    assert len(plan.requests_to("POST", RUNS)) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_x_should_retry_true_lets_a_run_creating_post_be_retried(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    result, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "runs.create",
        lambda t: t,
        {"count": 1},
        before=lambda _: plan.fail_503(times=1, method="POST", path=RUNS, should_retry=True),
    )
    assert error is None, error
    assert [r.status for r in plan.requests_to("POST", RUNS)] == [503, 200]
    assert result["status"] in ("pending", "running", "success")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_409_is_never_retried(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    _, error, _ = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        before=lambda _: plan.fail(
            409, times=3, method="GET", path=THREAD, headers={"x-should-retry": "true", "retry-after": "0"}
        ),
    )
    assert isinstance(error, ConflictError) and error.status_code == 409
    assert len(plan.requests_to("GET", THREAD)) == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_busy_thread_409_from_the_server_is_not_retried(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    slow = {"seconds": 0.5, "steps": 3}

    async def scenario() -> BaseException | None:
        async with LmsystemsClient("slow", **client_options(proxy.url, agent_server)) as client:
            thread = await client.create_thread()
            first = await client.runs.create(thread, slow)
            try:
                await client.runs.create(thread, slow, multitask_strategy="reject")
            except Exception as error:
                return error
            finally:
                await client.runs.cancel(thread, first["run_id"])
        return None

    if flavour == "async":
        error = asyncio.run(scenario())
    else:
        with SyncLmsystemsClient("slow", **client_options(proxy.url, agent_server)) as client:
            thread = client.create_thread()
            first = client.runs.create(thread, slow)
            try:
                client.runs.create(thread, slow, multitask_strategy="reject")
                error = None
            except Exception as caught:
                error = caught
            finally:
                client.runs.cancel(thread, first["run_id"])
    assert isinstance(error, ThreadBusyError) and error.status_code == 409
    assert [r.status for r in plan.requests_to("POST", RUNS)] == [200, 409]


# ------------------------------------------------------------------------------------------ stalls


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_server_that_never_answers_times_out_within_the_read_timeout(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    _, error, elapsed = call(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        "threads.get",
        lambda t: t,
        timeout=httpx.Timeout(1.5),
        max_retries=0,
        before=lambda _: plan.stall(20.0, times=None, method="GET", path=THREAD),
    )
    assert isinstance(error, APITimeoutError) and not isinstance(error, httpx.HTTPError)
    assert not error.final
    assert 1.4 < elapsed < 4.0
    stalled = plan.requests_to("GET", THREAD)
    assert len(stalled) == 1 and wait_until(lambda: stalled[0].client_gone, 5.0)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_stalled_stream_run_times_out_and_is_not_replayed(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        {"count": 5},
        stream_mode=["custom"],
        timeout=httpx.Timeout(1.5),
        before=lambda _: plan.stall(20.0, times=None, method="POST", path=RUN_STREAM),
    )
    assert isinstance(outcome.error, APITimeoutError), outcome.error
    assert 1.4 < outcome.elapsed < 4.0
    assert len(plan.requests_to("POST", RUN_STREAM)) == 1
    assert outcome.idle_after


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_silent_stream_is_resumed(
    *,
    agent_server: RunningAgentServer,
    reference: Any,
    plan: FaultPlan,
    proxy: RunningProxy,
    flavour: str,
    fast_backoff: None,
) -> None:
    expected = reference("custom_events", {"count": 50}, CUSTOM_MODES)
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        {"count": 50},
        stream_mode=CUSTOM_MODES,
        timeout=httpx.Timeout(1.5),
        before=lambda _: plan.stall(20.0, method="POST", path=RUN_STREAM, after_headers=True),
    )
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert comparable(outcome.parts) == comparable(expected)
    assert outcome.reconnects == 1
    silent, resumed, final = plan.stream_responses()
    assert silent.body_bytes == 0 and resumed.last_event_id == "0"
    assert final.cut is None and final.last_event_id not in (None, "0")  # the last read of the finished run


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_heartbeats_alone_do_not_keep_a_stream_alive(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        {"count": 5},
        stream_mode=["custom"],
        timeout=httpx.Timeout(5.0),
        stream_idle_timeout=1.5,
        before=lambda _: plan.stall(
            20.0, method="POST", path=RUN_STREAM, after_headers=True, heartbeat_every=0.2
        ),
    )
    error = outcome.error
    assert isinstance(error, APITimeoutError) and error.final, f"{type(error).__name__}: {error}"
    assert "heartbeat" in str(error)
    assert 1.4 < outcome.elapsed < 3.5
    (stream,) = plan.stream_responses()
    assert stream.body_bytes >= 5 * len(b": heartbeat\r\n\r\n")  # bytes kept coming
    assert outcome.reconnects == 0 and not plan.requests_to("GET", JOIN_STREAM)
    assert outcome.idle_after


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_stream_deadline_bounds_a_whole_stream(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "slow",
        {"seconds": 0.2, "steps": 20},
        stream_mode=SLOW_MODES,
        stream_deadline=1.0,
    )
    error = outcome.error
    assert isinstance(error, APITimeoutError) and error.final, f"{type(error).__name__}: {error}"
    assert "deadline" in str(error)
    assert 0.9 < outcome.elapsed < 2.0
    assert outcome.parts and outcome.idle_after


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_stream_deadline_bounds_a_silent_stream(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    """The deadline is "the longest a whole stream may take": a connection that goes silent after its
    headers must not outlive it by the (longer) read timeout."""
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "custom_events",
        {"count": 5},
        stream_mode=["custom"],
        timeout=httpx.Timeout(6.0),
        stream_deadline=1.5,
        before=lambda _: plan.stall(15.0, times=None, path=STREAMS, after_headers=True),
    )
    error = outcome.error
    assert isinstance(error, APITimeoutError), f"{type(error).__name__}: {error}"
    assert outcome.elapsed < 3.0, f"the stream took {outcome.elapsed:.1f} s with a 1.5 s deadline"


# ------------------------------------------------------------------------------------------ leaving early


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_leaving_a_stream_early_releases_the_connection_and_the_run_goes_on(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "slow",
        {"seconds": 0.3, "steps": 6},
        stream_mode=["custom"],
        stop_after=2,
    )
    assert outcome.error is None and len(outcome.parts) == 2
    assert outcome.idle_after  # checked right after the `with` block, before the client closed
    (stream,) = plan.stream_responses()
    assert wait_until(lambda: stream.ended is not None, 2.0) and stream.client_gone
    # on_disconnect defaults to "continue": the run finishes on the server.
    assert outcome.thread_id and outcome.run_id
    status = wait_for_status(agent_server, outcome.thread_id, outcome.run_id, lambda s: s != "running", 10)
    assert status == "success"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_leaving_a_stream_early_with_on_disconnect_cancel_stops_the_run(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy, flavour: str
) -> None:
    outcome = stream_through(
        flavour,
        proxy.url,
        agent_server,
        "slow",
        {"seconds": 0.3, "steps": 10},
        stream_mode=["custom"],
        stop_after=2,
        run_options={"on_disconnect": "cancel"},
    )
    assert outcome.error is None and len(outcome.parts) == 2 and outcome.idle_after
    assert outcome.thread_id and outcome.run_id
    status = wait_for_status(agent_server, outcome.thread_id, outcome.run_id, lambda s: s != "running", 10)
    assert status not in ("running", "success")


def test_cancelling_the_task_that_reads_a_stream_releases_the_connection(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy
) -> None:
    async def scenario() -> tuple[list[StreamPart], bool, bool, str, str | None]:
        async with LmsystemsClient("slow", **client_options(proxy.url, agent_server)) as client:
            thread = await client.create_thread()
            stream = client.stream_run(thread, {"seconds": 0.3, "steps": 8}, stream_mode=["custom"])
            parts: list[StreamPart] = []
            first = asyncio.Event()

            async def read() -> None:
                async for part in stream:  # no `async with`: cancellation alone must release it
                    parts.append(part)
                    first.set()

            # Cancel once the first part arrived (the run still has seconds to go), however slow the
            # machine: a fixed wait raced the first event under load.
            task = asyncio.ensure_future(read())
            await asyncio.wait_for(first.wait(), timeout=30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            released = not active_connections(client)
            # The client stays usable after the cancellation.
            again = (await client.get_thread(thread))["thread_id"] == thread["thread_id"]
            return parts, released, again, thread["thread_id"], stream.run_id

    parts, released, again, thread_id, run_id = asyncio.run(scenario())
    assert parts and released and again
    (stream,) = plan.stream_responses()
    assert wait_until(lambda: stream.ended is not None, 2.0) and stream.client_gone
    assert run_id is not None
    assert wait_for_status(agent_server, thread_id, run_id, lambda s: s != "running", 10) == "success"


def test_cancelling_inside_async_with_releases_the_connection(
    agent_server: RunningAgentServer, plan: FaultPlan, proxy: RunningProxy
) -> None:
    async def scenario() -> tuple[int, bool]:
        async with LmsystemsClient("slow", **client_options(proxy.url, agent_server)) as client:
            thread = await client.create_thread()
            seen = 0

            async def read() -> None:
                nonlocal seen
                async with client.stream_run(
                    thread, {"seconds": 0.3, "steps": 8}, stream_mode=["custom"]
                ) as s:
                    async for _ in s:
                        seen += 1

            task = asyncio.ensure_future(read())
            for _ in range(600):  # until the first part arrived, however slow the machine
                if seen:
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return seen, not active_connections(client)

    seen, released = asyncio.run(scenario())
    assert seen >= 1 and released
    (stream,) = plan.stream_responses()
    assert wait_until(lambda: stream.ended is not None, 2.0) and stream.client_gone
