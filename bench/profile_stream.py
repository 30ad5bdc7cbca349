"""cProfile of OUR async stream consumption (messages events) against the synthetic server.

Only the stream is profiled: the client is created, its deployment resolved and a first one-event stream
read before the profiler starts.

    python bench/profile_stream.py --url http://127.0.0.1:PORT [--events 20000] [--kind messages] [--out DIR]

Writes DIR/profile.txt (pstats: top functions by cumulative and by own time) and DIR/profile.pstats,
and prints a JSON summary (top rows by both orders) on stdout. cProfile inflates the cost of Python
calls, so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payloads import ASSISTANT_ID

TOP = 15


async def consume(url: str, events: int, kind: str, profiler: cProfile.Profile | None = None) -> int:
    """Create the client and resolve the deployment unprofiled, then profile only the stream."""
    from lmsystems import LmsystemsClient

    count = 0
    client = LmsystemsClient(graph_name=ASSISTANT_ID, deployment_url=url)
    try:
        await client.connect()
        # A first stream of one event, unprofiled, as in the stream benchmark: what is paid once (lazy
        # imports of the request models, first-use caches) stays out of the steady state profiled here.
        async for _part in client.stream_run(None, input={"events": 1, "kind": kind}, stream_mode=[kind]):
            pass
        if profiler is not None:
            profiler.enable()
        async for _part in client.stream_run(
            None, input={"events": events, "kind": kind}, stream_mode=[kind]
        ):
            count += 1
        if profiler is not None:
            profiler.disable()
    finally:
        await client.aclose()
    return count


def short_name(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    parts = Path(filename).parts
    for anchor in ("site-packages", "lmsystems", "lib"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            tail = parts[index + 1 :] if anchor != "lmsystems" else parts[index:]
            return f"{'/'.join(tail)}:{line}({name})"
    return f"{Path(filename).name}:{line}({name})"


#: Frames that only wrap the whole run (the event loop, this script): left out of the top lists.
WRAPPERS = ("asyncio/", "profile_stream.py", "_contextvars.Context", "{method 'disable'")

#: Where own time is attributed, by the path of the function's file.
PACKAGES = (
    ("lmsystems", "/lmsystems/"),
    ("httpx", "/httpx/"),
    ("httpcore", "/httpcore/"),
    ("h11", "/h11/"),
    ("anyio", "/anyio/"),
    ("json (stdlib)", "/json/"),
    ("asyncio (stdlib)", "/asyncio/"),
    ("contextlib (httpcore's per-chunk exception mapping)", "/contextlib.py"),
)


def rows(stats: pstats.Stats, order: str) -> list[dict[str, object]]:
    raw = stats.stats  # type: ignore[attr-defined]
    index = {"cumulative": 3, "tottime": 2}[order]
    ranked = sorted(raw.items(), key=lambda item: item[1][index], reverse=True)
    ranked = [item for item in ranked if not any(w in f"{item[0][0]}{item[0][2]}" for w in WRAPPERS)]
    out = []
    for key, (cc, nc, tt, ct, _callers) in ranked[:TOP]:
        out.append({"function": short_name(key), "ncalls": nc, "primitive": cc, "tottime": tt, "cumtime": ct})
    return out


def by_package(stats: pstats.Stats) -> list[dict[str, object]]:
    """Own time summed by package: where the per-event cost goes."""
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = "other"
        if filename == "~":
            where = "C builtins (bytes/str/re/len ... called by all layers)"
        else:
            for package, marker in PACKAGES:
                if marker in filename:
                    where = package
                    break
        totals[where] = totals.get(where, 0.0) + tt
    total = sum(totals.values()) or 1.0
    return [
        {"package": k, "own_s": v, "share": v / total}
        for k, v in sorted(totals.items(), key=lambda item: item[1], reverse=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--kind", default="messages")
    parser.add_argument("--out", default="bench-results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import lmsystems  # noqa: F401  (imports are not part of the profile)
    from lmsystems import LmsystemsClient  # noqa: F401

    # Unprofiled reference run, to show cProfile's overhead.
    t = time.perf_counter()
    reference = asyncio.run(consume(args.url, args.events, args.kind))
    plain = time.perf_counter() - t

    profiler = cProfile.Profile()
    t = time.perf_counter()
    count = asyncio.run(consume(args.url, args.events, args.kind, profiler))
    profiled = time.perf_counter() - t

    profiler.dump_stats(str(out / "profile.pstats"))
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    text.write(f"ours, async, {args.kind} events: {count} parts; whole run {plain:.3f} s unprofiled, ")
    text.write(f"{profiled:.3f} s with the stream under cProfile\n\n=== by package (own time) ===\n")
    for row in by_package(stats):
        text.write(f"{row['package']:<56} {row['own_s']:8.3f} s  {row['share']:6.1%}\n")
    text.write("\n=== by cumulative time ===\n")
    stats.sort_stats("cumulative").print_stats(TOP)
    text.write("\n=== by own time (tottime) ===\n")
    stats.sort_stats("tottime").print_stats(TOP)
    (out / "profile.txt").write_text(text.getvalue())
    print(
        json.dumps(
            {
                "ok": count == reference == args.events + 1,
                "events": count,
                "wall_unprofiled": plain,
                "wall_profiled": profiled,
                "total_tt": stats.total_tt,  # type: ignore[attr-defined]
                "by_package": by_package(stats),
                "by_cumulative": rows(stats, "cumulative"),
                "by_tottime": rows(stats, "tottime"),
            }
        )
    )


if __name__ == "__main__":
    main()
