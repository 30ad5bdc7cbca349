"""`LMSYSTEMS_LOG=debug|info`: our logger, and only ours, prints to stderr, with keys masked.

Each case runs a fresh Python process (the variable is read when a client is created, and a handler, once
installed, stays for the life of the process) that makes real calls: through a marketplace of our own
(with a canary user key) to the real Agent Server, and to a scripted server whose answers carry request
ids. The process reports on stdout how the root, httpx and httpcore loggers were configured before and
after; its stderr is what a user would see.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from support.bad_server import json_reply, reply, start_bad_server
from support.marketplace import MarketplaceTable, create_marketplace_app, start_marketplace_server

GRAPH = "chat-graph"
RETRY_ID = "req-retry-7"
FAILED_ID = "req-gone-42"

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, sys
    from lmsystems import AuthenticationError, LmsystemsClient, NotFoundError, SyncLmsystemsClient

    cfg = json.loads(sys.argv[1])
    LOGGERS = {"root": "", "httpx": "httpx", "httpcore": "httpcore"}

    def snapshot():
        out = {}
        for label, name in LOGGERS.items():
            logger = logging.getLogger(name) if name else logging.getLogger()
            out[label] = {
                "handlers": [type(h).__name__ for h in logger.handlers],
                "level": logger.level,
                "propagate": logger.propagate,
            }
        return out

    before = snapshot()
    chat = {"messages": [{"role": "user", "content": "log this"}]}
    with SyncLmsystemsClient(cfg["graph"], api_key=cfg["key"], base_url=cfg["market"]) as client:
        thread = client.create_thread()
        client.stream_run(thread, chat, stream_mode="values").collect()
        try:
            client.get_thread("00000000-0000-0000-0000-000000000000")
        except NotFoundError:
            pass

    async def main():
        async with LmsystemsClient(cfg["graph"], api_key=cfg["key"], base_url=cfg["market"]) as client:
            await client.create_thread()

    asyncio.run(main())
    try:
        SyncLmsystemsClient(cfg["graph"], api_key=cfg["wrong"], base_url=cfg["market"])
    except AuthenticationError:
        pass
    with SyncLmsystemsClient("asst", deployment_url=cfg["scripted"], max_retries=1) as client:
        try:
            client.get_thread("gone")
        except NotFoundError:
            pass
    after = snapshot()
    print(json.dumps({
        "before": before,
        "after": after,
        "lmsystems_handlers": len(logging.getLogger("lmsystems").handlers),
    }))
    """
)

#: Every line on stderr is one of our records: "2026-01-01 12:00:00,123 DEBUG lmsystems: ...".
OUR_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) lmsystems: ")


@dataclass
class Bed:
    config: dict[str, str]

    @property
    def secrets(self) -> list[str]:
        return [self.config["key"], self.config["wrong"], self.config["deployment_key"]]


@dataclass
class Outcome:
    stderr: str
    report: dict[str, Any]

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bed(agent_server: Any) -> Iterator[Bed]:
    user_key = "lms_log_canary_" + secrets.token_hex(12)
    table = MarketplaceTable()
    table.add_user(user_key)
    table.add_graph(GRAPH, "chat")
    table.purchase(user_key, GRAPH)
    app = create_marketplace_app(table, agent_server.url, agent_server.deployment_key)
    scripted = {
        "GET /assistants/asst": json_reply(200, {"assistant_id": "asst"}),
        "GET /threads/gone": [
            reply(503, headers={"x-request-id": RETRY_ID, "retry-after-ms": "10"}),
            json_reply(404, {"detail": "Thread not found"}, headers={"x-request-id": FAILED_ID}),
        ],
    }
    with start_marketplace_server(app) as market, start_bad_server(scripted) as server:
        yield Bed(
            {
                "graph": GRAPH,
                "key": user_key,
                "wrong": "lms_log_wrong_" + secrets.token_hex(12),
                "market": market.url,
                "scripted": server.url,
                "deployment_key": agent_server.deployment_key,
            }
        )


