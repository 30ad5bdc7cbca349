"""PurchasedGraph against the real Agent Server and the fake marketplace: a purchased graph as a node of a
real parent `StateGraph`, invoked and streamed sync and async, with default state values and config
overrides proven by what the remote graph echoes, typed errors, run tracking, and keys kept out of reprs.

The `echo` test graph (tests/agent_server/graphs/echo.py) returns the state and the configurable values it
received, so the tests read there what reached the remote run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import operator
import secrets
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command
from support.bad_server import json_reply, sse_reply, start_bad_server
from support.fault_proxy import FaultPlan, start_fault_proxy
from support.marketplace import MarketplaceTable, create_marketplace_app, start_marketplace_server

from lmsystems import (
    APIKeyError,
    APIStatusError,
    AuthenticationError,
    GraphNotFoundError,
    GraphNotPurchasedError,
    InputError,
    InternalServerError,
    LmsystemsError,
    NotFoundError,
    PermissionDeniedError,
    PurchasedGraph,
    RunError,
    UnauthorizedError,
)

ECHO = "echo-graph"
MARKETPLACE_CONFIGURABLES = {"tone": "marketplace", "region": "eu"}


class EchoParent(TypedDict, total=False):
    question: str
    language: str
    echo: dict[str, Any]


class TrailParent(TypedDict, total=False):
    topic: str
    trail: Annotated[list[str], operator.add]


class Market:
    """A marketplace of our own: a random user key that bought the test graphs, `echo-graph` with
    configurables, and a second marketplace that hands out a deployment key the Agent Server refuses."""

    def __init__(self, agent_server: Any, user_key: str, url: str, app: Any, refusing_url: str) -> None:
        self.agent_server = agent_server
        self.user_key = user_key
        self.url = url
        self.app = app
        self.refusing_url = refusing_url

    @property
    def tracked(self) -> list[str]:
        return [run.run_id for run in self.app.state.tracked_runs]

    @property
    def resolutions(self) -> int:
        return len(self.app.state.graph_info_requests)

    def graph(self, graph_name: str = ECHO, **options: Any) -> PurchasedGraph:
        options.setdefault("base_url", self.url)
        return PurchasedGraph(graph_name, self.user_key, **options)


def _table(user_key: str) -> MarketplaceTable:
    table = MarketplaceTable()
    table.add_user(user_key)
    table.add_user("lms_pg_other_user")
    table.add_graph(ECHO, "echo", configurables=MARKETPLACE_CONFIGURABLES)
    table.add_graph("chat-graph", "chat", configurables={"persona": "marketplace"})
    table.add_graph("subgraphs-graph", "subgraphs")
    table.add_graph("failing-graph", "failing")
    table.add_graph("unpurchased-graph", "chat")
    table.purchase(user_key, ECHO, "chat-graph", "subgraphs-graph", "failing-graph")
    return table


@pytest.fixture(scope="module")
def market(agent_server: Any) -> Iterator[Market]:
    user_key = "lms_pg_user_" + secrets.token_hex(12)
    app = create_marketplace_app(_table(user_key), agent_server.url, agent_server.deployment_key)
    refusing = create_marketplace_app(
        _table(user_key), agent_server.url, "lms_pg_refused_" + secrets.token_hex(8)
    )
    with start_marketplace_server(app) as running, start_marketplace_server(refusing) as running_refusing:
        yield Market(agent_server, user_key, running.url, app, running_refusing.url)


def echo_parent(purchased: PurchasedGraph) -> CompiledStateGraph[Any, Any, Any, Any]:
    builder = StateGraph(EchoParent)
    builder.add_node("purchased", purchased)
    builder.add_edge(START, "purchased")
    builder.add_edge("purchased", END)
    return builder.compile()


def trail_parent(purchased: PurchasedGraph) -> CompiledStateGraph[Any, Any, Any, Any]:
    def before(state: TrailParent) -> dict[str, Any]:
        return {"trail": ["parent_before"]}

    builder = StateGraph(TrailParent)
    builder.add_node("before", before)
    builder.add_node("purchased", purchased)
    builder.add_edge(START, "before")
    builder.add_edge("before", "purchased")
    builder.add_edge("purchased", END)
    return builder.compile()


def defaults_graph(market: Market, **options: Any) -> PurchasedGraph:
    return market.graph(
        default_state_values={"tone": "default", "language": "en"},
        config={"configurable": {"tone": "mine"}},
        **options,
    )


def assert_echo(result: dict[str, Any], *, question: str, language: str) -> None:
    """The remote run got the defaults under the input, and our config over the marketplace's."""
    echoed = result["echo"]
    assert echoed["state"] == {"question": question, "tone": "default", "language": language}
    assert echoed["configurable"] == {"tone": "mine", "region": "eu"}


