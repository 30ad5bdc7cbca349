"""OpenTelemetry for the tests: one SDK tracer provider per test process, spans kept in memory.

OpenTelemetry lets a process set its global tracer provider once, so the first test that needs spans sets
it and every later one shares it; `memory_exporter()` returns the exporter, which a test clears first.
No pytest imports.
"""

from __future__ import annotations

import functools

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@functools.cache
def memory_exporter() -> InMemorySpanExporter:
    """The exporter of this process's tracer provider (set on first call)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter
