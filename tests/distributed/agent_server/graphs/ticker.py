"""Ticks in one node: ``count`` custom events ``{"tick": i, "count": N, "replica": URL, "attempt": A}``,
``seconds`` apart (input ``{"count": int, "seconds": float}``, defaults 20 and 0.2).

``replica`` is the address of the Agent Server replica executing the run and ``attempt`` the run's
attempt (both from the run's config metadata), so a test can tell which replica to kill and see that a
run taken over by another replica starts the node again. The final state has ``ticks == count``.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph


class TickerState(TypedDict, total=False):
    count: int
    seconds: float
    ticks: int


async def tick(state: TickerState, config: RunnableConfig) -> dict[str, Any]:
    count = int(state.get("count") or 20)
    seconds = float(state.get("seconds") or 0.2)
    metadata = config.get("metadata") or {}
    writer = get_stream_writer()
    for index in range(count):
        await asyncio.sleep(seconds)
        writer(
            {
                "tick": index,
                "count": count,
                "replica": metadata.get("langgraph_api_url"),
                "attempt": metadata.get("run_attempt"),
            }
        )
    return {"ticks": count}


builder = StateGraph(TickerState)
builder.add_node("tick", tick)
builder.add_edge(START, "tick")
builder.add_edge("tick", END)

graph = builder.compile()