# ---------------------------------------------------------------------------------- as a node


def test_invoke_as_a_node_merges_defaults_and_config(market: Market) -> None:
    resolutions, tracked = market.resolutions, len(market.tracked)
    with defaults_graph(market) as purchased:
        assert purchased.deployment is None  # nothing is sent before the first use
        parent = echo_parent(purchased)
        first = parent.invoke({"question": "hi", "language": "fr"})  # the caller's value wins
        assert_echo(first, question="hi", language="fr")
        assert first["language"] == "fr" and first["question"] == "hi"
        second = parent.invoke({"question": "again"})  # the default fills the gap
        assert_echo(second, question="again", language="en")
        assert second["language"] == "en"  # the remote's output went back into the parent's state
        deployment = purchased.deployment
        assert deployment is not None and deployment.assistant_id == "echo"
    assert market.resolutions == resolutions + 1  # resolved once, on first use
    assert len(market.tracked) == tracked + 2  # both runs recorded with the marketplace


def test_ainvoke_as_a_node(market: Market) -> None:
    async def main() -> None:
        resolutions, tracked = market.resolutions, len(market.tracked)
        async with defaults_graph(market) as purchased:
            parent = echo_parent(purchased)
            results = await asyncio.gather(
                parent.ainvoke({"question": "one"}), parent.ainvoke({"question": "two", "language": "de"})
            )
            assert_echo(results[0], question="one", language="en")
            assert_echo(results[1], question="two", language="de")
        assert market.resolutions == resolutions + 1  # two concurrent first uses, one resolution
        assert len(market.tracked) == tracked + 2

    asyncio.run(main())


def test_async_resolution_does_not_block_the_event_loop(market: Market) -> None:
    async def main() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        purchased = market.graph()
        try:
            await purchased.aresolve()
        finally:
            stop.set()
            await task
            await purchased.aclose()
        return ticks

    assert asyncio.run(main()) > 1  # the loop kept running while the marketplace was asked


def test_sync_and_async_use_share_one_resolution(market: Market) -> None:
    resolutions = market.resolutions
    with defaults_graph(market) as purchased:
        parent = echo_parent(purchased)
        assert_echo(parent.invoke({"question": "sync"}), question="sync", language="en")
        assert_echo(asyncio.run(parent.ainvoke({"question": "async"})), question="async", language="en")
        assert purchased.resolve() is purchased.deployment
    assert market.resolutions == resolutions + 1


def test_async_use_survives_new_event_loops_and_closing(market: Market) -> None:
    """Each event loop gets its own async connections (RemoteGraph's one client breaks on the second
    `asyncio.run`); a closed PurchasedGraph resolves again when used again."""
    resolutions = market.resolutions
    purchased = defaults_graph(market)
    for question in ("first loop", "second loop"):
        assert_echo(asyncio.run(purchased.ainvoke({"question": question})), question=question, language="en")
    assert market.resolutions == resolutions + 1
    purchased.close()
    assert purchased.deployment is None
    assert_echo(purchased.invoke({"question": "reopened"}), question="reopened", language="en")

    async def main() -> None:
        assert_echo(await purchased.ainvoke({"question": "third"}), question="third", language="en")
        await purchased.aclose()

    asyncio.run(main())
    assert market.resolutions == resolutions + 2


