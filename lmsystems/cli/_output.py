"""Where the CLI writes: results on stdout, messages on stderr; rich on a terminal, plain text in pipes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.json import JSON
from rich.status import Status
from rich.table import Table
from rich.text import Text


def compact(value: Any, limit: int = 100) -> str:
    """A value on one short line: strings as they are, the rest as JSON; cut at `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_line(value: Any) -> str:
    """One JSON document on one line (what `--json` prints per event)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


class Spinner:
    """A spinner on a terminal while nothing has been shown yet; does nothing elsewhere."""

    def __init__(self, console: Console, message: str, *, enabled: bool) -> None:
        self._status: Status | None = (
            Status(Text(message, style="dim"), console=console, spinner="dots") if enabled else None
        )

    def start(self) -> Spinner:
        if self._status is not None:
            self._status.start()
        return self

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class Output:
    """The CLI's two streams.

    stdout carries results (tokens, updates, tables, JSON lines); stderr carries everything said about
    them (the thread id, the question of an interrupt in `--json` mode, errors). Colours and spinners
    appear only on a terminal; lines are never wrapped (pipes get whole lines).
    """

    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.out = Console(soft_wrap=True, highlight=False, emoji=False)
        self.err = Console(stderr=True, soft_wrap=True, highlight=False, emoji=False)

    @property
    def tty(self) -> bool:
        """Whether stdout is a terminal."""
        return self.out.is_terminal

    @property
    def tick(self) -> str:
        """A check mark, when the terminal can show one."""
        return "✓" if self.out.encoding.lower().startswith("utf") else "*"

    def json(self, value: Any) -> None:
        """One JSON object on one line of stdout."""
        typer.echo(json_line(value))

    def write(self, text: str, *, style: str | None = None, end: str = "\n") -> None:
        """Text on stdout, taken literally (no markup)."""
        self.out.print(Text(text, style=style or ""), end=end)

    def note(self, text: str, *, style: str = "dim") -> None:
        """A line about the results, on stderr."""
        self.err.print(Text(text, style=style))

    def spinner(self, message: str) -> Spinner:
        """A started spinner on stdout (only on a terminal, and never in `--json` mode)."""
        return Spinner(self.out, message, enabled=self.tty and not self.json_mode).start()

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table: drawn by rich on a terminal, tab-separated lines with a header elsewhere."""
        if self.tty:
            table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for column in columns:
                table.add_column(column, overflow="fold")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            self.out.print(table)
        else:
            for row in (columns, *rows):
                typer.echo("\t".join(row))

    def document(self, value: Any, *, title: str | None = None) -> None:
        """A JSON document, pretty: highlighted on a terminal, indented text elsewhere."""
        if title:
            self.write(title, style="bold")
        text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
        if self.tty:
            self.out.print(JSON(text))
        else:
            typer.echo(text)
