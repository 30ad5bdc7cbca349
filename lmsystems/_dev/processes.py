"""Child processes started in their own session (process group): stop them whole, read their log.

`lmsystems dev`'s Agent Server and the test bed's services (Postgres, Redis, replicas) are started with
`start_new_session=True`, so the group id is the child's pid: signalling the group reaches whatever the
child started (the reloader's worker, a server's workers) too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["answers_ok", "kill_group", "log_tail", "signal_group", "stop_group", "wait_group_gone"]


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group `pid` (nothing when it is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_group_gone(pgid: int, timeout: float) -> None:
    """Wait (bounded) until no process of the group is left, so its ports and files are free."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)


def kill_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGKILL the process's group and reap the process (waiting at most `timeout` s)."""
    signal_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


def stop_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> int | None:
    """SIGTERM the process's group, SIGKILL after `grace` s; then whatever is left of the group, and wait
    (bounded) until none of it is left. Returns the process's exit code."""
    if process.poll() is None:
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill_group(process, grace)
    signal_group(process.pid, signal.SIGKILL)  # anything of the group that outlived the process
    wait_group_gone(process.pid, grace)
    return process.returncode


def log_tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a log file (a note instead when it cannot be read)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def answers_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether an Agent Server at `url` answers `GET /ok` with 200."""
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
