"""Bad arguments fail with the exact exception, naming the argument, before any request is sent.

Each client gets `transport=` a transport that records every request it is asked to send. The async
client resolves its graph lazily, so a fresh one must send nothing at all; the sync client resolves at
construction (the recording transport answers that one request), so its record is cleared afterwards.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lmsystems import (
    APIKeyError,
    AsyncRunStream,
    InputError,
    LmsystemsClient,
    MultitaskStrategy,
    StreamMode,
    SyncLmsystemsClient,
    SyncRunStream,
)

DEPLOYMENT_URL = "http://127.0.0.1:9"  # never contacted: the transports below answer instead
ASSISTANT = {"assistant_id": "3f1c2d4e-0000-4000-8000-000000000001", "graph_id": "chat", "version": 1}
THREAD_ID = "3f1c2d4e-0000-4000-8000-0000000000aa"
THREAD = {"thread_id": THREAD_ID, "status": "idle", "metadata": {}}


def _answer(request: httpx.Request) -> httpx.Response:
    if request.method == "GET" and request.url.path.startswith("/assistants/"):
        return httpx.Response(200, json=ASSISTANT)
    return httpx.Response(500, json={"detail": "the recording transport only resolves the graph"})


class RecordingAsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return _answer(request)


class RecordingSyncTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return _answer(request)


def _sent(transport: RecordingAsyncTransport | RecordingSyncTransport) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in transport.requests]


# ------------------------------------------------------------------------------------------ call cases

#: (id, action(client), exception class, words the message must contain)
Action = Callable[[Any], Any]
ALL_MODES = [mode.value for mode in StreamMode]
ALL_STRATEGIES = [strategy.value for strategy in MultitaskStrategy]
MSG = {"messages": [{"role": "user", "content": "hi"}]}

CALL_CASES: list[tuple[str, Action, type[Exception], list[str]]] = [
    (
        "stream_mode-unknown",
        lambda c: c.stream_run(THREAD, MSG, stream_mode="message"),
        InputError,
        ["stream_mode", "'message'", *ALL_MODES],
    ),
    (
        "stream_mode-unknown-in-list",
        lambda c: c.stream_run(THREAD, MSG, stream_mode=["values", "bogus"]),
        InputError,
        ["stream_mode", "'bogus'", *ALL_MODES],
    ),
    (
        "stream_mode-empty-list",
        lambda c: c.stream_run(THREAD, MSG, stream_mode=[]),
        InputError,
        ["stream_mode", *ALL_MODES],
    ),
    (
        "stream_mode-wrong-type",
        lambda c: c.stream_run(THREAD, MSG, stream_mode=5),
        InputError,
        ["stream_mode"],
    ),
    (
        "stream_mode-unknown-join_stream",
        lambda c: c.runs.join_stream(THREAD, "run-1", stream_mode="value"),
        InputError,
        ["stream_mode", *ALL_MODES],
    ),
    (
        "multitask_strategy-unknown",
        lambda c: c.stream_run(THREAD, MSG, multitask_strategy="queue"),
        InputError,
        ["multitask_strategy", "'queue'", *ALL_STRATEGIES],
    ),
    (
        "multitask_strategy-unknown-create",
        lambda c: c.runs.create(THREAD, MSG, multitask_strategy="REJECT"),
        InputError,
        ["multitask_strategy", *ALL_STRATEGIES],
    ),
    (
        "thread-dict-without-thread_id",
        lambda c: c.stream_run({"id": THREAD_ID}, MSG),
        InputError,
        ["thread", "thread_id"],
    ),
    (
        "thread-dict-without-thread_id-state",
        lambda c: c.get_thread_state({"id": THREAD_ID}),
        InputError,
        ["thread", "thread_id"],
    ),
    (
        "thread-wrong-type-int",
        lambda c: c.get_thread_status(123),
        InputError,
        ["thread", "int"],
    ),
    (
        "thread-wrong-type-list",
        lambda c: c.stream_run([THREAD_ID], MSG),
        InputError,
        ["thread", "list"],
    ),
    (
        "thread-empty-string",
        lambda c: c.runs.list(""),
        InputError,
        ["thread"],
    ),
    (
        "input-set",
        lambda c: c.stream_run(THREAD, {"messages": {"a", "b"}}),
        InputError,
        ["input"],
    ),
    (
        "input-object",
        lambda c: c.runs.create(THREAD, {"value": object()}),
        InputError,
        ["input"],
    ),
    (
        "input-nan",
        lambda c: c.runs.wait(THREAD, {"value": float("nan")}),
        InputError,
        ["input"],
    ),
    (
        "input-docs-placeholder-is-a-set",
        lambda c: c.stream_run(thread=THREAD, input={...}, stream_mode=["messages", "updates"]),
        InputError,
        ["input"],
    ),
    (
        "state_update-not-json",
        lambda c: c.update_thread_state(THREAD, {"accepted": {True}}, as_node="human_interaction"),
        InputError,
        ["state_update"],
    ),
    (
        "limit-negative-history",
        lambda c: c.get_state_history(THREAD, limit=-1),
        InputError,
        ["limit", "-1"],
    ),
    (
        "limit-zero-thread-search",
        lambda c: c.threads.search(limit=0),
        InputError,
        ["limit"],
    ),
    (
        "limit-negative-runs-list",
        lambda c: c.runs.list(THREAD, limit=-5),
        InputError,
        ["limit"],
    ),
    (
        "limit-negative-store-search",
        lambda c: c.store.search_items(["users"], limit=-1),
        InputError,
        ["limit"],
    ),
    (
        "namespace-dot-put",
        lambda c: c.store.put_item(["users.eu", "u1"], "k", {"a": 1}),
        InputError,
        ["namespace", "users.eu"],
    ),
    (
        "namespace-dot-get",
        lambda c: c.store.get_item(["users", "a.b"], "k"),
        InputError,
        ["namespace", "a.b"],
    ),
    (
        "namespace-dot-delete",
        lambda c: c.store.delete_item(["a.b"], "k"),
        InputError,
        ["namespace"],
    ),
    (
        "namespace-dot-search",
        lambda c: c.store.search_items(["a.b"]),
        InputError,
        ["namespace_prefix"],
    ),
    (
        "interrupt_before-node-string",
        lambda c: c.stream_run(THREAD, MSG, interrupt_before="draft"),
        InputError,
        ["interrupt_before", '"*"'],
    ),
    (
        "interrupt_before-int",
        lambda c: c.stream_run(THREAD, MSG, interrupt_before=5),
        InputError,
        ["interrupt_before"],
    ),
    (
        "interrupt_after-list-of-ints",
        lambda c: c.runs.create(THREAD, MSG, interrupt_after=[1, 2]),
        InputError,
        ["interrupt_after"],
    ),
    (
        "command-unknown-keys",
        lambda c: c.stream_run(THREAD, None, command={"resum": True}),
        InputError,
        ["command", "resum"],
    ),
    (
        "command-wrong-type",
        lambda c: c.stream_run(THREAD, None, command="resume"),
        InputError,
        ["command"],
    ),
    (
        "checkpoint_id-stateless-stream",
        lambda c: c.stream_run(None, MSG, checkpoint_id="1f0c0000-0000-6000-8000-000000000001"),
        InputError,
        ["checkpoint_id"],
    ),
    (
        "checkpoint_id-stateless-create",
        lambda c: c.runs.create(None, MSG, checkpoint_id="1f0c0000-0000-6000-8000-000000000001"),
        InputError,
        ["checkpoint_id"],
    ),
    (
        "checkpoint_id-stateless-wait",
        lambda c: c.runs.wait(None, MSG, checkpoint_id="1f0c0000-0000-6000-8000-000000000001"),
        InputError,
        ["checkpoint_id"],
    ),
    (
        "multitask_strategy-stateless",
        lambda c: c.runs.create(None, MSG, multitask_strategy="reject"),
        InputError,
        ["multitask_strategy"],
    ),
    (
        "is_background-without-thread",
        lambda c: c.stream_run(None, MSG, is_background=True),
        InputError,
        ["is_background"],
    ),
    (
        "is_background-thread-None-keyword",
        lambda c: c.stream_run(thread=None, input=MSG, is_background=True),
        InputError,
        ["is_background"],
    ),
]


def _check_message(error: BaseException, words: list[str]) -> None:
    text = str(error)
    missing = [word for word in words if word not in text]
    assert not missing, f"the message {text!r} does not name {missing}"


async def _attempt_async(client: LmsystemsClient, action: Action) -> None:
    result = action(client)
    if isinstance(result, AsyncRunStream):
        async for _ in result:
            pass
    elif inspect.isawaitable(result):
        await result


def _attempt_sync(client: SyncLmsystemsClient, action: Action) -> None:
    result = action(client)
    if isinstance(result, SyncRunStream):
        for _ in result:
            pass


@pytest.mark.parametrize(
    ("action", "kind", "words"), [c[1:] for c in CALL_CASES], ids=[c[0] for c in CALL_CASES]
)
def test_async_bad_call_fails_before_any_request(
    action: Action, kind: type[Exception], words: list[str]
) -> None:
    transport = RecordingAsyncTransport()

    async def scenario() -> BaseException:
        client = LmsystemsClient(graph_name="chat", deployment_url=DEPLOYMENT_URL, transport=transport)
        try:
            with pytest.raises(Exception) as caught:
                await _attempt_async(client, action)
            return caught.value
        finally:
            await client.aclose()

    error = asyncio.run(scenario())
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    _check_message(error, words)
    assert _sent(transport) == [], "a request was sent before the bad argument was refused"


@pytest.mark.parametrize(
    ("action", "kind", "words"), [c[1:] for c in CALL_CASES], ids=[c[0] for c in CALL_CASES]
)
def test_sync_bad_call_fails_before_any_request(
    action: Action, kind: type[Exception], words: list[str]
) -> None:
    transport = RecordingSyncTransport()
    with SyncLmsystemsClient(graph_name="chat", deployment_url=DEPLOYMENT_URL, transport=transport) as client:
        assert _sent(transport) == ["GET /assistants/chat"]  # the sync client resolves at construction
        transport.requests.clear()
        with pytest.raises(Exception) as caught:
            _attempt_sync(client, action)
    error = caught.value
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    _check_message(error, words)
    assert _sent(transport) == [], "a request was sent before the bad argument was refused"


def test_stream_run_checks_its_arguments_at_the_call() -> None:
    """stream_run's docstring: "Arguments are checked at once (InputError)" -- not on the first read."""
    client = LmsystemsClient(
        graph_name="chat", deployment_url=DEPLOYMENT_URL, transport=RecordingAsyncTransport()
    )
    with pytest.raises(InputError, match="stream_mode"):
        client.stream_run(THREAD, MSG, stream_mode="nope")
    with pytest.raises(InputError, match="is_background"):
        client.stream_run(None, MSG, is_background=True)
    with pytest.raises(InputError, match="checkpoint_id"):
        client.stream_run(None, MSG, checkpoint_id="1f0c0000-0000-6000-8000-000000000001")
    # The values the spec allows, read from the generated TypedDicts when such an option is given.
    for option, allowed in [
        ("durability", "sync"),
        ("on_disconnect", "cancel"),
        ("on_completion", "keep"),
        ("if_not_exists", "create"),
    ]:
        with pytest.raises(InputError, match=f"{option} must be one of .*{allowed!r}"):
            client.stream_run(THREAD, MSG, **{option: "nope"})
        client.stream_run(THREAD, MSG, **{option: allowed})  # checked, not sent: never iterated
    asyncio.run(client.aclose())


