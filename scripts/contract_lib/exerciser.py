"""The live exerciser: real calls against a running server, each answer validated."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote

import httpx

from .findings import Change, Check, Finding
from .spec import ERRATUM_KEY, PARAM_RE, SSE_MEDIA_TYPE, Operation, OpKey, Spec
from .validation import SseEvent, SseParser, check_request, check_response, shorten
from .validation import _schema_errors as schema_errors


@dataclass(frozen=True)
class GraphCase:
    """A graph to run and an input it accepts.

    ``resume`` is the value to resume the graph's interrupt with (the graph interrupts on its first
    run); ``state_update``/``as_node`` the values for ``POST /threads/{id}/state``; ``fails`` means the
    run ends with an ``error`` event; ``messages`` that it emits chat messages (worth a ``messages``
    mode stream).
    """

    graph_id: str
    input: Any = field(default_factory=dict)
    resume: Any = None
    state_update: Any = None
    as_node: str | None = None
    fails: bool = False
    messages: bool = True


#: The test bed's graphs (tests/agent_server), in order of preference for the main flows.
TEST_BED_CASES: tuple[GraphCase, ...] = (
    GraphCase(
        "approval",
        {"messages": [{"role": "user", "content": "ship the contract check"}]},
        resume="yes",
        state_update={"accepted": True},
        as_node="human_interaction",
        messages=False,
    ),
    GraphCase("chat", {"messages": [{"role": "user", "content": "hello"}]}),
    GraphCase("subgraphs", {"topic": "contract"}, messages=False),
    GraphCase("custom_events", {"count": 3}, messages=False),
    GraphCase("failing", {"message": "contract check"}, fails=True, messages=False),
)


def cases_for(graph_ids: Sequence[str], default_input: Any = None) -> list[GraphCase]:
    """Cases for chosen graphs: the test bed's case where known, else ``default_input`` (or ``{}``)."""
    known = {case.graph_id: case for case in TEST_BED_CASES}
    return [known.get(g) or GraphCase(g, {} if default_input is None else default_input) for g in graph_ids]


def choose_cases(
    graph_ids: Iterable[str], preferred: Sequence[GraphCase] = TEST_BED_CASES
) -> list[GraphCase]:
    """The preferred cases whose graph the server has; else a case with empty input for its first graph."""
    available = set(graph_ids)
    chosen = [case for case in preferred if case.graph_id in available]
    if not any(not case.fails for case in chosen) and available:
        chosen.insert(0, GraphCase(sorted(available)[0]))
    return chosen


#: Independent groups of calls (each creates and deletes its own threads, assistants, ...), in the
#: order they run. Only ``state``, ``runs``, ``streams`` and ``stateless`` execute graph runs.
GROUPS: tuple[str, ...] = (
    "system",
    "assistants",
    "threads",
    "state",
    "runs",
    "cancel",
    "streams",
    "sessions",
    "stateless",
    "crons",
    "store",
    "errors",
)
_ALL_MODES = ["values", "updates", "messages-tuple", "tasks", "checkpoints", "events", "debug", "custom"]
_MESSAGE_MODES = ["messages", "values"]
_THREAD_STREAM_MODES = "run_modes,lifecycle,state_update"
_RUN_ENDED = frozenset({"completed", "failed", "interrupted"})
_NEVER = "0 0 1 1 *"  # cron schedule: once a year, never during a check


class _StepFailed(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


def _fill(template: str, path: Mapping[str, str]) -> str:
    """A concrete URL path from a template and parameter values."""
    return PARAM_RE.sub(lambda m: quote(str(path[m.group(1)]), safe=""), template)


@dataclass
class Reply:
    """A real answer, its body read (for a stream: parsed into events)."""

    status: int
    content_type: str
    text: str
    events: list[SseEvent]

    def json(self) -> Any:
        return json.loads(self.text) if self.text.strip() else None


@dataclass
class ExerciseResult:
    """What the exerciser did and found."""

    findings: list[Finding]
    exercised: dict[OpKey, int]  # our operations that were called, with their number of calls
    not_exercised: list[Operation]  # our operations never called
    undescribed_calls: list[str]  # calls made to server operations our spec lacks
    events: dict[str, int]  # SSE event names (base) validated, with their counts
    cases: list[GraphCase]

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.failing]


_UNSET: Any = object()


