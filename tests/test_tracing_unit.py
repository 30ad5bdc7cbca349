"""The pure part of tracing (lmsystems/_tracing.py): names, attributes, headers, errors, switches.

Spans go to opentelemetry-sdk's in-memory exporter (tests/support/otel.py). The end-to-end proof against
the real Agent Server is tests/test_tracing.py.
"""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags
from support.otel import memory_exporter

from lmsystems import APIStatusError, RunError, StreamError
from lmsystems import _tracing as tracing

CANARY = "canary-input-5f1e"  # a value from the input or the output: never in a span


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = memory_exporter()
    exporter.clear()
    return exporter


def test_disabled_by_the_standard_variable() -> None:
    assert not tracing.disabled_by_env({})
    assert not tracing.disabled_by_env({tracing.DISABLED_ENV: "httpx,requests"})
    assert tracing.disabled_by_env({tracing.DISABLED_ENV: "httpx, lmsystems"})
    assert tracing.disabled_by_env({tracing.DISABLED_ENV: "*"})
    assert tracing.Tracing(otel=None).otel is not tracing.disabled_by_env()


@pytest.mark.parametrize(
    ("url", "full", "port"),
    [
        ("https://user:pw@api.example.com/threads?x-api-key=k&q=1#f", "https://api.example.com/threads", 443),
        (
            "http://127.0.0.1:2025/threads/t/runs/stream?stream_mode=values",
            "http://127.0.0.1:2025/threads/t/runs/stream",
            2025,
        ),
        ("http://[::1]:80/ok", "http://[::1]/ok", 80),
    ],
)
def test_url_full_has_no_query_and_no_credentials(url: str, full: str, port: int) -> None:
    parsed = httpx.URL(url)
    assert tracing.full_url(parsed) == full
    assert tracing.server_port(parsed) == port


def test_url_templates_come_from_the_generated_manifest() -> None:
    templates = tracing.url_templates()
    assert templates["join_run_stream"] == "/threads/{thread_id}/runs/{run_id}/stream"
    assert templates["create_thread"] == "/threads"
    assert templates["get_graph_info"] == "/api/get_graph_info"
    assert tracing.request_span_name("GET", templates["get_run"]) == "GET /threads/{thread_id}/runs/{run_id}"
    assert tracing.request_span_name("POST", None) == "POST"


def test_request_attributes_follow_the_http_conventions() -> None:
    url = httpx.URL("http://127.0.0.1:2025/threads/abc/runs/def?stream_mode=values")
    attributes = tracing.request_attributes(
        method="GET", url=url, operation="get_run", attempt=2, template="/threads/{thread_id}/runs/{run_id}"
    )
    assert attributes == {
        "http.request.method": "GET",
        "url.full": "http://127.0.0.1:2025/threads/abc/runs/def",
        "url.template": "/threads/{thread_id}/runs/{run_id}",
        "server.address": "127.0.0.1",
        "server.port": 2025,
        "http.request.resend_count": 2,
        "lmsystems.operation": "get_run",
    }
    first = tracing.request_attributes(method="GET", url=url, operation="get_run", attempt=0, template=None)
    assert "http.request.resend_count" not in first and "url.template" not in first


def test_stream_names_follow_the_genai_conventions() -> None:
    assert tracing.stream_span_name("stream_run", "chat") == "invoke_agent chat"
    assert tracing.stream_span_name("stream_stateless_run", None) == "invoke_agent"
    assert tracing.stream_span_name("join_thread_stream", "chat") == "join_thread_stream"
    assert tracing.stream_attributes(operation="stream_run", graph="chat") == {
        "lmsystems.operation": "stream_run",
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "chat",
    }
    assert tracing.stream_attributes(operation="join_run_stream", graph=None) == {
        "lmsystems.operation": "join_run_stream"
    }


def test_errors_are_described_by_type_and_fields_never_by_message() -> None:
    errors = [
        RunError(f"run r1 failed: ValueError: {CANARY}", error_type="ValueError", run_id="r1"),
        APIStatusError(f"422: {CANARY}", status_code=422, request_id="req-1", body={"detail": CANARY}),
        StreamError(f"broken {CANARY}", events_delivered=7),
        ValueError(CANARY),
    ]
    summaries = [tracing.error_summary(error) for error in errors]
    assert summaries == [
        "RunError error_type=ValueError",
        "APIStatusError status_code=422 request_id=req-1",
        "StreamError events_delivered=7",
        "ValueError",
    ]
    for error in errors:
        assert CANARY not in repr(tracing.error_attributes(error))
    assert tracing.error_attributes(errors[0])["exception.type"] == "lmsystems.RunError"
    assert tracing.error_attributes(errors[3])["exception.type"] == "builtins.ValueError"


def test_baggage_is_joined_not_replaced() -> None:
    carrier = {"baggage": "a=1"}
    tracing.merge_baggage(carrier, {"langsmith-trace": "t", "baggage": "langsmith-project=p"})
    assert carrier == {"baggage": "a=1,langsmith-project=p", "langsmith-trace": "t"}
    empty: dict[str, str] = {}
    tracing.merge_baggage(empty, {"baggage": "b=2"})
    assert empty == {"baggage": "b=2"}


