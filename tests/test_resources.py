"""The resources beyond the documented methods -- threads, assistants, store, crons -- async AND sync.

Each scenario is written once and run against both facades: `call(x)` awaits what the async client
returns and passes through what the sync client returns (the sync calls simply block the event loop).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from lmsystems import LmsystemsClient, NotFoundError, StreamPart, SyncLmsystemsClient, ThreadStatus

FACADES = ["async", "sync"]
APPROVAL_INPUT = {"messages": [{"role": "user", "content": "archive the logs"}]}


async def call(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@asynccontextmanager
async def open_client(facade: str, marketplace: Any, graph_name: str) -> AsyncIterator[Any]:
    options = {"graph_name": graph_name, "api_key": marketplace.user_key, "base_url": marketplace.url}
    if facade == "async":
        client = await LmsystemsClient.create(**options)
        try:
            yield client
        finally:
            await client.aclose()
    else:
        with SyncLmsystemsClient(**options) as sync_client:
            yield sync_client


def tag() -> str:
    return f"suite-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------------------------------- threads


@pytest.mark.parametrize("facade", FACADES)
def test_threads(marketplace: Any, facade: str) -> None:
    async def scenario() -> None:
        label = tag()
        async with open_client(facade, marketplace, "approval-graph") as client:
            threads = client.threads
            thread = await call(threads.create(metadata={"suite": label, "kind": "main"}))
            thread_id = thread["thread_id"]
            assert thread["metadata"] == {"suite": label, "kind": "main"}
            assert thread["status"] == "idle"
            got = await call(threads.get(thread))
            assert got["thread_id"] == thread_id and got["metadata"]["suite"] == label
            assert (await call(threads.get(thread_id)))["thread_id"] == thread_id  # an id works too
            updated = await call(threads.update(thread, metadata={"extra": 1}))
            assert updated["metadata"] == {"suite": label, "kind": "main", "extra": 1}
            other = await call(threads.create(metadata={"suite": label, "kind": "other"}))
            found = await call(threads.search(metadata={"suite": label}))
            assert {t["thread_id"] for t in found} == {thread_id, other["thread_id"]}
            only_main = await call(threads.search(metadata={"suite": label, "kind": "main"}, limit=5))
            assert [t["thread_id"] for t in only_main] == [thread_id]
            assert await call(threads.count(metadata={"suite": label})) == 2
            assert await call(threads.count(metadata={"suite": label}, status=ThreadStatus.IDLE)) == 2
            assert [t["thread_id"] for t in await call(threads.search(ids=[other["thread_id"]]))] == [
                other["thread_id"]
            ]
            same = await call(threads.create(thread_id=thread_id, if_exists="do_nothing"))
            assert same["thread_id"] == thread_id

            # a run up to the interrupt gives the thread a history: steps -1 (input), 0, 1
            await call(client.runs.wait(thread, APPROVAL_INPUT))
            assert await call(threads.count(metadata={"suite": label}, status="interrupted")) == 1
            state = await call(client.get_thread_state(thread))
            assert state["values"]["proposal"] == "archive the logs"
            assert state["next"] == ["human_interaction"]

            history = await call(client.get_state_history(thread, limit=10))  # GET /history
            assert [h["metadata"]["step"] for h in history] == [1, 0, -1]
            older = await call(threads.get_history(thread, before=history[0]["checkpoint_id"], limit=10))
            assert [h["metadata"]["step"] for h in older] == [0, -1]  # GET with before
            loop = await call(client.get_state_history(thread, filter={"source": "loop"}, limit=10))  # POST
            assert [h["metadata"]["step"] for h in loop] == [1, 0]
            one = await call(threads.get_history(thread, filter={"step": 0}, limit=10))
            assert [h["checkpoint_id"] for h in one] == [history[1]["checkpoint_id"]]
            limited = await call(threads.get_history(thread, checkpoint={"checkpoint_ns": ""}, limit=1))
            assert [h["checkpoint_id"] for h in limited] == [history[0]["checkpoint_id"]]

            at_id = await call(client.get_thread_state(thread, checkpoint_id=history[1]["checkpoint_id"]))
            assert at_id["checkpoint_id"] == history[1]["checkpoint_id"]
            assert at_id["next"] == ["draft"] and at_id["metadata"]["step"] == 0
            at_config = await call(threads.get_state(thread, checkpoint=history[2]["checkpoint"]))
            assert at_config["checkpoint_id"] == history[2]["checkpoint_id"]
            assert at_config["next"] == ["__start__"] and at_config["metadata"]["step"] == -1

            copied = await call(threads.copy(thread))
            assert copied["thread_id"] != thread_id
            copied_state = await call(client.get_thread_state(copied))
            assert copied_state["values"] == state["values"] and copied_state["next"] == state["next"]
            assert len(await call(client.get_state_history(copied, limit=10))) == 3

            assert await call(threads.prune([copied], strategy="delete")) == 1
            with pytest.raises(NotFoundError):
                await call(threads.get(copied))
            await call(threads.delete(other))
            await call(threads.delete(thread_id))
            with pytest.raises(NotFoundError):
                await call(threads.get(thread))
            assert await call(threads.count(metadata={"suite": label})) == 0

    run(scenario())


@pytest.mark.parametrize("facade", FACADES)
def test_thread_history_search_before_a_checkpoint(marketplace: Any, facade: str) -> None:
    """`get_state_history(..., before=...)` with a filter or a checkpoint dict (POST /history) pages back
    like the GET path does with a checkpoint id."""

    async def scenario() -> dict[str, Any]:
        async with open_client(facade, marketplace, "approval-graph") as client:
            thread = await call(client.create_thread())
            await call(client.runs.wait(thread, APPROVAL_INPUT))
            history = await call(client.get_state_history(thread, limit=10))
            newest = history[0]["checkpoint_id"]
            attempts = {
                "id-and-filter": lambda: client.get_state_history(
                    thread, filter={"source": "loop"}, before=newest
                ),
                "checkpoint-dict": lambda: client.get_state_history(thread, before=history[0]["checkpoint"]),
            }
            outcome: dict[str, Any] = {}
            for name, attempt in attempts.items():
                try:
                    outcome[name] = [h["metadata"]["step"] for h in await call(attempt())]
                except Exception as error:
                    outcome[name] = f"{type(error).__name__}: {error}"
            return outcome

    assert run(scenario()) == {"id-and-filter": [0], "checkpoint-dict": [0, -1]}


MODES = ["values", "custom"]


@pytest.mark.parametrize("facade", FACADES)
def test_thread_join_stream_follows_a_run(marketplace: Any, facade: str) -> None:
    async def scenario() -> list[StreamPart]:
        async with open_client(facade, marketplace, "slow-graph") as client:
            thread = await call(client.create_thread())
            joined = client.threads.join_stream(thread, stream_modes=["lifecycle", "run_modes"])
            seen: list[StreamPart] = []
            started = threading.Event()

            def follow_sync() -> None:
                started.set()
                for part in joined:
                    seen.append(part)
                    if part.event == "metadata" and part.data.get("status") == "run_done":
                        break
                joined.close()

            async def follow_async() -> None:
                started.set()
                async for part in joined:
                    seen.append(part)
                    if part.event == "metadata" and part.data.get("status") == "run_done":
                        break
                await joined.aclose()

            if facade == "async":
                follower = asyncio.create_task(follow_async())
                await asyncio.sleep(0.3)
                created = await client.runs.create(thread, {"seconds": 0.1, "steps": 2}, stream_mode=MODES)
                await asyncio.wait_for(follower, 20)
            else:
                worker = threading.Thread(target=follow_sync, daemon=True)
                worker.start()
                started.wait(5)
                await asyncio.sleep(0.3)
                created = client.runs.create(thread, {"seconds": 0.1, "steps": 2}, stream_mode=MODES)
                worker.join(20)
                assert not worker.is_alive(), "join_stream did not follow the run"
            assert joined.thread_id == thread["thread_id"]
            assert created["run_id"] in {p.data.get("run_id") for p in seen if p.event == "metadata"}
            return seen

    seen = run(scenario())
    assert seen[-1].event == "metadata" and seen[-1].data["status"] == "run_done"
    assert [p.data for p in seen if p.event == "custom"] == [{"step": 1, "steps": 2}, {"step": 2, "steps": 2}]
    assert [p.data.get("completed") for p in seen if p.event == "values"][-1] == 2


# ---------------------------------------------------------------------------------------- assistants


@pytest.mark.parametrize("facade", FACADES)
def test_assistants(marketplace: Any, facade: str) -> None:
    async def scenario() -> None:
        label = tag()
        async with open_client(facade, marketplace, "subgraphs-graph") as client:
            assistants = client.assistants
            created = await call(
                assistants.create(
                    "subgraphs",
                    config={"configurable": {"flavour": "one"}},
                    metadata={"suite": label},
                    name=f"{label}-v1",
                    description="first",
                )
            )
            assistant_id = created["assistant_id"]
            assert created["version"] == 1 and created["graph_id"] == "subgraphs"
            got = await call(assistants.get(assistant_id))
            assert got["name"] == f"{label}-v1" and got["config"]["configurable"]["flavour"] == "one"

            changed = await call(
                assistants.update(assistant_id, metadata={"suite": label, "v": 2}, name=f"{label}-v2")
            )
            assert changed["version"] == 2 and changed["name"] == f"{label}-v2"
            versions = await call(assistants.get_versions(assistant_id))
            assert [v["version"] for v in versions] == [2, 1]
            latest = await call(assistants.set_latest(assistant_id, 1))
            assert latest["version"] == 1 and latest["name"] == f"{label}-v1"
            assert (await call(assistants.get(assistant_id)))["name"] == f"{label}-v1"

            found = await call(assistants.search(metadata={"suite": label}))
            assert [a["assistant_id"] for a in found] == [assistant_id]
            named = await call(
                assistants.search(graph_id="subgraphs", select=["assistant_id", "name"], limit=50)
            )
            assert assistant_id in {a["assistant_id"] for a in named}
            assert await call(assistants.count(metadata={"suite": label})) == 1
            assert await call(assistants.count(graph_id="subgraphs")) >= 2  # ours and the graph's own

            drawing = await call(assistants.get_graph(assistant_id))
            assert [n["id"] for n in drawing["nodes"]] == [
                "__start__",
                "prepare",
                "child",
                "finish",
                "__end__",
            ]
            xray = await call(assistants.get_graph(assistant_id, xray=True))
            assert {"child:child_step_one", "child:child_step_two"} <= {n["id"] for n in xray["nodes"]}
            schemas = await call(assistants.get_schemas(assistant_id))
            assert schemas["graph_id"] == "subgraphs"
            assert "trail" in schemas["state_schema"]["properties"]
            subgraphs = await call(assistants.get_subgraphs(assistant_id))
            assert set(subgraphs) == {"child"}
            assert set(await call(assistants.get_subgraphs(assistant_id, namespace="child"))) == {"child"}
            assert await call(assistants.get_subgraphs(assistant_id, namespace="elsewhere")) == {}
            assert set(await call(assistants.get_subgraphs(assistant_id, recurse=True))) == {"child"}

            # a run with this assistant uses its graph
            values = await call(client.runs.wait(None, {"topic": "x"}, assistant_id=assistant_id))
            assert values["topic"] == "x" and values["trail"][-3:] == [
                "child_step_one",
                "child_step_two",
                "finish",
            ]

            await call(assistants.delete(assistant_id))
            with pytest.raises(NotFoundError):
                await call(assistants.get(assistant_id))
            assert await call(assistants.count(metadata={"suite": label})) == 0

    run(scenario())


# --------------------------------------------------------------------------------------------- store


@pytest.mark.parametrize("facade", FACADES)
def test_store(marketplace: Any, facade: str) -> None:
    async def scenario() -> None:
        root = tag()
        async with open_client(facade, marketplace, "chat-graph") as client:
            store = client.store
            users = [root, "users"]
            await call(store.put_item(users, "ada", {"name": "Ada", "lang": "en"}))
            await call(store.put_item(users, "bo", {"name": "Bo", "lang": "sv"}, index=False))
            await call(store.put_item([root, "teams", "core"], "t1", {"size": 3}))

            item = await call(store.get_item(users, "ada"))
            assert item is not None
            assert item["value"] == {"name": "Ada", "lang": "en"}
            assert item["key"] == "ada" and item["namespace"] == users
            assert await call(store.get_item(users, "nobody")) is None
            assert await call(store.get_item([tag(), "users"], "ada")) is None  # (a read makes a namespace)

            await call(store.put_item(users, "ada", {"name": "Ada L.", "lang": "en"}))  # replace
            assert (await call(store.get_item(users, "ada")))["value"]["name"] == "Ada L."

            everyone = await call(store.search_items(users))
            assert sorted(i["key"] for i in everyone) == ["ada", "bo"]
            swedes = await call(store.search_items([root], filter={"lang": "sv"}))
            assert [i["key"] for i in swedes] == ["bo"]
            page = await call(store.search_items([root], limit=1, offset=1))
            assert len(page) == 1

            spaces = await call(store.list_namespaces(prefix=[root]))
            assert sorted(spaces) == [[root, "teams", "core"], [root, "users"]]
            assert sorted(await call(store.list_namespaces(prefix=[root], max_depth=2))) == [
                [root, "teams"],
                [root, "users"],
            ]
            assert await call(store.list_namespaces(prefix=[root], suffix=["core"])) == [
                [root, "teams", "core"]
            ]

            await call(store.delete_item(users, "bo"))
            assert await call(store.get_item(users, "bo")) is None
            assert [i["key"] for i in await call(store.search_items(users))] == ["ada"]
            await call(store.delete_item(users, "ada"))
            await call(store.delete_item([root, "teams", "core"], "t1"))
            assert await call(store.search_items([root])) == []

    run(scenario())


# --------------------------------------------------------------------------------------------- crons

FAR_AWAY = "0 0 1 1 *"  # once a year: never fires during the tests


@pytest.mark.parametrize("facade", FACADES)
def test_crons(marketplace: Any, facade: str) -> None:
    async def scenario() -> None:
        label = tag()
        async with open_client(facade, marketplace, "chat-graph") as client:
            crons = client.crons
            thread = await call(client.create_thread())
            on_thread = await call(
                crons.create(
                    FAR_AWAY,
                    thread=thread,
                    input={"messages": [{"role": "user", "content": "cron"}]},
                    metadata={"suite": label, "kind": "thread"},
                    multitask_strategy="enqueue",
                )
            )
            stateless = await call(
                crons.create(
                    FAR_AWAY,
                    input={"messages": [{"role": "user", "content": "cron"}]},
                    metadata={"suite": label, "kind": "stateless"},
                    on_run_completed="keep",
                )
            )
            assert on_thread["thread_id"] == thread["thread_id"]
            assert stateless.get("thread_id") is None
            assert on_thread["schedule"] == FAR_AWAY and on_thread["next_run_date"]
            # the deployment's default configurable goes with every scheduled run
            assert on_thread["payload"]["config"]["configurable"]["persona"] == "marketplace"

            found = await call(crons.search(metadata={"suite": label}))
            assert {c["cron_id"] for c in found} == {on_thread["cron_id"], stateless["cron_id"]}
            by_thread = await call(crons.search(thread=thread))
            assert [c["cron_id"] for c in by_thread] == [on_thread["cron_id"]]
            assert await call(crons.count(metadata={"suite": label})) == 2
            assert await call(crons.count(thread=thread)) == 1

            got = await call(crons.get(on_thread["cron_id"]))
            assert got["cron_id"] == on_thread["cron_id"] and got["metadata"]["kind"] == "thread"
            changed = await call(crons.update(on_thread["cron_id"], schedule="0 0 2 1 *", enabled=False))
            assert changed["schedule"] == "0 0 2 1 *" and changed["enabled"] is False
            assert (await call(crons.get(on_thread["cron_id"])))["enabled"] is False
            assert [
                c["cron_id"] for c in await call(crons.search(metadata={"suite": label}, enabled=False))
            ] == [on_thread["cron_id"]]

            await call(crons.delete(on_thread["cron_id"]))
            await call(crons.delete(stateless["cron_id"]))
            with pytest.raises(NotFoundError):
                await call(crons.get(on_thread["cron_id"]))
            assert await call(crons.count(metadata={"suite": label})) == 0

    run(scenario())
