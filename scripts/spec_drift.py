"""What changed between a live Agent Server's API and our spec, for maintainers after a server upgrade.

    python scripts/spec_drift.py --server URL [--spec openapi/agent-server.yaml] [--api-key KEY]

Compares the server's own ``/openapi.json`` with our spec (operations matched by method and path
shape): operations, parameters, request fields, response fields, success status codes and enum
values (stream_mode, multitask_strategy, ...). "Added" is what the server has and our spec lacks,
"removed" what our spec has and the server lacks. Exit code 1 if a difference breaks the contract
check (a), else 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import contract_lib as cl

_HEADINGS = {
    cl.Change.ADDED: "Added on the server (our spec lacks it)",
    cl.Change.REMOVED: "Removed from the server (our spec still has it)",
    cl.Change.CHANGED: "Changed",
}
_TAGS = {
    cl.Check.CONFORMANCE: "breaks (a)",
    cl.Check.UNDESCRIBED: "undescribed",
    cl.Check.DRIFT: "info",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="base URL of the Agent Server")
    parser.add_argument("--spec", type=Path, default=cl.DEFAULT_SPEC, help="our spec (YAML or JSON)")
    parser.add_argument("--api-key", help="deployment key, sent as x-api-key")
    parser.add_argument(
        "--ignore", action="append", default=[], metavar="PATH", help="another server path to leave out"
    )
    return parser.parse_args(argv)


def render(findings: Sequence[cl.Finding]) -> str:
    """Findings grouped by direction, each tagged with what it means for the contract check."""
    blocks = []
    for change, heading in _HEADINGS.items():
        group = [f for f in findings if f.change == change]
        lines = sorted(
            f"  {f.where}: {f.message} [{'waived: erratum' if f.waived_by else _TAGS[f.check]}]"
            for f in group
        )
        blocks.append(f"{heading}: {len(group)}\n" + ("\n".join(lines) if lines else "  (none)"))
    return "\n\n".join(blocks)


def render_not_described(spec: cl.Spec, live: cl.Spec, ignored: Sequence[str]) -> str:
    """The server's operations our spec leaves out on purpose, each with the reason."""
    lines = []
    for key, op in sorted(live.operations.items()):
        if key in spec.operations:
            continue
        reason = cl.not_described_reason(op.path)
        if reason is None and cl.is_ignored(op.path, ignored):
            reason = "left out with --ignore"
        if reason is not None:
            lines.append(f"  {op.label}: {reason}")
    return f"Not described, on purpose: {len(lines)}\n" + ("\n".join(lines) if lines else "  (none)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    headers = cl.auth_headers(args.api_key)
    spec, live = cl.Spec.load(args.spec), cl.Spec.fetch(args.server, headers)
    findings = cl.compare_specs(spec, live, (*cl.DEFAULT_IGNORED_PATHS, *args.ignore))
    print(f"Drift: {args.spec} vs {live.source} (langgraph-api {cl.server_version(args.server, headers)})\n")
    print(render(findings))
    print()
    print(render_not_described(spec, live, args.ignore))
    breaking = [f for f in findings if f.check == cl.Check.CONFORMANCE and f.failing]
    print(f"\n{len(breaking)} difference(s) break the contract check (a).")
    return 1 if breaking else 0


if __name__ == "__main__":
    sys.exit(main())
