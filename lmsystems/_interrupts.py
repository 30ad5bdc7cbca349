"""Find pending interrupts in stream parts and thread states, and name runs in messages (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

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
    """`run R on thread T`, or `stateless run R`, for messages."""
    run = f"run {run_id}" if run_id else "a run"
    return f"{run} on thread {thread_id}" if thread_id else f"stateless {run}"
