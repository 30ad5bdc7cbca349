"""Prove our Agent Server spec against a real server.

    python scripts/contract.py [--spec openapi/agent-server.yaml] [--server URL --api-key KEY]

(a) every operation of the spec exists in the server's own ``/openapi.json`` (method, path, path and
query parameters, request fields); (b) real calls for every operation, each answer (and each
server-sent event) validated against the spec; (c) what the server has that the spec does not
describe (informational). Without ``--server`` the test bed's server (tests/agent_server) is started
with a random deployment key and stopped at the end. Exit code 1 if (a) or (b) failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import contract_lib as cl


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=cl.DEFAULT_SPEC, help="our spec (YAML or JSON)")
    parser.add_argument("--server", help="base URL of a running Agent Server (default: start the test bed)")
    parser.add_argument("--api-key", help="deployment key, sent as x-api-key")
    parser.add_argument(
        "--graph",
        action="append",
        default=[],
        metavar="GRAPH_ID",
        help="graph to run (repeatable; default: the test bed's graphs the server has, else its first graph)",
    )
    parser.add_argument("--input", type=json.loads, help="JSON input for --graph graphs the test bed lacks")
    parser.add_argument(
        "--group",
        action="append",
        choices=cl.GROUPS,
        help="only these groups of real calls (repeatable; default: all)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATH",
        help="another server path to leave out of (c)",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="check the production-shaped test bed instead (two langgraph-api 0.11.1 replicas on Postgres "
        "and Redis behind a load balancer; needs langgraph-runtime-pg: nox -s contract_production), "
        "and print what its API has that differs from the spec",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="also list every exercised operation")
    return parser.parse_args(argv)


#: Operations of our spec that the production-shaped server (langgraph-api 0.11.1) predates: there, their
#: absence from its /openapi.json and the 404 of their real call are expected, reported, and not failures.
PREDATED_BY_PRODUCTION = {
    "GET /threads/{thread_id}/storage": "added after langgraph-api 0.11.1 (proven on the in-memory server)",
}


def check(
    args: argparse.Namespace, url: str, headers: dict[str, str], predated: dict[str, str] | None = None
) -> bool:
    """Run (a), (b) and (c), print the report, return whether the contract holds.

    `predated`: operations (by label) that this server is older than; their findings are listed apart.
    """
    predated = predated or {}
    spec = cl.Spec.load(args.spec)
    live = cl.Spec.fetch(url, headers)
    print(f"Contract: {args.spec} against {url} (langgraph-api {cl.server_version(url, headers)})")
    print(f"The spec describes {len(spec.operations)} operations.\n")

    diff = cl.compare_specs(spec, live, (*cl.DEFAULT_IGNORED_PATHS, *args.ignore))
    conformance = [f for f in diff if f.check == cl.Check.CONFORMANCE]
    failing_a = [f for f in conformance if f.failing and f.where not in predated]
    print(f"(a) Spec vs the server's /openapi.json: {len(failing_a)} problem(s)")
    print(cl.format_findings(failing_a))
    waived = [f for f in conformance if not f.failing]
    if waived:
        print(f"  waived by {cl.ERRATUM_KEY} ({len(waived)}; the spec follows the server's behaviour there):")
        print("\n".join(f"    {f.where}: {f.message}" for f in sorted(waived)))

    started = time.monotonic()
    cases = cl.cases_for(args.graph, args.input) if args.graph else None
    result = cl.Exerciser(spec, url, headers, cases=cases).run(args.group)
    elapsed = time.monotonic() - started
    failing_b = [f for f in result.failing if f.where not in predated]
    total = len(spec.operations)
    print(
        f"\n(b) Real calls validated against the spec: {len(result.exercised)}/{total} operations "
        f"exercised in {elapsed:.1f} s, {len(failing_b)} problem(s)"
    )
    print("  graphs: " + ", ".join(_describe_case(c) for c in result.cases))
    print("  SSE events validated: " + (", ".join(f"{k} x{v}" for k, v in result.events.items()) or "(none)"))
    print(cl.format_findings(failing_b))
    if result.not_exercised:
        print("  not exercised:")
        print("\n".join(f"    {op.label}" for op in result.not_exercised))
    if args.verbose:
        print("  exercised (calls):")
        for key, op in sorted(spec.operations.items()):
            if key in result.exercised:
                print(f"    {op.label} ({result.exercised[key]})")
    if result.undescribed_calls:
        print("  calls to operations the spec lacks: " + ", ".join(result.undescribed_calls))

    undescribed = [f for f in diff if f.check == cl.Check.UNDESCRIBED]
    print(f"\n(c) On the server but not described by the spec (informational): {len(undescribed)}")
    print(cl.format_findings(undescribed))

    if predated:
        print("\nNewer than this server (expected to be missing here, not counted):")
        print("\n".join(f"  {label}: {why}" for label, why in sorted(predated.items())))

    failures = len(failing_a) + len(failing_b)
    print(f"\nResult: {'FAIL' if failures else 'PASS'} ({failures} problem(s) in (a) and (b))")
    return not failures


def check_production(args: argparse.Namespace) -> int:
    """The contract against the production-shaped test bed, then its drift report."""
    sys.path.insert(0, str(cl.REPO_ROOT / "tests"))
    import spec_drift
    from support.distributed import start_cluster

    print(
        "Starting the production-shaped test bed (Postgres, Redis, two replicas, a balancer) ...", flush=True
    )
    key = secrets.token_urlsafe(24)
    config_dir = cl.REPO_ROOT / "tests" / "distributed" / "agent_server"
    with start_cluster(config_dir, deployment_key=key) as cluster:
        headers = cl.auth_headers(key)
        holds = check(args, cluster.url, headers, PREDATED_BY_PRODUCTION)
        live = cl.Spec.fetch(cluster.url, headers)
        findings = cl.compare_specs(cl.Spec.load(args.spec), live, (*cl.DEFAULT_IGNORED_PATHS, *args.ignore))
        print(f"\nDrift: {args.spec} vs langgraph-api {cl.server_version(cluster.url, headers)}\n")
        print(spec_drift.render(findings))
    return 0 if holds else 1


def _describe_case(case: cl.GraphCase) -> str:
    traits = [t for t, on in (("interrupt", case.resume is not None), ("fails", case.fails)) if on]
    return case.graph_id + (f" ({', '.join(traits)})" if traits else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.server:
        return 0 if check(args, args.server, cl.auth_headers(args.api_key)) else 1
    sys.path.insert(0, str(cl.REPO_ROOT))
    if args.production:
        return check_production(args)
    from tests.support.agent_server import TEST_AGENT_SERVER_DIR, start_agent_server

    print("Starting the test bed's Agent Server (tests/agent_server) ...", flush=True)
    key = secrets.token_urlsafe(24)
    with start_agent_server(TEST_AGENT_SERVER_DIR, deployment_key=key) as server:
        return 0 if check(args, server.url, cl.auth_headers(key)) else 1


if __name__ == "__main__":
    sys.exit(main())
