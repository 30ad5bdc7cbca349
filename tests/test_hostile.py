"""Hostile servers, a hostile marketplace and malformed keys: every failure typed, bounded, and secret-free.

Each case points a client (sync and async) at `support.bad_server` scripted with `support.hostile`
(real loopback sockets) and runs the call in a child process (`support.hostile_worker`), which measures
it. For every case and flavour the test asserts:

- the EXACT exception class, and that it is one of ours (`lmsystems._exceptions`);
- a bounded time (`within`: for a timeout case, 3x the time asked for);
- bounded memory: the child's peak resident set grows by less than `max_growth` (100 MB by default)
  during the call;
- that no canary key appears anywhere: str, repr, the `__cause__`/`__context__` chain,
  `traceback.format_exception`, the pickle and what it unpickles to, and every log record of every
  logger with the root logger at DEBUG.

A second part runs the `lmsystems` command line with `LMSYSTEMS_LOG=debug` against the same servers.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.bad_server import (
    HANG,
    RecordedRequest,
    Reply,
    RouteValue,
    RunningBadServer,
    chunked_reply,
    html_reply,
    json_reply,
    redirect_reply,
    reply,
    sse_reply,
    start_bad_server,
    text_reply,
)
from support.hostile import (
    GIB,
    deep_json,
    echo_keys,
    gzip_bomb,
    gzip_reply,
    silent_after_head,
    sse_error_event,
    sse_event_with_id,
    trickle,
)

from lmsystems import (
    APIConnectionError,
    APIKeyError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    InputError,
    InternalServerError,
    LmsystemsError,
    RunError,
    StreamError,
    UnauthorizedError,
    UnprocessableEntityError,
)

TESTS = Path(__file__).parent
ASSISTANT = "asst"
GRAPH = "chat-graph"
MB = 1_000_000
#: Direct mode first looks the assistant up.
ASSISTANT_OK = {f"GET /assistants/{ASSISTANT}": json_reply(200, {"assistant_id": ASSISTANT, "graph_id": "g"})}
STREAM_HEADERS = {"Location": "/threads/t1/runs/r1/stream"}
META = b'event: metadata\ndata: {"run_id": "r1"}\n\n'


@dataclass(frozen=True)
class Canaries:
    """Secret values planted as keys; none may show anywhere."""

    user: str = field(default_factory=lambda: "lms_canary_user_" + secrets.token_hex(12))
    deployment: str = field(default_factory=lambda: "lms_canary_dep_" + secrets.token_hex(12))

    def all(self) -> list[str]:
        return [self.user, self.deployment]


Routes = Mapping[str, RouteValue]


@dataclass(frozen=True)
class Case:
    id: str
    expected: type[LmsystemsError]
    #: The hostile server's script, given the canaries and the server's own URL.
    routes: Callable[[Canaries, str], Routes]
    call: str = "get_thread"
    #: "direct" (deployment_url=, the assistant lookup answered) or "marketplace" (base_url=).
    mode: str = "direct"
    #: Client options over the defaults (max_retries=0, timeout=5).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Options built from the canaries (e.g. a key with a newline in it).
    keyed: Callable[[Canaries], Mapping[str, Any]] | None = None
    env: Callable[[Canaries], Mapping[str, str]] | None = None
    #: Seconds the whole call may take.
    within: float = 15.0
    #: Bytes the peak resident set may grow by.
    max_growth: int = 100 * MB
    #: Fragments that must appear in the message ("<URL>" stands for the server's URL).
    fragments: tuple[str, ...] = ()
    #: The message may be at most this long.
    max_message: int = 2000
    check: Callable[[dict[str, Any], RunningBadServer], None] | None = None
    #: The flavours the case runs in.
    flavours: tuple[str, ...] = ("sync", "async")


def fixed(routes: Routes) -> Callable[[Canaries, str], Routes]:
    return lambda canaries, url: routes


def graph_info(canaries: Canaries, graph_url: str, **fields: Any) -> Routes:
    answer: dict[str, Any] = {
        "graph_url": graph_url,
        "lgraph_api_key": canaries.deployment,
        "assistant_id": ASSISTANT,
        "configurables": {"configurable": {}},
        "environment_variables": {},
    }
    answer.update(fields)
    return {"POST /api/get_graph_info": json_reply(200, answer)}


def no_request_to(path: str) -> Callable[[dict[str, Any], RunningBadServer], None]:
    def check(outcome: dict[str, Any], server: RunningBadServer) -> None:
        assert server.requests_for(path) == [], f"a request reached {path}"

    return check


def no_request_at_all(outcome: dict[str, Any], server: RunningBadServer) -> None:
    assert server.requests == [], f"requests were sent: {[r.target for r in server.requests]}"


def attributes(**expected: Any) -> Callable[[dict[str, Any], RunningBadServer], None]:
    def check(outcome: dict[str, Any], server: RunningBadServer) -> None:
        for name, value in expected.items():
            assert outcome["attributes"].get(name) == value, f"{name}: {outcome['attributes']}"

    return check


def stream(*chunks: bytes | str | float, complete: bool = True) -> Reply:
    return sse_reply(*chunks, complete=complete, headers=STREAM_HEADERS, pause=0.0)


def _stream_routes(answer: Reply) -> Routes:
    """A run stream on thread t1 (and its run, still running, for a status check after a drop)."""
    return {
        "POST /threads/t1/runs/stream": answer,
        "GET /threads/t1/runs/r1": json_reply(200, {"run_id": "r1", "status": "running"}),
        "GET /threads/t1/runs/r1/stream": answer,
    }


def _header_flood() -> Reply:
    fields = "".join(f"X-Flood-{index}: {'v' * 60}\r\n" for index in range(4000))
    return Reply((f"HTTP/1.1 200 OK\r\n{fields}\r\n".encode(),))


def _huge_body(status: int, size: int, *, length: bool = True) -> Reply:
    """`size` MB of one character (a JSON string when the status is 2xx), with or without a length."""
    piece = b"x" * MB
    first, last = (b'"', b'"') if status < 300 else (b"", b"")
    framing = f"Content-Length: {size * MB + len(first) + len(last)}\r\n" if length else ""
    head = (
        f"HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n{framing}Connection: close\r\n\r\n"
    ).encode()
    return Reply((head, first, *([piece] * size), last))


def _many_events(count: int) -> Reply:
    event = b'event: custom\ndata: {"n": 1, "text": "' + b"y" * 200 + b'"}\n\n'
    batch = event * 1000
    return chunked_reply(
        200, [META, *([batch] * (count // 1000))], headers=STREAM_HEADERS, pause=0.0, complete=True
    )


def _other_port(request: RecordedRequest) -> Reply:
    return redirect_reply(307, "http://127.0.0.1:1/threads/t1")


CASES: list[Case] = [
    # ------------------------------------------------------------------------------- deep JSON
    Case(
        "deep-json-answer",
        APIResponseError,
        fixed({"GET /threads/t1": reply(200, deep_json(), content_type="application/json")}),
        fragments=("not JSON",),
        max_message=600,
    ),
    Case(
        "deep-json-unclosed-answer",
        APIResponseError,
        fixed({"GET /threads/t1": reply(200, deep_json(closed=False), content_type="application/json")}),
        max_message=600,
    ),
    Case(
        "deep-json-error-body",
        InternalServerError,
        fixed({"GET /threads/t1": reply(500, deep_json(), content_type="application/json")}),
        fragments=("500",),
        max_message=600,
    ),
    Case(
        "deep-json-event-data",
        StreamError,
        fixed(_stream_routes(stream(META, b"event: values\ndata: " + deep_json() + b"\n\n"))),
        call="stream",
        fragments=("not JSON",),
        max_message=600,
    ),
    Case(
        "deep-json-marketplace-answer",
        APIResponseError,
        fixed({"POST /api/get_graph_info": reply(200, deep_json(), content_type="application/json")}),
        mode="marketplace",
        max_message=600,
    ),
    Case(
        "deep-json-in-a-valid-error-detail",
        UnprocessableEntityError,
        fixed(
            {
                "GET /threads/t1": reply(
                    422, b'{"detail": ' + deep_json(900) + b"}", content_type="application/json"
                )
            }
        ),
        max_message=600,
    ),
    # --------------------------------------------------------------- header injection, odd bytes
    Case(
        "api-key-argument-with-a-trailing-newline",
        APIKeyError,
        fixed({}),
        mode="marketplace",
        keyed=lambda c: {"api_key": c.user + "\n"},
        fragments=("api_key is malformed",),
        check=no_request_at_all,
    ),
    Case(
        "api-key-argument-with-crlf-inside",
        APIKeyError,
        fixed({}),
        mode="marketplace",
        keyed=lambda c: {"api_key": c.user + "\r\nx-injected: 1"},
        check=no_request_at_all,
    ),
    Case(
        "api-key-from-the-environment-with-a-newline",
        APIKeyError,
        fixed({}),
        mode="marketplace",
        keyed=lambda c: {"api_key": None},
        env=lambda c: {"LMSYSTEMS_API_KEY": c.user + "\n"},
        fragments=("LMSYSTEMS_API_KEY is malformed",),
        check=no_request_at_all,
    ),
    Case(
        "deployment-key-argument-non-ascii",
        APIKeyError,
        fixed({}),
        keyed=lambda c: {"deployment_key": c.deployment + "\u00e9"},
        fragments=("deployment_key is malformed",),
        check=no_request_at_all,
    ),
    Case(
        "marketplace-deployment-key-with-crlf",
        APIResponseError,
        lambda c, url: graph_info(c, url, lgraph_api_key=c.deployment + "\r\nx-injected: 1"),
        mode="marketplace",
        fragments=("malformed lgraph_api_key",),
        check=no_request_to("/threads/t1"),
    ),
    Case(
        "marketplace-deployment-key-non-ascii",
        APIResponseError,
        lambda c, url: graph_info(c, url, lgraph_api_key=c.deployment + "\u00e9"),
        mode="marketplace",
        fragments=("malformed lgraph_api_key",),
        check=no_request_to("/threads/t1"),
    ),
    Case(
        "marketplace-deployment-key-with-a-space",
        APIResponseError,
        lambda c, url: graph_info(c, url, lgraph_api_key="Bearer " + c.deployment),
        mode="marketplace",
        check=no_request_to("/threads/t1"),
    ),
    Case(
        "non-ascii-event-id-before-a-reconnect",
        StreamError,
        fixed(_stream_routes(sse_event_with_id("caf\u00e9-1".encode()))),
        call="stream",
        fragments=("Last-Event-ID", "cannot be resumed"),
        check=no_request_to("/threads/t1/runs/r1/stream"),
    ),
    Case(
        "control-character-event-id-before-a-reconnect",
        StreamError,
        fixed(_stream_routes(sse_event_with_id(b"1-\x01"))),
        call="stream",
        check=no_request_to("/threads/t1/runs/r1/stream"),
    ),
    Case(
        "join-stream-with-a-non-ascii-last-event-id",
        InputError,
        fixed({}),
        call="join_bad_event_id",
        fragments=("last_event_id",),
        check=no_request_to("/threads/t1/stream"),
    ),
    # ------------------------------------------------------------------------ secrets echoed back
    Case(
        "deployment-key-echoed-in-a-500",
        InternalServerError,
        fixed({"GET /threads/t1": echo_keys(500)}),
    ),
    Case(
        "deployment-key-echoed-in-a-422",
        UnprocessableEntityError,
        fixed({"GET /threads/t1": echo_keys(422)}),
    ),
    Case(
        "user-key-echoed-by-the-marketplace-401",
        UnauthorizedError,
        fixed({"POST /api/get_graph_info": echo_keys(401)}),
        mode="marketplace",
    ),
    Case(
        "deployment-key-echoed-in-a-200-html-page",
        APIResponseError,
        fixed(
            {
                "GET /threads/t1": lambda request: html_reply(
                    200, f"<html><title>hello {request.headers.get('x-api-key')}</title></html>"
                )
            }
        ),
    ),
    Case(
        "deployment-key-echoed-in-an-error-event",
        RunError,
        fixed(
            {
                "POST /threads/t1/runs/stream": lambda request: sse_error_event(
                    f"the key {request.headers.get('x-api-key')} is wrong", before=[META]
                )
            }
        ),
        call="stream",
    ),
    # ------------------------------------------------------------------------ unbounded messages
    Case(
        "five-megabyte-error-event",
        RunError,
        fixed({"POST /threads/t1/runs/stream": sse_error_event("m" * 5 * MB, before=[META])}),
        call="stream",
        fragments=("run r1 on thread t1 failed: ValueError", "characters in all"),
        check=attributes(error_message=5 * MB),
    ),
    Case(
        "error-event-of-a-stateless-run-before-its-metadata",
        RunError,
        fixed({"POST /runs/stream": sse_error_event("boom", headers={})}),
        call="stateless_stream",
        fragments=("a stateless run failed: ValueError: boom",),
    ),
    Case(
        "error-event-of-a-stateless-run",
        RunError,
        fixed({"POST /runs/stream": sse_error_event("boom", before=[META], headers={})}),
        call="stateless_stream",
        fragments=("stateless run r1 failed: ValueError: boom",),
    ),
    # ----------------------------------------------------------------------------------- timeouts
    Case(
        "no-answer-at-all",
        APITimeoutError,
        fixed({"GET /threads/t1": HANG}),
        options={"timeout": 1.0},
        within=3.0,
    ),
    Case(
        "stream-of-heartbeats-only",
        APITimeoutError,
        fixed(_stream_routes(stream(META, *[x for _ in range(100) for x in (b": heartbeat\n\n", 0.1)]))),
        call="stream",
        options={"stream_idle_timeout": 1.0},
        within=3.0,
        check=attributes(final=True),
    ),
    Case(
        "trickled-head-of-a-plain-call",
        APITimeoutError,
        # A byte every 0.25 s: no single read waits long enough to time out, only a bound on the whole
        # head ends the call (with a byte a second, a read's own timeout could win the race by chance).
        fixed({"GET /threads/t1": trickle(head=True, interval=0.25)}),
        options={"timeout": 1.0},
        within=3.0,
        fragments=("timeout of 1 s",),
    ),
    Case(
        "trickled-body-of-a-plain-call",
        APITimeoutError,
        fixed(
            {
                "GET /threads/t1": trickle(
                    head=False, body=b'{"thread_id": "t1", "pad": "' + b" " * 100 + b'"}'
                )
            }
        ),
        options={"timeout": 1.0},
        within=3.0,
        fragments=("timeout of 1 s",),
    ),
    Case(
        # A byte every 1.5 s: each read of the body times out before the next byte comes. That read's
        # timeout is the attempt's (a read waits at most what is left of it), and says so: this was the
        # race behind a flake of the case above (a read timeout won over the next byte under load).
        "body-trickled-slower-than-the-timeout",
        APITimeoutError,
        fixed(
            {"GET /threads/t1": trickle(head=False, interval=1.5, body=b'{"thread_id": "t1", "pad": "  "}')}
        ),
        options={"timeout": 1.0},
        within=3.0,
        fragments=("timeout of 1 s",),
    ),
    Case(
        "trickled-error-body",
        APITimeoutError,
        fixed({"GET /threads/t1": trickle(500, b"x" * 200, head=False, content_type="text/plain")}),
        options={"timeout": 1.0},
        within=3.0,
    ),
    Case(
        "stream-silent-after-its-head",
        APITimeoutError,
        fixed(_stream_routes(silent_after_head(headers=STREAM_HEADERS))),
        call="stream",
        options={"stream_idle_timeout": 1.0},
        within=3.0,
        fragments=("no event for 1 s",),
        check=attributes(final=True),
    ),
    Case(
        "stream-silent-after-its-first-event",
        APITimeoutError,
        fixed(_stream_routes(silent_after_head(headers=STREAM_HEADERS, first=META))),
        call="stream",
        options={"stream_idle_timeout": 1.0},
        within=3.0,
        check=attributes(final=True),
    ),
    Case(
        "stream-head-trickled-past-the-deadline",
        APITimeoutError,
        fixed(_stream_routes(trickle(head=True, interval=0.25, content_type="text/event-stream"))),
        call="stream",
        options={"stream_deadline": 1.0},
        within=3.0,
        check=attributes(final=True),
    ),
    Case(
        "stream-head-trickled-past-the-timeout",
        APITimeoutError,
        fixed(_stream_routes(trickle(head=True, interval=0.25, content_type="text/event-stream"))),
        call="stream",
        options={"timeout": 1.0},
        within=3.0,
    ),
    # ------------------------------------------------------------------------------ big bodies, bombs
    Case(
        "gzip-bomb-json-answer",
        APIResponseError,
        fixed({"GET /threads/t1": gzip_reply(200, gzip_bomb(GIB, fill=b" ", prefix=b'{"a": "'))}),
        fragments=("larger than 64 MiB",),
        within=20.0,
    ),
    Case(
        "gzip-bomb-error-body",
        InternalServerError,
        fixed({"GET /threads/t1": gzip_reply(500, gzip_bomb(GIB, fill=b"x"), content_type="text/plain")}),
    ),
    Case(
        "gzip-bomb-marketplace-answer",
        APIResponseError,
        fixed({"POST /api/get_graph_info": gzip_reply(200, gzip_bomb(GIB, fill=b" ", prefix=b"["))}),
        mode="marketplace",
        within=20.0,
    ),
    Case(
        "gzip-bomb-not-an-event-stream",
        APIResponseError,
        fixed(
            {
                "POST /threads/t1/runs/stream": gzip_reply(
                    200, gzip_bomb(GIB, fill=b"x"), content_type="text/plain"
                )
            }
        ),
        call="stream",
    ),
    Case(
        "gzip-bomb-event-stream",
        StreamError,
        fixed(
            _stream_routes(
                gzip_reply(200, gzip_bomb(GIB, fill=b"z", prefix=b"data: "), content_type="text/event-stream")
            )
        ),
        call="stream",
        options={"max_event_bytes": 8 * MB},
    ),
    Case(
        "unknown-content-encoding",
        APIResponseError,
        fixed(
            {
                "GET /threads/t1": reply(
                    200, b"{}", content_type="application/json", headers={"Content-Encoding": "br"}
                )
            }
        ),
        fragments=("did not ask for",),
    ),
    Case(
        "corrupt-gzip-body",
        APIResponseError,
        fixed({"GET /threads/t1": gzip_reply(200, b"\x1f\x8b\x08\x00garbage-garbage")}),
        fragments=("corrupt",),
    ),
    Case(
        "plain-body-over-the-cap-by-its-length",
        APIResponseError,
        fixed({"GET /threads/t1": _huge_body(200, 200)}),
        fragments=("larger than 64 MiB",),
    ),
    Case(
        "plain-body-over-the-cap-without-a-length",
        APIResponseError,
        fixed({"GET /threads/t1": _huge_body(200, 200, length=False)}),
        fragments=("larger than 64 MiB",),
    ),
    # ---------------------------------------------------------------------- already held: keep it
    Case(
        "200-text-html",
        APIResponseError,
        fixed({"GET /threads/t1": html_reply(200, "<html><title>Sign in</title></html>")}),
    ),
    Case(
        "fifty-megabyte-error-body",
        InternalServerError,
        fixed({"GET /threads/t1": _huge_body(500, 50)}),
    ),
    Case(
        "endless-event-line",
        StreamError,
        fixed(_stream_routes(stream(META, *([b"data: " + b"z" * MB] + [b"z" * MB] * 40), complete=False))),
        call="stream",
        options={"max_event_bytes": 8 * MB},
    ),
    Case(
        "invalid-utf8-in-an-event",
        StreamError,
        fixed(_stream_routes(stream(META, b"event: values\ndata: \xff\xfe\n\n"))),
        call="stream",
    ),
    Case(
        "redirect-loop",
        APIStatusError,
        fixed({"GET /threads/t1": redirect_reply(307, "/threads/t1")}),
        fragments=("more than",),
    ),
    Case(
        "cross-origin-redirect",
        APIStatusError,
        fixed({"GET /threads/t1": _other_port}),
        fragments=("another origin (http://127.0.0.1:1)",),
    ),
    Case(
        "retry-after-a-day",
        InternalServerError,
        fixed({"GET /threads/t1": text_reply(503, "busy", headers={"Retry-After": "86400"})}),
        options={"max_retries": 1},
        within=5.0,
    ),
    Case(
        "header-flood",
        APIConnectionError,
        fixed({"GET /threads/t1": _header_flood()}),
    ),
    Case(
        "marketplace-points-at-another-host-over-http",
        APIResponseError,
        lambda c, url: graph_info(c, "http://example.invalid"),
        mode="marketplace",
        fragments=("plain http",),
    ),
    Case(
        "a-hundred-thousand-events-within-ten-megabytes",
        RunError,
        fixed(
            {
                "POST /threads/t1/runs/stream": chunked_reply(
                    200,
                    [
                        META,
                        *([b'event: custom\ndata: {"n": 1}\n\n' * 1000] * 100),
                        b'event: error\ndata: {"error": "Done", "message": "the end"}\n\n',
                    ],
                    headers=STREAM_HEADERS,
                    pause=0.0,
                )
            }
        ),
        call="stream",
        max_growth=10 * MB,
        fragments=("Done: the end",),
    ),
]


# ------------------------------------------------------------------------------------------ the worker


class Worker:
    """The child process that runs and measures the calls (see support.hostile_worker)."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
        env.pop("LMSYSTEMS_API_KEY", None)
        env.pop("LMSYSTEMS_LOG", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "support.hostile_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=TESTS,
            env=env,
            text=True,
        )

    def run(self, request: dict[str, Any], *, patience: float) -> dict[str, Any]:
        """The worker's answer; a call still running after `patience` s kills the worker (a failure)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], patience)
        if not ready:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the call did not end within {patience:.0f} s")
        line = self.process.stdout.readline()
        assert line, f"the worker died (exit code {self.process.poll()})"
        answer: dict[str, Any] = json.loads(line)
        return answer

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def workers() -> Iterator[list[Worker]]:
    started = [Worker()]
    yield started
    started[-1].close()


@pytest.fixture
def worker(workers: list[Worker]) -> Worker:
    """The module's worker; a new one when a hung call made the last one be killed."""
    if not workers[-1].alive:
        workers.append(Worker())
    return workers[-1]


