"""A child process that runs one client call per request and reports what came out, measured.

No pytest imports here. `tests/test_hostile.py` starts it once (``python -m support.hostile_worker``)
and writes one JSON request per line on its stdin; for each it answers one JSON line on stdout:

- ``error``: the exception's ``module.qualname`` (None when the call succeeded), ``mro`` its classes;
- ``elapsed``: seconds the call took (client creation included);
- ``rss_growth``: bytes by which the peak resident set grew during the call (Linux: freed memory is
  given back with ``malloc_trim`` and the peak reset through ``/proc/self/clear_refs`` before each call,
  then read from ``VmHWM``);
- ``leaks``: the channels in which one of the request's ``canaries`` appeared: ``str``, ``repr``, the
  ``__cause__``/``__context__`` chain, ``traceback.format_exception``, the pickle (bytes and the
  unpickled error's str/repr/attributes), and every log record of every logger (the root logger is at
  DEBUG for the whole life of this process, with a handler that formats records with their tracebacks);
- ``message`` (at most 2,000 characters) and ``message_length``, ``attributes`` (selected ones).

A request: ``{"flavour": "sync"|"async", "client": {constructor kwargs}, "call": NAME,
"env": {variables set during the call}, "canaries": [...]}``. The calls are the functions in
:data:`CALLS`.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import inspect
import io
import json
import logging
import os
import pickle
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from lmsystems import LmsystemsClient, SyncLmsystemsClient
from lmsystems._async._stream import AsyncRunStream
from lmsystems._sync._stream import SyncRunStream

INPUT = {"messages": [{"role": "user", "content": "hi"}]}


def _stream(client: Any) -> Any:
    return client.stream_run("t1", INPUT)


def _stateless_stream(client: Any) -> Any:
    return client.stream_run(None, INPUT)


def _join_bad_event_id(client: Any) -> Any:
    return client.threads.join_stream("t1", last_event_id="caf\u00e9\n")


CALLS: dict[str, Callable[[Any], Any]] = {
    "get_thread": lambda client: client.get_thread("t1"),
    "create_thread": lambda client: client.create_thread(),
    "stream": _stream,
    "stateless_stream": _stateless_stream,
    "join_bad_event_id": _join_bad_event_id,
}


def _status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Give freed memory back (else a case could reuse what an earlier one left resident, unmeasured),
    then reset the peak to the current resident set."""
    gc.collect()
    _LIBC.malloc_trim(0)
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")


_LIBC = ctypes.CDLL("libc.so.6")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))


def _drive_sync(client: Any, call: Callable[[Any], Any]) -> None:
    value = call(client)
    if isinstance(value, SyncRunStream):
        with value:
            for _part in value:  # parts are let go of as they come: memory is the stream's own
                pass


async def _drive_async(client: Any, call: Callable[[Any], Any]) -> None:
    value = call(client)
    if inspect.isawaitable(value):
        value = await value
    if isinstance(value, AsyncRunStream):
        async with value:
            async for _part in value:
                pass


def _run(request: dict[str, Any]) -> BaseException | None:
    call = CALLS[request["call"]]
    options = request["client"]
    try:
        if request["flavour"] == "sync":
            with SyncLmsystemsClient(**options) as client:
                _drive_sync(client, call)
        else:

            async def main() -> None:
                async with LmsystemsClient(**options) as client:
                    await _drive_async(client, call)

            asyncio.run(main())
    except Exception as error:
        return error
    return None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        item = todo.pop()
        if item is None or any(item is known for known in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__]
    return seen


def _channels(error: BaseException, logs: list[str]) -> dict[str, str | bytes]:
    channels: dict[str, str | bytes] = {"str": str(error), "repr": repr(error)}
    for index, linked in enumerate(_chain(error)[1:]):
        channels[f"chain[{index}] {type(linked).__name__}"] = f"{linked!s} {linked!r} {linked.args!r}"
    channels["traceback"] = "".join(traceback.format_exception(error))
    try:
        data = pickle.dumps(error)
    except Exception as failure:  # a pickling failure is a finding of its own
        channels["pickle failed"] = repr(failure)
    else:
        channels["pickle"] = data
        copy = pickle.loads(data)
        channels["unpickled"] = f"{copy!s} {copy!r} {vars(copy)!r}"
    channels["attributes"] = repr(vars(error))
    channels["logs"] = "\n".join(logs)
    return channels


def handle(request: dict[str, Any], records: _Records) -> dict[str, Any]:
    saved = {name: os.environ.get(name) for name in request.get("env", {})}
    os.environ.update(request.get("env", {}))  # test code: the variables a case's user would have set
    records.texts.clear()
    try:
        _reset_peak()
        before = _status("VmRSS")
        started = time.monotonic()
        error = _run(request)
        elapsed = time.monotonic() - started
        growth = _status("VmHWM") - before
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    answer: dict[str, Any] = {"elapsed": elapsed, "rss_growth": growth, "logs": len(records.texts)}
    if error is None:
        answer.update(error=None, leaks=[])
        return answer
    canaries: list[str] = request.get("canaries", [])
    leaks = []
    for name, text in _channels(error, records.texts).items():
        for canary in canaries:
            found = canary.encode() in text if isinstance(text, bytes) else canary in text
            if found:
                leaks.append(name)
                break
    message = str(error)
    answer.update(
        error=f"{type(error).__module__}.{type(error).__qualname__}",
        mro=[f"{cls.__module__}.{cls.__qualname__}" for cls in type(error).__mro__],
        message=message[:2000],
        message_length=len(message),
        leaks=leaks,
        attributes={
            name: (value if isinstance(value, int | float | bool | None) else len(str(value)))
            for name in ("status_code", "final", "resumable", "events_delivered", "error_message")
            if (value := getattr(error, name, None)) is not None
        },
    )
    return answer


def main() -> None:
    records = _Records()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(records)
    output = io.TextIOWrapper(os.fdopen(os.dup(sys.stdout.fileno()), "wb"), encoding="utf-8")
    sys.stdout = sys.stderr  # nothing but answers on the answer channel
    for line in sys.stdin:
        if not line.strip():
            continue
        answer = handle(json.loads(line), records)
        output.write(json.dumps(answer) + "\n")
        output.flush()


if __name__ == "__main__":
    main()
