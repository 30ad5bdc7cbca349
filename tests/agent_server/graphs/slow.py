"""Sleeps ``seconds`` per step for ``steps`` steps (one super-step and one checkpoint per step).

Input ``{"seconds": float, "steps": int}`` (defaults 0.5 and 2). Each step emits a custom event
``{"step": i, "steps": N}`` and increments ``completed``. Every step is a separate super-step, so keep
``steps`` below the run's ``recursion_limit`` (25 by default).
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

DEFAULT_SECONDS = 0.5
DEFAULT_STEPS = 2


class SlowState(TypedDict, total=False):
    seconds: float
    steps: int
    completed: int


def _steps(state: SlowState) -> int:
    steps = state.get("steps")
    return DEFAULT_STEPS if steps is None else int(steps)


async def step(state: SlowState) -> dict[str, Any]:
    seconds = state.get("seconds")
    await asyncio.sleep(DEFAULT_SECONDS if seconds is None else float(seconds))
    completed = int(state.get("completed") or 0) + 1
    get_stream_writer()({"step": completed, "steps": _steps(state)})
    return {"completed": completed}


def _next(state: SlowState) -> str:
    return "step" if int(state.get("completed") or 0) < _steps(state) else END


async def start(state: SlowState) -> dict[str, Any]:
    return {"completed": 0}


def _first(state: SlowState) -> str:
    return "step" if _steps(state) > 0 else END


builder = StateGraph(SlowState)
builder.add_node("start", start)
builder.add_node("step", step)
builder.add_edge(START, "start")
builder.add_conditional_edges("start", _first, ["step", END])
builder.add_conditional_edges("step", _next, ["step", END])

graph = builder.compile()
