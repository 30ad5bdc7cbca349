"""PurchasedGraph's errors: what LangGraph's RemoteGraph and langgraph-sdk raise, as our exceptions.

`our_errors(graph)` is the context every PurchasedGraph entry point runs in. `guarded(value, graph)` wraps
what an entry point returns that performs I/O later (the run stream of `stream_events(version="v3")`, its
projections, the handles they yield, their iterators and awaitables), so that an error raised while it is
entered, iterated or awaited is ours too. Each original exception is kept as the masked `__cause__`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any

import httpx
from langgraph.pregel.remote import RemoteException
from langgraph_sdk.errors import APIConnectionError as SdkConnectionError
from langgraph_sdk.errors import APITimeoutError as SdkTimeoutError

from ._cause import masked
from ._errors import error_from_response, transport_error
from ._exceptions import APIConnectionError, APITimeoutError, InputError, LmsystemsError
from ._interrupts import run_error
from ._logging import redact
from ._session_core import protocol_error, ws_failure

__all__ = ["guarded", "our_errors"]

#: langgraph-sdk's thread streams (v3) fail with RuntimeErrors of these shapes.
_RUN_ERRORED = re.compile(r"Run errored: (?P<message>.*)", re.DOTALL)
_PROTOCOL_ERROR = re.compile(r"Protocol error \[(?P<code>[^\]]*)\]: (?P<message>.*)", re.DOTALL)
#: Plain values pass through `guarded` untouched: they are data, not I/O.
_DATA = (str, bytes, int, float, bool, type(None), dict, list, tuple, set, frozenset)
#: Where the objects that may perform I/O when used later come from: RemoteGraph's run streams,
#: langgraph-sdk's thread streams, projections and handles, and the message streams they yield (not
#: `langgraph.types`: Interrupt, Command... are data, and stay what they are).
_LAZY_MODULES = ("langgraph.pregel.", "langgraph_sdk.", "langchain_core.language_models.chat_model_stream")


class our_errors:
    """Turns what langgraph-sdk and RemoteGraph raise into our exceptions (`strict`: every exception,
    else only those that come from the network, the server or the run)."""

    def __init__(self, graph_name: str, *, strict: bool = False) -> None:
        self.graph_name = graph_name
        self.strict = strict

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, LmsystemsError) or not isinstance(exc, Exception):
            return
        if isinstance(exc, StopIteration | StopAsyncIteration):
            return  # the end of an iteration, not a failure
        ours = translate(exc, self.graph_name)
        if ours is None and self.strict:
            ours = _unexpected(exc, self.graph_name)
        if ours is not None:
            raise ours from masked(exc)


def translate(error: BaseException, graph_name: str) -> LmsystemsError | None:
    """Our exception for one of LangGraph's (None: not one we know)."""
    subject = f"the purchased graph {graph_name!r}"
    if isinstance(error, RemoteException):
        return run_error(error.args[0] if error.args else None, subject=subject)
    if isinstance(error, SdkTimeoutError):
        return APITimeoutError(f"timed out running {subject}")
    if isinstance(error, SdkConnectionError):
        return APIConnectionError(f"connection failed ({redact(error)}) running {subject}")
    if isinstance(error, httpx.HTTPStatusError) and getattr(error, "response", None) is not None:
        response = error.response
        try:
            content = response.content
        except httpx.ResponseNotRead:
            content = b""
        return error_from_response(
            service="agent server",
            method=response.request.method,
            path=response.request.url.path,
            status_code=response.status_code,
            reason=response.reason_phrase,
            headers=response.headers,
            content=content,
        )
    if isinstance(error, httpx.HTTPError):
        return transport_error(error, f"running {subject}")
    return _thread_stream_error(error, subject)


def _thread_stream_error(error: BaseException, subject: str) -> LmsystemsError | None:
    """The failures of langgraph-sdk's thread streams (`stream_events(version="v3")`)."""
    if isinstance(error, RuntimeError):
        text = str(error)
        if (found := _RUN_ERRORED.fullmatch(text)) is not None:
            return run_error({"error": "Error", "message": found["message"]}, subject=subject)
        if (found := _PROTOCOL_ERROR.fullmatch(text)) is not None:
            return protocol_error(
                {"error": found["code"], "message": found["message"]}, f"the event stream of {subject}"
            )
    if type(error).__module__.startswith("websockets."):
        return ws_failure(error, f"the event stream of {subject}")
    if isinstance(error, TimeoutError):
        return APITimeoutError(f"timed out waiting for {subject}")
    return None


