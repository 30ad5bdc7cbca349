"""Thread sessions on the event-streaming protocol, without I/O: decoding, commands, errors, the event log.

The wire (verified against langgraph-api 0.16): commands are `{id, method, params}` answered
`{type: success|error, id, result | error+message}`; events are `{type: "event", event_id, seq, method,
params: {namespace, timestamp, data, node?}}`. The event types are langchain-protocol's TypedDicts (the
protocol's CDDL compiled to Python); they are only imported for type checking, so they cost nothing at
run time.

A session's connection carries every run of the thread, in order: a new connection first replays the
thread's earlier runs. Each run opens with a root `lifecycle` `running` event (its id names the run:
`synth:<run id>:lc||running`) and ends with a root `completed`, `failed` or `interrupted` one (a run
that stops at an interrupt may still send its last state snapshot after it). The `EventLog` keeps the
events of the runs this session started, split into runs; the `ReplayGuard` makes a new connection's
replay deliver only what the old one had not, or names the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from . import _validation as check
from ._arguments import SessionTransport
from ._errors import STATUS_ERRORS
from ._exceptions import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InputError,
    InternalServerError,
    LmsystemsError,
    NotFoundError,
    StreamError,
    StreamGapError,
    ThreadBusyError,
)
from ._json import loads
from ._requests import encode_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from langchain_protocol.protocol import Event

    from ._arguments import MultitaskStrategies

#: Every channel a session subscribes to (updates, custom and tools need the graph's stream_transformers).
CHANNELS: tuple[str, ...] = ("values", "updates", "messages", "tools", "custom", "lifecycle", "input")
RUN_ENDED = frozenset({"completed", "failed", "interrupted"})
TRANSPORTS: tuple[SessionTransport, ...] = get_args(SessionTransport)
#: The most events one run may hold in memory (a StreamError beyond).
MAX_RUN_EVENTS = 1_000_000


# ------------------------------------------------------------------------------------------ commands


def encode_command(command_id: int, method: str, params: dict[str, Any]) -> bytes:
    """A command's JSON bytes (an InputError when params cannot be sent as JSON)."""
    return encode_json(
        {"id": command_id, "method": method, "params": params}, argument=f"the {method} command"
    )