def test_off_means_no_span_and_no_header(spans: InMemorySpanExporter) -> None:
    carrier: dict[str, str] = {}
    off = tracing.Tracing(otel=False)
    trace_ = off.request(
        service="agent server",
        method="GET",
        url=httpx.URL("http://127.0.0.1/ok"),
        operation="ok",
        carrier=carrier,
        attempt=0,
    )
    with trace_:
        trace_.answered(200)
    assert trace_ is tracing.NO_TRACE and carrier == {} and off.stream() is None
    assert spans.get_finished_spans() == ()


def test_a_request_span_carries_its_context_in_the_headers(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("the-application")
    carrier: dict[str, str] = {}
    with tracer.start_as_current_span("app") as app:
        request = tracing.Tracing(otel=True).request(
            service="agent server",
            method="POST",
            url=httpx.URL("http://127.0.0.1:2025/threads"),
            operation="create_thread",
            carrier=carrier,
            attempt=0,
        )
        with request:
            request.answered(200)
    [span, _app] = spans.get_finished_spans()
    assert span.name == "POST /threads" and span.kind is SpanKind.CLIENT
    assert span.parent is not None and span.parent.span_id == app.get_span_context().span_id
    context = span.get_span_context()
    assert (
        carrier["traceparent"]
        == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )
    assert span.attributes is not None and span.attributes["http.response.status_code"] == 200
    assert span.status.status_code is StatusCode.UNSET
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "lmsystems"


def test_a_failed_attempt_is_recorded_once_and_without_message(spans: InMemorySpanExporter) -> None:
    error = APIStatusError(f"503 {CANARY}", status_code=503, request_id="req-9")
    request = tracing.Tracing(otel=True).request(
        service="marketplace",
        method="GET",
        url=httpx.URL("https://api.example.com/api/x?key=secret"),
        operation="x",
        carrier={},
        attempt=1,
    )
    with pytest.raises(APIStatusError), request:
        request.answered(503)
        request.failed(error)
        raise error
    [span] = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "APIStatusError"
    assert [event.name for event in span.events] == ["exception"]
    assert CANARY not in repr(span.to_json()) and "secret" not in repr(span.to_json())


def test_a_stream_span_is_current_only_inside_its_steps(spans: InMemorySpanExporter) -> None:
    on = tracing.Tracing(otel=True, graph="echo")
    with trace.get_tracer("the-application").start_as_current_span("app") as app:
        stream = on.stream()
        assert stream is not None
        requests = []
        for operation, path in [
            ("get_assistant", "/assistants/echo"),
            ("stream_run", "/threads/t1/runs/stream"),
        ]:
            with stream.current():
                assert trace.get_current_span() is stream.span
                with on.request(
                    service="agent server",
                    method="POST",
                    url=httpx.URL(f"http://127.0.0.1:2025{path}"),
                    operation=operation,
                    carrier={},
                    attempt=0,
                ) as request:
                    request.answered(200)
                    requests.append(request)
            assert trace.get_current_span() is app  # between steps, the caller's context is untouched
        left_early = GeneratorExit()
        stream.finish(
            run_id="r1", thread_id="t1", events_delivered=3, reconnects=1, interrupted=False, error=left_early
        )
    resolve, post, stream_span, _app = spans.get_finished_spans()
    assert stream_span.name == "invoke_agent echo"  # named by the request that opened it
    for request_span in (resolve, post):
        assert request_span.parent is not None
        assert request_span.parent.span_id == stream_span.get_span_context().span_id
    assert stream_span.parent is not None and stream_span.parent.span_id == app.get_span_context().span_id
    assert dict(stream_span.attributes or {}) == {
        "lmsystems.operation": "stream_run",
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "echo",
        "gen_ai.conversation.id": "t1",
        "langsmith.thread_id": "t1",
        "langsmith.run_id": "r1",
        "lmsystems.stream.events_delivered": 3,
        "lmsystems.stream.reconnects": 1,
        "lmsystems.stream.interrupted": False,
    }
    assert stream_span.status.status_code is StatusCode.UNSET  # leaving early is no failure


def test_a_stream_that_would_not_be_recorded_gets_no_span_and_no_wrapper(spans: InMemorySpanExporter) -> None:
    unsampled = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(0),
    )
    on = tracing.Tracing(otel=True)
    with trace.use_span(NonRecordingSpan(unsampled)):
        assert on.stream() is None  # the default sampler follows the caller's "not sampled"
        carrier: dict[str, str] = {}
        with on.request(
            service="agent server",
            method="GET",
            url=httpx.URL("http://127.0.0.1:2025/threads/t1"),
            operation="get_thread",
            carrier=carrier,
            attempt=0,
        ):
            pass
    # The caller's (unsampled) trace still travels on.
    assert carrier["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert carrier["traceparent"].endswith("-00")
    assert spans.get_finished_spans() == ()
