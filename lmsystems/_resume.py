"""Exactly-once delivery across reconnects of a run's event stream (pure: no I/O).

What a reconnect to `GET /threads/{t}/runs/{r}/stream` with `Last-Event-ID: X` sends back, on the real
servers, is the stored events with an id greater than X, then live events. Two quirks of the in-memory
runtime (`langgraph dev`) make naive de-duplication lose or repeat events:

- ids are not unique: it mints `f"{ms}-0"`, so every event of one millisecond shares its id, and "skip
  what has an id <= the last one" would drop the undelivered rest of that millisecond;
- it subscribes to live events before it replays, so events produced during the replay come twice:
  replayed, then again live.

Production runtimes (Redis stream ids `<ms>-<seq>`) have neither. So:

- **Where a reconnect starts.** Once the ids are seen to be unique (an id with a sequence number above 0,
  which the in-memory runtime never mints, and no two events with one id), a reconnect asks for the
  events after the last one delivered, and nothing is re-sent. Until then it asks for the events after the
  last id *before* the trailing run of equal ids (`0` when there is none) and skips, by count, the events
  of that trailing run that the replay sends first (the replay sends stored events in their order).
- **Replay overlapping live events.** Events of one connection come in id order, except where the live
  part starts again inside what the replay sent. An event whose id is *older* than the last one delivered
  starts such a re-sent block; it is matched, held back, against the suffix of what was delivered and
  dropped once it is proven to be that suffix; if two suffixes fit, the tracker cannot tell and asks for a
  resync (below). An event with the *same* id and the same content (event name and data) as one already
  delivered in the current millisecond on this connection is either re-sent or a new, equal event (a
  repeated token): the events of that millisecond are held back until the millisecond is over and then
  the tracker asks for a resync.
- **The window.** The tracker keeps the keys of the last `window` events delivered (1,000). When
  events delivered after the resume point have left it (a long answer streamed as `messages` events,
  which are not stored), a reconnect starts inside the window instead, after an event older than the
  last one delivered: a rejoin re-reads at most the window. The limits: a millisecond, or the live
  events a replay sends again, holding more events than the window (the in-memory runtime mints a few
  events per millisecond, and a replay of the window takes milliseconds).
- **Gaps.** A server may not keep every kind of event for replay. langgraph-api stores a run's events
  whose name is one of the run's stream modes, so none of stream_mode "messages" (`messages/partial`,
  `messages/metadata`, `messages/complete`; "messages-tuple" events are named `messages` and are kept):
  on 0.11.1 on Postgres and Redis and on the in-memory runtime alike, those sent while the connection was
  down are gone. That is the known behaviour the tracker starts from, for a stream that asked for that
  mode or delivered such events. What a reconnect sends back proves it too: events of the "messages"
  mode that arrive older than the last delivered event and were not delivered on this connection (a
  replica's buffer sends them after its stored events, out of order: they are not delivered; those
  delivered before the break, which the replay passed over, are dropped), and a `messages/partial` of a
  message whose `messages/metadata` never came. A reconnect that brings a new event (or that followed a
  broken connection) then starts with a `gap` event naming the kinds that may be missing after the last
  event delivered before the break, unless its replay did send that kind again.
- **Resync.** :class:`Resync` tells the reader to drop the connection and reconnect from
  :meth:`ResumeTracker.resume_from` at once. The held-back events were never delivered; the new
  connection replays the whole ambiguous millisecond from storage, where it is complete and in order, and
  the tracker skips by count what was delivered of it. A replay's start is never ambiguous, so each resync
  delivers at least that millisecond: exact, and it always makes progress.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable
from typing import NamedTuple

from ._exceptions import StreamError
from ._headers import is_field_value
from ._json import loads
from ._sse import ServerSentEvent
from ._stream_part_types import StreamGap

Key = tuple[str | None, str, int]


class Resync(Exception):
    """The current connection's next events cannot be told from re-sent ones: reconnect from
    `ResumeTracker.resume_from()` now (what was held back was never delivered)."""


#: The event of a `gap` part (not a server event: it never carries an id, and never resumes a stream).
GAP_EVENT = "gap"


class _Candidate(NamedTuple):
    start: int  # absolute index, in the delivered sequence, where the re-sent block starts
    matched: int  # how many held events it has matched so far


class ResumeTracker:
    """Decides which events of a (re)connection to deliver, and what `Last-Event-ID` to resume from."""

    def __init__(self, *, start_after: str | None = None, window: int = 1_000) -> None:
        self._start_after = start_after  # where a join started, for a reconnect before any event
        self._window = window
        self._keys: deque[Key] = deque()  # the last `window` delivered keys
        self._offset = 0  # absolute index of self._keys[0]
        # key -> absolute indexes in the window: built when first needed (matching a re-sent block
        # after a reconnect), then kept up to date
        self._index: dict[Key, deque[int]] | None = None
        self._last_id: str | None = None
        # The same two for stored events only (`stored`): where a reconnect can start.
        self._stored_last: str | None = None
        self._stored_anchor: str | None = None  # the last stored id different from _stored_last
        self._counter_ids = False  # an id with a sequence number above 0 was delivered
        self._shared_ids = False  # two delivered stored events had the same id
        self._resumed = False
        self._skip: deque[Key] = deque()  # what a resumed connection may send again first, in order
        self._held: list[ServerSentEvent] = []
        self._candidates: list[_Candidate] = []
        self._connection_start = 0  # how many events were delivered when this connection started
        self._clean = False  # this connection's re-sent block was dropped: the rest is all new
        self._older_start = False  # the held block started with an id older than the last delivered
        self._ambiguous: str | None = None  # hold everything up to this id, then resync
        self._trusted: tuple[int, int] | None = None  # ids up to here come from a replay: all new
        self._newest: tuple[int, int] | None = None  # the newest id any connection sent
        self._seen_id: str | None = None  # the id of the last event fed after a reconnect
        self.resyncs = 0
        # Gaps (see the module docstring): the kinds the server proved it does not replay, and per
        # connection: the last id delivered before it, what it passed over or sent again, what it said.
        self.gaps: list[StreamGap] = []
        #: Which kinds of events a gap may name (the stream's modes); None: all.
        self.wants: Callable[[str], bool] | None = None
        self._unreplayed: set[str] = set()
        self._gap_after: str | None = None
        self._broken = False  # this connection follows a broken one (not a clean close)
        self._fresh = False  # this connection has delivered no new event yet
        self._passed: set[Key] = set()  # delivered events its replay passed over (re-sent late: dropped)
        self._replayed: set[str] = set()  # kinds its replay sent again
        self._told: set[str] = set()  # kinds its gaps named
        # The message ids `messages/metadata` events announced (the server announces each message before
        # its first `messages/partial`): a partial of an unannounced one proves its announcement lost.
        self._announced: dict[str, None] = {}
        #: The stream asked for stream_mode "messages" (the strategy says so): langgraph-api keeps none of
        #: its events for replay (it stores the events of the run's modes by name, and "messages/partial"
        #: is not one), so a repair may lose them until a replay proves otherwise.
        self.expects_messages = False
        self._saw_messages = False  # a `messages/*` event was delivered
        self._opening = False  # the stream's first connection, opened with `resume_from` (a join)

    @property
    def delivered(self) -> int:
        """How many events were delivered in all."""
        return self._offset + len(self._keys)

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event delivered."""
        return self._last_id

    @property
    def newest(self) -> tuple[int, int] | None:
        """The newest event id seen on any connection (delivered or held back), as numbers."""
        return self._newest

    @property
    def unique_ids(self) -> bool:
        """Whether the server's ids are seen to be unique (a counter, not only a timestamp)."""
        return self._counter_ids and not self._shared_ids

    def resume_from(self) -> str:
        """The `Last-Event-ID` of a reconnect (see the module docstring)."""
        self._new_connection()
        resume = self._stored_last if self.unique_ids else self._stored_anchor
        skip = self._resent_after(resume)
        if skip is None and not self.unique_ids:
            # Events delivered after that point left the window: the replay would send them again with
            # nothing to recognise them by. Start inside the window instead, after an event older than
            # the last one delivered: ids do not go backward, so every event up to it was delivered,
            # every event delivered after it is in the window, and the replay sends none of the others.
            # (With unique ids the replay after the last stored event re-sends nothing delivered.)
            resume = self._window_start() or resume
            skip = self._resent_after(resume)
        if skip is None:  # skip what the window holds (the replay sends none of the older ones)
            skip = deque(self._keys)
        self._skip = skip
        return _sendable(resume or self._start_after or "0")

    def _resent_after(self, resume: str | None) -> deque[Key] | None:
        """What a replay after `resume` sends again first: the events delivered after it, in order (the
        production runtime re-sends only the stored ones among them); None when some of them are no
        longer in the window."""
        after = event_order(resume) if resume is not None else None
        if after is None:
            return deque(self._keys) if self._offset == 0 else None
        skip: deque[Key] = deque()
        seen: str | None = None
        order: tuple[int, int] | None = None
        for key in reversed(self._keys):
            event_id = key[0]
            if event_id != seen:  # ids repeat: order each one once
                seen = event_id
                order = event_order(event_id) if event_id is not None else None
            if order is not None and order <= after and stored(key[1]):
                return skip
            skip.appendleft(key)
        return skip if self._offset == 0 else None

    def _window_start(self) -> str | None:
        """A resume point inside the window: the newest stored event older than the last event delivered
        (its millisecond is complete), else the oldest such event; None when there is none."""
        last = event_order(self._last_id) if self._last_id is not None else None
        if last is None:
            return None
        newest_stored = oldest = seen = None
        older = False
        for event_id, name, _ in self._keys:
            if event_id != seen:
                seen = event_id
                order = event_order(event_id) if event_id is not None else None
                older = order is not None and order < last
            if not older:
                continue
            if stored(name):
                newest_stored = event_id
            elif oldest is None:
                oldest = event_id
        return newest_stored or oldest

    def resume_after_last(self) -> str | None:
        """The `Last-Event-ID` of a rejoin that must not replay anything: the last id (or the start).

        For a stream whose replay sends nothing again live (the server's thread join): events after the
        last id are new, and nothing is skipped.
        """
        self._new_connection()
        self._skip = deque()
        last = self._last_id or self._start_after
        return _sendable(last) if last is not None else None

    def note_opened(self) -> None:
        """The connection being opened is the stream's first (a join that starts with `resume_from`):
        nothing was missed before it, so it names no gap."""
        self._fresh = False
        self._broken = False
        self._opening = True

    def note_break(self) -> None:
        """The next connection repairs a broken one (not a clean close): what the run sent meanwhile
        of kinds the server does not replay is missing even if the connection brings nothing new."""
        self._broken = True

    def _new_connection(self) -> None:
        if not self._fresh:  # a connection that delivered nothing new keeps the first break's point
            self._gap_after = self._last_id
        self._passed = set()
        self._replayed = set()
        self._told = set()
        self._fresh = True
        self._opening = False
        self._resumed = True
        self._held.clear()  # never delivered: the replay sends them again
        self._candidates.clear()
        self._connection_start = self.delivered
        self._clean = False
        self._ambiguous = None

    def start_after_if_unset(self, event_id: str) -> None:
        """Where a stream that has delivered nothing resumes, unless it was given one."""
        if self._start_after is None:
            self._start_after = event_id

    def feed(self, event: ServerSentEvent) -> list[ServerSentEvent]:
        """The events to deliver now, in order, given one more event of the current connection.

        Raises Resync when the connection must be read again from `resume_from()`.
        """
        name, data, event_id, _ = event
        if event_id is None:
            return self._deliver_all([*self._release_all(), event])
        if not self._resumed:  # a stream that never reconnected: nothing held, skipped or suspect
            keys = self._keys
            keys.append((event_id, name, hash(data)))
            if len(keys) > self._window:
                keys.popleft()
                self._offset += 1
            order = None
            if event_id != self._last_id:
                self._last_id = event_id
                order = event_order(event_id)
                if order is not None and (self._newest is None or order > self._newest):
                    self._newest = order
            if name != "messages" and not name.startswith("messages/"):  # stored(name), inline
                if event_id == self._stored_last:
                    self._shared_ids = True
                else:
                    self._stored_anchor = self._stored_last
                    self._stored_last = event_id
                    order = order or event_order(event_id)
                    if order is not None and order[1] > 0:
                        self._counter_ids = True
            elif name != "messages":
                self._saw_messages = True
                if name == "messages/metadata":
                    self._announce(event.data)
            return [event]
        if event_id != self._seen_id:  # ids repeat: order each one once
            self._seen_id = event_id
            order = event_order(event_id)
            if order is not None and (self._newest is None or order > self._newest):
                self._newest = order
        if self._skip:
            key = (event_id, name, hash(data))
            if key == self._skip[0]:
                self._skip.popleft()
                self._note_replayed(key[1])
                return []
            if key in self._skip:  # the ones before it are not stored, so not sent again
                while (passed := self._skip.popleft()) != key:
                    self._pass(passed)
                self._note_replayed(key[1])
                return []
            for passed in self._skip:  # the rest was not sent again: nothing more to skip
                self._pass(passed)
            self._skip.clear()
        if self._ambiguous is not None:
            if not _older(self._ambiguous, event.id):
                return []  # still inside the ambiguous part: read again after the resync
            self._resync()
        proven = False
        if self._passed or event.event.startswith("messages/"):
            late = self._late(event)
            if late is not None:
                return late
            proven = not self._opening and self._unannounced(event)
        out = self._match(event) if self._held or self._suspect(event) else self._deliver_all([event])
        if (self._fresh or proven) and out:
            self._fresh = False
            return self._gap(out)
        return out

    def _announce(self, data: str) -> None:
        """Note the message ids a `messages/metadata` event announces (the last 1,024)."""
        try:
            value = loads(data)
        except ValueError:
            return
        if isinstance(value, dict):
            self._note_ids(value)

    def _note_ids(self, ids: Iterable[object]) -> None:
        announced = self._announced
        for message_id in ids:
            if isinstance(message_id, str):
                announced[message_id] = None
        while len(announced) > 1024:
            del announced[next(iter(announced))]

    def _unannounced(self, event: ServerSentEvent) -> bool:
        """Whether `event` (on a resumed connection) is a `messages/partial` or `messages/complete` of a
        message whose `messages/metadata` was not delivered: sent while the connection was down, and not
        replayed, so the server does not replay that kind (nor the message's earlier partials)."""
        if event.event not in ("messages/partial", "messages/complete"):
            return False
        try:
            value = loads(event.data)
        except ValueError:
            return False
        ids = [item.get("id") for item in value if isinstance(item, dict)] if isinstance(value, list) else []
        missing = [
            message_id
            for message_id in ids
            if isinstance(message_id, str) and message_id not in self._announced
        ]
        if not missing:
            return False
        self._note_ids(missing)  # one proof per message
        self._unreplayed.update(MESSAGE_KINDS)
        return True

    def _note_replayed(self, kind: str) -> None:
        """The replay sent an event of `kind` again: the server keeps that kind (with those of its mode)."""
        self._replayed.update(MESSAGE_KINDS if kind in MESSAGE_KINDS else (kind,))

    def _pass(self, key: Key) -> None:
        """A delivered event the replay did not send again (not stored, or not of the stream a repair
        reads now): should a replica's buffer send it later on this connection, it is dropped."""
        self._passed.add(key)

    def _late(self, event: ServerSentEvent) -> list[ServerSentEvent] | None:
        """[] for an event that came out of order from a kind the server does not replay in order (a
        replica's buffer re-sends it after the stored events): delivered already, or inside the gap."""
        key = _key(event)
        if key in self._passed:
            return []  # delivered before the break (re-sent after the events the replay sent first)
        if not _older(event.id, self._last_id):
            return None
        if self._positions(key):
            return None  # sent on this connection already: the replay's overlap, matched as usual
        if not event.event.startswith("messages/"):
            return None
        self._unreplayed.update(MESSAGE_KINDS)
        return [] if self._fresh else self._gap([])

    def _gap(self, out: list[ServerSentEvent]) -> list[ServerSentEvent]:
        """`out`, after a `gap` event naming what may be missing since the break, when something may."""
        wants = self.wants
        unreplayed = self._unreplayed
        if self.expects_messages or self._saw_messages:  # langgraph-api's known behaviour (see above)
            unreplayed = unreplayed.union(MESSAGE_KINDS)
        kinds = sorted(
            kind for kind in unreplayed - self._replayed - self._told if wants is None or wants(kind)
        )
        self._broken = False
        if not kinds:
            return out
        self._told.update(kinds)
        gap = StreamGap(after=self._gap_after, events=kinds)
        self.gaps.append(gap)
        return [ServerSentEvent(GAP_EVENT, json.dumps(gap), None, None), *out]

    def end_of_stream(self) -> list[ServerSentEvent]:
        """At a clean end, deliver what is held: a re-sent block is always sent whole, so it was new.

        Raises Resync when the connection ended inside an ambiguous part.
        """
        if self._ambiguous is not None:
            self._resync()
        out = self._deliver_all(self._release_all())
        if self._fresh and (out or self._broken):
            self._fresh = False
            return self._gap(out)
        return out

    def _suspect(self, event: ServerSentEvent) -> bool:
        """Whether `event` may start a block that re-sends what this connection delivered."""
        if not self._resumed or self._clean or event.id is None:
            return False
        if self._trusted is not None:
            order = event_order(event.id)
            if order is not None and order <= self._trusted:
                return False
        if event.id == self._last_id:
            return bool(self._positions(_key(event)))
        return _older(event.id, self._last_id)

    def _resync(self) -> None:
        self.resyncs += 1
        self._trusted = event_order(self._ambiguous or "") or self._trusted
        self._held.clear()
        self._candidates.clear()
        self._ambiguous = None
        raise Resync

    def _match(self, event: ServerSentEvent) -> list[ServerSentEvent]:
        key = _key(event)
        if not self._held:
            self._older_start = _older(event.id, self._last_id)
            survivors = [_Candidate(start, 1) for start in self._positions(key)]
        else:
            survivors = [
                _Candidate(c.start, c.matched + 1)
                for c in self._candidates
                if self._key_at(c.start + c.matched) == key
            ]
        end = self.delivered
        if any(c.start + c.matched == end for c in survivors):
            if len(survivors) > 1 or not self._older_start:
                # Two suffixes of what was delivered fit, or a block of the last millisecond repeats
                # its end (re-sent, or new equal events?): hold the rest of it, then read it again.
                self._held.append(event)
                self._ambiguous = self._last_id
                return []
            self._held.clear()  # a whole re-sent block: drop it; what follows on this connection is new
            self._candidates.clear()
            self._clean = True
            return []
        if survivors:
            self._held.append(event)
            self._candidates = survivors
            return []
        # No candidate survives: the first held event was new. Deliver it and look at the rest again.
        pending = [*self._held, event]
        self._held.clear()
        self._candidates.clear()
        out = self._deliver_all(pending[:1])
        for later in pending[1:]:
            out.extend(
                self._match(later) if self._held or self._suspect(later) else self._deliver_all([later])
            )
        return out

    def _positions(self, key: Key) -> list[int]:
        """Where `key` was delivered on this connection (only those can be re-sent by its replay)."""
        return [index for index in self._built_index().get(key, ()) if index >= self._connection_start]

    def _key_at(self, absolute: int) -> Key | None:
        relative = absolute - self._offset
        return self._keys[relative] if 0 <= relative < len(self._keys) else None

    def _forget_oldest(self) -> None:
        oldest = self._keys.popleft()
        self._offset += 1
        if self._index is not None:
            positions = self._index[oldest]
            positions.popleft()
            if not positions:
                del self._index[oldest]

    def _built_index(self) -> dict[Key, deque[int]]:
        index = self._index
        if index is None:
            index = self._index = {}
            for at, key in enumerate(self._keys, self._offset):
                index.setdefault(key, deque()).append(at)
        return index

    def _release_all(self) -> list[ServerSentEvent]:
        held = self._held
        self._held = []
        self._candidates = []
        return held

    def _deliver_all(self, events: list[ServerSentEvent]) -> list[ServerSentEvent]:
        for event in events:
            key = _key(event)
            if self._index is not None:
                self._index.setdefault(key, deque()).append(self._offset + len(self._keys))
            self._keys.append(key)
            if len(self._keys) > self._window:
                self._forget_oldest()
            event_id = event.id
            if event_id is None:
                continue
            self._last_id = event_id
            if not stored(event.event):
                if event.event != "messages":
                    self._saw_messages = True
                    if event.event == "messages/metadata":
                        self._announce(event.data)
                continue
            if event_id == self._stored_last:
                self._shared_ids = True
            else:
                self._stored_anchor = self._stored_last
                self._stored_last = event_id
                if not self._counter_ids and not event_id.endswith("-0"):
                    order = event_order(event_id)
                    self._counter_ids = order is not None and order[1] > 0
        return events


#: The events of stream_mode "messages": a server keeps all of them for replay, or none.
MESSAGE_KINDS = ("messages/complete", "messages/metadata", "messages/partial")


def stored(event: str) -> bool:
    """Whether a run's event of this name is kept in the run's stored stream, so that a reconnect can
    start after it. The production runtime stores no `messages` events (their ids are minted apart, from
    the executing replica's clock, and may equal or pass the next stored event's): a reconnect starts
    after the last stored event, and the `messages` events after it cannot be replayed there."""
    return not (event == "messages" or event.startswith("messages/"))


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
