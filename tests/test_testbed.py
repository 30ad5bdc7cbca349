"""The test bed works: the real Agent Server, its graphs and auth, and the fake marketplace (httpx only)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.agent_server import (
    TEST_AGENT_SERVER_DIR,
    RunningAgentServer,
    _materialise_config,
    start_agent_server,
)
from support.marketplace import (
    MarketplaceFixture,
    build_test_table,
    create_marketplace_app,
    start_marketplace_server,
)
from support.sse import iter_events

AGENT_SERVER_DIR = TEST_AGENT_SERVER_DIR
CHAT_REPLY = "Hello from the chat graph! You said: hi there"
FAILURE_MESSAGE = "lmsystems test graph failure:"


@dataclass
class SSE:
    event: str
    data: Any
    id: str | None = None


def iter_sse(chunks: Iterator[bytes]) -> Iterator[SSE]:
    """The events of a body (decoded by the SDK's decoder), their data as JSON."""
    for event in iter_events(chunks):
        yield SSE(event.event, json.loads(event.data) if event.data else None, event.id)


def stream(client: httpx.Client, path: str, body: dict[str, Any]) -> list[SSE]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(iter_sse(response.iter_bytes()))


def new_thread(client: httpx.Client) -> str:
    response = client.post("/threads", json={})
    assert response.status_code == 200, response.text
    return str(response.json()["thread_id"])


# --- Agent Server, auth ---------------------------------------------------------------------------


def test_health_and_docs_need_no_key(agent_server: RunningAgentServer) -> None:
    assert httpx.get(f"{agent_server.url}/ok").json()["ok"] is True
    spec = httpx.get(f"{agent_server.url}/openapi.json")
    assert spec.status_code == 200
    assert "/threads" in spec.json()["paths"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"x-api-key": ""}, {"x-auth-scheme": "langsmith"}, {"authorization": "x"}],
    ids=["none", "wrong", "empty", "studio-scheme", "authorization-only"],
)
def test_requests_without_the_key_get_401(agent_server: RunningAgentServer, headers: dict[str, str]) -> None:
    response = httpx.post(f"{agent_server.url}/threads", json={}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing or invalid x-api-key"}


def test_threads_created_with_the_key_are_readable(agent_http: httpx.Client) -> None:
    thread_id = new_thread(agent_http)
    assert agent_http.get(f"/threads/{thread_id}").json()["thread_id"] == thread_id
    found = agent_http.post("/threads/search", json={"limit": 1000}).json()
    assert thread_id in {t["thread_id"] for t in found}
    assert {a["graph_id"] for a in agent_http.post("/assistants/search", json={"limit": 1000}).json()} >= {
        "approval",
        "chat",
        "custom_events",
        "slow",
        "failing",
        "subgraphs",
    }


# --- graphs ---------------------------------------------------------------------------------------


def _start_approval(client: httpx.Client) -> str:
    thread_id = new_thread(client)
    events = stream(
        client,
        f"/threads/{thread_id}/runs/stream",
        {
            "assistant_id": "approval",
            "input": {"messages": [{"role": "user", "content": "ship it"}]},
            "stream_mode": ["updates"],
        },
    )
    assert events[0].event == "metadata"
    assert set(events[0].data) >= {"run_id"}
    interrupts = [
        e.data["__interrupt__"] for e in events if e.event == "updates" and "__interrupt__" in e.data
    ]
    assert len(interrupts) == 1
    assert interrupts[0][0]["value"]["question"] == "Approve?"
    state = client.get(f"/threads/{thread_id}/state").json()
    assert state["next"] == ["human_interaction"]
    assert client.get(f"/threads/{thread_id}").json()["status"] == "interrupted"
    return thread_id


def test_approval_resumes_with_command(agent_http: httpx.Client) -> None:
    thread_id = _start_approval(agent_http)
    events = stream(
        agent_http,
        f"/threads/{thread_id}/runs/stream",
        {"assistant_id": "approval", "command": {"resume": True}, "stream_mode": "updates"},
    )
    nodes = [next(iter(e.data)) for e in events if e.event == "updates"]
    assert nodes == ["human_interaction", "finalize"]
    state = agent_http.get(f"/threads/{thread_id}/state").json()
    assert state["values"]["accepted"] is True
    assert state["values"]["outcome"] == "approved"
    assert state["values"]["messages"][-1]["content"] == "Approved: ship it"
    assert state["next"] == []
    assert agent_http.get(f"/threads/{thread_id}").json()["status"] == "idle"


def test_approval_resumes_with_update_state_as_human_node(agent_http: httpx.Client) -> None:
    thread_id = _start_approval(agent_http)
    update = agent_http.post(
        f"/threads/{thread_id}/state", json={"values": {"accepted": False}, "as_node": "human_interaction"}
    )
    assert update.status_code == 200, update.text
    checkpoint = update.json()["checkpoint"]
    assert checkpoint["thread_id"] == thread_id
    assert agent_http.get(f"/threads/{thread_id}/state").json()["next"] == ["finalize"]
    events = stream(
        agent_http,
        f"/threads/{thread_id}/runs/stream",
        {"assistant_id": "approval", "input": None, "checkpoint": checkpoint, "stream_mode": "values"},
    )
    final = [e.data for e in events if e.event == "values"][-1]
    assert final["accepted"] is False
    assert final["outcome"] == "rejected"
    assert final["messages"][-1]["content"] == "Rejected: ship it"


def test_chat_streams_tokens(agent_http: httpx.Client) -> None:
    events = stream(
        agent_http,
        "/runs/stream",
        {
            "assistant_id": "chat",
            "input": {"messages": [{"role": "user", "content": "hi there"}]},
            "stream_mode": "messages-tuple",
        },
    )
    chunks = [e.data for e in events if e.event == "messages"]
    assert len(chunks) >= 10
    assert all(isinstance(c, list) and len(c) == 2 for c in chunks)  # [message chunk, metadata]
    assert all(c[1]["langgraph_node"] == "chatbot" for c in chunks)
    assert "".join(c[0]["content"] for c in chunks) == CHAT_REPLY


def test_chat_messages_mode_and_persona(agent_http: httpx.Client) -> None:
    events = stream(
        agent_http,
        "/runs/stream",
        {
            "assistant_id": "chat",
            "input": {"messages": [{"role": "user", "content": "hi there"}]},
            "config": {"configurable": {"persona": "tester"}},
            "stream_mode": "messages",
        },
    )
    names = {e.event for e in events}
    # langgraph-api 0.16: "messages" mode sends messages/metadata + accumulated messages/partial events
    # for a streamed model; no messages/complete arrives for it.
    assert {"messages/metadata", "messages/partial"} <= names
    partials = [e.data[0]["content"] for e in events if e.event == "messages/partial"]
    assert len(partials) >= 10
    assert partials[-1] == f"[tester] {CHAT_REPLY}"


@pytest.mark.parametrize(("count", "expected"), [({"count": 250}, 250), ({}, 100), ({"count": 0}, 0)])
def test_custom_events(agent_http: httpx.Client, count: dict[str, int], expected: int) -> None:
    events = stream(
        agent_http, "/runs/stream", {"assistant_id": "custom_events", "input": count, "stream_mode": "custom"}
    )
    custom = [e.data for e in events if e.event == "custom"]
    assert custom == [{"index": i, "total": expected} for i in range(expected)]


def test_failing_graph_yields_error_event(agent_http: httpx.Client) -> None:
    events = stream(
        agent_http, "/runs/stream", {"assistant_id": "failing", "input": {}, "stream_mode": "updates"}
    )
    assert events[-1].event == "error"
    assert events[-1].data["error"] == "ValueError"
    assert events[-1].data["message"] == f"{FAILURE_MESSAGE} requested failure"

    ok = stream(
        agent_http,
        "/runs/stream",
        {"assistant_id": "failing", "input": {"fail": False}, "stream_mode": "values"},
    )
    assert not [e for e in ok if e.event == "error"]
    assert ok[-1].data["result"] == "ok"


def test_failing_graph_marks_thread_and_run_as_error(agent_http: httpx.Client) -> None:
    thread_id = new_thread(agent_http)
    run = agent_http.post(
        f"/threads/{thread_id}/runs", json={"assistant_id": "failing", "input": {"message": "boom"}}
    ).json()
    joined = agent_http.get(f"/threads/{thread_id}/runs/{run['run_id']}/join")
    assert joined.status_code == 200
    assert joined.json() == {"__error__": {"error": "ValueError", "message": f"{FAILURE_MESSAGE} boom"}}
    assert agent_http.get(f"/threads/{thread_id}/runs/{run['run_id']}").json()["status"] == "error"
    assert agent_http.get(f"/threads/{thread_id}").json()["status"] == "error"


def test_subgraph_events_are_namespaced(agent_http: httpx.Client) -> None:
    body: dict[str, Any] = {"assistant_id": "subgraphs", "input": {}, "stream_mode": ["updates", "custom"]}
    nested = stream(agent_http, "/runs/stream", {**body, "stream_subgraphs": True})
    child = [e for e in nested if "|" in e.event]
    assert {e.event.split("|")[0] for e in child} == {"updates", "custom"}
    assert all(e.event.split("|", 1)[1].startswith("child:") for e in child)
    assert [next(iter(e.data)) for e in child if e.event.startswith("updates|")] == [
        "child_step_one",
        "child_step_two",
    ]
    assert [e.data for e in child if e.event.startswith("custom|")] == [
        {"node": "child_step_one"},
        {"node": "child_step_two"},
    ]
    flat = stream(agent_http, "/runs/stream", body)
    assert not [e for e in flat if "|" in e.event]
    assert [next(iter(e.data)) for e in flat if e.event == "updates"] == ["prepare", "child", "finish"]


def test_slow_graph_makes_thread_busy_and_reject_gets_409(agent_http: httpx.Client) -> None:
    thread_id = new_thread(agent_http)
    first = agent_http.post(
        f"/threads/{thread_id}/runs", json={"assistant_id": "slow", "input": {"seconds": 0.5, "steps": 2}}
    )
    assert first.status_code == 200
    run = first.json()
    assert run["status"] == "pending"
    deadline = time.monotonic() + 10
    while agent_http.get(f"/threads/{thread_id}").json()["status"] != "busy":
        assert time.monotonic() < deadline, "thread never became busy"
        time.sleep(0.05)
    rejected = agent_http.post(
        f"/threads/{thread_id}/runs",
        json={"assistant_id": "slow", "input": {"seconds": 0}, "multitask_strategy": "reject"},
    )
    assert rejected.status_code == 409
    assert "already running" in rejected.json()["detail"]
    joined = agent_http.get(f"/threads/{thread_id}/runs/{run['run_id']}/join")
    assert joined.json() == {"seconds": 0.5, "steps": 2, "completed": 2}
    assert agent_http.get(f"/threads/{thread_id}").json()["status"] == "idle"


def test_not_found_and_validation_bodies(agent_http: httpx.Client) -> None:
    missing = agent_http.get("/threads/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Thread with ID 00000000-0000-0000-0000-000000000000 not found"}
    bad_assistant = agent_http.post("/runs/wait", json={"assistant_id": "nope", "input": {}})
    assert bad_assistant.status_code == 422
    assert bad_assistant.json()["detail"].startswith("Invalid assistant: 'nope'")
    no_assistant = agent_http.post("/runs/wait", json={"input": {}})
    assert no_assistant.status_code == 422
    assert '"assistant_id" is a required property' in no_assistant.json()["detail"]


# --- launcher -------------------------------------------------------------------------------------


def test_materialised_config_uses_absolute_paths(tmp_path: Path) -> None:
    config = json.loads(_materialise_config(AGENT_SERVER_DIR / "langgraph.json", tmp_path).read_text())
    assert config["graphs"]["chat"] == f"{AGENT_SERVER_DIR / 'graphs' / 'chat.py'}:graph"
    assert config["auth"]["path"] == f"{AGENT_SERVER_DIR / 'auth.py'}:auth"
    assert config["dependencies"] == [str(AGENT_SERVER_DIR)]


@pytest.mark.server
def test_launcher_without_key_rejects_everything_and_stops_cleanly(tmp_path: Path) -> None:
    with start_agent_server(AGENT_SERVER_DIR, deployment_key=None, log_path=tmp_path / "s.log") as server:
        assert httpx.get(f"{server.url}/ok").status_code == 200
        assert httpx.post(f"{server.url}/threads", json={}, headers={"x-api-key": ""}).status_code == 401
        pid, run_dir = server.pid, server.run_dir
        assert os.getpgid(pid) == pid  # own process group
    assert server.process.returncode is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not run_dir.exists()
    assert (tmp_path / "s.log").read_text().startswith("$ ")
    leftover = subprocess.run(
        ["ps", "-o", "pid=", "-g", str(pid)], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == ""


# --- marketplace ----------------------------------------------------------------------------------


def _info(
    marketplace: MarketplaceFixture, body: Any, key: str | None, *, raw: bool = False
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    if raw:
        return httpx.post(f"{marketplace.url}/api/get_graph_info", content=body, headers=headers)
    return httpx.post(f"{marketplace.url}/api/get_graph_info", json=body, headers=headers)


def test_marketplace_returns_graph_info_for_purchased_graph(marketplace: MarketplaceFixture) -> None:
    response = _info(marketplace, {"graph_name": "chat-graph"}, marketplace.user_key)
    assert response.status_code == 200
    assert response.json() == {
        "graph_url": marketplace.agent_server.url,
        "lgraph_api_key": marketplace.agent_server.deployment_key,
        "assistant_id": "chat",
        "configurables": {"configurable": {"persona": "marketplace"}},
        "environment_variables": {"LMSYSTEMS_TEST_GRAPH": "chat"},
    }
    assert marketplace.graph_info_requests[-1].status_code == 200


def test_marketplace_info_drives_the_agent_server(marketplace: MarketplaceFixture) -> None:
    info = _info(marketplace, {"graph_name": "chat-graph"}, marketplace.user_key).json()
    with httpx.Client(base_url=info["graph_url"], headers={"x-api-key": info["lgraph_api_key"]}) as client:
        result = client.post(
            "/runs/wait",
            json={
                "assistant_id": info["assistant_id"],
                "input": {"messages": [{"role": "user", "content": "hi there"}]},
                "config": info["configurables"],
            },
        )
    assert result.status_code == 200
    assert result.json()["messages"][-1]["content"] == f"[marketplace] {CHAT_REPLY}"


@pytest.mark.parametrize(
    ("body", "key", "status", "code"),
    [
        ({"graph_name": "chat-graph"}, None, 401, "missing_api_key"),
        ({"graph_name": "chat-graph"}, "RAW:Bearer", 401, "missing_api_key"),
        ({"graph_name": "chat-graph"}, "RAW:Basic dXNlcjpwdw==", 401, "missing_api_key"),
        ({"graph_name": "chat-graph"}, "lms_nobody", 401, "invalid_api_key"),
        ({}, "USER", 400, "missing_graph_name"),
        ({"graph_name": ""}, "USER", 400, "missing_graph_name"),
        ({"graph_name": 42}, "USER", 400, "invalid_graph_name"),
        ({"graph_name": "../etc/passwd"}, "USER", 400, "invalid_graph_name"),
        ({"graph_name": "no-such-graph"}, "USER", 404, "graph_not_found"),
        ({"graph_name": "chat-graph"}, "OTHER", 403, "graph_not_purchased"),
        ({"graph_name": "unpurchased-graph"}, "USER", 403, "graph_not_purchased"),
    ],
)
def test_marketplace_error_codes(
    marketplace: MarketplaceFixture, body: dict[str, Any], key: str | None, status: int, code: str
) -> None:
    if key is not None and key.startswith("RAW:"):
        headers = {"Authorization": key.removeprefix("RAW:")}
        response = httpx.post(f"{marketplace.url}/api/get_graph_info", json=body, headers=headers)
    else:
        key = {"USER": marketplace.user_key, "OTHER": marketplace.other_user_key}.get(key or "", key)
        response = _info(marketplace, body, key)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert detail["error"] == code
    assert isinstance(detail["message"], str)
    assert detail["message"]


def test_marketplace_rejects_non_object_body(marketplace: MarketplaceFixture) -> None:
    response = _info(marketplace, b"not json", marketplace.user_key, raw=True)
    assert response.status_code == 400
    assert response.json()["detail"]["error"] == "missing_graph_name"


def test_marketplace_server_stops_cleanly() -> None:
    app = create_marketplace_app(build_test_table(), "http://127.0.0.1:9", "key")
    with start_marketplace_server(app) as running:
        response = httpx.post(f"{running.url}/api/get_graph_info", json={"graph_name": "chat-graph"})
        assert response.status_code == 401
    assert not running._thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{running.url}/api/get_graph_info", json={})


def test_marketplace_track_run(marketplace: MarketplaceFixture) -> None:
    url = f"{marketplace.url}/api/track_run"
    auth = {"Authorization": f"Bearer {marketplace.user_key}"}
    response = httpx.post(url, json={"graph_name": "approval-graph", "run_id": "run-123"}, headers=auth)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    last = marketplace.tracked_runs[-1]
    assert (last.user_key, last.graph_name, last.run_id) == (
        marketplace.user_key,
        "approval-graph",
        "run-123",
    )

    count = len(marketplace.tracked_runs)
    assert httpx.post(url, json={"graph_name": "approval-graph", "run_id": "r"}).status_code == 401
    missing_run = httpx.post(url, json={"graph_name": "approval-graph"}, headers=auth)
    assert (missing_run.status_code, missing_run.json()["detail"]["error"]) == (400, "missing_run_id")
    other = {"Authorization": f"Bearer {marketplace.other_user_key}"}
    not_bought = httpx.post(url, json={"graph_name": "approval-graph", "run_id": "r"}, headers=other)
    assert (not_bought.status_code, not_bought.json()["detail"]["error"]) == (403, "graph_not_purchased")
    assert len(marketplace.tracked_runs) == count


def test_runs_on_different_threads_execute_concurrently(agent_http: httpx.Client) -> None:
    runs = []
    for _ in range(2):
        thread_id = new_thread(agent_http)
        response = agent_http.post(
            f"/threads/{thread_id}/runs", json={"assistant_id": "slow", "input": {"seconds": 1.5, "steps": 1}}
        )
        assert response.status_code == 200
        runs.append((thread_id, response.json()["run_id"]))
    deadline = time.monotonic() + 10
    while {agent_http.get(f"/threads/{t}").json()["status"] for t, _ in runs} != {"busy"}:
        assert time.monotonic() < deadline, "runs of different threads did not overlap"
        time.sleep(0.05)
    for thread_id, run_id in runs:
        assert agent_http.get(f"/threads/{thread_id}/runs/{run_id}/join").json()["completed"] == 1
