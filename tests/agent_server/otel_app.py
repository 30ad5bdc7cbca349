"""The test bed's Agent Server as a traced deployment runs it: OpenTelemetry's ASGI middleware on every route.

Only `tests/test_tracing.py` uses it, through a copy of `langgraph.json` with `"http": {"app":
".../otel_app.py:app"}` and `OTEL_ENABLED=true`. The middleware continues the trace of a request's
`traceparent` in a server span; the Agent Server then copies that span's context into the run's configurable
(`__otel_traceparent__`) and opens its `worker.stream_run` span below it when the run executes.

Every span the server ends is appended, as one JSON object per line, to the file named by
`LMSYSTEMS_TEST_SPANS` (name, kind, trace and span ids, parent span id, attributes), so a test can read
the server's half of a trace. Nothing is sent over the network.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from starlette.applications import Starlette
from starlette.middleware import Middleware

SPANS_FILE_ENV = "LMSYSTEMS_TEST_SPANS"


class JsonLinesExporter(SpanExporter):
    """Appends each ended span to a file, one JSON object per line."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for span in spans:
            context = span.get_span_context()
            lines.append(
                json.dumps(
                    {
                        "name": span.name,
                        "kind": span.kind.name,
                        "trace_id": f"{context.trace_id:032x}",
                        "span_id": f"{context.span_id:016x}",
                        "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
                        "attributes": dict(span.attributes or {}),
                    },
                    default=list,
                )
            )
        with self._lock, open(self._path, "a", encoding="utf-8") as file:
            file.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(os.environ[SPANS_FILE_ENV])))
trace.set_tracer_provider(provider)

# No span per body chunk ("http send"/"http receive"): a stream sends one chunk per event.
app = Starlette(middleware=[Middleware(OpenTelemetryMiddleware, exclude_spans=["receive", "send"])])
