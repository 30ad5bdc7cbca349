"""Where a broken stream reconnects to (pure: shared by async and sync).

A run's stream rejoins the run's own stream after the last event delivered. A thread's stream is
repaired run by run: the server's thread join replays stored events and only then subscribes to the runs'
live events, so a plain rejoin would lose what a run produced in between. Each run that may have produced
events since the last one delivered is rejoined on its own stream (which subscribes before it replays),
in the order the runs were created, and then the thread's stream after the last event delivered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from ._json import loads
from ._requests import RequestSpec, build
from ._resume import ResumeTracker, event_order
from ._sse import ServerSentEvent

UNFINISHED_RUN_STATUSES = frozenset({"pending", "running"})
#: How many of a thread's runs a thread stream repair looks at (the newest ones).
THREAD_REPAIR_RUNS = 100
#: Slack, in milliseconds, when telling from timestamps whether a run may have events after an event id.
CLOCK_SLACK_MS = 2_000
#: Seconds a rejoin after a clean close may stay silent (not a byte) before the run's status is asked:
#: the server ends a finished run's rejoin at once and keeps a running run's open. Only when the status
#: is asked depends on it, never what the stream decides.
CHECK_SILENCE = 2.0


def rejoin_run(
    thread_id: str, run_id: str, tracker: ResumeTracker, *, cancel_on_disconnect: bool | None = None
) -> RequestSpec:
    """The request that (re)joins a run's stream after the last event delivered (all, if none).

    It asks for every stream mode of the run: given `stream_mode`, the server leaves out `metadata` (the
    run's attempt: a run another replica takes over starts again with `attempt: 2`) and `error` events;
    the modes are chosen on our side instead (`wanted`).
    """
    return build(
        "runs.join_run_stream",
        thread_id,
        run_id,
        last_event_id=tracker.resume_from(),
        cancel_on_disconnect=cancel_on_disconnect,
    )


def wanted(event: str, modes: Sequence[str] | None) -> bool:
    """Whether a run's event belongs to a stream of `modes` (as the server's own filter decides), or is
    one every stream delivers (`metadata`, `error`, and our own `gap`, which names only wanted kinds)."""
    if not modes or event in modes or event in ("metadata", "error", "gap"):
        return True
    if event.startswith("messages") and ("messages" in modes or "messages-tuple" in modes):
        return True
    base, bar, _ = event.partition("|")
    return bool(bar) and base in modes


def join_thread(thread_id: str, last_event_id: str | None, modes: Sequence[str] | None) -> RequestSpec:
    """The request that joins a thread's stream (after `last_event_id`, if given)."""
    return build(
        "threads.join_thread_stream",
        thread_id,
        last_event_id=last_event_id,
        stream_modes=",".join(modes) if modes else None,
    )


def repair_request(
    thread_id: str, run_id: str | None, tracker: ResumeTracker, modes: Sequence[str] | None
) -> RequestSpec:
    """One step of a thread stream's repair: a run's own stream, or (run_id None) the thread's."""
    if run_id is not None:
        return build("runs.join_run_stream", thread_id, run_id, last_event_id=tracker.resume_from())
    return join_thread(thread_id, tracker.resume_after_last(), modes)


def follows_runs(modes: Sequence[str] | None) -> bool:
    """Whether a thread stream carries its runs' events (not only `lifecycle` or `state_update`)."""
    return not modes or "run_modes" in modes


def repair_plan(runs: Any, since_ms: int | None) -> deque[str | None]:
    """The runs (of a `list_runs` answer) that may have produced events since `since_ms`, oldest first,
    then None (the thread's own stream).

    A run qualifies when it is still pending or running, or was last updated after (about) `since_ms`.
    """
    plan: deque[str | None] = deque([None])
    chosen: list[tuple[str, str]] = []
    for run in runs if isinstance(runs, list) else ():
        if not isinstance(run, dict) or not isinstance(run.get("run_id"), str):
            continue
        updated = iso_ms(run.get("updated_at"))
        if (
            run.get("status") in UNFINISHED_RUN_STATUSES
            or since_ms is None
            or updated is None
            or updated >= since_ms - CLOCK_SLACK_MS
        ):
            chosen.append((str(run.get("created_at") or ""), run["run_id"]))
    plan.extendleft(run_id for _, run_id in sorted(chosen, reverse=True))
    return plan


def is_run_end(event: ServerSentEvent, run_ids: set[str]) -> bool:
    """Whether `event` is the server's end notice (`metadata` `run_done`) of one of `run_ids`."""
    if event.event != "metadata" or '"run_done"' not in event.data:
        return False
    try:
        value = loads(event.data)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("status") == "run_done" and value.get("run_id") in run_ids


def run_status(run: Any) -> str | None:
    """The status of a `get_run` answer (None when it has none)."""
    status = run.get("status") if isinstance(run, dict) else None
    return status if isinstance(status, str) else None


def event_ms(event_id: str | None) -> int | None:
    """The millisecond timestamp of an `ms-seq` event id (None for another format)."""
    order = event_order(event_id) if event_id is not None else None
    return order[0] if order is not None else None


def iso_ms(value: Any) -> int | None:
    """An ISO 8601 timestamp as milliseconds since the epoch (None when it is not one)."""
    from datetime import datetime  # noqa: PLC0415 - only thread stream repairs need it

    if not isinstance(value, str):
        return None
    try:
        return int(datetime.fromisoformat(value).timestamp() * 1000)
    except ValueError:
        return None


def http_date_ms(date: str | None) -> int | None:
    """An HTTP `Date` header as milliseconds since the epoch (None when absent or not one)."""
    if not date:
        return None
    from email.utils import parsedate_to_datetime  # noqa: PLC0415 - only thread streams need it

    try:
        return int(parsedate_to_datetime(date).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


def closed_reason(status: str | None) -> str:
    """Why a run's stream that closed cleanly is reconnected (the run's status, None: unknown)."""
    return (
        "the stream closed while the run was still going"
        if status is not None
        else "the stream closed and the run's status could not be read"
    )
