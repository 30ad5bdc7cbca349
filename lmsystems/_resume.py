"""Exactly-once delivery across reconnects of a run's event stream (pure: no I/O).

What a reconnect to `GET /threads/{t}/runs/{r}/stream` with `Last-Event-ID: X` sends back, on the real
server, is: the stored events with an id greater than X, then live events. Two quirks make naive
de-duplication lose or repeat events:

- ids are not unique: the in-memory runtime mints `f"{ms}-0"`, so every event of one millisecond shares its
  id, and "skip what has an id <= the last one" would drop the undelivered rest of that millisecond;
- the server subscribes to live events before it replays, so events produced during the replay come
  twice: replayed, then again live.

So a reconnect asks for the events after the last id *before* the trailing run of equal ids (`0` when
there is none) and skips, at the start of the new connection, the re-sent events of that trailing run.
Later on the connection, an event whose id is *older* than the last one delivered can only be a re-sent
one (true ids never decrease): from there, a block that re-sends a complete suffix of what was delivered,
ending at the last delivered event (compared by id, event name and data), is dropped; candidates are held
back until confirmed or refuted. A new event is never dropped. With unique ids (the production runtimes)
this is exact; on the in-memory runtime, events re-sent within the very millisecond of the last one
delivered cannot be told from new ones, so if a replay's whole overlap with the live events falls inside
one millisecond, those events are delivered twice.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ._exceptions import StreamError
from ._headers import is_field_value
from ._sse import ServerSentEvent

Key = tuple[str | None, str, int]


class _Candidate(NamedTuple):
    start: int  # absolute index, in the delivered sequence, where the re-sent block starts
    matched: int  # how many held events it has matched so far


class ResumeTracker:
    """Decides which events of a (re)connection to deliver, and what `Last-Event-ID` to resume from."""

    def __init__(self, *, start_after: str | None = None, window: int = 10_000) -> None:
        self._start_after = start_after  # where a join started, for a reconnect before any event
        self._window = window
        self._keys: deque[Key] = deque()  # the last `window` delivered keys
        self._offset = 0  # absolute index of self._keys[0]
        self._index: dict[Key, deque[int]] = {}  # key -> absolute indexes in the window
        self._last_id: str | None = None
        self._anchor: str | None = None  # the last delivered id different from _last_id
        self._resumed = False
        self._skip: deque[Key] = deque()  # the trailing run a resumed connection sends again first
        self._held: list[ServerSentEvent] = []
        self._candidates: list[_Candidate] = []

    @property
    def delivered(self) -> int:
        """How many events were delivered in all."""
        return self._offset + len(self._keys)

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event delivered."""
        return self._last_id

    def resume_from(self) -> str:
        """The `Last-Event-ID` of a reconnect: the last id before the trailing run of equal ids, or `0`."""
        self._resumed = True
        self._held.clear()  # never delivered: the replay sends them again
        self._candidates.clear()
        trailing: deque[Key] = deque()
        for key in reversed(self._keys):
            if key[0] != self._last_id or self._last_id is None:
                break
            trailing.appendleft(key)
        self._skip = trailing
        return _sendable(self._anchor or self._start_after or "0")

    def resume_after_last(self) -> str | None:
        """The `Last-Event-ID` of a rejoin that must not replay anything: the last id (or the start).

        For a stream whose replay sends nothing again live (the server's thread join): events after the
        last id are new, and nothing is skipped.
        """
        self._resumed = True
        self._held.clear()
        self._candidates.clear()
        self._skip = deque()
        last = self._last_id or self._start_after
        return _sendable(last) if last is not None else None

    def start_after_if_unset(self, event_id: str) -> None:
        """Where a stream that has delivered nothing resumes, unless it was given one."""
        if self._start_after is None:
            self._start_after = event_id

    def feed(self, event: ServerSentEvent) -> list[ServerSentEvent]:
        """The events to deliver now, in order, given one more event of the current connection."""
        if event.id is None:
            return self._deliver_all([*self._release_all(), event])
        if self._skip:
            if _key(event) == self._skip[0]:
                self._skip.popleft()
                return []
            self._skip.clear()  # the server did not re-send the trailing run: nothing more to skip
        if self._held or (self._resumed and _older(event.id, self._last_id)):
            return self._match(event)
        return self._deliver_all([event])

    def end_of_stream(self) -> list[ServerSentEvent]:
        """At a clean end, deliver what is held: a re-sent block is always sent whole, so it was new."""
        return self._deliver_all(self._release_all())

    def _match(self, event: ServerSentEvent) -> list[ServerSentEvent]:
        key = _key(event)
        survivors = [
            _Candidate(c.start, c.matched + 1)
            for c in self._candidates
            if self._key_at(c.start + c.matched) == key
        ]
        if not self._held and _older(event.id, self._last_id):
            survivors = [_Candidate(start, 1) for start in self._positions(key)]
        end = self.delivered
        if any(c.start + c.matched == end for c in survivors):
            self._held.clear()  # a whole re-sent block: drop it
            self._candidates.clear()
            return []
        if survivors:
            self._held.append(event)
            self._candidates = survivors
            return []
        # No candidate survives: the first held event was new. Deliver it and match the rest again.
        pending = [*self._held, event]
        self._held.clear()
        self._candidates.clear()
        if len(pending) == 1:
            return self._deliver_all(pending)
        out = self._deliver_all(pending[:1])
        for later in pending[1:]:
            out.extend(self._match(later))
        return out

    def _positions(self, key: Key) -> list[int]:
        return list(self._index.get(key, ()))

    def _key_at(self, absolute: int) -> Key | None:
        relative = absolute - self._offset
        return self._keys[relative] if 0 <= relative < len(self._keys) else None

    def _release_all(self) -> list[ServerSentEvent]:
        held = self._held
        self._held = []
        self._candidates = []
        return held

    def _deliver_all(self, events: list[ServerSentEvent]) -> list[ServerSentEvent]:
        for event in events:
            key = _key(event)
            self._index.setdefault(key, deque()).append(self._offset + len(self._keys))
            self._keys.append(key)
            if len(self._keys) > self._window:
                oldest = self._keys.popleft()
                positions = self._index[oldest]
                positions.popleft()
                if not positions:
                    del self._index[oldest]
                self._offset += 1
            if event.id is not None and event.id != self._last_id:
                self._anchor = self._last_id
                self._last_id = event.id
        return events


def event_order(event_id: str) -> tuple[int, int] | None:
    """`ms-seq` as numbers (string order would put `5-10` before `5-9`); None for another format."""
    ms, _, seq = event_id.partition("-")
    if ms.isdigit() and (seq.isdigit() or not seq):
        return int(ms), int(seq or 0)
    return None


def _older(event_id: str | None, last_id: str | None) -> bool:
    """Whether event_id is strictly older than last_id (False when either cannot be ordered)."""
    if event_id is None or last_id is None:
        return False
    this, last = event_order(event_id), event_order(last_id)
    return this is not None and last is not None and this < last


def _key(event: ServerSentEvent) -> Key:
    return (event.id, event.event, hash(event.data))


def _sendable(event_id: str) -> str:
    """An event id that can go back to the server in `Last-Event-ID`; a StreamError (never quoting it)
    for one that cannot (non-ASCII or control characters: httpx could not even encode it)."""
    if not is_field_value(event_id):
        raise StreamError(
            f"the server's event id ({len(event_id)} characters, not shown) is not printable ASCII, so it "
            "cannot be sent back in Last-Event-ID: the stream cannot be resumed"
        )
    return event_id
