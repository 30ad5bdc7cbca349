"""The pure core of streams, without sockets: EventReader (limits and decoding errors), StreamProgress
(parts, run errors, how far a stream got) and _stream_plan (where a broken stream reconnects to)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lmsystems._event_reader import EventReader
from lmsystems._exceptions import APIConnectionError, APITimeoutError, RunError, StreamError
from lmsystems._resume import ResumeTracker
from lmsystems._settings import StreamLimits
from lmsystems._sse import ServerSentEvent
from lmsystems._stream_parts import StreamProgress
from lmsystems._stream_plan import (
    CLOCK_SLACK_MS,
    closed_reason,
    follows_runs,
    http_date_ms,
    is_run_end,
    rejoin_run,
    repair_plan,
    repair_request,
    run_status,
    wanted,
)

# ------------------------------------------------------------------------------------------ EventReader


def test_the_reader_delivers_the_events_of_each_chunk_and_ends_cleanly() -> None:
    reader = EventReader("POST /runs/stream", now=0.0)
    assert reader.feed(b"event: values\r\ndata: 1\r\n\r\nevent: val", 0.1) == [
        ServerSentEvent("values", "1", None, None)
    ]
    reader.check()
    assert reader.feed(b"ues\r\ndata: 2\r\n\r\n", 0.2) == [ServerSentEvent("values", "2", None, None)]
    reader.check()
    reader.end()


def test_heartbeats_do_not_hold_off_the_idle_timeout() -> None:
    reader = EventReader("GET /s", now=0.0, idle_timeout=5)
    assert reader.feed(b"data: 1\n\n", 1.0)
    reader.check()
    assert reader.feed(b": heartbeat\n\n", 5.9) == []
    reader.check()  # 4.9 s since the last event
    assert reader.feed(b": heartbeat\n\n", 6.1) == []
    with pytest.raises(APITimeoutError, match=r"no event for 5 s from GET /s") as raised:
        reader.check()
    assert raised.value.final


def test_a_passed_deadline_ends_the_stream_after_the_events_of_that_chunk() -> None:
    reader = EventReader("GET /s", now=0.0, deadline=10.0)
    assert reader.feed(b"data: 1\n\n", 11.0)  # delivered first
    with pytest.raises(APITimeoutError, match="passed its deadline"):
        reader.check()


def test_a_broken_stream_delivers_the_events_before_the_break_then_raises() -> None:
    reader = EventReader("GET /s", now=0.0)
    events = reader.feed(b"data: 1\n\ndata: \xff\n\n", 0.1)  # not UTF-8
    assert [event.data for event in events] == ["1"]
    with pytest.raises(StreamError, match="broken event stream from GET /s") as raised:
        reader.check()
    assert not raised.value.resumable


def test_a_body_that_ends_inside_an_event_is_a_resumable_stream_error() -> None:
    reader = EventReader("GET /s", now=0.0)
    assert reader.feed(b"data: 1\n", 0.1) == []
    with pytest.raises(StreamError, match="ended inside an event") as raised:
        reader.end()
    assert raised.value.resumable


# ------------------------------------------------------------------------------------- StreamProgress


def test_parts_are_decoded_and_name_the_run() -> None:
    progress = StreamProgress(thread_id="t1")
    part = progress.part("metadata", '{"run_id": "r1"}', "1-0")
    assert (part.event, part.data, part.id) == ("metadata", {"run_id": "r1"}, "1-0")
    assert progress.run_id == "r1"
    interrupt = progress.part("updates", '{"__interrupt__": [{"value": "ok?", "id": "i1"}]}', None)
    assert interrupt.data["__interrupt__"][0]["value"] == "ok?"
    assert progress.interrupted and progress.interrupts[0]["value"] == "ok?"


def test_an_error_event_is_the_runs_run_error() -> None:
    progress = StreamProgress(thread_id="t1")
    progress.run_id = "r1"
    with pytest.raises(RunError, match="run r1 on thread t1 failed: ValueError: boom") as raised:
        progress.part("error", '{"error": "ValueError", "message": "boom"}', None)
    assert (raised.value.error_type, raised.value.run_id, raised.value.thread_id) == (
        "ValueError",
        "r1",
        "t1",
    )


def test_data_that_is_not_json_is_a_stream_error_that_cannot_be_resumed() -> None:
    progress = StreamProgress(thread_id=None)
    progress.events_delivered = 3
    with pytest.raises(StreamError, match="not JSON") as raised:
        progress.part("values", "{nope", None)
    assert raised.value.events_delivered == 3 and not raised.value.resumable


@pytest.mark.parametrize(
    ("location", "run_id"),
    [
        ("/threads/t1/runs/r9/stream", "r9"),
        ("/runs/r9/stream", "r9"),
        ("/threads/t1/runs/stream", None),
        (None, None),
    ],
)
def test_the_location_header_names_the_run(location: str | None, run_id: str | None) -> None:
    progress = StreamProgress(thread_id="t1")
    progress.note_location(location)
    assert progress.run_id == run_id


def test_errors_say_how_far_the_stream_got() -> None:
    progress = StreamProgress(thread_id="t1", limits=StreamLimits(deadline=30))
    progress.run_id, progress.events_delivered = "r1", 7
    broken = progress.broken(APIConnectionError("connection failed"))
    assert "7 events delivered; this stream cannot be resumed" in str(broken)
    assert progress.gave_up(6, "reset").events_delivered == 7
    assert "after 5 failed reconnects (7 events delivered): reset" in str(progress.gave_up(6, "reset"))
    assert progress.past_deadline().final
    assert progress.timeout_until(httpx.Timeout(10), None) is None
    with pytest.raises(APITimeoutError):
        progress.timeout_until(httpx.Timeout(10), 0.0)


# ----------------------------------------------------------------------------------------- _stream_plan


def _run(run_id: str, status: str, created: str, updated: str) -> dict[str, Any]:
    return {"run_id": run_id, "status": status, "created_at": created, "updated_at": updated}


def test_a_thread_repair_rejoins_the_runs_that_may_have_events_oldest_first_then_the_thread() -> None:
    since = 1_700_000_000_000  # ms
    runs = [
        _run("new", "success", "2023-11-14T22:13:30+00:00", "2023-11-14T22:13:25+00:00"),
        _run("old-done", "success", "2023-11-14T22:00:00+00:00", "2023-11-14T22:00:05+00:00"),
        _run("running", "running", "2023-11-14T22:10:00+00:00", "2023-11-14T22:10:00+00:00"),
        {"status": "running"},  # no id: ignored
        "not a run",
    ]
    assert list(repair_plan(runs, since)) == ["running", "new", None]
    assert list(repair_plan(runs, None)) == ["old-done", "running", "new", None]
    assert list(repair_plan({"not": "a list"}, since)) == [None]
    just_before = _run("edge", "success", "x", "2023-11-14T22:13:18+00:00")  # within the clock slack
    assert CLOCK_SLACK_MS == 2_000 and list(repair_plan([just_before], since)) == ["edge", None]


def test_rejoin_requests_resume_after_the_last_event_delivered() -> None:
    tracker = ResumeTracker()
    for event_id in ("5-0", "6-0"):
        tracker.feed(ServerSentEvent("values", "{}", event_id, None))
    spec = rejoin_run("t1", "r1", tracker, cancel_on_disconnect=True)
    assert (spec.method, spec.path) == ("GET", "/threads/t1/runs/r1/stream")
    assert spec.headers["Last-Event-ID"] == tracker.resume_from()
    # No stream_mode: the server's filter would drop `metadata` (the run's attempt) and `error` events;
    # the modes are chosen on our side (`wanted`).
    assert "stream_mode" not in spec.params and spec.params["cancel_on_disconnect"]
    assert wanted("metadata", ["custom"]) and wanted("error", ["custom"]) and not wanted("values", ["custom"])
    assert wanted("messages/partial", ["messages"]) and wanted("messages", ["messages-tuple"])
    assert wanted("updates|parent:1", ["updates"]) and wanted("anything", None)
    thread = repair_request("t1", None, tracker, ["run_modes", "lifecycle"])
    assert thread.path == "/threads/t1/stream" and thread.params["stream_modes"] == "run_modes,lifecycle"
    assert repair_request("t1", "r2", tracker, None).path == "/threads/t1/runs/r2/stream"


def test_small_readers_of_server_values() -> None:
    assert follows_runs(None) and follows_runs(["run_modes"]) and not follows_runs(["lifecycle"])
    assert is_run_end(
        ServerSentEvent("metadata", '{"status": "run_done", "run_id": "r1"}', None, None), {"r1"}
    )
    assert not is_run_end(
        ServerSentEvent("metadata", '{"status": "run_done", "run_id": "r2"}', None, None), {"r1"}
    )
    assert run_status({"status": "success"}) == "success" and run_status(["x"]) is None
    assert http_date_ms("Tue, 14 Nov 2023 22:13:20 GMT") == 1_700_000_000_000
    assert http_date_ms("not a date") is None and http_date_ms(None) is None
    assert "still going" in closed_reason("running") and "could not be read" in closed_reason(None)