def run_script(bed: Bed, log: str | None) -> Outcome:
    env = dict(os.environ)
    for name in ("LMSYSTEMS_LOG", "LMSYSTEMS_API_KEY", "LMSYSTEMS_BASE_URL"):
        env.pop(name, None)
    if log is not None:
        env["LMSYSTEMS_LOG"] = log
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(bed.config)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outcome = Outcome(done.stderr, json.loads(done.stdout.strip().splitlines()[-1]))
    for secret in bed.secrets:
        assert secret not in done.stderr and secret not in done.stdout
    return outcome


def assert_others_untouched(outcome: Outcome) -> None:
    assert outcome.report["after"] == outcome.report["before"]  # root, httpx, httpcore: as we found them


def test_debug_logs_every_request_and_only_ours(bed: Bed) -> None:
    outcome = run_script(bed, "DEBUG")  # case-insensitive
    assert_others_untouched(outcome)
    assert outcome.report["lmsystems_handlers"] == 1  # four clients, one handler
    strangers = [line for line in outcome.lines if not OUR_LINE.match(line)]
    assert not strangers, strangers  # nothing from httpx, httpcore or the root logger
    text = outcome.stderr
    expected = [
        r"DEBUG lmsystems: marketplace POST /api/get_graph_info -> 200 in \d+ ms \(request id -, attempt 1\)",
        r"INFO lmsystems: resolved graph 'chat-graph' to http://127\.0\.0\.1:\d+",
        r"DEBUG lmsystems: agent server POST /threads -> 200 in \d+ ms",
        r"DEBUG lmsystems: agent server POST /threads/[0-9a-f-]+/runs/stream -> 200 in \d+ ms",
        r"DEBUG lmsystems: marketplace POST /api/track_run -> 200",
        r"INFO lmsystems: agent server GET /threads/0{8}-0{4}-0{4}-0{4}-0{12} failed in \d+ ms .*giving up: "
        r"agent server answered 404",
        r"INFO lmsystems: marketplace POST /api/get_graph_info failed .*giving up: marketplace: "
        r"Invalid API key\. \(invalid_api_key\)",
        # A failed request names its request id; so does an attempt that is retried.
        rf"INFO lmsystems: agent server GET /threads/gone failed in \d+ ms \(request id {RETRY_ID}, "
        r"attempt 1 of 2\); retrying in 0\.01s: agent server answered 503",
        rf"INFO lmsystems: agent server GET /threads/gone failed in \d+ ms \(request id {FAILED_ID}, "
        r"attempt 2 of 2\); giving up: agent server answered 404 Not Found to GET /threads/gone: "
        r"Thread not found",
    ]
    missing = [pattern for pattern in expected if not re.search(pattern, text)]
    assert not missing, f"missing {missing} in:\n{text}"


def test_info_leaves_out_the_per_request_lines(bed: Bed) -> None:
    outcome = run_script(bed, "info")
    assert_others_untouched(outcome)
    assert outcome.lines and all(OUR_LINE.match(line) for line in outcome.lines)
    assert " DEBUG " not in outcome.stderr
    assert f"request id {FAILED_ID}" in outcome.stderr
    assert "resolved graph 'chat-graph'" in outcome.stderr


def test_without_the_variable_nothing_is_printed(bed: Bed) -> None:
    outcome = run_script(bed, None)
    assert outcome.stderr == ""
    assert outcome.report["lmsystems_handlers"] == 0
    assert_others_untouched(outcome)


def test_an_empty_variable_is_the_same_as_none(bed: Bed) -> None:
    outcome = run_script(bed, "")
    assert outcome.stderr == ""
    assert outcome.report["lmsystems_handlers"] == 0


def test_another_value_is_ignored_with_one_warning(bed: Bed) -> None:
    outcome = run_script(bed, "verbose")
    assert outcome.report["lmsystems_handlers"] == 0
    assert_others_untouched(outcome)
    warnings = [line for line in outcome.lines if "LMSYSTEMS_LOG='verbose' is ignored" in line]
    assert len(warnings) == 1, outcome.stderr  # once, although four clients were created
    assert "RuntimeWarning" in warnings[0]
    assert " lmsystems: " not in outcome.stderr  # and no log line