def test_stream_as_a_node_with_subgraphs(market: Market) -> None:
    with defaults_graph(market) as purchased:
        parts = list(
            echo_parent(purchased).stream(
                {"question": "streamed"}, stream_mode=["updates", "custom"], subgraphs=True
            )
        )
    namespaces = {namespace for namespace, _, _ in parts}
    remote = [namespace for namespace in namespaces if namespace and namespace[0].startswith("purchased:")]
    assert remote, f"no event from inside the purchased graph: {parts}"
    assert (remote[0], "custom", {"echo": "streamed"}) in parts  # the remote graph's own custom event
    inner_update = next(data for ns, mode, data in parts if ns == remote[0] and mode == "updates")
    assert inner_update["echo"]["echo"]["state"]["tone"] == "default"
    outer = [data for ns, mode, data in parts if ns == () and mode == "updates"]
    assert outer and outer[-1]["purchased"]["echo"]["configurable"] == {"tone": "mine", "region": "eu"}


def test_astream_as_a_node_with_nested_subgraphs(market: Market) -> None:
    """The purchased graph's own subgraph streams through the parent, under both namespaces."""

    async def main() -> list[Any]:
        async with market.graph("subgraphs-graph") as purchased:
            parent = trail_parent(purchased)
            return [
                part
                async for part in parent.astream(
                    {"topic": "nested"}, stream_mode=["updates", "custom"], subgraphs=True
                )
            ]

    parts = asyncio.run(main())
    nested = [(ns, mode, data) for ns, mode, data in parts if len(ns) == 2]
    assert nested, parts
    assert all(ns[0].startswith("purchased:") and ns[1].startswith("child:") for ns, _, _ in nested)
    assert {data["node"] for _, mode, data in nested if mode == "custom"} == {
        "child_step_one",
        "child_step_two",
    }
    final = [data for ns, mode, data in parts if ns == () and mode == "updates"][-1]
    trail = final["purchased"]["trail"]  # the remote graph's final state, sent back to the parent
    assert trail[0] == "parent_before"  # the parent's state was the remote run's input
    assert trail[-3:] == ["child_step_one", "child_step_two", "finish"]


def test_messages_stream_through_a_parent(market: Market) -> None:
    """A chat graph as a node: its tokens reach the parent's `messages` stream; the marketplace's persona
    is in the reply."""

    from langgraph.graph import MessagesState

    with market.graph("chat-graph") as purchased:
        builder = StateGraph(MessagesState)
        builder.add_node("purchased", purchased)
        builder.add_edge(START, "purchased")
        parent = builder.compile()
        chunks = list(  # as with any RemoteGraph, they come through the parent with subgraphs=True
            parent.stream(
                {"messages": [{"role": "user", "content": "tokens"}]}, stream_mode="messages", subgraphs=True
            )
        )
    assert len(chunks) > 5 and all(ns[0].startswith("purchased:") for ns, _ in chunks)
    text = "".join(message["content"] for _, (message, _metadata) in chunks)
    assert text.startswith("[marketplace] Hello from the chat graph!") and text.endswith("tokens")


# ---------------------------------------------------------------------------------- on its own


def test_stream_and_invoke_on_its_own(market: Market) -> None:
    with defaults_graph(market) as purchased:
        values = list(purchased.stream({"question": "alone"}, stream_mode="values"))
        assert values[0] == {"question": "alone", "tone": "default", "language": "en"}  # the input, merged
        assert_echo(values[-1], question="alone", language="en")
        result = purchased.invoke({"question": "x"}, {"configurable": {"tone": "per call"}})
        assert result["echo"]["configurable"] == {"tone": "per call", "region": "eu"}  # the call wins

        async def main() -> list[Any]:
            collected = [part async for part in purchased.astream({"question": "a"}, stream_mode="updates")]
            await purchased.aclose()
            return collected

        updates = asyncio.run(main())
    assert_echo(updates[-1]["echo"], question="a", language="en")


