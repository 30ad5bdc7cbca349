"""Benchmarks: lmsystems ("ours") vs langgraph-sdk ("peer") vs raw httpx ("floor"), side by side.

    python bench/run.py [--quick] [--out bench-results/] [--only stream,import,concurrency,short,real,profile]

1. stream       one run's stream against the synthetic SSE server (bench/sse_server.py, own process):
                messages (~316 B) and updates (~1.9 KB) events, async and sync, stateless runs, plus one
                resumable thread run (`id:` lines); CPU (getrusage, client process) and wall per run.
2. real         the real Agent Server (tests/support/agent_server.py), graph custom_events, stream_mode
                custom: wall for ours, peer and `curl -N`.
3. import       import cost (wall, peak RSS) of `import lmsystems` / the client class / creating a client,
                vs langgraph_sdk + get_client, vs httpx + AsyncClient.
4. concurrency  200 and 1,000 concurrent short streams through one client with DEFAULT settings.
5. short        2,000 short GETs (GET /threads/{id}) at concurrency 1, 10 and 100: CPU per request.
6. profile      cProfile of our async stream consumption (messages events).

Every measurement runs in a fresh process (bench/worker.py, bench/import_probe.py), interleaved
(ours, peer, floor, ours, ...); tables show medians. A failing competitor is recorded, never fatal.
Writes OUT/results.json (every sample) and OUT/results.md (the tables).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import secrets
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from report import render  # noqa: E402

PY = sys.executable
ALL = ("stream", "import", "concurrency", "short", "profile", "real")

FULL = {
    "stream_events": 20_000,
    "stream_rounds": 5,
    "import_rounds": 7,
    "concurrency_sizes": [200, 1000],
    "concurrency_events": 50,
    "concurrency_rounds": {"200": 5, "1000": 3},
    "short_requests": 2000,
    "short_concurrency": [1, 10, 100],
    "short_rounds": 3,
    "real_count": 5000,
    "real_rounds": 5,
    "profile_events": 20_000,
    "stream_cases": 5,
}
QUICK = {
    **FULL,
    "stream_events": 5000,
    "stream_rounds": 3,
    "import_rounds": 5,
    "concurrency_rounds": {"200": 1, "1000": 1},
    "short_rounds": 1,
    "stream_cases": 4,
    "real_count": 2000,
    "real_rounds": 3,
    "profile_events": 5000,
}

#: (mode, kind, path) of the stream benchmark.
STREAM_CASES = [
    ("async", "messages", "stateless"),
    ("async", "updates", "stateless"),
    ("sync", "messages", "stateless"),
    ("sync", "updates", "stateless"),
    ("async", "messages", "thread"),
]
IMPLS = ("ours", "peer", "floor")
#: Extra floor for the pool-bound benchmarks: raw httpx with OUR pool limits (keep-alive 100).
POOL_IMPLS = ("ours", "peer", "floor", "floor100")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def child_env() -> dict[str, str]:
    """The environment of every child: ours, minus proxies (127.0.0.1 only) and SDK keys."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LMSYSTEMS_API_KEY"):
        env.pop(name, None)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def run_json(command: list[str], timeout: float) -> dict[str, Any]:
    """Run a child that prints one JSON line; any failure becomes {"ok": false, "error": ...}."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=timeout, env=child_env(), cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stdout.decode(errors="replace").splitlines() if line.startswith("{")]
    if not lines:
        tail = done.stderr.decode(errors="replace")[-1500:]
        return {"ok": False, "error": f"exit {done.returncode}, no result; stderr: {tail}"}
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except ValueError as error:
        return {"ok": False, "error": f"bad result line: {error}"}
    result["process_wall"] = elapsed
    return result


def worker(scenario: str, impl: str, url: str, timeout: float = 240.0, **options: Any) -> dict[str, Any]:
    command = [PY, str(BENCH / "worker.py"), scenario, "--impl", impl, "--url", url]
    for name, value in options.items():
        command += [f"--{name}", str(value)]
    return run_json(command, timeout)


def median(samples: list[dict[str, Any]], key: str) -> float | None:
    values = [s[key] for s in samples if s.get("ok") and isinstance(s.get(key), int | float)]
    return statistics.median(values) if values else None


def spread(samples: list[dict[str, Any]], key: str) -> list[float]:
    values = [s[key] for s in samples if s.get("ok") and isinstance(s.get(key), int | float)]
    return [min(values), max(values)] if values else []


def failures(samples: list[dict[str, Any]]) -> list[str]:
    return [s.get("error", "?") for s in samples if not s.get("ok")]


# ------------------------------------------------------------------------------------------- servers


class SyntheticServer:
    """bench/sse_server.py in its own process (own session); stopped by its pid."""

    def __init__(self, log_dir: Path) -> None:
        self.log_path = log_dir / "sse_server.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [PY, str(BENCH / "sse_server.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_env(),
            cwd=ROOT,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        line = b""
        while time.monotonic() < deadline and b"\n" not in line:
            ready, _, _ = select.select([self.process.stdout], [], [], 1.0)
            if ready:
                piece = os.read(self.process.stdout.fileno(), 256)
                if not piece:
                    break
                line += piece
            elif self.process.poll() is not None:
                break
        if not line.startswith(b"LISTENING "):
            self.stop()
            raise RuntimeError(f"synthetic server did not start: {line!r}; see {self.log_path}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def warm(url: str, events: int, kind: str = "messages", path: str = "stateless") -> None:
    """One stream of this shape, read and dropped: the server builds (and caches) its body now, so
    that no measured client waits for it. Best effort."""
    parts = urllib.parse.urlsplit(url)
    target = (
        "/threads/0b6d3f6e-2d5c-4c1a-9a53-6f3e1d2c4b5a/runs/stream" if path == "thread" else "/runs/stream"
    )
    body = json.dumps({"input": {"events": events, "kind": kind}, "stream_resumable": path == "thread"})
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", target, body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        for _ in range(1_000_000):  # read and drop: keep this (the parent's) RSS small
            if not response.read(1 << 16):
                break
    except OSError as error:
        log(f"warm-up of the synthetic server failed: {error}")
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------- benchmarks


def bench_stream(url: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    events, rounds = cfg["stream_events"], cfg["stream_rounds"]
    samples: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {
        case: {impl: [] for impl in IMPLS} for case in STREAM_CASES
    }
    cases = STREAM_CASES[: cfg["stream_cases"]]
    samples = {case: samples[case] for case in cases}
    compile_bytecode()
    for _mode, kind, path in cases:
        warm(url, events, kind, path)
    for round_ in range(rounds):
        for case in cases:
            mode, kind, path = case
            for impl in IMPLS:
                result = worker("stream", impl, url, mode=mode, kind=kind, path=path, events=events)
                samples[case][impl].append(result)
        log(f"stream: round {round_ + 1}/{rounds} done")
    rows = []
    for case, by_impl in samples.items():
        mode, kind, path = case
        expected = events + 1  # + the metadata event
        counts = {impl: sorted({s.get("events") for s in by_impl[impl] if s.get("ok")}) for impl in IMPLS}
        rows.append(
            {
                "mode": mode,
                "kind": kind,
                "path": path,
                "events": events,
                "expected_events": expected,
                "event_counts": counts,
                "events_match": all(counts[impl] == [expected] for impl in IMPLS),
                "cpu": {impl: median(by_impl[impl], "cpu") for impl in IMPLS},
                "wall": {impl: median(by_impl[impl], "wall") for impl in IMPLS},
                "setup_cpu": {impl: median(by_impl[impl], "setup_cpu") for impl in IMPLS},
                "first_cpu": {impl: median(by_impl[impl], "first_cpu") for impl in IMPLS},
                "collect_cpu": {impl: median(by_impl[impl], "collect_cpu") for impl in IMPLS},
                "stream_cpu": {impl: median(by_impl[impl], "stream_cpu") for impl in IMPLS},
                "stream_wall": {impl: median(by_impl[impl], "stream_wall") for impl in IMPLS},
                "stream_cpu_range": {impl: spread(by_impl[impl], "stream_cpu") for impl in IMPLS},
                "peak_rss_mb": {impl: median(by_impl[impl], "peak_rss_mb") for impl in IMPLS},
                "failures": {impl: failures(by_impl[impl]) for impl in IMPLS},
                "samples": {impl: [strip(s) for s in by_impl[impl]] for impl in IMPLS},
            }
        )
    return rows


def strip(sample: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sample.items() if k != "traceback"}


def compile_bytecode() -> None:
    """An installed package has its bytecode compiled at install time (as the peer's has); an editable
    checkout may hold stale or missing .pyc files (and PYTHONDONTWRITEBYTECODE keeps them so), which
    would time the compiler."""
    subprocess.run(
        [PY, "-m", "compileall", "-q", str(ROOT / "lmsystems"), str(ROOT / "generated")], check=True
    )


def bench_import(cfg: dict[str, Any]) -> dict[str, Any]:
    compile_bytecode()
    samples: dict[str, list[dict[str, Any]]] = {impl: [] for impl in IMPLS}
    for _ in range(cfg["import_rounds"]):
        for impl in IMPLS:
            samples[impl].append(run_json([PY, str(BENCH / "import_probe.py"), impl], 60))
    log("import: done")
    stages = ["start", "import package", "import client class", "create client"]
    table: dict[str, Any] = {}
    for impl in IMPLS:
        ok = [s for s in samples[impl] if s.get("ok")]
        per_stage: dict[str, Any] = {}
        cumulative = 0.0
        for index, stage in enumerate(stages):
            walls = [s["stages"][index]["wall"] for s in ok]
            rss = [s["stages"][index]["rss_mb"] for s in ok]
            wall = statistics.median(walls) if walls else None
            if wall is not None and stage != "start":
                cumulative += wall
            per_stage[stage] = {
                "wall": wall,
                "cumulative_wall": cumulative if wall is not None else None,
                "rss_mb": statistics.median(rss) if rss else None,
            }
        table[impl] = {
            "stages": per_stage,
            "process_wall": median(ok, "process_wall"),
            "modules": median(ok, "modules"),
            "failures": failures(samples[impl]),
        }
    return {"by_impl": table, "samples": samples}


def bench_concurrency(url: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    sizes, per, rounds = cfg["concurrency_sizes"], cfg["concurrency_events"], cfg["concurrency_rounds"]
    samples: dict[int, dict[str, list[dict[str, Any]]]] = {
        n: {impl: [] for impl in POOL_IMPLS} for n in sizes
    }
    warm(url, per)
    for round_ in range(max(rounds.values())):
        for n in sizes:
            if round_ >= rounds[str(n)]:
                continue
            for impl in POOL_IMPLS:
                samples[n][impl].append(worker("concurrency", impl, url, timeout=300, streams=n, events=per))
        log(f"concurrency: round {round_ + 1}/{max(rounds.values())} done")
    rows = []
    for n in sizes:
        by_impl = samples[n]
        rows.append(
            {
                "streams": n,
                "events_per_stream": per,
                "rounds": rounds[str(n)],
                "cpu_range": {impl: spread(by_impl[impl], "cpu") for impl in POOL_IMPLS},
                "wall_range": {impl: spread(by_impl[impl], "wall") for impl in POOL_IMPLS},
                "completed": {impl: median(by_impl[impl], "completed") for impl in POOL_IMPLS},
                "wall": {impl: median(by_impl[impl], "wall") for impl in POOL_IMPLS},
                "cpu": {impl: median(by_impl[impl], "cpu") for impl in POOL_IMPLS},
                "peak_rss_mb": {impl: median(by_impl[impl], "peak_rss_mb") for impl in POOL_IMPLS},
                "errors": {
                    impl: [s.get("errors") for s in by_impl[impl] if s.get("ok") and s.get("errors")]
                    for impl in POOL_IMPLS
                },
                "failures": {impl: failures(by_impl[impl]) for impl in POOL_IMPLS},
                "samples": {impl: [strip(s) for s in by_impl[impl]] for impl in POOL_IMPLS},
            }
        )
    return rows


def bench_short(url: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    total, widths, rounds = cfg["short_requests"], cfg["short_concurrency"], cfg["short_rounds"]
    samples = {c: {impl: [] for impl in POOL_IMPLS} for c in widths}
    for round_ in range(rounds):
        for c in widths:
            for impl in POOL_IMPLS:
                samples[c][impl].append(worker("short", impl, url, requests=total, concurrency=c))
        log(f"short: round {round_ + 1}/{rounds} done")
    rows = []
    for c in widths:
        by_impl = samples[c]
        cpu = {impl: median(by_impl[impl], "cpu") for impl in POOL_IMPLS}
        wall = {impl: median(by_impl[impl], "wall") for impl in POOL_IMPLS}
        rows.append(
            {
                "concurrency": c,
                "requests": total,
                "completed": {impl: median(by_impl[impl], "completed") for impl in POOL_IMPLS},
                "cpu_per_request_us": {k: None if v is None else v / total * 1e6 for k, v in cpu.items()},
                "cpu_range": {impl: spread(by_impl[impl], "cpu") for impl in POOL_IMPLS},
                "wall_per_request_us": {k: None if v is None else v / total * 1e6 for k, v in wall.items()},
                "requests_per_s": {k: None if not v else total / v for k, v in wall.items()},
                "pool_connections": {impl: median(by_impl[impl], "pool_connections") for impl in POOL_IMPLS},
                "failures": {impl: failures(by_impl[impl]) for impl in POOL_IMPLS},
                "samples": {impl: [strip(s) for s in by_impl[impl]] for impl in POOL_IMPLS},
            }
        )
    return rows


def bench_profile(url: str, cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    result = run_json(
        [
            PY,
            str(BENCH / "profile_stream.py"),
            "--url",
            url,
            "--events",
            str(cfg["profile_events"]),
            "--kind",
            "messages",
            "--out",
            str(out),
        ],
        240,
    )
    log("profile: done")
    return result


def curl_stream(url: str, key: str, count: int, scratch: Path) -> dict[str, Any]:
    body = json.dumps({"assistant_id": "custom_events", "input": {"count": count}, "stream_mode": ["custom"]})
    target = scratch / "curl-stream.txt"
    command = [
        "curl",
        "-sS",
        "-N",
        "--fail",
        "--max-time",
        "240",
        "-o",
        str(target),
        "-w",
        "%{time_total}",
        "-X",
        "POST",
        f"{url}/runs/stream",
        "-H",
        f"x-api-key: {key}",
        "-H",
        "content-type: application/json",
        "-H",
        "accept: text/event-stream",
        "-d",
        body,
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=250, env=child_env(), check=False)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "curl timed out"}
    if done.returncode != 0:
        return {"ok": False, "error": f"curl exit {done.returncode}: {done.stderr.decode(errors='replace')}"}
    events = target.read_bytes().count(b"event: custom\r\n")
    target.unlink(missing_ok=True)
    return {"ok": True, "wall": float(done.stdout.decode().strip()), "events": events}


def bench_real(cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    if shutil.which("curl") is None:
        log("real: curl not found; curl is recorded as failed")
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from support.agent_server import TEST_AGENT_SERVER_DIR, start_agent_server
    except ImportError as error:
        return {"ok": False, "error": f"cannot import tests/support/agent_server.py: {error}"}
    key = f"bench_{secrets.token_hex(12)}"
    count, rounds = cfg["real_count"], cfg["real_rounds"]
    impls = ("ours", "peer", "curl")
    samples: dict[str, list[dict[str, Any]]] = {impl: [] for impl in impls}
    try:
        server = start_agent_server(
            TEST_AGENT_SERVER_DIR, deployment_key=key, log_path=out / "agent-server.log"
        )
    except Exception as error:
        return {"ok": False, "error": f"the Agent Server did not start: {type(error).__name__}: {error}"}
    scratch = Path(tempfile.mkdtemp(prefix="lmsystems-bench-"))
    try:
        log(f"real: Agent Server at {server.url}; warm-up run")
        curl_stream(server.url, key, 10, scratch)
        for round_ in range(rounds):
            for impl in impls:
                if impl == "curl":
                    result = (
                        curl_stream(server.url, key, count, scratch)
                        if shutil.which("curl")
                        else {"ok": False, "error": "curl not found"}
                    )
                else:
                    result = worker("real", impl, server.url, key=key, count=count)
                samples[impl].append(result)
            log(f"real: round {round_ + 1}/{rounds} done")
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    counts = {impl: sorted({s.get("events") for s in samples[impl] if s.get("ok")}) for impl in impls}
    return {
        "ok": True,
        "graph": "custom_events",
        "count": count,
        "event_counts": counts,
        "events_match": all(counts[impl] == [count] for impl in impls),
        "wall": {impl: median(samples[impl], "wall") for impl in impls},
        "wall_range": {impl: spread(samples[impl], "wall") for impl in impls},
        "cpu": {impl: median(samples[impl], "cpu") for impl in ("ours", "peer")},
        "failures": {impl: failures(samples[impl]) for impl in impls},
        "samples": {impl: [strip(s) for s in samples[impl]] for impl in impls},
    }


# ------------------------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("lmsystems", "langgraph-sdk", "httpx", "httpcore", "h11", "orjson", "langgraph-api"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    curl = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        curl = (
            subprocess.run(["curl", "--version"], capture_output=True, timeout=10, check=False)
            .stdout.decode()
            .split()[1]
        )
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
        "curl": curl,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and events (~3 min)")
    parser.add_argument("--out", default="bench-results", help="output directory")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma list out of {','.join(ALL)}")
    args = parser.parse_args()
    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(selected) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmarks: {sorted(unknown)}")
    cfg = QUICK if args.quick else FULL
    out = Path(args.out)
    if not out.is_absolute():
        out = Path.cwd() / out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "quick": args.quick,
        "config": cfg,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "benchmarks": {},
    }
    log(f"{'quick' if args.quick else 'full'} run: {', '.join(selected)} -> {out}")
    benchmarks = results["benchmarks"]
    needs_server = {"stream", "concurrency", "short", "profile"} & set(selected)
    server = SyntheticServer(out) if needs_server else None
    try:
        if server is not None:
            log(f"synthetic server at {server.url}")
        for name in selected:
            t = time.perf_counter()
            try:
                if name == "stream" and server:
                    benchmarks["stream"] = bench_stream(server.url, cfg)
                elif name == "import":
                    benchmarks["import"] = bench_import(cfg)
                elif name == "concurrency" and server:
                    benchmarks["concurrency"] = bench_concurrency(server.url, cfg)
                elif name == "short" and server:
                    benchmarks["short"] = bench_short(server.url, cfg)
                elif name == "profile" and server:
                    benchmarks["profile"] = bench_profile(server.url, cfg, out)
                elif name == "real":
                    benchmarks["real"] = bench_real(cfg, out)
            except Exception as error:  # a broken benchmark is a result, not a crash
                log(f"{name}: FAILED: {type(error).__name__}: {error}")
                benchmarks[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            results.setdefault("durations", {})[name] = time.perf_counter() - t
            # Write what we have after every benchmark, so an interrupted run still leaves results.
            (out / "results.json").write_text(json.dumps(results, indent=1))
    finally:
        if server is not None:
            server.stop()
    results["duration"] = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(render(results))
    log(f"done in {results['duration']:.0f} s: {out / 'results.md'}")


if __name__ == "__main__":
    main()
