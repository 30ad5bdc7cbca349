"""Keys never leak: not into log records (at DEBUG, ours and httpx's/httpcore's), not into reprs, not into
exceptions or their tracebacks, and not to another origin through a redirect.

Canary keys (random per test) are planted as the user's API key and as the deployment key, flows run
(successful runs against the real Agent Server, refused keys, unreachable hosts, bad answers from
`support.bad_server`), and every piece of text the SDK produced is searched for them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from support.bad_server import (
    HANG,
    RecordedRequest,
    Reply,
    RunningBadServer,
    closed_port_url,
    html_reply,
    json_reply,
    redirect_reply,
    reply,
    sse_reply,
    start_bad_server,
)
from support.marketplace import MarketplaceTable, create_marketplace_app, start_marketplace_server

from lmsystems import (
    APIConnectionError,
    APIKeyRejectedError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    InternalServerError,
    LmsystemsClient,
    LmsystemsError,
    NotFoundError,
    RunError,
    StreamError,
    SyncLmsystemsClient,
    UnauthorizedError,
)

GRAPH = "chat-graph"
ASSISTANT = "asst"
CHAT_INPUT = {"messages": [{"role": "user", "content": "is anything leaking?"}]}
LOGGERS = ("lmsystems", "httpx", "httpcore")


@dataclass
class Canaries:
    user: str = field(default_factory=lambda: "lms_canary_" + secrets.token_hex(16))
    deployment: str = field(default_factory=lambda: "lms_canary_dep_" + secrets.token_hex(16))
    #: A user key the marketplace does not know (a typo'd key is a secret too).
    wrong_user: str = field(default_factory=lambda: "lms_canary_wrong_" + secrets.token_hex(16))

    def all(self, *more: str | None) -> list[str]:
        return [self.user, self.deployment, self.wrong_user, *(value for value in more if value)]


@dataclass
class Witness:
    """Collects every text the SDK produced during a test, then searches it for secrets."""

    caplog: pytest.LogCaptureFixture
    texts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def objects(self, *values: Any) -> None:
        for value in values:
            self.texts.append((f"repr of {type(value).__name__}", repr(value)))
            self.texts.append((f"str of {type(value).__name__}", str(value)))

    def error(self, error: BaseException) -> BaseException:
        self.errors.append(error)
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:  # the whole chain, shown or suppressed
            seen.add(id(current))
            name = type(current).__name__
            self.texts.append((f"str of {name}", str(current)))
            self.texts.append((f"repr of {name}", repr(current)))
            self.texts.append((f"args of {name}", repr(current.args)))
            try:  # a kept cause (an httpx or langgraph-sdk error) holds the request it failed on
                request = getattr(current, "request", None)
            except RuntimeError:  # httpx: no request attached
                request = None
            if isinstance(request, httpx.Request):
                self.texts.append((f"request headers of {name}", repr(request.headers.raw)))
            current = current.__cause__ or current.__context__
        self.texts.append(("traceback", "".join(traceback.format_exception(error))))
        return error

    def expect(self, kind: type[LmsystemsError], call: Callable[[], Any]) -> BaseException:
        """Run `call`, which must raise `kind` (exactly), and keep the error as evidence."""
        try:
            call()
        except Exception as error:
            self.error(error)
            assert type(error) is kind, f"{type(error).__module__}.{type(error).__name__}: {error}"
            return error
        raise AssertionError(f"{kind.__name__} was not raised")

    async def expect_async(self, kind: type[LmsystemsError], call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except Exception as error:
            self.error(error)
            assert type(error) is kind, f"{type(error).__module__}.{type(error).__name__}: {error}"
            return
        raise AssertionError(f"{kind.__name__} was not raised")

    def log_texts(self) -> Iterator[tuple[str, str]]:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in self.caplog.records:
            where = f"log record of {record.name} ({record.getMessage()[:60]!r}...)"
            yield where, record.getMessage()
            yield where, formatter.format(record)  # computes exc_text from exc_info if needed
            yield where, record.exc_text or ""
            yield where, record.stack_info or ""
        yield "caplog.text", self.caplog.text

    def assert_clean(self, *secret_values: str) -> None:
        loggers = {record.name.split(".")[0] for record in self.caplog.records}
        assert {"httpx", "httpcore"} <= loggers, f"DEBUG logs were not captured: {loggers}"
        leaks = [
            (where, secret, text[max(0, text.find(secret) - 120) : text.find(secret) + 60])
            for where, text in [*self.texts, *self.log_texts()]
            for secret in secret_values
            if secret and secret in text
        ]
        assert not leaks, "secrets leaked:\n" + "\n".join(
            f"- {where}: ...{excerpt}..." for where, _, excerpt in leaks[:10]
        )


@pytest.fixture
def canaries() -> Canaries:
    return Canaries()


@pytest.fixture
def witness(caplog: pytest.LogCaptureFixture) -> Witness:
    caplog.set_level(logging.DEBUG)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return Witness(caplog)


def test_the_witness_finds_a_planted_secret(witness: Witness, canaries: Canaries) -> None:
    """The search is not vacuous: a canary in a log record, a repr or an error is found."""
    routes = {f"GET /assistants/{ASSISTANT}": json_reply(200, {"assistant_id": ASSISTANT})}
    with start_bad_server(routes) as server:
        SyncLmsystemsClient(ASSISTANT, deployment_url=server.url, max_retries=0).close()  # httpx logs
    witness.assert_clean(canaries.user)
    logging.getLogger("some.library").warning("oops %s", canaries.user)
    with pytest.raises(AssertionError, match="secrets leaked"):
        witness.assert_clean(canaries.user)


# ---------------------------------------------------------------------------- the real Agent Server


def _marketplace_for(canaries: Canaries, agent_server: Any, deployment_key: str | None) -> Any:
    table = MarketplaceTable()
    table.add_user(canaries.user)
    table.add_graph(GRAPH, "chat", configurables={"persona": "canary"})
    table.purchase(canaries.user, GRAPH)
    return create_marketplace_app(table, agent_server.url, deployment_key)


def test_sync_flows_against_the_real_servers_leak_nothing(
    agent_server: Any, canaries: Canaries, witness: Witness
) -> None:
    good = _marketplace_for(canaries, agent_server, agent_server.deployment_key)
    refused = _marketplace_for(canaries, agent_server, canaries.deployment)
    with start_marketplace_server(good) as market, start_marketplace_server(refused) as bad_market:
        # A successful run, resolved through the marketplace with the user canary.
        with SyncLmsystemsClient(GRAPH, api_key=canaries.user, base_url=market.url) as client:
            thread = client.create_thread()
            parts = client.stream_run(thread, CHAT_INPUT, stream_mode=["values", "messages-tuple"]).collect()
            assert parts and parts[-1].event == "values"
            state = client.get_thread_state(thread)
            assert "[canary]" in str(state["values"])
            witness.objects(
                client,
                client.with_options(timeout=5),
                client._core,
                client._core.settings,
                client.deployment,
                thread,
                state,
            )
            witness.expect(NotFoundError, lambda: client.threads.get("00000000-0000-0000-0000-000000000000"))
        assert good.state.tracked_runs, "the run was not tracked: the marketplace flow did not run"

        # A key the marketplace does not know: 401.
        witness.expect(
            APIKeyRejectedError,
            lambda: SyncLmsystemsClient(GRAPH, api_key=canaries.wrong_user, base_url=market.url),
        )
        # The marketplace hands out the deployment canary; the Agent Server refuses it: 401.
        with SyncLmsystemsClient(GRAPH, api_key=canaries.user, base_url=bad_market.url) as client:
            witness.objects(client, client._core, client._core.settings, client.deployment)
            witness.expect(UnauthorizedError, client.create_thread)
            witness.expect(UnauthorizedError, lambda: client.stream_run(None, CHAT_INPUT).collect())
        # Direct mode with the deployment canary: 401 while connecting.
        witness.expect(
            UnauthorizedError,
            lambda: SyncLmsystemsClient(
                "chat", deployment_url=agent_server.url, deployment_key=canaries.deployment
            ),
        )
    # Unreachable hosts.
    witness.expect(
        APIConnectionError,
        lambda: SyncLmsystemsClient(GRAPH, api_key=canaries.user, base_url=closed_port_url(), max_retries=0),
    )
    witness.expect(
        APIConnectionError,
        lambda: SyncLmsystemsClient(
            "chat", deployment_url=closed_port_url(), deployment_key=canaries.deployment, max_retries=0
        ),
    )
    witness.assert_clean(*canaries.all(agent_server.deployment_key))


def test_async_flows_against_the_real_servers_leak_nothing(
    agent_server: Any, canaries: Canaries, witness: Witness
) -> None:
    good = _marketplace_for(canaries, agent_server, agent_server.deployment_key)
    refused = _marketplace_for(canaries, agent_server, canaries.deployment)

    async def flows(market_url: str, bad_market_url: str) -> None:
        async with LmsystemsClient(GRAPH, api_key=canaries.user, base_url=market_url) as client:
            thread = await client.create_thread()
            parts = await client.stream_run(thread, CHAT_INPUT, stream_mode=["values", "messages"]).collect()
            assert parts and parts[-1].event == "values"
            assert await client.runs.wait(thread, CHAT_INPUT)
            witness.objects(client, client._core, client._core.settings, client.deployment, thread)
        await witness.expect_async(
            APIKeyRejectedError,
            lambda: LmsystemsClient.create(GRAPH, api_key=canaries.wrong_user, base_url=market_url),
        )
        async with LmsystemsClient(GRAPH, api_key=canaries.user, base_url=bad_market_url) as client:
            witness.objects(client, client._core, client.deployment)
            await witness.expect_async(UnauthorizedError, client.create_thread)
            await witness.expect_async(
                UnauthorizedError, lambda: client.stream_run(None, CHAT_INPUT).collect()
            )
        await witness.expect_async(
            UnauthorizedError,
            lambda: LmsystemsClient.create(
                "chat", deployment_url=agent_server.url, deployment_key=canaries.deployment
            ),
        )
        await witness.expect_async(
            APIConnectionError,
            lambda: LmsystemsClient.create(
                GRAPH, api_key=canaries.user, base_url=closed_port_url(), max_retries=0
            ),
        )
        await witness.expect_async(
            APIConnectionError,
            lambda: LmsystemsClient.create(
                "chat", deployment_url=closed_port_url(), deployment_key=canaries.deployment, max_retries=0
            ),
        )

    with start_marketplace_server(good) as market, start_marketplace_server(refused) as bad_market:
        asyncio.run(flows(market.url, bad_market.url))
    witness.assert_clean(*canaries.all(agent_server.deployment_key))


# ---------------------------------------------------------------------------- bad answers


def _self_url(request: RecordedRequest) -> str:
    return f"http://{request.headers['host']}"


def _bad_deployment(canaries: Canaries) -> dict[str, Any]:
    """A bad server that is both the marketplace (handing out the deployment canary) and the deployment."""

    def graph_info(request: RecordedRequest) -> Reply:
        return json_reply(
            200,
            {
                "graph_url": _self_url(request),
                "lgraph_api_key": canaries.deployment,
                "assistant_id": ASSISTANT,
                "configurables": {"configurable": {}},
                "environment_variables": {"SOME_TOKEN": canaries.deployment},
            },
        )

    def echo_authorization(request: RecordedRequest) -> Reply:  # a marketplace that quotes what it got
        return json_reply(
            500, {"detail": f"could not record the run for {request.headers.get('authorization')}"}
        )

    def echo_header(request: RecordedRequest) -> Reply:  # a key reflected in a response header
        return json_reply(200, {"thread_id": "t1"}, headers={"x-echo-api-key": request.headers["x-api-key"]})

    return {
        "POST /api/get_graph_info": graph_info,
        "POST /api/track_run": echo_authorization,
        "GET /threads/html": html_reply(502, "<html><title>502 Bad Gateway</title></html>"),
        "GET /threads/retry": [reply(503), json_reply(200, {"thread_id": "retry"})],
        "GET /threads/hang": HANG,
        "GET /threads/header": echo_header,
        "POST /runs/stream": sse_reply(
            b'event: metadata\ndata: {"run_id": "r1"}\n\n', b"event: values\ndata: {"
        ),
        "POST /threads/t1/runs/stream": sse_reply(
            b'event: metadata\ndata: {"run_id": "r2"}\n\n',
            b'event: error\ndata: {"error": "ValueError", "message": "nope"}\n\n',
        ),
        "POST /threads/t2/runs/stream": sse_reply(  # the Location header names the run: it is tracked
            b'event: metadata\ndata: {"run_id": "r3"}\n\n',
            b'event: values\ndata: {"ok": true}\n\n',
            headers={"Location": "/threads/t2/runs/r3/stream"},
        ),
        # After a clean close, a resumable stream asks whether the run is over, and reads a finished
        # run once more from its last event before it ends (see lmsystems/_async/_stream.py).
        "GET /threads/t2/runs/r3": json_reply(200, {"run_id": "r3", "thread_id": "t2", "status": "success"}),
        "GET /threads/t2/runs/r3/stream": sse_reply(),
    }


def _assert_keys_were_sent(server: RunningBadServer, canaries: Canaries) -> None:
    """The canaries really were in play: the marketplace got the user key, the deployment its key."""
    sent = [
        (request.headers.get("authorization"), request.headers.get("x-api-key"))
        for request in server.requests
    ]
    assert (f"Bearer {canaries.user}", None) in sent
    assert any(api_key == canaries.deployment for _, api_key in sent)


def _assert_the_echo_was_logged_redacted(witness: Witness) -> None:
    """The marketplace quoted the user key in its track_run error, and the warning about it was logged
    with the key masked (so the log search above is not vacuous)."""
    warnings = [r.getMessage() for r in witness.caplog.records if "could not record run" in r.getMessage()]
    assert warnings, "the failed track_run was not logged"
    assert all("[REDACTED]" in message for message in warnings), warnings


def test_bad_answers_leak_nothing_sync(canaries: Canaries, witness: Witness) -> None:
    with start_bad_server(_bad_deployment(canaries)) as server:
        with SyncLmsystemsClient(GRAPH, api_key=canaries.user, base_url=server.url, max_retries=1) as client:
            witness.objects(client, client._core, client._core.settings, client.deployment)
            fast = client.with_options(max_retries=0, timeout=0.3)
            witness.objects(fast, fast._core)
            witness.expect(InternalServerError, lambda: fast.get_thread("html"))
            assert client.get_thread("retry") == {"thread_id": "retry"}  # a 503, retried (logged)
            assert client.get_thread("header") == {"thread_id": "t1"}
            witness.expect(APITimeoutError, lambda: fast.get_thread("hang"))
            witness.expect(StreamError, lambda: client.stream_run(None, {"x": 1}).collect())
            witness.expect(RunError, lambda: client.stream_run("t1", {"x": 1}).collect())
            assert client.stream_run("t2", {"x": 1}).collect()  # its track_run fails and is logged
        _assert_keys_were_sent(server, canaries)
    _assert_the_echo_was_logged_redacted(witness)
    witness.assert_clean(*canaries.all())


def test_bad_answers_leak_nothing_async(canaries: Canaries, witness: Witness) -> None:
    async def flows(url: str) -> None:
        async with LmsystemsClient(GRAPH, api_key=canaries.user, base_url=url, max_retries=1) as client:
            witness.objects(client, client._core, client._core.settings, client.deployment)
            fast = client.with_options(max_retries=0, timeout=0.3)
            await witness.expect_async(InternalServerError, lambda: fast.get_thread("html"))
            assert await client.get_thread("retry") == {"thread_id": "retry"}
            assert await client.get_thread("header") == {"thread_id": "t1"}
            await witness.expect_async(APITimeoutError, lambda: fast.get_thread("hang"))
            await witness.expect_async(StreamError, lambda: client.stream_run(None, {"x": 1}).collect())
            await witness.expect_async(RunError, lambda: client.stream_run("t1", {"x": 1}).collect())
            assert await client.stream_run("t2", {"x": 1}).collect()

    with start_bad_server(_bad_deployment(canaries)) as server:
        asyncio.run(flows(server.url))
        _assert_keys_were_sent(server, canaries)
    _assert_the_echo_was_logged_redacted(witness)
    witness.assert_clean(*canaries.all())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_marketplace_urls_carrying_the_key_leak_nothing(
    flavour: str, canaries: Canaries, witness: Witness
) -> None:
    """A graph_url with the key in its userinfo or its query is refused without quoting the key."""
    urls = [
        f"https://user:{canaries.deployment}@deploy.example",
        f"https://{canaries.deployment}@deploy.example",
        f"https://deploy.example/?api_key={canaries.deployment}",
        f"https://deploy.example/#{canaries.deployment}",
    ]
    for graph_url in urls:
        answer = {"graph_url": graph_url, "lgraph_api_key": canaries.deployment, "assistant_id": ASSISTANT}
        with start_bad_server({"POST /api/get_graph_info": json_reply(200, answer)}) as server:
            options = {"api_key": canaries.user, "base_url": server.url, "max_retries": 0}
            if flavour == "sync":
                witness.expect(
                    APIResponseError, lambda options=options: SyncLmsystemsClient(GRAPH, **options)
                )
            else:
                asyncio.run(
                    witness.expect_async(
                        APIResponseError, lambda options=options: LmsystemsClient.create(GRAPH, **options)
                    )
                )
    witness.assert_clean(*canaries.all())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_server_echoing_the_key_does_not_put_it_in_the_error(
    flavour: str, canaries: Canaries, witness: Witness
) -> None:
    """Servers quote the key they refused ("invalid key lms_..."): our error must not repeat it."""

    def refuse(request: RecordedRequest) -> Reply:
        return json_reply(401, {"detail": f"Invalid API key: {request.headers.get('x-api-key')}"})

    def refuse_marketplace(request: RecordedRequest) -> Reply:
        return json_reply(401, {"detail": f"unknown key {request.headers.get('authorization')}"})

    routes = {f"GET /assistants/{ASSISTANT}": refuse, "POST /api/get_graph_info": refuse_marketplace}
    with start_bad_server(routes) as server:
        direct = {"deployment_url": server.url, "deployment_key": canaries.deployment, "max_retries": 0}
        market = {"api_key": canaries.user, "base_url": server.url, "max_retries": 0}
        if flavour == "sync":
            witness.expect(UnauthorizedError, lambda: SyncLmsystemsClient(ASSISTANT, **direct))
            witness.expect(UnauthorizedError, lambda: SyncLmsystemsClient(GRAPH, **market))
        else:
            asyncio.run(
                witness.expect_async(UnauthorizedError, lambda: LmsystemsClient.create(ASSISTANT, **direct))
            )
            asyncio.run(
                witness.expect_async(UnauthorizedError, lambda: LmsystemsClient.create(GRAPH, **market))
            )
    witness.assert_clean(*canaries.all())


# ---------------------------------------------------------------------------- redirects


@dataclass
class Pair:
    a: RunningBadServer
    b: RunningBadServer


@pytest.fixture
def pair() -> Iterator[Pair]:
    """Server A redirects to server B (another origin: another port); B records what reaches it."""
    with start_bad_server(lambda request: json_reply(200, {"thread_id": "from-b"})) as b:

        def to_b(status: int, path: str) -> Callable[[RecordedRequest], Reply]:
            return lambda request: redirect_reply(status, f"{b.url}{path}")

        a_routes: dict[str, Any] = {
            f"GET /assistants/{ASSISTANT}": json_reply(200, {"assistant_id": ASSISTANT}),
            "GET /threads/away307": to_b(307, "/threads/stolen"),
            "GET /threads/away308": to_b(308, "/threads/stolen"),
            "GET /threads/away302": to_b(302, "/threads/stolen"),
            "GET /threads/away-relative-scheme": lambda request: redirect_reply(
                307, f"//localhost:{b.port}/threads/stolen"
            ),
            "POST /runs/stream": to_b(307, "/runs/stream"),
            "POST /api/get_graph_info": to_b(307, "/api/get_graph_info"),
            "GET /threads/here": redirect_reply(307, "/threads/moved"),
            "GET /threads/moved": json_reply(200, {"thread_id": "moved"}),
        }
        with start_bad_server(a_routes) as a:
            yield Pair(a, b)


REDIRECTED_CALLS = ["away307", "away308", "away302", "away-relative-scheme"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_cross_origin_redirect_never_carries_the_key(
    pair: Pair, flavour: str, canaries: Canaries, witness: Witness
) -> None:
    direct = {"deployment_url": pair.a.url, "deployment_key": canaries.deployment, "max_retries": 0}
    market = {"api_key": canaries.user, "base_url": pair.a.url, "max_retries": 0}
    if flavour == "sync":
        with SyncLmsystemsClient(ASSISTANT, **direct) as client:
            for name in REDIRECTED_CALLS:
                error = witness.expect(APIStatusError, lambda name=name: client.get_thread(name))
                assert "another origin" in str(error)
            witness.expect(APIStatusError, lambda: client.stream_run(None, {"x": 1}).collect())
        witness.expect(APIStatusError, lambda: SyncLmsystemsClient(GRAPH, **market))
    else:

        async def flows() -> None:
            async with LmsystemsClient(ASSISTANT, **direct) as client:
                for name in REDIRECTED_CALLS:
                    await witness.expect_async(APIStatusError, lambda name=name: client.get_thread(name))
                await witness.expect_async(
                    APIStatusError, lambda: client.stream_run(None, {"x": 1}).collect()
                )
            await witness.expect_async(APIStatusError, lambda: LmsystemsClient.create(GRAPH, **market))

        asyncio.run(flows())
    assert len(witness.errors) == len(REDIRECTED_CALLS) + 2
    assert all("another origin" in str(error) for error in witness.errors)
    assert pair.b.requests == [], f"server B was contacted: {pair.b.requests}"
    sent = {
        (request.headers.get("x-api-key"), request.headers.get("authorization"))
        for request in pair.a.requests
    }
    assert sent == {(canaries.deployment, None), (None, f"Bearer {canaries.user}")}
    witness.assert_clean(*canaries.all())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_same_origin_redirect_is_followed_with_the_key(
    pair: Pair, flavour: str, canaries: Canaries
) -> None:
    direct = {"deployment_url": pair.a.url, "deployment_key": canaries.deployment, "max_retries": 0}
    if flavour == "sync":
        with SyncLmsystemsClient(ASSISTANT, **direct) as client:
            thread = client.get_thread("here")
    else:

        async def get() -> Any:
            async with LmsystemsClient(ASSISTANT, **direct) as client:
                return await client.get_thread("here")

        thread = asyncio.run(get())
    assert thread == {"thread_id": "moved"}
    moved = pair.a.requests_for("/threads/moved")
    assert len(moved) == 1 and moved[0].headers.get("x-api-key") == canaries.deployment
    assert pair.b.requests == []
