"""lmsystems: run hosted LangGraph graphs from Python.

    from lmsystems import LmsystemsClient, SyncLmsystemsClient

    client = await LmsystemsClient.create(graph_name="your-graph", api_key="your-api-key")
    thread = await client.create_thread()
    async for chunk in client.stream_run(thread=thread, input={...}, stream_mode=["messages", "updates"]):
        print(chunk)

The clients are imported on first use, so that `import lmsystems` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIKeyError,
    APIKeyRejectedError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    ArgumentError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GraphError,
    GraphNotFoundError,
    GraphNotPurchasedError,
    InputError,
    InternalServerError,
    LmsystemsError,
    NotFoundError,
    NothingToResumeError,
    PermissionDeniedError,
    RateLimitError,
    RunError,
    StreamError,
    StreamGapError,
    ThreadBusyError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from ._stream_part_types import (
    JSON,
    AnyStreamPart,
    AnySubgraphPart,
    CustomPart,
    GapPart,
    MessageChunk,
    MessagesListPart,
    MessagesMetadataPart,
    MessagesPart,
    MetadataPart,
    ObjectPart,
    RunMetadata,
    StreamGap,
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
from ._types import (
    Deployment,
    MultitaskStrategy,
    StateUpdateResult,
    StreamMode,
    StreamPart,
    ThreadStatus,
)

if TYPE_CHECKING:
    from ._arguments import (
        NOT_GIVEN,
        AssistantField,
        AssistantSortBy,
        CancelAction,
        CancelStatus,
        Command,
        CronField,
        CronSortBy,
        Durability,
        IfExists,
        IfNotExists,
        MultitaskStrategyName,
        NewThread,
        NotGiven,
        OnCompletion,
        OnDisconnect,
        PruneStrategy,
        RunExtras,
        RunKwargs,
        RunSettings,
        RunStatus,
        SessionTransport,
        SortOrder,
        StreamModeName,
        StreamModes,
        StreamRunKwargs,
        StreamRunSettings,
        ThreadField,
        ThreadSortBy,
        ThreadStatusName,
        ThreadStreamMode,
    )
    from ._async._client import LmsystemsClient
    from ._async._session import AsyncThreadStream
    from ._async._stream import AsyncRunStream
    from ._session_core import SessionInterrupt
    from ._sync._session import SyncThreadStream
    from ._sync._stream import SyncRunStream
    from ._sync_client import SyncLmsystemsClient
    from ._types import Assistant, Checkpoint, Cron, Interrupt, Run, StoreItem, Thread, ThreadState
    from .custom_node import ServerlessNode, aupload_custom_node, create_serverless_node, upload_custom_node
    from .purchased_graph import PurchasedGraph

__version__ = "2.0.0.dev0"

_LAZY = {
    "LmsystemsClient": "._async._client",
    "AsyncRunStream": "._async._stream",
    "SyncLmsystemsClient": "._sync_client",
    "SyncRunStream": "._sync._stream",
    "AsyncThreadStream": "._async._session",
    "SyncThreadStream": "._sync._session",
    "SessionInterrupt": "._session_core",
    "PurchasedGraph": ".purchased_graph",
    # The types of the calls' arguments (the Literals come from the spec)
    **dict.fromkeys(
        (
            "AssistantField",
            "AssistantSortBy",
            "CancelAction",
            "CancelStatus",
            "Command",
            "CronField",
            "CronSortBy",
            "Durability",
            "IfExists",
            "IfNotExists",
            "MultitaskStrategyName",
            "NOT_GIVEN",
            "NewThread",
            "NotGiven",
            "OnCompletion",
            "OnDisconnect",
            "PruneStrategy",
            "RunExtras",
            "RunKwargs",
            "RunSettings",
            "RunStatus",
            "SessionTransport",
            "SortOrder",
            "StreamModeName",
            "StreamModes",
            "StreamRunKwargs",
            "StreamRunSettings",
            "ThreadField",
            "ThreadSortBy",
            "ThreadStreamMode",
            "ThreadStatusName",
        ),
        "._arguments",
    ),  # needs the langgraph extra
    # lmsystems 1.0.8's custom nodes (need the langgraph extra too)
    "ServerlessNode": ".custom_node",
    "create_serverless_node": ".custom_node",
    "upload_custom_node": ".custom_node",
    "aupload_custom_node": ".custom_node",
    # The result TypedDicts: plain dicts at run time, their generated module loads when first asked for.
    **dict.fromkeys(
        ("Assistant", "Checkpoint", "Cron", "Interrupt", "Run", "StoreItem", "Thread", "ThreadState"),
        "._types",
    ),
}

__all__ = [
    "JSON",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIKeyError",
    "APIKeyRejectedError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AnyStreamPart",
    "AnySubgraphPart",
    "ArgumentError",
    "Assistant",
    "AssistantField",
    "AssistantSortBy",
    "AsyncRunStream",
    "AsyncThreadStream",
    "AuthenticationError",
    "BadRequestError",
    "CancelAction",
    "CancelStatus",
    "Checkpoint",
    "Command",
    "ConflictError",
    "Cron",
    "CronField",
    "CronSortBy",
    "CustomPart",
    "Deployment",
    "Durability",
    "GapPart",
    "GraphError",
    "GraphNotFoundError",
    "GraphNotPurchasedError",
    "IfExists",
    "IfNotExists",
    "InputError",
    "InternalServerError",
    "Interrupt",
    "LmsystemsClient",
    "LmsystemsError",
    "MessageChunk",
    "MessagesListPart",
    "MessagesMetadataPart",
    "MessagesPart",
    "MetadataPart",
    "MultitaskStrategy",
    "MultitaskStrategyName",
    "NewThread",
    "NotFoundError",
    "NotGiven",
    "NothingToResumeError",
    "ObjectPart",
    "OnCompletion",
    "OnDisconnect",
    "PermissionDeniedError",
    "PruneStrategy",
    "PurchasedGraph",
    "RateLimitError",
    "Run",
    "RunError",
    "RunExtras",
    "RunKwargs",
    "RunMetadata",
    "RunSettings",
    "RunStatus",
    "ServerlessNode",
    "SessionInterrupt",
    "SessionTransport",
    "SortOrder",
    "StateUpdateResult",
    "StoreItem",
    "StreamError",
    "StreamGap",
    "StreamGapError",
    "StreamMode",
    "StreamModeName",
    "StreamModes",
    "StreamPart",
    "StreamRunKwargs",
    "StreamRunSettings",
    "SubgraphCustomPart",
    "SubgraphMessagesListPart",
    "SubgraphMessagesMetadataPart",
    "SubgraphMessagesPart",
    "SubgraphObjectPart",
    "SubgraphUpdatesPart",
    "SubgraphValuesPart",
    "SyncLmsystemsClient",
    "SyncRunStream",
    "SyncThreadStream",
    "Thread",
    "ThreadBusyError",
    "ThreadField",
    "ThreadSortBy",
    "ThreadState",
    "ThreadStatus",
    "ThreadStatusName",
    "ThreadStreamMode",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "UpdatesPart",
    "ValuesPart",
    "__version__",
    "aupload_custom_node",
    "create_serverless_node",
    "upload_custom_node",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lmsystems' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
