"""Human-in-the-loop graph: ``draft -> human_interaction -> finalize``.

``human_interaction`` calls :func:`langgraph.types.interrupt` with a payload whose ``question`` is
``"Approve?"``. Both resume flows work:

* ``Command(resume=VALUE)``: the node re-runs, ``interrupt`` returns VALUE, which is turned into the
  ``accepted`` flag (``True``/``False``, ``"yes"``/``"no"``, or ``{"accepted": bool}``).
* ``update_state(values={"accepted": bool}, as_node="human_interaction")`` followed by a run with
  ``input=None`` from the returned checkpoint: the update counts as the human node's output, so the
  next node is ``finalize``.

``draft`` stores the first human message (or ``"the default action"``) as ``proposal``.
``finalize`` reads ``accepted`` and appends an AI message ``"Approved: ..."`` or ``"Rejected: ..."``
and sets ``outcome`` to ``"approved"`` or ``"rejected"``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt

QUESTION = "Approve?"
_YES = {"y", "yes", "true", "1", "ok", "approve", "approved", "accept", "accepted"}


class ApprovalState(MessagesState, total=False):
    proposal: str
    accepted: bool
    outcome: str


def _proposal(state: ApprovalState) -> str:
    if state.get("proposal"):
        return state["proposal"]
    for message in state.get("messages", []):
        if isinstance(message, HumanMessage) and isinstance(message.content, str):
            return message.content
    return "the default action"


def _to_bool(value: Any) -> bool:
    if isinstance(value, dict):
        for key in ("accepted", "approved", "approve", "accept"):
            if key in value:
                return _to_bool(value[key])
        return False
    if isinstance(value, str):
        return value.strip().lower() in _YES
    return bool(value)


def draft(state: ApprovalState) -> dict[str, Any]:
    proposal = _proposal(state)
    return {"proposal": proposal, "messages": [AIMessage(content=f"Proposal: {proposal}", name="drafter")]}


def human_interaction(state: ApprovalState) -> dict[str, Any]:
    answer = interrupt({"question": QUESTION, "proposal": _proposal(state)})
    accepted = _to_bool(answer)
    return {
        "accepted": accepted,
        "messages": [HumanMessage(content="yes" if accepted else "no", name="human")],
    }


def finalize(state: ApprovalState) -> dict[str, Any]:
    accepted = bool(state.get("accepted", False))
    verdict = "Approved" if accepted else "Rejected"
    return {
        "outcome": verdict.lower(),
        "messages": [AIMessage(content=f"{verdict}: {_proposal(state)}", name="finalizer")],
    }


builder = StateGraph(ApprovalState)
builder.add_node("draft", draft)
builder.add_node("human_interaction", human_interaction)
builder.add_node("finalize", finalize)
builder.add_edge(START, "draft")
builder.add_edge("draft", "human_interaction")
builder.add_edge("human_interaction", "finalize")
builder.add_edge("finalize", END)

graph = builder.compile()
