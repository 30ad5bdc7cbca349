"""Ids are data, never paths: whatever an id contains, the request goes to the resource it names.

An id with `../`, `?`, `#`, `/`, spaces, CR/LF, percent signs or unicode is quoted into one path segment,
so it can neither walk to another endpoint, nor add a query, nor cut the path with a fragment. Checked on
the wire (`support.bad_server` records the raw request-target) and against the real Agent Server.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import pytest
from support.bad_server import RecordedRequest, Reply, json_reply, start_bad_server

from lmsystems import (
    InputError,
    LmsystemsClient,
    LmsystemsError,
    NotFoundError,
    SyncLmsystemsClient,
)

ASSISTANT = "asst"
#: Ids that would change the request's target if they were put into the path unquoted.
WEIRD_IDS = [
    "../../assistants",
    "../../assistants/search",
    "..%2F..%2Fassistants",
    "%2e%2e",
    "a/b",
    "a?limit=1000",
    "a#fragment",
    "a b",
    "a\r\nx-api-key: stolen",
    "50%",
    "~user;x=1&y=2",
    "back\\slash",
    "ünïcödé-✓-🚀",
    "./x",
    "...",
]
#: Ids that are exactly a dot-segment: RFC 3986 normalisation would remove them from the path.
DOT_IDS = [".", ".."]
#: Characters a quoted path segment may hold.
SEGMENT = re.compile(r"[A-Za-z0-9\-._~%]*")


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    call: Callable[[Any, str], Any]
    #: The path's segments, "{id}" standing for the id.
    segments: tuple[str, ...]
    query: dict[str, list[str]]


OPERATIONS = [
    Operation("threads.get", "GET", lambda c, i: c.threads.get(i), ("threads", "{id}"), {}),
    Operation("threads.delete", "DELETE", lambda c, i: c.threads.delete(i), ("threads", "{id}"), {}),
    Operation(
        "threads.get_state at a checkpoint",
        "GET",
        lambda c, i: c.threads.get_state(i, checkpoint_id=i),
        ("threads", "{id}", "state", "{id}"),
        {},
    ),
    Operation("runs.get", "GET", lambda c, i: c.runs.get("t1", i), ("threads", "t1", "runs", "{id}"), {}),
    Operation(
        "runs.delete", "DELETE", lambda c, i: c.runs.delete("t1", i), ("threads", "t1", "runs", "{id}"), {}
    ),
    Operation(
        "runs.cancel",
        "POST",
        lambda c, i: c.runs.cancel(i, "r1"),
        ("threads", "{id}", "runs", "r1", "cancel"),
        {"action": ["interrupt"]},
    ),
    Operation("assistants.get", "GET", lambda c, i: c.assistants.get(i), ("assistants", "{id}"), {}),
    Operation("crons.delete", "DELETE", lambda c, i: c.crons.delete(i), ("runs", "crons", "{id}"), {}),
]


def _answer(request: RecordedRequest) -> Reply:
    if request.target == f"/assistants/{ASSISTANT}":
        return json_reply(200, {"assistant_id": ASSISTANT})
    return json_reply(200, {"ok": True})


def _recorded(flavour: str, url: str, call: Callable[[Any], Any]) -> LmsystemsError | None:
    """Make the call on a fresh client; return the LmsystemsError it raised, if any."""
    options = {"deployment_url": url, "deployment_key": "lms_paths_deployment_key", "max_retries": 0}
    try:
        if flavour == "sync":
            with SyncLmsystemsClient(ASSISTANT, **options) as client:
                call(client)
        else:

            async def run() -> None:
                async with LmsystemsClient(ASSISTANT, **options) as client:
                    result = call(client)
                    if inspect.isawaitable(result):
                        await result

            asyncio.run(run())
    except LmsystemsError as error:
        return error
    return None


def _problems(
    operation: Operation, value: str, error: LmsystemsError | None, sent: list[RecordedRequest]
) -> list[str]:
    """What is wrong with the requests `operation` sent for the id `value` (empty: all is well)."""
    label = f"{operation.name}({value!r})"
    if isinstance(error, InputError) and not sent:
        return []  # refusing the id before any request is fine too
    if error is not None:
        return [f"{label} raised {type(error).__name__}: {error}"]
    if len(sent) != 1:
        return [f"{label} sent {len(sent)} requests: {[r.target for r in sent]}"]
    request = sent[0]
    raw = request.path.split("/")[1:]
    expected = [value if part == "{id}" else part for part in operation.segments]
    problems = []
    if request.method != operation.method:
        problems.append(f"{label} sent {request.method}, not {operation.method}")
    if [unquote(part) for part in raw] != expected:
        problems.append(f"{label} went to {request.target!r}, not to the segments {expected}")
    if not all(SEGMENT.fullmatch(part) for part in raw):
        problems.append(f"{label}: unquoted characters in {request.target!r}")
    if parse_qs(request.query, keep_blank_values=True) != operation.query:
        problems.append(f"{label}: the query became {request.query!r}")
    return problems


def _check_ids(flavour: str, values: list[str]) -> None:
    problems: list[str] = []
    with start_bad_server(_answer) as server:
        for value in values:
            for operation in OPERATIONS:
                before = len(server.requests)
                error = _recorded(flavour, server.url, lambda client, o=operation, v=value: o.call(client, v))
                sent = [r for r in server.requests[before:] if r.target != f"/assistants/{ASSISTANT}"]
                problems += _problems(operation, value, error, sent)
    assert not problems, "ids changed the request's target:\n" + "\n".join(problems)


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("value", WEIRD_IDS)
def test_an_id_is_one_quoted_path_segment(value: str, flavour: str) -> None:
    _check_ids(flavour, [value])


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("value", DOT_IDS)
def test_a_dot_segment_id_cannot_walk_up_the_path(value: str, flavour: str) -> None:
    """`.` and `..` are not changed by quoting; sent as they are, URL normalisation removes them, and
    `runs.delete(thread, "..")` would become `DELETE /threads/<thread>`. Refuse them or encode them."""
    _check_ids(flavour, [value])


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_query_values_cannot_add_parameters(flavour: str) -> None:
    tricky = "cp-1&limit=1000#frag"
    with start_bad_server(_answer) as server:
        error = _recorded(flavour, server.url, lambda client: client.get_state_history("t1", before=tricky))
        assert error is None
        error = _recorded(flavour, server.url, lambda client: client.store.get_item(["users"], tricky))
        assert error is None
        history, item = [r for r in server.requests if r.target != f"/assistants/{ASSISTANT}"]
    assert history.path == "/threads/t1/history"
    assert parse_qs(history.query) == {"limit": ["10"], "before": [tricky]}
    assert history.path == "/threads/t1/history"
    assert item.path == "/store/items"
    assert parse_qs(item.query) == {"key": [tricky], "namespace": ["users"]}


# -------------------------------------------------------------------------- the real Agent Server


@pytest.fixture
def real_client(agent_server: Any) -> Any:
    with SyncLmsystemsClient(
        "chat", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key, max_retries=0
    ) as client:
        yield client


def test_a_traversal_id_is_a_missing_thread_not_an_assistant_search(real_client: Any) -> None:
    with pytest.raises((NotFoundError, InputError)) as info:
        real_client.threads.get("../../assistants")
    assert type(info.value).__module__ == "lmsystems._exceptions"
    assert info.value.status_code in (404, 422)
    assert f"/threads/{quote('../../assistants', safe='')}" in str(info.value)
    with pytest.raises((NotFoundError, InputError)):
        real_client.threads.get("../../assistants/search")
    assert real_client.assistants.search(limit=1), "the server does have assistants: the ids hid them"


@pytest.mark.parametrize("value", WEIRD_IDS)
def test_the_real_server_sees_the_literal_id(real_client: Any, value: str) -> None:
    with pytest.raises((NotFoundError, InputError)) as info:
        real_client.threads.get(value)
    assert info.value.status_code in (404, 422, None)


def test_a_dot_dot_run_id_does_not_reach_the_thread(real_client: Any) -> None:
    """`runs.get(thread, "..")` must not return the thread, and `runs.delete(thread, "..")` must not delete
    it (unquoted, both requests normalise to `/threads/<thread>`)."""
    thread = real_client.create_thread(metadata={"test": "dot-dot"})
    thread_id = thread["thread_id"]
    outcomes: dict[str, Any] = {}
    for name, call in {
        "runs.get": lambda: real_client.runs.get(thread_id, ".."),
        "runs.delete": lambda: real_client.runs.delete(thread_id, ".."),
    }.items():
        try:
            outcomes[name] = call()
        except (NotFoundError, InputError) as error:
            outcomes[name] = error
    still_there = real_client.threads.search(ids=[thread_id])
    assert still_there, f"runs.delete({thread_id!r}, '..') deleted the thread (outcomes: {outcomes})"
    assert all(isinstance(value, LmsystemsError) for value in outcomes.values()), outcomes
