"""The documentation pages (docs/**/*.md) say only what exists.

- Every python code block compiles (top-level `await` allowed, as in a notebook or `python -m asyncio`).
- Every `lmsystems` name a code block imports (or reads as `lmsystems.X`) exists.
- The migration tables name real calls on both sides: in *From langgraph-sdk*, the left column is
  resolved against langgraph-sdk and the others against lmsystems; in *From lmsystems 1.0.8*, every
  column against lmsystems (the old calls keep working). `client.` is an async client there,
  `sync_client.` a sync one, and every keyword argument a call shows must be a parameter of it.

The docs build itself (`mkdocs build --strict`: links, anchors, cross-references) is `nox -s docs`.
No server is needed.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import lmsystems

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
PYTHON_INFOS = {"python", "py", "python3", "pycon"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(DOCS.parent)}:{self.line}"


def code_blocks(page: Path) -> Iterator[Block]:
    """The python code blocks of a page (fenced with ```python or ```py), dedented."""
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        language = opening["info"].strip().split(" ")[0].lower()
        body: list[str] = []
        index += 1
        while index < len(lines) and not (
            lines[index].strip().startswith(fence) and lines[index].strip().strip(fence[0]) == ""
        ):
            body.append(lines[index][len(indent) :] if lines[index].startswith(indent) else lines[index])
            index += 1
        if language in PYTHON_INFOS:
            yield Block(page, index - len(body), textwrap.dedent("\n".join(body)))
        index += 1


BLOCKS = [block for page in PAGES for block in code_blocks(page)]


def test_the_docs_have_python_blocks() -> None:
    assert PAGES, f"no pages under {DOCS}"
    assert len(BLOCKS) >= 10, [block.where for block in BLOCKS]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_code_block_compiles(block: Block) -> None:
    try:
        compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as error:
        pytest.fail(f"{block.where}: the code block does not compile: {error}")


def lmsystems_names(tree: ast.AST) -> Iterator[tuple[str, str | None]]:
    """(module, name) for each `from lmsystems... import name`, `import lmsystems...`, `lmsystems.name`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lmsystems" or node.module.startswith("lmsystems."):
                for alias in node.names:
                    yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lmsystems" or alias.name.startswith("lmsystems."):
                    yield alias.name, None
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "lmsystems"
        ):
            yield "lmsystems", node.attr


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_imported_lmsystems_names_exist(block: Block) -> None:
    tree = ast.parse(block.code, block.where)  # compiles: see above (top-level await parses as well)
    for module_name, name in lmsystems_names(tree):
        module = importlib.import_module(module_name)
        if name is not None and name != "*":
            assert hasattr(module, name), f"{block.where}: {module_name} has no {name!r}"


# ------------------------------------------------------------------------------- the migration tables

CODE_SPAN = re.compile(r"`([^`]+)`")
#: A call or a dotted name, e.g. `await client.runs.stream(...)`, `LmsystemsClient(...)`, `errors.X`.
NAME_LIKE = re.compile(r"(?:await\s+)?(?P<name>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?P<call>\(.*\))?", re.DOTALL)


def section(page: Path, heading: str) -> str:
    text = page.read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every markdown table in the text, as lists of cells."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        if re.match(r"^\|[\s:|-]+\|$", line):
            continue
        if index + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[index + 1]):
            continue  # a header row
        rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def names_in(cell: str) -> Iterator[tuple[str, ast.Call | None]]:
    """The dotted names a table cell shows in code spans, each with its call when it is called."""
    for span in CODE_SPAN.findall(cell):
        found = NAME_LIKE.fullmatch(span.strip())
        if found is None:
            continue
        name = found["name"]
        if name.isupper() and not found["call"]:
            continue  # a constant or an environment variable, e.g. `LMSYSTEMS_API_KEY`
        if found["call"]:
            expression = span.strip().removeprefix("await").strip()
            call = ast.parse(expression, mode="eval").body
            assert isinstance(call, ast.Call), span
            yield name, call
        elif "." in name or name[0].isupper():
            yield name, None


