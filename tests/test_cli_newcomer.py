"""The command line as a new user meets it: what works without a graph, how to name one, `graphs show`
as a summary, filtering threads by graph, exit code 2 for names that do not exist, readable help, Ctrl-C
at the `answer>` prompt, a reply shown once, and `resume` on a thread that waits on nothing.

Subprocesses of the installed `lmsystems` against the real test bed (and tmux for the prompt).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.marketplace import MarketplaceFixture
from test_cli import APPROVAL_INPUT, CHAT_INPUT, Result, clean_env, cli, thread_of
from test_cli_terminal import Terminal

from lmsystems import LmsystemsClient, NothingToResumeError, StreamPart, SyncLmsystemsClient
from lmsystems.cli._events import HumanRenderer
from lmsystems.cli._output import Output


@pytest.fixture(scope="module")
def env(marketplace: MarketplaceFixture) -> dict[str, str]:
    return clean_env(LMSYSTEMS_BASE_URL=marketplace.url, LMSYSTEMS_API_KEY=marketplace.user_key)


@pytest.fixture(scope="module")
def direct(marketplace: MarketplaceFixture) -> list[str]:
    """The options that read the test bed's Agent Server directly."""
    server = marketplace.agent_server
    return ["--deployment-url", server.url, "--deployment-key", server.deployment_key or ""]


# --- help ---------------------------------------------------------------------------------------------


def test_help_is_plain_whole_and_names_its_values(env: dict[str, str]) -> None:
    narrow = {**env, "COLUMNS": "80"}
    dev = cli("dev", "--help", env=narrow)
    assert dev.code == 0 and "pip install 'lmsystems[dev]'" in dev.stdout, dev
    for args in (["dev"], ["run"], ["threads", "list"], ["threads", "show"], ["graphs"], ["graphs", "show"]):
        shown = cli(*args, "--help", env=narrow)
        assert shown.code == 0, shown
        assert "…" not in shown.stdout and "{" not in shown.stdout.splitlines()[0], shown
        assert "<bool>" not in shown.stdout and "<str>" not in shown.stdout and "<int" not in shown.stdout
        assert max(len(line) for line in shown.stdout.splitlines()) <= 80, shown
    assert cli("run", "--help", env=narrow).stdout.startswith("Usage: lmsystems run [OPTIONS] GRAPH\n")
    assert cli("threads", "show", "--help", env=narrow).stdout.startswith(
        "Usage: lmsystems threads show [OPTIONS] ID\n"
    )
    dev_help = " ".join(dev.stdout.split())
    assert "--deployment-key-env VAR" in dev_help and "[default: LMSYSTEMS_DEPLOYMENT_KEY]" in dev_help
    assert "--graph NAME" in " ".join(cli("threads", "list", "--help", env=narrow).stdout.split())
    top = cli("--help", env=narrow)
    assert "..." not in top.stdout.split("Commands:")[1], top  # whole one-line summaries


# --- without a graph, and naming one --------------------------------------------------------------------


def test_without_a_graph_the_marketplace_needs_one_and_says_how(env: dict[str, str]) -> None:
    for args in (["graphs"], ["threads", "list"]):
        refused = cli(*args, env=env)
        assert refused.code == 2, refused
        assert "--graph NAME" in refused.stderr and "LMSYSTEMS_GRAPH=NAME" in refused.stderr, refused


def test_direct_mode_lists_graphs_and_threads_without_a_graph(env: dict[str, str], direct: list[str]) -> None:
    graphs = cli("graphs", *direct, "--json", env=env)
    assert graphs.code == 0, graphs
    assert {"approval", "chat", "echo"} <= {line["graph_id"] for line in graphs.json_lines()}
    threads = cli("threads", "list", *direct, "--json", env=env)
    assert threads.code == 0, threads


def test_lmsystems_graph_names_the_graph(env: dict[str, str]) -> None:
    listed = cli("graphs", "--json", env={**env, "LMSYSTEMS_GRAPH": "chat-graph"})
    assert listed.code == 0 and "chat" in {line["graph_id"] for line in listed.json_lines()}, listed


