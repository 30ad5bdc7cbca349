"""The surface types: user-style code (the product documentation's calls, the README's and the guide's)
type-checks clean with mypy --strict and pyright (strict), and every deliberate mistake in
tests/typing/mistakes.py (a line marked `# error`) is reported by both; the same mistakes fail at run time
with an InputError naming the argument, before any request.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmsystems import InputError, LmsystemsClient, SyncLmsystemsClient

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
FILES = sorted(TYPING.glob("*.py"))
MISTAKES = TYPING / "mistakes.py"


def marked_lines() -> set[int]:
    lines = MISTAKES.read_text().splitlines()
    return {number for number, line in enumerate(lines, 1) if line.rstrip().endswith("# error")}


def _by_file(errors: list[tuple[str, int]]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for name, line in errors:
        found.setdefault(name, set()).add(line)
    return found


def readme_blocks(directory: Path) -> list[Path]:
    """The README's Python blocks as files (a block that uses the reader's own `builder` gets one)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    files = []
    for index, block in enumerate(blocks):
        prelude = "from typing import Any\n\nbuilder: Any = None\n" if "builder." in block else ""
        path = directory / f"readme_block_{index}.py"
        path.write_text(prelude + block)
        files.append(path)
    return files


def _targets(tmp_path: Path) -> list[Path]:
    return [*FILES, *readme_blocks(tmp_path)]


def test_mypy_strict_reports_every_mistake_and_nothing_else(tmp_path: Path) -> None:
    targets = _targets(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--show-error-codes",
            *map(str, targets),
        ],
        env={**os.environ, "MYPYPATH": os.pathsep.join([str(ROOT), str(ROOT / "generated")])},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    names = {path.name for path in targets}
    errors = [
        (Path(match["file"]).name, int(match["line"]))
        for match in re.finditer(r"^(?P<file>[^:\s]+\.py):(?P<line>\d+): error:", done.stdout, re.M)
        if Path(match["file"]).name in names
    ]
    found = _by_file(errors)
    assert found.pop("mistakes.py", set()) == marked_lines(), done.stdout
    assert not found, done.stdout  # the user-style files and the README's blocks are clean


