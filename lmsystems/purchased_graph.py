"""PurchasedGraph: a graph bought on the LMSystems marketplace, as a node of your own LangGraph graph.

    from lmsystems import PurchasedGraph

    purchased = PurchasedGraph(graph_name="your-graph", api_key="your-api-key",
                               default_state_values={"tone": "formal"})
    builder.add_node("purchased", purchased)

Needs the `langgraph` extra (`pip install 'lmsystems[langgraph]'`). It is LangGraph's own `RemoteGraph`
pointed at the deployment the marketplace resolves for the graph.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from . import _validation as check
from ._arguments import checked_keywords
from ._exceptions import InputError, LmsystemsError
from ._logging import configure_from_env
from ._settings import ClientSettings
from ._sync_client import SyncLmsystemsClient
from ._tracing import Tracing
from ._types import Deployment

try:
    from langchain_core.runnables import RunnableConfig
    from langchain_core.runnables.graph import Graph as DrawableGraph
    from langgraph.pregel.remote import RemoteGraph
    from langgraph.types import Command, StateSnapshot
    from langgraph_sdk import get_client, get_sync_client
    from langgraph_sdk.client import LangGraphClient, SyncLangGraphClient
    from langgraph_sdk.schema import QueryParamTypes
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"PurchasedGraph needs LangGraph: pip install 'lmsystems[langgraph]' ({error})"
    ) from error

from ._remote_errors import guarded, our_errors

__all__ = ["PurchasedGraph"]

logger = logging.getLogger("lmsystems")

#: Header names the deployment key travels in; callers may not set them through `headers`.
_RESERVED_HEADERS = frozenset({"x-api-key", "authorization"})


class _Connection:
    """What one resolution gives, shared by a PurchasedGraph and its `with_config` copies."""

    def __init__(
        self,
        make_client: Callable[[], SyncLmsystemsClient],
        headers: dict[str, str],
        tracing: Tracing | None = None,
    ) -> None:
        self._make_client = make_client
        self._headers = headers
        self._tracing = tracing or Tracing()
        self._lock = threading.Lock()
        self.client: SyncLmsystemsClient | None = None
        self.deployment: Deployment | None = None
        self.sync_remote: SyncLangGraphClient | None = None
        # One async client per event loop: an httpx.AsyncClient's connections belong to the loop that
        # opened them, and RemoteGraph's single client breaks on the second `asyncio.run()`.
        self._remotes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LangGraphClient] = (
            weakref.WeakKeyDictionary()
        )
        self._remotes_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"_Connection(deployment={self.deployment!r})"

    def resolve(self) -> Deployment:
        """Resolve once: ask the marketplace, then open LangGraph's clients to the deployment."""
        if self.deployment is not None:
            return self.deployment
        with self._lock:
            if self.deployment is None:
                client = self._make_client()  # resolves in its constructor; raises our errors
                deployment = client.deployment
                assert deployment is not None
                self.sync_remote = get_sync_client(
                    url=deployment.url, api_key=deployment.api_key, headers=self._headers
                )
                self.sync_remote.http.client.event_hooks = _with_trace_context(
                    self.sync_remote.http.client.event_hooks, self._tracing
                )
                self.client, self.deployment = client, deployment
            return self.deployment

    def remote(self) -> LangGraphClient:
        """LangGraph's async client to the deployment, for the running event loop (after `resolve()`)."""
        loop = asyncio.get_running_loop()
        with self._remotes_lock:
            remote = self._remotes.get(loop)
            if remote is None:
                assert self.deployment is not None
                remote = get_client(
                    url=self.deployment.url, api_key=self.deployment.api_key, headers=self._headers
                )
                remote.http.client.event_hooks = _with_async_trace_context(
                    remote.http.client.event_hooks, self._tracing
                )
                self._remotes[loop] = remote
            return remote

    def track(self, run_id: str) -> None:
        """Tell the marketplace a run started (best effort, never raises: see `track_run`)."""
        if self.client is not None:
            logger.debug("purchased graph %r started run %s", self.client.graph_name, run_id)
            self.client.track_run(run_id)

    async def atrack(self, run_id: str) -> None:
        """`track()` from async code: the blocking request runs in a worker thread."""
        await asyncio.to_thread(self.track, run_id)

    def close(self) -> None:
        """Close the connections; a later use resolves the graph again."""
        with self._lock:
            if self.sync_remote is not None:
                self.sync_remote.close()
            if self.client is not None:
                self.client.close()
            self.deployment = self.client = self.sync_remote = None
            with self._remotes_lock:
                self._remotes.clear()

    async def aclose(self) -> None:
        with self._remotes_lock:
            remote = self._remotes.pop(asyncio.get_running_loop(), None)
            self._remotes.clear()  # those of other loops cannot be closed from this one
        if remote is not None:
            await remote.aclose()
        await asyncio.to_thread(self.close)


@checked_keywords
class PurchasedGraph(RemoteGraph):
    """A purchased marketplace graph that runs like a local one: as a node, or on its own.

    `builder.add_node("purchased", PurchasedGraph(graph_name=..., api_key=...))`; `invoke`, `ainvoke`,
    `stream` and `astream` (with `subgraphs=True` too) behave as LangGraph's `RemoteGraph`.

    - `default_state_values`: values merged under every input, so a node only passes what changes
      (the caller's values win).
    - `config`: merged over the marketplace's `configurables` (yours win); the config of each call
      (e.g. the parent graph's) wins over both.
    - The graph is resolved through the marketplace once, on first use (or now, with `resolve()` /
      `await aresolve()`); a wrong key or graph name raises AuthenticationError, GraphNotFoundError,
      GraphNotPurchasedError... Runs are recorded with the marketplace. Failures of a run raise our
      exceptions too (RunError for the graph's own error).
    - `api_key` falls back to `LMSYSTEMS_API_KEY` and `base_url` to `LMSYSTEMS_BASE_URL`;
      `deployment_url=` (and `deployment_key=`) skips the marketplace. Keys never appear in `repr`.
    """

    def __init__(
        self,
        graph_name: str,
        api_key: str | None = None,
        config: RunnableConfig | None = None,
        default_state_values: Mapping[str, Any] | None = None,
        base_url: str | None = None,
        *,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        deployment_url: str | None = None,
        deployment_key: str | None = None,
        allow_insecure_http: bool = False,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = 2,  # == DEFAULT_MAX_RETRIES, written out so the signature shows it
        distributed_tracing: bool = False,
    ) -> None:
        configure_from_env()
        name_checked = check.graph_name(graph_name)  # required here, in direct mode too
        settings = ClientSettings.resolve(  # checks the name and the keys now, before any request
            graph_name=name_checked,
            api_key=api_key,
            base_url=base_url,
            deployment_url=deployment_url,
            deployment_key=deployment_key,
            timeout=timeout,
            max_retries=max_retries,
        )
        self._defaults = _checked_defaults(default_state_values)
        extra_headers = _checked_headers(headers)
        if config is not None and not isinstance(config, Mapping):
            raise InputError(f"config must be a dict (a RunnableConfig), not {type(config).__name__}")

        def make_client() -> SyncLmsystemsClient:
            return SyncLmsystemsClient(
                name_checked,
                api_key=settings.api_key,
                base_url=settings.base_url,
                deployment_url=settings.deployment_url,
                deployment_key=settings.deployment_key,
                timeout=settings.timeout,
                max_retries=settings.max_retries,
                allow_insecure_http=allow_insecure_http,
            )

        self._graph_name = name_checked
        self._where = settings.deployment_url or settings.base_url
        self._connection = _Connection(make_client, extra_headers, Tracing())
        self._user_config: RunnableConfig | None = copy.deepcopy(config)
        super().__init__(
            name_checked,
            config=self._user_config,
            name=name or name_checked,
            distributed_tracing=distributed_tracing,
        )

    # ------------------------------------------------------------------ resolution

    @property
    def graph_name(self) -> str:
        """The marketplace name of the graph."""
        return self._graph_name

    @property
    def deployment(self) -> Deployment | None:
        """Where the graph runs (None until it is resolved)."""
        return self._connection.deployment

    @property
    def default_state_values(self) -> dict[str, Any]:
        """A copy of the values merged under every input."""
        return copy.deepcopy(self._defaults)

    def resolve(self) -> Deployment:
        """Resolve the graph now (once; later calls return at once), so that a wrong key fails here."""
        try:
            deployment = self._connection.resolve()
        except LmsystemsError as error:
            error.add_note(f"while resolving the purchased graph {self._graph_name!r} at {self._where}")
            raise
        self._bind(deployment)
        return deployment

    async def aresolve(self) -> Deployment:
        """`resolve()` for async code: the blocking part runs in a worker thread, not on the event loop."""
        if self._connection.deployment is not None:
            return self.resolve()
        return await asyncio.to_thread(self.resolve)

    def _bind(self, deployment: Deployment) -> None:
        """Point RemoteGraph's attributes at the deployment (this object's copy of them)."""
        self.assistant_id = deployment.assistant_id or self._graph_name
        self.sync_client = self._connection.sync_remote
        self.config = _config_over(deployment.configurable, self._user_config)

    async def _bound(self) -> Self:
        """This graph with LangGraph's async client of the running event loop (a shallow copy, so that
        graphs used from several event loops at once never share one)."""
        await self.aresolve()
        bound = copy.copy(self)
        bound.client = self._connection.remote()
        return bound

    # ------------------------------------------------------------------ copies and closing

    def copy(self, update: dict[str, Any]) -> Self:
        """A copy with some attributes replaced (`with_config` uses it); it shares the resolution."""
        clone = copy.copy(self)
        for key, value in update.items():
            if key == "config":
                clone._user_config = value
            setattr(clone, key, value)
        if clone._connection.deployment is not None:
            clone._bind(clone._connection.deployment)
        return clone

    def close(self) -> None:
        """Close the connections (those of this object's `with_config` copies too); using it again later
        resolves the graph again."""
        self._connection.close()

    async def aclose(self) -> None:
        """Close the connections, async ones included."""
        await self._connection.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        deployment = self._connection.deployment
        where = (
            f"url={deployment.url!r}, assistant_id={deployment.assistant_id!r}"
            if deployment is not None
            else "unresolved"
        )
        return f"{type(self).__name__}(graph_name={self._graph_name!r}, name={self.name!r}, {where})"

    # ------------------------------------------------------------------ runs

    def with_defaults(self, input: Any) -> Any:
        """The input sent to the graph: `default_state_values` under a dict input (a dataclass or Pydantic
        state is sent as the dict of its fields; None and Command inputs are sent as they are)."""
        if not self._defaults or input is None or isinstance(input, Command):
            return input
        if isinstance(input, Mapping):
            return {**copy.deepcopy(self._defaults), **input}
        fields = _fields_of(input)
        if fields is not None:  # a dataclass or Pydantic state, as a parent graph passes it
            return {**copy.deepcopy(self._defaults), **fields}
        raise InputError(
            f"default_state_values can only be merged into a dict, dataclass or Pydantic input, not "
            f"{type(input).__name__} (pass the values in the input instead)"
        )

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """Run the graph and stream its output (see `RemoteGraph.stream`)."""
        with our_errors(self._graph_name):
            self.resolve()
            payload = self.with_defaults(input)
            kwargs["on_run_created"] = self._on_run_created(kwargs.get("on_run_created"), None)
            yield from super().stream(payload, config, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Run the graph and stream its output, asynchronously (see `RemoteGraph.astream`)."""
        started: list[str] = []
        with our_errors(self._graph_name):
            bound = await self._bound()
            payload = self.with_defaults(input)
            kwargs["on_run_created"] = self._on_run_created(kwargs.get("on_run_created"), started)
            async for chunk in RemoteGraph.astream(bound, payload, config, **kwargs):
                while started:
                    await self._connection.atrack(started.pop())
                yield chunk
        while started:
            await self._connection.atrack(started.pop())

    def _on_run_created(
        self, user_callback: Callable[[Any], None] | None, started: list[str] | None
    ) -> Callable[[Any], None]:
        """A callback for langgraph-sdk's `on_run_created`: records the run (now, or later in `started`)."""

        def on_run_created(metadata: Any) -> None:
            run_id = metadata.get("run_id") if isinstance(metadata, Mapping) else None
            if isinstance(run_id, str):
                if started is None:
                    self._connection.track(run_id)
                else:
                    started.append(run_id)
            if user_callback is not None:
                user_callback(metadata)

        return on_run_created

    def stream_events(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """See `RemoteGraph.stream_events`; `default_state_values` apply to version="v3" too.

        With version="v3" the run stream it returns (`with graph.stream_events(..., version="v3") as
        run:`), its projections (`run.values`, `run.messages`, ...) and what they yield raise our
        exceptions while they are entered, iterated or awaited, as every other call does.
        """
        with our_errors(self._graph_name, strict=True):
            self.resolve()
            if kwargs.get("version") == "v3":
                input = self.with_defaults(input)
            return guarded(super().stream_events(input, config, **kwargs), self._graph_name)

    async def astream_events(  # type: ignore[override]  # as RemoteGraph's: an awaitable, not an iterator
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """See `RemoteGraph.astream_events` (version="v3": `async with await graph.astream_events(...)`);
        the run stream raises our exceptions, as `stream_events`'s does."""
        with our_errors(self._graph_name, strict=True):
            bound = await self._bound()
            stream = await RemoteGraph.astream_events(bound, self.with_defaults(input), config, **kwargs)
        return guarded(stream, self._graph_name)

    # ------------------------------------------------------------------ graph and state

    # Their keywords are RemoteGraph's own (`headers`, `params`: of the request), so a misspelt one is an
    # ArgumentError (an InputError and a TypeError) and mypy and pyright report it.

    def get_graph(
        self,
        config: RunnableConfig | None = None,
        *,
        xray: int | bool = False,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> DrawableGraph:
        """The graph's drawable structure (see `RemoteGraph.get_graph`)."""
        with our_errors(self._graph_name):
            self.resolve()
            return super().get_graph(config, xray=xray, headers=headers, params=params)

    async def aget_graph(
        self,
        config: RunnableConfig | None = None,
        *,
        xray: int | bool = False,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> DrawableGraph:
        """The graph's drawable structure, asynchronously."""
        with our_errors(self._graph_name):
            bound = await self._bound()
            return await RemoteGraph.aget_graph(bound, config, xray=xray, headers=headers, params=params)

    def get_state(
        self,
        config: RunnableConfig,
        *,
        subgraphs: bool = False,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> StateSnapshot:
        """The state of the thread `config["configurable"]["thread_id"]` names (`RemoteGraph.get_state`)."""
        _check_thread_config(config)
        with our_errors(self._graph_name):
            self.resolve()
            return super().get_state(config, subgraphs=subgraphs, headers=headers, params=params)

    async def aget_state(
        self,
        config: RunnableConfig,
        *,
        subgraphs: bool = False,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> StateSnapshot:
        """The state of the thread `config` names, asynchronously."""
        _check_thread_config(config)
        with our_errors(self._graph_name):
            bound = await self._bound()
            return await RemoteGraph.aget_state(
                bound, config, subgraphs=subgraphs, headers=headers, params=params
            )

    def get_state_history(
        self,
        config: RunnableConfig,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> Iterator[StateSnapshot]:
        """Past states of the thread `config` names, newest first (see `RemoteGraph.get_state_history`)."""
        _check_thread_config(config)
        with our_errors(self._graph_name):
            self.resolve()
            yield from super().get_state_history(
                config, filter=filter, before=before, limit=limit, headers=headers, params=params
            )

    async def aget_state_history(
        self,
        config: RunnableConfig,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> AsyncIterator[StateSnapshot]:
        """Past states of the thread `config` names, newest first, asynchronously."""
        _check_thread_config(config)
        with our_errors(self._graph_name):
            bound = await self._bound()
            async for state in RemoteGraph.aget_state_history(
                bound, config, filter=filter, before=before, limit=limit, headers=headers, params=params
            ):
                yield state

    def update_state(
        self,
        config: RunnableConfig,
        values: dict[str, Any] | Any | None,
        as_node: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> RunnableConfig:
        """Write `values` into the thread's state as if `as_node` had run (see `RemoteGraph.update_state`)."""
        _check_thread_config(config)
        with our_errors(self._graph_name):
            self.resolve()
            return super().update_state(config, values, as_node, headers=headers, params=params)

    async def aupdate_state(
        self,
        config: RunnableConfig,
        values: dict[str, Any] | Any | None,
        as_node: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        params: QueryParamTypes | None = None,
    ) -> RunnableConfig:
        """Write `values` into the thread's state, asynchronously."""
        _check_thread_config(config)
        with our_errors(self._graph_name):
            bound = await self._bound()
            return await RemoteGraph.aupdate_state(
                bound, config, values, as_node, headers=headers, params=params
            )


def _check_thread_config(config: object) -> None:
    """State calls need `{"configurable": {"thread_id": ...}}`: refused before any request otherwise."""
    configurable = config.get("configurable") if isinstance(config, Mapping) else None
    thread_id = configurable.get("thread_id") if isinstance(configurable, Mapping) else None
    if not isinstance(thread_id, str) or not thread_id:
        raise InputError(
            'config must name a thread: {"configurable": {"thread_id": "..."}} '
            f"(got {type(config).__name__})"
        )


def _fields_of(state: Any) -> dict[str, Any] | None:
    """The fields of a dataclass or Pydantic state object (None for anything else)."""
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return {field.name: getattr(state, field.name) for field in dataclasses.fields(state)}
    dump = getattr(state, "model_dump", None)
    if callable(dump) and not isinstance(state, type):
        dumped = dump()
        return dict(dumped) if isinstance(dumped, Mapping) else None
    return None


def _checked_defaults(values: Mapping[str, Any] | None) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, Mapping) or not all(isinstance(key, str) for key in values):
        raise InputError("default_state_values must be a dict with string keys")
    return copy.deepcopy(dict(values))


def _with_trace_context(hooks: dict[str, list[Any]], tracing: Tracing) -> dict[str, list[Any]]:
    """LangGraph's sync client's event hooks, plus one that sends the current OpenTelemetry context."""

    def propagate(request: httpx.Request) -> None:
        tracing.propagate(request.headers)

    return {**hooks, "request": [*hooks.get("request", ()), propagate]}


def _with_async_trace_context(hooks: dict[str, list[Any]], tracing: Tracing) -> dict[str, list[Any]]:
    """LangGraph's async client's event hooks, plus one that sends the current OpenTelemetry context."""

    async def propagate(request: httpx.Request) -> None:
        tracing.propagate(request.headers)

    return {**hooks, "request": [*hooks.get("request", ()), propagate]}


def _checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in headers.items()
    ):
        raise InputError("headers must be a dict of strings")
    reserved = sorted(key for key in headers if key.lower() in _RESERVED_HEADERS)
    if reserved:
        raise InputError(f"headers may not set {reserved} (the deployment key is sent for you)")
    return dict(headers)


def _config_over(configurable: Mapping[str, Any], config: RunnableConfig | None) -> RunnableConfig:
    """The marketplace's configurables with the user's config over them (the user's values win)."""
    merged: dict[str, Any] = dict(config or {})
    merged["configurable"] = {**configurable, **(merged.get("configurable") or {})}
    return merged  # type: ignore[return-value]
