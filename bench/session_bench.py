"""Thread sessions: client CPU per event, ours (`client.thread_stream`) vs langgraph-sdk's v3 client
(`client.threads.stream`), on the same protocol stream from a synthetic Agent Server.

    python bench/session_bench.py [--events 20000] [--rounds 5] [--out bench-results/]

The server (its own process: uvicorn + starlette) answers `run.start` on `POST /threads/{id}/commands`
and then sends, on `POST /threads/{id}/stream/events`, a run of the real server's wire format: a root
`running` lifecycle event, EVENTS `messages` text deltas (each in its message-start/finish frame every
100 deltas), a `values` snapshot every 500 events, and the root `completed` lifecycle event, all at once.
Each client, in a fresh process, opens a session, starts the run and reads every event until the root
`completed` one (async, SSE); CPU per event is getrusage (user+sys) of the client process from the
answer to `run.start` to the last event, over the events read (setup, the client and the connection, is
reported apart). Rounds
interleave ours and the peer's; the medians are reported, with their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = "01a22941-0000-7000-8000-000000000001"
THREAD_ID = "01a22941-0000-7000-8000-0000000000aa"


# ------------------------------------------------------------------------------------------- server


def build_stream(events: int) -> bytes:
    """The SSE body of one run: what the real server sends, framed the same way."""
    frames: list[bytes] = []
    seq = 0

    def add(method: str, data: Any, namespace: list[str] | None = None, event_id: str | None = None) -> None:
        nonlocal seq
        seq += 1
        envelope = {
            "type": "event",
            "event_id": event_id or f"{1795986953000 + seq // 3}-0.{seq % 3}",
            "seq": seq,
            "method": method,
            "params": {"namespace": namespace or [], "timestamp": 1795986953000 + seq, "data": data},
        }
        data = json.dumps(envelope, separators=(",", ":"))
        frames.append(f"event: {method}\r\ndata: {data}\r\nid: {seq}\r\n\r\n".encode())

    add("lifecycle", {"event": "running", "graph_name": "agent"}, event_id=f"synth:{RUN_ID}:lc||running")
    values = {"messages": [{"type": "human", "content": "benchmark " * 20}], "topic": "bench"}
    for index in range(events):
        if index % 100 == 0:
            add("messages", {"event": "message-start", "role": "ai", "id": f"lc_run--{index}"})
            add(
                "messages",
                {"event": "content-block-start", "index": 0, "content": {"type": "text", "text": ""}},
            )
        add(
            "messages",
            {
                "event": "content-block-delta",
                "index": 0,
                "delta": {"type": "text-delta", "text": f" token{index}"},
            },
        )
        if index % 100 == 99:
            add("messages", {"event": "message-finish"})
        if index % 500 == 499:
            add("values", values)
    add("lifecycle", {"event": "completed", "graph_name": "agent"}, event_id=f"synth:{RUN_ID}:lc||completed")
    return b"".join(frames)


def serve(port: int, events: int) -> None:
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    body = build_stream(events)
    started: dict[str, asyncio.Event] = {}

    def gate(thread_id: str) -> asyncio.Event:
        return started.setdefault(thread_id, asyncio.Event())

    async def command(request: Request) -> JSONResponse:
        payload = await request.json()
        result: dict[str, Any] = {}
        if payload.get("method") == "run.start":
            result = {"run_id": RUN_ID}
            gate(request.path_params["thread_id"]).set()
        return JSONResponse({"type": "success", "id": payload.get("id"), "result": result, "meta": {}})

    async def stream(request: Request) -> StreamingResponse:
        thread_id = request.path_params["thread_id"]

        async def chunks() -> Any:
            await gate(thread_id).wait()
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]
            while True:  # a session's connection stays open between runs
                await asyncio.sleep(5)
                yield b": heartbeat\r\n\r\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def thread(request: Request) -> JSONResponse:
        return JSONResponse({"thread_id": THREAD_ID, "status": "idle", "metadata": {}, "values": {}})

    async def assistants(request: Request) -> JSONResponse:
        return JSONResponse([])

    app = Starlette(
        routes=[
            Route("/assistants/search", assistants, methods=["POST"]),
            Route("/threads/{thread_id}/commands", command, methods=["POST"]),
            Route("/threads/{thread_id}/stream/events", stream, methods=["POST"]),
            Route("/threads", thread, methods=["POST"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------------------------------- clients


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def ours(url: str, thread_id: str) -> tuple[int, float]:
    from lmsystems import LmsystemsClient

    count = 0
    async with (
        LmsystemsClient(deployment_url=url) as client,
        client.thread_stream(thread_id, assistant_id="agent") as session,
    ):
        await session.start({"topic": "bench"})
        started = cpu()
        async for _event in session:
            count += 1
        return count, cpu() - started


async def peer(url: str, thread_id: str) -> tuple[int, float]:
    from langgraph_sdk import get_client

    count = 0
    client = get_client(url=url)
    async with client.threads.stream(thread_id, assistant_id="agent") as thread:
        await thread.run.start(input={"topic": "bench"})
        started = cpu()
        async for event in thread.events:
            count += 1
            params = event["params"]
            if (
                event["method"] == "lifecycle"
                and not params["namespace"]
                and params["data"].get("event") == "completed"
            ):
                break
        return count, cpu() - started


def work(who: str, url: str, index: int) -> dict[str, Any]:
    import asyncio

    thread_id = f"01a22941-0000-7000-8000-{index:012d}"
    fn = ours if who == "ours" else peer
    # Imports outside the measurement: they are not per-event costs (the peer's weigh ~0.4 s).
    if who == "ours":
        import lmsystems._async._client
        import lmsystems._async._session  # noqa: F401
    else:
        import langgraph_sdk
        import langgraph_sdk._async.stream  # noqa: F401
    started_cpu, started = cpu(), time.perf_counter()
    count, stream_cpu = asyncio.run(fn(url, thread_id))
    return {
        "who": who,
        "events": count,
        "cpu": stream_cpu,
        "setup_cpu": cpu() - started_cpu - stream_cpu,
        "wall": time.perf_counter() - started,
    }


# ------------------------------------------------------------------------------------------- runner


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", nargs=3, metavar=("WHO", "URL", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.events)
        return 0
    if args.work:
        who, url, index = args.work
        print(json.dumps(work(who, url, int(index))))
        return 0
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "generated")])}
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--events", str(args.events)],
        env=env,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        samples: dict[str, list[dict[str, Any]]] = {"ours": [], "peer": []}
        index = 0
        for _ in range(args.rounds):
            for who in ("ours", "peer"):
                index += 1
                output = subprocess.run(
                    [sys.executable, __file__, "--work", who, url, str(index)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=True,
                ).stdout
                samples[who].append(json.loads(output.strip().splitlines()[-1]))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
    report = {}
    for who, runs in samples.items():
        report[who] = {
            "events": runs[0]["events"],
            "cpu_us_per_event": statistics.median(r["cpu"] / r["events"] * 1e6 for r in runs),
            "wall_s": statistics.median(r["wall"] for r in runs),
            "setup_cpu_ms": statistics.median(r["setup_cpu"] for r in runs) * 1000,
        }
    ratio = report["ours"]["cpu_us_per_event"] / report["peer"]["cpu_us_per_event"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sessions.json").write_text(
        json.dumps({"report": report, "ratio": ratio, "samples": samples})
    )
    lines = [
        f"Thread sessions, {report['ours']['events']} events per run (async, SSE), medians of {args.rounds}:",
        "",
        "| client | events read | CPU per event (µs) | setup CPU (ms) | wall (s) |",
        "|---|---|---|---|---|",
        *(
            f"| {who} | {r['events']} | {r['cpu_us_per_event']:.1f} | {r['setup_cpu_ms']:.0f} "
            f"| {r['wall_s']:.2f} |"
            for who, r in report.items()
        ),
        "",
        f"ours / peer CPU per event: {ratio:.2f}",
    ]
    (args.out / "sessions.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
