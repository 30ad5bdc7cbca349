"""lmsystems 1.0.8's module path for the clients and their enums.

`from lmsystems.client import LmsystemsClient, SyncLmsystemsClient, StreamMode, MultitaskStrategy,
ThreadStatus` imports the same objects as `from lmsystems import ...`.
"""

from __future__ import annotations

from ._async._client import LmsystemsClient
from ._sync_client import SyncLmsystemsClient
from ._types import MultitaskStrategy, StreamMode, ThreadStatus

__all__ = ["LmsystemsClient", "MultitaskStrategy", "StreamMode", "SyncLmsystemsClient", "ThreadStatus"]
