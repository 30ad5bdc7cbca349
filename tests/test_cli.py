"""The `lmsystems` command, run as a subprocess (the installed console script) against the real test bed.

Every call runs without a terminal (stdin is /dev/null), so output is plain and an interrupt nobody can
answer is left pending. The terminal itself (the prompt, the spinner) is tested in test_cli_terminal.py.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.agent_server import (
    DEPLOYMENT_KEY_ENV_VAR,
    TEST_AGENT_SERVER_DIR,
    RunningAgentServer,
    find_free_port,
)
from support.devloop import copy_test_project
from support.marketplace import MarketplaceFixture

CHAT_INPUT = json.dumps({"messages": [{"role": "user", "content": "hi there"}]})
CHAT_REPLY = "Hello from the chat graph! You said: hi there"
APPROVAL_INPUT = json.dumps({"messages": [{"role": "user", "content": "Ship the release"}]})


def lmsystems_command() -> list[str]:
    """The installed console script (the one a user runs), else the module."""
    script = Path(sys.executable).parent / "lmsystems"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lmsystems.cli"]


LMSYSTEMS = lmsystems_command()


def clean_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LMSYSTEMS_")}
    env.update(NO_COLOR="1", COLUMNS="200", **extra)
    return env


def cli(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 60) -> Result:
    completed = subprocess.run(
        [*LMSYSTEMS, *args],
        env=env,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    result = Result(completed.returncode, completed.stdout, completed.stderr)
    assert "Traceback" not in result.stderr, result
    return result


class Result:
    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code, self.stdout, self.stderr = code, stdout, stderr

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def json_lines(self) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.stdout.splitlines()]
        assert all(isinstance(line, dict) for line in lines), self
        return lines


@pytest.fixture(scope="module")
def env(marketplace: MarketplaceFixture) -> dict[str, str]:
    """The environment of a user of the test marketplace."""
    return clean_env(LMSYSTEMS_BASE_URL=marketplace.url, LMSYSTEMS_API_KEY=marketplace.user_key)


def thread_of(result: Result) -> str:
    """The thread id `lmsystems run` announces on stderr."""
    found = re.search(r"^thread (\S+)$", result.stderr, re.MULTILINE)
    assert found, result
    return found.group(1)


# --- lmsystems run ------------------------------------------------------------------------------------


def test_run_streams_chat_tokens(env: dict[str, str]) -> None:
    result = cli("run", "chat-graph", "--input", CHAT_INPUT, env=env)
    assert result.code == 0, result
    assert f"ai: [marketplace] {CHAT_REPLY}\n" in result.stdout  # the marketplace's persona reached the graph
    assert "✓ chatbot" in result.stdout
    assert result.stdout.count(CHAT_REPLY) == 1, (
        result
    )  # the node's update does not repeat the streamed reply
    assert thread_of(result)


def test_run_json_prints_one_object_per_event(env: dict[str, str]) -> None:
    result = cli("run", "chat-graph", "--input", CHAT_INPUT, "--json", env=env)
    assert result.code == 0, result
    assert result.stderr == ""
    lines = result.json_lines()
    assert all(set(line) <= {"event", "data", "id"} for line in lines)
    events = [line["event"] for line in lines]
    assert events[0] == "metadata"
    tokens = [line["data"][0]["content"] for line in lines if line["event"] == "messages"]
    assert len(tokens) > 5 and "".join(tokens) == f"[marketplace] {CHAT_REPLY}"  # token by token
    assert "updates" in events
    assert all("id" in line for line in lines[:-1])  # resumable stream: every event has its id
    done = lines[-1]
    assert done["event"] == "lmsystems/done"
    assert done["data"]["run_id"] == lines[0]["data"]["run_id"]


def test_run_reads_input_from_a_file_and_from_stdin(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "input.json"
    path.write_text(CHAT_INPUT)
    from_file = cli("run", "chat-graph", "--input", f"@{path}", "-m", "values", "--json", env=env)
    assert from_file.code == 0, from_file
    assert from_file.json_lines()[-2]["data"]["messages"][-1]["content"].endswith(CHAT_REPLY)
    from_stdin = cli("run", "chat-graph", "-i", "@-", "-m", "messages-tuple", env=env, stdin=CHAT_INPUT)
    assert from_stdin.code == 0, from_stdin
    assert CHAT_REPLY in from_stdin.stdout


def test_run_answers_an_interrupt_with_resume(env: dict[str, str]) -> None:
    result = cli("run", "approval-graph", "--input", APPROVAL_INPUT, "--resume", "yes", env=env)
    assert result.code == 0, result
    out = result.stdout
    assert "? Approve?" in out and "proposal: Ship the release" in out
    assert out.index("? Approve?") < out.index("✓ human_interaction  accepted=true")
    assert "ai (finalizer): Approved: Ship the release" in out
    assert "✓ finalize  outcome=approved" in out


def test_run_resume_json_shows_interrupt_and_resume(env: dict[str, str]) -> None:
    result = cli(
        "run",
        "approval-graph",
        "--input",
        APPROVAL_INPUT,
        "--resume",
        '{"accepted": false}',
        "--json",
        env=env,
    )
    assert result.code == 0, result
    lines = result.json_lines()
    events = [line["event"] for line in lines]
    interrupt = lines[events.index("lmsystems/interrupt")]["data"]
    assert interrupt["interrupts"][0]["value"]["question"] == "Approve?"
    assert lines[events.index("lmsystems/interrupt") + 1] == {
        "event": "lmsystems/resume",
        "data": {"thread_id": interrupt["thread_id"], "value": {"accepted": False}, "interrupt_id": None},
    }
    updates = [line["data"] for line in lines if line["event"] == "updates"]
    assert {"finalize": updates[-1]["finalize"]} == updates[-1]
    assert updates[-1]["finalize"]["outcome"] == "rejected"
    assert events[-1] == "lmsystems/done"


def test_interrupt_without_a_terminal_is_left_pending_then_resumed_later(env: dict[str, str]) -> None:
    pending = cli("run", "approval-graph", "--input", APPROVAL_INPUT, env=env)
    assert pending.code == 3, pending
    thread_id = thread_of(pending)
    assert "? Approve?" in pending.stdout
    assert f"lmsystems run approval-graph --thread {thread_id} --resume VALUE" in pending.stderr

    as_json = cli("run", "approval-graph", "--thread", thread_id, "--input", "null", "--json", env=env)
    assert as_json.code == 3, as_json  # input null on an interrupted thread: still waiting
    last = as_json.json_lines()[-1]
    assert last["event"] == "lmsystems/interrupt"
    assert last["data"]["thread_id"] == thread_id
    assert last["data"]["resume"] == f"lmsystems run approval-graph --thread {thread_id} --resume VALUE"

    resumed = cli("run", "approval-graph", "--thread", thread_id, "--resume", "yes", env=env)
    assert resumed.code == 0, resumed
    assert "Approved: Ship the release" in resumed.stdout

    again = cli("run", "approval-graph", "--thread", thread_id, "--resume", "yes", env=env)
    assert again.code == 2, again
    assert f"thread {thread_id} has no pending interrupt" in again.stderr


def test_a_failing_graph_exits_4(env: dict[str, str]) -> None:
    result = cli("run", "failing-graph", "--input", '{"message": "boom"}', env=env)
    assert result.code == 4, result
    [line] = result.stderr.splitlines()[1:]  # after "thread ...": one line
    assert line.startswith("lmsystems: run failed: run ")
    assert "ValueError: lmsystems test graph failure: boom" in line

    as_json = cli("run", "failing-graph", "--input", "{}", "--json", env=env)
    assert as_json.code == 4, as_json
    error = as_json.json_lines()[-1]
    assert error["event"] == "lmsystems/error"
    assert error["data"]["type"] == "RunError" and error["data"]["exit_code"] == 4
    assert as_json.stderr.startswith("lmsystems: run failed:")


def test_a_bad_key_exits_5_and_is_never_printed(env: dict[str, str]) -> None:
    canary = f"lms_canary_{secrets.token_hex(12)}"
    by_env = cli("run", "chat-graph", "--input", "{}", env={**env, "LMSYSTEMS_API_KEY": canary})
    by_option = cli("run", "chat-graph", "--input", "{}", "--api-key", canary, "--json", env=env)
    for result in (by_env, by_option):
        assert result.code == 5, result
        assert result.stderr.startswith("lmsystems: authentication failed:")
        assert "Invalid API key" in result.stderr
        assert canary not in result.stdout + result.stderr
    assert by_option.json_lines()[-1]["data"]["type"] == "APIKeyRejectedError"

    missing = cli("run", "chat-graph", "--input", "{}", env=clean_env())
    assert missing.code == 5, missing
    assert "set LMSYSTEMS_API_KEY or pass --api-key" in missing.stderr


def test_an_unreachable_url_exits_6(env: dict[str, str]) -> None:
    closed = f"http://127.0.0.1:{find_free_port()}"
    result = cli("run", "chat-graph", "--input", "{}", "--base-url", closed, env=env)
    assert result.code == 6, result
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("lmsystems: API error: connection failed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "{not json"], "--input is not valid JSON: Expecting property name"),
        (["--input", "@/nonexistent/input.json"], "--input: cannot read /nonexistent/input.json"),
        ([], "give the run's input with --input"),
        (["--resume", "yes"], "name its thread with --thread"),
        (["--input", "{}", "--stream-mode", "everything"], "--stream-mode: unknown stream mode 'everything'"),
        (["--input", "NaN"], "--input cannot be sent as JSON"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(env: dict[str, str], args: list[str], message: str) -> None:
    result = cli("run", "chat-graph", *args, env=env)
    assert result.code == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("lmsystems: invalid input: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2_and_help_documents_exit_codes(env: dict[str, str]) -> None:
    unknown = cli("run", "chat-graph", "--bogus", env=env)
    assert unknown.code == 2 and "No such option" in unknown.stderr, unknown
    helped = cli("run", "--help", env=env)
    assert helped.code == 0
    flat = " ".join(helped.stdout.split())
    assert "3 interrupt left pending" in flat and "5 authentication error" in flat


def test_direct_mode_with_deployment_url_and_key(
    env: dict[str, str], agent_server: RunningAgentServer
) -> None:
    direct = clean_env(LMSYSTEMS_DEPLOYMENT_KEY=agent_server.deployment_key or "")
    result = cli("run", "chat", "--input", CHAT_INPUT, "--deployment-url", agent_server.url, env=direct)
    assert result.code == 0, result
    assert f"ai: {CHAT_REPLY}" in result.stdout  # no marketplace: no persona
    refused = cli(
        "run",
        "chat",
        "--input",
        "{}",
        "--deployment-url",
        agent_server.url,
        "--deployment-key",
        "wrong-key",
        env=env,
    )
    assert refused.code == 5, refused
    # With --deployment-url, threads and graphs need no graph name.
    listed = cli(
        "threads", "list", "--json", "--limit", "5", "--deployment-url", agent_server.url, env=direct
    )
    assert listed.code == 0, listed
    assert all("thread_id" in line for line in listed.json_lines())
    graphs = cli("graphs", "--json", "--deployment-url", agent_server.url, env=direct)
    assert graphs.code == 0, graphs
    assert "chat" in {line["graph_id"] for line in graphs.json_lines()}
    shown = cli("graphs", "show", "chat", "--json", "--deployment-url", agent_server.url, env=direct)
    assert shown.code == 0 and shown.json_lines()[0]["graph_id"] == "chat", shown
    unnamed = cli("graphs", "show", "--deployment-url", agent_server.url, env=direct)
    assert unnamed.code == 2 and "which graph?" in unnamed.stderr, unnamed


# --- lmsystems threads / graphs -----------------------------------------------------------------------


def test_threads_list_show_history_delete(env: dict[str, str]) -> None:
    pending = cli("run", "approval-graph", "--input", APPROVAL_INPUT, env=env)
    assert pending.code == 3, pending
    thread_id = thread_of(pending)
    graph = ["--graph", "approval-graph"]

    listed = cli("threads", "list", *graph, "--json", "--limit", "50", env=env)
    assert listed.code == 0, listed
    [mine] = [t for t in listed.json_lines() if t["thread_id"] == thread_id]
    assert mine["status"] == "interrupted"
    table = cli("threads", "list", *graph, "--status", "interrupted", env=env)
    assert table.stdout.splitlines()[0] == "thread\tstatus\tgraph\tupdated"
    assert f"{thread_id}\tinterrupted (1 waiting)\tapproval\t" in table.stdout

    shown = cli("threads", "show", thread_id, *graph, "--json", env=env)
    assert shown.code == 0, shown
    [thread] = shown.json_lines()
    assert thread["thread_id"] == thread_id and thread["values"]["proposal"] == "Ship the release"
    human = cli("threads", "show", thread_id, *graph, env=env)
    assert "waits on: " in human.stdout and '"proposal": "Ship the release"' in human.stdout

    history = cli("threads", "history", thread_id, *graph, "--json", "-n", "2", env=env)
    assert history.code == 0, history
    states = history.json_lines()
    assert len(states) == 2 and states[0]["next"] == ["human_interaction"]
    history_table = cli("threads", "history", thread_id, *graph, env=env)
    assert history_table.stdout.splitlines()[0] == "checkpoint\tstep\tsource\tnext\tcreated"

    deleted = cli("threads", "delete", thread_id, *graph, env=env)
    assert deleted.code == 0 and deleted.stdout == f"deleted thread {thread_id}\n", deleted
    gone = cli("threads", "show", thread_id, *graph, env=env)
    assert gone.code == 2, gone  # a thread id the user typed that does not exist: bad input
    assert f"the deployment has no thread {thread_id}" in gone.stderr

    no_graph = cli("threads", "list", env=env)
    assert no_graph.code == 2 and "pass --graph NAME or set LMSYSTEMS_GRAPH" in no_graph.stderr, no_graph


def test_graphs_and_their_schemas(env: dict[str, str]) -> None:
    listed = cli("graphs", "--graph", "chat-graph", "--json", env=env)
    assert listed.code == 0, listed
    graph_ids = {assistant["graph_id"] for assistant in listed.json_lines()}
    assert {"approval", "chat", "custom_events", "failing", "slow", "subgraphs"} <= graph_ids
    table = cli("graphs", "-g", "chat-graph", env={**env, "LMSYSTEMS_GRAPH": "ignored"})
    assert table.stdout.splitlines()[0] == "graph\tassistant\tname\tversion\tdescription"

    shown = cli("graphs", "show", "approval", "--graph", "chat-graph", "--json", env=env)
    assert shown.code == 0, shown
    [schemas] = shown.json_lines()
    assert schemas["graph_id"] == "approval"
    assert {"input_schema", "output_schema", "config_schema"} <= set(schemas)
    assert "proposal" in schemas["output_schema"]["properties"]
    # Options before the subcommand count too, and the default graph is the one --graph resolves to.
    default = cli("graphs", "--graph", "approval-graph", "show", env=env)
    assert default.code == 0, default
    assert default.stdout.startswith("graph approval  (assistant ")
    assert "\ninput:\n" in default.stdout and "\nconfig:\n" in default.stdout
    missing = cli("graphs", "show", "no_such_graph", "-g", "chat-graph", env=env)
    assert missing.code == 2 and "the deployment has no graph 'no_such_graph'" in missing.stderr, missing


# --- lmsystems dev ------------------------------------------------------------------------------------


def _read_lines(stream: Any, count: int, seconds: float) -> list[str]:
    """The next `count` lines of a child's stdout, within `seconds` (a reader thread: select() on the file
    descriptor would miss lines already in the text wrapper's buffer)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in iter(stream.readline, "")], daemon=True
    ).start()
    got: list[str] = []
    deadline = time.monotonic() + seconds
    while len(got) < count:
        try:
            got.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            raise AssertionError(f"lmsystems dev printed {got} and then nothing in time") from None
    return got


