"""Parent graph ``prepare -> child -> finish`` where ``child`` is a compiled subgraph
(``child_step_one -> child_step_two``).

Every node appends its name to ``trail``; the child nodes also emit a custom event
``{"node": name}``. With ``stream_subgraphs=true`` the child's events arrive with a namespaced event
name such as ``updates|child:<task id>``.
Input ``{"topic": str}`` (optional). Final ``trail`` is
``["prepare", "child_step_one", "child_step_two", "finish"]``.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph


class SubgraphState(TypedDict, total=False):
    topic: str
    trail: Annotated[list[str], operator.add]


def _child_node(name: str):
    def node(state: SubgraphState) -> dict[str, Any]:
        get_stream_writer()({"node": name})
        return {"trail": [name]}

    node.__name__ = name
    return node


child_builder = StateGraph(SubgraphState)
child_builder.add_node("child_step_one", _child_node("child_step_one"))
child_builder.add_node("child_step_two", _child_node("child_step_two"))
child_builder.add_edge(START, "child_step_one")
child_builder.add_edge("child_step_one", "child_step_two")
child_builder.add_edge("child_step_two", END)
child_graph = child_builder.compile()


def prepare(state: SubgraphState) -> dict[str, Any]:
    return {"topic": state.get("topic") or "subgraphs", "trail": ["prepare"]}


def finish(state: SubgraphState) -> dict[str, Any]:
    return {"trail": ["finish"]}


builder = StateGraph(SubgraphState)
builder.add_node("prepare", prepare)
builder.add_node("child", child_graph)
builder.add_node("finish", finish)
builder.add_edge(START, "prepare")
builder.add_edge("prepare", "child")
builder.add_edge("child", "finish")
builder.add_edge("finish", END)

graph = builder.compile()
