"""HTTPS through the client's own transport (`lmsystems/_async/_network.py`): the TLS handshake, the
certificates of the environment (`SSL_CERT_FILE`, as httpx reads it), and a head trickled over TLS that
ends with the attempt (the TLS stream is a bounded one too).

The server is `support.bad_server` over TLS, with a certificate from a throwaway authority (trustme).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from support.bad_server import Reply, RunningBadServer, json_reply, start_bad_server
from support.hostile import trickle

from lmsystems import APIConnectionError, APITimeoutError, LmsystemsClient, SyncLmsystemsClient

ASSISTANT = "asst"


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The authority in SSL_CERT_FILE, which the client reads as httpx does (trust_env)."""
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def serve(authority: trustme.CA, thread: Reply) -> RunningBadServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return start_bad_server(
        {
            f"GET /assistants/{ASSISTANT}": json_reply(200, {"assistant_id": ASSISTANT, "graph_id": "g"}),
            "GET /threads/t1": thread,
        },
        tls=context,
    )


@pytest.fixture
def server(authority: trustme.CA) -> Iterator[RunningBadServer]:
    running = serve(authority, json_reply(200, {"thread_id": "t1"}))
    try:
        yield running
    finally:
        running.stop()


def get_thread(flavour: str, url: str, timeout: float = 5.0) -> str:
    if flavour == "sync":
        with SyncLmsystemsClient(ASSISTANT, deployment_url=url, max_retries=0, timeout=timeout) as client:
            return str(client.get_thread("t1")["thread_id"])

    async def scenario() -> str:
        async with LmsystemsClient(ASSISTANT, deployment_url=url, max_retries=0, timeout=timeout) as client:
            return str((await client.get_thread("t1"))["thread_id"])

    return asyncio.run(scenario())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_https_with_the_environments_certificates(
    trusted: None, server: RunningBadServer, flavour: str
) -> None:
    assert get_thread(flavour, server.url) == "t1"
    assert server.requests[-1].target == "/threads/t1"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_an_unknown_authority_is_refused(
    server: RunningBadServer, flavour: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with pytest.raises(APIConnectionError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        get_thread(flavour, server.url)
    assert server.requests == []


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_head_trickled_over_tls_ends_with_the_attempt(
    authority: trustme.CA, trusted: None, flavour: str
) -> None:
    """A byte every 0.25 s (no single read times out): only the bound on the whole attempt ends it."""
    running = serve(authority, trickle(head=True, interval=0.25))
    try:
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="timeout of 1 s"):
            get_thread(flavour, running.url, timeout=1.0)
        assert time.monotonic() - started < 3.0  # the hostile table's allowance: 3x the time asked
    finally:
        running.stop()