def client_options(case: Case, canaries: Canaries, url: str) -> dict[str, Any]:
    options: dict[str, Any] = {"max_retries": 0, "timeout": 5.0}
    if case.mode == "direct":
        options.update(graph_name=ASSISTANT, deployment_url=url, deployment_key=canaries.deployment)
    else:
        options.update(graph_name=GRAPH, api_key=canaries.user, base_url=url)
    options.update(case.options)
    if case.keyed is not None:
        options.update(case.keyed(canaries))
    return options


def script(case: Case, canaries: Canaries, url: str) -> dict[str, RouteValue]:
    table: dict[str, RouteValue] = dict(ASSISTANT_OK) if case.mode == "direct" else {}
    table.update(case.routes(canaries, url))
    return table


def test_the_table_covers_the_issue() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


RUNS = [(case, flavour) for case in CASES for flavour in case.flavours]


@pytest.mark.parametrize(("case", "flavour"), RUNS, ids=[f"{case.id}-{flavour}" for case, flavour in RUNS])
def test_hostile(case: Case, flavour: str, worker: Worker) -> None:
    canaries = Canaries()
    routes: dict[str, RouteValue] = {}
    with start_bad_server(routes) as server:
        routes.update(script(case, canaries, server.url))
        outcome = worker.run(
            {
                "flavour": flavour,
                "client": client_options(case, canaries, server.url),
                "call": case.call,
                "env": dict(case.env(canaries)) if case.env is not None else {},
                "canaries": canaries.all(),
            },
            patience=case.within * 2 + 10,
        )
    expected = f"{case.expected.__module__}.{case.expected.__qualname__}"
    assert outcome["error"] == expected, f"{case.id}: {outcome.get('error')}: {outcome.get('message')}"
    assert outcome["leaks"] == [], f"{case.id}: a canary key showed in {outcome['leaks']}"
    assert outcome["elapsed"] < case.within, f"{case.id}: took {outcome['elapsed']:.1f} s"
    assert outcome["rss_growth"] < case.max_growth, (
        f"{case.id}: peak RSS grew by {outcome['rss_growth'] / MB:.0f} MB"
    )
    assert outcome["message_length"] <= case.max_message, f"{case.id}: {outcome['message_length']} chars"
    for fragment in case.fragments:
        assert fragment.replace("<URL>", server.url) in outcome["message"], outcome["message"]
    if case.check is not None:
        case.check(outcome, server)


