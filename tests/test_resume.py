"""ResumeTracker against a model of the real server's replay: exactly once, in order, under any drops.

The model reproduces what langgraph-api's in-memory runtime does on `GET .../runs/{run}/stream` with
`Last-Event-ID: X`: it subscribes to live events first, replays the stored events with an id greater than X
(string order, like the server) while the run goes on producing, then sends the live events, which repeat
those produced during the replay. Ids are `f"{ms}-0"`: many events share one, and with repeated data many
events of one millisecond are equal. Every case is modelled, the ambiguous ones included: the tracker
resolves those by a resync (a reconnect from an unambiguous point, skipping by count).
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lmsystems._resume import ResumeTracker, Resync, event_order
from lmsystems._sse import ServerSentEvent


def make_run(
    rng: random.Random, count: int, *, unique_ids: bool, repeats: bool, counter: bool = False
) -> list[ServerSentEvent]:
    """Events of a run. Ids: `f"{ms}-0"` (in-memory), one millisecond each (`unique_ids`), or Redis
    stream ids `f"{ms}-{seq}"` (`counter`: the sequence counts the events of one millisecond)."""
    events, ms, seq = [], 1_700_000_000_000, 0
    for index in range(count):
        if unique_ids or rng.random() < 0.3:
            ms, seq = ms + 1, 0
        elif counter and index:
            seq += 1
        data = f'{{"token": "{rng.choice(" ab")}"}}' if repeats else f'{{"index": {index}}}'
        events.append(ServerSentEvent(rng.choice(["custom", "updates"]), data, f"{ms}-{seq}", None))
    return events


def after(event_id: str | None, last_event_id: str) -> bool:
    """The server's `id > Last-Event-ID`: Redis compares (ms, seq) as numbers (the in-memory runtime
    compares strings, which agrees for its `ms-0` ids)."""
    return event_order(event_id or "") > event_order(last_event_id)  # type: ignore[operator]


def run_with_drops(
    run: list[ServerSentEvent], rng: random.Random, drops: int, window: int = 10_000
) -> list[ServerSentEvent]:
    """Deliver `run` through the tracker over connections that drop at random points (and reconnect at
    once when the tracker asks for a resync); `window`: how many delivered events the tracker keeps."""
    tracker, delivered = ResumeTracker(window=window), []
    wire = list(range(len(run)))  # the first connection: everything, live (indexes into `run`)
    produced = rng.randint(1, len(run))  # events the run has produced when the stream starts
    seen = 0  # events of the run that appeared on a wire: they were produced
    reconnects = 0
    while True:
        cut = rng.randint(0, len(wire)) if drops > 0 else len(wire)
        try:
            for index in wire[:cut]:
                seen = max(seen, index + 1)
                delivered.extend(tracker.feed(run[index]))
            if cut == len(wire):
                delivered.extend(tracker.end_of_stream())
                return delivered
            drops -= 1
        except Resync:
            pass
        reconnects += 1
        assert reconnects <= 20 + 2 * len(run), "the resyncs make no progress"
        # Reconnect: subscribe at `produced`, replay ids > X while the run produces up to `later`, then live.
        produced = min(len(run), max(produced, seen) + rng.randint(0, 5))
        resume = tracker.resume_from()
        later = min(len(run), produced + rng.randint(0, 6))
        replay = [i for i in range(later) if resume == "0" or after(run[i].id, resume)]
        wire = replay + list(range(min(produced, later), len(run)))
        produced = later


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 60), drops=st.integers(0, 20))
def test_every_event_exactly_once_with_shared_ids(seed: int, count: int, drops: int) -> None:
    rng = random.Random(seed)
    run = make_run(rng, count, unique_ids=False, repeats=False)
    assert run_with_drops(run, rng, drops) == run


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 60), drops=st.integers(0, 20))
def test_every_event_exactly_once_with_unique_ids_and_repeated_data(
    seed: int, count: int, drops: int
) -> None:
    rng = random.Random(seed)
    run = make_run(rng, count, unique_ids=True, repeats=True)
    assert run_with_drops(run, rng, drops) == run


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 60), drops=st.integers(0, 20))
def test_every_event_exactly_once_with_shared_ids_and_repeated_data(
    seed: int, count: int, drops: int
) -> None:
    rng = random.Random(seed)
    run = make_run(rng, count, unique_ids=False, repeats=True)
    assert run_with_drops(run, rng, drops) == run


def test_resume_point_is_the_id_before_the_trailing_run_of_equal_ids() -> None:
    tracker = ResumeTracker()
    assert tracker.resume_from() == "0"
    tracker = ResumeTracker()
    for event_id in ["1-0", "2-0", "2-0"]:
        tracker.feed(ServerSentEvent("custom", event_id + "x", event_id, None))
    assert tracker.resume_from() == "1-0"
    assert tracker.delivered == 3 and tracker.last_event_id == "2-0"


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 60), drops=st.integers(0, 20))
def test_every_event_exactly_once_with_redis_ids_and_repeated_data(seed: int, count: int, drops: int) -> None:
    rng = random.Random(seed)
    run = make_run(rng, count, unique_ids=False, repeats=True, counter=True)
    assert run_with_drops(run, rng, drops) == run


def test_once_ids_are_seen_unique_a_reconnect_starts_right_after_the_last_event() -> None:
    tracker = ResumeTracker()
    for event_id in ["5-0", "6-0"]:  # no proof yet: ms-0 ids are what the in-memory runtime mints too
        tracker.feed(ServerSentEvent("custom", event_id, event_id, None))
    assert not tracker.unique_ids and tracker.resume_from() == "5-0"
    for event_id in ["6-1", "7-0"]:  # a sequence number above 0: a counter, as Redis streams have
        tracker.feed(ServerSentEvent("custom", event_id, event_id, None))
    assert tracker.unique_ids and tracker.resume_from() == "7-0"
    # The replay sends only what follows: nothing is skipped.
    assert tracker.feed(ServerSentEvent("custom", "8-0", "8-0", None)) == [
        ServerSentEvent("custom", "8-0", "8-0", None)
    ]
    # Two events with one id: not unique after all, back to the careful resume point.
    tracker.feed(ServerSentEvent("custom", "8-0b", "8-0", None))
    assert not tracker.unique_ids and tracker.resume_from() == "7-0"


def test_an_ambiguous_millisecond_is_read_again_from_storage() -> None:
    """A replay ends with ("a", " ") of millisecond 9, and what comes next is ("a", " ") of millisecond 9
    again: re-sent live, or new equal tokens? The tracker holds them back until the millisecond is over,
    asks for a resync, and delivers the millisecond from the replay of the next connection."""
    first = [ServerSentEvent("custom", f'"{t}"', f"{ms}-0", None) for ms, t in [(8, "x"), (9, "a"), (9, " ")]]
    tracker = ResumeTracker()
    assert tracker.feed(first[0]) == [first[0]]
    assert tracker.resume_from() == "0"  # dropped after one event
    delivered = [first[0]]
    for event in [first[0], *first[1:]]:  # replayed: the 8-0 is skipped by count, then new
        delivered += tracker.feed(event)
    assert delivered == first
    assert tracker.feed(first[1]) == [] and tracker.feed(first[2]) == []  # equal again: held back
    with pytest.raises(Resync):
        tracker.feed(ServerSentEvent("custom", '"z"', "10-0", None))
    assert tracker.resyncs == 1
    assert tracker.resume_from() == "8-0"  # the millisecond before the ambiguous one
    # Storage holds millisecond 9 complete: four tokens (the second pair was new), then 10.
    stored = [first[1], first[2], first[1], first[2], ServerSentEvent("custom", '"z"', "10-0", None)]
    for event in stored:
        delivered += tracker.feed(event)
    assert delivered == [first[0], *stored]


def test_messages_events_are_not_where_a_reconnect_starts() -> None:
    """The production runtime stores no `messages` events and mints their ids apart (they may equal or pass
    the next stored event's): a reconnect starts after the last stored event, and skips, in order, what
    the replay sends again of what followed it."""
    tracker, delivered = ResumeTracker(), []
    run = [
        ServerSentEvent("metadata", "{}", "5-0", None),
        ServerSentEvent("updates", '"a"', "6-0", None),
        ServerSentEvent("updates", '"b"', "6-1", None),  # a Redis counter: ids are unique
        ServerSentEvent("messages/partial", '"tok"', "9-0", None),  # an id from the replica's clock
    ]
    for event in run:
        delivered += tracker.feed(event)
    assert tracker.unique_ids and tracker.last_event_id == "9-0"
    assert tracker.resume_from() == "6-1"  # not 9-0: the update stored as 8-0 would be skipped
    late = ServerSentEvent("updates", '"c"', "8-0", None)
    delivered += tracker.feed(late)  # stored, older than the token's id, not delivered yet
    # The server keeps no `messages/*` event for replay: the reconnect's first new event comes after a
    # gap naming them (tokens sent while the connection was down may be missing).
    kinds = ["messages/complete", "messages/metadata", "messages/partial"]
    gap = ServerSentEvent("gap", json.dumps({"after": "9-0", "events": kinds}), None, None)
    assert delivered == [*run, gap, late]
    assert tracker.gaps == [{"after": "9-0", "events": kinds}]


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(1, 80),
    drops=st.integers(0, 20),
    window=st.integers(16, 40),
    stored_every=st.sampled_from([0, 1, 5, 30]),
)
def test_every_event_exactly_once_when_the_resume_point_left_the_window(
    seed: int, count: int, drops: int, window: int, stored_every: int
) -> None:
    """More events after the last stored one than the tracker keeps (a long answer streamed token by
    token, `messages` events only): a reconnect starts inside the window, never re-delivering what left
    it. `stored_every`: one stored event (`updates`) every so many, or none but the first. The limit: one
    millisecond must not hold more events than the window (10,000 by default)."""
    rng = random.Random(seed)
    run = [
        ServerSentEvent(
            "updates" if index == 0 or (stored_every and index % stored_every == 0) else "messages",
            event.data,
            event.id,
            None,
        )
        for index, event in enumerate(make_run(rng, count, unique_ids=False, repeats=False))
    ]
    assume(max(Counter(event.id for event in run).values()) < window)
    assert run_with_drops(run, rng, drops, window) == run


def test_a_rejoin_after_more_events_than_the_window_delivers_nothing_again() -> None:
    """The run's stream closed after 30 `messages` events, the tracker keeps 10: the rejoin starts at the
    window's oldest event, and the replay of what follows it is skipped."""
    run = [ServerSentEvent("metadata", "{}", "1-0", None)]
    run += [ServerSentEvent("messages/partial", f'"{i}"', f"{2 + i // 4}-0", None) for i in range(30)]
    tracker = ResumeTracker(window=10)
    assert [event for event in run for event in tracker.feed(event)] == run
    resume = tracker.resume_from()
    assert resume == run[-10].id
    replay = [event for event in run if after(event.id, resume)]
    assert [event for event in replay for event in tracker.feed(event)] == []
    assert tracker.end_of_stream() == []


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(1, 80),
    drops=st.integers(0, 20),
    window=st.integers(6, 40),
    stored_every=st.sampled_from([1, 3, 30]),
)
def test_production_replays_after_the_last_stored_event_even_when_it_left_the_window(
    seed: int, count: int, drops: int, window: int, stored_every: int
) -> None:
    """The production runtime (Redis ids, unique) replays only stored events and sends nothing twice live:
    every stored event is delivered exactly once, in order, and no event twice, whatever the window."""
    rng = random.Random(seed)
    run = [
        ServerSentEvent(
            "updates" if index % stored_every == 0 else "messages/partial", event.data, event.id, None
        )
        for index, event in enumerate(make_run(rng, count, unique_ids=False, repeats=False, counter=True))
    ]
    tracker, delivered = ResumeTracker(window=window), []
    wire, produced, seen = list(range(len(run))), rng.randint(1, len(run)), 0
    for _ in range(drops + 1):  # the last connection is read to its end
        cut = rng.randint(0, len(wire)) if drops > 0 else len(wire)
        for index in wire[:cut]:
            seen = max(seen, index + 1)
            delivered += tracker.feed(run[index])
        if cut == len(wire):
            break
        drops -= 1
        produced = min(len(run), max(produced, seen) + rng.randint(0, 5))
        resume = tracker.resume_from()
        replay = [i for i in range(produced) if run[i].event == "updates" and after(run[i].id, resume)]
        wire = replay + list(range(produced, len(run)))
    delivered += tracker.end_of_stream()
    assert [e for e in delivered if e.event == "updates"] == [e for e in run if e.event == "updates"]
    assert len({(e.id, e.data) for e in delivered}) == len(delivered)


