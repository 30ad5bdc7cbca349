"""What tracing costs: ours without OpenTelemetry vs ours inside an OpenTelemetry SDK span.

    python bench/tracing_overhead.py [--rounds N] [--events N] [--requests N]

Against the synthetic SSE server (bench/sse_server.py), in fresh processes, interleaved (`--otel none`,
`--otel sdk`, ...): stream CPU per event (async and sync, `messages` events, stateless) and CPU per short
request (async, concurrency 1). With `sdk`, every request and stream records a span (a recording tracer
provider without exporter: the export is the application's cost, not ours). Prints medians and the ratio
sdk / none.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import SyntheticServer, warm, worker


def per_unit(samples: list[dict[str, Any]], cpu: str, unit: str) -> float:
    values = [s[cpu] / s[unit] for s in samples if s.get("ok") and s.get(unit)]
    if not values:
        raise RuntimeError(f"no successful sample: {[s.get('error') for s in samples]}")
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as log_dir:
        server = SyntheticServer(Path(log_dir))
        try:
            warm(server.url, args.events)
            samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for _ in range(args.rounds):
                for otel in ("none", "sdk"):
                    for mode in ("async", "sync"):
                        samples.setdefault((f"stream {mode}", otel), []).append(
                            worker("stream", "ours", server.url, mode=mode, events=args.events, otel=otel)
                        )
                    samples.setdefault(("short", otel), []).append(
                        worker("short", "ours", server.url, requests=args.requests, otel=otel)
                    )
        finally:
            server.stop()
    print("| measure | no OpenTelemetry | inside an SDK span | ratio |")
    print("|---|---|---|---|")
    for name, (cpu, unit, scale, label) in {
        "stream async": ("stream_cpu", "events", 1e6, "µs CPU per event"),
        "stream sync": ("stream_cpu", "events", 1e6, "µs CPU per event"),
        "short": ("cpu", "requests", 1e6, "µs CPU per request"),
    }.items():
        plain = per_unit(samples[(name, "none")], cpu, unit) * scale
        traced = per_unit(samples[(name, "sdk")], cpu, unit) * scale
        print(f"| {name} ({label}) | {plain:.2f} | {traced:.2f} | {traced / plain:.2f} |")


if __name__ == "__main__":
    main()
