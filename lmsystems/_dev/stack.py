"""The local stack of `lmsystems dev`: an Agent Server for a langgraph.json, and a marketplace in front of it.

    stack = start_dev_stack(Path("langgraph.json"))
    try:
        client = SyncLmsystemsClient(graph_name="agent", **stack.client_options())
        ...
    finally:
        stack.stop()

Every graph id of the config is a purchasable graph of the marketplace, bought by one user whose key is
random per session (`stack.user_key`); the marketplace resolves it to the local Agent Server and hands
out the deployment key (also random per session) that the server was given.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from .._exceptions import InputError
from .._settings import API_KEY_ENV, BASE_URL_ENV
from .agent_server import DEPLOYMENT_KEY_ENV, RunningAgentServer, graph_ids, start_agent_server
from .marketplace import (
    MarketplaceTable,
    RunningMarketplace,
    create_marketplace_app,
    dev_table,
    start_marketplace_server,
)

__all__ = ["AGENT_SERVER_URL_ENV", "DEPLOYMENT_KEY_OUT_ENV", "DevStack", "start_dev_stack"]

#: Names under which `env()` also gives the Agent Server's own address and key (for direct mode).
AGENT_SERVER_URL_ENV = "LMSYSTEMS_DEV_AGENT_SERVER_URL"
DEPLOYMENT_KEY_OUT_ENV = "LMSYSTEMS_DEV_DEPLOYMENT_KEY"


@dataclass
class DevStack:
    """A running local stack. `stop()` (or leaving `with`) stops the marketplace, then the Agent Server."""

    agent_server: RunningAgentServer
    marketplace: RunningMarketplace
    table: MarketplaceTable
    user_key: str = field(repr=False)
    config_file: Path

    @property
    def base_url(self) -> str:
        """The marketplace's URL: what `LMSYSTEMS_BASE_URL` must be."""
        return self.marketplace.url

    @property
    def graph_names(self) -> list[str]:
        """The names the marketplace resolves."""
        return sorted(self.table.graphs)

    def client_options(self) -> dict[str, str]:
        """`base_url` and `api_key` for a client of this stack."""
        return {"base_url": self.base_url, "api_key": self.user_key}

    def env(self, *, with_deployment: bool = False) -> dict[str, str]:
        """The environment variables that point the SDK and the CLI at this stack.

        `with_deployment=True` adds the Agent Server's own URL and deployment key (for direct mode).
        """
        env = {BASE_URL_ENV: self.base_url, API_KEY_ENV: self.user_key}
        if with_deployment:
            env[AGENT_SERVER_URL_ENV] = self.agent_server.url
            env[DEPLOYMENT_KEY_OUT_ENV] = self.agent_server.deployment_key or ""
        return env

    def stop(self) -> None:
        try:
            self.marketplace.stop()
        finally:
            self.agent_server.stop()

    def __enter__(self) -> DevStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_dev_stack(
    config: Path | str,
    *,
    port: int | None = None,
    marketplace_port: int | None = None,
    names: Mapping[str, str] | None = None,
    deployment_key_env: str = DEPLOYMENT_KEY_ENV,
    log_path: Path | None = None,
    startup_timeout: float = 90.0,
    user_key: str | None = None,
    reload: bool = False,
    server_log_level: str = "WARNING",
) -> DevStack:
    """Start the Agent Server for `config` (a langgraph.json or its directory), then the marketplace.

    `names` lists more marketplace names (name -> graph id) besides the graph ids themselves. The
    deployment key reaches the server in `deployment_key_env`. `user_key` is the marketplace's API key
    (default: a new random one); `reload` restarts the server's worker when a graph's code changes;
    `server_log_level="INFO"` logs every request in the server's log. Raises InputError for a bad config or
    name, MissingExtraError without the `dev` extra, AgentServerError when the server does not start.
    """
    config_file = Path(config)
    if config_file.is_dir():
        config_file = config_file / "langgraph.json"
    config_file = config_file.resolve()
    if port is not None:
        _check_port_free(port, option="port")
    if user_key is None:
        user_key = f"lms_dev_{secrets.token_hex(16)}"
    table = dev_table(user_key, graph_ids(config_file), names=names)
    deployment_key = f"lms_dev_deployment_{secrets.token_hex(16)}"
    # The marketplace first: it starts at once, so a taken --marketplace-port fails before the slow part.
    app = create_marketplace_app(table, "http://127.0.0.1", deployment_key)
    marketplace = start_marketplace_server(app, marketplace_port)
    try:
        server = start_agent_server(
            config_file,
            deployment_key=deployment_key,
            deployment_key_env=deployment_key_env,
            port=port,
            log_path=log_path,
            startup_timeout=startup_timeout,
            reload=reload,
            server_log_level=server_log_level,
        )
    except BaseException:
        marketplace.stop()
        raise
    app.state.agent_server_url = server.url
    return DevStack(
        agent_server=server, marketplace=marketplace, table=table, user_key=user_key, config_file=config_file
    )


def _check_port_free(port: int, *, option: str) -> None:
    """InputError when something listens on 127.0.0.1:port (`langgraph dev` would silently move away)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise InputError(f"{option} {port} is not free on 127.0.0.1: {error.strerror}") from None
