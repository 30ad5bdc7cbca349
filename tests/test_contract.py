"""Contract of ``openapi/agent-server.yaml`` against the real test-bed Agent Server.

The real spec must pass (a) (it agrees with the server's own ``/openapi.json``) and (b) (real answers
and server-sent events validate against it); deliberately wrong copies of it must fail with exactly
the planted problem. Static mutations are checked with :func:`contract_lib.compare_specs`; response
and event mutations re-run only the group of real calls that reaches them.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))

import contract  # noqa: E402
import contract_lib as cl  # noqa: E402
import spec_drift  # noqa: E402
from support.agent_server import RunningAgentServer  # noqa: E402

Doc = dict[str, Any]
CUSTOM_EVENTS = next(c for c in cl.TEST_BED_CASES if c.graph_id == "custom_events")


@pytest.fixture(scope="module")
def spec_doc() -> Doc:
    return cl.Spec.load(cl.DEFAULT_SPEC).doc


@pytest.fixture(scope="module")
def spec(spec_doc: Doc) -> cl.Spec:
    return cl.Spec(copy.deepcopy(spec_doc), str(cl.DEFAULT_SPEC))


@pytest.fixture(scope="module")
def live(agent_server: RunningAgentServer) -> cl.Spec:
    return cl.Spec.fetch(agent_server.url, agent_server.headers)


@pytest.fixture(scope="module")
def baseline_diff(spec: cl.Spec, live: cl.Spec) -> list[cl.Finding]:
    return cl.compare_specs(spec, live)


@pytest.fixture(scope="module")
def exercise(spec: cl.Spec, agent_server: RunningAgentServer) -> cl.ExerciseResult:
    return cl.Exerciser(spec, agent_server.url, agent_server.headers).run()


Mutant = Callable[[Callable[[Doc], object]], cl.Spec]


@pytest.fixture
def mutant(tmp_path: Path, spec_doc: Doc) -> Mutant:
    """Make a mutated copy of the spec, written to and loaded from ``tmp_path``."""

    def make(mutate: Callable[[Doc], object]) -> cl.Spec:
        doc = copy.deepcopy(spec_doc)
        mutate(doc)
        path = tmp_path / f"mutant-{len(list(tmp_path.iterdir()))}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return cl.Spec.load(path)

    return make


def _new_failures(findings: Iterable[cl.Finding], baseline: Iterable[cl.Finding]) -> set[str]:
    return {str(f) for f in findings if f.failing} - {str(f) for f in baseline if f.failing}


def _response_schema(doc: Doc, path: str, method: str, code: str = "200") -> Doc:
    """The JSON schema node of a response, to be replaced in place."""
    spec = cl.Spec(doc)
    op = spec.operation(method, path)
    assert op is not None, f"{method} {path} not in the spec"
    pointer, _ = spec.locate(f"{op.pointer}/responses/{code}")
    media: Doc = spec.node(pointer)["content"]["application/json"]
    return media


def _sse_events(doc: Doc, path: str = "/runs/stream", method: str = "post") -> Doc:
    """The (possibly shared) ``x-sse-events`` object of a streaming operation, to be changed in place."""
    spec = cl.Spec(doc)
    media = doc["paths"][path][method]["responses"]["200"]["content"][cl.SSE_MEDIA_TYPE]
    events: Doc = spec.resolve(media[cl.SSE_EVENTS_KEY])
    return events


# ------------------------------------------------------------------------------------------ real spec


def test_spec_describes_at_least_40_operations(spec: cl.Spec) -> None:
    assert len(spec.operations) >= 40


def test_spec_conforms_to_the_servers_own_spec(baseline_diff: list[cl.Finding]) -> None:
    failing = [f for f in baseline_diff if f.failing]
    assert not failing, "\n" + cl.format_findings(failing)


def test_real_answers_validate_against_the_spec(exercise: cl.ExerciseResult) -> None:
    assert not exercise.failing, "\n" + cl.format_findings(exercise.failing)
    assert not exercise.not_exercised, [op.label for op in exercise.not_exercised]
    assert {c.graph_id for c in exercise.cases} >= {"approval", "chat", "custom_events", "subgraphs"}
    expected_events = {"metadata", "values", "updates", "messages", "messages/partial", "custom", "error"}
    assert expected_events <= set(exercise.events)


# -------------------------------------------------------------------------------- (a) static mutations


def _add_fake_operation(doc: Doc) -> None:
    doc["paths"]["/threads/{thread_id}/frobnicate"] = {
        "parameters": [{"$ref": "#/components/parameters/ThreadId"}],
        "post": {"operationId": "frobnicate_thread", "responses": {"204": {"description": "Done."}}},
    }


def _patch_becomes_put(doc: Doc) -> None:
    item = doc["paths"]["/threads/{thread_id}"]
    item["put"] = item.pop("patch")


def _rename_run_id(doc: Doc) -> None:
    item = doc["paths"].pop("/threads/{thread_id}/runs/{run_id}/join")
    item["parameters"] = [
        {"$ref": "#/components/parameters/ThreadId"},
        {"name": "rid", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    doc["paths"]["/threads/{thread_id}/runs/{rid}/join"] = item


def _add_request_field(doc: Doc) -> None:
    media = doc["paths"]["/threads"]["post"]["requestBody"]["content"]["application/json"]
    extra = {"type": "object", "properties": {"frobnicate": {"type": "string"}}}
    media["schema"] = {"allOf": [media["schema"], extra]}


def _add_query_param(doc: Doc) -> None:
    op = doc["paths"]["/threads/{thread_id}/history"]["get"]
    op["parameters"].append({"name": "frobnicate", "in": "query", "schema": {"type": "boolean"}})


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            _add_fake_operation,
            {"POST /threads/{thread_id}/frobnicate: operation not on the server"},
            id="path",
        ),
        pytest.param(
            _patch_becomes_put,
            {"PUT /threads/{thread_id}: method not on the server (it has DELETE, GET, PATCH at this path)"},
            id="method",
        ),
        pytest.param(
            _rename_run_id,
            {
                "GET /threads/{thread_id}/runs/{rid}/join: "
                "path parameter #2 is 'rid' in the spec but 'run_id' on the server"
            },
            id="path-parameter",
        ),
        pytest.param(
            _add_request_field,
            {"POST /threads: request field 'frobnicate' unknown to the server"},
            id="request-field",
        ),
        pytest.param(
            _add_query_param,
            {"GET /threads/{thread_id}/history: query parameter 'frobnicate' unknown to the server"},
            id="query-parameter",
        ),
    ],
)
def test_static_mutation_is_reported(
    mutant: Mutant,
    live: cl.Spec,
    baseline_diff: list[cl.Finding],
    mutate: Callable[[Doc], object],
    expected: set[str],
) -> None:
    findings = cl.compare_specs(mutant(mutate), live)
    assert _new_failures(findings, baseline_diff) == expected


def test_unknown_enum_value_is_reported(
    mutant: Mutant, live: cl.Spec, baseline_diff: list[cl.Finding]
) -> None:
    def add_stream_mode(doc: Doc) -> None:
        doc["components"]["schemas"]["StreamMode"]["enum"].append("turbo")

    new = _new_failures(cl.compare_specs(mutant(add_stream_mode), live), baseline_diff)
    message = ": request field 'stream_mode' allows 'turbo', which the server does not accept"
    assert "POST /threads/{thread_id}/runs/stream" + message in new
    assert all(line.endswith(message) for line in new)


# ----------------------------------------------------------------------------- (b) response mutations


def test_required_response_field_the_server_never_sends_is_reported(
    mutant: Mutant, agent_server: RunningAgentServer, exercise: cl.ExerciseResult
) -> None:
    def require_field(doc: Doc) -> None:
        media = _response_schema(doc, "/threads", "POST")
        media["schema"] = {"allOf": [media["schema"], {"required": ["frobnicated_at"]}]}

    result = cl.Exerciser(mutant(require_field), agent_server.url, agent_server.headers).run(["threads"])
    assert _new_failures(result.findings, exercise.findings) == {
        "POST /threads: status 200 body at $: 'frobnicated_at' is a required property"
    }


def test_response_field_of_wrong_type_is_reported(
    mutant: Mutant, agent_server: RunningAgentServer, exercise: cl.ExerciseResult
) -> None:
    def integer_id(doc: Doc) -> None:
        media = _response_schema(doc, "/threads/{thread_id}", "GET")
        media["schema"] = {"allOf": [media["schema"], {"properties": {"thread_id": {"type": "integer"}}}]}

    result = cl.Exerciser(mutant(integer_id), agent_server.url, agent_server.headers).run(["threads"])
    new = _new_failures(result.findings, exercise.findings)
    assert len(new) == 1, new
    (line,) = new
    assert re.fullmatch(
        r"GET /threads/\{thread_id\}: status 200 body at \$\.thread_id: .* is not of type 'integer'", line
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda events: events.pop("metadata"),
            r"POST /runs/stream: SSE event 'metadata' has no schema in x-sse-events",
            id="event-without-schema",
        ),
        pytest.param(
            lambda events: events.update(values={"type": "array"}),
            r"POST /runs/stream: SSE event 'values' data at \$: .* is not of type 'array'"
            r" \(2 of 2 'values' events fail\)",
            id="event-data-mismatch",
        ),
    ],
)
def test_sse_event_mismatch_is_reported(
    mutant: Mutant,
    agent_server: RunningAgentServer,
    exercise: cl.ExerciseResult,
    mutate: Callable[[Doc], object],
    expected: str,
) -> None:
    mutated = mutant(lambda doc: mutate(_sse_events(doc)))
    result = cl.Exerciser(mutated, agent_server.url, agent_server.headers, cases=[CUSTOM_EVENTS]).run(
        ["streams"]
    )
    new = _new_failures(result.findings, exercise.findings)
    assert len(new) == 1, new
    (line,) = new
    assert re.fullmatch(expected, line)


# --------------------------------------------------------------------------------------- CLIs, parser


def _system_only(doc: Doc) -> None:
    doc["paths"] = {path: item for path, item in doc["paths"].items() if path in ("/ok", "/info")}


def test_contract_cli_passes_and_fails(
    mutant: Mutant, agent_server: RunningAgentServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server = [
        "--server",
        agent_server.url,
        "--api-key",
        agent_server.deployment_key or "",
        "--group",
        "system",
    ]
    good = mutant(_system_only)
    assert contract.main(["--spec", good.source, *server]) == 0
    out = capsys.readouterr().out
    assert "(a) Spec vs the server's /openapi.json: 0 problem(s)" in out
    assert "2/2 operations exercised" in out
    assert "POST /threads: operation not described by the spec" in out
    assert "Result: PASS" in out

    def broken_ok(doc: Doc) -> None:
        _system_only(doc)
        _response_schema(doc, "/ok", "GET")["schema"] = {"type": "string"}

    bad = mutant(broken_ok)
    assert contract.main(["--spec", bad.source, *server]) == 1
    assert "GET /ok: status 200 body at $: " in capsys.readouterr().out


def test_spec_drift_cli_reports_enum_drift(
    mutant: Mutant, agent_server: RunningAgentServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def drop_stream_mode(doc: Doc) -> None:
        doc["components"]["schemas"]["StreamMode"]["enum"].remove("debug")

    mutated = mutant(drop_stream_mode)
    spec_drift.main(
        [
            "--server",
            agent_server.url,
            "--api-key",
            agent_server.deployment_key or "",
            "--spec",
            mutated.source,
        ]
    )
    out = capsys.readouterr().out
    assert "POST /runs/stream: request field 'stream_mode': the server also accepts 'debug' [info]" in out


def test_sse_parser() -> None:
    body = b': heartbeat\r\nevent: values|child:1\r\ndata: {"a":\r\ndata: 1}\r\nid: 7\r\n\r\ndata: 2\r\n\r\n'
    events = list(cl.SseParser.parse(body[i : i + 5] for i in range(0, len(body), 5)))
    assert events == [cl.SseEvent("values|child:1", '{"a":\n1}', "7"), cl.SseEvent("message", "2", "7")]
    assert events[0].base == "values"
