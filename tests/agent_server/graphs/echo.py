"""Echoes what a run received: its input state and its config's configurable values.

Input: any of ``question``, ``tone`` and ``language`` (strings). The single node ``echo`` sets ``echo`` to
``{"state": {...}, "configurable": {...}}``: the state values it saw (``echo`` itself left out) and the
configurable values set by the caller, that is the string, number and boolean values of
``config["configurable"]`` whose keys the server does not set itself (see ``SERVER_KEYS``; keys starting
with ``__``, ``langgraph_`` or ``x-`` are left out too, so no header, and no key, is ever echoed). It also
emits one custom event ``{"echo": <question>}``.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

SERVER_KEYS = frozenset(
    {"thread_id", "run_id", "assistant_id", "graph_id", "user_id", "checkpoint_id", "checkpoint_ns", "host"}
)
_SERVER_PREFIXES = ("__", "langgraph_", "x-")


class EchoState(TypedDict, total=False):
    question: str
    tone: str
    language: str
    echo: dict[str, Any]


def caller_configurable(config: RunnableConfig) -> dict[str, Any]:
    configurable = config.get("configurable") or {}
    return {
        key: value
        for key, value in configurable.items()
        if isinstance(value, str | int | float | bool)
        and key not in SERVER_KEYS
        and not key.lower().startswith(_SERVER_PREFIXES)
    }


def echo(state: EchoState, config: RunnableConfig) -> dict[str, Any]:
    seen = {key: value for key, value in state.items() if key != "echo"}
    get_stream_writer()({"echo": state.get("question")})
    return {"echo": {"state": seen, "configurable": caller_configurable(config)}}


builder = StateGraph(EchoState)
builder.add_node("echo", echo)
builder.add_edge(START, "echo")
builder.add_edge("echo", END)

graph = builder.compile()
