"""A stand-in for the deep-research graph of lmsystems 1.0.8's README (`groq-deep-research-agent-51`).

Input: ``research_topic``. The single node ``research`` streams a short report token by token through
``GenericFakeChatModel`` (no network) and sets ``report`` to ``"Report on <topic> (llm: <llm>)"``, where
``<llm>`` is ``config["configurable"]["llm"]`` (``"none"`` when unset or empty), and ``research_topic`` to
``"<topic> [researched]"``, so a caller can see that its input and its configurable values arrived.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class ResearchState(TypedDict, total=False):
    research_topic: str
    report: str
    messages: Annotated[list[AnyMessage], add_messages]


async def research(state: ResearchState, config: RunnableConfig) -> dict[str, Any]:
    topic = state.get("research_topic") or ""
    llm = (config.get("configurable") or {}).get("llm") or "none"
    report = f"Report on {topic} (llm: {llm})"
    model = GenericFakeChatModel(messages=iter([AIMessage(content=report)]))
    answer = await model.ainvoke([HumanMessage(content=topic)], config)
    return {"messages": [answer], "report": report, "research_topic": f"{topic} [researched]"}


builder = StateGraph(ResearchState)
builder.add_node("research", research)
builder.add_edge(START, "research")
builder.add_edge("research", END)

graph = builder.compile()