def test_config_precedence_with_the_marketplace_persona(market: Market) -> None:
    """chat-graph's marketplace configurable `persona` reaches the run unless the user overrides it."""
    message = {"messages": [{"role": "user", "content": "who are you"}]}
    with (
        market.graph("chat-graph") as default,
        market.graph("chat-graph", config={"configurable": {"persona": "mine"}}) as overridden,
    ):
        assert default.invoke(message)["messages"][-1]["content"].startswith("[marketplace] ")
        assert overridden.invoke(message)["messages"][-1]["content"].startswith("[mine] ")
        per_call = overridden.invoke(message, {"configurable": {"persona": "call"}})
        assert per_call["messages"][-1]["content"].startswith("[call] ")
        configured = overridden.with_config({"configurable": {"persona": "copy"}})
        assert configured.invoke(message)["messages"][-1]["content"].startswith("[copy] ")
        assert configured.deployment is overridden.deployment  # the copy shares the resolution


def test_direct_mode_without_the_marketplace(market: Market) -> None:
    agent_server = market.agent_server
    tracked = len(market.tracked)
    with PurchasedGraph(
        "echo",
        deployment_url=agent_server.url,
        deployment_key=agent_server.deployment_key,
        default_state_values={"tone": "direct"},
    ) as purchased:
        result = echo_parent(purchased).invoke({"question": "direct"})
    assert result["echo"]["state"] == {"question": "direct", "tone": "direct"}
    assert len(market.tracked) == tracked


def test_no_deployment_key_sends_no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """langgraph-sdk reads LANGGRAPH_API_KEY / LANGSMITH_API_KEY when it gets no key: a deployment without
    a key must not receive the user's LangSmith key."""
    canary = "lsv2_canary_" + secrets.token_hex(12)
    monkeypatch.setenv("LANGSMITH_API_KEY", canary)
    monkeypatch.setenv("LANGGRAPH_API_KEY", canary)
    scripted = {
        "GET /assistants/echo": json_reply(200, {"assistant_id": "echo"}),
        "POST /runs/stream": sse_reply(
            b'event: metadata\ndata: {"run_id": "r1"}\n\n', b'event: values\ndata: {"question": "q"}\n\n'
        ),
    }
    with start_bad_server(scripted) as server, PurchasedGraph("echo", deployment_url=server.url) as purchased:
        assert purchased.invoke({"question": "q"}) == {"question": "q"}
        sent = [request.headers for request in server.requests]
    assert [request.path for request in server.requests] == ["/assistants/echo", "/runs/stream"]
    assert all("x-api-key" not in headers and canary not in str(headers) for headers in sent)


def test_default_state_values_only_go_under_dict_inputs(market: Market) -> None:
    purchased = market.graph(default_state_values={"tone": "default"})
    assert purchased.with_defaults({"tone": "mine"}) == {"tone": "mine"}
    assert purchased.with_defaults(None) is None
    resume = Command(resume=True)
    assert purchased.with_defaults(resume) is resume
    with pytest.raises(InputError, match="dict, dataclass or Pydantic input"):
        purchased.with_defaults(["not", "a", "dict"])

    @dataclasses.dataclass
    class Parent:
        question: str
        tone: str = "parent"

    # A dataclass state (lmsystems 1.0.8's README uses one) is sent as its fields, over the defaults.
    assert purchased.with_defaults(Parent("q")) == {"question": "q", "tone": "parent"}
    with pytest.raises(InputError, match="string keys"):
        market.graph(default_state_values={1: "x"})  # type: ignore[dict-item]
    with pytest.raises(InputError, match=r"(?i)x-api-key"):
        market.graph(headers={"X-Api-Key": "mine"})
    defaults = {"nested": {"list": [1]}}
    copied = market.graph(default_state_values=defaults)
    defaults["nested"]["list"].append(2)  # the caller's dict is copied, not kept
    assert copied.default_state_values == {"nested": {"list": [1]}}


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("graph_name", "key", "error"),
    [
        (ECHO, "lms_pg_wrong_key_123456", AuthenticationError),
        ("no-such-graph", None, GraphNotFoundError),
        ("unpurchased-graph", None, GraphNotPurchasedError),
        (ECHO, "lms_pg_other_user", GraphNotPurchasedError),
    ],
)
def test_resolution_errors_are_typed(market: Market, graph_name: str, key: str | None, error: type) -> None:
    purchased = PurchasedGraph(graph_name, key or market.user_key, base_url=market.url)
    parent = echo_parent(purchased)
    with pytest.raises(error) as sync_error:
        parent.invoke({"question": "x"})
    assert graph_name in "\n".join(getattr(sync_error.value, "__notes__", []))  # says which graph
    with pytest.raises(error):
        asyncio.run(parent.ainvoke({"question": "x"}))
    with pytest.raises(error):
        list(purchased.stream({"question": "x"}))
    assert purchased.deployment is None  # a failure is not cached: the next use asks again