def check_keywords(name: str, call: ast.Call | None, value: Any) -> None:
    """Every keyword argument the call shows is a parameter of what it calls (unless that takes **kwargs)."""
    if call is None:
        return
    parameters = inspect.signature(value).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    for keyword in call.keywords:
        assert keyword.arg in parameters, f"{name}() takes no {keyword.arg}= (it takes {list(parameters)})"


def resolve(name: str, namespace: dict[str, Any]) -> Any:
    head, *rest = name.split(".")
    if head in namespace:
        value = namespace[head]
    elif head in namespace.get("__all__", ()):
        value = getattr(namespace["__module__"], head)  # a public name, imported only when named
    elif hasattr(builtins, head):
        value = getattr(builtins, head)
    else:
        pytest.fail(f"{name!r}: {head!r} is not known on this side")
    for part in rest:
        assert hasattr(value, part), f"{name!r}: {value!r} has no {part!r}"
        value = getattr(value, part)
    return value


@pytest.fixture(scope="module")
def ours() -> Iterator[dict[str, Any]]:
    def assistant(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"assistant_id": "agent", "graph_id": "agent"})

    client = lmsystems.LmsystemsClient(graph_name="agent", deployment_url="http://127.0.0.1:9")
    sync_client = lmsystems.SyncLmsystemsClient(
        graph_name="agent", deployment_url="http://127.0.0.1:9", transport=httpx.MockTransport(assistant)
    )
    namespace: dict[str, Any] = {"__module__": lmsystems, "__all__": lmsystems.__all__}
    namespace.update(client=client, sync_client=sync_client, lmsystems=lmsystems, httpx=httpx)
    namespace["Config"] = importlib.import_module("lmsystems.config").Config  # 1.0.8's module path
    try:
        yield namespace
    finally:
        sync_client.close()
        asyncio.run(client.aclose())


@pytest.fixture(scope="module")
def peer() -> Iterator[dict[str, Any]]:
    langgraph_sdk = importlib.import_module("langgraph_sdk")  # installed with langgraph (the test extra)
    schema = importlib.import_module("langgraph_sdk.schema")
    client = langgraph_sdk.get_client(url="http://127.0.0.1:9", api_key=None)
    sync_client = langgraph_sdk.get_sync_client(url="http://127.0.0.1:9", api_key=None)
    namespace: dict[str, Any] = {
        "langgraph_sdk": langgraph_sdk,
        "get_client": langgraph_sdk.get_client,
        "get_sync_client": langgraph_sdk.get_sync_client,
        "Command": schema.Command,
        "httpx": httpx,
        "client": client,
        "sync_client": sync_client,
    }
    try:
        yield namespace
    finally:
        sync_client.close()
        asyncio.run(client.aclose())


def test_migration_from_langgraph_sdk_names_exist_on_both_sides(
    peer: dict[str, Any], ours: dict[str, Any]
) -> None:
    rows = table_rows(section(DOCS / "migration.md", "From langgraph-sdk"))
    assert len(rows) >= 20
    checked = 0
    for row in rows:
        theirs, mine = row[0], " ".join(row[1:])
        for name, call in names_in(theirs):
            check_keywords(name, call, resolve(name, peer))
            checked += 1
        for name, call in names_in(mine):
            check_keywords(name, call, resolve(name, ours))
            checked += 1
    assert checked >= 60


def test_migration_from_1_0_8_calls_exist(ours: dict[str, Any]) -> None:
    """What the table says we have exists: the "today" and note columns always, and the 1.0.8 call too
    where the row says it stays "the same" (a row about something 1.0.8 had and we do not is not checked
    against our side)."""
    rows = table_rows(section(DOCS / "migration.md", "From lmsystems 1.0.8"))
    assert len(rows) >= 10
    checked = 0
    for row in rows:
        cells = row if row[1] == "the same" else row[1:]
        for name, call in names_in(" ".join(cells)):
            check_keywords(name, call, resolve(name, ours))
            checked += 1
    assert checked >= 10
