"""`lmsystems dev` as a user runs it: in the folder of a project's langgraph.json, its output read live.

project = copy_test_project(tmp_path)
with DevProcess.start(project) as dev:
    subprocess.run([...], env=dev.user_env())
    dev.wait_for_stderr("POST /threads 200")
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .agent_server import DEPLOYMENT_KEY_ENV_VAR, TEST_AGENT_SERVER_DIR

STARTUP_TIMEOUT = 150.0


def lmsystems_command() -> list[str]:
    """The installed console script (the one a user runs), else the module."""
    script = Path(sys.executable).parent / "lmsystems"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lmsystems.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any LMSYSTEMS_ variable, plain output, wide lines."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LMSYSTEMS_")}
    env.update(NO_COLOR="1", COLUMNS="200", **extra)
    return env


def copy_test_project(target: Path) -> Path:
    """A copy of the test bed's graphs (langgraph.json, auth.py, graphs/) as a project folder of its own."""
    project = target / "project"
    shutil.copytree(TEST_AGENT_SERVER_DIR, project, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    return project


class DevProcess:
    """A running `lmsystems dev`; stdout and stderr are collected line by line as they come."""

    def __init__(self, process: subprocess.Popen[str], project: Path) -> None:
        self.process = process
        self.project = project
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._changed = threading.Condition()
        for stream, lines in ((process.stdout, self.stdout), (process.stderr, self.stderr)):
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True).start()

    @classmethod
    def start(
        cls, project: Path, *args: str, key_env: str | None = DEPLOYMENT_KEY_ENV_VAR, wait: bool = True
    ) -> DevProcess:
        """`lmsystems dev ARGS` in `project`; with `wait`, until it printed its two variables."""
        command = [*lmsystems_command(), "dev", *args]
        if key_env is not None:  # the test bed's auth.py reads the key from this variable
            command += ["--deployment-key-env", key_env]
        process = subprocess.Popen(
            command,
            cwd=project,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        dev = cls(process, project)
        if wait:
            try:
                dev.wait_until(lambda: len(dev.printed()) == 2, STARTUP_TIMEOUT, "the two variables")
            except BaseException:
                dev.kill()
                raise
        return dev

    def _collect(self, stream: object, lines: list[str]) -> None:
        for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
            with self._changed:
                lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not condition()):
                    if self.process.poll() is not None:
                        time.sleep(0.2)  # let the readers take the last lines
                        if condition():
                            return
                    raise AssertionError(f"lmsystems dev: no {what} in time\n{self.transcript()}")
                self._changed.wait(timeout=min(left, 0.5))

    def wait_for_stderr(self, text: str, seconds: float = 30.0, *, after: int = 0) -> str:
        """The first stderr line (from line `after` on) holding `text`."""
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in self.stderr[after:] if text in line]
            return bool(found)

        self.wait_until(seen, seconds, repr(text))
        return found[0]

    def printed(self) -> dict[str, str]:
        """The KEY=VALUE lines printed on stdout."""
        return dict(line.split("=", 1) for line in self.stdout if "=" in line)

    def user_env(self) -> dict[str, str]:
        """The environment of a user who exported the two printed variables."""
        return clean_env(**self.printed())

    def transcript(self) -> str:
        return "--- stdout\n" + "\n".join(self.stdout) + "\n--- stderr\n" + "\n".join(self.stderr)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (as Ctrl-C would stop it), and the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        time.sleep(0.1)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> DevProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.kill()
