"""Trace context on every request and stream: OpenTelemetry spans and W3C headers, LangSmith headers.

Pure (no network I/O), shared by both facades. The transport opens a `RequestTrace` around each attempt of
a request, below the current span. A stream opens one `StreamTrace` for its whole life and makes it the
current span only while the stream itself works (`StreamTrace.current()` around each step), so its
connections, reconnects and status checks are request spans below it, and your code between two parts
never sees the stream's context.

Nothing here imports opentelemetry or langsmith unless the application already has: a process that never
imported `opentelemetry.trace` has no span to continue and no tracer provider to record with, and one that
never imported `langsmith` has no run tree, so the check is one dictionary lookup and the packages stay
unloaded (both are optional extras). `OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=lmsystems` turns the
OpenTelemetry part off, as for any instrumentation.

Spans carry no key, no input and no output: the URL loses its query, and an error is recorded by its type
and typed fields (status, request id, the graph's error type), never by its message, which may quote what
the server echoed back.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._exceptions import InputError

if TYPE_CHECKING:
    from typing import Protocol

    class URLParts(Protocol):
        """What a request span reads of a URL (httpx.URL has it)."""

        @property
        def scheme(self) -> str: ...
        @property
        def host(self) -> str: ...
        @property
        def port(self) -> int | None: ...
        @property
        def path(self) -> str: ...


#: The instrumentation's name (the tracer's name, and the name that disables it).
INSTRUMENTATION = "lmsystems"
#: OpenTelemetry's variable listing instrumentations to leave off (comma-separated).
DISABLED_ENV = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
#: The run and thread attributes the Agent Server puts on its own worker span.
RUN_ID = "langsmith.run_id"
THREAD_ID = "langsmith.thread_id"
EVENTS_DELIVERED = "lmsystems.stream.events_delivered"
RECONNECTS = "lmsystems.stream.reconnects"
INTERRUPTED = "lmsystems.stream.interrupted"
#: Stream operations that create a run (their span is a GenAI `invoke_agent` span).
RUN_CREATING = frozenset({"stream_run", "stream_stateless_run", "create_run"})
#: The requests that open a stream: the first of them under a stream's span names that span.
STREAM_OPENING = RUN_CREATING | {"join_run_stream", "join_thread_stream"}


def disabled_by_env(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether OTEL_PYTHON_DISABLED_INSTRUMENTATIONS names lmsystems (or says `*`)."""
    names = {name.strip() for name in environ.get(DISABLED_ENV, "").split(",")}
    return INSTRUMENTATION in names or "*" in names


def full_url(url: URLParts) -> str:
    """`url.full` without query, fragment or credentials: scheme, host, port and path."""
    default = {"http": 80, "https": 443}.get(url.scheme)
    port = f":{url.port}" if url.port is not None and url.port != default else ""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{url.scheme}://{host}{port}{url.path}"


def server_port(url: URLParts) -> int | None:
    """`server.port`: the URL's port, or the scheme's default."""
    return url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)


@functools.cache
def url_templates() -> dict[str, str]:
    """Every generated operation's path template, by operation id (from the generated manifest)."""
    from importlib import resources  # noqa: PLC0415 - only once a span is recorded

    try:
        text = resources.files("lmsystems_generated").joinpath("manifest.json").read_text("utf-8")
        specs = json.loads(text)["specs"]
        return {
            operation["operation_id"]: operation["path"]
            for spec in specs.values()
            for operation in spec["operations"]
        }
    except (OSError, ValueError, KeyError, TypeError, ModuleNotFoundError):
        return {}


def request_span_name(method: str, template: str | None) -> str:
    """`{method} {url.template}` (HTTP semantic conventions), or the method alone."""
    return f"{method} {template}" if template else method


def request_attributes(
    *, method: str, url: URLParts, operation: str, attempt: int, template: str | None
) -> dict[str, str | int]:
    """A request span's attributes, known before it is sent."""
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.full": full_url(url),
        "server.address": url.host,
        "lmsystems.operation": operation,
    }
    port = server_port(url)
    if port is not None:
        attributes["server.port"] = port
    if template:
        attributes["url.template"] = template
    if attempt:
        attributes["http.request.resend_count"] = attempt
    return attributes


def stream_span_name(operation: str, graph: str | None) -> str:
    """A stream's span name: `invoke_agent {graph}` (GenAI conventions) for a new run, else the operation."""
    if operation in RUN_CREATING:
        return f"invoke_agent {graph}" if graph else "invoke_agent"
    return operation


def stream_attributes(*, operation: str, graph: str | None) -> dict[str, str]:
    """A stream span's attributes, known when the request that opens it is sent."""
    attributes = {"lmsystems.operation": operation}
    if operation in RUN_CREATING:
        attributes["gen_ai.operation.name"] = "invoke_agent"
    if graph:
        attributes["gen_ai.agent.name"] = graph
    return attributes


