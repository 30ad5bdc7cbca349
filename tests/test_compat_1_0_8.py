"""lmsystems 1.0.8 code keeps working: its README's examples run unchanged against the test bed.

`tests/compat/lmsystems-1.0.8-README.md` is the README of the lmsystems 1.0.8 wheel on PyPI (MIT, its
LICENSE beside it). Each Python block is run as written, in a fresh interpreter, with `LMSYSTEMS_API_KEY`
and `LMSYSTEMS_BASE_URL` pointing at a marketplace of our own whose graphs carry the README's names
(`groq-deep-research-agent-51` is the `research` test graph, `github-agent-6` the `echo` one). Blocks
that use names defined elsewhere in the README (`graph`, `input_data`, `client`, `thread`) get them from
a short prelude; the block itself is not changed (a block with a top-level `async for` is indented into an
`async def`, nothing else).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.marketplace import MarketplaceTable, create_marketplace_app, start_marketplace_server

README = Path(__file__).parent / "compat" / "lmsystems-1.0.8-README.md"
ROOT = Path(__file__).resolve().parent.parent
RESEARCH = "groq-deep-research-agent-51"


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


class Market:
    def __init__(self, url: str, user_key: str, app: Any) -> None:
        self.url, self.user_key, self.app = url, user_key, app

    def env(self, **extra: str) -> dict[str, str]:
        paths = [str(ROOT), str(ROOT / "generated"), os.environ.get("PYTHONPATH", "")]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LMSYSTEMS_", "LANGSMITH_"))}
        env.update(
            PYTHONPATH=os.pathsep.join(p for p in paths if p),
            LMSYSTEMS_API_KEY=self.user_key,
            LMSYSTEMS_BASE_URL=self.url,
            LANGSMITH_TRACING="false",
        )
        env.update(extra)
        return env


@pytest.fixture(scope="module")
def market(agent_server: Any) -> Iterator[Market]:
    user_key = "lms_compat_" + secrets.token_hex(12)
    table = MarketplaceTable()
    table.add_user(user_key)
    table.add_graph(RESEARCH, "research", configurables={"llm": "marketplace-llm"})
    table.add_graph("github-agent-6", "echo", configurables={"model": "marketplace-model"})
    table.add_graph("failing-graph", "failing")
    table.add_graph("unpurchased-graph", "chat")
    table.purchase(user_key, RESEARCH, "github-agent-6", "failing-graph")
    app = create_marketplace_app(table, agent_server.url, agent_server.deployment_key)
    with start_marketplace_server(app) as running:
        yield Market(running.url, user_key, app)


def run_python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_the_readme_has_the_blocks_this_test_runs() -> None:
    blocks = readme_blocks()
    assert len(blocks) == 7
    assert "SyncLmsystemsClient(" in blocks[0] and "from lmsystems.purchased_graph" in blocks[1]
    assert "from lmsystems.exceptions import" in blocks[5] and "StreamMode.MESSAGES" in blocks[6]


def test_the_client_example(market: Market) -> None:
    out = run_python(readme_blocks()[0], market.env())
    assert "Created thread with status: idle" in out, out
    assert "Final thread status: idle" in out, out
    assert "API Error" not in out and "Unexpected error" not in out, out
    chunks = [line for line in out.splitlines() if line.startswith("Received chunk: ")]
    assert any("messages/" in line for line in chunks) and any("updates" in line for line in chunks)
    # The empty configurables the example passes do not override the marketplace's: "" means unset.
    assert "Report on what are the best agent frameworks" in out


def test_the_purchased_graph_example(market: Market) -> None:
    before = len(market.app.state.tracked_runs)
    out = run_python(readme_blocks()[1], market.env())
    result = next(line for line in out.splitlines() if line.startswith("Parent graph result:"))
    assert "[researched]" in result, out
    stream = [line for line in out.splitlines() if line.startswith("Stream chunk:")]
    assert any("'research'" in line for line in stream), out  # subgraphs=True: the remote graph's nodes
    assert len(market.app.state.tracked_runs) == before + 2  # both runs recorded with the marketplace


def test_the_config_override_example(market: Market) -> None:
    prelude = "import os\nfrom lmsystems.purchased_graph import PurchasedGraph\n"
    postlude = 'print(json.dumps(purchased_graph.invoke({"question": "q"})["echo"]["configurable"]))\n'
    out = run_python(prelude + "import json\n" + readme_blocks()[2] + postlude, market.env())
    assert json.loads(out.strip().splitlines()[-1]) == {"model": "gpt-4", "openai_api_key": "your-custom-key"}


def test_the_documented_signatures() -> None:
    from lmsystems import LmsystemsClient, PurchasedGraph

    create = list(inspect.signature(LmsystemsClient.create).parameters)
    assert create[:2] == ["graph_name", "api_key"]
    assert list(inspect.signature(PurchasedGraph).parameters)[:4] == [
        "graph_name",
        "api_key",
        "config",
        "default_state_values",
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("graph_name", "key", "base_url", "expected"),
    [
        (RESEARCH, "lms_compat_wrong_key", None, "Authentication failed: "),
        ("no-such-graph", None, None, "Graph not found: "),
        ("unpurchased-graph", None, None, "Graph not purchased: "),
        ("failing-graph", None, None, "Graph execution failed: "),
        (RESEARCH, None, "closed", "API communication error: "),
    ],
)
def test_the_error_handling_example(
    market: Market, graph_name: str, key: str | None, base_url: str | None, expected: str
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}" if base_url == "closed" else market.url
    prelude = textwrap.dedent(
        f"""
        import os
        from lmsystems import PurchasedGraph
        graph = PurchasedGraph({graph_name!r}, os.environ["LMSYSTEMS_API_KEY"], max_retries=0)
        input_data = {{"research_topic": "x", "message": "boom"}}
        """
    )
    env = market.env(LMSYSTEMS_BASE_URL=url, **({"LMSYSTEMS_API_KEY": key} if key else {}))
    out = run_python(prelude + readme_blocks()[5], env)
    assert out.startswith(expected), out
    assert market.user_key not in out


def test_the_stream_mode_example(market: Market) -> None:
    prelude = textwrap.dedent(
        f"""
        import asyncio
        from lmsystems import LmsystemsClient

        async def main():
            client = await LmsystemsClient.create(graph_name={RESEARCH!r}, api_key=None)
            thread = await client.create_thread()
            input_data = {{"research_topic": "stream modes"}}
        """
    )
    body = textwrap.indent(readme_blocks()[6], "    ")
    out = run_python(prelude + body + "\nasyncio.run(main())\n", market.env())
    events = re.findall(r"StreamPart\(event='([^']+)'", out)
    assert {"values", "updates", "messages/partial"} <= set(events), out


def test_the_1_0_8_module_paths_import_the_same_objects() -> None:
    import lmsystems
    import lmsystems.client
    import lmsystems.config
    import lmsystems.exceptions
    import lmsystems.purchased_graph

    for name in lmsystems.exceptions.__all__:
        assert getattr(lmsystems.exceptions, name) is getattr(lmsystems, name)
    for name in ("LmsystemsClient", "SyncLmsystemsClient", "StreamMode", "MultitaskStrategy", "ThreadStatus"):
        assert getattr(lmsystems.client, name) is getattr(lmsystems, name)
    assert lmsystems.purchased_graph.PurchasedGraph is lmsystems.PurchasedGraph
    assert lmsystems.client.StreamMode.MESSAGES == "messages"
    assert lmsystems.client.MultitaskStrategy.REJECT == "reject"
    assert lmsystems.client.ThreadStatus.INTERRUPTED == "interrupted"


def test_config_reads_the_base_url(market: Market) -> None:
    code = (
        "from lmsystems.config import Config\nimport os\n"
        "print(Config.DEFAULT_BASE_URL)\nprint(Config.get_base_url())\n"
        "os.environ.pop('LMSYSTEMS_BASE_URL')\nprint(Config.get_base_url())\n"
    )
    assert run_python(code, market.env()).split() == [market.url] * 3
    env = market.env()
    env.pop("LMSYSTEMS_BASE_URL")
    no_pop = code.replace("os.environ.pop('LMSYSTEMS_BASE_URL')\n", "")
    assert run_python(no_pop, env).split() == ["https://api.lmsystems.ai"] * 3
