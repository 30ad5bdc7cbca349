"""The local dev loop of `lmsystems dev`, as a user lives it: a request log in the terminal, graphs that
reload on edit, a key and an address that survive a restart, the Agent Server's log kept after exit, and
a clear word when the graphs' own auth refuses the dev key. Each test runs `lmsystems dev` in a copy of
the test bed's graphs (a project folder of its own) and the real `lmsystems` command against it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from support.devloop import DevProcess, clean_env, copy_test_project, lmsystems_command

CHAT_INPUT = json.dumps({"messages": [{"role": "user", "content": "hi"}]})


def run_chat(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*lmsystems_command(), "run", "chat", "--input", CHAT_INPUT],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_request_log_reload_and_a_restart_that_keeps_key_address_and_log(tmp_path: Path) -> None:
    project = copy_test_project(tmp_path)
    state = project / ".lmsystems"
    with DevProcess.start(project) as dev:
        printed = dev.printed()
        assert set(printed) == {"LMSYSTEMS_BASE_URL", "LMSYSTEMS_API_KEY"}
        assert (state / "dev.json").stat().st_mode & 0o777 == 0o600
        assert (state / ".gitignore").read_text().splitlines()[-1] == "*"
        dev.wait_for_stderr("reload        on")

        first = run_chat(dev.user_env())
        assert first.returncode == 0 and "ai: Hello from the chat graph! You said: hi" in first.stdout, first
        first_thread = first.stderr.split("thread ", 1)[1].split()[0]
        # A line per request: the marketplace's resolution, then the Agent Server's requests.
        dev.wait_for_stderr("marketplace  resolve 'chat' 200")
        dev.wait_for_stderr("POST   /threads 200 ")
        stream_line = dev.wait_for_stderr("/runs/stream 200 ")
        assert stream_line.split()[0] == "POST" and stream_line.endswith(" ms"), stream_line
        assert not [line for line in dev.stderr if " /ok " in line]  # the readiness probe is left out

        # An edit of a graph's code reloads it: the next run answers with the new code.
        chat = project / "graphs" / "chat.py"
        chat.write_text(
            chat.read_text().replace("Hello from the chat graph!", "Hello from the edited graph!")
        )
        edited = ""
        deadline = time.monotonic() + 60
        while "edited" not in edited and time.monotonic() < deadline:  # the reloader notices it in seconds
            time.sleep(0.5)
            edited = run_chat(dev.user_env()).stdout
        assert "ai: Hello from the edited graph! You said: hi" in edited, dev.transcript()
        assert dev.stop() == 0

    log = state / "agent-server.log"
    assert f"the Agent Server's log: {log}" in dev.stderr
    assert "/runs/stream 200" in log.read_text()
    assert printed["LMSYSTEMS_API_KEY"] not in log.read_text()

    # A restart: the same two lines, so the exported variables still work.
    with DevProcess.start(project) as again:
        assert again.printed() == printed
        assert run_chat(clean_env(**printed)).returncode == 0
        assert first_thread not in log.read_text()  # a new log for the new session
    # --key names the key (and is kept).
    with DevProcess.start(project, "--key", "lms_dev_my_own_key", "--no-reload") as own:
        assert own.printed()["LMSYSTEMS_API_KEY"] == "lms_dev_my_own_key"
        own.wait_for_stderr("reload        off")
        assert run_chat(own.user_env()).returncode == 0


def test_a_graph_auth_that_refuses_the_dev_key_is_explained(tmp_path: Path) -> None:
    """The test bed's auth.py reads its key from another variable than the one lmsystems dev fills."""
    project = copy_test_project(tmp_path)
    with DevProcess.start(project, key_env=None) as dev:
        refused = run_chat(dev.user_env())
        assert refused.returncode == 5, refused
        dev.wait_for_stderr("POST   /threads 401")
        hint = dev.wait_for_stderr("refused the dev key")
        assert "$LMSYSTEMS_DEPLOYMENT_KEY" in hint and "--deployment-key-env" in hint


def test_a_bad_key_is_refused_before_anything_starts(tmp_path: Path) -> None:
    project = copy_test_project(tmp_path)
    done = subprocess.run(
        [*lmsystems_command(), "dev", "--key", "has space"],
        cwd=project,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "--key:" in done.stderr, done
    assert not (project / ".lmsystems").exists()


def test_a_kept_port_that_is_taken_is_replaced_and_said(tmp_path: Path) -> None:
    project = copy_test_project(tmp_path)
    with DevProcess.start(project) as first:
        printed = first.printed()
    port = int(printed["LMSYSTEMS_BASE_URL"].rsplit(":", 1)[1])
    with socket.create_server(("127.0.0.1", port)), DevProcess.start(project) as second:
        again = second.printed()
        assert again["LMSYSTEMS_API_KEY"] == printed["LMSYSTEMS_API_KEY"]
        assert again["LMSYSTEMS_BASE_URL"] != printed["LMSYSTEMS_BASE_URL"]
        second.wait_for_stderr(f"the marketplace's port {port} (kept from the last session) is taken")
        assert run_chat(second.user_env()).returncode == 0


def test_without_a_config_it_says_where_to_run_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [*lmsystems_command(), "dev"],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done
    assert "run lmsystems dev in the folder of your langgraph.json, or name it with --config" in done.stderr
    assert not (tmp_path / ".lmsystems").exists()
