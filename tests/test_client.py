"""Building a client and resolving its graph: arguments, environment, marketplace and direct mode,
closing, secrets kept out of repr, run tracking with the marketplace, and the deployment's configuration."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from support.marketplace import (
    TEST_USER_KEY,
    build_test_table,
    create_marketplace_app,
    start_marketplace_server,
)

from lmsystems import (
    APIKeyError,
    APIKeyRejectedError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Deployment,
    GraphNotFoundError,
    GraphNotPurchasedError,
    InputError,
    LmsystemsClient,
    LmsystemsError,
    SyncLmsystemsClient,
    UnauthorizedError,
)
from lmsystems._settings import DEFAULT_BASE_URL, ClientSettings

CHAT_INPUT = {"messages": [{"role": "user", "content": "hi there"}]}


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def _env(**extra: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT", "TMPDIR") if name in os.environ}
    env.update(extra)
    return env


# ------------------------------------------------------------------------------ environment fallbacks

ENV_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from lmsystems import LmsystemsClient, SyncLmsystemsClient

    def failure(error):
        return {"error": type(error).__name__, "message": str(error), "status": error.status_code}

    async def async_outcome(options):
        try:
            client = await LmsystemsClient.create(**options)
        except Exception as error:
            return failure(error)
        try:
            return {"repr": repr(client), "deployment": client.deployment.url}
        finally:
            await client.aclose()

    def sync_outcome(options):
        try:
            client = SyncLmsystemsClient(**options)
        except Exception as error:
            return failure(error)
        with client:
            return {"repr": repr(client), "deployment": client.deployment.url}

    out = {}
    for name, options in json.loads(sys.argv[1]).items():
        out[name + "/async"] = asyncio.run(async_outcome(options))
        out[name + "/sync"] = sync_outcome(options)
    print(json.dumps(out))
    """
)


def _run_env_script(env: dict[str, str], cases: dict[str, dict[str, Any]]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", ENV_SCRIPT, json.dumps(cases)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr
    return json.loads(stdout)  # type: ignore[no-any-return]


def test_environment_fallbacks(marketplace: Any) -> None:
    """LMSYSTEMS_API_KEY and LMSYSTEMS_BASE_URL fill in for missing arguments; arguments win over them."""
    agent_url = marketplace.agent_server.url
    before = len(marketplace.graph_info_requests)
    with_env = _run_env_script(
        _env(LMSYSTEMS_API_KEY=marketplace.user_key, LMSYSTEMS_BASE_URL=marketplace.url),
        {
            "env-only": {"graph_name": "chat-graph"},
            # the api_key argument wins over LMSYSTEMS_API_KEY: this user bought nothing
            "key-argument": {"graph_name": "chat-graph", "api_key": marketplace.other_user_key},
        },
    )
    bad_env_url = _run_env_script(
        _env(LMSYSTEMS_API_KEY=marketplace.user_key, LMSYSTEMS_BASE_URL="http://127.0.0.1:9"),
        {"url-argument": {"graph_name": "chat-graph", "base_url": marketplace.url}},
    )
    malformed_env_key = _run_env_script(
        _env(LMSYSTEMS_API_KEY="has a space", LMSYSTEMS_BASE_URL=marketplace.url),
        {"malformed": {"graph_name": "chat-graph"}},
    )
    no_env = _run_env_script(_env(), {"no-key": {"graph_name": "chat-graph"}})
    results = {}
    for process in (with_env, bad_env_url, malformed_env_key, no_env):
        results.update(_finish(process))

    for facade in ("async", "sync"):
        assert results[f"env-only/{facade}"]["deployment"] == agent_url, results
        assert marketplace.url in results[f"env-only/{facade}"]["repr"]
        assert results[f"key-argument/{facade}"]["error"] == "GraphNotPurchasedError", results
        assert results[f"url-argument/{facade}"]["deployment"] == agent_url, results
        malformed = results[f"malformed/{facade}"]
        assert malformed["error"] == "APIKeyError" and "LMSYSTEMS_API_KEY" in malformed["message"], malformed
        assert "has a space" not in malformed["message"]
        no_key = results[f"no-key/{facade}"]
        assert no_key["error"] == "APIKeyError", no_key
        assert "LMSYSTEMS_API_KEY" in no_key["message"] and no_key["status"] is None
        # The advice reads as written: the secret filter must find nothing to mask in it.
        assert "pass the api_key argument" in no_key["message"] and "REDACTED" not in no_key["message"]

    sent = marketplace.graph_info_requests[before:]
    assert sorted(r.user_key for r in sent) == sorted(
        [marketplace.user_key] * 4 + [marketplace.other_user_key] * 2
    )


def test_default_base_url_without_argument_or_environment() -> None:
    settings = ClientSettings.resolve(
        graph_name="g",
        api_key="lms_key",
        base_url=None,
        deployment_url=None,
        deployment_key=None,
        timeout=None,
        max_retries=2,
        environ={},
    )
    assert settings.base_url == DEFAULT_BASE_URL
    env_settings = ClientSettings.resolve(
        graph_name="g",
        api_key=None,
        base_url=None,
        deployment_url=None,
        deployment_key=None,
        timeout=None,
        max_retries=2,
        environ={"LMSYSTEMS_API_KEY": "lms_env_key", "LMSYSTEMS_BASE_URL": "https://market.example/"},
    )
    assert env_settings.api_key == "lms_env_key"
    assert env_settings.base_url == "https://market.example"
    with pytest.raises(APIKeyError, match="LMSYSTEMS_API_KEY"):
        ClientSettings.resolve(
            graph_name="g",
            api_key=None,
            base_url=None,
            deployment_url=None,
            deployment_key=None,
            timeout=None,
            max_retries=2,
            environ={},
        )


# --------------------------------------------------------------------- bad construction, no request


class RefusingAsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500)


