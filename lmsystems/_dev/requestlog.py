"""The request log of `lmsystems dev`: the Agent Server's access-log lines, read from its log file.

The Agent Server (langgraph-api) logs every request as `METHOD PATH STATUS <n>ms` (without the keys: it
leaves `x-api-key` and `authorization` out); `parse_request` picks those lines out of its log, and
`LogFollower` reads the lines a log file gained since the last look. Pure except for reading the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LogFollower", "RequestLine", "parse_request"]

_REQUEST = re.compile(
    r"\b(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?P<path>/\S*) (?P<status>\d{3}) (?P<ms>\d+)ms\b"
)
#: Requests the log leaves out: the readiness probe and the Studio's polling.
_QUIET_PATHS = ("/ok", "/info", "/metrics")


@dataclass(frozen=True)
class RequestLine:
    """One request the Agent Server answered."""

    method: str
    path: str
    status: int
    milliseconds: int

    def __str__(self) -> str:
        return f"{self.method:<6} {self.path} {self.status} {self.milliseconds} ms"


def parse_request(line: str) -> RequestLine | None:
    """The request an Agent Server log line records, or None (another line, or a probe like `/ok`)."""
    found = _REQUEST.search(line)
    if found is None or found["path"].split("?")[0] in _QUIET_PATHS:
        return None
    return RequestLine(found["method"], found["path"], int(found["status"]), int(found["ms"]))


class LogFollower:
    """The complete lines a growing file gained since the last call (a partial last line waits)."""

    def __init__(self, path: Path, *, max_bytes: int = 1 << 20) -> None:
        self._path = path
        self._offset = 0
        self._partial = b""
        self._max_bytes = max_bytes

    def new_lines(self) -> list[str]:
        try:
            with self._path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read(self._max_bytes)
        except OSError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self._max_bytes:  # a line without an end: never buffer without bound
            self._partial = b""
        return [line.decode("utf-8", errors="replace") for line in lines]