@pytest.fixture
def dev_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    ready_file = tmp_path / "ready.env"
    command = [
        *LMSYSTEMS,
        "dev",
        "--config",
        str(copy_test_project(tmp_path) / "langgraph.json"),
        "--deployment-key-env",
        DEPLOYMENT_KEY_ENV_VAR,
        "--graph-name",
        "approval-graph=approval",
        "--ready-file",
        str(ready_file),
    ]
    process = subprocess.Popen(
        command,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process, ready_file
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]


def test_dev_serves_the_config_behind_a_marketplace_and_stops_on_sigterm(
    dev_process: tuple[subprocess.Popen[str], Path],
) -> None:
    process, ready_file = dev_process
    deadline = time.monotonic() + 120
    printed = dict(line.strip().split("=", 1) for line in _read_lines(process.stdout, 2, 120))
    assert set(printed) == {"LMSYSTEMS_BASE_URL", "LMSYSTEMS_API_KEY"}
    while not ready_file.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    ready = dict(line.split("=", 1) for line in ready_file.read_text().splitlines())
    assert ready_file.stat().st_mode & 0o777 == 0o600
    assert {key: ready[key] for key in printed} == printed
    base_url, user_key = printed["LMSYSTEMS_BASE_URL"], printed["LMSYSTEMS_API_KEY"]
    agent_server_url = ready["LMSYSTEMS_DEV_AGENT_SERVER_URL"]

    # Every graph id of the config (and the extra name) is a purchased graph resolved to the local server.
    auth = {"Authorization": f"Bearer {user_key}"}
    for name, graph_id in (("chat", "chat"), ("failing", "failing"), ("approval-graph", "approval")):
        info = httpx.post(f"{base_url}/api/get_graph_info", json={"graph_name": name}, headers=auth)
        assert info.status_code == 200, info.text
        body = info.json()
        assert body["graph_url"] == agent_server_url and body["assistant_id"] == graph_id
        assert body["lgraph_api_key"] == ready["LMSYSTEMS_DEV_DEPLOYMENT_KEY"]
    unknown = httpx.post(f"{base_url}/api/get_graph_info", json={"graph_name": "nope"}, headers=auth)
    assert unknown.status_code == 404 and unknown.json()["detail"]["error"] == "graph_not_found"
    stranger = httpx.post(f"{base_url}/api/get_graph_info", json={"graph_name": "chat"}, headers={})
    assert stranger.status_code == 401 and stranger.json()["detail"]["error"] == "missing_api_key"

    # The same command a user runs in production, pointed at the printed environment.
    result = cli("run", "chat", "--input", CHAT_INPUT, env=clean_env(**printed))
    assert result.code == 0, result
    assert f"ai: {CHAT_REPLY}" in result.stdout

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    stderr = process.stderr.read()  # type: ignore[union-attr]
    server_pid = int(re.search(r"\(pid (\d+);", stderr).group(1))  # type: ignore[union-attr]
    with pytest.raises(ProcessLookupError):
        os.killpg(server_pid, 0)  # the Agent Server's whole process group is gone
    assert "stopped the local stack" in stderr
    assert not ready_file.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{agent_server_url}/ok")