@pytest.mark.parametrize(
    ("options", "kind", "word"),
    [
        ({"graph_name": "chat-graph", "api_key": "two words"}, APIKeyError, "api_key"),
        ({"graph_name": "chat-graph", "api_key": "tab\tkey"}, APIKeyError, "api_key"),
        ({"graph_name": "", "api_key": "lms_ok"}, InputError, "graph_name"),
        ({"graph_name": "  ", "api_key": "lms_ok"}, InputError, "graph_name"),
    ],
    ids=["key-space", "key-tab", "graph-empty", "graph-blank"],
)
def test_bad_construction_sends_nothing(
    marketplace: Any, options: dict[str, Any], kind: type[Exception], word: str
) -> None:
    before = len(marketplace.graph_info_requests)
    transport = RefusingAsyncTransport()
    with pytest.raises(kind, match=word):
        run(LmsystemsClient.create(base_url=marketplace.url, transport=transport, **options))
    with pytest.raises(kind, match=word):
        SyncLmsystemsClient(base_url=marketplace.url, **options)
    assert transport.requests == []
    assert len(marketplace.graph_info_requests) == before


# -------------------------------------------------------------------------------- marketplace errors


@pytest.mark.parametrize("facade", ["async", "sync"])
def test_marketplace_errors(marketplace: Any, facade: str) -> None:
    def attempt(graph_name: str, api_key: str) -> LmsystemsError:
        with pytest.raises(LmsystemsError) as caught:
            if facade == "async":
                run(LmsystemsClient.create(graph_name=graph_name, api_key=api_key, base_url=marketplace.url))
            else:
                SyncLmsystemsClient(graph_name=graph_name, api_key=api_key, base_url=marketplace.url)
        return caught.value

    invalid = attempt("chat-graph", "lms_no_such_user")
    assert type(invalid) is APIKeyRejectedError and invalid.status_code == 401, repr(invalid)
    assert isinstance(invalid, APIKeyError | AuthenticationError) and isinstance(invalid, APIStatusError)
    assert "lms_no_such_user" not in str(invalid)

    unknown = attempt("no-such-graph", marketplace.user_key)
    assert type(unknown) is GraphNotFoundError and unknown.status_code == 404, repr(unknown)
    assert "no-such-graph" in str(unknown)

    unpurchased = attempt(marketplace.unpurchased_graph, marketplace.user_key)
    assert type(unpurchased) is GraphNotPurchasedError and unpurchased.status_code == 403, repr(unpurchased)

    not_bought = attempt("chat-graph", marketplace.other_user_key)
    assert type(not_bought) is GraphNotPurchasedError and not_bought.status_code == 403

    bad_name = attempt("bad name!", marketplace.user_key)
    assert type(bad_name) is BadRequestError and bad_name.status_code == 400
    assert isinstance(bad_name, InputError) and isinstance(bad_name, APIStatusError)

    before = len(marketplace.graph_info_requests)
    for blank in ("", "   "):
        missing = attempt("chat-graph", blank)
        assert type(missing) is APIKeyError and missing.status_code is None, repr(missing)
    assert len(marketplace.graph_info_requests) == before  # refused before asking the marketplace


