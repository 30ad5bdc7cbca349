"""Tracing end to end, against the real Agent Server.

OpenTelemetry: a server traced as a deployment traces it (`tests/agent_server/otel_app.py`: OpenTelemetry's
ASGI middleware, `OTEL_ENABLED=true`, its spans written to a file) receives our requests' `traceparent`;
the run it creates stores that trace (`__otel_traceparent__` in the run's configurable) and its worker span
(`worker.stream_run`) belongs to the client's trace. Our spans go to opentelemetry-sdk's in-memory
exporter. LangSmith: with `distributed_tracing=True` and a run tree active, the run's configurable holds
the `langsmith-trace` and the baggage's project, tags and metadata; nothing is sent to LangSmith.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langsmith.run_helpers import tracing_context
from langsmith.run_trees import RunTree
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from support.agent_server import (
    TEST_AGENT_SERVER_DIR,
    RunningAgentServer,
    _materialise_config,
    start_agent_server,
)
from support.fault_proxy import JOIN_STREAM, RUN_STREAM, THREAD, Cut, FaultPlan, start_fault_proxy
from support.otel import memory_exporter

import lmsystems._retry
from lmsystems import LmsystemsClient, NotFoundError, PurchasedGraph, RunError, SyncLmsystemsClient
from lmsystems._tracing import DISABLED_ENV

OTEL_APP = TEST_AGENT_SERVER_DIR / "otel_app.py"
SPANS_FILE_ENV = "LMSYSTEMS_TEST_SPANS"
CANARY = "canary-question-7c2d"  # the input; the echo graph returns it as output too
FLAVOURS = ["async", "sync"]
STREAMS = f"(?:{RUN_STREAM})|(?:{JOIN_STREAM})"
SLOW_INPUT = {"seconds": 0.2, "steps": 5}


@dataclass
class TracedServer:
    server: RunningAgentServer
    spans_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    def server_spans(self) -> list[dict[str, Any]]:
        if not self.spans_file.exists():
            return []
        return [json.loads(line) for line in self.spans_file.read_text().splitlines() if line]

    def wait_for_span(self, match: Callable[[dict[str, Any]], bool], seconds: float = 15.0) -> dict[str, Any]:
        """The server's span that `match`es; the server exports a span when it ends, which can be a moment
        after the client read the stream's end."""
        deadline = time.monotonic() + seconds
        while True:
            found = [span for span in self.server_spans() if match(span)]
            if found or time.monotonic() > deadline:
                assert len(found) == 1, f"expected one matching server span, found {found}"
                return found[0]
            time.sleep(0.05)

    def run(self, thread_id: str, run_id: str) -> dict[str, Any]:
        with httpx.Client(base_url=self.url, headers=self.server.headers, timeout=10.0) as http:
            answer: dict[str, Any] = http.get(f"/threads/{thread_id}/runs/{run_id}").json()
            return answer


@pytest.fixture(scope="module")
def traced_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracedServer]:
    """The test bed's graphs on an Agent Server traced with OpenTelemetry (spans to a file)."""
    config_dir = tmp_path_factory.mktemp("traced-agent-server")
    config_file = _materialise_config(TEST_AGENT_SERVER_DIR / "langgraph.json", config_dir)
    config = json.loads(config_file.read_text())
    config["http"] = {"app": f"{OTEL_APP}:app"}
    config_file.write_text(json.dumps(config))
    spans_file = config_dir / "server-spans.jsonl"
    server = start_agent_server(
        config_dir,
        deployment_key=f"lms_test_deployment_{secrets.token_hex(16)}",
        log_path=config_dir / "agent-server.log",
        extra_env={"OTEL_ENABLED": "true", SPANS_FILE_ENV: str(spans_file)},
    )
    try:
        yield TracedServer(server, spans_file)
    finally:
        server.stop()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = memory_exporter()
    exporter.clear()
    return exporter


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lmsystems._retry, "backoff", lambda attempt, rng=None: min(0.05, 0.005 * 2**attempt))


