"""Talks in turns: ``turns`` AI replies of ``words`` words each, streamed one character (token) at a time,
``seconds`` apart, after waiting ``wait`` seconds (input ``{"turns": int, "words": int, "seconds": float,
"wait": float}``, defaults 3, 8, 0.02 and 0).

Every turn is a step of its own, so the run's stored ``updates`` (and ``values``) events stand between
the token streams of two turns. The reply of turn ``t`` is ``"t<t> w0 w1 ..."``, so a test knows every
token the run streams.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph


class TalkerState(MessagesState, total=False):
    turns: int
    words: int
    seconds: float
    wait: float
    turn: int


def reply(turn: int, words: int) -> str:
    return " ".join([f"t{turn}", *(f"w{index}" for index in range(words))])


async def speak(state: TalkerState, config: RunnableConfig) -> dict[str, Any]:
    turn = int(state.get("turn") or 0)
    if turn == 0 and state.get("wait"):
        await asyncio.sleep(float(state.get("wait") or 0))
    text = reply(turn, int(state.get("words") or 8))
    model = FakeListChatModel(responses=[text], sleep=float(state.get("seconds") or 0.02))
    message = await model.ainvoke(state.get("messages") or [], config)
    return {"messages": [message], "turn": turn + 1}


def again(state: TalkerState) -> str:
    return "speak" if int(state.get("turn") or 0) < int(state.get("turns") or 3) else END


builder = StateGraph(TalkerState)
builder.add_node("speak", speak)
builder.add_edge(START, "speak")
builder.add_conditional_edges("speak", again, ["speak", END])

graph = builder.compile()
