"""Every operation of openapi/agent-server.yaml is performed by some facade method, async and sync alike."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import lmsystems_generated
import pytest

from lmsystems import LmsystemsClient, SyncLmsystemsClient

MANIFEST = json.loads((Path(lmsystems_generated.__file__).parent / "manifest.json").read_text())
OPERATIONS = [op["operation_id"] for op in MANIFEST["specs"]["agent-server"]["operations"]]
RESOURCES = ("threads", "runs", "assistants", "store", "crons")


def covered_operations(client_class: type) -> dict[str, list[str]]:
    """operationId -> the facade methods that perform it (read from their @operation marks)."""
    classes = {"client": client_class, **{name: _resource_class(client_class, name) for name in RESOURCES}}
    found: dict[str, list[str]] = {}
    for owner, cls in classes.items():
        for attribute, member in inspect.getmembers(cls, callable):
            for operation in getattr(member, "__lmsystems_operations__", ()):
                found.setdefault(operation, []).append(f"{owner}.{attribute}")
    return found


def _resource_class(client_class: type, name: str) -> type:
    """The class of a facade's resource attribute (e.g. AsyncThreads for LmsystemsClient.threads)."""
    prefix, package = (
        ("Async", "lmsystems._async") if client_class is LmsystemsClient else ("Sync", "lmsystems._sync")
    )
    return getattr(importlib.import_module(f"{package}._{name}"), f"{prefix}{name.capitalize()}")


@pytest.mark.parametrize("client_class", [LmsystemsClient, SyncLmsystemsClient], ids=["async", "sync"])
def test_every_spec_operation_has_a_facade_method(client_class: type) -> None:
    covered = covered_operations(client_class)
    missing = [operation for operation in OPERATIONS if operation not in covered]
    assert not missing, f"no {client_class.__name__} method performs: {missing}"
    unknown = sorted(set(covered) - set(OPERATIONS))
    assert not unknown, f"methods claim operations the spec lacks: {unknown}"


def test_sync_and_async_facades_have_the_same_methods() -> None:
    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    renamed = {"aclose": "close"}
    assert {renamed.get(n, n) for n in public(LmsystemsClient)} == public(SyncLmsystemsClient)
    for name in RESOURCES:
        async_cls, sync_cls = (
            _resource_class(LmsystemsClient, name),
            _resource_class(SyncLmsystemsClient, name),
        )
        assert public(async_cls) == public(sync_cls), name