# ------------------------------------------------------------------------------------ the command line


@dataclass(frozen=True)
class CliCase:
    id: str
    #: Its exit code (see lmsystems.cli._exit): 5 authentication, 6 API error.
    exit_code: int
    routes: Callable[[Canaries, str], Routes]
    #: "direct" (--deployment-url, the key in LMSYSTEMS_DEPLOYMENT_KEY) or "marketplace".
    mode: str = "direct"
    env: Callable[[Canaries], Mapping[str, str]] | None = None
    fragment: str = ""


CLI_CASES = [
    CliCase("deployment-key-echoed-in-a-500", 6, fixed({"GET /threads/t1": echo_keys(500)}), fragment="500"),
    CliCase(
        "user-key-echoed-by-the-marketplace-401",
        5,
        fixed({"POST /api/get_graph_info": echo_keys(401)}),
        mode="marketplace",
    ),
    CliCase(
        "deep-json-answer",
        6,
        fixed({"GET /threads/t1": reply(200, deep_json(), content_type="application/json")}),
        fragment="not JSON",
    ),
    CliCase(
        "api-key-from-the-environment-with-a-newline",
        5,
        fixed({}),
        mode="marketplace",
        env=lambda c: {"LMSYSTEMS_API_KEY": c.user + "\n"},
        fragment="LMSYSTEMS_API_KEY is malformed",
    ),
    CliCase(
        "marketplace-deployment-key-with-crlf",
        6,
        lambda c, url: graph_info(c, url, lgraph_api_key=c.deployment + "\r\nx-injected: 1"),
        mode="marketplace",
        fragment="malformed lgraph_api_key",
    ),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[case.id for case in CLI_CASES])
