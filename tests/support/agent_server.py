"""The test bed's Agent Server: ``lmsystems._dev.agent_server`` with the test bed's config and key variable.

No pytest imports here: conftest fixtures and scripts (benchmarks, smoke checks) both use it::

    with start_agent_server(TEST_AGENT_SERVER_DIR, deployment_key="secret") as server:
        httpx.get(f"{server.url}/ok")

The launcher itself (free port, own process group, quiet environment, private working directory with an
absolutised copy of ``langgraph.json``, SIGTERM then SIGKILL of the group on ``stop()``) lives in the
library, where ``lmsystems dev`` uses it too. Here it gets the test bed's defaults: the config directory
``tests/agent_server`` and the variable ``LMSYSTEMS_TEST_DEPLOYMENT_KEY`` that its ``auth.py`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lmsystems._dev import agent_server as _launcher
from lmsystems._dev.agent_server import (
    AgentServerError,
    RunningAgentServer,
    _materialise_config,
    find_free_port,
    langgraph_command,
)

__all__ = [
    "DEPLOYMENT_KEY_ENV_VAR",
    "TEST_AGENT_SERVER_DIR",
    "AgentServerError",
    "RunningAgentServer",
    "_materialise_config",
    "find_free_port",
    "langgraph_command",
    "start_agent_server",
]

#: ``tests/agent_server``: the test bed's ``langgraph.json``, graphs and auth.
TEST_AGENT_SERVER_DIR = Path(__file__).resolve().parent.parent / "agent_server"

#: Environment variable through which ``tests/agent_server/auth.py`` receives the deployment key.
DEPLOYMENT_KEY_ENV_VAR = "LMSYSTEMS_TEST_DEPLOYMENT_KEY"


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

    ``deployment_key`` is handed to the server as ``LMSYSTEMS_TEST_DEPLOYMENT_KEY`` (read by the test
    bed's ``auth.py``). See :func:`lmsystems._dev.agent_server.start_agent_server` for the rest.
    """
    return _launcher.start_agent_server(
        Path(config_dir) / config_name,
        deployment_key=deployment_key,
        deployment_key_env=DEPLOYMENT_KEY_ENV_VAR,
        port=port,
        log_path=log_path,
        startup_timeout=startup_timeout,
        extra_env=extra_env,
        server_log_level=server_log_level,
        n_jobs_per_worker=n_jobs_per_worker,
        die_with_parent=die_with_parent,
    )
