"""The environment's proxies still carry the client's requests (httpx mounts none once given a transport,
so the client mounts them itself, `lmsystems/_proxies.py`), and NO_PROXY still turns them off.

The proxy is a real loopback server (`support.bad_server`) that answers what it is asked in absolute form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from support.bad_server import RunningBadServer, json_reply, start_bad_server

from lmsystems import APIConnectionError, LmsystemsClient, SyncLmsystemsClient

ASSISTANT = "asst"
#: A deployment no resolver knows: only a proxy can reach it.
TARGET = "http://deployment.invalid:8123"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningBadServer]:
    server = start_bad_server(
        {
            f"GET {TARGET}/assistants/{ASSISTANT}": json_reply(
                200, {"assistant_id": ASSISTANT, "graph_id": "g"}
            ),
            f"GET {TARGET}/threads/t1": json_reply(200, {"thread_id": "t1"}),
        }
    )
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("http_proxy", server.url)
    try:
        yield server
    finally:
        server.stop()


def get_thread(flavour: str) -> str:
    if flavour == "sync":
        with SyncLmsystemsClient(
            ASSISTANT, deployment_url=TARGET, max_retries=0, allow_insecure_http=True
        ) as client:
            return str(client.get_thread("t1")["thread_id"])

    async def scenario() -> str:
        async with LmsystemsClient(
            ASSISTANT, deployment_url=TARGET, max_retries=0, allow_insecure_http=True
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