def test_pyright_reports_every_mistake_and_nothing_else(tmp_path: Path) -> None:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which("pyright")
    assert pyright, "pyright is in the test extra (pyright[nodejs])"
    config = tmp_path / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {
                "extraPaths": [str(ROOT), str(ROOT / "generated")],
                "pythonVersion": "3.11",
                "typeCheckingMode": "strict",
                "reportMissingTypeStubs": False,
                "reportUnusedVariable": False,  # style, not types (the README unpacks `metadata` unused)
            }
        )
    )
    targets = _targets(tmp_path)
    done = subprocess.run(
        [pyright, "-p", str(config), "--pythonpath", sys.executable, "--outputjson", *map(str, targets)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(done.stdout)
    errors = [
        (Path(item["file"]).name, item["range"]["start"]["line"] + 1)
        for item in report["generalDiagnostics"]
        if item["severity"] == "error"
    ]
    found = _by_file(errors)
    assert found.pop("mistakes.py", set()) == marked_lines(), done.stdout
    assert not found, done.stdout


# The same mistakes at run time: an InputError naming the argument, nothing sent (no server is running
# at the deployment URL: a request would fail with APIConnectionError instead).
URL = "http://127.0.0.1:9"
RUNTIME_MISTAKES: list[tuple[str, dict[str, Any], str]] = [
    ("stream_run", {"stream_mode": "mesages"}, "stream_mode"),
    ("stream_run", {"stream_mode": ["messages", "updatez"]}, "stream_mode"),
    ("stream_run", {"stream_modes": ["messages"]}, "'stream_modes' (did you mean 'stream_mode'?)"),
    ("stream_run", {"multitask_strategy": "rejekt"}, "multitask_strategy"),
    ("stream_run", {"durabilty": "exit"}, "'durabilty' (did you mean 'durability'?)"),
    ("stream_run", {"durability": "never"}, "durability"),
    ("stream_run", {"command": {"resum": 1}}, "command"),
    ("resume", {"stream_mode": "value"}, "stream_mode"),
]


@pytest.mark.parametrize(("method", "options", "named"), RUNTIME_MISTAKES)
def test_mistakes_fail_at_run_time_naming_the_argument(
    method: str, options: dict[str, Any], named: str
) -> None:
    async def attempt() -> InputError:
        client = LmsystemsClient("agent", deployment_url=URL, max_retries=0)
        try:
            with pytest.raises(InputError) as refused:
                arguments = ("t1", True) if method == "resume" else ("t1", {})
                await getattr(client, method)(*arguments, **options).collect()
            return refused.value
        finally:
            await client.aclose()

    error = asyncio.run(attempt())
    assert named in str(error)
    assert "RunOptions" not in str(error) and "check()" not in str(error)


SURFACE_MISTAKES: list[tuple[str, dict[str, Any], str]] = [
    ("runs.cancel_many", {"status": "done"}, "status must be one of"),
    ("threads.search", {"sort_by": "name"}, "sort_by must be one of"),
    ("threads.search", {"select": ["thread_id", "valuez"]}, "select[] must be one of"),
    ("threads.prune", {"strategy": "all"}, "strategy must be one of"),
    ("assistants.search", {"sort_by": "id"}, "sort_by must be one of"),
    ("crons.search", {"select": ["cron"]}, "select[] must be one of"),
    ("thread_stream", {"transport": "ws"}, "transport must be one of"),
    ("thread_stream", {"transprot": "sse"}, "'transprot' (did you mean 'transport'?)"),
]


@pytest.mark.parametrize(("method", "options", "named"), SURFACE_MISTAKES)
def test_choices_of_the_other_calls_fail_at_run_time_naming_the_argument(
    method: str, options: dict[str, Any], named: str
) -> None:
    async def attempt() -> InputError:
        client = LmsystemsClient("agent", deployment_url=URL, max_retries=0)
        try:
            target: Any = client
            for name in method.split("."):
                target = getattr(target, name)
            with pytest.raises(InputError) as refused:
                result = target(["t1"], **options) if method == "threads.prune" else target(**options)
                if asyncio.iscoroutine(result):
                    await result
            return refused.value
        finally:
            await client.aclose()

    error = asyncio.run(attempt())
    assert named in str(error)


@pytest.mark.parametrize("sync", [False, True])
def test_session_calls_refuse_unknown_keywords_with_a_hint(sync: bool) -> None:
    """ThreadStream's calls check keyword names as the clients' do: an ArgumentError (an InputError and a
    TypeError) naming the argument, with a "did you mean", before anything is sent."""
    from lmsystems import ArgumentError

    if sync:
        # The sync client resolves its deployment at construction: a transport answers that one request
        # and records the rest (none may be sent).
        sent: list[str] = []

        def answer(request: httpx.Request) -> httpx.Response:
            sent.append(f"{request.method} {request.url.path}")
            return httpx.Response(200, json=[])

        with SyncLmsystemsClient(
            deployment_url=URL, max_retries=0, transport=httpx.MockTransport(answer)
        ) as client:
            sent.clear()
            session = client.thread_stream(assistant_id="agent")
            with pytest.raises(
                ArgumentError,
                match=r"start\(\) got an unexpected keyword argument "
                r"'multitask_stratgy' \(did you mean 'multitask_strategy'\?\)",
            ):
                session.start({}, multitask_stratgy="reject")  # type: ignore[call-arg]
            with pytest.raises(TypeError, match=r"'interupt_id' \(did you mean 'interrupt_id'\?\)"):
                session.respond(True, interupt_id="i")  # type: ignore[call-arg]
            with pytest.raises(InputError, match=r"'namespce' \(did you mean 'namespace'\?\)"):
                session.values(namespce=["a"])  # type: ignore[call-arg]
        assert sent == []
        return

    async def attempt() -> None:
        client = LmsystemsClient(deployment_url=URL, max_retries=0)
        try:
            session = client.thread_stream(assistant_id="agent")
            with pytest.raises(ArgumentError, match=r"'multitask_stratgy' \(did you mean"):
                await session.start({}, multitask_stratgy="reject")  # type: ignore[call-arg]
            with pytest.raises(ArgumentError, match=r"'interupt_id' \(did you mean 'interrupt_id'\?\)"):
                await session.respond(True, interupt_id="i")  # type: ignore[call-arg]
            with pytest.raises(ArgumentError, match=r"'namespce' \(did you mean 'namespace'\?\)"):
                session.updates(namespce=["a"])  # type: ignore[call-arg]
        finally:
            await client.aclose()

    asyncio.run(attempt())


def test_unknown_keywords_of_constructors_and_create_are_input_errors() -> None:
    with pytest.raises(
        InputError, match=r"got an unexpected keyword argument 'api_kye' \(did you mean 'api_key'\?\)"
    ):
        SyncLmsystemsClient(graph_name="g", api_kye="k")  # type: ignore[call-arg]
    with pytest.raises(InputError, match="'api_kye'"):
        asyncio.run(LmsystemsClient.create(graph_name="g", api_kye="k"))  # type: ignore[call-arg]
    with pytest.raises(TypeError):  # also a TypeError, as Python's own would be
        LmsystemsClient(graph_name="g", api_kye="k")  # type: ignore[call-arg]


def test_the_enums_have_the_spec_s_values() -> None:
    """The spec's Literals are the one source: our string enums list the same values."""
    from typing import get_args

    from lmsystems import (
        MultitaskStrategy,
        MultitaskStrategyName,
        StreamMode,
        StreamModeName,
        ThreadStatus,
        ThreadStatusName,
    )

    for enum, literal in (
        (StreamMode, StreamModeName),
        (MultitaskStrategy, MultitaskStrategyName),
        (ThreadStatus, ThreadStatusName),
    ):
        assert sorted(member.value for member in enum) == sorted(get_args(literal))


def test_part_text_and_stream_text_read_chat_tokens() -> None:
    from lmsystems import StreamPart
    from lmsystems._text import TokenText

    chunk = {"type": "AIMessageChunk", "content": "Hel", "id": "m1"}
    assert StreamPart("messages", [chunk, {}]).text == "Hel"
    assert StreamPart("messages", [{"type": "human", "content": "x"}, {}]).text is None
    assert StreamPart("values", {"messages": []}).text is None
    blocks = {"type": "AIMessageChunk", "content": [{"type": "text", "text": "a"}, {"type": "tool_use"}]}
    assert StreamPart("messages|sub:1", [blocks, {}]).text == "a"
    tokens = TokenText()
    partial = [{"type": "ai", "id": "m1", "content": "Hel"}]
    assert tokens.feed("messages/partial", partial) == "Hel"
    assert tokens.feed("messages/partial", [{"type": "ai", "id": "m1", "content": "Hello"}]) == "lo"
    assert tokens.feed("messages/metadata", {"m1": {}}) == ""


@pytest.mark.parametrize("mode", ["messages-tuple", "messages"])
def test_stream_text_against_the_real_chat_graph(marketplace: Any, mode: str) -> None:
    with SyncLmsystemsClient("chat-graph", api_key=marketplace.user_key, base_url=marketplace.url) as client:
        chat = {"messages": [{"role": "user", "content": "tokens please"}]}
        pieces = list(client.stream_run(None, chat, stream_mode=mode).text())  # type: ignore[arg-type]
    assert len(pieces) > 3  # token by token, not one block
    assert "".join(pieces) == "[marketplace] Hello from the chat graph! You said: tokens please"


def test_a_batch_run_with_an_unknown_option_names_it() -> None:
    async def attempt() -> None:
        client = LmsystemsClient("agent", deployment_url=URL, max_retries=0)
        try:
            await client.runs.create_batch([{"input": {}}, {"input": {}, "stream_modes": ["values"]}])
        finally:
            await client.aclose()

    with pytest.raises(
        InputError, match=r"runs\[1\] has an unknown run option 'stream_modes' \(did you mean"
    ):
        asyncio.run(attempt())


def test_each_event_becomes_its_kind_of_part_and_stays_a_stream_part() -> None:
    import pickle

    from lmsystems import (
        MessagesPart,
        MetadataPart,
        StreamPart,
        SubgraphCustomPart,
        SubgraphMessagesListPart,
        SubgraphMessagesMetadataPart,
        SubgraphMessagesPart,
        SubgraphObjectPart,
        SubgraphUpdatesPart,
        SubgraphValuesPart,
        UpdatesPart,
        ValuesPart,
    )
    from lmsystems._stream_parts import StreamProgress

    progress = StreamProgress(thread_id="t1")
    chunk = '[{"type": "AIMessageChunk", "content": "Hi"}, {"langgraph_node": "model"}]'
    messages = progress.part("messages", chunk, "1-0")
    assert type(messages) is MessagesPart and isinstance(messages, StreamPart)
    assert messages.data[0]["content"] == "Hi" and messages.text == "Hi"
    assert messages == StreamPart("messages", list(messages.data), "1-0")  # still a plain tuple
    assert repr(messages).startswith("StreamPart(event='messages', data=[{")
    assert pickle.loads(pickle.dumps(messages)) == messages
    assert type(pickle.loads(pickle.dumps(messages))) is MessagesPart
    assert type(progress.part("metadata", '{"run_id": "r1"}', None)) is MetadataPart
    assert progress.run_id == "r1"
    assert type(progress.part("values", '{"a": 1}', None)) is ValuesPart
    assert type(progress.part("updates", '{"node": null}', None)) is UpdatesPart
    assert messages.mode == "messages" and messages.namespace == ()
    # A subgraph's event: a kind of its own, by its mode; the wire name stays the event.
    namespaced = progress.part("updates|sub:1|inner:2", '{"node": {}}', "2-0")
    assert type(namespaced) is SubgraphUpdatesPart and namespaced.data == {"node": {}}
    assert namespaced.event == "updates|sub:1|inner:2" and namespaced.id == "2-0"
    assert namespaced.mode == "updates" and namespaced.namespace == ("sub:1", "inner:2")
    assert namespaced == StreamPart("updates|sub:1|inner:2", {"node": {}}, "2-0")
    assert type(pickle.loads(pickle.dumps(namespaced))) is SubgraphUpdatesPart
    assert repr(namespaced).startswith("StreamPart(event='updates|sub:1|inner:2'")
    chunk_part = progress.part("messages|sub:1", chunk, None)
    assert type(chunk_part) is SubgraphMessagesPart and chunk_part.text == "Hi"
    kinds = {
        "messages/partial|s:1": SubgraphMessagesListPart,
        "messages/metadata|s:1": SubgraphMessagesMetadataPart,
        "values|s:1": SubgraphValuesPart,
        "custom|s:1": SubgraphCustomPart,
        "tasks|s:1": SubgraphObjectPart,
    }
    for event, kind in kinds.items():
        part = progress.part(event, "{}", None)
        assert type(part) is kind and part.mode == event.split("|")[0] and part.namespace == ("s:1",)
    assert type(progress.part("unknown-event", "1", None)) is StreamPart
    assert type(progress.part("unknown|s:1", "1", None)) is StreamPart
