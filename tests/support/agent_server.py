"""Start and stop a real LangGraph Agent Server (``langgraph dev``, in-memory runtime) for tests and scripts.

No pytest imports here: conftest fixtures and scripts (benchmarks, smoke checks) both use it::

    with start_agent_server(Path("tests/agent_server"), deployment_key="secret") as server:
        httpx.get(f"{server.url}/ok")

The server is started on a free port of 127.0.0.1 in its own session (process group), with tracing,
CLI analytics, the PyPI version check and the browser disabled. ``stop()`` sends SIGTERM to the
group, then SIGKILL after a grace period, and waits.

The process does not run in the config dir itself: ``langgraph dev`` (langgraph-cli 0.4.x) drops the
``disable_persistence`` config key, so the in-memory runtime always pickles its state into
``./.langgraph_api`` and loads it back on the next start. To keep runs isolated (and the source tree
clean), each server gets a private temporary working dir holding a copy of ``langgraph.json`` whose
relative paths (graphs, auth, dependencies, env file, custom app) are rewritten to absolute ones.
That directory is deleted by ``stop()``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = [
    "DEPLOYMENT_KEY_ENV_VAR",
    "TEST_AGENT_SERVER_DIR",
    "AgentServerError",
    "RunningAgentServer",
    "find_free_port",
    "langgraph_command",
    "start_agent_server",
]

#: ``tests/agent_server``: the test bed's ``langgraph.json``, graphs and auth.
TEST_AGENT_SERVER_DIR = Path(__file__).resolve().parent.parent / "agent_server"

#: Environment variable through which ``tests/agent_server/auth.py`` receives the deployment key.
DEPLOYMENT_KEY_ENV_VAR = "LMSYSTEMS_TEST_DEPLOYMENT_KEY"

#: Keep the server offline and quiet.
_QUIET_ENV = {
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGCHAIN_TRACING": "false",
    # langgraph_cli.analytics.log_command posts every CLI command to a Supabase endpoint unless this is 1.
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    # langgraph_api.cli checks PyPI for a newer langgraph-api on start unless this is set.
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    "LOG_COLOR": "false",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
#: Variables that would make the in-memory server talk to LangSmith / a license server.
_DROP_ENV = ("LANGSMITH_CONTROL_PLANE_API_KEY", "LANGGRAPH_CLOUD_LICENSE_KEY", "LANGSMITH_ENDPOINT")

_LOG_TAIL_LINES = 60


class AgentServerError(RuntimeError):
    """The server did not come up (exited early or never answered ``GET /ok``)."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a free TCP port by binding port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def langgraph_command() -> list[str]:
    """The ``langgraph`` CLI of the running interpreter's environment."""
    bindir = Path(sys.executable).parent
    for name in ("langgraph", "langgraph.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [sys.executable, "-m", "langgraph_cli"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel SIGTERM the server when the thread that started it dies (e.g. pytest is
    SIGKILLed), so a crashed test run does not leave an orphan server behind."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def _absolutise(value: str, base: Path) -> str:
    """``./graphs/x.py:graph`` -> ``/abs/graphs/x.py:graph``; module specs (``pkg.mod:obj``) unchanged."""
    path, sep, attr = value.rpartition(":")
    if not sep:
        path = value
    if "/" not in path and not path.endswith((".py", ".js", ".ts")):
        return value
    resolved = Path(path) if Path(path).is_absolute() else (base / path).resolve()
    return f"{resolved}{sep}{attr}"


def _materialise_config(config_file: Path, run_dir: Path) -> Path:
    """Copy ``langgraph.json`` into ``run_dir`` with its relative paths made absolute."""
    base = config_file.parent.resolve()
    config: dict[str, Any] = json.loads(config_file.read_text())
    graphs = config.get("graphs") or {}
    for graph_id, spec in list(graphs.items()):
        if isinstance(spec, str):
            graphs[graph_id] = _absolutise(spec, base)
        elif isinstance(spec, dict) and isinstance(spec.get("path"), str):
            spec["path"] = _absolutise(spec["path"], base)
    auth = config.get("auth")
    if isinstance(auth, dict) and isinstance(auth.get("path"), str):
        auth["path"] = _absolutise(auth["path"], base)
    http = config.get("http")
    if isinstance(http, dict) and isinstance(http.get("app"), str):
        http["app"] = _absolutise(http["app"], base)
    if isinstance(config.get("env"), str):
        config["env"] = str((base / config["env"]).resolve())
    config["dependencies"] = [
        str((base / dep).resolve()) if isinstance(dep, str) and dep.startswith(".") else dep
        for dep in config.get("dependencies", [])
    ]
    target = run_dir / "langgraph.json"
    target.write_text(json.dumps(config, indent=2))
    return target