def test_dev_refuses_a_missing_config_and_bad_names(tmp_path: Path) -> None:
    project = copy_test_project(tmp_path)  # lmsystems dev keeps its key beside the config
    missing = cli("dev", "--config", str(tmp_path / "langgraph.json"), env=clean_env())
    assert missing.code == 2, missing
    assert f"no such config file: {tmp_path / 'langgraph.json'}" in missing.stderr
    bad_name = cli("dev", "--config", str(project), "--graph-name", "oops", env=clean_env())
    assert bad_name.code == 2 and "NAME=GRAPH_ID" in bad_name.stderr, bad_name
    unknown = cli("dev", "--config", str(project), "--graph-name", "x=nope", env=clean_env())
    assert unknown.code == 2 and "'nope', which the config does not serve" in unknown.stderr, unknown
    no_dir = cli(
        "dev",
        "--config",
        str(project),
        "--ready-file",
        str(tmp_path / "no" / "r"),
        env=clean_env(),
    )
    assert no_dir.code == 2 and "--ready-file: no such directory" in no_dir.stderr, no_dir
    busy_port = find_free_port()
    with socket.create_server(("127.0.0.1", busy_port)):
        busy = cli("dev", "--config", str(project), "--port", str(busy_port), env=clean_env())
        assert busy.code == 2 and f"port {busy_port} is not free on 127.0.0.1" in busy.stderr, busy
        taken = cli(
            "dev",
            "--config",
            str(project),
            "--marketplace-port",
            str(busy_port),
            env=clean_env(),
        )
    assert taken.code == 2 and f"cannot serve the marketplace on 127.0.0.1:{busy_port}" in taken.stderr, taken


