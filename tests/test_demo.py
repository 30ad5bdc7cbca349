"""`nox -s demo`'s script, run as the session runs it: what it prints can be copied, and it names itself.

The session installs only `lmsystems[dev]` (not the test extra); its script is run here with this
environment, which has at least that.
"""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_session_installs_only_what_the_demo_needs() -> None:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    demo = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "demo")
    installs = [
        ast.literal_eval(arg)
        for call in ast.walk(demo)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "install"
        for arg in call.args
    ]
    assert ".[dev]" in installs and not any("test" in str(arg) for arg in installs), installs
    assert any(
        isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "log"
        for call in ast.walk(demo)
    ), "the session says what it installs"


def test_the_demo_runs_end_to_end_and_prints_commands_that_can_be_copied() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    commands = [shlex.split(line[2:]) for line in lines if line.startswith("$ lmsystems ")]
    dev, run = commands
    assert dev[:4] == ["lmsystems", "dev", "--config", "tests/agent_server/langgraph.json"]
    assert (ROOT / dev[3]).is_file()
    assert run[:3] == ["lmsystems", "run", "approval-graph"] and run[-2:] == ["--resume", "yes"]
    assert json.loads(run[run.index("--input") + 1]) == {"messages": [{"role": "user", "content": "Tag v2"}]}
    assert "  reply      Hello from the chat graph! You said: hello" in lines
    assert lines[-1] == "the demo ran end to end. The code it ran, to read next: scripts/demo.py"
