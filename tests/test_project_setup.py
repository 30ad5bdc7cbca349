"""The project's own set-up works on any supported Python: nox's sessions, the classifiers, CI's command."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ["3.11", "3.12", "3.13", "3.14"]


def _sessions() -> list[str]:
    """Every function of noxfile.py decorated with `@nox.session(...)`."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "session"
            for d in node.decorator_list
        )
    ]


def _nox() -> list[str]:
    script = Path(sys.executable).parent / "nox"
    if script.is_file():
        return [str(script)]
    found = shutil.which("nox")
    return [found] if found else [sys.executable, "-m", "nox"]


def test_every_nox_session_runs_on_the_interpreter_that_runs_nox() -> None:
    """No session pins a version, so a machine with only Python 3.12 or 3.13 runs them all."""
    sessions = _sessions()
    assert {"tests", "demo", "docs", "lint", "typecheck", "contract", "check_generated"} <= set(sessions)
    listed = subprocess.run(
        [*_nox(), "--list", "--json", "-f", str(ROOT / "noxfile.py"), "--sessions", *sessions],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    found = {session["name"]: session["python"] for session in json.loads(listed.stdout)}
    assert found == dict.fromkeys(sessions)


def test_classifiers_list_every_supported_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == f">={SUPPORTED[0]}"
    listed = [
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    ]
    assert listed == SUPPORTED


def test_ci_runs_the_readme_test_command() -> None:
    command = "python3 -m pip install nox && nox -s tests"
    assert (ROOT / ".ci" / "run").read_text().strip().endswith(command)
    assert command in (ROOT / "README.md").read_text()
