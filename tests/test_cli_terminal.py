"""`lmsystems run` in a real terminal: tmux gives it a pseudo-terminal, we read the screen and type.

Each scenario runs in its own tmux session on a private tmux server (`tmux -L <unique socket>`), all at
once; a small shell wrapper writes the command's exit code to a file. The server is killed at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.marketplace import MarketplaceFixture
from test_cli import LMSYSTEMS, clean_env

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
APPROVAL_INPUT = json.dumps({"messages": [{"role": "user", "content": "Ship the release"}]})

# tmux is part of the machine image (Debian's package); without it these tests fail, they do not skip.
assert os.access(TMUX, os.X_OK), "the terminal tests drive a real terminal with tmux: apt-get install tmux"


class Terminal:
    """A private tmux server; each session is one terminal running one command."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.socket = f"lmsystems-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.config = workdir / "tmux.conf"
        # Keep a pane (and its screen) after its command exits, so the end can be read.
        self.config.write_text("set -g remain-on-exit on\nset -g history-limit 5000\n")
        self.socket_path: Path | None = None

    def tmux(self, *args: str) -> str:
        completed = subprocess.run(
            [TMUX, "-L", self.socket, "-f", str(self.config), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return completed.stdout

    def start(self, name: str, *args: str, stdout: Path | None = None) -> Path:
        """Run `lmsystems ARGS` in a new 120x40 terminal (stdout to a file, if given); return the file
        its exit code will be written to."""
        exit_file = self.workdir / f"{name}.exit"
        script = self.workdir / f"{name}.sh"
        redirect = f" > {shlex.quote(str(stdout))}" if stdout is not None else ""
        # The trap keeps the shell alive through Ctrl-C (the command itself gets the default handler).
        script.write_text(
            f"trap true INT\n{shlex.join([*LMSYSTEMS, *args])}{redirect}\n"
            f"echo $? > {shlex.quote(str(exit_file))}\n"
        )
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", name, f"sh {shlex.quote(str(script))}")
        if self.socket_path is None:
            self.socket_path = Path(self.tmux("display-message", "-p", "-t", name, "#{socket_path}").strip())
        return exit_file

    def screen(self, name: str) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", name)

    def wait_for(self, name: str, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(name)
            if text in screen:
                return screen
            assert time.monotonic() < deadline, f"{text!r} never showed in {name}:\n{screen}"
            time.sleep(0.05)

    def send(self, name: str, *keys: str) -> None:
        self.tmux("send-keys", "-t", name, *keys)

    def exit_code(self, exit_file: Path, name: str, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while not exit_file.exists() or not exit_file.read_text().strip():
            assert time.monotonic() < deadline, f"{name} did not finish:\n{self.screen(name)}"
            time.sleep(0.05)
        return int(exit_file.read_text())

    def kill(self) -> None:
        subprocess.run([TMUX, "-L", self.socket, "kill-server"], capture_output=True, check=False, timeout=10)
        if self.socket_path is not None:  # tmux leaves its socket file behind
            self.socket_path.unlink(missing_ok=True)


@pytest.fixture
def terminal(marketplace: MarketplaceFixture, tmp_path: Path) -> Iterator[Terminal]:
    env = clean_env(
        LMSYSTEMS_BASE_URL=marketplace.url, LMSYSTEMS_API_KEY=marketplace.user_key, TERM="xterm-256color"
    )
    env.pop("NO_COLOR")
    env.pop("COLUMNS")
    term = Terminal(tmp_path, env)
    try:
        yield term
    finally:
        term.kill()


def test_the_interrupt_prompt_in_a_real_terminal(terminal: Terminal) -> None:
    run = ("run", "approval-graph", "--input", APPROVAL_INPUT)
    approve = terminal.start("approve", *run)
    reject = terminal.start("reject", *run)
    leave = terminal.start("leave", *run)
    slow = terminal.start("slow", "run", "slow-graph", "--input", '{"seconds": 1.5, "steps": 1}')
    cancel = terminal.start("cancel", "run", "slow-graph", "--input", '{"seconds": 5, "steps": 1}')
    transcript = terminal.workdir / "transcript.txt"
    redirected = terminal.start("redirected", *run, stdout=transcript)

    # A spinner while nothing has arrived yet (only on a terminal); it leaves no trace.
    terminal.wait_for("slow", "waiting for the graph")

    # Ctrl-C stops following the run (which goes on on the server): exit code 130, no traceback.
    terminal.wait_for("cancel", "waiting for the graph")
    terminal.send("cancel", "C-c")

    # The question, then the prompt; nothing of the rest of the run yet.
    screen = terminal.wait_for("approve", "answer> ")
    assert "ai (drafter): Proposal: Ship the release" in screen
    assert "? Approve?\n  proposal: Ship the release\nanswer> " in screen
    assert "finalize" not in screen
    terminal.send("approve", "yes", "Enter")

    # An empty answer asks again; the answer is read as JSON when it parses.
    terminal.wait_for("reject", "answer> ")
    terminal.send("reject", "Enter")
    terminal.wait_for("reject", "answer> \nanswer> ")
    terminal.send("reject", '{"accepted": false}', "Enter")

    # With stdout redirected, the question and the prompt come where the person looks (stderr).
    screen = terminal.wait_for("redirected", "answer> ")
    assert "? Approve?" in screen
    terminal.send("redirected", "no", "Enter")

    # Ctrl-D at the prompt leaves the interrupt pending: exit code 3, and how to answer it later.
    terminal.wait_for("leave", "answer> ")
    terminal.send("leave", "C-d")

    assert terminal.exit_code(approve, "approve") == 0
    screen = terminal.screen("approve")
    assert "answer> yes\nhuman (human): yes\n✓ human_interaction  accepted=true" in screen, screen
    assert "ai (finalizer): Approved: Ship the release" in screen
    assert "✓ finalize  outcome=approved" in screen

    assert terminal.exit_code(reject, "reject") == 0
    assert "ai (finalizer): Rejected: Ship the release" in terminal.screen("reject")

    assert terminal.exit_code(leave, "leave") == 3
    screen = terminal.screen("leave")
    assert "the run waits for an answer on thread " in screen
    assert "--resume VALUE" in screen

    assert terminal.exit_code(redirected, "redirected") == 0
    assert "ai (finalizer): Rejected: Ship the release" in transcript.read_text()
    assert "answer>" not in transcript.read_text()

    assert terminal.exit_code(cancel, "cancel") == 130
    screen = terminal.screen("cancel")
    assert "stopped following the run; it goes on on the server (thread " in screen
    assert "Traceback" not in screen

    assert terminal.exit_code(slow, "slow") == 0
    screen = terminal.screen("slow")
    assert "✓ slow" in screen or "completed=1" in screen
    assert "waiting for the graph" not in screen
