"""Start and stop a real LangGraph Agent Server (`langgraph dev`, in-memory runtime).

    with start_agent_server(Path("langgraph.json"), deployment_key="secret") as server:
        httpx.get(f"{server.url}/ok")

The server is started on a free port of 127.0.0.1 in its own session (process group), with tracing, CLI
analytics, the PyPI version check and the browser disabled. `stop()` sends SIGTERM to the group, then
SIGKILL after a grace period, and waits. The deployment key reaches the server in an environment
variable (`LMSYSTEMS_DEPLOYMENT_KEY` unless told otherwise), where a custom auth handler of the graphs
(`auth` in langgraph.json) can check the `x-api-key` header against it.

The process does not run in the config's directory: `langgraph dev` (langgraph-cli 0.4.x) drops the
`disable_persistence` config key, so the in-memory runtime pickles its state into `./.langgraph_api` and
loads it back on the next start. To keep sessions isolated (and the source tree clean), each server gets
a private temporary working directory holding a copy of `langgraph.json` whose relative paths (graphs,
auth, dependencies, env file, custom app) are made absolute. `stop()` deletes that directory.

Needs the `dev` extra (langgraph-cli with its in-memory runtime).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .._exceptions import InputError, LmsystemsError
from ._extras import require
from .processes import answers_ok, log_tail, stop_group

__all__ = [
    "DEPLOYMENT_KEY_ENV",
    "AgentServerError",
    "RunningAgentServer",
    "find_free_port",
    "graph_ids",
    "langgraph_command",
    "start_agent_server",
]

logger = logging.getLogger("lmsystems")

#: The environment variable through which the server receives its deployment key, by default.
DEPLOYMENT_KEY_ENV = "LMSYSTEMS_DEPLOYMENT_KEY"

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


class AgentServerError(LmsystemsError, RuntimeError):
    """The server did not come up (exited early or never answered `GET /ok`), or it died."""


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a free TCP port by binding port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def langgraph_command() -> list[str]:
    """The `langgraph` CLI of the running interpreter's environment."""
    require("langgraph_cli", "langgraph_api", extra="dev", purpose="the local Agent Server")
    bindir = Path(sys.executable).parent
    for name in ("langgraph", "langgraph.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [sys.executable, "-m", "langgraph_cli"]


def read_config(config_file: Path) -> dict[str, Any]:
    """The parsed langgraph.json; InputError when it is missing or not a JSON object."""
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise InputError(f"no such config file: {config_file}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {config_file}: {error}") from None
    except ValueError as error:
        raise InputError(f"{config_file} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise InputError(f"{config_file} must hold a JSON object")
    return config


def graph_ids(config_file: Path) -> list[str]:
    """The graph ids a langgraph.json serves (the keys of its `graphs`)."""
    graphs = read_config(config_file).get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        raise InputError(f'{config_file} names no graphs: it needs a non-empty "graphs" object')
    return [str(graph_id) for graph_id in graphs]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: have the kernel SIGTERM the server when the thread that started it dies (e.g. the parent is
    SIGKILLed), so a crashed parent does not leave an orphan server behind."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _absolutise(value: str, base: Path) -> str:
    """`./graphs/x.py:graph` -> `/abs/graphs/x.py:graph`; module specs (`pkg.mod:obj`) unchanged."""
    path, sep, attr = value.rpartition(":")
    if not sep:
        path = value
    if "/" not in path and not path.endswith((".py", ".js", ".ts")):
        return value
    resolved = Path(path) if Path(path).is_absolute() else (base / path).resolve()
    return f"{resolved}{sep}{attr}"


def _materialise_config(config_file: Path, run_dir: Path) -> Path:
    """Copy `langgraph.json` into `run_dir` with its relative paths made absolute."""
    base = config_file.parent.resolve()
    config = read_config(config_file)
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


@dataclass
class RunningAgentServer:
    """A started `langgraph dev` process. Use as a context manager or call `stop()`."""

    url: str
    port: int
    deployment_key: str | None = field(repr=False)
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    config_dir: Path
    run_dir: Path
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """The server's pid, which is also its process group id."""
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        """Auth headers for a deployment-key auth handler (`x-api-key`)."""
        return {"x-api-key": self.deployment_key} if self.deployment_key else {}

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, grace: float = 10.0) -> int | None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after `grace` s) and wait."""
        try:
            # Its group too: anything the server spawned that outlived it (the reloader's worker).
            return stop_group(self.process, grace)
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


class _PortTaken(AgentServerError):
    pass


def start_agent_server(
    config: Path | str,
    *,
    deployment_key: str | None,
    deployment_key_env: str = DEPLOYMENT_KEY_ENV,
    port: int | None = None,
    log_path: Path | None = None,
    startup_timeout: float = 90.0,
    extra_env: Mapping[str, str] | None = None,
    server_log_level: str = "WARNING",
    n_jobs_per_worker: int = 10,
    die_with_parent: bool = True,
    reload: bool = False,
) -> RunningAgentServer:
    """Start `langgraph dev` for `config` (a langgraph.json, or a directory holding one); wait for `/ok`.

    `deployment_key` is handed to the server in the environment variable `deployment_key_env`. With
    `port=None` a free port is picked (and picked again, up to 3 times, if another process grabs it
    first). `n_jobs_per_worker` is how many runs execute at once (`langgraph dev` defaults to 1, which
    would serialise runs of different threads). With `die_with_parent` (Linux only) the kernel terminates
    the server when the *thread* that called this function exits, so call it from a thread that outlives
    the server (the main thread). The server is also stopped at interpreter exit if the caller forgot to.
    With `reload`, the server restarts its worker when a `.py` file of the config's folder changes (the
    server's state, kept in its private folder, survives the restart).
    Raises AgentServerError with the tail of the server log when the process exits early or does not
    answer within `startup_timeout` seconds; InputError for a missing or unreadable config.
    """
    config_file = Path(config)
    if config_file.is_dir():
        config_file = config_file / "langgraph.json"
    config_file = config_file.resolve()
    read_config(config_file)  # fail early, and clearly, on a missing or broken config
    command = langgraph_command()
    attempts = 1 if port else 3
    for attempt in range(attempts):
        try:
            return _start_once(
                config_file,
                command=command,
                deployment_key=deployment_key,
                deployment_key_env=deployment_key_env,
                port=port or find_free_port(),
                log_path=log_path,
                startup_timeout=startup_timeout,
                extra_env=extra_env,
                server_log_level=server_log_level,
                n_jobs_per_worker=n_jobs_per_worker,
                die_with_parent=die_with_parent,
                reload=reload,
            )
        except _PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _start_once(
    config_file: Path,
    *,
    command: list[str],
    deployment_key: str | None,
    deployment_key_env: str,
    port: int,
    log_path: Path | None,
    startup_timeout: float,
    extra_env: Mapping[str, str] | None,
    server_log_level: str,
    n_jobs_per_worker: int,
    die_with_parent: bool,
    reload: bool,
) -> RunningAgentServer:
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
    env.pop(deployment_key_env, None)
    if deployment_key is not None:
        env[deployment_key_env] = deployment_key
    if extra_env:
        env.update(extra_env)

    try:
        config_path = _materialise_config(config_file, run_dir)
        if reload:
            # The reloader watches the working directory (recursively, through symlinks); the working
            # directory is private (see above), so the project is linked into it.
            (run_dir / "project").symlink_to(config_file.parent, target_is_directory=True)
        argv = [
            *command,
            "dev",
            "--no-browser",
            *([] if reload else ["--no-reload"]),
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
        log_file.write(f"$ {' '.join(argv)}\n".encode())
        log_file.flush()
        process = subprocess.Popen(
            argv,
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
        config_dir=config_file.parent,
        run_dir=run_dir,
        _log_file=log_file,
    )
    atexit.register(server.stop)
    try:
        _wait_until_ready(server, startup_timeout)
    except BaseException:
        server.stop(grace=5.0)
        raise
    logger.info("langgraph dev is serving %s at %s (pid %d)", config_file, url, process.pid)
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
            # `langgraph dev` silently moves to another port when the requested one is taken; then
            # whatever answers on our port is not our server. It announces the URL it really uses.
            if f"Port {server.port} is already in use" in log:
                raise _PortTaken(f"port {server.port} was taken before langgraph dev could bind it")
            announced = f"://127.0.0.1:{server.port}" in log
        if announced and answers_ok(server.url):
            return
        if time.monotonic() > deadline:
            raise AgentServerError(
                f"langgraph dev did not answer {server.url}/ok within {timeout:.0f} s.\n"
                f"Last lines of {server.log_path}:\n{server.log_tail()}"
            )
        time.sleep(0.2)