KINDS = ["messages/complete", "messages/metadata", "messages/partial"]


def _event(name: str, data: str, event_id: str) -> ServerSentEvent:
    return ServerSentEvent(name, data, event_id, None)


def _partial(text: str, event_id: str, message: str = "m1") -> ServerSentEvent:
    return _event("messages/partial", json.dumps([{"id": message, "type": "ai", "content": text}]), event_id)


def _run_with_tokens() -> tuple[ResumeTracker, list[ServerSentEvent]]:
    tracker, delivered = ResumeTracker(), []
    for event in [
        _event("metadata", "{}", "1-0"),
        _event("updates", '"a"', "2-0"),
        _event("updates", '"b"', "2-1"),  # a Redis counter: ids are unique
        _event("messages/metadata", '{"m1": {}}', "3-0"),
        _partial("h", "4-0"),
        _partial("he", "5-0"),
    ]:
        delivered += tracker.feed(event)
    return tracker, delivered


def test_a_replica_buffer_re_sending_tokens_late_repeats_none_and_names_the_gap() -> None:
    """The replica executing the run answers a rejoin with its stored events after the resume point, then
    its buffer: the tokens after that point, older than the stored events just sent. Those delivered
    before the break are dropped, those not delivered are out of order (dropped, inside the gap); the
    gap comes before the first new event, named after the last event delivered before the break."""
    tracker, _ = _run_with_tokens()
    tracker.note_break()
    assert tracker.resume_from() == "2-1"
    replay = [
        _event("updates", '"c"', "7-0"),  # stored while the connection was down
        _event("messages/metadata", '{"m1": {}}', "3-0"),  # the buffer, late: delivered before
        _partial("h", "4-0"),
        _partial("he", "5-0"),
        _partial("hel", "6-0"),  # not delivered, and older than 7-0: out of order
        _partial("hell", "8-0"),  # live
    ]
    out = [event for event in replay for event in tracker.feed(event)]
    gap = _event("gap", json.dumps({"after": "5-0", "events": KINDS}), None)  # type: ignore[arg-type]
    assert out == [gap, replay[0], replay[5]]
    assert tracker.gaps == [{"after": "5-0", "events": KINDS}]


