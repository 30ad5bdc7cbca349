"""The text of chat tokens in a run's stream (pure): what `StreamPart.text` and `stream.text()` read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["TokenText", "message_text", "token_text"]

_AI_TYPES = frozenset({"ai", "AIMessageChunk", "AIMessage"})


def message_text(message: Any) -> str:
    """A message's text: its string content, or the text blocks of a list content, joined."""
    content = message.get("content") if isinstance(message, Mapping) else None
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        pieces = []
        for block in content:
            if isinstance(block, str):
                pieces.append(block)
            elif isinstance(block, Mapping) and block.get("type") in (None, "text"):
                pieces.append(str(block.get("text", "")))
        return "".join(pieces)
    return ""


def _is_ai(message: Any) -> bool:
    return isinstance(message, Mapping) and message.get("type") in _AI_TYPES


def token_text(event: str, data: Any) -> str | None:
    """The token text of a `messages` (messages-tuple) event from the AI: `data[0]`'s content; else None."""
    if event.split("|", 1)[0] != "messages" or not isinstance(data, Sequence) or not data:
        return None
    chunk = data[0]
    return message_text(chunk) if _is_ai(chunk) else None


class TokenText:
    """The new AI text each part of a stream brings: for `messages-tuple` the chunk's content, for
    `messages` (`messages/partial`, which repeats the text so far) only what is new."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def feed(self, event: str, data: Any) -> str:
        tokens = token_text(event, data)
        if tokens is not None:
            return tokens
        if event.split("|", 1)[0] != "messages/partial" or not isinstance(data, Sequence):
            return ""
        pieces = []
        for message in data:
            if _is_ai(message):
                text = message_text(message)
                key = str(message.get("id"))
                pieces.append(text[self._seen.get(key, 0) :])
                self._seen[key] = len(text)
        return "".join(pieces)