def ours(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The spans lmsystems recorded (not the test's own)."""
    return [
        span
        for span in exporter.get_finished_spans()
        if span.instrumentation_scope is not None and span.instrumentation_scope.name == "lmsystems"
    ]


def named(found: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in found if span.name == name]


def hex_trace(span: Any) -> str:
    return f"{span.get_span_context().trace_id:032x}"


def hex_span(span: Any) -> str:
    return f"{span.get_span_context().span_id:016x}"


def parent_of(span: ReadableSpan) -> str | None:
    return f"{span.parent.span_id:016x}" if span.parent is not None else None


@dataclass
class Outcome:
    thread_id: str
    run_id: str
    parts: list[Any]
    reconnects: int
    error: Exception | None = None


def run_graph(
    flavour: str,
    url: str,
    key: str | None,
    graph: str,
    input: Any,
    *,
    stream_mode: Any = "values",
    before: Callable[[], None] | None = None,
    **options: Any,
) -> Outcome:
    """Create a thread and stream one run of `graph` on it, with a client of the given flavour."""
    if flavour == "async":

        async def go() -> Outcome:
            async with LmsystemsClient(graph, deployment_url=url, deployment_key=key, **options) as client:
                thread = await client.create_thread()
                if before is not None:
                    before()
                stream = client.stream_run(thread=thread, input=input, stream_mode=stream_mode)
                parts: list[Any] = []
                error: Exception | None = None
                try:
                    async with stream:
                        async for part in stream:
                            parts.append(part)
                except Exception as caught:
                    error = caught
                return Outcome(thread["thread_id"], stream.run_id or "", parts, stream.reconnects, error)

        return asyncio.run(go())
    with SyncLmsystemsClient(graph, deployment_url=url, deployment_key=key, **options) as client:
        thread = client.create_thread()
        if before is not None:
            before()
        stream = client.stream_run(thread=thread, input=input, stream_mode=stream_mode)
        parts = []
        error = None
        try:
            with stream:
                parts.extend(stream)
        except Exception as caught:
            error = caught
        return Outcome(thread["thread_id"], stream.run_id or "", parts, stream.reconnects, error)


# ------------------------------------------------------------------------------ OpenTelemetry


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_servers_run_continues_the_clients_trace(
    traced_server: TracedServer, spans: InMemorySpanExporter, flavour: str
) -> None:
    key = traced_server.server.deployment_key
    with trace.get_tracer("the-application").start_as_current_span("app") as app:
        outcome = run_graph(flavour, traced_server.url, key, "echo", {"question": CANARY})
    assert outcome.error is None
    trace_id = hex_trace(app)
    found = ours(spans)
    assert found and all(hex_trace(span) == trace_id for span in found)

    # One span per stream, named after the GenAI conventions, below the application's span ...
    [stream_span] = named(found, "invoke_agent echo")
    assert parent_of(stream_span) == hex_span(app)
    assert stream_span.status.status_code is StatusCode.UNSET
    assert dict(stream_span.attributes or {}) == {
        "lmsystems.operation": "stream_run",
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "echo",
        "gen_ai.conversation.id": outcome.thread_id,
        "langsmith.thread_id": outcome.thread_id,
        "langsmith.run_id": outcome.run_id,
        "lmsystems.stream.events_delivered": len(outcome.parts),
        "lmsystems.stream.reconnects": 0,
        "lmsystems.stream.interrupted": False,
    }
    # ... and one per request: the stream's own below it, the others below the application's span.
    [post] = named(found, "POST /threads/{thread_id}/runs/stream")
    assert parent_of(post) == hex_span(stream_span)
    [create] = named(found, "POST /threads")
    assert parent_of(create) == hex_span(app)
    port = int(traced_server.url.rsplit(":", 1)[1])
    assert dict(post.attributes or {}) == {
        "http.request.method": "POST",
        "url.full": f"{traced_server.url}/threads/{outcome.thread_id}/runs/stream",
        "url.template": "/threads/{thread_id}/runs/stream",
        "server.address": "127.0.0.1",
        "server.port": port,
        "lmsystems.operation": "stream_run",
        "http.response.status_code": 200,
    }

    # The server continued the trace: the run stores it, and the worker's span belongs to it, below the
    # server span of our request, itself below our request's span.
    configurable = traced_server.run(outcome.thread_id, outcome.run_id)["kwargs"]["config"]["configurable"]
    assert configurable["__otel_traceparent__"].split("-")[1] == trace_id
    worker = traced_server.wait_for_span(
        lambda span: (
            span["name"] == "worker.stream_run"
            and span["attributes"].get("langsmith.run_id") == outcome.run_id
        )
    )
    assert worker["trace_id"] == trace_id
    assert worker["attributes"]["langsmith.thread_id"] == outcome.thread_id
    server_request = traced_server.wait_for_span(lambda span: span["span_id"] == worker["parent_id"])
    assert server_request["kind"] == "SERVER" and server_request["parent_id"] == hex_span(post)
    assert configurable["__otel_traceparent__"].split("-")[2] == server_request["span_id"]

    # No key, no input, no output in any of our spans.
    text = "".join(span.to_json() for span in found)
    assert CANARY not in text and str(key) not in text


def test_without_a_current_span_each_call_starts_its_own_trace(
    traced_server: TracedServer, spans: InMemorySpanExporter
) -> None:
    outcome = run_graph("sync", traced_server.url, traced_server.server.deployment_key, "echo", {})
    found = ours(spans)
    [stream_span] = named(found, "invoke_agent echo")
    [post] = named(found, "POST /threads/{thread_id}/runs/stream")
    assert stream_span.parent is None and hex_trace(post) == hex_trace(stream_span)
    configurable = traced_server.run(outcome.thread_id, outcome.run_id)["kwargs"]["config"]["configurable"]
    assert configurable["__otel_traceparent__"].split("-")[1] == hex_trace(stream_span)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_reconnect_is_a_request_span_of_the_same_stream_and_trace(
    traced_server: TracedServer, spans: InMemorySpanExporter, fast_backoff: None, flavour: str
) -> None:
    plan = FaultPlan(seed=0)
    with (
        start_fault_proxy(traced_server.url, plan) as proxy,
        trace.get_tracer("the-application").start_as_current_span("app") as app,
    ):
        outcome = run_graph(
            flavour,
            proxy.url,
            traced_server.server.deployment_key,
            "slow",
            SLOW_INPUT,
            stream_mode=["custom", "values"],
            before=lambda: plan.cut_streams(Cut("drop", after_events=3), path=STREAMS),
        )
    assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
    assert outcome.reconnects == 1 and len(plan.cuts_applied("drop")) == 1
    found = ours(spans)
    [stream_span] = named(found, "invoke_agent slow")
    attributes = stream_span.attributes or {}
    assert attributes["lmsystems.stream.reconnects"] == 1
    assert attributes["lmsystems.stream.events_delivered"] == len(outcome.parts)
    [post] = named(found, "POST /threads/{thread_id}/runs/stream")
    rejoins = named(found, "GET /threads/{thread_id}/runs/{run_id}/stream")
    assert len(rejoins) >= 1  # the reconnect (and, once the run is over, a last read after a clean end)
    for span in (post, *rejoins):
        assert parent_of(span) == hex_span(stream_span) and hex_trace(span) == hex_trace(app)
        assert (span.attributes or {})["http.response.status_code"] == 200
    # The server joined the reconnect to the trace as well.
    rejoin = rejoins[0]
    server_rejoin = traced_server.wait_for_span(lambda span: span["parent_id"] == hex_span(rejoin))
    assert server_rejoin["kind"] == "SERVER" and server_rejoin["trace_id"] == hex_trace(app)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_failed_run_is_recorded_on_the_stream_span(
    traced_server: TracedServer, spans: InMemorySpanExporter, flavour: str
) -> None:
    outcome = run_graph(
        flavour, traced_server.url, traced_server.server.deployment_key, "failing", {"message": CANARY}
    )
    assert isinstance(outcome.error, RunError)
    [stream_span] = named(ours(spans), "invoke_agent failing")
    assert stream_span.status.status_code is StatusCode.ERROR
    assert (stream_span.attributes or {})["error.type"] == "RunError"
    [event] = stream_span.events
    assert event.name == "exception"
    assert dict(event.attributes or {}) == {
        "exception.type": "lmsystems.RunError",
        "exception.message": "RunError error_type=ValueError",
    }
    assert CANARY not in stream_span.to_json()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_error_answer_and_retries_are_request_spans(
    traced_server: TracedServer, spans: InMemorySpanExporter, fast_backoff: None, flavour: str
) -> None:
    missing = str(uuid.uuid4())
    plan = FaultPlan(seed=0).fail(503, times=2, method="GET", path=THREAD, headers={"retry-after": "0"})
    with start_fault_proxy(traced_server.url, plan) as proxy:
        options: dict[str, Any] = {"deployment_url": proxy.url, "max_retries": 2}
        options["deployment_key"] = traced_server.server.deployment_key
        if flavour == "async":

            async def go() -> None:
                async with LmsystemsClient(**options) as client:
                    await client.threads.get(missing)

            with pytest.raises(NotFoundError):
                asyncio.run(go())
        else:
            with SyncLmsystemsClient(**options) as client, pytest.raises(NotFoundError):
                client.threads.get(missing)
    attempts = named(ours(spans), "GET /threads/{thread_id}")
    assert [(span.attributes or {}).get("http.request.resend_count") for span in attempts] == [None, 1, 2]
    assert [(span.attributes or {})["http.response.status_code"] for span in attempts] == [503, 503, 404]
    assert [(span.attributes or {})["error.type"] for span in attempts] == [
        "InternalServerError",
        "InternalServerError",
        "NotFoundError",
    ]
    assert all(span.status.status_code is StatusCode.ERROR for span in attempts)
    assert len({hex_trace(span) for span in attempts}) == 3  # no current span: each attempt on its own


def test_an_interrupted_run_and_its_resume_are_two_streams_of_one_trace(
    traced_server: TracedServer, spans: InMemorySpanExporter
) -> None:
    async def go() -> tuple[bool, bool]:
        async with LmsystemsClient(
            "approval", deployment_url=traced_server.url, deployment_key=traced_server.server.deployment_key
        ) as client:
            thread = await client.create_thread()
            stream = client.stream_run(thread=thread, input={"messages": []}, stream_mode="updates")
            await stream.collect()
            resumed = client.resume(thread, True)
            await resumed.collect()
            return stream.interrupted, resumed.interrupted

    with trace.get_tracer("the-application").start_as_current_span("app") as app:
        interrupted, resumed_interrupted = asyncio.run(go())
    assert interrupted and not resumed_interrupted
    first, second = named(ours(spans), "invoke_agent approval")
    assert (first.attributes or {})["lmsystems.stream.interrupted"] is True
    assert (second.attributes or {})["lmsystems.stream.interrupted"] is False
    assert first.status.status_code is StatusCode.UNSET  # an interrupt is no error
    for span in (first, second):
        assert parent_of(span) == hex_span(app)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_purchased_graphs_run_joins_the_trace(traced_server: TracedServer, flavour: str) -> None:
    """PurchasedGraph runs through LangGraph's RemoteGraph: its requests carry the current context too."""
    with httpx.Client(base_url=traced_server.url, headers=traced_server.server.headers, timeout=10.0) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
    purchased = PurchasedGraph(
        "echo", deployment_url=traced_server.url, deployment_key=traced_server.server.deployment_key
    )
    config: Any = {"configurable": {"thread_id": thread_id}}
    with trace.get_tracer("the-application").start_as_current_span("app") as app:
        if flavour == "sync":
            result = purchased.invoke({"question": CANARY}, config=config)
        else:
            result = asyncio.run(purchased.ainvoke({"question": CANARY}, config=config))
    assert result["echo"]["state"] == {"question": CANARY}
    with httpx.Client(base_url=traced_server.url, headers=traced_server.server.headers, timeout=10.0) as http:
        [run] = http.get(f"/threads/{thread_id}/runs").json()
    traceparent = run["kwargs"]["config"]["configurable"]["__otel_traceparent__"]
    assert traceparent.split("-")[1] == hex_trace(app)


def test_disabled_means_no_span_and_no_trace_context(
    traced_server: TracedServer, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLED_ENV, "httpx,lmsystems")
    with trace.get_tracer("the-application").start_as_current_span("app") as app:
        outcome = run_graph("async", traced_server.url, traced_server.server.deployment_key, "echo", {})
    assert ours(spans) == []
    # The server traced the run in a trace of its own: no traceparent reached it.
    configurable = traced_server.run(outcome.thread_id, outcome.run_id)["kwargs"]["config"]["configurable"]
    assert configurable["__otel_traceparent__"].split("-")[1] != hex_trace(app)


# ------------------------------------------------------------------------------ LangSmith


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every socket connection of the test, refused unless it goes to this machine (so no LangSmith)."""
    seen: list[Any] = []
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> None:
        seen.append(address)
        host = address[0] if isinstance(address, tuple) else ""
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"this test makes no network connection (to {host})")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    return seen


def langsmith_parent() -> RunTree:
    return RunTree(
        name="the-application",
        run_type="chain",
        project_name="lmsystems-tracing-test",
        tags=["tracing", "test"],
        extra={"metadata": {"team": "sdk"}},
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_distributed_tracing_sends_the_langsmith_run_tree(
    agent_server: RunningAgentServer, loopback_only: list[Any], flavour: str
) -> None:
    parent = langsmith_parent()
    with tracing_context(parent=parent, enabled=False):
        outcome = run_graph(
            flavour, agent_server.url, agent_server.deployment_key, "echo", {}, distributed_tracing=True
        )
    assert outcome.error is None
    echoed = outcome.parts[-1].data["echo"]["configurable"]
    assert echoed["langsmith-trace"] == parent.to_headers()["langsmith-trace"]
    assert echoed["langsmith-project"] == "lmsystems-tracing-test"
    with httpx.Client(base_url=agent_server.url, headers=agent_server.headers, timeout=10.0) as http:
        run = http.get(f"/threads/{outcome.thread_id}/runs/{outcome.run_id}").json()
    configurable = run["kwargs"]["config"]["configurable"]
    assert configurable["langsmith-tags"] == ["tracing", "test"]
    assert configurable["langsmith-metadata"] == {"team": "sdk"}
    assert loopback_only  # the guard saw the client's connections


def test_without_distributed_tracing_no_langsmith_header_is_sent(
    agent_server: RunningAgentServer, loopback_only: list[Any]
) -> None:
    with tracing_context(parent=langsmith_parent(), enabled=False):
        outcome = run_graph("sync", agent_server.url, agent_server.deployment_key, "echo", {})
    assert "langsmith-trace" not in outcome.parts[-1].data["echo"]["configurable"]


def test_distributed_tracing_without_a_run_tree_sends_nothing(agent_server: RunningAgentServer) -> None:
    outcome = run_graph(
        "async", agent_server.url, agent_server.deployment_key, "echo", {}, distributed_tracing=True
    )
    assert "langsmith-trace" not in outcome.parts[-1].data["echo"]["configurable"]


def test_purchased_graph_sends_the_langsmith_run_tree(
    agent_server: RunningAgentServer, loopback_only: list[Any]
) -> None:
    purchased = PurchasedGraph(
        "echo",
        deployment_url=agent_server.url,
        deployment_key=agent_server.deployment_key,
        distributed_tracing=True,
    )
    parent = langsmith_parent()
    with tracing_context(parent=parent, enabled=False):
        result = purchased.invoke({"question": "q"})
    echoed = result["echo"]["configurable"]
    assert echoed["langsmith-trace"].startswith(parent.to_headers()["langsmith-trace"])
    assert echoed["langsmith-project"] == "lmsystems-tracing-test"


def test_distributed_tracing_is_checked_before_any_request() -> None:
    with pytest.raises(lmsystems.InputError, match="distributed_tracing"):
        SyncLmsystemsClient(deployment_url="http://127.0.0.1:9", distributed_tracing="yes")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ nothing loaded


IMPORT_PROBE = r"""
import importlib.abc, json, os, sys

attempts = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("opentelemetry", "langsmith"):
            attempts.append(name)
            raise ModuleNotFoundError(f"blocked: {name}")
        return None

if sys.argv[1] == "blocked":
    sys.meta_path.insert(0, Block())

import lmsystems
from lmsystems import SyncLmsystemsClient

where = {"deployment_url": os.environ["URL"], "deployment_key": os.environ["KEY"]}
with SyncLmsystemsClient("echo", **where) as client:
    thread = client.create_thread()
    parts = list(client.stream_run(thread=thread, input={}, stream_mode="values"))
refused = None
if sys.argv[1] == "blocked":
    try:
        SyncLmsystemsClient("echo", distributed_tracing=True, **where)
    except lmsystems.InputError as error:
        refused = str(error)
    attempts.remove("langsmith")  # that look-up was the check itself
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("opentelemetry", "langsmith"))
print(json.dumps({"attempts": attempts, "loaded": loaded, "parts": len(parts), "refused": refused}))
"""


@pytest.mark.parametrize("mode", ["blocked", "installed"])
def test_nothing_of_opentelemetry_or_langsmith_is_loaded_unless_the_application_uses_it(
    agent_server: RunningAgentServer, mode: str
) -> None:
    """`blocked`: the extra is absent (a meta-path finder refuses it); `installed`: present but unused.
    Either way, importing lmsystems, creating a client, a request and a stream load none of it."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, mode],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{root}:{root / 'generated'}",
            "URL": agent_server.url,
            "KEY": str(agent_server.deployment_key),
        },
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    refused = "distributed_tracing=True needs langsmith: pip install langsmith" if mode == "blocked" else None
    assert result == {"attempts": [], "loaded": [], "parts": 2, "refused": refused}
