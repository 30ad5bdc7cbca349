"""(b) validation: requests, answers and server-sent events against our spec's schemas."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from lmsystems._sse import SSEDecoder, SSETruncatedError

from .spec import (
    MAX_ERRORS_PER_BODY,
    MAX_MESSAGE,
    SSE_EVENTS_KEY,
    SSE_MEDIA_TYPE,
    Operation,
    Spec,
    join_pointer,
    json_media,
)


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event."""

    event: str
    data: str
    id: str | None = None

    @property
    def base(self) -> str:
        """The event name before any ``|namespace`` suffix."""
        return self.event.split("|", 1)[0]

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


class SseParser:
    """``text/event-stream`` bytes to SseEvents, with the SDK's own decoder (``lmsystems._sse``)."""

    def __init__(self) -> None:
        self._decoder = SSEDecoder()

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events `chunk` completes."""
        return [SseEvent(event.event, event.data, event.id) for event in self._decoder.feed(chunk)]

    def finish(self) -> list[SseEvent]:
        """At the end of the body: the events left (one cut off before its blank line is dropped)."""
        try:
            return [SseEvent(event.event, event.data, event.id) for event in self._decoder.end()]
        except SSETruncatedError:
            return []

    @classmethod
    def parse(cls, chunks: Iterable[bytes]) -> Iterator[SseEvent]:
        parser = cls()
        for chunk in chunks:
            yield from parser.feed(chunk)
        yield from parser.finish()


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.path), list(map(str, e.path))))
    messages = []
    for error in errors[:MAX_ERRORS_PER_BODY]:
        detail = error
        if error.context:
            detail = best_match(error.context) or error
        messages.append(_describe(detail))
    if len(errors) > MAX_ERRORS_PER_BODY:
        messages.append(f"... and {len(errors) - MAX_ERRORS_PER_BODY} more schema errors")
    return messages


def _describe(error: ValidationError) -> str:
    return f"at {error.json_path}: {shorten(error.message)}"


def check_request(spec: Spec, op: Operation, body: Any) -> list[str]:
    """Problems of a request body that the server accepted, against our request schema."""
    ptr = spec.request_schema(op)
    if ptr is None:
        return [] if body is None else ["sent a JSON body, but the spec declares no JSON request body"]
    return [f"request {m}" for m in _schema_errors(spec.validator(ptr), body)]


def check_response(
    spec: Spec,
    op: Operation,
    status: int,
    content_type: str,
    body: str,
    *,
    events: Sequence[SseEvent] | None = None,
) -> list[str]:
    """Problems of a real answer against our spec: status described, media type, JSON schema, or for
    ``text/event-stream`` each event's JSON ``data`` against ``x-sse-events[<base event name>]``."""
    found = spec.response(op, status)
    if found is None:
        return [f"status {status} is not described (body: {shorten(body, 120)!r})"]
    ptr, response = found
    content = response.get("content") or {}
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    if not content:
        has_body = bool(events) or bool(body.strip())
        return (
            [f"status {status}: the spec declares no body, the server sent {media_type}"] if has_body else []
        )
    if media_type == SSE_MEDIA_TYPE:
        if SSE_MEDIA_TYPE not in content:
            return [f"status {status}: the server streams {SSE_MEDIA_TYPE}, the spec has {sorted(content)}"]
        return _check_events(spec, join_pointer(ptr, "content", SSE_MEDIA_TYPE), status, events or [])
    media = json_media(content)
    if media is None:
        return [f"status {status}: the server sent {media_type or 'no body'}, the spec has {sorted(content)}"]
    if not body.strip():
        return [f"status {status}: the spec declares a {media} body, the server sent none"]
    try:
        instance = json.loads(body)
    except ValueError:
        return [f"status {status}: body is not JSON: {shorten(body, 120)!r}"]
    if "schema" not in content[media]:
        return []
    validator = spec.validator(join_pointer(ptr, "content", media, "schema"))
    return [f"status {status} body {m}" for m in _schema_errors(validator, instance)]


def _check_events(spec: Spec, media_ptr: str, status: int, events: Sequence[SseEvent]) -> list[str]:
    media = spec.node(media_ptr)
    if SSE_EVENTS_KEY not in media:
        return [f"status {status}: {SSE_MEDIA_TYPE} without {SSE_EVENTS_KEY}"]
    events_ptr, schemas = spec.locate(join_pointer(media_ptr, SSE_EVENTS_KEY))
    # One problem per event name (the first failing event), not one per token or step.
    first: dict[str, str] = {}
    failed: dict[str, int] = {}
    total: dict[str, int] = {}
    for event in events:
        total[event.base] = total.get(event.base, 0) + 1
        if event.base not in schemas:
            problem = f"SSE event '{event.base}' has no schema in {SSE_EVENTS_KEY}"
        else:
            try:
                errors = _schema_errors(spec.validator(join_pointer(events_ptr, event.base)), event.json())
            except ValueError:
                errors = [f"is not JSON: {shorten(event.data, 120)!r}"]
            if not errors:
                continue
            problem = f"SSE event '{event.event}' data {errors[0]}"
        first.setdefault(event.base, problem)
        failed[event.base] = failed.get(event.base, 0) + 1
    return [
        problem + (f" ({failed[base]} of {total[base]} '{base}' events fail)" if total[base] > 1 else "")
        for base, problem in first.items()
    ]
