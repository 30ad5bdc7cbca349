"""The README's first programs run as pasted against `lmsystems dev`, as a new user runs them.

`lmsystems dev` serves a copy of the test bed's graphs (its own folder, as a user's project); the
programs run in a fresh interpreter with nothing but the two variables `lmsystems dev` printed. The docs
site's home page shows the same programs.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.devloop import DevProcess, copy_test_project, lmsystems_command

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


def quickstart_programs() -> list[str]:
    """The complete programs of the README's quickstart and interrupt sections (before "Errors")."""
    section = README[README.index("## Quickstart") : README.index("### Errors")]
    programs = python_blocks(section)
    assert len(programs) == 3, programs
    return programs


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    project = copy_test_project(tmp_path_factory.mktemp("project"))
    with DevProcess.start(project) as process:
        yield process


def run_program(program: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "program.py").write_text(program)
    return subprocess.run(
        [sys.executable, "program.py"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_readme_starts_with_install_and_the_two_commands() -> None:
    head = README[: README.index("## Quickstart")]
    assert "pip install lmsystems" in head
    assert "python3 -m pip install nox && nox -s demo" in head
    assert "python3 -m pip install nox && nox -s tests" in head
    assert "LMSYSTEMS_API_KEY" in head and "lmsystems dev" in head
    assert "LMSYSTEMS_GRAPH" in README


def test_the_chat_programs_print_the_tokens_as_pasted(dev: DevProcess, tmp_path: Path) -> None:
    chat_async, chat_sync, _ = quickstart_programs()
    assert "asyncio.run(main())" in chat_async and "async with" in chat_async
    for program in (chat_async, chat_sync):
        done = run_program(program, dev.user_env(), tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "Hello from the chat graph! You said: Hello!\n", done


def test_the_interrupt_program_answers_the_question(dev: DevProcess, tmp_path: Path) -> None:
    program = quickstart_programs()[2]
    done = run_program(program, dev.user_env(), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "asks: {'question': 'Approve?', 'proposal': 'Ship the release'}" in done.stdout, done
    assert "'outcome': 'approved'" in done.stdout, done


def test_the_docs_home_page_shows_the_same_programs() -> None:
    home = (ROOT / "docs" / "index.md").read_text()
    shown = python_blocks(home)
    for program in quickstart_programs()[:2]:
        assert program in shown


# --- the reference pages' examples ----------------------------------------------------------------------

REFERENCE = sorted((ROOT / "docs" / "reference").glob("*.md"))


def reference_example(page: Path) -> str:
    """The first python block under a page's `## Example` heading."""
    text = page.read_text()
    return python_blocks(text[text.index("## Example") :])[0]


def test_every_reference_page_has_an_example() -> None:
    assert len(REFERENCE) >= 9
    for page in REFERENCE:
        assert "## Example" in page.read_text(), page.name
        assert "await client." in reference_example(page) or "LmsystemsClient(" in reference_example(page)


def test_the_reference_examples_run_against_lmsystems_dev(dev: DevProcess, tmp_path: Path) -> None:
    """Each example runs inside `async with LmsystemsClient(graph_name="chat") as client:`."""
    for page in REFERENCE:
        example = reference_example(page)
        imports = [line for line in example.splitlines() if line.startswith(("from ", "import "))]
        body = "\n".join(line for line in example.splitlines() if line not in imports)
        program = "\n".join(
            [
                "import asyncio",
                *imports,
                "from lmsystems import LmsystemsClient",
                "",
                "async def main() -> None:",
                '    async with LmsystemsClient(graph_name="chat") as client:',
                *("        " + line if line else "" for line in body.splitlines()),
                "",
                "asyncio.run(main())",
            ]
        )
        done = run_program(program, dev.user_env(), tmp_path)
        assert done.returncode == 0, f"{page.name}:\n{program}\n{done.stderr}"
        assert done.stdout.strip(), page.name


def test_signatures_show_default_values_that_are_the_settings_defaults() -> None:
    """The docs render signatures as written: the defaults are literal values, equal to the settings'."""
    import inspect

    from lmsystems import LmsystemsClient, PurchasedGraph, SyncLmsystemsClient
    from lmsystems._settings import DEFAULT_MAX_RETRIES, StreamLimits

    limits = StreamLimits()
    expected = {
        "max_retries": DEFAULT_MAX_RETRIES,
        "stream_idle_timeout": limits.idle_timeout,
        "stream_deadline": limits.deadline,
        "max_reconnects": limits.max_reconnects,
        "max_event_bytes": limits.max_event_bytes,
    }
    for facade in (LmsystemsClient, SyncLmsystemsClient):
        parameters = inspect.signature(facade.__init__).parameters
        assert {name: parameters[name].default for name in expected} == expected
    assert inspect.signature(PurchasedGraph.__init__).parameters["max_retries"].default == DEFAULT_MAX_RETRIES
    for page in REFERENCE:
        source = page.read_text()
        assert "DEFAULT_" not in source, page.name


def test_the_readme_command_lines_run_as_pasted(dev: DevProcess) -> None:
    section = README[README.index("### Command line") : README.index("### A purchased graph")]
    block = re.findall(r"^```bash\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)[0]
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
    assert len(commands) >= 4 and all(command[0] == "lmsystems" for command in commands)
    for command in commands:
        done = subprocess.run(
            [*lmsystems_command(), *command[1:]],
            env=dev.user_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert done.stdout.strip(), command
