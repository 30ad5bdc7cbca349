"""Assistants: create, read, change, search, count, delete; their graph, schemas, subgraphs and versions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from .. import _validation as check
from .._arguments import AssistantField, AssistantSortBy, IfExists, SortOrder, checked_keywords
from .._choices import choices
from .._exceptions import InputError
from .._operation import operation
from .._requests import RequestSpec, build
from ._core import AsyncCore

if TYPE_CHECKING:
    from .._types import Assistant, GraphSchemas


@checked_keywords
class AsyncAssistants:
    """Assistants of the deployment: a graph with its own configuration, context and metadata, versioned."""

    def __init__(self, core: AsyncCore) -> None:
        self._core = core

    @operation("create_assistant")
    async def create(
        self,
        graph_id: str,
        *,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        assistant_id: str | None = None,
        if_exists: IfExists | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        """Create an assistant for a graph (`assistant_id` with `if_exists="do_nothing"`: get-or-create)."""
        body = check.body(
            graph_id=check.identifier(graph_id, argument="graph_id"),
            config=check.mapping(config, argument="config"),
            context=check.mapping(context, argument="context"),
            metadata=check.mapping(metadata, argument="metadata"),
            assistant_id=check.assistant_id(assistant_id) if assistant_id is not None else None,
            if_exists=check.choice(
                if_exists, argument="if_exists", choices=choices("AssistantCreate", "if_exists")
            ),
            name=check.text(name, argument="name"),
            description=check.text(description, argument="description"),
        )
        spec = build("assistants.create_assistant", body_model="AssistantCreate", body=body)
        if assistant_id is not None and if_exists == "do_nothing":
            spec = spec.get_or_create()
        return cast("Assistant", await self._core.request(spec))

    @operation("get_assistant")
    async def get(self, assistant_id: str) -> Assistant:
        """Get an assistant, at its latest version."""
        spec = build("assistants.get_assistant", check.assistant_id(assistant_id))
        return cast("Assistant", await self._core.request(spec))

    @operation("patch_assistant")
    async def update(
        self,
        assistant_id: str,
        *,
        graph_id: str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Assistant:
        """Change an assistant: this makes a new version, which becomes its latest."""
        body = check.body(
            graph_id=check.identifier(graph_id, argument="graph_id") if graph_id is not None else None,
            config=check.mapping(config, argument="config"),
            context=check.mapping(context, argument="context"),
            metadata=check.mapping(metadata, argument="metadata"),
            name=check.text(name, argument="name"),
            description=check.text(description, argument="description"),
        )
        spec = build(
            "assistants.patch_assistant",
            check.assistant_id(assistant_id),
            body_model="AssistantPatch",
            body=body,
        )
        return cast("Assistant", await self._core.request(spec))

    @operation("delete_assistant")
    async def delete(self, assistant_id: str, *, delete_threads: bool = False) -> None:
        """Delete an assistant (`delete_threads=True` also deletes the threads its metadata names)."""
        if not isinstance(delete_threads, bool):
            raise InputError(f"delete_threads must be True or False, not {delete_threads!r}")
        spec = build(
            "assistants.delete_assistant",
            check.assistant_id(assistant_id),
            delete_threads=delete_threads or None,
        )
        await self._core.request(spec)

    @operation("search_assistants")
    async def search(
        self,
        *,
        metadata: dict[str, Any] | None = None,
        graph_id: str | None = None,
        name: str | None = None,
        limit: int = 10,
        offset: int = 0,
        sort_by: AssistantSortBy | None = None,
        sort_order: SortOrder | None = None,
        select: Sequence[AssistantField] | None = None,
    ) -> list[Assistant]:
        """Search assistants by metadata, graph or name (`select` keeps only these fields of each)."""
        body = check.body(
            metadata=check.mapping(metadata, argument="metadata"),
            graph_id=check.identifier(graph_id, argument="graph_id") if graph_id is not None else None,
            name=check.text(name, argument="name"),
            limit=check.positive_int(limit, argument="limit"),
            offset=check.positive_int(offset, argument="offset", allow_zero=True),
            sort_by=check.choice(
                sort_by, argument="sort_by", choices=choices("AssistantSearchRequest", "sort_by")
            ),
            sort_order=check.choice(
                sort_order, argument="sort_order", choices=choices("AssistantSearchRequest", "sort_order")
            ),
            select=check.field_names(
                select, argument="select", choices=choices("AssistantSearchRequest", "select")
            ),
        )
        spec = build("assistants.search_assistants", body_model="AssistantSearchRequest", body=body)
        return cast("list[Assistant]", await self._core.request(spec))

    @operation("count_assistants")
    async def count(
        self, *, metadata: dict[str, Any] | None = None, graph_id: str | None = None, name: str | None = None
    ) -> int:
        """Count assistants matching a filter."""
        body = check.body(
            metadata=check.mapping(metadata, argument="metadata"),
            graph_id=check.identifier(graph_id, argument="graph_id") if graph_id is not None else None,
            name=check.text(name, argument="name"),
        )
        spec = build("assistants.count_assistants", body_model="AssistantCountRequest", body=body)
        return cast(int, await self._core.request(spec))

    @operation("get_assistant_graph")
    async def get_graph(
        self, assistant_id: str, *, xray: bool | int = False
    ) -> dict[str, list[dict[str, Any]]]:
        """The nodes and edges of the assistant's graph (`xray=True` or a depth also draws subgraphs)."""
        if not isinstance(xray, bool | int) or (not isinstance(xray, bool) and xray < 0):
            raise InputError(f"xray must be True, False or a non-negative depth, not {xray!r}")
        spec = build("assistants.get_assistant_graph", check.assistant_id(assistant_id), xray=xray or None)
        return cast(dict[str, list[dict[str, Any]]], await self._core.request(spec))

    @operation("get_assistant_schemas")
    async def get_schemas(self, assistant_id: str) -> GraphSchemas:
        """JSON schemas of the graph's input, output, state, config and context."""
        spec = build("assistants.get_assistant_schemas", check.assistant_id(assistant_id))
        return cast("GraphSchemas", await self._core.request(spec))

    @operation("get_assistant_subgraphs", "get_assistant_subgraphs_in_namespace")
    async def get_subgraphs(
        self, assistant_id: str, *, namespace: str | None = None, recurse: bool = False
    ) -> dict[str, Any]:
        """Schemas of the graph's subgraphs by namespace: all of them, or those under `namespace`."""
        if not isinstance(recurse, bool):
            raise InputError(f"recurse must be True or False, not {recurse!r}")
        assistant = check.assistant_id(assistant_id)
        spec: RequestSpec
        if namespace is not None:
            spec = build(
                "assistants.get_assistant_subgraphs_in_namespace",
                assistant,
                check.identifier(namespace, argument="namespace"),
                recurse=recurse or None,
            )
        else:
            spec = build("assistants.get_assistant_subgraphs", assistant, recurse=recurse or None)
        return cast(dict[str, Any], await self._core.request(spec))

    @operation("list_assistant_versions")
    async def get_versions(
        self, assistant_id: str, *, metadata: dict[str, Any] | None = None, limit: int = 10, offset: int = 0
    ) -> list[Assistant]:
        """The versions of an assistant, newest first."""
        body = check.body(
            metadata=check.mapping(metadata, argument="metadata"),
            limit=check.positive_int(limit, argument="limit"),
            offset=check.positive_int(offset, argument="offset", allow_zero=True),
        )
        spec = build(
            "assistants.list_assistant_versions",
            check.assistant_id(assistant_id),
            body_model="AssistantVersionsRequest",
            body=body,
        )
        return cast("list[Assistant]", await self._core.request(spec))

    @operation("set_latest_assistant_version")
    async def set_latest(self, assistant_id: str, version: int) -> Assistant:
        """Make one version of an assistant its latest (the one runs use)."""
        body = {"version": check.positive_int(version, argument="version")}
        spec = build(
            "assistants.set_latest_assistant_version",
            check.assistant_id(assistant_id),
            body_model="AssistantVersionChange",
            body=body,
        )
        return cast("Assistant", await self._core.request(spec))