def error_type(error: BaseException) -> str:
    """`error.type`: the exception's class name (ours are all exported from `lmsystems`)."""
    return type(error).__qualname__


def error_summary(error: BaseException) -> str:
    """What a span says about an error: its type and typed fields, never its message."""
    parts = [error_type(error)]
    for field in ("error_type", "status_code", "request_id", "events_delivered"):
        value = getattr(error, field, None)
        if value is not None and not isinstance(value, bool):
            parts.append(f"{field}={value}")
    return " ".join(parts)


def error_attributes(error: BaseException) -> dict[str, str]:
    """The `exception` event's attributes (no message, no stack trace: both may quote data)."""
    module = type(error).__module__
    qualified = (
        f"lmsystems.{error_type(error)}"
        if module.startswith("lmsystems")
        else f"{module}.{error_type(error)}"
    )
    return {"exception.type": qualified, "exception.message": error_summary(error)}


def _ends_quietly(error: BaseException) -> bool:
    """Leaving a stream early, or cancelling, is not a failure of the call."""
    if isinstance(error, GeneratorExit | KeyboardInterrupt):
        return True
    asyncio = sys.modules.get("asyncio")  # without it loaded, nothing was cancelled by it
    return asyncio is not None and isinstance(error, asyncio.CancelledError)


def _otel_trace() -> Any:
    """The `opentelemetry.trace` module if the application loaded it, else None (nothing is imported)."""
    return sys.modules.get("opentelemetry.trace")


@functools.cache
def _otel_context() -> Any:
    from opentelemetry import context  # noqa: PLC0415 - loaded already (see _otel_trace)

    return context


@functools.cache
def _tracer() -> Any:
    from opentelemetry import trace  # noqa: PLC0415 - loaded already (see _otel_trace)

    from . import __version__  # noqa: PLC0415

    return trace.get_tracer(INSTRUMENTATION, __version__)


def _inject(carrier: MutableMapping[str, str], context: Any) -> None:
    """Write the context's trace headers with the application's propagator (W3C by default)."""
    from opentelemetry import propagate  # noqa: PLC0415 - only with opentelemetry loaded

    propagate.inject(carrier, context=context)


def langsmith_headers() -> dict[str, str]:
    """`langsmith-trace` and `baggage` of the active LangSmith run tree (empty when none is active)."""
    if "langsmith" not in sys.modules:  # no run tree can be active without it
        return {}
    from langsmith.run_helpers import get_current_run_tree  # noqa: PLC0415

    run_tree = get_current_run_tree()
    if run_tree is None:
        return {}
    return {key: value for key, value in run_tree.to_headers().items() if value}


def merge_baggage(carrier: MutableMapping[str, str], headers: Mapping[str, str]) -> None:
    """Add `headers` to `carrier`, joining two `baggage` headers with a comma (as RemoteGraph does)."""
    for key, value in headers.items():
        existing = carrier.get(key)
        carrier[key] = f"{existing},{value}" if key == "baggage" and existing else value


class RequestTrace:
    """The span of one attempt of one request (a context manager); records the answer or the failure."""

    __slots__ = ("_recorded", "_span")

    def __init__(self, span: Any) -> None:
        self._span = span
        self._recorded: BaseException | None = None

    def __enter__(self) -> RequestTrace:
        return self

    def retrying(self, error: BaseException) -> None:
        """The attempt failed with `error` and will be retried: record it and end the span now (the wait
        before the next attempt is not part of it)."""
        self.failed(error)
        self.end()

    def end(self) -> None:
        """End the span (once; later calls do nothing)."""
        span, self._span = self._span, None
        if span is not None:
            span.end()

    def answered(self, status_code: int) -> None:
        """The server answered (its headers arrived)."""
        if self._span is not None:
            self._span.set_attribute("http.response.status_code", status_code)

    def failed(self, error: BaseException) -> None:
        """The attempt failed with `error` (ours), retried or not."""
        if self._span is not None and self._recorded is not error:
            self._recorded = error
            record_error(self._span, error)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._span is None:
            return
        if exc is not None and not _ends_quietly(exc):
            self.failed(exc)
        self.end()


#: The trace of a request when nothing traces.
NO_TRACE = RequestTrace(None)
#: The stream whose step is running (set only inside `StreamTrace.current()`).
_STREAM: ContextVar[StreamTrace | None] = ContextVar("lmsystems_stream", default=None)


def record_error(span: Any, error: BaseException) -> None:
    """Status ERROR, `error.type`, and an `exception` event without message or stack trace."""
    from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415 - a span exists, so it is loaded

    span.set_attribute("error.type", error_type(error))
    span.add_event("exception", error_attributes(error))
    span.set_status(Status(StatusCode.ERROR, error_summary(error)))