# --- packaging -----------------------------------------------------------------------------------------


def test_import_lmsystems_does_not_import_the_cli_or_its_dependencies() -> None:
    heavy = ("typer", "rich", "click", "starlette", "uvicorn", "lmsystems.cli", "lmsystems._dev")
    code = (
        f"import sys; loaded = lambda: sorted(m for m in sys.modules if m.startswith({heavy!r})); "
        "import lmsystems; print(loaded()); "
        # httpx itself imports rich and click when they are installed (for its own command line).
        "from lmsystems import SyncLmsystemsClient; "
        "print([m for m in loaded() if not m.startswith(('rich', 'click'))])"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.splitlines() == ["[]", "[]"]


@pytest.mark.parametrize(
    ("blocked", "args", "message"),
    [
        (
            "typer",
            ["--help"],
            "the command line needs the 'cli' extra: pip install 'lmsystems[cli]' (missing: typer)",
        ),
        (
            "uvicorn",
            ["dev", "--config", str(TEST_AGENT_SERVER_DIR)],
            "pip install 'lmsystems[dev]' (missing: uvicorn)",
        ),
    ],
)
def test_a_missing_extra_is_named_with_the_command_that_installs_it(
    blocked: str, args: list[str], message: str
) -> None:
    code = f"import sys; sys.modules[{blocked!r}] = None; from lmsystems.cli import main; main({args!r})"
    completed = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 2, completed
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr
