"""Custom nodes end to end on one machine: `lmsystems node up` packages a handler project and deploys it to
the local marketplace (the app `lmsystems dev` serves), which runs the handler; a LangGraph graph then calls
the node with `create_serverless_node` / `ServerlessNode`, sync and async. Plus lmsystems.json's checks,
exit codes, and keys that never reach the output.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import secrets
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from support.marketplace import MarketplaceTable, create_marketplace_app, start_marketplace_server

from lmsystems import (
    APIKeyRejectedError,
    InputError,
    InternalServerError,
    ServerlessNode,
    UnauthorizedError,
    create_serverless_node,
    upload_custom_node,
)
from lmsystems.cli._node_config import node_config

ROOT = Path(__file__).resolve().parent.parent

HANDLER = """
import os
from helpers import shout

def lambda_handler(event, context):
    state = event["state"]
    last = state["messages"][-1]
    print("a print in the handler does not break the answer")
    if last["content"] == "fail":
        raise RuntimeError("the handler gave up")
    text = f"{os.environ['GREETING']} {shout(last['content'])} (v{state['_metadata']['version']})"
    count = state.get("count", 0) + 1
    return {"updated_state": {"messages": [{"role": "ai", "content": text}], "count": count}}
"""


class NodeState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    count: int


class Market:
    def __init__(self, url: str, user_key: str, app: Any) -> None:
        self.url, self.user_key, self.app = url, user_key, app


@pytest.fixture(scope="module")
def market() -> Iterator[Market]:
    user_key = "lms_nodes_" + secrets.token_hex(12)
    table = MarketplaceTable()
    table.add_user(user_key)
    app = create_marketplace_app(table, "http://127.0.0.1:9", None)  # no graphs: nodes only
    with start_marketplace_server(app) as running:
        yield Market(running.url, user_key, app)


def project(directory: Path, **overrides: Any) -> Path:
    """A node project as 1.0.8's README describes it: handler, helper, .env, directions, lmsystems.json."""
    (directory / "handler.py").write_text(HANDLER)
    (directory / "helpers.py").write_text("def shout(text):\n    return text.upper()\n")
    (directory / ".env").write_text("# greeting\nGREETING=${LMS_TEST_GREETING}\n")
    (directory / "README.md").write_text("# Greeter\nCall it with messages.\n")
    config = {
        "nodes": {"greeter": {"file": "handler.py", "function": "lambda_handler"}},
        "description": "Greets",
        "python_version": "3.11",
        "dependencies": ["helpers.py"],
        "env": ".env",
        "memory_size": 256,
        "timeout": 30,
        "directions": "README.md",
        **overrides,
    }
    (directory / "lmsystems.json").write_text(json.dumps(config))
    return directory


def node_up(
    directory: Path, market: Market, *args: str, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMSYSTEMS_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "generated")]),
        LMSYSTEMS_BASE_URL=market.url,
        LMSYSTEMS_API_KEY=key or market.user_key,
        LMS_TEST_GREETING="Hello",
        NO_COLOR="1",
    )
    done = subprocess.run(
        [sys.executable, "-m", "lmsystems.cli", "node", "up", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert market.user_key not in done.stdout + done.stderr
    return done


def test_node_up_then_a_graph_calls_the_node(tmp_path: Path, market: Market) -> None:
    done = node_up(project(tmp_path), market)
    assert done.returncode == 0, done
    assert "Node deployed successfully!" in done.stdout
    saved = tmp_path / ".lmsystems" / "nodes" / "greeter.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    credentials = json.loads(saved.read_text())
    assert f"Node ID: {credentials['node_id']}" in done.stdout
    assert f"Endpoint URL: {credentials['endpoint_url']}" in done.stdout
    assert credentials["api_key"] not in done.stdout + done.stderr
    deployed = market.app.state.nodes[credentials["node_id"]]
    assert deployed.name == "greeter" and deployed.env_vars == {"GREETING": "Hello"}

    builder = StateGraph(NodeState)
    builder.add_node("greeter", create_serverless_node(**credentials))
    builder.add_edge(START, "greeter")
    graph = builder.compile()
    result = graph.invoke({"messages": [HumanMessage(content="hi")]})
    assert isinstance(result["messages"][-1], AIMessage)
    assert result["messages"][-1].content == "Hello HI (v1.0)" and result["count"] == 1
    again = asyncio.run(graph.ainvoke({"messages": [HumanMessage(content="async")], "count": 4}))
    assert again["messages"][-1].content == "Hello ASYNC (v1.0)" and again["count"] == 5

    node = ServerlessNode(**credentials)
    assert credentials["api_key"] not in repr(node)
    update = asyncio.run(
        node({"messages": [{"role": "user", "content": "direct"}]})
    )  # 1.0.8: await node(state)
    assert update["messages"][0].content == "Hello DIRECT (v1.0)"

    with pytest.raises(InternalServerError, match="the handler gave up") as failed:
        node.invoke({"messages": [HumanMessage(content="fail")]})
    assert failed.value.status_code == 500
    wrong = ServerlessNode(credentials["node_id"], credentials["endpoint_url"], "lms_not_the_node_key")
    with pytest.raises(UnauthorizedError):
        wrong.invoke({"messages": []})
    with pytest.raises(InputError, match="human and AI messages"):
        node.invoke({"messages": [object()]})


def test_node_up_refuses_a_wrong_key_without_printing_it(tmp_path: Path, market: Market) -> None:
    canary = "lms_canary_" + secrets.token_hex(12)
    done = node_up(project(tmp_path), market, key=canary)
    assert done.returncode == 5, done
    assert "Invalid API key" in done.stderr and canary not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nodes": None}, "must contain 'nodes' section"),
        ({"nodes": {"a": "handler.py", "b": "handler.py"}}, "only one node per config"),
        ({"nodes": {"bad name!": "handler.py"}}, "only letters, numbers, hyphens, and underscores"),
        ({"nodes": {"n" * 65: "handler.py"}}, "less than 64 characters"),
        ({"nodes": {"greeter": {"function": "f"}}}, "must include 'file' field"),
        ({"nodes": {"greeter": "README.md"}}, "must be a Python file"),
        ({"nodes": {"greeter": "missing.py"}}, "Handler file not found: missing.py"),
        ({"nodes": {"greeter": {"file": "handler.py", "function": "nope"}}}, "Function 'nope' not found"),
        ({"memory_size": 64}, "memory_size must be between 128 and 10240 MB"),
        ({"timeout": 901}, "timeout must be between 1 and 900 seconds"),
        ({"python_version": "2.7"}, "python_version must be one of: 3.7, 3.8, 3.9, 3.10, 3.11"),
        ({"dependencies": "helpers.py"}, "dependencies must be a list"),
        ({"dependencies": ["gone.py"]}, "Dependency not found: gone.py"),
        ({"env": "missing.env"}, "Environment file not found"),
        (
            {"env_vars": {"TOKEN": "${LMS_TEST_UNSET_VARIABLE}"}},
            "Environment variable LMS_TEST_UNSET_VARIABLE",
        ),
        ({"directions": "handler.py"}, "must be a Markdown (.md) file"),
        ({"directions": "missing.md"}, "Directions file not found"),
    ],
)
def test_lmsystems_json_is_checked_as_1_0_8_did(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    project(tmp_path, **overrides)
    config = json.loads((tmp_path / "lmsystems.json").read_text())
    if config["nodes"] is None:
        del config["nodes"]
    with pytest.raises(InputError) as refused:
        node_config(config, tmp_path, {})
    assert message in str(refused.value)


def test_a_bad_lmsystems_json_exits_2_and_uploads_nothing(tmp_path: Path, market: Market) -> None:
    project(tmp_path, memory_size=64)
    before = len(market.app.state.nodes)
    done = node_up(tmp_path, market)
    assert done.returncode == 2, done
    assert done.stderr.startswith("lmsystems: invalid input: memory_size must be between 128 and 10240 MB")
    assert len(market.app.state.nodes) == before


def test_a_missing_config_and_an_empty_directions_file(tmp_path: Path, market: Market) -> None:
    done = node_up(tmp_path, market, "--config", "elsewhere.json")
    assert done.returncode == 2 and "Config file not found: elsewhere.json" in done.stderr, done
    project(tmp_path)
    (tmp_path / "README.md").write_text("   \n")
    done = node_up(tmp_path, market)
    assert done.returncode == 2 and "Directions file is empty" in done.stderr, done


def _package(**config: Any) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if config:
            archive.writestr("lambda_config.json", json.dumps(config))
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return {}\n")
    return base64.b64encode(buffer.getvalue()).decode()


def test_upload_custom_node_checks_the_package_before_sending(market: Market) -> None:
    before = len(market.app.state.nodes)
    for code, message in [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"not a zip").decode(), "not a valid ZIP"),
        (_package(), "must contain lambda_config.json"),
        (_package(handler_file="handler.py"), "missing required field: handler_function"),
        (_package(handler_file="other.py", handler_function="f"), "Handler file other.py not found"),
    ]:
        with pytest.raises(InputError, match=message):
            upload_custom_node(code, {"name": "x"}, market.user_key, market.url)
    with pytest.raises(InputError, match="Directions must be a string"):
        upload_custom_node(
            _package(handler_file="handler.py", handler_function="lambda_handler"),
            {"directions": 1},
            market.user_key,
            market.url,
        )
    assert len(market.app.state.nodes) == before
    good = _package(handler_file="handler.py", handler_function="lambda_handler")
    with pytest.raises(APIKeyRejectedError):
        upload_custom_node(good, {"name": "x"}, "lms_wrong_user_key", market.url)
    answer = upload_custom_node(good, {"name": "x"}, market.user_key, market.url)
    assert set(answer) == {"node_id", "endpoint_url", "api_key"}
    assert market.app.state.nodes[answer["node_id"]].handler_function == "lambda_handler"


def test_lmsystems_dev_then_node_up_then_a_graph_calls_the_node(tmp_path: Path) -> None:
    """The workflow on one machine with the real command: `lmsystems dev` prints its two variables, the
    user exports them, `lmsystems node up` deploys to its marketplace, and a graph calls the node."""
    from support.devloop import DevProcess, copy_test_project, lmsystems_command

    with DevProcess.start(copy_test_project(tmp_path), "--no-reload") as dev:
        env = {**dev.user_env(), "LMS_TEST_GREETING": "Hi"}
        directory = tmp_path / "node"
        directory.mkdir()
        project(directory)
        done = subprocess.run(
            [*lmsystems_command(), "node", "up"],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done
        assert "Traceback" not in done.stderr and env["LMSYSTEMS_API_KEY"] not in done.stdout + done.stderr
        credentials = json.loads((directory / ".lmsystems" / "nodes" / "greeter.json").read_text())
        assert credentials["endpoint_url"].startswith(env["LMSYSTEMS_BASE_URL"])
        builder = StateGraph(NodeState)
        builder.add_node("greeter", create_serverless_node(**credentials))
        builder.add_edge(START, "greeter")
        result = builder.compile().invoke({"messages": [HumanMessage(content="dev")]})
        assert result["messages"][-1].content == "Hi DEV (v1.0)"