def test_a_replay_that_sends_the_tokens_again_names_no_gap() -> None:
    """A server that does replay `messages/*` events re-sends those after the resume point: nothing may be
    missing, so no gap (the in-memory runtime's "messages-tuple" events are replayed that way)."""
    tracker, _ = _run_with_tokens()
    tracker.note_break()
    tracker.resume_from()
    replay = [_event("messages/metadata", '{"m1": {}}', "3-0"), _partial("h", "4-0"), _partial("he", "5-0")]
    live = [_partial("hel", "6-0"), _event("updates", '"c"', "7-0")]
    out = [event for event in [*replay, *live] for event in tracker.feed(event)]
    assert out == live and tracker.gaps == []


def test_a_partial_of_a_message_never_announced_proves_a_gap() -> None:
    """Right after a stored event (nothing to re-send), the rejoin brings a partial of a message whose
    `messages/metadata` never came: it was sent while the connection was down, and is gone."""
    tracker, delivered = ResumeTracker(), []
    for event in [_event("metadata", "{}", "1-0"), _event("updates", '"a"', "2-1")]:
        delivered += tracker.feed(event)
    tracker.note_break()
    assert tracker.resume_from() == "2-1"
    tracker.wants = lambda kind: kind != "messages/complete"  # the gap names the stream's kinds only
    out = tracker.feed(_partial("hel", "6-0", message="m2"))
    kinds = ["messages/metadata", "messages/partial"]
    assert [event.event for event in out] == ["gap", "messages/partial"]
    assert tracker.gaps == [{"after": "2-1", "events": kinds}]


