"""The store: long-term memory shared across threads, as JSON items under namespaces of labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from .. import _validation as check
from .._answers import field_of
from .._arguments import checked_keywords
from .._exceptions import InputError
from .._operation import operation
from .._requests import build
from ._core import AsyncCore

if TYPE_CHECKING:
    from .._types import StoreItem


@checked_keywords
class AsyncStore:
    """The store of the deployment. A namespace is a list of labels without dots: `["users", "u1"]`."""

    def __init__(self, core: AsyncCore) -> None:
        self._core = core

    @operation("put_store_item")
    async def put_item(
        self,
        namespace: Sequence[str],
        key: str,
        value: dict[str, Any],
        *,
        index: bool | list[str] | None = None,
        ttl: float | None = None,
    ) -> None:
        """Store an item, or replace it (`index=False` skips indexing it; `ttl` is in minutes)."""
        value_checked = check.mapping(value, argument="value")
        if value_checked is None:
            raise InputError("value must be a dict, not None")
        body = check.body(
            namespace=check.namespace(namespace),
            key=check.identifier(key, argument="key"),
            value=value_checked,
            index=check.store_index(index),
            ttl=check.minutes(ttl),
        )
        await self._core.request(build("store.put_store_item", body_model="StorePutRequest", body=body))

    @operation("get_store_item")
    async def get_item(
        self, namespace: Sequence[str], key: str, *, refresh_ttl: bool | None = None
    ) -> StoreItem | None:
        """Get one item, or None when there is none (like LangGraph's `BaseStore.get`).

        `refresh_ttl` says whether reading it restarts its time-to-live.
        """
        spec = build(
            "store.get_store_item",
            key=check.identifier(key, argument="key"),
            namespace=".".join(check.namespace(namespace)) or None,
            refresh_ttl=check.flag(refresh_ttl, argument="refresh_ttl"),
        )
        return cast("StoreItem | None", await self._core.request(spec))

    @operation("delete_store_item")
    async def delete_item(self, namespace: Sequence[str], key: str) -> None:
        """Delete one item."""
        body = {"namespace": check.namespace(namespace), "key": check.identifier(key, argument="key")}
        await self._core.request(build("store.delete_store_item", body_model="StoreDeleteRequest", body=body))

    @operation("search_store_items")
    async def search_items(
        self,
        namespace_prefix: Sequence[str],
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        query: str | None = None,
        refresh_ttl: bool | None = None,
    ) -> list[StoreItem]:
        """Items under a namespace prefix matching `filter` on their values, or a natural-language `query`."""
        body = check.body(
            namespace_prefix=check.namespace(namespace_prefix, argument="namespace_prefix"),
            filter=check.mapping(filter, argument="filter"),
            limit=check.positive_int(limit, argument="limit"),
            offset=check.positive_int(offset, argument="offset", allow_zero=True),
            query=check.identifier(query, argument="query") if query is not None else None,
            refresh_ttl=check.flag(refresh_ttl, argument="refresh_ttl"),
        )
        spec = build("store.search_store_items", body_model="StoreSearchRequest", body=body)
        answer = await self._core.request(spec)
        return cast("list[StoreItem]", field_of(answer, "items", call=spec))

    @operation("list_store_namespaces")
    async def list_namespaces(
        self,
        *,
        prefix: Sequence[str] | None = None,
        suffix: Sequence[str] | None = None,
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[list[str]]:
        """The namespaces in the store, optionally by prefix, suffix and depth (longer ones are cut)."""
        body = check.body(
            prefix=check.namespace(prefix, argument="prefix") if prefix is not None else None,
            suffix=check.namespace(suffix, argument="suffix") if suffix is not None else None,
            max_depth=check.positive_int(max_depth, argument="max_depth") if max_depth is not None else None,
            limit=check.positive_int(limit, argument="limit"),
            offset=check.positive_int(offset, argument="offset", allow_zero=True),
        )
        spec = build("store.list_store_namespaces", body_model="StoreNamespacesRequest", body=body)
        answer = await self._core.request(spec)
        return cast(list[list[str]], field_of(answer, "namespaces", call=spec))