def test_async_client_resolves_lazily_and_once(marketplace: Any) -> None:
    async def scenario() -> None:
        before = len(marketplace.graph_info_requests)
        client = LmsystemsClient(
            graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
        )
        assert client.deployment is None
        assert len(marketplace.graph_info_requests) == before
        try:
            threads = await asyncio.gather(*[client.create_thread() for _ in range(5)])
            assert len({t["thread_id"] for t in threads}) == 5
            assert client.deployment is not None
            assert await client.connect() is client.deployment
            assert len(marketplace.graph_info_requests) == before + 1
        finally:
            await client.aclose()

        lazy_bad = LmsystemsClient(graph_name="chat-graph", api_key="lms_wrong", base_url=marketplace.url)
        try:
            with pytest.raises(AuthenticationError):
                await lazy_bad.create_thread()
        finally:
            await lazy_bad.aclose()

    run(scenario())


# ------------------------------------------------------------------------------------- direct mode


def test_direct_mode_by_graph_id_and_assistant_id(agent_server: Any) -> None:
    async def scenario() -> None:
        by_graph = await LmsystemsClient.create(
            graph_name="chat", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
        )
        try:
            deployment = by_graph.deployment
            assert deployment is not None and deployment.via_marketplace is False
            assert deployment.url == agent_server.url
            assistant_id = deployment.assistant_id
            assert assistant_id != "chat"  # resolved to the graph's assistant
            by_assistant = await LmsystemsClient.create(
                graph_name=assistant_id,
                deployment_url=agent_server.url + "/",
                deployment_key=agent_server.deployment_key,
            )
            try:
                assert by_assistant.deployment is not None
                assert by_assistant.deployment.assistant_id == assistant_id
                out = await asyncio.gather(
                    by_graph.runs.wait(None, CHAT_INPUT), by_assistant.runs.wait(None, CHAT_INPUT)
                )
                for values in out:
                    assert (
                        values["messages"][-1]["content"] == "Hello from the chat graph! You said: hi there"
                    )
                assert await by_graph.health() is True
                assert "version" in await by_graph.server_info()
            finally:
                await by_assistant.aclose()
        finally:
            await by_graph.aclose()

    run(scenario())


def test_direct_mode_sync(agent_server: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="chat", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
    ) as client:
        assert client.deployment is not None and client.deployment.via_marketplace is False
        values = client.runs.wait(None, CHAT_INPUT)
        assert values["messages"][-1]["content"].endswith("You said: hi there")


@pytest.mark.parametrize("facade", ["async", "sync"])
@pytest.mark.parametrize("graph_name", ["no_such_graph", "00000000-0000-4000-8000-000000000000"])
def test_direct_mode_unknown_graph_is_graph_not_found(
    agent_server: Any, facade: str, graph_name: str
) -> None:
    options = {
        "graph_name": graph_name,
        "deployment_url": agent_server.url,
        "deployment_key": agent_server.deployment_key,
    }
    with pytest.raises(LmsystemsError) as caught:
        if facade == "async":
            run(LmsystemsClient.create(**options))
        else:
            SyncLmsystemsClient(**options)
    assert type(caught.value) is GraphNotFoundError, f"{type(caught.value).__name__}: {caught.value}"
    assert graph_name in str(caught.value)


@pytest.mark.parametrize("facade", ["async", "sync"])
@pytest.mark.parametrize("deployment_key", ["lms_wrong_deployment_key", None])
def test_direct_mode_wrong_deployment_key(agent_server: Any, facade: str, deployment_key: str | None) -> None:
    options = {"graph_name": "chat", "deployment_url": agent_server.url, "deployment_key": deployment_key}
    with pytest.raises(LmsystemsError) as caught:
        if facade == "async":
            run(LmsystemsClient.create(**options))
        else:
            SyncLmsystemsClient(**options)
    assert type(caught.value) is UnauthorizedError, repr(caught.value)
    assert isinstance(caught.value, AuthenticationError) and isinstance(caught.value, APIStatusError)
    assert caught.value.status_code == 401
    assert "lms_wrong_deployment_key" not in str(caught.value)


