"""One replica of a production-shaped Agent Server: langgraph-api on the Postgres + Redis runtime.

Run by :mod:`support.distributed` with the interpreter of a venv holding ``langgraph-runtime-pg``::

    python pg_replica.py --config langgraph.json --port 8123 [--jobs 10]

``DATABASE_URI`` and ``REDIS_URI`` come from the environment. Two things differ from ``langgraph dev``:

* the runtime's database engine is built with ``json_serializer=langgraph_api.serde.json_dumpb``. Its
  own engine uses the standard-library JSON encoder, which cannot write the ``SimpleUser`` an auth
  handler puts into a run's config, so without this every run request of a deployment with auth answers
  500 (``Object of type SimpleUser is not JSON serializable``; langgraph-runtime-pg 0.11.1.post1). The
  runtime builds its engine in ``langgraph_runtime_pg.database.start_pool`` through the module's
  ``create_async_engine`` name, which is what this script wraps, in its own process only;
* migrations are not run on start (``LG_RUNTIME_PG_AUTO_MIGRATE=false``): the test bed runs them once,
  before the first replica starts, because replicas starting together race on them.

``langgraph_api.cli.run_server`` moves to another port, with only a warning, when the asked one is
busy: this script refuses to start instead (exit code 3) when the port cannot be bound, and the test bed
checks afterwards that the replica's own process listens on the port.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

PORT_TAKEN = 3


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _serialise_with_langgraph_serde() -> None:
    from langgraph_api.serde import json_dumpb
    from langgraph_runtime_pg import database
    from sqlalchemy.ext.asyncio import create_async_engine

    def json_serializer(value: Any) -> str:
        return json_dumpb(value).decode()

    database.create_async_engine = functools.partial(create_async_engine, json_serializer=json_serializer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path, help="langgraph.json (absolute paths)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--jobs", default=10, type=int, help="runs executed at once by this replica")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)

    if not _port_free(args.host, args.port):
        print(f"pg_replica: port {args.port} is taken", file=sys.stderr, flush=True)
        return PORT_TAKEN
    config = json.loads(args.config.read_text())
    _serialise_with_langgraph_serde()

    from langgraph_api.cli import run_server

    run_server(
        host=args.host,
        port=args.port,
        reload=False,
        graphs=config["graphs"],
        auth=config.get("auth"),
        store=config.get("store"),
        http=config.get("http"),
        n_jobs_per_worker=args.jobs,
        open_browser=False,
        runtime_edition="pg",  # type: ignore[arg-type]  # langgraph_runtime_<edition>: the pg package
        server_level=args.log_level,
        __redis_uri__=os.environ["REDIS_URI"],
        __database_uri__=os.environ["DATABASE_URI"],
        __migrations_path__=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
