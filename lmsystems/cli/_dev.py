"""`lmsystems dev`: the local stack (a real Agent Server and a marketplace emulator) until Ctrl-C/SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from .._dev.agent_server import AgentServerError, read_config
from .._dev.requestlog import LogFollower, parse_request
from .._dev.state import STATE_DIR, new_user_key, open_state, valid_key
from .._exceptions import InputError
from ._exit import EXIT_CODES_HELP
from ._output import Output

if TYPE_CHECKING:
    from .._dev.stack import DevStack

DEFAULT_DEPLOYMENT_KEY_ENV = "LMSYSTEMS_DEPLOYMENT_KEY"

DEV_HELP = "\n\n".join(
    [
        "Run your graphs locally, behind a local marketplace, until Ctrl-C or SIGTERM.",
        "Starts a real Agent Server (`langgraph dev`, in-memory) for --config on a free port, and a "
        "marketplace emulator in which every graph id of the config (and each --graph-name) is a purchased "
        "graph. Prints on stdout the LMSYSTEMS_BASE_URL=... and LMSYSTEMS_API_KEY=... lines to use: with "
        "them, the code you run in production runs locally unchanged. The key and the marketplace's port "
        f"are kept in {STATE_DIR}/ beside the config, so they stay the same after a restart. Everything "
        "else goes to stderr: a line per request, and the Agent Server's log is kept in "
        f"{STATE_DIR}/agent-server.log. Graphs reload when their code changes (--no-reload: they do not).",
        "The Agent Server gets a deployment key of its own in the variable --deployment-key-env, for a "
        "custom auth handler of your graphs to check. Needs the `dev` extra: "
        "pip install 'lmsystems[dev]'.",
        EXIT_CODES_HELP,
    ]
)


class _Stopped(BaseException):
    """Raised by the SIGINT/SIGTERM handler: leave whatever is running and stop the stack."""


def dev_command(
    config: Annotated[
        Path,
        typer.Option("--config", "-c", metavar="PATH", help="The langgraph.json that names your graphs."),
    ] = Path("langgraph.json"),
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            min=1,
            max=65535,
            help="The Agent Server's port (default: a free one).",
            show_default=False,
        ),
    ] = None,
    marketplace_port: Annotated[
        int | None,
        typer.Option(
            "--marketplace-port",
            metavar="PORT",
            min=1,
            max=65535,
            help="The marketplace's port (default: a free one).",
            show_default=False,
        ),
    ] = None,
    graph_name: Annotated[
        list[str] | None,
        typer.Option(
            "--graph-name",
            metavar="NAME=GRAPH_ID",
            help="Also list GRAPH_ID in the marketplace as NAME, e.g. the name it has in production "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    deployment_key_env: Annotated[
        str,
        typer.Option(
            "--deployment-key-env",
            metavar="VAR",
            help="The environment variable in which the Agent Server gets its deployment key.",
        ),
    ] = DEFAULT_DEPLOYMENT_KEY_ENV,
    ready_file: Annotated[
        Path | None,
        typer.Option(
            "--ready-file",
            metavar="PATH",
            help="Once ready, write KEY=VALUE lines to this file (mode 600): the two above, and the "
            "Agent Server's own URL and key (LMSYSTEMS_DEV_AGENT_SERVER_URL, LMSYSTEMS_DEV_DEPLOYMENT_KEY). "
            "Removed on exit.",
            show_default=False,
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            metavar="PATH",
            help=f"Keep the Agent Server's log here (default: {STATE_DIR}/agent-server.log beside the "
            "config, else a temporary file).",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            metavar="KEY",
            help=f"The local marketplace's API key (default: the one kept in {STATE_DIR}/dev.json, else "
            "a new one, then kept).",
            show_default=False,
        ),
    ] = None,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload/--no-reload",
            help="Restart the Agent Server's worker when a .py file beside the config changes.",
        ),
    ] = True,
) -> None:
    names = _parse_names(graph_name or [])
    if ready_file is not None and not ready_file.parent.is_dir():
        raise InputError(f"--ready-file: no such directory: {ready_file.parent}")
    if key is not None and not valid_key(key):
        raise InputError("--key: use 8 to 200 letters, digits, '_', '.' or '-'")
    config_file = config / "langgraph.json" if config.is_dir() else config
    if not config_file.exists():
        raise InputError(
            f"no such config file: {config_file} (run lmsystems dev in the folder of your langgraph.json, "
            "or name it with --config PATH)"
        )
    auth = read_config(config_file).get("auth")  # InputError for a missing or broken config
    from .._dev.stack import start_dev_stack  # imports starlette and uvicorn (MissingExtraError without them)

    out = Output()
    state = open_state(config_file.resolve().parent)
    kept_key, kept_port = state.load() if state is not None else (None, None)
    if marketplace_port is None and kept_port is not None:
        if _port_free(kept_port):
            marketplace_port = kept_port
        else:
            out.note(
                f"the marketplace's port {kept_port} (kept from the last session) is taken: another one "
                "is used, so export LMSYSTEMS_BASE_URL again",
                style="yellow",
            )
    temporary_log = log_file is None and state is None
    if log_file is not None:
        log_path = log_file
    elif state is not None:
        log_path = state.log_path
        log_path.write_bytes(b"")  # the log of this session only
    else:
        log_path = Path(tempfile.mkstemp(prefix="lmsystems-dev-", suffix=".log")[1])
    wrote_ready_file = False
    with _stop_on_signals():
        try:
            out.note(f"starting the Agent Server (langgraph dev) for {config} ...")
            stack = start_dev_stack(
                config,
                port=port,
                marketplace_port=marketplace_port,
                names=names,
                deployment_key_env=deployment_key_env,
                log_path=log_path,
                user_key=key or kept_key or new_user_key(),
                reload=reload,
                server_log_level="INFO",
            )
            try:
                server = stack.agent_server
                if state is not None:
                    with contextlib.suppress(OSError):
                        state.save(stack.user_key, stack.marketplace.port)
                out.note("the local stack is ready", style="bold green")
                out.note(f"  Agent Server  {server.url}  (pid {server.pid}; log: {log_path})", style="")
                out.note(f"  marketplace   {stack.base_url}", style="")
                out.note(f"  graphs        {', '.join(stack.graph_names)}", style="")
                out.note(
                    f"  reload        {'on: graphs reload when their code changes' if reload else 'off'}"
                )
                kept = f"kept in {state.directory}, the same after a restart" if state else "new each session"
                out.note(f"point the SDK and the CLI at it with (the key is {kept}):")
                for name, value in stack.env().items():
                    typer.echo(f"{name}={value}")
                if ready_file is not None:
                    try:
                        _write_private(ready_file, stack.env(with_deployment=True))
                    except OSError as error:
                        raise InputError(
                            f"--ready-file: cannot write {ready_file}: {error.strerror}"
                        ) from None
                    wrote_ready_file = True
                out.note("press Ctrl-C to stop; requests:")
                code = _follow(stack, out, log_path, custom_auth=auth is not None, key_env=deployment_key_env)
                raise AgentServerError(
                    f"the Agent Server exited on its own (code {code}).\n"
                    f"Last lines of {log_path}:\n{server.log_tail()}"
                )
            finally:
                stack.stop()
        except _Stopped:
            out.note("stopped the local stack")
            if temporary_log:
                log_path.unlink(missing_ok=True)
            else:
                out.note(f"the Agent Server's log: {log_path}")
        finally:
            if wrote_ready_file and ready_file is not None:
                ready_file.unlink(missing_ok=True)


def _port_free(port: int) -> bool:
    """Whether the marketplace can listen on 127.0.0.1:port (as uvicorn does: connections of the last
    session waiting out TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _follow(stack: DevStack, out: Output, log_path: Path, *, custom_auth: bool, key_env: str) -> int:
    """Show a line per request (the marketplace's, the Agent Server's) until the server exits; its code."""
    follower = LogFollower(log_path)
    seen_info = 0
    hinted = False
    while True:
        code = stack.agent_server.process.poll()
        info_requests = stack.marketplace.app.state.graph_info_requests
        for request in info_requests[seen_info:]:
            style = "dim" if request.status_code < 400 else "yellow"
            out.note(f"  marketplace  resolve {request.graph_name!r} {request.status_code}", style=style)
        seen_info = len(info_requests)
        for line in follower.new_lines():
            request = parse_request(line)
            if request is None:
                continue
            out.note(f"  {request}", style="dim" if request.status < 400 else "yellow")
            if request.status in (401, 403) and custom_auth and not hinted:
                hinted = True
                out.note(
                    f"  the auth handler of your graphs (auth in langgraph.json) refused the dev key: "
                    f"lmsystems dev passes its key to the Agent Server in ${key_env} "
                    "(--deployment-key-env VAR names another variable); the SDK sends it as x-api-key",
                    style="yellow",
                )
        if code is not None:
            return code
        time.sleep(0.2)


def _parse_names(values: list[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for value in values:
        name, sep, graph_id = value.partition("=")
        if not sep or not name.strip() or not graph_id.strip():
            raise InputError(f"--graph-name must look like NAME=GRAPH_ID, not {value!r}")
        names[name.strip()] = graph_id.strip()
    return names


def _write_private(path: Path, env: Mapping[str, str]) -> None:
    """Write KEY=VALUE lines readable by this user only, atomically (a reader never sees half a file)."""
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in env.items())
    os.replace(partial, path)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise _Stopped once; a second signal during the shutdown is ignored."""

    def handler(signum: int, frame: FrameType | None) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise _Stopped

    previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
