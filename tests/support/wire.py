"""HTTP/1.1 on the wire for the tests' hand-written servers (bad_server.py, fault_proxy.py): the parts
that do no I/O, written once."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus


class BadRequestHead(ValueError):
    """The bytes before the blank line are not an HTTP/1.1 request head."""


def parse_request_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]]:
    """(METHOD, target, [(lower-case name, value), ...]) of a request head (without its blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        raise BadRequestHead(f"bad request line {lines[0]!r}") from None
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
    return method.upper(), target, headers


def response_head(status: int, reason: str | None, headers: Iterable[tuple[str, str]]) -> bytes:
    """A response's status line and headers, with the blank line (`reason` None: the standard phrase)."""
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