class Exerciser:
    """Real calls for every operation the server and our spec share, each answer validated.

    ``cases`` picks the graphs (default: :func:`choose_cases` over the server's graphs). The main case,
    preferably one that interrupts, drives the thread-state flow; every case is streamed once with all
    stream modes and subgraphs.
    """

    def __init__(
        self,
        spec: Spec,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        *,
        cases: Sequence[GraphCase] | None = None,
        timeout: float = 30.0,
        stream_deadline: float = 20.0,
    ) -> None:
        self.spec = spec
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.stream_deadline = stream_deadline
        self.tag = uuid.uuid4().hex[:12]
        self._cases = list(cases) if cases is not None else None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._findings: list[Finding] = []
        self._exercised: dict[OpKey, int] = {}
        self._undescribed: set[str] = set()
        self._events: dict[str, int] = {}
        self._cleanup: list[tuple[str, str, dict[str, str]]] = []

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("Exerciser.call outside Exerciser.run")
        return self._client

    # -- driver

    def run(self, groups: Iterable[str] | None = None) -> ExerciseResult:
        """Run groups of calls (default: all :data:`GROUPS`, which also requires every operation marked
        ``x-live-spec-erratum`` to have been called) and return what was exercised and found."""
        selected = list(groups) if groups is not None else list(GROUPS)
        unknown = set(selected) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown exercise groups: {sorted(unknown)}")
        cases: list[GraphCase] = []
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=self.timeout) as client:
            self._client = client
            try:
                cases = self.cases
                for name in selected:
                    self._run_group(name)
            except httpx.HTTPError as exc:
                self._fail(self.base_url, f"cannot list the server's graphs: {exc}")
            finally:
                self._client = None
        if groups is None:
            for op in self.spec.operations.values():
                if op.erratum and op.key not in self._exercised:
                    self._fail(op.label, f"has {ERRATUM_KEY} but was not proven by a real call")
        return ExerciseResult(
            findings=list(self._findings),
            exercised=dict(self._exercised),
            not_exercised=[
                op for key, op in sorted(self.spec.operations.items()) if key not in self._exercised
            ],
            undescribed_calls=sorted(self._undescribed),
            events=dict(sorted(self._events.items())),
            cases=cases,
        )

    def _run_group(self, name: str) -> None:
        try:
            getattr(self, f"_group_{name}")()
        except _StepFailed as exc:
            self._fail(exc.where, f"[{name}] {exc.message}")
        except (httpx.HTTPError, KeyError, TypeError, IndexError, ValueError) as exc:
            self._fail(f"group {name}", f"stopped by {type(exc).__name__}: {shorten(str(exc))}")
        finally:
            self._clean_up()

    @cached_property
    def cases(self) -> list[GraphCase]:
        if self._cases is not None:
            return self._cases
        response = self.client.post("/assistants/search", json={"limit": 1000})
        response.raise_for_status()
        return choose_cases({a["graph_id"] for a in response.json()})

    @property
    def main(self) -> GraphCase:
        """The case for the thread-state flow: one that interrupts, if any."""
        usable = [c for c in self.cases if not c.fails]
        if not usable:
            raise _StepFailed("exerciser", "no graph case that runs without failing")
        return next((c for c in usable if c.resume is not None), usable[0])

    @property
    def plain(self) -> GraphCase:
        """A case that runs to completion (no interrupt, no failure)."""
        usable = [c for c in self.cases if not c.fails]
        return next((c for c in usable if c.resume is None), self.main)

    def _fail(self, where: str, message: str) -> None:
        with self._lock:
            self._findings.append(Finding(Check.VALIDATION, Change.CHANGED, where, message))

    # -- one call

    def call(
        self,
        method: str,
        template: str,
        path: Mapping[str, str] | None = None,
        *,
        json: Any = _UNSET,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Sequence[int] = (200,),
        stop: Callable[[SseEvent], bool] | None = None,
        check_body: bool = True,
    ) -> Reply:
        """Make a real call (``template`` in the server's spelling), validate request and answer
        against our spec, and raise unless the status is one of ``expect``."""
        op = self.spec.operation(method, template)
        label = op.label if op else f"{method} {template}"
        if op is not None and json is not _UNSET and check_body:
            for problem in check_request(self.spec, op, json):
                self._fail(label, problem)
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if json is not _UNSET:
            kwargs["json"] = json
        reply = self._send(method, _fill(template, path or {}), kwargs, stop)
        with self._lock:
            for event in reply.events:
                self._events[event.base] = self._events.get(event.base, 0) + 1
            if op is None:
                self._undescribed.add(f"{method} {template}")
            else:
                self._exercised[op.key] = self._exercised.get(op.key, 0) + 1
        if op is not None:
            for problem in check_response(
                self.spec, op, reply.status, reply.content_type, reply.text, events=reply.events
            ):
                self._fail(label, problem)
        if reply.status not in expect:
            raise _StepFailed(
                label, f"expected {list(expect)}, got {reply.status}: {shorten(reply.text, 200)}"
            )
        return reply

    def _send(
        self, method: str, url: str, kwargs: dict[str, Any], stop: Callable[[SseEvent], bool] | None
    ) -> Reply:
        with self.client.stream(method, url, **kwargs) as response:
            content_type = response.headers.get("content-type", "")
            events: list[SseEvent] = []
            if content_type.split(";")[0].strip().lower() != SSE_MEDIA_TYPE:
                return Reply(response.status_code, content_type, response.read().decode(), events)
            parser, deadline = SseParser(), time.monotonic() + self.stream_deadline
            for chunk in response.iter_bytes():
                for event in parser.feed(chunk):
                    events.append(event)
                    if stop is not None and stop(event):
                        return Reply(response.status_code, content_type, "", events)
                if time.monotonic() > deadline:
                    if stop is None:
                        raise _StepFailed(url, f"stream did not end within {self.stream_deadline} s")
                    break
            else:
                events += parser.finish()
            return Reply(response.status_code, content_type, "", events)

    def _track(self, method: str, template: str, path: Mapping[str, str]) -> None:
        self._cleanup.append((method, template, dict(path)))

    def _clean_up(self) -> None:
        """Delete what a group created and did not delete itself (unvalidated, errors ignored)."""
        while self._cleanup:
            method, template, path = self._cleanup.pop()
            with contextlib.suppress(httpx.HTTPError):
                self.client.request(method, _fill(template, path))

    def _new_thread(self) -> dict[str, str]:
        thread = self.call("POST", "/threads", json={"metadata": {"contract": self.tag}}).json()
        t = {"thread_id": str(thread["thread_id"])}
        self._track("DELETE", "/threads/{thread_id}", t)
        return t

    @staticmethod
    def _run_body(case: GraphCase, **extra: Any) -> dict[str, Any]:
        return {"assistant_id": case.graph_id, "input": case.input, **extra}

    @staticmethod
    def _state_update(case: GraphCase) -> dict[str, Any]:
        update = {"values": case.state_update if case.state_update is not None else {}}
        return {**update, "as_node": case.as_node} if case.as_node else update

    # -- groups

    def _group_system(self) -> None:
        self.call("GET", "/ok")
        self.call("GET", "/info")

    def _group_assistants(self) -> None:
        body = {
            "graph_id": self.main.graph_id,
            "name": f"contract-{self.tag}",
            "metadata": {"contract": self.tag},
        }
        a = {
            "assistant_id": self.call("POST", "/assistants", json={**body, "if_exists": "raise"}).json()[
                "assistant_id"
            ]
        }
        self._track("DELETE", "/assistants/{assistant_id}", a)
        self.call("POST", "/assistants", json={**body, **a, "if_exists": "raise"}, expect=(409,))
        self.call("GET", "/assistants/{assistant_id}", a)
        self.call("PATCH", "/assistants/{assistant_id}", a, json={"metadata": {"patched": True}})
        self.call("POST", "/assistants/search", json={"metadata": {"contract": self.tag}, "limit": 10})
        self.call("POST", "/assistants/count", json={"metadata": {"contract": self.tag}})
        self.call("POST", "/assistants/{assistant_id}/versions", a, json={"limit": 10})
        self.call("POST", "/assistants/{assistant_id}/latest", a, json={"version": 1})
        self.call("GET", "/assistants/{assistant_id}/graph", a, params={"xray": "true"})
        self.call("GET", "/assistants/{assistant_id}/schemas", a)
        # Subgraphs of a graph that has some, if the server has one.
        graph = next((c.graph_id for c in self.cases if c.graph_id == "subgraphs"), self.main.graph_id)
        created = self.call(
            "POST", "/assistants", json={"graph_id": graph, "metadata": {"contract": self.tag}}
        )
        s = {"assistant_id": created.json()["assistant_id"]}
        self._track("DELETE", "/assistants/{assistant_id}", s)
        namespaces = self.call(
            "GET", "/assistants/{assistant_id}/subgraphs", s, params={"recurse": "true"}
        ).json()
        namespace = next(iter(namespaces or {}), "child").split("|")[0]
        self.call("GET", "/assistants/{assistant_id}/subgraphs/{namespace}", {**s, "namespace": namespace})
        self.call(
            "DELETE", "/assistants/{assistant_id}", s, params={"delete_threads": "false"}, expect=(200, 204)
        )
        self.call("DELETE", "/assistants/{assistant_id}", a, expect=(200, 204))

    def _group_threads(self) -> None:
        t = self._new_thread()
        self.call("POST", "/threads", json={**t, "if_exists": "raise"}, expect=(409,))
        self.call("GET", "/threads/{thread_id}", t, params={"include": "ttl"})
        self.call("PATCH", "/threads/{thread_id}", t, json={"metadata": {"patched": True}})
        self.call("POST", "/threads/search", json={"metadata": {"contract": self.tag}, "limit": 10})
        self.call("POST", "/threads/count", json={"metadata": {"contract": self.tag}})
        copy = {"thread_id": self.call("POST", "/threads/{thread_id}/copy", t).json()["thread_id"]}
        self._track("DELETE", "/threads/{thread_id}", copy)
        self.call("DELETE", "/threads/{thread_id}", copy, expect=(200, 204))
        self.call(
            "POST",
            "/threads/prune",
            json={"thread_ids": [self._new_thread()["thread_id"]], "strategy": "delete"},
        )
        self.call("DELETE", "/threads/{thread_id}", t, expect=(200, 204))

    def _group_state(self) -> None:
        case = self.main
        t = self._new_thread()
        self.call("POST", "/threads/{thread_id}/runs/wait", t, json=self._run_body(case))
        self.call("GET", "/threads/{thread_id}", t)
        checkpoint = self.call("GET", "/threads/{thread_id}/state", t).json()["checkpoint"]
        self.call("GET", "/threads/{thread_id}/state", t, params={"subgraphs": "true"})
        cp = {**t, "checkpoint_id": checkpoint["checkpoint_id"]}
        self.call("GET", "/threads/{thread_id}/state/{checkpoint_id}", cp)
        self.call("POST", "/threads/{thread_id}/state/checkpoint", t, json={"checkpoint": checkpoint})
        self.call("GET", "/threads/{thread_id}/history", t, params={"limit": 5})
        self.call("POST", "/threads/{thread_id}/history", t, json={"limit": 5})
        resume = {"command": {"resume": case.resume}} if case.resume is not None else {"input": case.input}
        body = {"assistant_id": case.graph_id, **resume, "stream_mode": _ALL_MODES, "stream_subgraphs": True}
        self.call("POST", "/threads/{thread_id}/runs/stream", t, json=body)
        self.call("POST", "/threads/{thread_id}/state", t, json=self._state_update(case))

    def _group_runs(self) -> None:
        case = self.plain
        t = self._new_thread()
        run = self.call(
            "POST", "/threads/{thread_id}/runs", t, json=self._run_body(case, stream_resumable=True)
        )
        r = {**t, "run_id": run.json()["run_id"]}
        self.call("GET", "/threads/{thread_id}/runs/{run_id}/stream", r, headers={"Last-Event-ID": "0"})
        self.call("GET", "/threads/{thread_id}/runs/{run_id}/join", r)
        self.call("GET", "/threads/{thread_id}/runs/{run_id}", r)
        self.call("GET", "/threads/{thread_id}/runs", t, params={"limit": 10})
        # Follow the thread while a run and a state update happen on it.
        errors: list[Exception] = []
        seen: set[str] = set()

        def done(event: SseEvent) -> bool:
            data = event.json()
            seen.add(data.get("status", event.base) if isinstance(data, dict) else event.base)
            return {"run_done", "state_update"} <= seen

        def follow() -> None:
            try:
                params = {"stream_modes": _THREAD_STREAM_MODES}
                self.call("GET", "/threads/{thread_id}/stream", t, params=params, stop=done)
            except Exception as exc:  # re-raised in the group's thread
                errors.append(exc)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        time.sleep(0.5)
        self.call("POST", "/threads/{thread_id}/runs/wait", t, json=self._run_body(case))
        self.call("POST", "/threads/{thread_id}/state", t, json=self._state_update(case))
        follower.join(self.stream_deadline + 5)
        if errors:
            raise errors[0]

    def _group_sessions(self) -> None:
        """Thread sessions: a protocol command starts a run that the thread's event stream follows to its
        end; protocol errors (200 with ``type: error``), a malformed envelope (400); the thread storage."""
        case = self.plain
        t = self._new_thread()
        errors: list[Exception] = []

        def run_ended(event: SseEvent) -> bool:
            data = event.json()
            params = data.get("params", {}) if isinstance(data, dict) else {}
            status = params.get("data", {}).get("event") if isinstance(params.get("data"), dict) else None
            return event.base == "lifecycle" and params.get("namespace") == [] and status in _RUN_ENDED

        def follow() -> None:
            try:
                body = {
                    "channels": ["values", "updates", "messages", "tools", "custom", "lifecycle", "input"]
                }
                self.call("POST", "/threads/{thread_id}/stream/events", t, json=body, stop=run_ended)
            except Exception as exc:  # re-raised in the group's thread
                errors.append(exc)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        time.sleep(0.5)
        command = {"assistant_id": case.graph_id, "input": case.input}
        started = self.call(
            "POST",
            "/threads/{thread_id}/commands",
            t,
            json={"id": 1, "method": "run.start", "params": command},
        ).json()
        if started.get("type") != "success" or not started.get("result", {}).get("run_id"):
            raise _StepFailed("POST /threads/{thread_id}/commands", f"run.start answered {started}")
        follower.join(self.stream_deadline + 5)
        if errors:
            raise errors[0]
        unknown = self.call(
            "POST", "/threads/{thread_id}/commands", t, json={"id": 2, "method": "no.such.command"}
        ).json()
        if unknown.get("error") != "unknown_command":
            raise _StepFailed("POST /threads/{thread_id}/commands", f"an unknown command answered {unknown}")
        self.call(
            "POST",
            "/threads/{thread_id}/commands",
            t,
            json={"method": "run.start"},
            expect=(400,),
            check_body=False,
        )
        self.call(
            "POST",
            "/threads/{thread_id}/stream/events",
            t,
            json={"channels": []},
            expect=(400,),
            check_body=False,
        )
        self.call("GET", "/threads/{thread_id}/storage", t)
        self._websocket_session()

    def _websocket_session(self) -> None:
        """The `x-websocket` of `/threads/{thread_id}/stream/events`, proven by a real socket: every frame we
        send and every frame the server sends is validated against the extension's schemas, while a run
        started on the socket is followed to its end."""
        where = "WS /threads/{thread_id}/stream/events"
        try:
            from websockets.sync.client import connect
        except ImportError:
            self._fail(where, "the websockets package is missing: the x-websocket extension was not proven")
            return
        pointer = "/paths/~1threads~1{thread_id}~1stream~1events/x-websocket"
        client_schema = self.spec.validator(f"{pointer}/client-messages")
        server_schema = self.spec.validator(f"{pointer}/server-messages")
        t = self._new_thread()
        url = (
            f"{self.base_url.replace('http', 'ws', 1)}/threads/{quote(t['thread_id'], safe='')}/stream/events"
        )
        channels = ["values", "updates", "messages", "tools", "custom", "lifecycle", "input"]
        run = {"assistant_id": self.plain.graph_id, "input": self.plain.input}
        commands = [
            {"id": 1, "method": "subscription.subscribe", "params": {"channels": channels}},
            {"id": 2, "method": "run.start", "params": run},
        ]
        answers: dict[Any, Any] = {}
        events = 0
        problems: set[str] = set()
        with connect(url, additional_headers=self.headers, open_timeout=self.timeout) as socket:
            for command in commands:
                for problem in schema_errors(client_schema, command):
                    self._fail(where, f"client frame {problem}")
                socket.send(json.dumps(command))
            deadline = time.monotonic() + self.stream_deadline
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _StepFailed(where, f"the run did not end within {self.stream_deadline} s")
                frame = json.loads(socket.recv(timeout=remaining))
                for problem in schema_errors(server_schema, frame):
                    if problem not in problems:
                        problems.add(problem)
                        self._fail(where, f"server frame {problem}")
                if frame.get("type") != "event":
                    answers[frame.get("id")] = frame
                    continue
                events += 1
                self._events["ws:" + str(frame.get("method"))] = (
                    self._events.get("ws:" + str(frame.get("method")), 0) + 1
                )
                params = frame.get("params") or {}
                data = params.get("data") if isinstance(params.get("data"), dict) else {}
                if (
                    frame.get("method") == "lifecycle"
                    and params.get("namespace") == []
                    and data.get("event") in _RUN_ENDED
                ):
                    break
        for command in commands:
            answer = answers.get(command["id"])
            if not isinstance(answer, dict) or answer.get("type") != "success":
                raise _StepFailed(where, f"{command['method']} answered {answer!r}")
        if not answers[2].get("result", {}).get("run_id"):
            raise _StepFailed(where, f"run.start answered no run_id: {answers[2]!r}")

    def _group_cancel(self) -> None:
        t = self._new_thread()

        def pending_run() -> dict[str, str]:
            body = self._run_body(self.plain, after_seconds=600)
            return {
                **t,
                "run_id": self.call("POST", "/threads/{thread_id}/runs", t, json=body).json()["run_id"],
            }

        r = pending_run()
        self.call(
            "POST",
            "/threads/{thread_id}/runs/{run_id}/cancel",
            r,
            params={"action": "interrupt"},
            expect=(200, 202),
        )
        self.call("DELETE", "/threads/{thread_id}/runs/{run_id}", r, expect=(200, 204))
        r = pending_run()
        self.call(
            "POST", "/threads/{thread_id}/runs/{run_id}/cancel", r, params={"wait": "true"}, expect=(200, 202)
        )
        r = pending_run()
        body = {"thread_id": t["thread_id"], "run_ids": [r["run_id"]]}
        self.call("POST", "/runs/cancel", json=body, params={"action": "interrupt"}, expect=(200, 204))

    def _group_streams(self) -> None:
        for case in self.cases:
            body = self._run_body(case, stream_mode=_ALL_MODES, stream_subgraphs=True)
            self.call("POST", "/runs/stream", json=body)
            if case.messages:
                self.call("POST", "/runs/stream", json=self._run_body(case, stream_mode=_MESSAGE_MODES))

    def _group_stateless(self) -> None:
        case = self.plain
        self.call("POST", "/runs/wait", json=self._run_body(case))
        self.call("POST", "/runs", json=self._run_body(case))
        self.call("POST", "/runs/batch", json=[self._run_body(case)])

    def _group_crons(self) -> None:
        body = {"assistant_id": self.plain.graph_id, "schedule": _NEVER, "input": self.plain.input}
        c = {
            "cron_id": self.call(
                "POST", "/runs/crons", json={**body, "metadata": {"contract": self.tag}}
            ).json()["cron_id"]
        }
        self._track("DELETE", "/runs/crons/{cron_id}", c)
        t = self._new_thread()
        c2 = {"cron_id": self.call("POST", "/threads/{thread_id}/runs/crons", t, json=body).json()["cron_id"]}
        self._track("DELETE", "/runs/crons/{cron_id}", c2)
        self.call("POST", "/runs/crons/search", json={"metadata": {"contract": self.tag}, "limit": 10})
        self.call("POST", "/runs/crons/count", json={"metadata": {"contract": self.tag}})
        self.call("GET", "/runs/crons/{cron_id}", c)
        self.call("PATCH", "/runs/crons/{cron_id}", c, json={"enabled": False})
        self.call("DELETE", "/runs/crons/{cron_id}", c, expect=(200, 204))
        self.call("DELETE", "/runs/crons/{cron_id}", c2, expect=(200, 204))

    def _group_store(self) -> None:
        namespace = ["contract", self.tag]
        self.call(
            "PUT",
            "/store/items",
            json={"namespace": namespace, "key": "k", "value": {"v": 1}},
            expect=(200, 204),
        )
        self.call("GET", "/store/items", params={"key": "k", "namespace": ".".join(namespace)})
        self.call("POST", "/store/items/search", json={"namespace_prefix": namespace, "limit": 10})
        self.call("POST", "/store/namespaces", json={"prefix": namespace})
        self.call("DELETE", "/store/items", json={"namespace": namespace, "key": "k"}, expect=(200, 204))

    def _group_errors(self) -> None:
        missing = {
            "thread_id": str(uuid.uuid4()),
            "assistant_id": str(uuid.uuid4()),
            "cron_id": str(uuid.uuid4()),
        }
        self.call("GET", "/threads/{thread_id}", missing, expect=(404,))
        self.call("GET", "/assistants/{assistant_id}", missing, expect=(404,))
        self.call("GET", "/runs/crons/{cron_id}", missing, expect=(404,))
        self.call(
            "GET",
            "/store/items",
            params={"key": "missing", "namespace": f"contract.{self.tag}"},
            expect=(200, 404),  # 200 with a null body, in fact
        )
        self.call("POST", "/threads", json={"thread_id": 42}, expect=(422,), check_body=False)
        body = {"assistant_id": f"no-such-graph-{self.tag}", "input": {}}
        self.call("POST", "/threads/{thread_id}/runs/wait", missing, json=body, expect=(404, 422))
