"""`lmsystems run --session`: a run and its resumptions over one thread session, against the real test bed."""

from __future__ import annotations

import json

from support.agent_server import RunningAgentServer
from test_cli import clean_env, cli

GRAPH = "session_events"


def _direct(server: RunningAgentServer) -> list[str]:
    return ["--deployment-url", server.url, "--deployment-key", server.deployment_key or ""]


def test_session_run_answers_the_interrupt_and_resumes(agent_server: RunningAgentServer) -> None:
    payload = json.dumps({"topic": "cli", "ask": True})
    result = cli(
        "run", GRAPH, "--session", "-i", payload, "--resume", '"yes"', *_direct(agent_server), env=clean_env()
    )
    assert result.code == 0, result
    assert "Session reply: cli\n" in result.stdout  # the tokens, as they came
    assert "? Approve?" in result.stdout and "topic: cli" in result.stdout  # the interrupt's payload
    assert "(session, sse)" in result.stderr
    assert result.stderr.index("• approve") > result.stderr.index("answering with yes")  # resumed


def test_session_run_json_lines_and_a_failed_run(agent_server: RunningAgentServer) -> None:
    payload = json.dumps({"topic": "cli", "fail": True})
    result = cli("run", GRAPH, "--session", "--json", "-i", payload, *_direct(agent_server), env=clean_env())
    assert result.code == 4, result  # the run failed
    lines = result.json_lines()
    assert lines[0]["event"] == "lifecycle" and lines[0]["data"]["event"] == "running"
    assert {"messages", "values", "updates", "tools", "custom"} <= {line["event"] for line in lines}
    assert lines[-1]["event"] == "lmsystems/error" and lines[-1]["data"]["type"] == "RunError"
    assert "ValueError" in lines[-1]["data"]["message"]


def test_session_refuses_stream_modes(agent_server: RunningAgentServer) -> None:
    result = cli(
        "run", GRAPH, "--session", "-m", "values", "-i", "{}", *_direct(agent_server), env=clean_env()
    )
    assert result.code == 2 and "--stream-mode" in result.stderr, result
