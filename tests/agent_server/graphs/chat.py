"""Token streaming graph built on ``GenericFakeChatModel`` (no network, no API key).

One node, ``chatbot``, answers with a deterministic multi-word reply that is streamed token by token
(``stream_mode="messages"`` yields one ``AIMessageChunk`` per word and per whitespace)::

    "Hello from the chat graph! You said: <last human message>"

An optional ``persona`` in ``config["configurable"]`` prefixes the reply with ``"[<persona>] "``, so
tests can check that configurables reach the graph.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph

REPLY_PREFIX = "Hello from the chat graph! You said:"


def reply_for(text: str, persona: str | None = None) -> str:
    reply = f"{REPLY_PREFIX} {text}"
    return f"[{persona}] {reply}" if persona else reply


def _last_human_text(state: MessagesState) -> str:
    for message in reversed(state["messages"]):
        if isinstance(message, HumanMessage):
            return message.text if hasattr(message, "text") else str(message.content)
    return "nothing"


async def chatbot(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
    persona = (config.get("configurable") or {}).get("persona")
    reply = reply_for(_last_human_text(state), persona if isinstance(persona, str) else None)
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    response = await model.ainvoke(state["messages"], config)
    return {"messages": [response]}


builder = StateGraph(MessagesState)
builder.add_node("chatbot", chatbot)
builder.add_edge(START, "chatbot")
builder.add_edge("chatbot", END)

graph = builder.compile()