class StreamTrace:
    """The span of one stream, from its first read to its end; its requests are spans below it."""

    __slots__ = ("context", "graph", "named", "span")

    def __init__(self, span: Any, context: Any, graph: str | None = None) -> None:
        self.span = span
        #: The context with this span current: the parent of the stream's requests.
        self.context = context
        self.graph = graph
        self.named = False

    def enter(self) -> tuple[Any, Any]:
        """Make this stream's span the current one, for one step of the stream; `leave()` undoes it."""
        return _otel_context().attach(self.context), _STREAM.set(self)

    def leave(self, tokens: tuple[Any, Any]) -> None:
        """Restore the context `enter()` replaced."""
        _STREAM.reset(tokens[1])
        _otel_context().detach(tokens[0])

    @contextmanager
    def current(self) -> Iterator[None]:
        """`enter()` and `leave()` as a `with` block."""
        tokens = self.enter()
        try:
            yield
        finally:
            self.leave(tokens)

    def opened(self, operation: str) -> None:
        """The request that opens the stream is sent: name the span after it."""
        self.named = True
        self.span.update_name(stream_span_name(operation, self.graph))
        self.span.set_attributes(stream_attributes(operation=operation, graph=self.graph))

    def finish(
        self,
        *,
        run_id: str | None,
        thread_id: str | None,
        events_delivered: int,
        reconnects: int,
        interrupted: bool,
        error: BaseException | None,
    ) -> None:
        """End the span with what the stream delivered (and its error, if it failed)."""
        span = self.span
        if run_id:
            span.set_attribute(RUN_ID, run_id)
        if thread_id:
            span.set_attribute("gen_ai.conversation.id", thread_id)
            span.set_attribute(THREAD_ID, thread_id)
        span.set_attribute(EVENTS_DELIVERED, events_delivered)
        span.set_attribute(RECONNECTS, reconnects)
        span.set_attribute(INTERRUPTED, interrupted)
        if error is not None and not _ends_quietly(error):
            record_error(span, error)
        span.end()


class Tracing:
    """One client's tracing: OpenTelemetry when the application uses it (and did not disable us), and
    LangSmith's headers with `distributed_tracing=True`."""

    __slots__ = ("graph", "langsmith", "otel")

    def __init__(
        self, *, distributed_tracing: bool = False, graph: str | None = None, otel: bool | None = None
    ) -> None:
        if not isinstance(distributed_tracing, bool):
            raise InputError(f"distributed_tracing must be True or False, not {distributed_tracing!r}")
        if distributed_tracing:
            from importlib.util import find_spec  # noqa: PLC0415 - only when asked for

            try:
                found = find_spec("langsmith") is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                raise InputError("distributed_tracing=True needs langsmith: pip install langsmith")
        #: OpenTelemetry allowed (it is used only once the application has loaded it).
        self.otel = not disabled_by_env() if otel is None else otel
        #: Send LangSmith's `langsmith-trace` and `baggage` headers to the Agent Server.
        self.langsmith = distributed_tracing
        #: The client's graph (`gen_ai.agent.name` of its streams).
        self.graph = graph

    def request(
        self,
        *,
        service: str,
        method: str,
        url: URLParts,
        operation: str,
        carrier: MutableMapping[str, str],
        attempt: int,
    ) -> RequestTrace:
        """Open the span of one attempt, below the current span, and write the trace headers into `carrier`
        (the request's). The first request that opens a stream names the stream's span."""
        trace = _otel_trace() if self.otel else None
        if trace is None:
            if self.langsmith and service == "agent server":
                merge_baggage(carrier, langsmith_headers())
            return NO_TRACE
        stream = _STREAM.get()
        if stream is not None and not stream.named and operation in STREAM_OPENING:
            stream.opened(operation)
        template = url_templates().get(operation)
        span = _tracer().start_span(
            request_span_name(method, template),
            kind=trace.SpanKind.CLIENT,
            attributes=request_attributes(
                method=method, url=url, operation=operation, attempt=attempt, template=template
            ),
        )
        _inject(carrier, trace.set_span_in_context(span))
        if self.langsmith and service == "agent server":  # after: a baggage propagator would replace it
            merge_baggage(carrier, langsmith_headers())
        return RequestTrace(span)

    def propagate(self, carrier: MutableMapping[str, str]) -> None:
        """Write the current trace context into `carrier`, without a span of ours (for requests another
        library sends, such as RemoteGraph's)."""
        trace = _otel_trace() if self.otel else None
        if trace is not None:
            _inject(carrier, None)

    def stream(self) -> StreamTrace | None:
        """Open a stream's span under the current one (None when OpenTelemetry is off or not loaded, or
        when the span would not be recorded: no tracer provider, or not sampled; then the stream's requests
        still carry the current context, and its events pay nothing)."""
        trace = _otel_trace() if self.otel else None
        if trace is None:
            return None
        span = _tracer().start_span("lmsystems.stream", kind=trace.SpanKind.CLIENT)
        if not span.is_recording():
            span.end()
            return None
        return StreamTrace(span, trace.set_span_in_context(span), self.graph)
