"""A graph for thread sessions (the event-streaming protocol): every channel the protocol carries.

``prepare -> chat -> use_tool -> child (subgraph: child_step_one -> child_step_two) -> approve? -> finish``

* ``chat`` streams a reply token by token through ``GenericFakeChatModel`` (``messages``):
  ``"Session reply: <topic>"``.
* ``use_tool`` calls the ``lookup`` tool with ``{"query": topic}`` (``tools``); it answers
  ``"found <query>"``.
* the child nodes write ``{"step": name}`` with the stream writer (``custom``), and ``emit`` more
  ``{"index": i}`` items when the input asks for ``count``; every custom item that has ``"progress"``
  also goes to the named channel ``progress`` (``custom:progress``) through :class:`ProgressTransformer`.
* ``approve`` (only when the input has ``"ask": true``) calls ``interrupt({"question": "Approve?",
  "topic": topic})``; the answer is stored as ``answer``.
* a ``"fail": true`` input makes ``finish`` raise ``ValueError("session graph failed on purpose")``.
* a ``"cut": true`` input makes ``chat``'s model raise ``ConnectionError`` after its first three tokens,
  so the reply message never finishes and the run fails.

``stream_transformers()`` (module level) turns on the ``updates``, ``custom``, ``tools`` and
``custom:progress`` channels for this graph.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt._tool_call_transformer import ToolCallTransformer
from langgraph.stream import CustomTransformer, StreamChannel, StreamTransformer, UpdatesTransformer
from langgraph.types import interrupt

QUESTION = "Approve?"
REPLY_PREFIX = "Session reply:"
ERROR_MESSAGE = "session graph failed on purpose"


class _CutOffModel(GenericFakeChatModel):
    """Streams three tokens of its reply, then fails like a model whose connection broke."""

    async def _astream(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        sent = 0
        async for chunk in super()._astream(*args, **kwargs):
            yield chunk
            sent += 1
            if sent == 3:
                raise ConnectionError("the model's stream was cut off")


class SessionState(MessagesState, total=False):
    topic: str
    count: int
    ask: bool
    fail: bool
    cut: bool
    answer: Any
    trail: Annotated[list[str], operator.add]


class ProgressTransformer(StreamTransformer):
    """Forwards custom items that carry ``"progress"`` to the named channel ``progress``."""

    def __init__(self, scope: tuple[str, ...] = ()) -> None:
        super().__init__(scope)
        self._channel: StreamChannel[Any] = StreamChannel("progress")

    def init(self) -> dict[str, Any]:
        return {"progress": self._channel}

    def process(self, event: Any) -> bool:
        if event["method"] == "custom":
            data = event["params"]["data"]
            if isinstance(data, dict) and "progress" in data:
                self._channel.push(data)
        return True


def stream_transformers() -> list[Any]:
    return [UpdatesTransformer, CustomTransformer, ToolCallTransformer, ProgressTransformer]


@tool
def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


def prepare(state: SessionState) -> dict[str, Any]:
    return {"topic": state.get("topic") or "sessions", "trail": ["prepare"]}


async def chat(state: SessionState, config: RunnableConfig) -> dict[str, Any]:
    model_class = _CutOffModel if state.get("cut") else GenericFakeChatModel
    model = model_class(messages=iter([AIMessage(content=f"{REPLY_PREFIX} {state['topic']}")]))
    response = await model.ainvoke(state.get("messages") or "hi", config)
    return {"messages": [response], "trail": ["chat"]}


async def use_tool(state: SessionState, config: RunnableConfig) -> dict[str, Any]:
    call = {"type": "tool_call", "name": "lookup", "args": {"query": state["topic"]}, "id": "call-lookup-1"}
    result = await lookup.ainvoke(call, config)
    return {"messages": [result], "trail": ["use_tool"]}


def _child_node(name: str, emit: bool):
    def node(state: SessionState) -> dict[str, Any]:
        writer = get_stream_writer()
        writer({"step": name})
        if emit:
            total = int(state.get("count") or 0)
            for index in range(total):
                writer({"index": index, "progress": (index + 1) / total})
        return {"trail": [name]}

    node.__name__ = name
    return node


child_builder = StateGraph(SessionState)
child_builder.add_node("child_step_one", _child_node("child_step_one", emit=True))
child_builder.add_node("child_step_two", _child_node("child_step_two", emit=False))
child_builder.add_edge(START, "child_step_one")
child_builder.add_edge("child_step_one", "child_step_two")
child_builder.add_edge("child_step_two", END)
child_graph = child_builder.compile()


def approve(state: SessionState) -> dict[str, Any]:
    if not state.get("ask"):
        return {"trail": ["approve-skipped"]}
    answer = interrupt({"question": QUESTION, "topic": state["topic"]})
    return {"answer": answer, "trail": ["approve"]}


def finish(state: SessionState) -> dict[str, Any]:
    if state.get("fail") and not state.get("cut"):
        raise ValueError(ERROR_MESSAGE)
    return {"trail": ["finish"]}


builder = StateGraph(SessionState)
builder.add_node("prepare", prepare)
builder.add_node("chat", chat)
builder.add_node("use_tool", use_tool)
builder.add_node("child", child_graph)
builder.add_node("approve", approve)
builder.add_node("finish", finish)
builder.add_edge(START, "prepare")
builder.add_edge("prepare", "chat")
builder.add_edge("chat", "use_tool")
builder.add_edge("use_tool", "child")
builder.add_edge("child", "approve")
builder.add_edge("approve", "finish")
builder.add_edge("finish", END)

graph = builder.compile()
