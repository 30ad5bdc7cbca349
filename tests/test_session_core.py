"""The pure part of thread sessions (lmsystems/_session_core.py): no sockets, every branch by hand."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmsystems import (
    APIResponseError,
    AuthenticationError,
    InputError,
    NotFoundError,
    StreamError,
    StreamGapError,
    ThreadBusyError,
)
from lmsystems._session_core import (
    KEEP_RUNS,
    EventLog,
    ReplayGuard,
    SessionInterrupt,
    check_transport,
    command_result,
    decode_event,
    protocol_error,
    respond_params,
    run_id_of,
    run_start_params,
)


def event(method: str, data: Any, *, namespace: list[str] | None = None, event_id: str = "1-0") -> Any:
    return {
        "type": "event",
        "event_id": event_id,
        "seq": 1,
        "method": method,
        "params": {"namespace": namespace or [], "timestamp": 0, "data": data},
    }


def running(run_id: str) -> Any:
    return event("lifecycle", {"event": "running"}, event_id=f"synth:{run_id}:lc||running")


def ended(status: str, run_id: str = "r") -> Any:
    return event("lifecycle", {"event": status}, event_id=f"synth:{run_id}:lc||{status}")


# ------------------------------------------------------------------------------------------ commands


def test_run_start_params_merge_the_deployment_configurables_under_the_callers() -> None:
    params = run_start_params(
        "agent",
        {"q": 1},
        config={"configurable": {"model": "big"}},
        metadata={"m": 1},
        multitask_strategy="enqueue",
        configurable={"model": "small", "region": "eu"},
    )
    assert params == {
        "assistant_id": "agent",
        "input": {"q": 1},
        "config": {"configurable": {"model": "big", "region": "eu"}},
        "metadata": {"m": 1},
        "multitaskStrategy": "enqueue",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"assistant_id": ""}, "assistant_id"),
        ({"input": {"x": object()}}, "input"),
        ({"multitask_strategy": "later"}, "multitask_strategy"),
        ({"config": "not a dict"}, "config"),
        ({"metadata": ["no"]}, "metadata"),
    ],
)
def test_run_start_params_refuse_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "assistant_id": "agent",
        "input": None,
        "config": None,
        "metadata": None,
        "multitask_strategy": None,
    }
    arguments.update(kwargs)
    assistant = arguments.pop("assistant_id")
    value = arguments.pop("input")
    with pytest.raises(InputError, match=message):
        run_start_params(assistant, value, **arguments)


def test_respond_params_carry_the_interrupts_namespace() -> None:
    interrupt = SessionInterrupt("i1", {"q": "?"}, ("child:1",))
    assert respond_params(interrupt, True) == {
        "interrupt_id": "i1",
        "namespace": ["child:1"],
        "response": True,
    }


def test_transport_must_be_known() -> None:
    assert check_transport("websocket") == "websocket"
    with pytest.raises(InputError, match="transport"):
        check_transport("udp")


# ------------------------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("invalid_argument", InputError),
        ("unknown_command", APIResponseError),
        ("no_such_run", NotFoundError),
        ("no_such_interrupt", NotFoundError),
        ("permission_denied", AuthenticationError),
        ("resume_gap", StreamGapError),
        ("a_code_from_the_future", APIResponseError),
    ],
)
def test_protocol_errors_map_to_the_exception_tree(code: str, cls: type[Exception]) -> None:
    answer = {"type": "error", "id": 3, "error": code, "message": "nope"}
    error = protocol_error(answer, "run.start")
    assert isinstance(error, cls)
    assert code in str(error) and "nope" in str(error) and error.body == answer
    with pytest.raises(cls):
        command_result(answer, "run.start")


def test_command_result_of_a_success_and_of_garbage() -> None:
    assert command_result({"type": "success", "id": 1, "result": {"run_id": "r"}}, "run.start") == {
        "run_id": "r"
    }
    for answer in ([1], {"type": "success", "id": 1}, {"type": "maybe"}):
        with pytest.raises(APIResponseError):
            command_result(answer, "run.start")


# -------------------------------------------------------------------------------------------- events


def test_decode_event_checks_the_envelope() -> None:
    assert decode_event(b'{"type":"event","method":"values","params":{"namespace":[],"data":{}}}')
    for bad in (b"not json", b"[1]", b'{"type":"event","method":"values","params":{"data":{}}}'):
        with pytest.raises(StreamError):
            decode_event(bad)


def test_the_run_id_comes_from_the_synthesised_running_event_only() -> None:
    assert run_id_of(running("abc")) == "abc"
    assert run_id_of(event("lifecycle", {"event": "running"}, event_id="1-0")) is None


def test_the_log_keeps_only_the_runs_this_session_started() -> None:
    log = EventLog()
    # The replay of an earlier run of the thread, then our run.
    log.feed(running("old"))
    log.feed(event("values", {"n": 0}))
    log.feed(ended("completed", "old"))
    mark = log.asking()
    log.feed(running("ours"))
    log.feed(event("values", {"n": 1}))
    assert log.runs == []  # not ours until the answer says so
    log.claim("ours", mark)
    log.feed(event("input.requested", {"interrupt_id": "i", "payload": {"q": 1}}))
    log.feed(ended("interrupted", "ours"))
    log.feed(event("values", {"n": 1}))  # the snapshot the server sends after `interrupted`
    [run] = log.runs
    assert run.run_id == "ours" and run.status == "interrupted" and run.end == 4
    assert run.values == {"n": 1} and run.interrupts == [SessionInterrupt("i", {"q": 1})]
    # input.respond names no run: the next run that starts after it was asked for is ours.
    mark = log.asking()
    log.claim(None, mark)
    log.feed(running("resumed"))
    log.feed(event("lifecycle", {"event": "failed", "error": "boom"}))
    assert [r.run_id for r in log.runs] == ["ours", "resumed"]
    assert log.runs[1].status == "failed" and log.runs[1].error == "boom"


def test_old_runs_let_go_of_their_events() -> None:
    log = EventLog()
    for number in range(1, KEEP_RUNS + 3):
        log.claim(f"r{number}", log.asking())
        log.feed(running(f"r{number}"))
        log.feed(ended("completed", f"r{number}"))
    assert log.run(KEEP_RUNS + 2) is not None
    with pytest.raises(InputError, match="too old"):
        log.run(1)


# -------------------------------------------------------------------------------------- reconnection


def test_a_faithful_replay_delivers_only_what_is_new() -> None:
    guard = ReplayGuard()
    first = [event("values", {}, event_id=f"{n}-0") for n in range(5)]
    assert [guard.admit(e) for e in first] == [True] * 5
    guard.reconnected()
    replay = [*first, event("values", {}, event_id="5-0")]
    assert [guard.admit(e) for e in replay] == [False] * 5 + [True]
    assert guard.take_gap() is None


def test_a_replay_that_leaves_events_out_names_the_gap_and_never_repeats() -> None:
    guard = ReplayGuard()
    for i in ["1-0", "2-0", "3-0", "4-0"]:
        guard.admit(event("custom" if i in ("2-0", "3-0") else "values", {}, event_id=i))
    guard.reconnected(during_run=True)
    # The server did not store the two custom events: its replay skips them.
    replay = [event("values", {}, event_id="1-0"), event("values", {}, event_id="4-0")]
    assert [guard.admit(e) for e in replay] == [False, False]
    assert guard.admit(event("values", {}, event_id="5-0")) is True
    gap = guard.take_gap()
    assert gap is not None and "2 custom" in gap
    assert guard.take_gap() is None


def test_a_replay_between_runs_that_leaves_delivered_events_out_loses_nothing() -> None:
    guard = ReplayGuard()
    for i, method in [("1-0", "values"), ("2-0", "custom"), ("3-0", "values")]:
        guard.admit(event(method, {}, event_id=i))
    guard.reconnected(during_run=False)
    replay = [event("values", {}, event_id="1-0"), event("values", {}, event_id="3-0")]
    assert [guard.admit(e) for e in replay] == [False, False]
    assert guard.admit(event("lifecycle", {}, event_id="synth:r2:lc||running")) is True
    assert guard.take_gap() is None


def test_the_counter_part_of_an_event_id_is_not_compared() -> None:
    """`<stream id>.<n>`: n counts envelopes per connection, so a replay may number them differently."""
    guard = ReplayGuard()
    guard.admit(event("custom", {"n": 1}, event_id="7-0.2"))
    guard.reconnected()
    assert guard.admit(event("custom", {"n": 1}, event_id="7-0")) is False
    assert guard.take_gap() is None


def test_a_connection_cut_during_its_replay_is_replayed_again() -> None:
    guard = ReplayGuard()
    for i in "abc":
        guard.admit(event("values", {}, event_id=i))
    guard.reconnected()
    assert guard.admit(event("values", {}, event_id="a")) is False
    guard.replay_ended()  # cut again
    guard.reconnected()
    assert [guard.admit(event("values", {}, event_id=i)) for i in "abcd"] == [False, False, False, True]
    assert guard.take_gap() is None


def test_an_event_an_earlier_connection_missed_passes_once_and_the_rest_is_not_repeated() -> None:
    """A connection that joins a run misses what the run publishes meanwhile (langgraph-runtime-inmem
    sends its replay snapshot before it subscribes to the live run): the next replay holds that event
    among those delivered. It passes (late, named), and what follows it is not delivered again."""
    guard = ReplayGuard()
    assert all(guard.admit(event("values", {}, event_id=i)) for i in ["a-0", "b-0", "c-0"])
    guard.reconnected()
    replay = ["a-0", "x-0", "b-0", "c-0", "d-0"]
    assert [guard.admit(event("values", {}, event_id=i)) for i in replay] == [False, True, False, False, True]
    gap = guard.take_gap()
    assert gap is not None and "1 event(s) an earlier connection never got" in gap
    guard.reconnected()  # the next replay: everything seen, in the server's order, nothing passes twice
    assert not any(guard.admit(event("values", {}, event_id=i)) for i in replay)
    assert guard.admit(event("values", {}, event_id="e-0")) and guard.take_gap() is None


def test_new_events_while_the_replay_left_out_the_last_ones_seen() -> None:
    """The replay left out the last events delivered (a named custom channel's): the new ones after it
    pass once each; a run's start ends the matching at once."""
    guard = ReplayGuard()
    for i, method in [("a-0", "values"), ("p-0", "custom"), ("q-0", "custom")]:
        guard.admit(event(method, {}, event_id=i))
    guard.reconnected()
    assert guard.admit(event("values", {}, event_id="a-0")) is False
    assert [guard.admit(event("values", {}, event_id=f"n{i}-0")) for i in range(12)] == [True] * 12
    assert not guard.replaying  # ended after MAX_LATE_IN_A_ROW of them: the rest was left out
    assert guard.take_gap() is None  # between runs: new events, nothing late
    guard.reconnected()
    assert guard.admit(event("values", {}, event_id="a-0")) is False
    assert guard.admit(event("lifecycle", {"event": "running"}, event_id="synth:r2:lc||running"))
    assert not guard.replaying


@given(
    seen=st.lists(st.text(min_size=1, max_size=3), max_size=30, unique=True),
    new=st.lists(st.text(min_size=4, max_size=6), max_size=10, unique=True),
    drops=st.integers(min_value=1, max_value=4),
)
def test_nothing_is_delivered_twice_across_reconnects(seen: list[str], new: list[str], drops: int) -> None:
    """Whatever the replays look like, an id passes at most once; a faithful replay loses nothing."""
    guard = ReplayGuard()
    delivered = [i for i in seen if guard.admit(event("values", {}, event_id=i))]
    for _ in range(drops):
        guard.reconnected()
        delivered += [i for i in [*seen, *new] if guard.admit(event("values", {}, event_id=i))]
    assert len(delivered) == len(set(delivered))
    assert delivered == [*seen, *new]
    assert guard.take_gap() is None


def test_a_refused_reject_is_thread_busy() -> None:
    """The server's answer when run.start with multitaskStrategy "reject" meets a busy thread (its HTTP 409
    from run creation, caught by the command handler: langgraph-api 0.16 event_streaming/service.py)."""
    answer = {
        "type": "error",
        "id": 3,
        "error": "unknown_error",
        "message": "409: Thread is already running a task. Wait for it to finish or choose a different "
        "multitask strategy.",
    }
    error = command_result_error(answer, "run.start")
    assert isinstance(error, ThreadBusyError) and error.status_code == 409 and error.body == answer
    assert not isinstance(command_result_error(answer, "input.respond"), ThreadBusyError)
    other = {**answer, "message": "something else broke"}
    assert type(command_result_error(other, "run.start")) is APIResponseError


def command_result_error(answer: dict[str, Any], method: str) -> Exception:
    with pytest.raises(Exception) as raised:
        command_result(answer, method)
    return raised.value


def _thread_runs(count: int, size: int) -> list[Any]:
    """The events of `count` runs of a thread, `size` value events each, as the server replays them."""
    events: list[Any] = []
    for r in range(count):
        events.append(running(f"r{r}"))
        events += [event("values", {"n": n}, event_id=f"{r}-{n}") for n in range(size)]
        events.append(ended("completed", f"r{r}"))
    return events


def _wired() -> tuple[EventLog, ReplayGuard]:
    log, guard = EventLog(), ReplayGuard()
    log.on_running = guard.run_began  # as a session wires them
    return log, guard


def _read(log: EventLog, guard: ReplayGuard, events: list[Any]) -> list[Any]:
    admitted = []
    for e in events:  # as the session reads: each event admitted, then filed
        if guard.admit(e):
            log.feed(e)
            admitted.append(e)
    return admitted


def test_the_matcher_keeps_the_keys_of_a_bounded_number_of_runs() -> None:
    """A long session: 500 runs of 20 events. The keys kept never exceed those of KEEP_RUNS runs (plus
    the run beginning), and a reconnect after all of them still delivers exactly what is new."""
    log, guard = _wired()
    size = 20
    history = _thread_runs(500, size)
    most = 0
    for r in range(500):
        log.asking()
        log.claim(f"r{r}", 0)
        _read(log, guard, history[r * (size + 2) : (r + 1) * (size + 2)])
        most = max(most, len(guard.seen))
    assert most <= (KEEP_RUNS + 1) * (size + 2)
    assert len(guard.seen) <= KEEP_RUNS * (size + 2)
    # A drop between runs: the new connection replays all 500 runs, then a new one comes.
    guard.reconnected()
    assert _read(log, guard, history) == []
    more = _thread_runs(501, size)[500 * (size + 2) :]
    log.asking()
    log.claim("r500", 0)
    assert _read(log, guard, more) == more
    assert guard.take_gap() is None and log.current is not None and log.current.run_id == "r500"
    # During a run: its first half was delivered, the replay holds all of it plus what came meanwhile.
    later = _thread_runs(502, size)[501 * (size + 2) :]
    log.asking()
    log.claim("r501", 0)
    assert _read(log, guard, later[:10]) == later[:10]
    guard.reconnected(during_run=True)
    assert _read(log, guard, [*history, *more, *later]) == later[10:]
    assert guard.take_gap() is not None  # a repair during a run always names the gap
    assert len(guard.seen) <= (KEEP_RUNS + 1) * (size + 2)


def test_a_replay_whose_old_runs_are_gone_still_delivers_the_new_ones() -> None:
    """The server's replay may no longer hold runs whose keys were let go: counting their starts runs
    out at a run that is new, which is then matched as usual (nothing lost, nothing twice)."""
    log, guard = _wired()
    history = _thread_runs(5, 3)
    for r in range(5):
        log.asking()
        log.claim(f"r{r}", 0)
        _read(log, guard, history[r * 5 : (r + 1) * 5])
    guard.reconnected()
    newer = _thread_runs(6, 3)[25:]
    # The replay lost run r1's events entirely, but starts at r0 and holds r2..r4 and the new r5.
    replay = [*history[:5], *history[10:], *newer]
    log.asking()
    log.claim("r5", 0)
    assert _read(log, guard, replay) == newer
