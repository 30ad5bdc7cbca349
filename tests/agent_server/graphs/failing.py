"""A graph whose only node raises ``ValueError`` unless told not to.

Input ``{"fail": bool}`` (default ``True``) and optional ``{"message": str}``. When failing, the error
message is ``"lmsystems test graph failure: <message>"`` (``FAILURE_PREFIX``), default message
``"requested failure"``. With ``{"fail": false}`` the run succeeds with ``{"result": "ok"}``.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

FAILURE_PREFIX = "lmsystems test graph failure:"


class FailingState(TypedDict, total=False):
    fail: bool
    message: str
    result: str


def maybe_fail(state: FailingState) -> dict[str, Any]:
    if state.get("fail", True):
        raise ValueError(f"{FAILURE_PREFIX} {state.get('message') or 'requested failure'}")
    return {"result": "ok"}


builder = StateGraph(FailingState)
builder.add_node("maybe_fail", maybe_fail)
builder.add_edge(START, "maybe_fail")
builder.add_edge("maybe_fail", END)

graph = builder.compile()