def test_no_key_at_all_fails_at_construction(market: Market, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMSYSTEMS_API_KEY", raising=False)
    with pytest.raises(APIKeyError):
        PurchasedGraph(ECHO, base_url=market.url)


def test_run_errors_are_typed(market: Market) -> None:
    with market.graph("failing-graph") as failing:
        with pytest.raises(RunError, match="lmsystems test graph failure: boom") as raised:
            failing.invoke({"message": "boom"})
        assert raised.value.error_type == "ValueError"
        with pytest.raises(RunError):
            asyncio.run(failing.ainvoke({"message": "boom"}))
    # The marketplace hands out a deployment key the Agent Server refuses: 401 on the run.
    refused = PurchasedGraph(ECHO, market.user_key, base_url=market.refusing_url)
    with pytest.raises(AuthenticationError, match="401"):
        echo_parent(refused).invoke({"question": "x"})
    with pytest.raises(AuthenticationError):
        asyncio.run(echo_parent(refused).ainvoke({"question": "x"}))
    refused.close()


# ---------------------------------------------------------------------------------- secrets


def test_keys_never_appear_in_repr_or_logs(market: Market, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("lmsystems", "httpx", "httpcore", "langgraph_sdk"):
        caplog.set_level(logging.DEBUG, logger=name)
    deployment_key = market.agent_server.deployment_key
    purchased = defaults_graph(market)
    texts = [repr(purchased), str(purchased)]
    parent = echo_parent(purchased)
    parent.invoke({"question": "secret?"})
    asyncio.run(parent.ainvoke({"question": "secret?"}))
    copy = purchased.with_config({"configurable": {"x": 1}})
    texts += [
        repr(purchased),
        repr(copy),
        repr(vars(purchased)),
        repr(purchased.deployment),
        repr(purchased.client),
        repr(purchased.sync_client),
        repr(purchased.config),
        repr(parent.nodes),
        parent.get_graph().draw_mermaid(),
    ]
    assert "url=" in texts[2] and "assistant_id='echo'" in texts[2]
    wrong = "lms_pg_canary_" + secrets.token_hex(8)
    with pytest.raises(AuthenticationError) as refused:
        PurchasedGraph(ECHO, wrong, base_url=market.url).resolve()
    texts += [str(refused.value), repr(refused.value), "\n".join(refused.value.__notes__)]
    purchased.close()
    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"lmsystems", "httpx"} <= loggers, loggers  # the search below is not vacuous
    everything = "\n".join([*texts, caplog.text])
    for secret in (market.user_key, deployment_key, wrong):
        assert secret not in everything


def test_import_lmsystems_does_not_import_langgraph() -> None:
    code = (
        "import sys, lmsystems; assert 'langgraph' not in sys.modules, 'langgraph imported';"
        "assert 'langchain_core' not in sys.modules, 'langchain_core imported';"
        "from lmsystems import PurchasedGraph; assert 'langgraph' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------------------- every entry point


def _assert_ours(error: BaseException, *secrets_: str) -> None:
    """Our exception, with langgraph-sdk's kept as a masked cause: no key anywhere in the chain."""
    assert isinstance(error, APIStatusError), repr(error)
    cause = error.__cause__
    assert cause is not None and type(cause).__module__.startswith("langgraph_sdk"), repr(cause)
    request = getattr(cause, "request", None)
    assert request is not None and "x-api-key" not in request.headers
    shown = "".join(traceback.format_exception(error)) + repr(vars(cause))
    for secret in secrets_:
        assert secret not in shown


def test_state_calls_raise_our_errors_with_a_masked_cause(market: Market) -> None:
    key = market.agent_server.deployment_key
    missing = {"configurable": {"thread_id": str(uuid.uuid4())}}
    with market.graph() as purchased:
        calls = {
            "get_state": lambda: purchased.get_state(missing),
            "update_state": lambda: purchased.update_state(missing, {"question": "x"}),
            "get_state_history": lambda: list(purchased.get_state_history(missing)),
        }
        for name, call in calls.items():
            with pytest.raises(NotFoundError) as caught:
                call()
            _assert_ours(caught.value, key, market.user_key)
            assert caught.value.status_code == 404, name

        async def async_calls() -> None:
            async def history() -> list[Any]:
                return [state async for state in purchased.aget_state_history(missing)]

            for call in (
                purchased.aget_state(missing),
                purchased.aupdate_state(missing, {"question": "x"}),
                history(),
            ):
                with pytest.raises(NotFoundError) as caught:
                    await call
                _assert_ours(caught.value, key, market.user_key)

        asyncio.run(async_calls())
        # A config that names no thread is refused before any request.
        for bad in ({}, {"configurable": {}}, None):
            with pytest.raises(InputError, match="thread_id"):
                purchased.get_state(bad)  # type: ignore[arg-type]


def test_graph_calls_raise_our_errors(market: Market) -> None:
    refused = PurchasedGraph(ECHO, market.user_key, base_url=market.refusing_url)
    with pytest.raises(UnauthorizedError) as caught:
        refused.get_graph()
    _assert_ours(caught.value, market.user_key)
    with pytest.raises(UnauthorizedError):
        asyncio.run(refused.aget_graph())
    with pytest.raises(UnauthorizedError):
        refused.get_state({"configurable": {"thread_id": str(uuid.uuid4())}})
    refused.close()
    with market.graph() as purchased:
        assert "purchased" not in purchased.get_graph().nodes  # a real answer: the echo graph's nodes
        assert asyncio.run(purchased.aget_graph()).nodes


def test_runs_are_tracked_through_the_public_hook(market: Market) -> None:
    before = len(market.tracked)
    with market.graph() as purchased:
        echo_parent(purchased).invoke({"question": "tracked?"})
        asyncio.run(echo_parent(purchased).ainvoke({"question": "tracked?"}))
    assert len(market.tracked) == before + 2


# ------------------------------------------------------------------ stream_events(version="v3")


def _assert_masked(error: BaseException, kind: type[BaseException], *secrets_: str) -> None:
    """Our exception of `kind`, LangGraph's kept as its masked cause; no key anywhere in the chain."""
    assert isinstance(error, kind) and isinstance(error, LmsystemsError), repr(error)
    cause = error.__cause__
    assert cause is not None and not isinstance(cause, LmsystemsError), repr(cause)
    assert cause.__traceback__ is None  # masked: no frames that would keep the request alive
    request = getattr(cause, "_request", None) or getattr(cause, "request", None)
    if request is not None:
        assert "x-api-key" not in request.headers
    shown = "".join(traceback.format_exception(error))
    for secret in secrets_:
        assert secret not in shown


def test_v3_run_streams_work_and_their_run_errors_are_ours(market: Market) -> None:
    with defaults_graph(market) as purchased:
        with purchased.stream_events({"question": "v3?"}, version="v3") as run:
            methods = [event["method"] for event in run]
            output = run.output
        assert methods[0] == "lifecycle" and "values" in methods
        assert output["echo"]["state"] == {"question": "v3?", "tone": "default", "language": "en"}

    with market.graph("chat-graph") as chat:  # projections and the message streams they yield
        with chat.stream_events({"messages": [{"role": "user", "content": "hi"}]}, version="v3") as run:
            texts = ["".join(message.text) for message in run.messages]
        assert texts == ["[marketplace] Hello from the chat graph! You said: hi"]

    with market.graph("failing-graph") as failing:
        with (
            pytest.raises(RunError, match="lmsystems test graph failure: boom") as raised,
            failing.stream_events({"message": "boom"}, version="v3") as run,
        ):
            assert [value for value in run.values]  # the values before the failure
            run.output  # noqa: B018 - a property that waits for the run
        _assert_masked(raised.value, RunError, market.user_key)
        assert type(raised.value.__cause__).__name__ == "RuntimeError"

        async def failing_async() -> None:
            async with await failing.astream_events({"message": "boom"}, version="v3") as run:
                async for _ in run.values:
                    pass
                await run.output()

        with pytest.raises(RunError, match="boom"):
            asyncio.run(failing_async())


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        # run.start, when the stream is entered
        ({"status": 500, "method": "POST", "path": r"/threads/[^/]+/commands"}, InternalServerError),
        # the event stream, while the run's events or projections are read
        ({"status": 403, "method": "POST", "path": r"/threads/[^/]+/stream/events"}, PermissionDeniedError),
        # the thread's state, when the output is asked for
        ({"status": 500, "method": "GET", "path": r"/threads/[^/]+/state"}, InternalServerError),
    ],
    ids=["run-start", "event-stream", "final-state"],
)
def test_v3_stream_failures_are_ours_with_a_masked_cause(
    market: Market, fault: dict[str, Any], kind: type[LmsystemsError]
) -> None:
    key = market.agent_server.deployment_key
    plan = FaultPlan().fail(fault["status"], times=None, method=fault["method"], path=fault["path"])
    with start_fault_proxy(market.agent_server.url, plan) as proxy:
        purchased = PurchasedGraph(
            "echo", deployment_url=proxy.url, deployment_key=key, allow_insecure_http=True, max_retries=0
        )
        with purchased:

            def read_sync() -> None:
                with purchased.stream_events({"question": "x"}, version="v3") as run:
                    list(run)
                    list(run.values)
                    run.output  # noqa: B018 - a property that waits for the run

            with pytest.raises(LmsystemsError) as caught:
                read_sync()
            _assert_masked(caught.value, kind, key)
            assert caught.value.status_code == fault["status"]

            async def read_async() -> None:
                async with await purchased.astream_events({"question": "x"}, version="v3") as run:
                    async for _ in run.values:
                        pass
                    await run.output()

            with pytest.raises(LmsystemsError) as caught:
                asyncio.run(read_async())
            _assert_masked(caught.value, kind, key)
    assert plan.requests  # the faults came from the proxy, in front of the real server


