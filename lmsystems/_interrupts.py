"""Find pending interrupts in stream parts and thread states, and name runs in messages (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from ._exceptions import RunError

if TYPE_CHECKING:
    from ._types import Interrupt


def interrupts_in_part(event: str, data: Any) -> list[Interrupt] | None:
    """The interrupts a `values` or `updates` part announces (`__interrupt__`), or None if it has none."""
    base = event.split("|", 1)[0]
    if base in ("values", "updates") and isinstance(data, Mapping) and "__interrupt__" in data:
        return _normalise(data["__interrupt__"])
    return None


def interrupts_in_state(state: Mapping[str, Any]) -> list[Interrupt]:
    """The pending interrupts of a thread state (top level, else collected from its tasks)."""
    found = state.get("interrupts")
    if found:
        return _normalise(found)
    collected: list[Interrupt] = []
    for task in state.get("tasks") or []:
        collected.extend(_normalise(task.get("interrupts") or []))
    return collected


def interrupts_in_thread(thread: Mapping[str, Any]) -> list[Interrupt]:
    """The pending interrupts of a thread (its `interrupts` map of task id -> interrupts)."""
    collected: list[Interrupt] = []
    for items in (thread.get("interrupts") or {}).values():
        collected.extend(_normalise(items))
    return collected


def _normalise(items: Any) -> list[Interrupt]:
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        return []
    return [cast("Interrupt", dict(item)) for item in items if isinstance(item, Mapping) and "value" in item]


def describe_run(run_id: str | None, thread_id: str | None) -> str:
    """`run R on thread T`, `a run on thread T`, `stateless run R` or `a stateless run`, for messages."""
    if thread_id:
        return f"run {run_id} on thread {thread_id}" if run_id else f"a run on thread {thread_id}"
    return f"stateless run {run_id}" if run_id else "a stateless run"


def run_error(
    value: Any,
    *,
    run_id: str | None = None,
    thread_id: str | None = None,
    body: Any = None,
    subject: str | None = None,
) -> RunError:
    """The RunError for an `error` event's data (`{"error": type, "message": text}` or anything else);
    the one builder of RunError. `subject` names what failed (default: the run, from its ids).

    The exception's message is capped (see MAX_MESSAGE); the server's message stays whole on
    `error_message`, its data (or `body`, when given) on `body`.
    """
    if isinstance(value, Mapping):
        error_type = str(value.get("error") or "Error")
        message = str(value.get("message") or error_type)
    else:
        error_type, message = "Error", str(value)
    return RunError(
        f"{subject or describe_run(run_id, thread_id)} failed: {error_type[:200]}: {message}",
        error_type=error_type,
        error_message=message,
        run_id=run_id,
        thread_id=thread_id,
        body=value if body is None else body,
    )
