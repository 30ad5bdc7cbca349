"""Emits ``count`` custom stream events (``stream_mode="custom"``) through ``get_stream_writer()``.

Input ``{"count": N}`` (default 100). Each event is ``{"index": i, "total": N}`` for ``i`` in
``range(N)``; the final state has ``emitted == N``.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

DEFAULT_COUNT = 100


class CustomEventsState(TypedDict, total=False):
    count: int
    emitted: int


def emit(state: CustomEventsState) -> dict[str, Any]:
    requested = state.get("count")
    count = DEFAULT_COUNT if requested is None else int(requested)
    writer = get_stream_writer()
    for index in range(count):
        writer({"index": index, "total": count})
    return {"emitted": count}


builder = StateGraph(CustomEventsState)
builder.add_node("emit", emit)
builder.add_edge(START, "emit")
builder.add_edge("emit", END)

graph = builder.compile()