def test_v3_misuse_and_unsupported_options_are_ours(market: Market) -> None:
    with market.graph() as purchased:
        run = purchased.stream_events({"question": "x"}, version="v3")
        with pytest.raises(LmsystemsError, match="not entered") as caught:
            list(run.values)  # outside its `with` block
        assert type(caught.value.__cause__).__name__ == "RuntimeError"
        with pytest.raises(InputError, match="interrupt_before"):
            purchased.stream_events({"question": "x"}, version="v3", interrupt_before=["echo"])
        with pytest.raises(InputError, match="v2"):
            asyncio.run(purchased.astream_events({"question": "x"}, version="v2"))


def test_misspelt_keywords_are_argument_errors_before_any_request(market: Market) -> None:
    from lmsystems import ArgumentError

    with pytest.raises(ArgumentError, match=r"'api_kye' \(did you mean 'api_key'\?\)"):
        PurchasedGraph(ECHO, api_kye="k")  # type: ignore[call-arg]
    before = market.resolutions
    purchased = market.graph()
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    with pytest.raises(ArgumentError, match=r"'subgraph' \(did you mean 'subgraphs'\?\)"):
        purchased.get_state(config, subgraph=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"'limt' \(did you mean 'limit'\?\)"):
        list(purchased.get_state_history(config, limt=2))  # type: ignore[call-arg]
    with pytest.raises(ArgumentError, match="'xrya'"):
        asyncio.run(purchased.aget_graph(xrya=True))  # type: ignore[call-arg]
    assert market.resolutions == before  # refused before the graph was even resolved
    assert purchased.get_graph(xray=True).nodes  # the right keywords reach RemoteGraph
    purchased.close()
