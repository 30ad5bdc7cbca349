"""A run's stream parts, shown to a person: chat tokens as they arrive, a line per node update, the rest
compact. (`--json` shows the parts as they are instead: see _run.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._text import message_text
from .._types import StreamPart
from ._output import Output, compact

ROLE_STYLES = {"ai": "bold cyan", "human": "bold green", "tool": "bold magenta", "system": "bold"}
_ROLES = {"AIMessageChunk": "ai", "HumanMessageChunk": "human", "ToolMessageChunk": "tool"}


def message_role(message: Mapping[str, Any]) -> str:
    kind = str(message.get("type") or message.get("role") or "message")
    return _ROLES.get(kind, kind)


class HumanRenderer:
    """Shows the parts of one or more runs (a run and its resumptions) as they arrive."""

    def __init__(self, output: Output) -> None:
        self._out = output
        self._open: str | None = None  # the message whose tokens are being written on the current line
        self._shown: set[str] = set()  # ids of messages already shown (so node updates do not repeat them)
        # The text written for each message: a node's update may carry a streamed reply again under
        # another id (a node that returns {"role": "assistant", "content": reply} after streaming it).
        self._written: dict[str, str] = {}
        self._partial: dict[str, int] = {}  # messages/partial: characters of each message written so far

    @staticmethod
    def silent(part: StreamPart) -> bool:
        """Whether a part is never shown (metadata)."""
        return part.event.partition("|")[0] in ("metadata", "messages/metadata")

    def show(self, part: StreamPart) -> bool:
        """Show one part; False when there was nothing to show (metadata, an empty chunk)."""
        mode, _, namespace = part.event.partition("|")
        data = part.data
        if self.silent(part):
            return False
        if mode == "messages":  # messages-tuple: [message chunk, metadata]
            message = data[0] if isinstance(data, list) and data else data
            return isinstance(message, Mapping) and self._message(message, final=False)
        if mode in ("messages/partial", "messages/complete"):
            shown = False
            for message in data if isinstance(data, list) else []:
                if isinstance(message, Mapping):
                    shown = self._partial_message(message, final=mode == "messages/complete") or shown
            return shown
        if mode == "updates":
            return self._updates(data, namespace)
        if mode == "values" and isinstance(data, Mapping):
            data = {key: value for key, value in data.items() if key != "__interrupt__"}
        self.end_line()
        self._out.write(f"{mode}: ", style="dim", end="")
        self._out.write(compact(data, 200))
        return True

    def end_line(self) -> None:
        """Finish the line of tokens being written, if any."""
        if self._open is not None:
            self._out.write("")
            self._open = None

    # ------------------------------------------------------------------ messages

    def _prefix(self, message: Mapping[str, Any]) -> None:
        role = message_role(message)
        name = message.get("name")
        label = f"{role} ({name})" if isinstance(name, str) and name else role
        self._out.write(f"{label}: ", style=ROLE_STYLES.get(role, "bold"), end="")

    def _message(self, message: Mapping[str, Any], *, final: bool) -> bool:
        """A chunk (tokens go on the open line) or a whole message (a line of its own)."""
        text = message_text(message)
        message_id = str(message.get("id") or "")
        if message_id:
            self._shown.add(message_id)
        chunk = str(message.get("type", "")).endswith("Chunk")
        if not text:
            if chunk and message.get("chunk_position") == "last" and self._open == message_id:
                self.end_line()
            return False
        if self._open is None or self._open != message_id or not message_id:
            self.end_line()
            self._prefix(message)
            self._open = message_id or "?"
        self._out.write(text, end="")
        key = message_id or "?"
        self._written[key] = self._written.get(key, "") + text
        if final or not chunk or message.get("chunk_position") == "last":
            self.end_line()
        return True

    def _partial_message(self, message: Mapping[str, Any], *, final: bool) -> bool:
        """messages/partial carries the text so far: write what is new."""
        message_id = str(message.get("id") or "")
        text = message_text(message)
        written = self._partial.get(message_id, 0)
        new = text[written:]
        self._partial[message_id] = len(text)
        self._written[message_id or "?"] = text
        if message_id:
            self._shown.add(message_id)
        if new:
            if self._open != message_id or not message_id:
                self.end_line()
                self._prefix(message)
                self._open = message_id or "?"
            self._out.write(new, end="")
        if final:
            self.end_line()
        return bool(new)

    # ------------------------------------------------------------------ updates

    def _updates(self, data: Any, namespace: str) -> bool:
        if not isinstance(data, Mapping):
            return False
        shown = False
        for node, update in data.items():
            if node == "__interrupt__":  # the run's caller shows the question
                continue
            self.end_line()
            fields: list[str] = []
            messages: list[Mapping[str, Any]] = []
            if isinstance(update, Mapping):
                for key, value in update.items():
                    if key == "messages" and isinstance(value, list):
                        messages = [m for m in value if isinstance(m, Mapping)]
                    else:
                        fields.append(f"{key}={compact(value, 60)}")
            elif update is not None:
                fields.append(compact(update, 100))
            where = f" ({namespace})" if namespace else ""
            self._out.write(f"{self._out.tick} {node}{where}", style="bold green", end="")
            self._out.write(("  " + "  ".join(fields)) if fields else "", style="dim")
            for message in messages:
                if not self._seen(message):
                    self._message(message, final=True)
            shown = True
        return shown

    def _seen(self, message: Mapping[str, Any]) -> bool:
        """Whether a node update's message was shown already: by its id, or as a streamed reply."""
        if str(message.get("id") or "") in self._shown:
            return True
        text = message_text(message).strip()
        return bool(text) and any(text == written.strip() for written in self._written.values())
