"""Every answer a broken server, proxy or marketplace can give becomes the right exception of ours.

Each case points a client (sync and async) at `support.bad_server`, which answers byte for byte what the
case scripts, and asserts the EXACT exception class, that the class comes from `lmsystems._exceptions`
(never an httpx error, a KeyError or a bare Exception), and that the message says what was called and
what came back. A second table checks that awkward but valid event streams decode correctly.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.bad_server import (
    HANG,
    RecordedRequest,
    Reply,
    RouteValue,
    RunningBadServer,
    chunked_reply,
    closed_port_url,
    html_reply,
    json_reply,
    redirect_reply,
    reply,
    sse_reply,
    start_bad_server,
    text_reply,
)

from lmsystems import (
    APIConnectionError,
    APIKeyRejectedError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    GraphNotFoundError,
    GraphNotPurchasedError,
    InternalServerError,
    LmsystemsClient,
    LmsystemsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RunError,
    StreamError,
    StreamPart,
    SyncLmsystemsClient,
    ThreadBusyError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from lmsystems._async._stream import AsyncRunStream
from lmsystems._sync._stream import SyncRunStream
from lmsystems._transport import MAX_REDIRECTS

ASSISTANT = "asst"
GRAPH = "chat-graph"
USER_KEY = "lms_user_key_for_bad_answers"
#: Long like a real key: the log filter masks every occurrence of a key in use, a one-letter one too.
DEPLOYMENT_KEY = "lms_deployment_key_for_bad_answers"
INPUT = {"messages": [{"role": "user", "content": "hi"}]}
#: Direct mode first looks the assistant up.
ASSISTANT_OK = {f"GET /assistants/{ASSISTANT}": json_reply(200, {"assistant_id": ASSISTANT, "graph_id": "g"})}
META = b'event: metadata\ndata: {"run_id": "r1"}\n\n'
PROXY_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
)


def _other_origin(path: str) -> Callable[[RecordedRequest], Reply]:
    """A 307 to the same socket under another name (localhost instead of 127.0.0.1): another origin."""

    def answer(request: RecordedRequest) -> Reply:
        port = request.headers["host"].rpartition(":")[2]
        return redirect_reply(307, f"http://localhost:{port}{path}")

    return answer


def _graph_info(**fields: Any) -> dict[str, Any]:
    """A get_graph_info answer (the deployment URL is harmless: nothing is sent to it)."""
    answer: dict[str, Any] = {
        "graph_url": "http://127.0.0.1:9",
        "lgraph_api_key": DEPLOYMENT_KEY,
        "assistant_id": ASSISTANT,
        "configurables": {"configurable": {}},
        "environment_variables": {},
    }
    answer.update(fields)
    return {name: value for name, value in answer.items() if value is not None}


def _marketplace_error(status: int, code: str, message: str) -> dict[str, RouteValue]:
    return {"POST /api/get_graph_info": json_reply(status, {"detail": {"error": code, "message": message}})}


def _no_request_to(path: str) -> Callable[[LmsystemsError, RunningBadServer], None]:
    def check(error: LmsystemsError, server: RunningBadServer) -> None:
        assert server.requests_for(path) == [], f"the refused redirect was followed to {path}"

    return check


def _requests_to(path: str, count: int) -> Callable[[LmsystemsError, RunningBadServer], None]:
    def check(error: LmsystemsError, server: RunningBadServer) -> None:
        assert len(server.requests_for(path)) == count

    return check


def _attributes(**expected: Any) -> Callable[[LmsystemsError, RunningBadServer], None]:
    def check(error: LmsystemsError, server: RunningBadServer) -> None:
        for name, value in expected.items():
            assert getattr(error, name) == value, f"{name}: {getattr(error, name)!r} != {value!r}"

    return check


@dataclass(frozen=True)
class Case:
    id: str
    expected: type[LmsystemsError]
    #: Each must appear in str(error); "<URL>" stands for the server's URL.
    fragments: tuple[str, ...]
    routes: Mapping[str, RouteValue] = field(default_factory=dict)
    #: What to call on a connected client; None: the failure happens while connecting.
    call: Callable[[Any], Any] | None = None
    #: "direct" (deployment_url=, the assistant lookup scripted unless the case scripts it) or "marketplace".
    mode: str = "direct"
    options: Mapping[str, Any] = field(default_factory=dict)
    #: None of these may appear in str(error).
    absent: tuple[str, ...] = ()
    #: Point the client at a port that refuses connections instead of the bad server.
    refused: bool = False
    check: Callable[[LmsystemsError, RunningBadServer], None] | None = None


def get_thread(client: Any) -> Any:
    return client.get_thread("t1")


def stateless_stream(client: Any) -> Any:
    return client.stream_run(None, INPUT)


CASES = [
    # ------------------------------------------------------------------ error bodies of every shape
    Case(
        "html-502-from-proxy",
        InternalServerError,
        ("502 Bad Gateway", "GET /threads/t1", "agent server", "an HTML page"),
        {"GET /threads/t1": html_reply(502, PROXY_PAGE)},
        get_thread,
        absent=("<html", "<title>", "<center>", "nginx"),
    ),
    Case(
        "html-error-without-title",
        InternalServerError,
        ("504 Gateway Timeout", "GET /threads/t1", "upstream timed out"),
        {"GET /threads/t1": html_reply(504, "<html><body><h1>upstream timed out</h1></body></html>")},
        get_thread,
        absent=("<h1>", "<body>"),
    ),
    Case(
        "empty-error-body",
        InternalServerError,
        ("500 Internal Server Error", "GET /threads/t1", "an empty body"),
        {"GET /threads/t1": reply(500)},
        get_thread,
    ),
    Case(
        "non-json-error-body",
        BadRequestError,
        ("400 Bad Request", "GET /threads/t1", "upstream said no"),
        {"GET /threads/t1": text_reply(400, "upstream said no")},
        get_thread,
    ),
    Case(
        "json-content-type-but-broken-json-error-body",
        InternalServerError,
        ("500", "GET /threads/t1", '{"detail": "half'),
        {"GET /threads/t1": reply(500, '{"detail": "half', content_type="application/json")},
        get_thread,
    ),
    Case(
        "json-error-body-is-a-list",
        BadRequestError,
        ("400 Bad Request", "GET /threads/t1", "first problem", "second problem"),
        {"GET /threads/t1": json_reply(400, ["first problem", "second problem"])},
        get_thread,
    ),
    Case(
        "json-error-body-is-a-string",
        NotFoundError,
        ("404 Not Found", "GET /threads/t1", "no such thread here"),
        {"GET /threads/t1": json_reply(404, "no such thread here")},
        get_thread,
    ),
    Case(
        "json-error-body-is-a-number",
        InternalServerError,
        ("500", "GET /threads/t1", "42"),
        {"GET /threads/t1": json_reply(500, 42)},
        get_thread,
    ),
    # ------------------------------------------------------------------ status codes
    Case(
        "401",
        UnauthorizedError,
        ("401 Unauthorized", "GET /threads/t1", "Invalid API key"),
        {"GET /threads/t1": json_reply(401, {"detail": "Invalid API key"})},
        get_thread,
        check=_attributes(status_code=401),
    ),
    Case(
        "401-while-connecting",
        UnauthorizedError,
        ("401 Unauthorized", f"GET /assistants/{ASSISTANT}", "Missing x-api-key"),
        {f"GET /assistants/{ASSISTANT}": json_reply(401, {"detail": "Missing x-api-key"})},
    ),
    Case(
        "403",
        PermissionDeniedError,
        ("403 Forbidden", "GET /threads/t1", "not allowed"),
        {"GET /threads/t1": json_reply(403, {"detail": "not allowed"})},
        get_thread,
    ),
    Case(
        "404",
        NotFoundError,
        ("404 Not Found", "GET /threads/t1", "Thread with ID t1 not found"),
        {"GET /threads/t1": json_reply(404, {"detail": "Thread with ID t1 not found"})},
        get_thread,
        check=_attributes(status_code=404, body={"detail": "Thread with ID t1 not found"}),
    ),
    Case(
        "409-on-a-run",
        ThreadBusyError,
        ("409 Conflict", "POST /threads/t1/runs", "Thread is already running a task"),
        {"POST /threads/t1/runs": json_reply(409, {"detail": "Thread is already running a task"})},
        lambda client: client.runs.create("t1", INPUT, multitask_strategy="reject"),
    ),
    Case(
        "409-on-a-streamed-run",
        ThreadBusyError,
        ("409 Conflict", "POST /threads/t1/runs/stream", "Thread is busy"),
        {"POST /threads/t1/runs/stream": json_reply(409, {"detail": "Thread is busy"})},
        lambda client: client.stream_run("t1", INPUT, multitask_strategy="reject"),
    ),
    Case(
        "409-elsewhere",
        ConflictError,
        ("409 Conflict", "POST /threads", "Thread already exists"),
        {"POST /threads": json_reply(409, {"detail": "Thread already exists"})},
        lambda client: client.create_thread(),
    ),
    Case(
        "422",
        UnprocessableEntityError,
        ("422 Unprocessable Entity", "GET /threads/t1", "Field required"),
        {
            "GET /threads/t1": json_reply(
                422, {"detail": [{"loc": ["body", "input"], "msg": "Field required", "type": "missing"}]}
            )
        },
        get_thread,
    ),
    Case(
        "429",
        RateLimitError,
        ("429 Too Many Requests", "GET /threads/t1", "slow down"),
        {"GET /threads/t1": json_reply(429, {"detail": "slow down"}, headers={"Retry-After": "0"})},
        get_thread,
        check=_requests_to("/threads/t1", 1),
    ),
    Case(
        "500",
        InternalServerError,
        ("500 Internal Server Error", "GET /threads/t1", "database on fire"),
        {"GET /threads/t1": json_reply(500, {"detail": "database on fire"})},
        get_thread,
    ),
    Case(
        "503",
        InternalServerError,
        ("503 Service Unavailable", "GET /threads/t1", "maintenance"),
        {"GET /threads/t1": text_reply(503, "maintenance", headers={"x-request-id": "req-503"})},
        get_thread,
        check=_attributes(status_code=503, request_id="req-503"),
    ),
    Case(
        "418-other-status",
        APIStatusError,
        ("418", "GET /threads/t1", "short and stout"),
        {"GET /threads/t1": json_reply(418, {"detail": "short and stout"})},
        get_thread,
    ),
    # ------------------------------------------------------------------ redirects
    Case(
        "cross-origin-redirect-refused",
        APIStatusError,
        ("redirected GET /threads/t1 to another origin", "http://localhost", "refusing"),
        {"GET /threads/t1": _other_origin("/threads/t2")},
        get_thread,
        check=_no_request_to("/threads/t2"),
    ),
    Case(
        "cross-origin-redirect-of-a-run-refused",
        APIStatusError,
        ("redirected POST /runs/stream to another origin",),
        {"POST /runs/stream": _other_origin("/runs/stream2")},
        stateless_stream,
        check=_no_request_to("/runs/stream2"),
    ),
    Case(
        "too-many-same-origin-redirects",
        APIStatusError,
        ("redirected GET /threads/t1 more than", "times"),
        {"GET /threads/t1": redirect_reply(302, "/threads/t1")},
        get_thread,
        check=_requests_to("/threads/t1", 1 + MAX_REDIRECTS),
    ),
    # ------------------------------------------------------------------ 2xx answers we cannot use
    Case(
        "200-html-on-a-json-call",
        APIResponseError,
        ("200", "GET /threads/t1", "not JSON", "Welcome"),
        {"GET /threads/t1": html_reply(200, "<html><head><title>Welcome</title></head></html>")},
        get_thread,
        absent=("<html",),
    ),
    Case(
        "200-broken-json-on-a-json-call",
        APIResponseError,
        ("200", "GET /threads/t1", "not JSON"),
        {"GET /threads/t1": reply(200, '{"thread_id": "t1", ', content_type="application/json")},
        get_thread,
    ),
    Case(
        "200-json-with-invalid-utf8",
        APIResponseError,
        ("200", "GET /threads/t1", "not JSON"),
        {"GET /threads/t1": reply(200, b'{"thread_id": "t\xff1"}', content_type="application/json")},
        get_thread,
    ),
    Case(
        "200-json-on-a-stream-call",
        APIResponseError,
        ("POST /runs/stream", "application/json", "instead of an event stream", "queued"),
        {"POST /runs/stream": json_reply(200, {"detail": "queued"})},
        stateless_stream,
    ),
    Case(
        "200-html-on-a-stream-call",
        APIResponseError,
        ("POST /runs/stream", "text/html", "instead of an event stream", "Captive portal"),
        {"POST /runs/stream": html_reply(200, "<html><title>Captive portal</title></html>")},
        stateless_stream,
        absent=("<html",),
    ),
    Case(
        "200-stream-without-content-type",
        APIResponseError,
        ("POST /runs/stream", "no content type", "instead of an event stream"),
        {"POST /runs/stream": chunked_reply(200, [META], content_type=None)},
        stateless_stream,
    ),
    # ------------------------------------------------------------------ broken event streams
    Case(
        "truncated-event-on-a-stateless-stream",
        StreamError,
        ("POST /runs/stream", "ended inside an event"),
        {"POST /runs/stream": sse_reply(META, b'event: values\ndata: {"half": ')},
        stateless_stream,
        check=_attributes(events_delivered=1),
    ),
    Case(
        "fields-without-blank-line-at-the-end",
        StreamError,
        ("POST /runs/stream", "ended inside an event"),
        {"POST /runs/stream": sse_reply(META, b'event: values\ndata: {"a": 1}\n')},
        stateless_stream,
        check=_attributes(events_delivered=1),
    ),
    Case(
        "truncated-chunked-body",
        APIConnectionError,
        ("POST /runs/stream", "connection failed", "incomplete chunked read", "1 events delivered"),
        {"POST /runs/stream": sse_reply(META, b'event: values\ndata: {"a"', complete=False)},
        stateless_stream,
    ),
    Case(
        "invalid-utf8-in-event-data",
        StreamError,
        ("POST /runs/stream", "invalid UTF-8", "data field"),
        {"POST /runs/stream": sse_reply(META, b'event: values\ndata: {"a": "\xc3\x28"}\n\n')},
        stateless_stream,
        check=_attributes(events_delivered=1, resumable=False),
    ),
    Case(
        "invalid-utf8-in-event-name",
        StreamError,
        ("POST /runs/stream", "invalid UTF-8", "event field"),
        {"POST /runs/stream": sse_reply(b"event: val\xffues\ndata: {}\n\n")},
        stateless_stream,
    ),
    Case(
        "event-larger-than-max-event-bytes",
        StreamError,
        ("POST /runs/stream", "larger than max_event_bytes", "limit is 1024 bytes"),
        {
            "POST /runs/stream": sse_reply(
                META, b'event: values\ndata: {"big": "', b"x" * 2048, b'"}\n\n', b"event: end\ndata: {}\n\n"
            )
        },
        stateless_stream,
        options={"max_event_bytes": 1024},
        check=_attributes(events_delivered=1),
    ),
    Case(
        "line-larger-than-max-event-bytes-in-one-chunk",
        StreamError,
        ("POST /runs/stream", "larger than max_event_bytes"),
        {"POST /runs/stream": sse_reply(META + b'event: values\ndata: "' + b"y" * 4096 + b'"\n\n')},
        stateless_stream,
        options={"max_event_bytes": 1024},
    ),
    Case(
        "event-error-in-a-200-stream",
        RunError,
        ("run r1", "failed", "ValueError", "the graph blew up"),
        {
            "POST /runs/stream": sse_reply(
                META, b'event: error\ndata: {"error": "ValueError", "message": "the graph blew up"}\n\n'
            )
        },
        stateless_stream,
        check=_attributes(error_type="ValueError", run_id="r1"),
    ),
    Case(
        "event-error-with-a-string",
        RunError,
        ("run r1", "failed", "out of credits"),
        {"POST /runs/stream": sse_reply(META, b'event: error\ndata: "out of credits"\n\n')},
        stateless_stream,
        check=_attributes(error_type="Error", run_id="r1"),
    ),
    Case(
        "event-data-not-json",
        StreamError,
        ("'values'", "not JSON", "{not json"),
        {"POST /runs/stream": sse_reply(META, b"event: values\ndata: {not json\n\n")},
        stateless_stream,
        check=_attributes(events_delivered=1),
    ),
    # ------------------------------------------------------------------ silence and refusal
    Case(
        "never-a-byte-while-connecting",
        APITimeoutError,
        ("timed out", f"GET /assistants/{ASSISTANT}", "agent server at <URL>"),
        {f"GET /assistants/{ASSISTANT}": HANG},
        options={"timeout": 0.3},
    ),
    Case(
        "never-a-byte-on-a-stream",
        APITimeoutError,
        ("timed out", "POST /runs/stream"),
        {"POST /runs/stream": HANG},
        stateless_stream,
        options={"timeout": 0.3},
    ),
    Case(
        "headers-then-silence-on-a-stream",
        APITimeoutError,
        ("timed out", "POST /runs/stream"),
        {"POST /runs/stream": sse_reply(META, 5.0, b"event: values\ndata: {}\n\n")},
        stateless_stream,
        options={"timeout": 0.3},
    ),
    Case(
        "only-heartbeats-past-the-idle-timeout",
        APITimeoutError,
        ("no event for 0.3 s", "POST /runs/stream", "heartbeats"),
        {"POST /runs/stream": sse_reply(META, *([b": heartbeat\n\n", 0.1] * 12))},
        stateless_stream,
        options={"stream_idle_timeout": 0.3},
        check=_attributes(final=True),
    ),
    Case(
        "connection-refused",
        APIConnectionError,
        ("connection failed", "ConnectError", f"GET /assistants/{ASSISTANT}", "agent server at <URL>"),
        refused=True,
    ),
    Case(
        "connection-refused-marketplace",
        APIConnectionError,
        ("connection failed", "POST /api/get_graph_info", "marketplace at <URL>"),
        mode="marketplace",
        refused=True,
    ),
    # ------------------------------------------------------------------ direct mode: the assistant lookup
    Case(
        "assistant-lookup-answer-lacks-assistant-id",
        APIResponseError,
        ("assistant_id", f"GET /assistants/{ASSISTANT}"),
        {f"GET /assistants/{ASSISTANT}": json_reply(200, {"graph_id": "g"})},
    ),
    Case(
        "assistant-lookup-answer-is-a-list",
        APIResponseError,
        (f"GET /assistants/{ASSISTANT}",),
        {f"GET /assistants/{ASSISTANT}": json_reply(200, [ASSISTANT])},
    ),
    Case(
        "assistant-search-answer-is-an-object",
        APIResponseError,
        ("POST /assistants/search",),
        {
            f"GET /assistants/{ASSISTANT}": json_reply(404, {"detail": "not found"}),
            "POST /assistants/search": json_reply(200, {"detail": "weird"}),
        },
    ),
    Case(
        "no-such-graph-or-assistant",
        GraphNotFoundError,
        (f"no graph or assistant named {ASSISTANT!r}", "<URL>"),
        {
            f"GET /assistants/{ASSISTANT}": json_reply(404, {"detail": "not found"}),
            "POST /assistants/search": json_reply(200, []),
        },
    ),
    Case(
        "background-run-answer-lacks-run-id",
        APIResponseError,
        ("POST /threads/t1/runs", "run_id"),
        {"POST /threads/t1/runs": json_reply(200, {"status": "pending"})},
        lambda client: client.stream_run("t1", INPUT, is_background=True),
    ),
    Case(
        "run-create-answer-is-a-list",
        APIResponseError,
        ("POST /threads/t1/runs",),
        {"POST /threads/t1/runs": json_reply(200, [{"run_id": "r1"}])},
        lambda client: client.runs.create("t1", INPUT),
    ),
    Case(
        "thread-status-missing",
        APIResponseError,
        ("GET /threads/t1", "status"),
        {"GET /threads/t1": json_reply(200, {"thread_id": "t1"})},
        lambda client: client.get_thread_status("t1"),
    ),
    Case(
        "thread-status-unknown-value",
        APIResponseError,
        ("GET /threads/t1", "frozen"),
        {"GET /threads/t1": json_reply(200, {"thread_id": "t1", "status": "frozen"})},
        lambda client: client.get_thread_status("t1"),
    ),
    Case(
        "update-state-empty-answer",
        APIResponseError,
        ("POST /threads/t1/state",),
        {"POST /threads/t1/state": reply(200)},
        lambda client: client.update_thread_state("t1", {"x": 1}),
    ),
    Case(
        "prune-answer-lacks-pruned-count",
        APIResponseError,
        ("POST /threads/prune", "pruned_count"),
        {"POST /threads/prune": json_reply(200, {"ok": True})},
        lambda client: client.threads.prune(["t1"]),
    ),
    Case(
        "store-search-answer-lacks-items",
        APIResponseError,
        ("POST /store/items/search", "items"),
        {"POST /store/items/search": json_reply(200, [])},
        lambda client: client.store.search_items(["users"]),
    ),
    Case(
        "server-info-answer-is-a-list",
        APIResponseError,
        ("GET /info",),
        {"GET /info": json_reply(200, ["v1"])},
        lambda client: client.server_info(),
    ),
    Case(
        "health-answer-is-a-list",
        APIResponseError,
        ("GET /ok",),
        {"GET /ok": json_reply(200, ["ok"])},
        lambda client: client.health(),
    ),
    # ------------------------------------------------------------------ marketplace answers
    Case(
        "marketplace-graph-url-with-userinfo",
        APIResponseError,
        ("unusable deployment URL", "graph_url", "credentials"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(graph_url="https://bob:hunter2@x.example"))},
        mode="marketplace",
        absent=("hunter2", "bob"),
    ),
    Case(
        "marketplace-graph-url-not-a-url",
        APIResponseError,
        ("unusable deployment URL", "graph_url", "not a url"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(graph_url="not a url"))},
        mode="marketplace",
    ),
    Case(
        "marketplace-graph-url-broken-ipv6",
        APIResponseError,
        ("unusable deployment URL", "graph_url", "not a valid URL"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(graph_url="https://[::1"))},
        mode="marketplace",
    ),
    Case(
        "marketplace-graph-url-ftp",
        APIResponseError,
        ("unusable deployment URL", "http(s) URL", "ftp://x.example"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(graph_url="ftp://x.example"))},
        mode="marketplace",
    ),
    Case(
        "marketplace-graph-url-with-query",
        APIResponseError,
        ("unusable deployment URL", "query or fragment"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(graph_url="https://x.example/?t=1"))},
        mode="marketplace",
    ),
    Case(
        "marketplace-graph-url-plain-http-to-a-remote-host",
        APIResponseError,
        ("graph_url", "plain http", "example.invalid", "allow_insecure_http=True"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(graph_url="http://example.invalid"))},
        mode="marketplace",
    ),
    *(
        Case(
            f"marketplace-answer-lacks-{name}",
            APIResponseError,
            (repr(GRAPH), f"lacks the field {name!r}"),
            {"POST /api/get_graph_info": json_reply(200, {**_graph_info(), name: None})},
            mode="marketplace",
        )
        for name in ("lgraph_api_key", "graph_url", "assistant_id")
    ),
    Case(
        "marketplace-answer-lgraph-api-key-not-a-string",
        APIResponseError,
        (repr(GRAPH), "lacks the field 'lgraph_api_key'"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(lgraph_api_key=12345))},
        mode="marketplace",
    ),
    Case(
        "marketplace-answer-is-a-list",
        APIResponseError,
        ("marketplace answered list instead of an object",),
        {"POST /api/get_graph_info": json_reply(200, [_graph_info()])},
        mode="marketplace",
    ),
    Case(
        "marketplace-answer-configurable-not-an-object",
        APIResponseError,
        ("configurables", "wrong type"),
        {"POST /api/get_graph_info": json_reply(200, _graph_info(configurables={"configurable": [1, 2]}))},
        mode="marketplace",
    ),
    Case(
        "marketplace-answer-not-json",
        APIResponseError,
        ("marketplace answered 200", "POST /api/get_graph_info", "not JSON", "Sign in"),
        {"POST /api/get_graph_info": html_reply(200, "<html><title>Sign in</title></html>")},
        mode="marketplace",
    ),
    Case(
        "marketplace-html-502",
        InternalServerError,
        ("marketplace answered 502 Bad Gateway", "POST /api/get_graph_info", "502 Bad Gateway"),
        {"POST /api/get_graph_info": html_reply(502, PROXY_PAGE)},
        mode="marketplace",
        absent=("<html", "nginx"),
    ),
    Case(
        "marketplace-cross-origin-redirect-refused",
        APIStatusError,
        ("marketplace redirected POST /api/get_graph_info to another origin",),
        {"POST /api/get_graph_info": _other_origin("/elsewhere")},
        mode="marketplace",
        check=_no_request_to("/elsewhere"),
    ),
    Case(
        "marketplace-missing_api_key",
        APIKeyRejectedError,
        ("marketplace", "Missing API key", "missing_api_key"),
        _marketplace_error(401, "missing_api_key", "Missing API key: send 'Authorization: Bearer <key>'."),
        mode="marketplace",
    ),
    Case(
        "marketplace-invalid_api_key",
        APIKeyRejectedError,
        ("marketplace", "Invalid API key.", "invalid_api_key"),
        _marketplace_error(401, "invalid_api_key", "Invalid API key."),
        mode="marketplace",
    ),
    Case(
        "marketplace-missing_graph_name",
        BadRequestError,
        ("marketplace", "must contain 'graph_name'", "missing_graph_name"),
        _marketplace_error(400, "missing_graph_name", "The request body must contain 'graph_name'."),
        mode="marketplace",
    ),
    Case(
        "marketplace-invalid_graph_name",
        BadRequestError,
        ("marketplace", "Invalid graph name", "invalid_graph_name"),
        _marketplace_error(400, "invalid_graph_name", f"Invalid graph name: {GRAPH!r}."),
        mode="marketplace",
    ),
    Case(
        "marketplace-graph_not_found",
        GraphNotFoundError,
        ("marketplace", f"Graph '{GRAPH}' not found.", "graph_not_found"),
        _marketplace_error(404, "graph_not_found", f"Graph '{GRAPH}' not found."),
        mode="marketplace",
        check=_attributes(status_code=404),
    ),
    Case(
        "marketplace-graph_not_purchased",
        GraphNotPurchasedError,
        ("marketplace", "not purchased", "graph_not_purchased"),
        _marketplace_error(403, "graph_not_purchased", f"You have not purchased the graph '{GRAPH}'."),
        mode="marketplace",
        check=_attributes(status_code=403),
    ),
    Case(
        "marketplace-unknown-code-falls-back-to-the-status",
        RateLimitError,
        ("marketplace answered 429", "POST /api/get_graph_info", "Monthly quota used up"),
        _marketplace_error(429, "quota_exceeded", "Monthly quota used up"),
        mode="marketplace",
    ),
]


def client_options(case: Case, url: str) -> dict[str, Any]:
    options: dict[str, Any] = {"max_retries": 0, "timeout": 5.0}
    if case.mode == "direct":
        options.update(graph_name=ASSISTANT, deployment_url=url, deployment_key=DEPLOYMENT_KEY)
    else:
        options.update(graph_name=GRAPH, api_key=USER_KEY, base_url=url)
    options.update(case.options)
    return options


def drive_sync(value: Any) -> Any:
    return value.collect() if isinstance(value, SyncRunStream) else value


async def drive_async(value: Any) -> Any:
    if inspect.isawaitable(value):
        value = await value
    if isinstance(value, AsyncRunStream):
        value = await value.collect()
    return value


def outcome_sync(case: Case, url: str) -> BaseException | None:
    try:
        with SyncLmsystemsClient(**client_options(case, url)) as client:
            if case.call is not None:
                drive_sync(case.call(client))
    except Exception as error:
        return error
    return None


async def outcome_async(case: Case, url: str) -> BaseException | None:
    try:
        async with LmsystemsClient(**client_options(case, url)) as client:
            if case.call is not None:
                await drive_async(case.call(client))
    except Exception as error:
        return error
    return None


def script(case: Case) -> dict[str, RouteValue]:
    table: dict[str, RouteValue] = {}
    if case.mode == "direct":
        table.update(ASSISTANT_OK)
    table.update(case.routes)
    return table


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_answer(case: Case, flavour: str) -> None:
    with start_bad_server(script(case)) as server:
        url = closed_port_url() if case.refused else server.url
        error = outcome_sync(case, url) if flavour == "sync" else asyncio.run(outcome_async(case, url))
    assert error is not None, f"{case.id}: no error was raised"
    assert type(error).__module__ == "lmsystems._exceptions", (
        f"{case.id}: raised {type(error).__module__}.{type(error).__qualname__}: {error!r}"
    )
    assert type(error) is case.expected, f"{case.id}: {type(error).__name__} is not {case.expected.__name__}"
    message = str(error)
    for fragment in case.fragments:
        assert fragment.replace("<URL>", url) in message, f"{fragment!r} not in {message!r}"
    for fragment in case.absent:
        assert fragment not in message, f"{fragment!r} in {message!r}"
    if case.check is not None:
        case.check(error, server)


# ---------------------------------------------------------------------------------------- allowed http


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_plain_http_to_a_remote_host_is_allowed_when_asked(flavour: str) -> None:
    routes = {"POST /api/get_graph_info": json_reply(200, _graph_info(graph_url="http://example.invalid"))}
    options = {"graph_name": GRAPH, "api_key": USER_KEY, "max_retries": 0, "allow_insecure_http": True}
    with start_bad_server(routes) as server:
        if flavour == "sync":
            with SyncLmsystemsClient(base_url=server.url, **options) as client:
                deployment = client.deployment
        else:

            async def connect() -> Any:
                async with LmsystemsClient(base_url=server.url, **options) as client:
                    return client.deployment

            deployment = asyncio.run(connect())
    assert deployment is not None
    assert deployment.url == "http://example.invalid"  # nothing was sent there: resolving only reads it


# ---------------------------------------------------------------------------------------- valid streams

VALUES_EVENTS = [StreamPart("metadata", {"run_id": "r1"}), StreamPart("values", {"text": "héllo ✓ 🚀"})]
VALUES_BYTES = 'event: values\ndata: {"text": "héllo ✓ 🚀"}\n\n'.encode()


def _split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _with_endings(text: bytes, ending: bytes) -> bytes:
    return text.replace(b"\n", ending)


#: id -> (the stream's chunks, the parts expected)
VALID_STREAMS: dict[str, tuple[list[bytes], list[StreamPart]]] = {
    "multibyte-split-byte-by-byte": ([META, *_split_every(VALUES_BYTES, 1)], VALUES_EVENTS),
    "multibyte-split-inside-the-emoji": (
        [
            META,
            VALUES_BYTES[: VALUES_BYTES.index("🚀".encode()) + 2],
            VALUES_BYTES[VALUES_BYTES.index("🚀".encode()) + 2 :],
        ],
        VALUES_EVENTS,
    ),
    "lf": ([META + VALUES_BYTES], VALUES_EVENTS),
    "crlf": ([_with_endings(META + VALUES_BYTES, b"\r\n")], VALUES_EVENTS),
    "cr-only": ([_with_endings(META + VALUES_BYTES, b"\r")], VALUES_EVENTS),
    "crlf-split-between-cr-and-lf": (
        _split_every(_with_endings(META + VALUES_BYTES, b"\r\n"), 7),
        VALUES_EVENTS,
    ),
    "mixed-endings": ([META.replace(b"\n", b"\r", 1) + _with_endings(VALUES_BYTES, b"\r\n")], VALUES_EVENTS),
    "bom-heartbeats-and-multiline-data": (
        [
            b"\xef\xbb",
            b"\xbf: hello\n\n" + META,
            b': heartbeat\n\nevent: values\ndata: {"text":\ndata:  "h\xc3',
            b'\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80"}\n\n',
        ],
        VALUES_EVENTS,
    ),
}


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("name", list(VALID_STREAMS))
def test_valid_stream_decodes(name: str, flavour: str) -> None:
    chunks, expected = VALID_STREAMS[name]
    with start_bad_server({**ASSISTANT_OK, "POST /runs/stream": sse_reply(*chunks, pause=0.002)}) as server:
        options = {
            "graph_name": ASSISTANT,
            "deployment_url": server.url,
            "deployment_key": DEPLOYMENT_KEY,
            "max_retries": 0,
        }
        if flavour == "sync":
            with SyncLmsystemsClient(**options) as client:
                parts = client.stream_run(None, INPUT).collect()
        else:

            async def collect() -> list[StreamPart]:
                async with LmsystemsClient(**options) as client:
                    return await client.stream_run(None, INPUT).collect()

            parts = asyncio.run(collect())
    assert [(part.event, part.data) for part in parts] == [(part.event, part.data) for part in expected]
    assert json.dumps(parts[-1].data, ensure_ascii=False) == '{"text": "héllo ✓ 🚀"}'