def test_a_broken_connection_whose_rejoin_brings_nothing_new_still_names_the_gap() -> None:
    """The run ended while the connection was down: the rejoin ends with nothing new, but tokens may have
    been sent meanwhile. A clean close (no break) whose rejoin brings nothing names none."""
    tracker, _ = _run_with_tokens()
    tracker.resume_from()  # the check after a clean close
    assert tracker.end_of_stream() == [] and tracker.gaps == []
    tracker.note_break()
    tracker.resume_from()
    assert [event.event for event in tracker.end_of_stream()] == ["gap"]
    assert tracker.gaps == [{"after": "5-0", "events": KINDS}]


def test_a_join_that_opens_with_resume_from_names_no_gap_on_its_first_connection() -> None:
    """`runs.join_stream` and background runs open their first connection with `resume_from()`: nothing
    was missed before it, so its first events come without a gap (a later break names one)."""
    tracker = ResumeTracker()
    tracker.wants = lambda kind: True
    tracker.expects_messages = True
    assert tracker.resume_from() == "0"
    tracker.note_opened()
    first = [_event("metadata", "{}", "1-0"), _partial("h", "2-0")]
    assert [event for event in first for event in tracker.feed(event)] == first
    tracker.note_break()
    tracker.resume_from()
    out = tracker.feed(_event("updates", '"a"', "3-0"))
    assert [event.event for event in out] == ["gap", "updates"]
    assert tracker.gaps == [{"after": "2-0", "events": KINDS}]
