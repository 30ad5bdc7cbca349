"""The environment's proxies still carry the client's requests (httpx mounts none once given a transport,
so the client mounts them itself, `lmsystems/_proxies.py`), NO_PROXY still turns them off, and a proxied
attempt is bounded as a whole like a direct one.

The proxy is a real loopback server (`support.bad_server`) that answers what it is asked in absolute form.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from support.bad_server import Reply, RunningBadServer, json_reply, start_bad_server
from support.hostile import trickle

from lmsystems import APIConnectionError, APITimeoutError, LmsystemsClient, SyncLmsystemsClient

ASSISTANT = "asst"
#: A deployment no resolver knows: only a proxy can reach it.
TARGET = "http://deployment.invalid:8123"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def serve_proxy(monkeypatch: pytest.MonkeyPatch, thread: Reply) -> RunningBadServer:
    """A proxy for TARGET (the assistant lookup answered, GET /threads/t1 with `thread`), in http_proxy."""
    server = start_bad_server(
        {
            f"GET {TARGET}/assistants/{ASSISTANT}": json_reply(
                200, {"assistant_id": ASSISTANT, "graph_id": "g"}
            ),
            f"GET {TARGET}/threads/t1": thread,
        }
    )
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("http_proxy", server.url)
    return server


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningBadServer]:
    server = serve_proxy(monkeypatch, json_reply(200, {"thread_id": "t1"}))
    try:
        yield server
    finally:
        server.stop()


def get_thread(flavour: str, timeout: float = 5.0) -> str:
    if flavour == "sync":
        with SyncLmsystemsClient(
            ASSISTANT, deployment_url=TARGET, max_retries=0, allow_insecure_http=True, timeout=timeout
        ) as client:
            return str(client.get_thread("t1")["thread_id"])

    async def scenario() -> str:
        async with LmsystemsClient(
            ASSISTANT, deployment_url=TARGET, max_retries=0, allow_insecure_http=True, timeout=timeout
        ) as client:
            return str((await client.get_thread("t1"))["thread_id"])

    return asyncio.run(scenario())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_requests_go_through_the_environments_proxy(proxy: RunningBadServer, flavour: str) -> None:
    assert get_thread(flavour) == "t1"
    assert [request.target for request in proxy.requests][-1] == f"{TARGET}/threads/t1"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_no_proxy_turns_the_proxy_off(
    proxy: RunningBadServer, monkeypatch: pytest.MonkeyPatch, flavour: str
) -> None:
    monkeypatch.setenv("no_proxy", "deployment.invalid")
    with pytest.raises(APIConnectionError):
        get_thread(flavour)
    assert proxy.requests == []


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_head_trickled_through_the_proxy_ends_with_the_attempt(
    monkeypatch: pytest.MonkeyPatch, flavour: str
) -> None:
    """A proxied connection is the client's own too: its head, a byte every 0.25 s (no single read waits
    long), ends with timeout=1."""
    server = serve_proxy(monkeypatch, trickle(head=True, interval=0.25))
    try:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="timeout of 1 s"):
            get_thread(flavour, timeout=1.0)
        assert time.monotonic() - started < 3.0  # the hostile table's allowance: 3x the time asked
        assert server.requests[-1].target == f"{TARGET}/threads/t1"
    finally:
        server.stop()
