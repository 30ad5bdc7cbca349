"""One measurement in a fresh process: prints one JSON object on stdout.

    python bench/worker.py SCENARIO --impl ours|peer|floor|floor100 [options]

(`floor100`: raw httpx with our pool limits; see `floor_limits`.)

Scenarios:
  stream       consume one run's stream (--mode async|sync, --kind messages|updates, --events N,
               --path stateless|thread)
  concurrency  --streams N concurrent short streams (async, default client settings)
  short        --requests N short GETs of a thread at --concurrency C (async)
  real         stream graph custom_events of the real Agent Server (--url, --key, --count N)

`--otel sdk` runs the workload inside a span of an OpenTelemetry SDK tracer provider that records every
span and exports none (the cost of our tracing without an exporter's); `--otel none` (the default) loads
nothing of OpenTelemetry.

CPU is `resource.getrusage(RUSAGE_SELF)` (user + sys, all threads of this process) and wall is
`time.perf_counter()`, both taken around the workload only: after the imports, from before the client
is created to after it is closed (stream runs also report setup and stream separately). Errors never
escape: they are reported as `{"ok": false, ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import resource
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payloads import ASSISTANT_ID

THREAD_ID = "0b6d3f6e-2d5c-4c1a-9a53-6f3e1d2c4b5a"
TIMEOUT = 200.0  # bound on any one workload


def floor_limits(impl: str) -> Any:
    """`floor`: an unlimited pool, `httpx.Limits(max_connections=None)` (keep-alive unlimited too);
    `floor100`: raw httpx with OUR pool limits (lmsystems' DEFAULT_LIMITS: keep-alive 100)."""
    import httpx

    if impl == "floor100":
        return httpx.Limits(max_connections=None, max_keepalive_connections=100, keepalive_expiry=30.0)
    return httpx.Limits(max_connections=None)


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """Peak RSS of this process image, in MB: VmHWM from /proc/self/status.

    Not `ru_maxrss`: Linux carries ru_maxrss across fork+exec, so a child's ru_maxrss starts at its
    parent's peak RSS (the benchmark runner's); VmHWM belongs to the new image only. Elsewhere,
    ru_maxrss is the fallback."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


class Meter:
    def __enter__(self) -> Meter:
        self.cpu0, self.wall0 = cpu(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = cpu() - self.cpu0
        self.wall = time.perf_counter() - self.wall0


# ---------------------------------------------------------------------------------------- stream bodies


def settle() -> Meter:
    """A full garbage collection before the measured stream, for every contender alike (its CPU is
    reported apart, in the whole run): a collection owed by what came before (imports, setup, the first
    stream) would otherwise fall inside the stream or not, by the collector's timing. Measured once: ours
    owed one of ~11 ms there (the request models its first stream loads), the peer none."""
    with Meter() as meter:
        gc.collect()
    return meter


def run_body(args: argparse.Namespace, events: int | None = None) -> dict[str, Any]:
    return {"events": args.events if events is None else events, "kind": args.kind}


def stream_path(args: argparse.Namespace) -> str:
    return f"/threads/{THREAD_ID}/runs/stream" if args.path == "thread" else "/runs/stream"


# ---------------------------------------------------------------------------------------- floor parser


def _floor_feed(buffer: bytes, chunk: bytes, loads: Any) -> tuple[bytes, int]:
    """Split complete `\\r\\n\\r\\n`-terminated blocks off the buffer and json-decode each data field."""
    buffer = buffer + chunk if buffer else chunk
    count = 0
    start = 0
    while True:
        end = buffer.find(b"\r\n\r\n", start)
        if end < 0:
            break
        block = buffer[start:end]
        start = end + 4
        if block[:1] == b":":  # comment (heartbeat)
            continue
        for line in block.split(b"\r\n"):
            if line[:6] == b"data: ":
                loads(line[6:])
                count += 1
                break
    return buffer[start:], count


# ---------------------------------------------------------------------------------------- stream scenario


def floor_request(args: argparse.Namespace, thread: str | None, events: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "assistant_id": ASSISTANT_ID,
        "input": run_body(args, events),
        "stream_mode": [args.kind],
    }
    if thread:
        body["stream_resumable"] = True
    return {
        "content": json.dumps(body).encode(),
        "headers": {"content-type": "application/json", "accept": "text/event-stream"},
    }


def stream_result(
    total: Meter,
    setup: Meter,
    first: Meter,
    consume: Meter,
    *,
    settled: Meter,
    events: int,
    names: Counter[str],
) -> dict[str, Any]:
    """`cpu`/`wall`: the whole workload (client creation to close); `setup_*`: creating the client and its
    first request, GET /assistants/{id} (ours: `connect()`, which is that request; peer: `assistants.get`;
    floor: `client.get`), which opens the connection and pays httpx's lazy imports; `first_*`: a first
    stream of one event, the same request with `events: 1` (what a client pays once, on its first
    stream: lazy imports, first-use caches); `stream_*`: opening and reading the measured stream, the
    steady-state cost per event."""
    return {
        "wall": total.wall,
        "cpu": total.cpu,
        "setup_wall": setup.wall,
        "setup_cpu": setup.cpu,
        "first_wall": first.wall,
        "first_cpu": first.cpu,
        "collect_cpu": settled.cpu,
        "stream_wall": consume.wall,
        "stream_cpu": consume.cpu,
        "events": events,
        "event_names": dict(names),
    }


async def stream_async(args: argparse.Namespace) -> dict[str, Any]:
    url, modes = args.url, [args.kind]
    thread = THREAD_ID if args.path == "thread" else None
    events = 0
    names: Counter[str] = Counter()
    if args.impl == "ours":
        from lmsystems import LmsystemsClient

        with Meter() as total:
            with Meter() as setup:
                client = LmsystemsClient(graph_name=ASSISTANT_ID, deployment_url=url)
                await client.connect()
            try:
                with Meter() as first:
                    async for _part in client.stream_run(thread, input=run_body(args, 1), stream_mode=modes):
                        pass
                settled = settle()
                with Meter() as consume:
                    async for part in client.stream_run(thread, input=run_body(args), stream_mode=modes):
                        events += 1
                        names[part.event] += 1
            finally:
                await client.aclose()
    elif args.impl == "peer":
        from langgraph_sdk import get_client

        with Meter() as total:
            with Meter() as setup:
                client = get_client(url=url, api_key=None)
                await client.assistants.get(ASSISTANT_ID)  # first request: same work as our connect()
            try:
                extra = {"stream_resumable": True} if thread else {}
                with Meter() as first:
                    async for _part in client.runs.stream(
                        thread, ASSISTANT_ID, input=run_body(args, 1), stream_mode=modes, **extra
                    ):
                        pass
                settled = settle()
                with Meter() as consume:
                    async for part in client.runs.stream(
                        thread, ASSISTANT_ID, input=run_body(args), stream_mode=modes, **extra
                    ):
                        events += 1
                        names[part.event] += 1
            finally:
                await client.aclose()
    else:
        import httpx

        loads = json.loads
        with Meter() as total:
            with Meter() as setup:
                client = httpx.AsyncClient(base_url=url, limits=floor_limits(args.impl))
                (await client.get(f"/assistants/{ASSISTANT_ID}")).raise_for_status()  # first request
            try:
                with Meter() as first:
                    async with client.stream(
                        "POST", stream_path(args), **floor_request(args, thread, 1)
                    ) as response:
                        response.raise_for_status()
                        buffer = b""
                        async for chunk in response.aiter_bytes():
                            buffer, _ = _floor_feed(buffer, chunk, loads)
                settled = settle()
                with Meter() as consume:
                    async with client.stream(
                        "POST", stream_path(args), **floor_request(args, thread)
                    ) as response:
                        response.raise_for_status()
                        buffer = b""
                        async for chunk in response.aiter_bytes():
                            buffer, n = _floor_feed(buffer, chunk, loads)
                            events += n
            finally:
                await client.aclose()
    return stream_result(total, setup, first, consume, settled=settled, events=events, names=names)


def stream_sync(args: argparse.Namespace) -> dict[str, Any]:
    url, modes = args.url, [args.kind]
    thread = THREAD_ID if args.path == "thread" else None
    events = 0
    names: Counter[str] = Counter()
    if args.impl == "ours":
        from lmsystems import SyncLmsystemsClient

        with Meter() as total:
            with Meter() as setup:
                client = SyncLmsystemsClient(graph_name=ASSISTANT_ID, deployment_url=url)  # connects
            try:
                with Meter() as first:
                    for _part in client.stream_run(thread, input=run_body(args, 1), stream_mode=modes):
                        pass
                settled = settle()
                with Meter() as consume:
                    for part in client.stream_run(thread, input=run_body(args), stream_mode=modes):
                        events += 1
                        names[part.event] += 1
            finally:
                client.close()
    elif args.impl == "peer":
        from langgraph_sdk import get_sync_client

        with Meter() as total:
            with Meter() as setup:
                client = get_sync_client(url=url, api_key=None)
                client.assistants.get(ASSISTANT_ID)  # first request: same work as our connect()
            try:
                extra = {"stream_resumable": True} if thread else {}
                with Meter() as first:
                    for _part in client.runs.stream(
                        thread, ASSISTANT_ID, input=run_body(args, 1), stream_mode=modes, **extra
                    ):
                        pass
                settled = settle()
                with Meter() as consume:
                    for part in client.runs.stream(
                        thread, ASSISTANT_ID, input=run_body(args), stream_mode=modes, **extra
                    ):
                        events += 1
                        names[part.event] += 1
            finally:
                client.close()
    else:
        import httpx

        loads = json.loads
        with Meter() as total:
            with Meter() as setup:
                client = httpx.Client(base_url=url)
                client.get(f"/assistants/{ASSISTANT_ID}").raise_for_status()  # first request
            try:
                with (
                    Meter() as first,
                    client.stream("POST", stream_path(args), **floor_request(args, thread, 1)) as response,
                ):
                    response.raise_for_status()
                    buffer = b""
                    for chunk in response.iter_bytes():
                        buffer, _ = _floor_feed(buffer, chunk, loads)
                request = floor_request(args, thread)
                settled = settle()
                with Meter() as consume, client.stream("POST", stream_path(args), **request) as response:
                    response.raise_for_status()
                    buffer = b""
                    for chunk in response.iter_bytes():
                        buffer, n = _floor_feed(buffer, chunk, loads)
                        events += n
            finally:
                client.close()
    return stream_result(total, setup, first, consume, settled=settled, events=events, names=names)


# ---------------------------------------------------------------------------------------- concurrency


async def concurrency(args: argparse.Namespace) -> dict[str, Any]:
    """`--streams` streams at once through ONE client with its default settings."""
    url, n, per = args.url, args.streams, args.events
    body = {"events": per, "kind": "messages"}
    errors: Counter[str] = Counter()
    expected = per + 1  # + the metadata event

    if args.impl == "ours":
        from lmsystems import LmsystemsClient

        make = lambda: LmsystemsClient(graph_name=ASSISTANT_ID, deployment_url=url)  # noqa: E731

        async def one(client: Any) -> int:
            count = 0
            async for _part in client.stream_run(None, input=body, stream_mode=["messages"]):
                count += 1
            return count

        async def close(client: Any) -> None:
            await client.aclose()

    elif args.impl == "peer":
        from langgraph_sdk import get_client

        make = lambda: get_client(url=url, api_key=None)  # noqa: E731

        async def one(client: Any) -> int:
            count = 0
            async for _part in client.runs.stream(None, ASSISTANT_ID, input=body, stream_mode=["messages"]):
                count += 1
            return count

        async def close(client: Any) -> None:
            await client.aclose()

    else:
        import httpx

        loads = json.loads
        content = json.dumps({"assistant_id": ASSISTANT_ID, "input": body, "stream_mode": ["messages"]})
        make = lambda: httpx.AsyncClient(base_url=url, limits=floor_limits(args.impl))  # noqa: E731

        async def one(client: Any) -> int:
            count = 0
            async with client.stream(
                "POST",
                "/runs/stream",
                content=content.encode(),
                headers={"content-type": "application/json", "accept": "text/event-stream"},
            ) as response:
                response.raise_for_status()
                buffer = b""
                async for chunk in response.aiter_bytes():
                    buffer, k = _floor_feed(buffer, chunk, loads)
                    count += k
            return count

        async def close(client: Any) -> None:
            await client.aclose()

    with Meter() as meter:
        client = make()
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(one(client) for _ in range(n)), return_exceptions=True), TIMEOUT
            )
        finally:
            await close(client)
    completed = 0
    events = 0
    for result in results:
        if isinstance(result, BaseException):
            errors[type(result).__name__] += 1
        else:
            events += result
            if result == expected:
                completed += 1
            else:
                errors[f"short stream ({result} events)"] += 1
    return {
        "wall": meter.wall,
        "cpu": meter.cpu,
        "streams": n,
        "completed": completed,
        "events": events,
        "errors": dict(errors),
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------------------------------- short requests


async def short(args: argparse.Namespace) -> dict[str, Any]:
    url, total, width = args.url, args.requests, args.concurrency
    if args.impl == "ours":
        from lmsystems import LmsystemsClient

        client: Any = LmsystemsClient(graph_name=ASSISTANT_ID, deployment_url=url)

        async def get() -> Any:
            return await client.threads.get(THREAD_ID)

        close = client.aclose
    elif args.impl == "peer":
        from langgraph_sdk import get_client

        client = get_client(url=url, api_key=None)

        async def get() -> Any:
            return await client.threads.get(THREAD_ID)

        close = client.aclose
    else:
        import httpx

        client = httpx.AsyncClient(base_url=url, limits=floor_limits(args.impl))
        loads = json.loads
        path = f"/threads/{THREAD_ID}"

        async def get() -> Any:
            response = await client.get(path)
            response.raise_for_status()
            return loads(response.content)

        close = client.aclose

    async def lane(count: int) -> int:
        done = 0
        for _ in range(count):
            thread = await get()
            if thread["thread_id"] == THREAD_ID:
                done += 1
        return done

    def split(n: int) -> list[int]:
        return [n // width + (1 if i < n % width else 0) for i in range(width)]

    try:
        # Warm-up: one request alone (ours resolves its deployment; everyone pays httpx's lazy imports),
        # then two rounds of `width` lanes, which open the connections the measured part reuses.
        await asyncio.wait_for(lane(1), TIMEOUT)
        await asyncio.wait_for(asyncio.gather(*(lane(2) for _ in range(width))), TIMEOUT)
        with Meter() as meter:
            done = sum(await asyncio.wait_for(asyncio.gather(*(lane(k) for k in split(total))), TIMEOUT))
        connections = pool_size(client, args.impl)
    finally:
        await close()
    return {
        "wall": meter.wall,
        "cpu": meter.cpu,
        "requests": total,
        "completed": done,
        "pool_connections": connections,
    }


def pool_size(client: Any, impl: str) -> int | None:
    """Connections in the client's httpcore pool (diagnostics only: reaches into private attributes)."""
    try:
        if impl == "ours":
            http = client._core.http._client
        elif impl == "peer":
            http = client.http.client
        else:
            http = client
        return len(http._transport._pool.connections)
    except Exception:
        return None


# ---------------------------------------------------------------------------------------- real server


async def real(args: argparse.Namespace) -> dict[str, Any]:
    url, key, count = args.url, args.key, args.count
    body = {"count": count}
    events = 0
    if args.impl == "ours":
        from lmsystems import LmsystemsClient

        with Meter() as meter:
            client = LmsystemsClient(graph_name="custom_events", deployment_url=url, deployment_key=key)
            try:
                async for part in client.stream_run(None, input=body, stream_mode=["custom"]):
                    events += part.event == "custom"
            finally:
                await client.aclose()
    else:
        from langgraph_sdk import get_client

        with Meter() as meter:
            client = get_client(url=url, api_key=key)
            try:
                async for part in client.runs.stream(
                    None, "custom_events", input=body, stream_mode=["custom"]
                ):
                    events += part.event == "custom"
            finally:
                await client.aclose()
    return {"wall": meter.wall, "cpu": meter.cpu, "events": events}


# ---------------------------------------------------------------------------------------- main


def traced(otel: str) -> contextlib.AbstractContextManager[Any]:
    """`sdk`: an application span of a recording tracer provider without exporter is current."""
    if otel != "sdk":
        return contextlib.nullcontext()
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    trace.set_tracer_provider(TracerProvider())
    return trace.get_tracer("bench").start_as_current_span("bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["stream", "concurrency", "short", "real"])
    parser.add_argument("--impl", choices=["ours", "peer", "floor", "floor100"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key")
    parser.add_argument("--mode", choices=["async", "sync"], default="async")
    parser.add_argument("--kind", choices=["messages", "updates"], default="messages")
    parser.add_argument("--path", choices=["stateless", "thread"], default="stateless")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--otel", choices=["none", "sdk"], default="none")
    args = parser.parse_args()
    raise_fd_limit()
    try:
        with traced(args.otel):
            if args.scenario == "stream":
                result = stream_sync(args) if args.mode == "sync" else asyncio.run(stream_async(args))
            elif args.scenario == "concurrency":
                result = asyncio.run(concurrency(args))
            elif args.scenario == "short":
                result = asyncio.run(short(args))
            else:
                result = asyncio.run(real(args))
        result["ok"] = True
    except BaseException as error:  # reported, never raised: a failing competitor is a result
        result = {
            "ok": False,
            "error": f"{type(error).__name__}: {error}"[:500],
            "traceback": traceback.format_exc()[-2000:],
        }
    result["peak_rss_mb"] = result.get("peak_rss_mb") or peak_rss_mb()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
