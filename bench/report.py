"""Render bench results (the dict bench/run.py writes to results.json) as markdown tables.

python bench/report.py bench-results/results.json > results.md     # re-render without re-running
"""

from __future__ import annotations

import json
import sys
from typing import Any

FAILED = "failed"


def ratio(ours: float | None, other: float | None) -> str:
    if ours is None:
        return FAILED + " (ours)"
    if other is None:
        return f"n/a ({FAILED})"
    if other == 0:
        return "n/a"
    return f"{ours / other:.2f}"


def num(value: float | None, scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return FAILED
    return f"{value * scale:,.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    v = m["versions"]
    cfg = results["config"]
    return [
        "# lmsystems benchmarks: ours vs langgraph-sdk (peer) vs raw httpx (floor)",
        "",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores; {m['platform']}",
        f"- Python {m['python']} ({m['implementation']}); lmsystems {v.get('lmsystems')}, "
        f"langgraph-sdk {v.get('langgraph-sdk')}, httpx {v.get('httpx')} (httpcore {v.get('httpcore')}, "
        f"h11 {v.get('h11')}), orjson {v.get('orjson')}, langgraph-api {v.get('langgraph-api')}, "
        f"curl {m.get('curl')}",
        f"- Run: {'`--quick`' if results.get('quick') else 'full'}, started {results.get('started')}, "
        f"took {results.get('duration', 0):.0f} s. Every number is the median over fresh processes "
        f"(stream: {cfg['stream_rounds']} rounds, concurrency: "
        f"{', '.join(f'{n} streams x{k}' for n, k in cfg['concurrency_rounds'].items())}, "
        f"short: {cfg['short_rounds']}, import: {cfg['import_rounds']}, real server: {cfg['real_rounds']}), "
        "measured interleaved (ours, peer, floor, ours, ...).",
        "- CPU = `getrusage(RUSAGE_SELF)` user+sys of the CLIENT process (all its threads), around the "
        "workload only (client creation to close; imports excluded). Peak RSS = VmHWM of the client process "
        "(ru_maxrss would include the runner's RSS, which Linux carries across fork+exec). Ratios: ours/peer "
        "and ours/floor, below 1 means ours costs less.",
        "- The machine is shared (other work may run at the same time): CPU numbers are robust to that, wall "
        "numbers less so.",
        "",
    ]


def stream_section(rows: Any) -> list[str]:
    if not isinstance(rows, list):
        return ["## 1. Stream consumption", "", f"Benchmark failed: {rows.get('error')}", ""]
    out = [
        "## 1. Stream consumption (synthetic SSE server, one run per fresh process)",
        "",
        "One run's stream of N payload events (+1 metadata event), consumed to the end. "
        "messages = `messages/partial` events (316 B of JSON each), updates = `updates` events (1.9 KB). "
        "`stateless` = POST /runs/stream; `thread` = POST /threads/{id}/runs/stream with "
        "`stream_resumable` (`id:` lines; ours runs its resume tracker; both SDKs GET the run after the "
        "stream ends). Floor = httpx stream + `aiter_bytes`/`iter_bytes` + split on CRLFCRLF + stdlib "
        "`json.loads` of each data line (peer decodes with orjson). "
        "Setup = create the client + its first request (GET /assistants/{id}: our `connect()`; peer "
        "`assistants.get`, floor `client.get`, so that everyone pays httpx's lazy imports and the "
        "connection there); first stream = a first stream of one event, the same request (what a client "
        "pays once, on its first stream: ours loads the generated request models there, lazily); then a full "
        "garbage collection for everyone (in the whole run, not in the stream: a collection owed by what "
        "came before would otherwise fall inside the stream or not, by the collector's timing); stream = the "
        "measured stream request and reading it, the steady-state cost per event.",
        "",
        "**Stream CPU per event (µs, client process; steady state)**",
        "",
    ]
    body = []
    for r in rows:
        n = r["expected_events"]
        cpu = r["stream_cpu"]
        per = {k: (None if v is None else v / n) for k, v in cpu.items()}
        body.append(
            [
                r["mode"],
                r["kind"],
                r["path"],
                f"{r['events']:,}",
                num(per["ours"], 1e6, 1),
                num(per["peer"], 1e6, 1),
                num(per["floor"], 1e6, 1),
                ratio(cpu["ours"], cpu["peer"]),
                ratio(cpu["ours"], cpu["floor"]),
                "yes" if r["events_match"] else f"NO {r['event_counts']}",
            ]
        )
    out += table(
        ["mode", "kind", "path", "events", "ours", "peer", "floor", "ours/peer", "ours/floor", "same count"],
        body,
    )
    out += [
        "",
        "**Whole run, client creation to close: CPU and wall (ms); setup and first-stream CPU (ms); peak "
        "RSS (MB)**",
        "",
    ]
    body = []
    for r in rows:
        c, w, su, rss = r["cpu"], r["wall"], r["setup_cpu"], r["peak_rss_mb"]
        first = r.get("first_cpu") or {}
        body.append(
            [
                r["mode"],
                r["kind"],
                r["path"],
                " / ".join(num(c[i], 1e3, 0) for i in ("ours", "peer", "floor")),
                ratio(c["ours"], c["peer"]),
                ratio(c["ours"], c["floor"]),
                " / ".join(num(w[i], 1e3, 0) for i in ("ours", "peer", "floor")),
                ratio(w["ours"], w["peer"]),
                ratio(w["ours"], w["floor"]),
                " / ".join(num(su[i], 1e3, 0) for i in ("ours", "peer", "floor")),
                " / ".join(num(first.get(i), 1e3, 0) for i in ("ours", "peer", "floor")),
                " / ".join(num(rss[i], 1, 0) for i in ("ours", "peer", "floor")),
            ]
        )
    out += table(
        [
            "mode",
            "kind",
            "path",
            "CPU ours/peer/floor",
            "CPU ours/peer",
            "CPU ours/floor",
            "wall ours/peer/floor",
            "wall ours/peer",
            "wall ours/floor",
            "setup CPU ours/peer/floor",
            "first stream CPU ours/peer/floor",
            "RSS ours/peer/floor",
        ],
        body,
    )
    out += failures_note(rows, ("ours", "peer", "floor"))
    return out


def failures_note(rows: list[dict[str, Any]], impls: tuple[str, ...]) -> list[str]:
    notes = []
    for r in rows:
        for impl in impls:
            for error in r.get("failures", {}).get(impl, []):
                notes.append(f"- {impl} failed in one round ({label(r)}): {error[:300]}")
    return ["", *notes, ""] if notes else [""]


def label(row: dict[str, Any]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in ("mode", "kind", "path", "streams", "concurrency") if k in row)


def real_section(real: dict[str, Any] | None) -> list[str]:
    if real is None:
        return []
    out = ["## 2. Real Agent Server (`langgraph dev`, in-memory runtime)", ""]
    if not real.get("ok"):
        return [*out, f"Benchmark failed: {real.get('error')}", ""]
    w, cpu = real["wall"], real["cpu"]
    out += [
        f'Graph `{real["graph"]}`, input `{{"count": {real["count"]}}}`, stream_mode `custom`, stateless run '
        "(POST /runs/stream), same server, interleaved. Wall = in-process from client creation to close "
        "(ours, peer; includes our assistant lookup) and curl's `time_total`.",
        "",
    ]
    body = [
        [
            "wall (s)",
            num(w["ours"], 1, 3),
            num(w["peer"], 1, 3),
            num(w["curl"], 1, 3),
            ratio(w["ours"], w["peer"]),
            ratio(w["ours"], w["curl"]),
        ],
        [
            "client CPU (s)",
            num(cpu["ours"], 1, 3),
            num(cpu["peer"], 1, 3),
            "-",
            ratio(cpu["ours"], cpu["peer"]),
            "-",
        ],
    ]
    out += table(["", "ours", "peer", "curl -N", "ours/peer", "ours/curl"], body)
    match = "yes" if real["events_match"] else f"NO: {real['event_counts']}"
    out += ["", f"All three received {real['count']} custom events: {match}."]
    out += failures_note([{**real, "mode": "real"}], ("ours", "peer", "curl"))
    return out


def import_section(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    out = ["## 3. Import cost (fresh process each; no request made)", ""]
    if "by_impl" not in data:
        return [*out, f"Benchmark failed: {data.get('error')}", ""]
    by = data["by_impl"]
    out += [
        "ours: `import lmsystems` -> `from lmsystems import LmsystemsClient` -> "
        "`LmsystemsClient(graph_name=..., "
        "deployment_url=...)`; peer: `import langgraph_sdk` -> `from langgraph_sdk import get_client` -> "
        "`get_client(url=...)`; floor: `import httpx` -> `httpx.AsyncClient()`. Wall is cumulative from the "
        "start of the stages; RSS is the peak RSS after the stage (VmHWM: ru_maxrss without the part Linux "
        "carries over from the parent process; the interpreter alone: "
        f"{num(by['ours']['stages']['start']['rss_mb'])} MB).",
        "",
    ]
    body = []
    for stage in ("import package", "import client class", "create client"):
        s = {impl: by[impl]["stages"][stage] for impl in ("ours", "peer", "floor")}
        wall = {impl: s[impl]["cumulative_wall"] for impl in s}
        rss = {impl: s[impl]["rss_mb"] for impl in s}
        body.append(
            [
                f"after {stage} — wall (ms)",
                num(wall["ours"], 1e3, 1),
                num(wall["peer"], 1e3, 1),
                num(wall["floor"], 1e3, 1),
                ratio(wall["ours"], wall["peer"]),
                ratio(wall["ours"], wall["floor"]),
            ]
        )
        body.append(
            [
                f"after {stage} — RSS (MB)",
                num(rss["ours"]),
                num(rss["peer"]),
                num(rss["floor"]),
                ratio(rss["ours"], rss["peer"]),
                ratio(rss["ours"], rss["floor"]),
            ]
        )
    pw = {impl: by[impl]["process_wall"] for impl in ("ours", "peer", "floor")}
    body.append(
        [
            "whole process (spawn to exit), wall (ms)",
            num(pw["ours"], 1e3, 0),
            num(pw["peer"], 1e3, 0),
            num(pw["floor"], 1e3, 0),
            ratio(pw["ours"], pw["peer"]),
            ratio(pw["ours"], pw["floor"]),
        ]
    )
    mods = {impl: by[impl]["modules"] for impl in ("ours", "peer", "floor")}
    body.append(
        [
            "modules in sys.modules",
            num(mods["ours"], 1, 0),
            num(mods["peer"], 1, 0),
            num(mods["floor"], 1, 0),
            ratio(mods["ours"], mods["peer"]),
            ratio(mods["ours"], mods["floor"]),
        ]
    )
    out += table(["", "ours", "peer", "floor", "ours/peer", "ours/floor"], body)
    return [*out, ""]


def concurrency_section(rows: Any) -> list[str]:
    if rows is None:
        return []
    out = ["## 4. Concurrency (async, one client, DEFAULT settings)", ""]
    if not isinstance(rows, list):
        return [*out, f"Benchmark failed: {rows.get('error')}", ""]
    out += [
        f"N concurrent stateless streams of {rows[0]['events_per_stream']} messages events each "
        "(`asyncio.gather` over one client). peer = `get_client()` defaults (httpx pool: 100 connections, "
        "keep-alive 20, pool timeout 5 s); floor = `httpx.Limits(max_connections=None)` as specified (this "
        "also makes keep-alive unlimited); floor100 = raw httpx with OUR pool limits "
        "(max_connections=None, keep-alive 100), to separate the pool from the client code. "
        "Completed = streams that received every event.",
        "",
    ]
    impls = ("ours", "peer", "floor", "floor100")
    body = []
    for r in rows:
        c, w, cpu, rss = r["completed"], r["wall"], r["cpu"], r["peak_rss_mb"]
        body.append(
            [
                f"{r['streams']:,} ({r.get('rounds', '?')} rounds)",
                " / ".join(num(c[i], 1, 0) for i in impls),
                " / ".join(num(w[i], 1, 2) for i in impls),
                " / ".join(num(cpu[i], 1, 2) for i in impls),
                " / ".join(num(rss[i], 1, 0) for i in impls),
                ratio(cpu["ours"], cpu["peer"]),
                ratio(cpu["ours"], cpu["floor"]),
                ratio(cpu["ours"], cpu["floor100"]),
            ]
        )
    out += table(
        [
            "streams",
            "completed (ours/peer/floor/floor100)",
            "wall s",
            "CPU s",
            "peak RSS MB",
            "CPU ours/peer",
            "CPU ours/floor",
            "CPU ours/floor100",
        ],
        body,
    )
    notes = []
    for r in rows:
        ranges = r.get("cpu_range", {})
        if ranges:
            shown = ", ".join(f"{impl} {v[0]:.2f}-{v[1]:.2f}" for impl, v in ranges.items() if v)
            notes.append(f"- {r['streams']:,} streams, CPU s min-max over rounds: {shown}")
        for impl in impls:
            if r["errors"].get(impl):
                notes.append(f"- {r['streams']:,} streams, {impl}: errors per round {r['errors'][impl]}")
    out += ["", *notes] if notes else []
    out += failures_note(rows, impls)
    return out


def short_section(rows: Any) -> list[str]:
    if rows is None:
        return []
    out = ["## 5. Short requests (async GET /threads/{id}, small JSON)", ""]
    if not isinstance(rows, list):
        return [*out, f"Benchmark failed: {rows.get('error')}", ""]
    out += [
        f"{rows[0]['requests']:,} requests spread over C concurrent lanes, after a warm-up "
        "(one request alone: "
        "our deployment resolved and httpx's lazy imports paid by everyone; then 2 requests per lane, which "
        "opens the pool's connections). ours = `client.threads.get(id)`, peer = `client.threads.get(id)`, "
        "floor = `client.get(...)` + `json.loads` (floor100: with our pool limits). The last column is the "
        "number of connections in the httpcore pool at the end (httpcore's pool bookkeeping costs "
        "O(connections²) per request, so this must match for the CPU numbers to compare).",
        "",
    ]
    impls = ("ours", "peer", "floor", "floor100")
    body = []
    for r in rows:
        cpu = r["cpu_per_request_us"]
        rps = r["requests_per_s"]
        body.append(
            [
                str(r["concurrency"]),
                *(num(cpu[i], 1, 0) for i in impls),
                ratio(cpu["ours"], cpu["peer"]),
                ratio(cpu["ours"], cpu["floor"]),
                ratio(cpu["ours"], cpu["floor100"]),
                " / ".join(num(rps[i], 1, 0) for i in impls),
                " / ".join(num(r.get("pool_connections", {}).get(i), 1, 0) for i in impls),
            ]
        )
    ranges = []
    for r in rows:
        shown = ", ".join(
            f"{impl} {v[0] / r['requests'] * 1e6:,.0f}-{v[1] / r['requests'] * 1e6:,.0f}"
            for impl, v in r.get("cpu_range", {}).items()
            if v
        )
        ranges.append(f"- concurrency {r['concurrency']}: CPU µs/req min-max over rounds: {shown}")
    out += table(
        [
            "concurrency",
            "CPU µs/req ours",
            "peer",
            "floor",
            "floor100",
            "ours/peer",
            "ours/floor",
            "ours/floor100",
            "req/s ours/peer/floor/floor100",
            "pool connections",
        ],
        body,
    )
    out += ["", *ranges]
    out += failures_note(rows, impls)
    return out


def profile_section(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    out = ["## 6. Profile: our async stream consumption (messages events, cProfile)", ""]
    if not data.get("ok"):
        return [*out, f"Profile failed: {data.get('error')}", ""]
    out += [
        f"One stateless run of {data['events'] - 1:,} events (+1 metadata), async, through "
        "`client.stream_run(...)`; only the stream is profiled (client created, deployment resolved and a "
        "first one-event stream read before). "
        f"Whole run {data['wall_unprofiled']:.3f} s unprofiled, {data['wall_profiled']:.3f} s "
        "with the stream under cProfile (cProfile inflates Python calls: read the shares). Full listing: "
        "`profile.txt`; raw: `profile.pstats` (`python -m pstats`).",
        "",
        "**Own time by package (where the per-event cost goes)**",
        "",
    ]
    out += table(
        ["package", "own s", "share"],
        [
            [row["package"], f"{row['own_s']:.3f}", f"{row['share']:.1%}"]
            for row in data.get("by_package", [])
        ],
    )
    out.append("")
    for title, key in (("by cumulative time", "by_cumulative"), ("by own time", "by_tottime")):
        out += [f"**Top 15 {title}**", ""]
        body = [
            [
                f"`{row['function']}`",
                f"{row['ncalls']:,}",
                f"{row['tottime']:.3f}",
                f"{row['cumtime']:.3f}",
            ]
            for row in data[key]
        ]
        out += table(["function", "calls", "own s", "cumulative s"], body)
        out.append("")
    return out


def render(results: dict[str, Any]) -> str:
    b = results["benchmarks"]
    lines = machine_section(results)
    if "stream" in b:
        lines += stream_section(b["stream"])
    lines += real_section(b.get("real"))
    lines += import_section(b.get("import"))
    lines += concurrency_section(b.get("concurrency"))
    lines += short_section(b.get("short"))
    lines += profile_section(b.get("profile"))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    with open(sys.argv[1]) as handle:
        sys.stdout.write(render(json.load(handle)))
