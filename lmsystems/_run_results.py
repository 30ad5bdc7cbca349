"""What a run's answers mean, without I/O: its location and its output (a failed run raises RunError)."""

from __future__ import annotations

from typing import Any

from ._interrupts import run_error


def run_location(location: str | None) -> tuple[str | None, str | None]:
    """(thread id, run id) from a `/threads/<thread>/runs/<run>[/...]` location header."""
    parts = (location or "").split("/")
    if len(parts) >= 5 and parts[1] == "threads" and parts[3] == "runs":
        return parts[2] or None, parts[4] or None
    return None, None


def run_output(value: Any, *, run_id: str | None, thread_id: str | None) -> Any:
    """The final values of a run; a failed run (`{"__error__": ...}`) raises RunError."""
    if isinstance(value, dict) and isinstance(value.get("__error__"), dict):
        raise run_error(value["__error__"], run_id=run_id, thread_id=thread_id, body=value)
    return value