def test_plain_http_to_a_remote_deployment_is_refused() -> None:
    """A deployment key is never sent unencrypted to another machine (unless allowed explicitly)."""
    with pytest.raises(LmsystemsError, match="plain http"):
        run(
            LmsystemsClient.create(
                graph_name="chat", deployment_url="http://example.invalid", deployment_key="k"
            )
        )


# ---------------------------------------------------------------------------------- context managers


class TrackingAsyncTransport(httpx.AsyncBaseTransport):
    """Passes requests to a real transport; remembers whether it was closed."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.closed = False
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed = True
        await self.inner.aclose()


class TrackingSyncTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.closed = False
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def test_async_with_resolves_and_closes(marketplace: Any) -> None:
    async def scenario() -> None:
        transport = TrackingAsyncTransport()
        async with LmsystemsClient(
            graph_name="chat-graph",
            api_key=marketplace.user_key,
            base_url=marketplace.url,
            transport=transport,
        ) as client:
            assert client.deployment is not None  # __aenter__ resolved the graph
            await client.create_thread()
            assert not transport.closed
        assert transport.closed

        failing = TrackingAsyncTransport()
        with pytest.raises(GraphNotFoundError):
            async with LmsystemsClient(
                graph_name="no-such-graph",
                api_key=marketplace.user_key,
                base_url=marketplace.url,
                transport=failing,
            ):
                pass
        assert failing.closed  # a failed __aenter__ still releases the connections

        created = TrackingAsyncTransport()
        with pytest.raises(GraphNotFoundError):
            await LmsystemsClient.create(
                graph_name="no-such-graph",
                api_key=marketplace.user_key,
                base_url=marketplace.url,
                transport=created,
            )
        assert created.closed

    run(scenario())


def test_with_closes_sync(marketplace: Any) -> None:
    transport = TrackingSyncTransport()
    with SyncLmsystemsClient(
        graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url, transport=transport
    ) as client:
        client.threads.create()
        assert not transport.closed
    assert transport.closed

    failing = TrackingSyncTransport()
    with pytest.raises(GraphNotFoundError):
        SyncLmsystemsClient(
            graph_name="no-such-graph",
            api_key=marketplace.user_key,
            base_url=marketplace.url,
            transport=failing,
        )
    assert failing.closed  # the constructor closes what it opened when resolution fails


def test_using_a_closed_client_raises_an_lmsystems_error(marketplace: Any) -> None:
    """README: raw httpx exceptions or bare Exceptions never leak out -- not even after close()."""

    async def scenario() -> None:
        client = await LmsystemsClient.create(
            graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
        )
        await client.aclose()
        with pytest.raises(LmsystemsError):
            await client.create_thread()

    run(scenario())
    client = SyncLmsystemsClient(
        graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
    )
    client.close()
    with pytest.raises(LmsystemsError):
        client.threads.create()


# ------------------------------------------------------------------------------ secrets stay hidden


def test_repr_and_str_never_show_keys(marketplace: Any, agent_server: Any) -> None:
    canary = f"lms_canary_{uuid.uuid4().hex}"
    deployment_canary = f"lms_deploy_canary_{uuid.uuid4().hex}"
    marketplace.table.purchase(canary, "chat-graph")
    secrets = (canary, deployment_canary, agent_server.deployment_key)

    def assert_hidden(*objects: object) -> None:
        for thing in objects:
            for text in (repr(thing), str(thing)):
                for secret in secrets:
                    assert secret not in text, f"a key shows in {type(thing).__name__}: {text}"

    async def scenario() -> None:
        client = await LmsystemsClient.create(
            graph_name="chat-graph", api_key=canary, base_url=marketplace.url
        )
        try:
            assert client.deployment is not None
            assert client.deployment.api_key == agent_server.deployment_key
            assert_hidden(client, client.deployment, client._core.settings, client._core)
        finally:
            await client.aclose()

    run(scenario())
    with SyncLmsystemsClient(graph_name="chat-graph", api_key=canary, base_url=marketplace.url) as sync:
        assert_hidden(sync, sync.deployment, sync._core.settings)

    async def direct_scenario() -> AuthenticationError:
        direct = LmsystemsClient(
            graph_name="chat",
            api_key=canary,
            deployment_url=agent_server.url,
            deployment_key=deployment_canary,
        )
        assert_hidden(direct, direct._core.settings)
        try:
            with pytest.raises(AuthenticationError) as refused:
                await direct.connect()
            assert_hidden(direct, direct._core)
            return refused.value
        finally:
            await direct.aclose()

    refused = run(direct_scenario())
    assert_hidden(refused, refused.body, refused.args)

    with pytest.raises(AuthenticationError) as wrong:
        run(LmsystemsClient.create(graph_name="chat-graph", api_key=canary + "x", base_url=marketplace.url))
    assert_hidden(wrong.value, wrong.value.body, wrong.value.args)
    with pytest.raises(APIKeyError) as malformed:
        LmsystemsClient(graph_name="chat-graph", api_key=canary + " x", base_url=marketplace.url)
    assert_hidden(malformed.value)

    deployment = Deployment(
        graph_name="g", url="https://x.example", assistant_id="a", api_key=deployment_canary
    )
    assert_hidden(deployment)
    settings = ClientSettings.resolve(
        graph_name="g",
        api_key=canary,
        base_url=None,
        deployment_url="https://x.example",
        deployment_key=deployment_canary,
        timeout=None,
        max_retries=0,
        environ={},
    )
    assert_hidden(settings)


# -------------------------------------------------------------------------------------- run tracking


def _tracked(marketplace: Any) -> dict[str, str]:
    return {t.run_id: t.graph_name for t in marketplace.tracked_runs}


def test_runs_are_tracked_with_the_marketplace(marketplace: Any) -> None:
    async def scenario() -> dict[str, str]:
        client = await LmsystemsClient.create(
            graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
        )
        try:
            threads = await asyncio.gather(*[client.create_thread() for _ in range(3)])
            streamed = client.stream_run(threads[0], CHAT_INPUT)
            background = client.stream_run(threads[1], CHAT_INPUT, is_background=True)
            stateless = client.stream_run(None, CHAT_INPUT)
            _, _, _, created, batch = await asyncio.gather(
                streamed.collect(),
                background.collect(),
                stateless.collect(),
                client.runs.create(threads[2], CHAT_INPUT),
                client.runs.create_batch([{"input": CHAT_INPUT}, {"input": CHAT_INPUT}]),
            )
            await client.runs.join(threads[2], created["run_id"])
            return {
                "streamed": str(streamed.run_id),
                "background": str(background.run_id),
                "stateless": str(stateless.run_id),
                "created": created["run_id"],
                "batch-1": batch[0]["run_id"],
                "batch-2": batch[1]["run_id"],
            }
        finally:
            await client.aclose()

    run_ids = run(scenario())
    tracked = _tracked(marketplace)
    missing = {kind: run_id for kind, run_id in run_ids.items() if tracked.get(run_id) != "chat-graph"}
    assert not missing, f"not tracked: {missing}"
    assert all(
        t.user_key == marketplace.user_key for t in marketplace.tracked_runs if t.run_id in run_ids.values()
    )


def test_sync_runs_are_tracked(marketplace: Any) -> None:
    with SyncLmsystemsClient(
        graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as c:
        thread = c.threads.create()
        stream = c.stream_run(thread, CHAT_INPUT)
        stream.collect()
        created = c.runs.create(None, CHAT_INPUT)
    tracked = _tracked(marketplace)
    assert tracked.get(str(stream.run_id)) == "chat-graph"
    assert tracked.get(created["run_id"]) == "chat-graph"


def test_runs_waited_for_are_tracked(marketplace: Any) -> None:
    """runs.wait starts a run like runs.create does; the marketplace should hear of it too."""

    async def scenario() -> int:
        client = await LmsystemsClient.create(
            graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
        )
        try:
            before = len(marketplace.tracked_runs)
            thread = await client.create_thread()
            await asyncio.gather(client.runs.wait(thread, CHAT_INPUT), client.runs.wait(None, CHAT_INPUT))
            return len(marketplace.tracked_runs) - before
        finally:
            await client.aclose()

    assert run(scenario()) == 2


def test_direct_mode_tracks_nothing(marketplace: Any, agent_server: Any) -> None:
    async def scenario() -> None:
        before = len(marketplace.tracked_runs)
        client = await LmsystemsClient.create(
            graph_name="chat", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
        )
        try:
            await client.stream_run(None, CHAT_INPUT).collect()
        finally:
            await client.aclose()
        assert len(marketplace.tracked_runs) == before

    run(scenario())


@pytest.fixture(scope="module")
def broken_tracking_marketplace(agent_server: Any) -> Any:
    """A marketplace whose get_graph_info works but whose track_run fails, in ways set by `mode`."""
    app = create_marketplace_app(build_test_table(), agent_server.url, agent_server.deployment_key)
    app.state.track_mode = "500"
    app.state.track_calls = []

    async def broken_track_run(request: Request) -> Response:
        app.state.track_calls.append(json.loads(await request.body()))
        mode = app.state.track_mode
        if mode == "500":
            return JSONResponse({"detail": "tracking is down"}, status_code=500)
        if mode == "401":
            return JSONResponse({"detail": {"error": "invalid_api_key", "message": "no"}}, status_code=401)
        return PlainTextResponse("<html>not json</html>", status_code=200)

    app.router.routes.insert(0, Route("/api/track_run", broken_track_run, methods=["POST"]))
    with start_marketplace_server(app) as running:
        yield running


@pytest.mark.parametrize("mode", ["500", "401", "not-json"])
def test_a_failing_track_run_does_not_fail_the_call(
    broken_tracking_marketplace: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = broken_tracking_marketplace.app
    app.state.track_mode = mode
    app.state.track_calls.clear()

    async def scenario() -> None:
        client = await LmsystemsClient.create(
            graph_name="chat-graph", api_key=TEST_USER_KEY, base_url=broken_tracking_marketplace.url
        )
        try:
            thread, other = await asyncio.gather(client.create_thread(), client.create_thread())
            streamed, background, created = await asyncio.gather(
                client.stream_run(thread, CHAT_INPUT).collect(),
                client.stream_run(other, CHAT_INPUT, is_background=True).collect(),
                client.runs.create(None, CHAT_INPUT),
            )
            for parts in (streamed, background):
                assert parts[-1].data["messages"][-1]["content"].endswith("You said: hi there")
            assert created["status"] == "pending"
        finally:
            await client.aclose()

    with caplog.at_level(logging.WARNING, logger="lmsystems"):
        run(scenario())
    assert len(app.state.track_calls) == 3  # each run was reported (once: no retries)
    assert "could not record run" in caplog.text
    assert TEST_USER_KEY not in caplog.text

    with SyncLmsystemsClient(
        graph_name="chat-graph", api_key=TEST_USER_KEY, base_url=broken_tracking_marketplace.url
    ) as client:
        created = client.runs.create(None, CHAT_INPUT)
        assert created["run_id"]


# ------------------------------------------------------------------ the deployment's configuration


def test_default_configurable_reaches_the_run(marketplace: Any) -> None:
    """chat-graph's marketplace listing carries configurable persona="marketplace": the reply shows it."""

    async def scenario() -> None:
        client = await LmsystemsClient.create(
            graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
        )
        try:
            assert client.deployment is not None
            assert client.deployment.configurable == {"persona": "marketplace"}
            assert client.deployment.environment_variables == {"LMSYSTEMS_TEST_GRAPH": "chat"}
            thread = await client.create_thread()
            tokens, own, wait = await asyncio.gather(
                client.stream_run(thread, CHAT_INPUT, stream_mode="messages-tuple").collect(),
                client.stream_run(
                    None, CHAT_INPUT, stream_mode="values", config={"configurable": {"persona": "mine"}}
                ).collect(),
                client.runs.wait(None, CHAT_INPUT, config={"tags": ["x"]}),
            )
            text = "".join(part.data[0]["content"] for part in tokens if part.event == "messages")
            assert text == "[marketplace] Hello from the chat graph! You said: hi there"
            # the caller's own configurable wins over the deployment's default
            assert own[-1].data["messages"][-1]["content"].startswith("[mine] ")
            # a config without configurable still gets the default
            assert wait["messages"][-1]["content"].startswith("[marketplace] ")
        finally:
            await client.aclose()

    run(scenario())
    with SyncLmsystemsClient(
        graph_name="chat-graph", api_key=marketplace.user_key, base_url=marketplace.url
    ) as c:
        values = c.runs.wait(None, CHAT_INPUT)
        assert values["messages"][-1]["content"].startswith("[marketplace] ")