def run_start_params(
    assistant_id: str,
    input: Any,
    *,
    config: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    multitask_strategy: MultitaskStrategies | None,
    configurable: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The params of `run.start`, checked (the deployment's configurables go under the caller's)."""
    params: dict[str, Any] = {
        "assistant_id": check.identifier(assistant_id, argument="assistant_id"),
        "input": check.json_value(input, argument="input"),
    }
    merged = dict(check.mapping(config, argument="config") or {})
    if configurable:
        inner = check.mapping(merged.get("configurable"), argument="config['configurable']") or {}
        merged["configurable"] = {**configurable, **inner}
    if merged:
        params["config"] = merged
    if metadata is not None:
        params["metadata"] = check.mapping(metadata, argument="metadata")
    if multitask_strategy is not None:
        params["multitaskStrategy"] = check.multitask_strategy(multitask_strategy)
    return params


def respond_params(interrupt: SessionInterrupt, value: Any) -> dict[str, Any]:
    """The params of `input.respond` for one interrupt."""
    return {
        "interrupt_id": interrupt.id,
        "namespace": list(interrupt.namespace),
        "response": check.json_value(value, argument="value"),
    }


# ------------------------------------------------------------------------------------ answers, errors

#: The protocol's error codes and the exception each becomes.
ERROR_CLASSES: dict[str, type[LmsystemsError]] = {
    "invalid_argument": InputError,
    "unknown_command": APIResponseError,
    "unknown_error": APIResponseError,
    "not_supported": APIResponseError,
    "unsupported": APIResponseError,
    "no_such_run": NotFoundError,
    "no_such_subscription": NotFoundError,
    "no_such_namespace": NotFoundError,
    "no_such_interrupt": NotFoundError,
    "no_such_checkpoint": NotFoundError,
    "permission_denied": AuthenticationError,
    "resume_gap": StreamGapError,
}


def protocol_error(answer: dict[str, Any], method: str) -> LmsystemsError:
    """The exception for a protocol error answer: its code decides the class, `body` keeps the answer."""
    code = str(answer.get("error") or "unknown_error")
    message = str(answer.get("message") or "no message")
    if method == "run.start" and code == "unknown_error" and BUSY in message:
        return ThreadBusyError(
            f"run.start was refused by the agent server: the thread is busy and the multitask strategy "
            f"is 'reject' ({message})",
            status_code=409,
            body=answer,
        )
    cls = ERROR_CLASSES.get(code, APIResponseError)
    return cls(f"{method} was refused by the agent server ({code}): {message}", body=answer)


#: run.start with multitaskStrategy "reject" on a busy thread: the server's run creation raises its HTTP 409
#: and the command handler answers it as `unknown_error` with the message "409: Thread is already running a
#: task. ..." (langgraph-api 0.16, event_streaming/service.py `_handle_run_start`).
BUSY = "Thread is already running a task"


def lost_answer(method: str, thread_id: str | None, where: str) -> str:
    """What a user needs to know when a command's connection dropped before its answer came."""
    done = {
        "run.start": "the run may have started",
        "input.respond": "the interrupt may have been answered and a run resumed",
    }.get(method, "it may have taken effect")
    return (
        f"the connection dropped ({where}) before {method} was answered: {done}. Check before sending it "
        f"again: list the thread's runs (client.runs.list({thread_id!r})) and look for one that is "
        "pending or running"
    )


def command_result(answer: Any, method: str) -> dict[str, Any]:
    """The `result` of a command's answer; a protocol error or a malformed answer raises."""
    if not isinstance(answer, dict):
        raise APIResponseError(f"{method}: the agent server's answer is not a JSON object: {answer!r:.200}")
    if answer.get("type") == "error" or ("error" in answer and answer.get("type") != "success"):
        raise protocol_error(answer, method)
    result = answer.get("result")
    if answer.get("type") != "success" or not isinstance(result, dict):
        raise APIResponseError(f"{method}: unexpected answer from the agent server: {answer!r:.200}")
    return result


# -------------------------------------------------------------------------------------------- events


def decode_message(data: str | bytes) -> dict[str, Any]:
    """One JSON message of the connection (an event or, on a WebSocket, a command's answer)."""
    try:
        message = loads(data)
    except ValueError:
        raise StreamError(f"the event stream sent something that is not JSON: {data!r:.120}") from None
    if not isinstance(message, dict):
        raise StreamError(f"the event stream sent a JSON {type(message).__name__}, not an object")
    return message


def check_event(message: dict[str, Any]) -> Event:
    """A decoded event (`type` is "event"), its envelope checked (what the rest of the session relies on)."""
    try:
        params = message["params"]
        valid = type(message["method"]) is str and type(params["namespace"]) is list
    except (KeyError, TypeError):
        valid = False
    if not valid:
        raise StreamError(f"the event stream sent a malformed event: {message!r:.200}")
    return message  # type: ignore[return-value]


def decode_event(data: str | bytes) -> Event:
    """One event from its JSON text (a StreamError for anything else)."""
    message = decode_message(data)
    if message.get("type") != "event":
        raise StreamError(f"expected an event, got: {message!r:.200}")
    return check_event(message)


def lifecycle_status(event: Event) -> str | None:
    """`running`, `started`, `completed`, ... for a lifecycle event, else None."""
    if event["method"] != "lifecycle":
        return None
    data = event["params"].get("data")
    status = data.get("event") if isinstance(data, dict) else None
    return status if isinstance(status, str) else None


def run_id_of(event: Event) -> str | None:
    """The run a root `running` event opens, from its id (`synth:<run id>:lc||running`), if it says."""
    event_id = event.get("event_id")
    if isinstance(event_id, str) and event_id.startswith("synth:") and event_id.endswith(":lc||running"):
        return event_id[len("synth:") : -len(":lc||running")] or None
    return None


def is_root(event: Event) -> bool:
    return not event["params"]["namespace"]


@dataclass(frozen=True)
class SessionInterrupt:
    """A run stopped at `interrupt()`: answer it with `session.respond(value)`."""

    id: str
    payload: Any
    namespace: tuple[str, ...] = ()


class Subgraph:
    """A subgraph a run entered: `namespace` (pass it to `session.values(namespace=...)`) and its graph."""

    __slots__ = ("graph_name", "namespace")

    def __init__(self, namespace: tuple[str, ...], graph_name: str | None) -> None:
        self.namespace, self.graph_name = namespace, graph_name

    def __repr__(self) -> str:
        return f"Subgraph(namespace={self.namespace!r}, graph_name={self.graph_name!r})"


def interrupt_of(event: Event) -> SessionInterrupt | None:
    if event["method"] not in ("input.requested", "input"):
        return None
    data = event["params"].get("data")
    if not isinstance(data, dict) or not isinstance(data.get("interrupt_id"), str):
        return None
    return SessionInterrupt(data["interrupt_id"], data.get("payload"), tuple(event["params"]["namespace"]))


# ----------------------------------------------------------------------------------------- event log


@dataclass
class Run:
    """One run of the session: its events, and how it ended."""

    number: int  # 1 for the session's first run, ...
    run_id: str | None
    events: list[Event] = field(default_factory=list)
    end: int | None = None  # index just past its terminal lifecycle event in `events`
    status: str | None = None  # completed, failed, interrupted
    error: str | None = None  # the failed run's message
    interrupts: list[SessionInterrupt] = field(default_factory=list)
    values: Any = None  # the root's last values
    released: bool = False  # its events were let go (the session keeps those of its last KEEP_RUNS runs)


#: How many of its runs' events a session keeps (the current one and the one before).
KEEP_RUNS = 2
#: Methods whose events `EventLog._append` notes nothing about (`values` is noted when it is the root's).
PLAIN_METHODS = frozenset({"messages", "updates", "custom", "tools", "tasks", "checkpoints"})


class EventLog:
    """The events of the runs this session started, run by run.

    `feed` takes every event of the connection; events of runs the session did not start (the replay of
    the thread's earlier runs) are set aside until `claim` says which run a command started. Runs older
    than the last KEEP_RUNS let go of their events, so a long session holds a bounded number of them.
    """

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.requested = 0  # runs asked for (run.start, input.respond)
        self.delivered = 0  # events filed under the session's runs
        self._claims: list[tuple[str | None, int]] = []  # (run id if known, root `running` count at asking)
        self._runnings = 0  # root `running` events seen on the connection
        self._stray: tuple[str | None, int, list[Event]] | None = None  # a run not (yet) ours
        self._feeding: Run | None = None
        #: Called for every root `running` event fed (a run of the thread begins): the ReplayGuard's cue.
        self.on_running: Callable[[], None] | None = None

    @property
    def current(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    def asking(self) -> int:
        """Before sending a command that starts a run: remember where the connection was."""
        self.requested += 1
        return self._runnings

    def unask(self) -> None:
        """The command asked for with `asking` failed: no run of the session comes from it."""
        self.requested -= 1

    def claim(self, run_id: str | None, mark: int) -> None:
        """The command sent at `mark` started a run (`run_id` when the answer named it)."""
        self._claims.append((run_id, mark))
        if self._stray is not None:
            stray_id, index, events = self._stray
            if self._matches(stray_id, index):
                self._stray = None
                self._adopt(stray_id, events)

    def _matches(self, run_id: str | None, index: int) -> bool:
        for position, (claimed, mark) in enumerate(self._claims):
            if (claimed is not None and claimed == run_id) or (
                (claimed is None or run_id is None) and index > mark
            ):
                del self._claims[position]
                return True
        return False

    def _adopt(self, run_id: str | None, events: list[Event]) -> None:
        run = Run(len(self.runs) + 1, run_id)
        self.runs.append(run)
        for old in self.runs[:-KEEP_RUNS]:
            if not old.released:
                old.events, old.released = [], True
        self._feeding = run
        for event in events:
            self._append(run, event)

    def fast_target(self) -> list[Event] | None:
        """The events of the run being fed, where an event of PLAIN_METHODS may be appended directly
        (counting it in `delivered`) while the list holds fewer than MAX_RUN_EVENTS; else call `feed`."""
        run = self._feeding
        return run.events if run is not None else None

    def feed(self, event: Event) -> None:
        if event["method"] == "lifecycle" and is_root(event) and lifecycle_status(event) == "running":
            self._runnings += 1
            if self.on_running is not None:
                self.on_running()
            run_id = run_id_of(event)
            if self._matches(run_id, self._runnings):
                self._stray = None
                self._adopt(run_id, [event])
            else:
                self._feeding = None
                self._stray = (run_id, self._runnings, [event])
            return
        if self._feeding is not None:
            self._append(self._feeding, event)
        elif self._stray is not None:
            if len(self._stray[2]) >= MAX_RUN_EVENTS:
                self._stray = None  # a long run of someone else's: not ours to keep
            else:
                self._stray[2].append(event)

    def _append(self, run: Run, event: Event) -> None:
        if len(run.events) >= MAX_RUN_EVENTS:
            raise StreamError(f"a run sent more than {MAX_RUN_EVENTS} events: the session gives up")
        run.events.append(event)
        self.delivered += 1
        method = event["method"]
        if method == "messages":
            return  # the most frequent: nothing to note
        root = not event["params"]["namespace"]
        if method == "values" and root:
            run.values = event["params"].get("data")
        elif method in ("input.requested", "input"):
            interrupt = interrupt_of(event)
            if interrupt is not None and run.end is None:
                run.interrupts.append(interrupt)
        elif method == "lifecycle" and root and run.end is None:
            status = lifecycle_status(event)
            if status in RUN_ENDED:
                run.end, run.status = len(run.events), status
                if status == "failed":
                    data = event["params"].get("data")
                    error = data.get("error") if isinstance(data, dict) else None
                    run.error = str(error) if error is not None else "the run failed"

    def run(self, number: int) -> Run | None:
        """The session's `number`-th run (None before its first event was read)."""
        if not 0 < number <= len(self.runs):
            return None
        run = self.runs[number - 1]
        if run.released:
            raise InputError(
                f"run {number} of this session is too old: a session keeps the events of its last "
                f"{KEEP_RUNS} runs"
            )
        return run


# -------------------------------------------------------------------------------------- reconnection


#: How far ahead in what was delivered a replayed event is looked for (events the replay left out).
REPLAY_WINDOW = 100_000
#: Unseen events in a row that a replay may hold before all that was seen is replayed (events an earlier
#: connection missed while it joined a run: one at a time in practice).
MAX_LATE_IN_A_ROW = 8


def replay_key(event: Event) -> tuple[str, tuple[str, ...], str]:
    """What identifies an event across connections: method, namespace and the server's stored stream id.

    The server derives `event_id` from the stream id of the stored event plus a counter (`<id>.<n>`) for
    the envelopes one stored event turns into; the counter depends on what the connection saw before, so
    only the part before it is stable. Synthesised ids (`synth:...`) are stable whole.
    """
    method, namespace, event_id = _raw_key(event)
    return method, tuple(namespace), _stable_id(event_id)


def _raw_key(event: Event) -> tuple[str, list[str], Any]:
    """The parts of `replay_key`, unprocessed (cheap: kept for every event delivered)."""
    return event["method"], event["params"]["namespace"], event.get("event_id")


def _stable_id(event_id: Any) -> str:
    if not isinstance(event_id, str):
        return ""
    return event_id if event_id.startswith("synth:") else event_id.partition(".")[0]


def _starts_a_run(event: Event) -> bool:
    return event["method"] == "lifecycle" and is_root(event) and lifecycle_status(event) == "running"


def _same(seen: tuple[str, list[str], Any], key: tuple[str, tuple[str, ...], str]) -> bool:
    return seen[0] == key[0] and tuple(seen[1]) == key[1] and _stable_id(seen[2]) == key[2]


class ReplayGuard:
    """Every event of the connection once: a new connection's replay is matched against what was seen.

    The server replays the whole thread on every new connection and numbers it anew, so `seq` is no
    cursor; a replayed event is recognised by its `replay_key`, in order. Events the replay leaves out
    (the server does not store some, e.g. those of named custom channels) are skipped over. What a run
    sent while the connection was down comes only from the replay, which may lack some of it, so a repair
    during a run always ends with a `gap` saying so; a repair between runs is exact. Nothing is delivered
    twice.

    A connection that joins a run that goes on can also miss one event the run publishes while it joins
    (langgraph-runtime-inmem's `join_event_streaming` takes its replay snapshot, yields it, and only then
    subscribes to the live queue; the yield awaits the earlier runs' final state). If that event carried a
    subgraph's lifecycle `completed`, the server derives it again at the run's end (before the root's
    terminal event), so after a gap it can come later than it happened, once.
    """

    def __init__(self) -> None:
        #: `_raw_key`s of the events delivered (appended to by the reader's fast path too), from the start
        #: of the last KEEP_RUNS runs of the thread on: older ones are let go (see `run_began`).
        self.seen: list[tuple[str, list[str], Any]] = []
        self._starts: list[int] = []  # positions in `seen` of the root `running` events kept
        self._dropped_runs = 0  # runs (root `running` events) let go from the front of `seen`
        self._prefix: int | None = None  # in a replay: old runs' starts skipped so far (None: past them)
        self._position: int | None = None  # in a replay: how much of `_seen` it went through so far
        self._omitted: dict[str, int] = {}  # per method: seen events the replay left out
        self._during_run = False
        self._inserted = 0  # in a replay: unseen events passed on in a row before all was replayed
        self._late = 0  # in a replay: such events in all (an earlier connection never got them)
        self.gap: str | None = None

    @property
    def replaying(self) -> bool:
        """Whether a new connection's replay is being matched (else every event is new)."""
        return self._position is not None

    def reconnected(self, *, during_run: bool = False) -> None:
        """A new connection starts: its replay begins. `during_run`: the old one dropped while a run was
        going on, so the run may have sent events the replay does not hold."""
        self._position = 0
        self._prefix = 0 if self._dropped_runs else None
        self._omitted = {}
        self._inserted = 0
        self._during_run = self._during_run or during_run

    def run_began(self) -> None:
        """The event just filed in `seen` is a root `running` event: a run of the thread begins. Keys
        older than the last KEEP_RUNS runs' are let go (a replay recognises those runs by counting
        their `running` events), so a long session holds the keys of a bounded number of runs."""
        starts = self._starts
        starts.append(len(self.seen) - 1)
        if len(starts) <= KEEP_RUNS or self._position is not None:
            return  # (during a replay positions must stay put: the next run's start trims)
        cut = starts[-KEEP_RUNS]
        del self.seen[:cut]
        self._dropped_runs += len(starts) - KEEP_RUNS
        self._starts = [start - cut for start in starts[-KEEP_RUNS:]]

    def admit(self, event: Event) -> bool:
        """Whether to pass this event on (False: it was delivered before)."""
        position = self._position
        seen = self.seen
        if position is None:  # not in a replay: the fast path
            seen.append((event["method"], event["params"]["namespace"], event.get("event_id")))
            return True
        key = replay_key(event)
        if self._prefix is not None:
            # The replay of runs whose keys were let go: skip it, counting their starts.
            if seen and _same(seen[0], key):
                self._prefix = None
                self._replayed(1)
                return False
            if not (
                event["method"] == "lifecycle" and is_root(event) and lifecycle_status(event) == "running"
            ):
                return False
            if self._prefix < self._dropped_runs:
                self._prefix += 1
                return False
            self._prefix = None  # a run beyond those let go that is not the first kept: match it below
        if position < len(seen) and _same(seen[position], key):
            self._inserted = 0
            self._replayed(position + 1)
            return False
        limit = min(len(seen), position + 1 + REPLAY_WINDOW)
        for ahead in range(position + 1, limit):
            if _same(seen[ahead], key):
                self._inserted = 0
                self._left_out(position, ahead)
                self._replayed(ahead + 1)
                return False
        if position < len(seen) and self._inserted < MAX_LATE_IN_A_ROW and not _starts_a_run(event):
            # Not seen, and what was seen is not all replayed yet: an event an earlier connection never
            # got (a connection that joins a run misses what the run publishes meanwhile), or the first
            # new one while the rest of what was seen is left out by the replay. Either way it passes
            # once, filed here, and the matching goes on; a run's start or more than MAX_LATE_IN_A_ROW of
            # them in a row end the replay below.
            seen.insert(position, _raw_key(event))
            self._starts = [start + 1 if start >= position else start for start in self._starts]
            self._position = position + 1
            self._inserted += 1
            self._late += 1
            return True
        # New: what the replay did not repeat of what was seen, it left out (and the unseen ones just
        # before were new ones too, not late).
        self._late -= self._inserted
        self._left_out(position, len(seen))
        self._replayed(len(seen))
        seen.append(_raw_key(event))
        return True

    def _left_out(self, start: int, stop: int) -> None:
        for method, _, _ in self.seen[start:stop]:
            self._omitted[method] = self._omitted.get(method, 0) + 1

    def _replayed(self, position: int) -> None:
        if position < len(self.seen):
            self._position = position
            return
        self._position = None
        late, self._late, self._inserted = self._late, 0, 0
        # Left-out events that had been delivered cost nothing; what a run sent while the connection was
        # down may be missing, as the replay does not hold every kind of event.
        if late:
            self.gap = (
                f"the server's replay held {late} event(s) an earlier connection never got (a connection "
                "that joins a run misses what the run publishes meanwhile): they were passed on now, later "
                "than they happened"
            )
        if self._during_run:
            left_out = (
                " (it left out "
                + ", ".join(f"{count} {method}" for method, count in sorted(self._omitted.items()))
                + " of the events delivered before)"
                if self._omitted
                else ""
            )
            self.gap = (self.gap + "; " if self.gap else "") + (
                "the connection dropped during a run and was repaired from the server's replay, which does "
                f"not hold every event{left_out}: events sent while it was down, or while the new "
                "connection joined the run, may be missing (a subgraph's lifecycle 'completed' that was "
                "among them is sent again by the server at the run's end)"
            )
        self._omitted, self._during_run = {}, False

    def replay_ended(self) -> None:
        """The connection ended (during its replay or after): the next one replays from the start again."""
        self._position = None
        self._prefix = None
        self._omitted = {}

    def take_gap(self) -> str | None:
        gap, self.gap = self.gap, None
        return gap


def ws_failure(error: BaseException, where: str, *, connecting: bool = False) -> LmsystemsError | None:
    """Our exception for a websockets (or socket) failure; None for a normal close."""
    from websockets.exceptions import (  # noqa: PLC0415 - the websocket extra, only when used
        ConnectionClosed,
        ConnectionClosedOK,
        InvalidHandshake,
        InvalidStatus,
    )

    if isinstance(error, LmsystemsError):
        return error
    if isinstance(error, ConnectionClosedOK) and not connecting:
        return None
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        message = f"{where} refused the connection with status {status}"
        kind = STATUS_ERRORS.get(status, InternalServerError if status >= 500 else APIStatusError)
        return kind(message, status_code=status)  # an HTTP status: an APIStatusError, whatever else it is
    if isinstance(error, TimeoutError):
        return APITimeoutError(f"timed out ({'connecting to' if connecting else 'reading'} {where})")
    if isinstance(error, ConnectionClosed):
        return APIConnectionError(f"{where} was closed: {error}")
    if isinstance(error, InvalidHandshake | OSError):
        return APIConnectionError(f"cannot connect to {where}: {type(error).__name__}: {error}")
    return APIConnectionError(f"{where} failed: {type(error).__name__}: {error}")


def check_transport(value: object) -> str:
    if value not in TRANSPORTS:
        raise InputError(f"transport must be one of {', '.join(map(repr, TRANSPORTS))}, not {value!r}")
    return str(value)