def test_command_line_with_debug_logs(case: CliCase) -> None:
    canaries = Canaries()
    routes: dict[str, RouteValue] = {}
    with start_bad_server(routes) as server:
        table: dict[str, RouteValue] = dict(ASSISTANT_OK) if case.mode == "direct" else {}
        table.update(case.routes(canaries, server.url))
        routes.update(table)
        env = {key: value for key, value in os.environ.items() if not key.startswith("LMSYSTEMS_")}
        env.update(LMSYSTEMS_LOG="debug", COLUMNS="200", NO_COLOR="1")
        arguments = ["threads", "show", "t1"]
        if case.mode == "direct":
            arguments += ["--graph", ASSISTANT, "--deployment-url", server.url]
            env["LMSYSTEMS_DEPLOYMENT_KEY"] = canaries.deployment
        else:
            arguments += ["--graph", GRAPH, "--base-url", server.url]
            env["LMSYSTEMS_API_KEY"] = canaries.user
        env.update(case.env(canaries) if case.env is not None else {})
        done = subprocess.run(
            [sys.executable, "-m", "lmsystems.cli", *arguments],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    output = done.stdout + done.stderr
    assert done.returncode == case.exit_code, output
    assert "Traceback" not in output, output
    assert "lmsystems: " in done.stderr, output
    for canary in canaries.all():
        assert canary not in output, f"{case.id}: the key showed in the command's output:\n{output}"
    assert case.fragment in output, output
    if case.mode == "direct":
        assert " DEBUG lmsystems" in done.stderr, "LMSYSTEMS_LOG=debug logged nothing"
