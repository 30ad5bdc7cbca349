"""Two levels of subgraphs: ``outer`` (a compiled subgraph) runs ``inner`` (a compiled subgraph) whose node
``leaf`` writes ``{"depth": 2}`` and a custom event ``{"node": "leaf"}``.

With ``stream_subgraphs=true`` the leaf's events arrive under two namespaces, e.g.
``updates|outer:<task id>|inner:<task id>``. Input ``{}``; the final ``path`` ends with
``"leaf", "end"`` (each subgraph returns its whole state, so the parent's ``operator.add`` repeats what came
before).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph


class NestedState(TypedDict, total=False):
    path: Annotated[list[str], operator.add]
    depth: int


def leaf(state: NestedState) -> dict[str, Any]:
    get_stream_writer()({"node": "leaf"})
    return {"path": ["leaf"], "depth": 2}


inner_builder = StateGraph(NestedState)
inner_builder.add_node("leaf", leaf)
inner_builder.add_edge(START, "leaf")
inner_builder.add_edge("leaf", END)

outer_builder = StateGraph(NestedState)
outer_builder.add_node("inner", inner_builder.compile())
outer_builder.add_edge(START, "inner")
outer_builder.add_edge("inner", END)


def start(state: NestedState) -> dict[str, Any]:
    return {"path": ["start"]}


def end(state: NestedState) -> dict[str, Any]:
    return {"path": ["end"]}


builder = StateGraph(NestedState)
builder.add_node("start", start)
builder.add_node("outer", outer_builder.compile())
builder.add_node("end", end)
builder.add_edge(START, "start")
builder.add_edge("start", "outer")
builder.add_edge("outer", "end")
builder.add_edge("end", END)

graph = builder.compile()
