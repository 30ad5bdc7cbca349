"""An interrupt raised inside a subgraph: ``prepare -> review (subgraph: draft -> ask -> apply) -> finish``.

``ask`` (in the ``review`` subgraph) calls ``interrupt({"question": "Publish?", "draft": draft})``; the
answer is stored as ``answer`` and ``apply`` writes ``"published: <draft>"`` (a truthy answer) or
``"kept: <draft>"`` as ``outcome``. The subgraph's nodes append their names to ``steps`` and ``finish``
sets ``finished``: a resumed run ends with ``steps == ["draft", "ask", "apply"]`` (``ask`` re-runs on
resume; its first, interrupted, attempt writes nothing) and ``finished == True``.
Input ``{"topic": str}``; the draft is ``"draft about <topic>"``.
A plain graph (no ``stream_transformers()``): its sessions see lifecycle, values and input.requested.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

QUESTION = "Publish?"


class ReviewState(TypedDict, total=False):
    topic: str
    draft: str
    answer: Any
    outcome: str
    steps: Annotated[list[str], operator.add]
    finished: bool


def prepare(state: ReviewState) -> dict[str, Any]:
    return {"topic": state.get("topic") or "subgraphs"}


def draft(state: ReviewState) -> dict[str, Any]:
    return {"draft": f"draft about {state['topic']}", "steps": ["draft"]}


def ask(state: ReviewState) -> dict[str, Any]:
    answer = interrupt({"question": QUESTION, "draft": state["draft"]})
    return {"answer": answer, "steps": ["ask"]}


def apply(state: ReviewState) -> dict[str, Any]:
    verb = "published" if state.get("answer") else "kept"
    return {"outcome": f"{verb}: {state['draft']}", "steps": ["apply"]}


def finish(state: ReviewState) -> dict[str, Any]:
    return {"finished": True}


review_builder = StateGraph(ReviewState)
review_builder.add_node("draft", draft)
review_builder.add_node("ask", ask)
review_builder.add_node("apply", apply)
review_builder.add_edge(START, "draft")
review_builder.add_edge("draft", "ask")
review_builder.add_edge("ask", "apply")
review_builder.add_edge("apply", END)
review_graph = review_builder.compile()

builder = StateGraph(ReviewState)
builder.add_node("prepare", prepare)
builder.add_node("review", review_graph)
builder.add_node("finish", finish)
builder.add_edge(START, "prepare")
builder.add_edge("prepare", "review")
builder.add_edge("review", "finish")
builder.add_edge("finish", END)

graph = builder.compile()