def test_threads_list_filters_by_the_graph(env: dict[str, str], direct: list[str]) -> None:
    chat = cli("run", "chat-graph", "--input", CHAT_INPUT, env=env)
    approval = cli("run", "approval-graph", "--input", APPROVAL_INPUT, "--resume", "yes", env=env)
    assert chat.code == 0 and approval.code == 0, (chat, approval)
    chat_thread, approval_thread = thread_of(chat), thread_of(approval)
    for args in (["-g", "chat-graph"], [*direct, "-g", "chat"]):
        listed = cli("threads", "list", *args, "-n", "100", "--json", env=env)
        assert listed.code == 0, listed
        threads = listed.json_lines()
        assert {thread["metadata"]["graph_id"] for thread in threads} == {"chat"}, listed
        ids = {thread["thread_id"] for thread in threads}
        assert chat_thread in ids and approval_thread not in ids
    everything = cli("threads", "list", *direct, "-n", "100", "--json", env=env)
    assert {chat_thread, approval_thread} <= {thread["thread_id"] for thread in everything.json_lines()}


# --- graphs show ----------------------------------------------------------------------------------------


def test_graphs_show_prints_a_summary_and_the_whole_schema_with_json(env: dict[str, str]) -> None:
    summary = cli("graphs", "show", "approval-graph", env=env)
    assert summary.code == 0, summary
    lines = summary.stdout.splitlines()
    assert lines[0].startswith("graph approval  (assistant ")
    assert lines[1] == "input:" and "config:" in lines
    assert "  messages  list[message]" in lines and "  accepted  boolean  (optional)" in lines
    assert len(lines) < 30
    assert "lmsystems graphs show approval-graph --json" in summary.stdout
    whole = cli("graphs", "show", "approval-graph", "--json", env=env)
    document = whole.json_lines()[0]
    assert document["graph_id"] == "approval" and "$defs" in document["input_schema"]
    assert {"output_schema", "config_schema", "state_schema"} <= set(document)


# --- exit code 2 for names that do not exist ----------------------------------------------------------


def test_a_graph_or_thread_that_does_not_exist_is_bad_input(env: dict[str, str], direct: list[str]) -> None:
    missing_thread = str(uuid.uuid4())
    for args in (
        ["threads", "show", missing_thread, "-g", "chat-graph"],
        ["threads", "history", missing_thread, "-g", "chat-graph"],
        ["threads", "delete", missing_thread, "-g", "chat-graph", "--yes"],
        ["run", "chat-graph", "--thread", missing_thread, "--input", CHAT_INPUT],
        ["run", "chat-graph", "--thread", missing_thread, "--resume", "yes"],
    ):
        result = cli(*args, env=env)
        assert result.code == 2, result
        assert f"the deployment has no thread {missing_thread}" in result.stderr, result
    for args in (
        ["run", "no-such-graph", "--input", CHAT_INPUT],
        ["graphs", "show", "no-such-graph"],
        ["graphs", "show", "no_such_graph", *direct],
        ["threads", "list", "-g", "no-such-graph"],
    ):
        result = cli(*args, env=env)
        assert result.code == 2, result
        assert "no-such-graph" in result.stderr or "no_such_graph" in result.stderr, result


# --- resume on a thread that waits on nothing --------------------------------------------------------


def test_resume_without_a_pending_interrupt_raises_a_typed_error(marketplace: MarketplaceFixture) -> None:
    options = {"graph_name": "chat-graph", "api_key": marketplace.user_key, "base_url": marketplace.url}
    with SyncLmsystemsClient(**options) as client:
        thread = client.create_thread()
        with pytest.raises(NothingToResumeError, match="waits on no interrupt"):
            list(client.resume(thread, "yes"))
        assert client.get_thread_status(thread) == "idle"  # nothing ran
        assert client.runs.list(thread["thread_id"]) == []

    async def scenario() -> None:
        async with LmsystemsClient(**options) as client:
            thread = await client.create_thread()
            with pytest.raises(NothingToResumeError):
                async for _ in client.resume(thread, True):
                    pass

    asyncio.run(scenario())