def _unexpected(error: Exception, graph_name: str) -> LmsystemsError:
    """Anything else LangGraph raises: an argument it refuses is an InputError (NotImplementedError for an
    option v3 does not support, TypeError, ValueError); a misuse or an internal failure (e.g. a stream
    used outside its `with` block) is an LmsystemsError that says what LangGraph said."""
    text = f"{type(error).__name__}: {redact(error)}"
    if isinstance(error, NotImplementedError | TypeError | ValueError):
        return InputError(f"the purchased graph {graph_name!r} refused the call ({text})")
    return LmsystemsError(f"LangGraph failed using the purchased graph {graph_name!r} ({text})")


def guarded(value: Any, graph_name: str) -> Any:
    """`value`, or a stand-in for it whose every use raises our exceptions when it is an object that may
    perform I/O later (a run stream, projection or handle of LangGraph's, an iterator, a generator, an
    awaitable, a bound method of those). Data (dicts, lists, strings, LangChain messages, LangGraph's
    Interrupt...) is returned as it is."""
    if isinstance(value, (*_DATA, Guarded)):
        return value
    module = type(value).__module__ or ""
    if (
        module.startswith(_LAZY_MODULES)
        or inspect.isawaitable(value)
        or inspect.isgenerator(value)
        or inspect.isasyncgen(value)
        or isinstance(value, Iterator | AsyncIterator)
        or (inspect.ismethod(value) and type(value.__self__).__module__.startswith(_LAZY_MODULES))
    ):
        return Guarded(value, graph_name)
    return value


class Guarded:
    """Stands for one of LangGraph's lazy objects: attributes, calls, iteration, `with`/`async with` and
    `await` go to it, and what fails raises our exceptions (what they return is guarded in turn)."""

    __slots__ = ("_graph_name", "_inner")

    def __init__(self, inner: Any, graph_name: str) -> None:
        self._inner = inner
        self._graph_name = graph_name

    def _errors(self) -> our_errors:
        return our_errors(self._graph_name, strict=True)

    def __repr__(self) -> str:
        return repr(self._inner)

    def __getattr__(self, name: str) -> Any:
        with self._errors():
            value = getattr(self._inner, name)
        return guarded(value, self._graph_name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._errors():
            value = self._inner(*args, **kwargs)
        return guarded(value, self._graph_name)

    def __getitem__(self, key: Any) -> Any:
        with self._errors():
            value = self._inner[key]
        return guarded(value, self._graph_name)

    def __len__(self) -> int:
        # Only what has a length has one here (list() asks, and takes a TypeError for "no length").
        if not hasattr(type(self._inner), "__len__"):
            raise TypeError(f"object of type {type(self._inner).__name__!r} has no len()")
        with self._errors():
            return len(self._inner)

    def __contains__(self, item: Any) -> bool:
        with self._errors():
            return item in self._inner

    def __iter__(self) -> Guarded:
        with self._errors():
            iterator = iter(self._inner)
        return Guarded(iterator, self._graph_name)

    def __next__(self) -> Any:
        with self._errors():
            value = next(self._inner)
        return guarded(value, self._graph_name)

    def __aiter__(self) -> Guarded:
        with self._errors():
            iterator = self._inner.__aiter__()
        return Guarded(iterator, self._graph_name)

    async def __anext__(self) -> Any:
        with self._errors():
            value = await self._inner.__anext__()
        return guarded(value, self._graph_name)

    def __await__(self) -> Any:
        return self._awaited().__await__()

    async def _awaited(self) -> Any:
        with self._errors():
            value = await self._inner
        return guarded(value, self._graph_name)

    def __enter__(self) -> Guarded:
        with self._errors():
            self._inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            return bool(self._inner.__exit__(exc_type, exc, tb))
        except BaseException as error:
            if error is exc:
                raise  # the caller's own exception, passed on
            with self._errors():
                raise

    async def __aenter__(self) -> Guarded:
        with self._errors():
            await self._inner.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        try:
            return bool(await self._inner.__aexit__(exc_type, exc, tb))
        except BaseException as error:
            if error is exc:
                raise
            with self._errors():
                raise