# ---------------------------------------------------------------------------------- construction cases

CONSTRUCTION_CASES: list[tuple[str, dict[str, Any], type[Exception], list[str]]] = [
    ("graph_name-empty", {"graph_name": ""}, InputError, ["graph_name"]),
    ("graph_name-blank", {"graph_name": "   "}, InputError, ["graph_name"]),
    # None is allowed with deployment_url (runs then name their assistant_id), not through the marketplace.
    ("graph_name-None", {"graph_name": None, "deployment_url": None}, InputError, ["graph_name"]),
    ("graph_name-int", {"graph_name": 42}, InputError, ["graph_name"]),
    ("api_key-space", {"api_key": "lms key"}, APIKeyError, ["api_key", "malformed"]),
    ("api_key-newline", {"api_key": "lms_key\nX-Injected: 1"}, APIKeyError, ["api_key"]),
    ("api_key-non-ascii", {"api_key": "lms_ключ"}, APIKeyError, ["api_key"]),
    ("api_key-empty", {"api_key": ""}, APIKeyError, ["api_key"]),
    ("deployment_key-space", {"deployment_key": "a b"}, APIKeyError, ["deployment_key"]),
    ("timeout-zero", {"timeout": 0}, InputError, ["timeout"]),
    ("timeout-negative", {"timeout": -1.5}, InputError, ["timeout"]),
    ("timeout-string", {"timeout": "30"}, InputError, ["timeout"]),
    ("timeout-bool", {"timeout": True}, InputError, ["timeout"]),
    ("timeout-nan", {"timeout": float("nan")}, InputError, ["timeout"]),
    ("max_retries-negative", {"max_retries": -1}, InputError, ["max_retries"]),
    ("deployment_url-ftp", {"deployment_url": "ftp://example.com"}, InputError, ["deployment_url"]),
    ("base_url-not-a-url", {"base_url": "custom-url"}, InputError, ["base_url"]),
]