def test_resume_of_a_pending_interrupt_still_works(marketplace: MarketplaceFixture) -> None:
    options = {"graph_name": "approval-graph", "api_key": marketplace.user_key, "base_url": marketplace.url}
    with SyncLmsystemsClient(**options) as client:
        thread = client.create_thread()
        stream = client.stream_run(thread, json.loads(APPROVAL_INPUT), stream_mode="updates")
        list(stream)
        assert stream.interrupted
        last = list(client.resume(thread, True, stream_mode="values"))[-1]
        assert last.data["outcome"] == "approved"
        with pytest.raises(NothingToResumeError):  # answered: nothing waits any more
            list(client.resume(thread, True))


def test_cli_resume_of_an_idle_thread_is_refused(env: dict[str, str]) -> None:
    done = cli("run", "chat-graph", "--input", CHAT_INPUT, env=env)
    again = cli("run", "chat-graph", "--thread", thread_of(done), "--resume", "yes", env=env)
    assert again.code == 2 and "has no pending interrupt" in again.stderr, again


# --- one reply, shown once ------------------------------------------------------------------------------


def test_a_streamed_reply_repeated_by_the_node_update_is_shown_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    renderer = HumanRenderer(Output())
    parts: list[Any] = []
    for token in ("Approved", ": ", "ship", " it"):
        chunk = {"type": "AIMessageChunk", "id": "run-1", "content": token}
        parts.append(StreamPart("messages", [chunk, {"langgraph_node": "finalize"}]))
    parts.append(StreamPart("messages", [{"type": "AIMessageChunk", "id": "run-1", "content": ""}, {}]))
    # The node returns the reply again as a plain dict, which gets another id (or none).
    update = {"finalize": {"messages": [{"role": "assistant", "content": "Approved: ship it"}], "ok": True}}
    parts.append(StreamPart("updates", update))
    parts.append(StreamPart("updates", {"other": {"messages": [{"role": "assistant", "content": "New"}]}}))
    for part in parts:
        renderer.show(part)
    renderer.end_line()
    shown = capsys.readouterr().out
    assert shown.count("Approved: ship it") == 1, shown
    assert "assistant: New" in shown


# --- Ctrl-C at the answer> prompt ---------------------------------------------------------------------


def test_ctrl_c_at_the_prompt_says_the_run_waits_and_how_to_answer(
    marketplace: MarketplaceFixture, tmp_path: Path
) -> None:
    env = clean_env(
        LMSYSTEMS_BASE_URL=marketplace.url, LMSYSTEMS_API_KEY=marketplace.user_key, TERM="xterm-256color"
    )
    terminal = Terminal(tmp_path, env)
    try:
        exit_file = terminal.start("ask", "run", "approval-graph", "--input", APPROVAL_INPUT)
        terminal.wait_for("ask", "answer> ")
        terminal.send("ask", "C-c")
        assert terminal.exit_code(exit_file, "ask") == 130
        screen = " ".join(terminal.screen("ask").split())
        assert "goes on on the server" not in screen, screen
        assert "the run waits on the interrupt" in screen, screen
        thread_id = thread_of(Result(0, "", terminal.screen("ask")))
        assert f"lmsystems run approval-graph --thread {thread_id} --resume VALUE" in screen, screen
    finally:
        terminal.kill()
    # The command it printed answers the interrupt.
    answered = cli(
        "run",
        "approval-graph",
        "--thread",
        thread_id,
        "--resume",
        "yes",
        env=clean_env(LMSYSTEMS_BASE_URL=marketplace.url, LMSYSTEMS_API_KEY=marketplace.user_key),
    )
    assert answered.code == 0 and "outcome=approved" in answered.stdout, answered
