"""The demo: `lmsystems dev` (a local Agent Server and marketplace), the documented flow, one `lmsystems run`.

    nox -s demo

Starts `lmsystems dev --config tests/agent_server/langgraph.json` as a subprocess (the real LangGraph Agent
Server, in-memory, and a local marketplace, on free ports) and reads the environment it writes to its
--ready-file. Then, with the public SDK only: resolves "approval-graph" through the marketplace, streams a
run until it stops at an interrupt, answers it as the documentation shows (update the state as the human
node, then stream from the returned checkpoint), resumes a second thread with Command(resume=...), streams
tokens from "chat-graph" with the sync client, and reads the history. Last, one `lmsystems run` answers an
interrupt from the command line. Then it stops the stack with SIGTERM, as Ctrl-C would.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lmsystems import LmsystemsClient, SyncLmsystemsClient

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests" / "agent_server" / "langgraph.json"
#: The test bed's auth.py reads the deployment key from this variable.
DEPLOYMENT_KEY_ENV = "LMSYSTEMS_TEST_DEPLOYMENT_KEY"
#: The graph ids of the config, published under the names the graphs have in the (production) marketplace.
NAMES = {"approval-graph": "approval", "chat-graph": "chat"}
STARTUP_TIMEOUT = 120.0


def show(label: str, value: object) -> None:
    text = str(value)
    print(f"  {label:<10} {text if len(text) < 110 else text[:107] + '...'}")


def lmsystems_command() -> list[str]:
    """The `lmsystems` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "lmsystems"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lmsystems.cli"]


@contextmanager
def lmsystems_dev() -> Iterator[dict[str, str]]:
    """Run `lmsystems dev` until the block ends; yield the environment it announces."""
    with tempfile.TemporaryDirectory(prefix="lmsystems-demo-") as tmp:
        ready_file = Path(tmp) / "ready.env"
        command = [
            *lmsystems_command(),
            "dev",
            "--config",
            str(CONFIG),
            "--deployment-key-env",
            DEPLOYMENT_KEY_ENV,
        ]
        for name, graph_id in NAMES.items():
            command += ["--graph-name", f"{name}={graph_id}"]
        command += ["--ready-file", str(ready_file)]
        shown = ["lmsystems", *command[len(lmsystems_command()) : command.index("--ready-file")]]
        shown[shown.index(str(CONFIG))] = str(CONFIG.relative_to(ROOT))
        print(f"$ {shlex.join(shown)}", flush=True)
        # Its stdout (the two variables) shows here; its stderr, a line per request, goes to a file
        # shown at the end, so that it does not interleave with the demo's own output.
        dev_log = Path(tmp) / "lmsystems-dev.stderr"
        with dev_log.open("wb") as stderr:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not ready_file.exists():
                if process.poll() is not None:
                    raise SystemExit(
                        f"lmsystems dev exited with code {process.returncode} before it was ready:\n"
                        + dev_log.read_text(errors="replace")
                    )
                if time.monotonic() > deadline:
                    raise SystemExit(f"lmsystems dev was not ready within {STARTUP_TIMEOUT:.0f} s")
                time.sleep(0.1)
            env = dict(line.split("=", 1) for line in ready_file.read_text().splitlines() if "=" in line)
            yield env
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        said = dev_log.read_text(errors="replace").splitlines()
        if process.returncode != 0:
            raise SystemExit(f"lmsystems dev stopped with code {process.returncode}:\n" + "\n".join(said))
        requests = [line for line in said if line.startswith("  ") and " ms" in line]
        print(f"\nlmsystems dev's terminal showed a line per request ({len(requests)} in all), e.g.:")
        for line in requests[:4]:
            print(f"  {line.strip()}")
        print(said[-1])


async def approval_flow(base_url: str, api_key: str) -> None:
    print("\n== async client: approval-graph, resolved through the marketplace")
    client = await LmsystemsClient.create(graph_name="approval-graph", api_key=api_key, base_url=base_url)
    async with client:
        show("deployment", client.deployment)
        thread = await client.create_thread()
        show("thread", thread["thread_id"])
        stream = client.stream_run(
            thread=thread,
            input={"messages": [{"role": "user", "content": "Ship the release"}]},
            stream_mode=["updates"],
            multitask_strategy="reject",
        )
        async for chunk in stream:
            show(chunk.event, chunk.data)
        show("status", await client.get_thread_status(thread))
        show("question", stream.interrupts[0]["value"])

        print("-- answer it as the documentation shows: update the state as the human node, then resume")
        updated_state = await client.update_thread_state(
            thread=thread,
            state_update={"messages": [{"role": "user", "content": "continue"}], "accepted": True},
            as_node="human_interaction",
        )
        show("checkpoint", updated_state["checkpoint_id"])
        async for chunk in client.stream_run(
            thread=thread, input=None, checkpoint_id=updated_state["checkpoint_id"], stream_mode="updates"
        ):
            show(chunk.event, chunk.data)
        state = await client.get_thread_state(thread)
        show("outcome", state["values"].get("outcome"))
        history = await client.get_state_history(thread=thread, limit=10)
        show("history", f"{len(history)} checkpoints, newest first")

        print("-- a second thread, resumed with Command(resume=False)")
        other = await client.create_thread()
        async for _ in client.stream_run(
            thread=other, input={"messages": [{"role": "user", "content": "Drop it"}]}
        ):
            pass
        async for chunk in client.resume(other, False, stream_mode="values"):
            last = chunk
        show("outcome", last.data.get("outcome"))


def chat_flow(base_url: str, api_key: str) -> None:
    print("\n== sync client: chat-graph, tokens printed as they arrive")
    with SyncLmsystemsClient(graph_name="chat-graph", api_key=api_key, base_url=base_url) as client:
        thread = client.create_thread()
        tokens = 0
        print("  reply      ", end="", flush=True)
        for chunk in client.stream_run(
            thread=thread,
            input={"messages": [{"role": "user", "content": "hello"}]},
            stream_mode="messages-tuple",
        ):
            if chunk.event == "messages":  # [message chunk, metadata]: one chunk per token
                message, _metadata = chunk.data
                print(message["content"], end="", flush=True)
                tokens += 1
        print()
        show("tokens", tokens)


def cli_flow(env: dict[str, str]) -> None:
    print("\n== the command line: an interrupt answered with --resume")
    args = ["run", "approval-graph", "--input", '{"messages": [{"role": "user", "content": "Tag v2"}]}']
    args += ["--resume", "yes"]
    print(f"$ {shlex.join(['lmsystems', *args])}", flush=True)
    child_env = {**os.environ, "LMSYSTEMS_BASE_URL": env["LMSYSTEMS_BASE_URL"]}
    child_env["LMSYSTEMS_API_KEY"] = env["LMSYSTEMS_API_KEY"]
    completed = subprocess.run(
        [*lmsystems_command(), *args], env=child_env, stdin=subprocess.DEVNULL, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"lmsystems run exited with code {completed.returncode}")


def main() -> int:
    with lmsystems_dev() as env:
        base_url, api_key = env["LMSYSTEMS_BASE_URL"], env["LMSYSTEMS_API_KEY"]
        asyncio.run(approval_flow(base_url, api_key))
        chat_flow(base_url, api_key)
        cli_flow(env)
        print("\nstopping the local stack (SIGTERM) ...", flush=True)
    print("the demo ran end to end. The code it ran, to read next: scripts/demo.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
