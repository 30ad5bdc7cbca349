"""SyncLmsystemsClient: the sync facade. Its logic is produced from the async one (scripts/unasync.py)."""

from __future__ import annotations

from ._sync._client import _SyncLmsystemsClient

__all__ = ["SyncLmsystemsClient"]


class SyncLmsystemsClient(_SyncLmsystemsClient):
    """Run a hosted LangGraph graph, synchronously: the same methods as `LmsystemsClient`, without await.

    `client = SyncLmsystemsClient(graph_name=..., api_key=...)` resolves the graph through the LMSystems
    marketplace at once: the constructor makes that one request (the product documentation initializes
    the sync client this way, as the equivalent of the async `await LmsystemsClient.create(...)`, and
    expects a wrong key or graph name to fail here; what it opened is closed when that fails).
    `api_key` falls back to `LMSYSTEMS_API_KEY`, `base_url` to `LMSYSTEMS_BASE_URL`; `deployment_url=`
    talks to an Agent Server directly. Use it as `with` (or call `close()`).

    It takes the arguments of [`LmsystemsClient`][lmsystems.LmsystemsClient], with an
    `httpx.BaseTransport` as `transport`.
    """

    def _created(self) -> None:
        try:
            self.connect()
        except BaseException:
            self.close()
            raise
