"""What `lmsystems dev` keeps between sessions, in `.lmsystems/` beside the project's langgraph.json.

`dev.json` (mode 600) holds the local marketplace's API key and port, so a restart (after an edit, a
reboot) keeps `LMSYSTEMS_API_KEY` and `LMSYSTEMS_BASE_URL` valid; `agent-server.log` is the Agent
Server's log of the last session, kept after exit. A `.gitignore` of `*` keeps the folder out of git.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATE_DIR", "DevState", "new_user_key", "open_state"]

STATE_DIR = ".lmsystems"
_KEY = re.compile(r"[A-Za-z0-9_.\-]{8,200}")


def new_user_key() -> str:
    return f"lms_dev_{secrets.token_hex(16)}"


def valid_key(key: str) -> bool:
    """A key fit for an HTTP header and a shell line: 8-200 letters, digits, `_`, `.` or `-`."""
    return _KEY.fullmatch(key) is not None


@dataclass(frozen=True)
class DevState:
    """The `.lmsystems/` folder of one project."""

    directory: Path

    @property
    def log_path(self) -> Path:
        return self.directory / "agent-server.log"

    @property
    def file(self) -> Path:
        return self.directory / "dev.json"

    def load(self) -> tuple[str | None, int | None]:
        """The kept key and marketplace port (None for what is missing or unreadable)."""
        try:
            kept = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None, None
        if not isinstance(kept, dict):
            return None, None
        key, port = kept.get("api_key"), kept.get("marketplace_port")
        return (
            key if isinstance(key, str) and valid_key(key) else None,
            port if isinstance(port, int) and 0 < port < 65536 else None,
        )

    def save(self, key: str, marketplace_port: int) -> None:
        """Keep the key and port, readable by this user only (written whole, never half)."""
        partial = self.file.with_name(f".{self.file.name}.partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"api_key": key, "marketplace_port": marketplace_port}, handle)
        os.replace(partial, self.file)


def open_state(project_dir: Path) -> DevState | None:
    """`project_dir/.lmsystems/`, created (with its .gitignore) if need be; None when it cannot be."""
    directory = project_dir / STATE_DIR
    try:
        directory.mkdir(exist_ok=True)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# lmsystems dev: the local key and the Agent Server's log\n*\n")
    except OSError:
        return None
    return DevState(directory)