def _ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class RunningAgentServer:
    """A started ``langgraph dev`` process. Use as a context manager or call :meth:`stop`."""

    url: str
    port: int
    deployment_key: str | None
    log_path: Path
    process: subprocess.Popen[bytes]
    config_dir: Path
    run_dir: Path
    _log_file: Any = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        """Auth headers for the test server's custom auth (``x-api-key``)."""
        return {"x-api-key": self.deployment_key} if self.deployment_key else {}

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return _tail(self.log_path, lines)

    def stop(self, grace: float = 10.0) -> int | None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after ``grace`` s) and wait."""
        try:
            if self.process.poll() is None:
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=grace)
            # Anything the server spawned in its group that outlived it.
            _signal_group(self.process.pid, signal.SIGKILL)
            return self.process.returncode
        finally:
            atexit.unregister(self.stop)
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> RunningAgentServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The server was started with start_new_session=True, so its process group id is its own pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def start_agent_server(
    config_dir: Path,
    *,
    deployment_key: str | None,
    port: int | None = None,
    log_path: Path | None = None,
    config_name: str = "langgraph.json",
    startup_timeout: float = 90.0,
    extra_env: Mapping[str, str] | None = None,
    server_log_level: str = "WARNING",
    n_jobs_per_worker: int = 10,
    die_with_parent: bool = True,
) -> RunningAgentServer:
    """Start ``langgraph dev`` for ``config_dir/config_name`` and wait until ``GET /ok`` answers.

    ``deployment_key`` is handed to the server as ``LMSYSTEMS_TEST_DEPLOYMENT_KEY`` (used by the test
    bed's ``auth.py``). With ``port=None`` a free port is picked (and picked again, up to 3 times, if
    another process grabs it first). ``n_jobs_per_worker`` is how many runs execute at once
    (``langgraph dev`` defaults to 1, which would serialise runs of different threads).
    With ``die_with_parent`` (Linux only) the kernel terminates the server when the *thread* that
    called this function exits, so call it from a thread that outlives the server (the main thread).
    The server is also stopped at interpreter exit if the caller forgot to.
    Raises :class:`AgentServerError` with the tail of the server log when the process exits early or
    does not answer within ``startup_timeout`` seconds.
    """
    attempts = 1 if port else 3
    for attempt in range(attempts):
        try:
            return _start_once(
                config_dir,
                deployment_key=deployment_key,
                port=port or find_free_port(),
                log_path=log_path,
                config_name=config_name,
                startup_timeout=startup_timeout,
                extra_env=extra_env,
                server_log_level=server_log_level,
                n_jobs_per_worker=n_jobs_per_worker,
                die_with_parent=die_with_parent,
            )
        except _PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


class _PortTaken(AgentServerError):
    pass


def _start_once(
    config_dir: Path,
    *,
    deployment_key: str | None,
    port: int,
    log_path: Path | None,
    config_name: str,
    startup_timeout: float,
    extra_env: Mapping[str, str] | None,
    server_log_level: str,
    n_jobs_per_worker: int,
    die_with_parent: bool,
) -> RunningAgentServer:
    config_dir = Path(config_dir).resolve()
    config_file = config_dir / config_name
    if not config_file.is_file():
        raise FileNotFoundError(config_file)
    url = f"http://127.0.0.1:{port}"
    run_dir = Path(tempfile.mkdtemp(prefix="lmsystems-agent-server-"))
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="lmsystems-agent-server-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)

    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(_QUIET_ENV)
    env.pop(DEPLOYMENT_KEY_ENV_VAR, None)
    if deployment_key is not None:
        env[DEPLOYMENT_KEY_ENV_VAR] = deployment_key
    if extra_env:
        env.update(extra_env)

    try:
        config_path = _materialise_config(config_file, run_dir)
        command = [
            *langgraph_command(),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            str(config_path),
            "--server-log-level",
            server_log_level,
            "--n-jobs-per-worker",
            str(n_jobs_per_worker),
        ]
        log_file = log_path.open("ab")
        log_file.write(f"$ {' '.join(command)}\n".encode())
        log_file.flush()
        process = subprocess.Popen(
            command,
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,  # noqa: PLW1509
        )
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise

    server = RunningAgentServer(
        url=url,
        port=port,
        deployment_key=deployment_key,
        log_path=log_path,
        process=process,
        config_dir=config_dir,
        run_dir=run_dir,
        _log_file=log_file,
    )
    atexit.register(server.stop)
    try:
        _wait_until_ready(server, startup_timeout)
    except BaseException:
        server.stop(grace=5.0)
        raise
    return server


def _wait_until_ready(server: RunningAgentServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        code = server.process.poll()
        if code is not None:
            raise AgentServerError(
                f"langgraph dev exited with code {code} before answering {server.url}/ok.\n"
                f"Last lines of {server.log_path}:\n{server.log_tail()}"
            )
        if not announced:
            log = server.log_path.read_text(errors="replace")
            # ``langgraph dev`` silently moves to another port when the requested one is taken; then
            # whatever answers on our port is not our server. It announces the URL it really uses.
            if f"Port {server.port} is already in use" in log:
                raise _PortTaken(f"port {server.port} was taken before langgraph dev could bind it")
            announced = f"://127.0.0.1:{server.port}" in log
        if announced and _ok(server.url):
            return
        if time.monotonic() > deadline:
            raise AgentServerError(
                f"langgraph dev did not answer {server.url}/ok within {timeout:.0f} s.\n"
                f"Last lines of {server.log_path}:\n{server.log_tail()}"
            )
        time.sleep(0.2)