def _options(transport: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"graph_name": "chat", "deployment_url": DEPLOYMENT_URL, "transport": transport}
    options.update(overrides)
    return options


@pytest.mark.parametrize(
    ("overrides", "kind", "words"),
    [c[1:] for c in CONSTRUCTION_CASES],
    ids=[c[0] for c in CONSTRUCTION_CASES],
)
@pytest.mark.parametrize("facade", ["async", "sync"])
def test_bad_construction_fails_before_any_request(
    facade: str, overrides: dict[str, Any], kind: type[Exception], words: list[str]
) -> None:
    transport: RecordingAsyncTransport | RecordingSyncTransport
    if facade == "async":
        transport = RecordingAsyncTransport()
        with pytest.raises(Exception) as caught:
            asyncio.run(LmsystemsClient.create(**_options(transport, overrides)))
    else:
        transport = RecordingSyncTransport()
        with pytest.raises(Exception) as caught:
            SyncLmsystemsClient(**_options(transport, overrides))
    error = caught.value
    assert type(error) is kind, f"{type(error).__name__}: {error}"
    _check_message(error, words)
    assert _sent(transport) == []


NO_KEY_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, httpx
    from lmsystems import LmsystemsClient, SyncLmsystemsClient

    seen = []

    class A(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            seen.append(str(request.url))
            return httpx.Response(500)

    class S(httpx.BaseTransport):
        def handle_request(self, request):
            seen.append(str(request.url))
            return httpx.Response(500)

    out = {}
    for name, make in [
        ("async", lambda: asyncio.run(LmsystemsClient.create(graph_name="chat-graph", transport=A()))),
        ("sync", lambda: SyncLmsystemsClient(graph_name="chat-graph", transport=S())),
    ]:
        try:
            make()
            out[name] = ["no error", ""]
        except Exception as error:
            out[name] = [type(error).__name__, str(error)]
    out["seen"] = seen
    print(json.dumps(out))
    """
)


def test_no_api_key_anywhere_fails_before_any_request() -> None:
    """Marketplace mode, no api_key argument and no LMSYSTEMS_API_KEY: APIKeyError, nothing sent."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT", "TMPDIR") if name in os.environ}
    done = subprocess.run(
        [sys.executable, "-c", NO_KEY_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    for facade in ("async", "sync"):
        kind, message = out[facade]
        assert kind == "APIKeyError", out
        assert "api_key" in message and "LMSYSTEMS_API_KEY" in message, message
    assert out["seen"] == []
