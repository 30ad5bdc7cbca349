"""Custom nodes (lmsystems 1.0.8's `lmsystems.custom_node`): deploy a handler, call it from your graph.

    from lmsystems import create_serverless_node

    node = create_serverless_node(node_id, endpoint_url, api_key)   # what `lmsystems node up` gave you
    builder.add_node("my_node", node)

`upload_custom_node` deploys a packaged handler through the marketplace (`lmsystems node up` builds the
package from `lmsystems.json`). A node is called with `POST endpoint_url`, `Authorization: Bearer
<api_key>` and `{"state": {...}}`, and answers `{"updated_state": {...}}`. Requests go through our HTTP
stack: timeouts, safe retries (a call that may have reached the node is never replayed) and our exception
tree. Needs the `langgraph` extra (langchain-core) for `ServerlessNode` and `create_serverless_node`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import httpx

from ._async._nodes import AsyncNodes
from ._exceptions import APIKeyError, InputError
from ._logging import secret_filter
from ._nodes import node_payload, node_state
from ._settings import API_KEY_ENV, DEFAULT_MAX_RETRIES, ClientSettings, check_key, check_url
from ._sync._nodes import SyncNodes
from ._validation import positive_int
from .config import Config

try:
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.runnables import RunnableConfig, RunnableLambda
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"custom nodes need langchain-core: pip install 'lmsystems[langgraph]' ({error})"
    ) from error

__all__ = ["ServerlessNode", "aupload_custom_node", "create_serverless_node", "upload_custom_node"]

#: A custom node may run for up to 900 s (its `timeout` in lmsystems.json): calls wait that long to read.
NODE_TIMEOUT = httpx.Timeout(connect=10.0, read=900.0, write=60.0, pool=30.0)


def _upload_arguments(
    client_token: str | None, backend_url: str | None, timeout: float | httpx.Timeout | None, max_retries: int
) -> tuple[str, str, httpx.Timeout, int]:
    token = client_token if client_token is not None else os.environ.get(API_KEY_ENV)
    if not token:
        raise APIKeyError(f"no API key: pass client_token= or set {API_KEY_ENV}")
    key = check_key(token, argument="client_token")
    url = check_url(backend_url if backend_url is not None else Config.get_base_url(), argument="backend_url")
    checked_timeout = ClientSettings.check_timeout(timeout) if timeout is not None else NODE_TIMEOUT
    return key, url, checked_timeout, positive_int(max_retries, argument="max_retries", allow_zero=True)


def upload_custom_node(
    node_code: str,
    metadata: Mapping[str, Any],
    client_token: str | None = None,
    backend_url: str | None = None,
    *,
    timeout: float | httpx.Timeout | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> dict[str, Any]:
    """Deploy a custom node: `node_code` is a base64 ZIP with the handler and `lambda_config.json`.

    Returns `{"node_id", "endpoint_url", "api_key"}`. `client_token` is your LMSystems API key (default
    `LMSYSTEMS_API_KEY`), `backend_url` the marketplace (default `LMSYSTEMS_BASE_URL`, then the public
    API). The package is checked first (InputError, nothing sent); errors are our exception tree.
    """
    key, url, checked_timeout, retries = _upload_arguments(client_token, backend_url, timeout, max_retries)
    secret_filter().add(key)
    with SyncNodes(timeout=checked_timeout, max_retries=retries) as nodes:
        return nodes.upload(base_url=url, user_key=key, node_code=node_code, metadata=metadata)


async def aupload_custom_node(
    node_code: str,
    metadata: Mapping[str, Any],
    client_token: str | None = None,
    backend_url: str | None = None,
    *,
    timeout: float | httpx.Timeout | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> dict[str, Any]:
    """`upload_custom_node` for async code."""
    key, url, checked_timeout, retries = _upload_arguments(client_token, backend_url, timeout, max_retries)
    secret_filter().add(key)
    async with AsyncNodes(timeout=checked_timeout, max_retries=retries) as nodes:
        return await nodes.upload(base_url=url, user_key=key, node_code=node_code, metadata=metadata)


def _state_dict(state: Any, state_class: type | None) -> dict[str, Any]:
    """The state as a dict: a dict, a dataclass or a Pydantic model; validated by `state_class` if given."""
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        state = {field.name: getattr(state, field.name) for field in dataclasses.fields(state)}
    elif callable(getattr(state, "model_dump", None)):
        state = state.model_dump()
    if not isinstance(state, Mapping):
        raise InputError(f"a custom node's state must be a dict, not {type(state).__name__}")
    if state_class is not None:
        try:
            validated = state_class(**state)
        except Exception as error:  # the user's class: any failure is a bad state
            raise InputError(f"the state does not fit {state_class.__name__}: {error}") from None
        dump = getattr(validated, "model_dump", None)
        state = dump() if callable(dump) else vars(validated)
    return dict(state)


class ServerlessNode:
    """A deployed custom node, callable as a LangGraph node (lmsystems 1.0.8's class).

    `await node(state, config)` (or `node.invoke` / `await node.ainvoke`) POSTs `{"state": ...}` to
    `endpoint_url` with the node's key and returns the node's `updated_state`: human and AI messages
    travel as `{"role": "user" | "ai", "content": ...}` and come back as `HumanMessage` / `AIMessage`.
    `state_class` (e.g. a Pydantic model) validates the state first. The key never appears in `repr`.
    """

    def __init__(
        self,
        node_id: str,
        endpoint_url: str,
        api_key: str,
        state_class: type | None = None,
        *,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        if not isinstance(node_id, str) or not node_id:
            raise InputError(f"node_id must be a non-empty string, not {node_id!r}")
        self.node_id = node_id
        self.endpoint_url = check_url(endpoint_url, argument="endpoint_url")
        self._api_key = check_key(api_key, argument="api_key")
        secret_filter().add(self._api_key)
        if state_class is not None and not isinstance(state_class, type):
            raise InputError(f"state_class must be a class, not {type(state_class).__name__}")
        self.state_class = state_class
        self._timeout = ClientSettings.check_timeout(timeout) if timeout is not None else NODE_TIMEOUT
        self._max_retries = positive_int(max_retries, argument="max_retries", allow_zero=True)

    def __repr__(self) -> str:
        return f"ServerlessNode(node_id={self.node_id!r}, endpoint_url={self.endpoint_url!r})"

    def _payload(self, state: Any, config: RunnableConfig | None) -> dict[str, Any]:
        return node_payload(_state_dict(state, self.state_class), config)

    def invoke(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Call the node and return its state update."""
        payload = self._payload(state, config)
        with SyncNodes(timeout=self._timeout, max_retries=self._max_retries) as nodes:
            answer = nodes.call(
                endpoint_url=self.endpoint_url, api_key=self._api_key, payload=payload, node=self.node_id
            )
        return node_state(answer, node=self.node_id, message_types=(AIMessage, HumanMessage))

    async def ainvoke(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """Call the node and return its state update, asynchronously."""
        payload = self._payload(state, config)
        async with AsyncNodes(timeout=self._timeout, max_retries=self._max_retries) as nodes:
            answer = await nodes.call(
                endpoint_url=self.endpoint_url, api_key=self._api_key, payload=payload, node=self.node_id
            )
        return node_state(answer, node=self.node_id, message_types=(AIMessage, HumanMessage))

    async def __call__(self, state: Any, config: RunnableConfig | None = None) -> dict[str, Any]:
        """As in lmsystems 1.0.8: `await node(state, config)`."""
        return await self.ainvoke(state, config)


def create_serverless_node(
    node_id: str,
    endpoint_url: str,
    api_key: str,
    state_class: type | None = None,
    *,
    timeout: float | httpx.Timeout | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> RunnableLambda[Any, dict[str, Any]]:
    """A LangGraph node (a `RunnableLambda`, sync and async) that calls the deployed custom node.

    `builder.add_node("my_node", create_serverless_node(node_id, endpoint_url, api_key))`.
    """
    node = ServerlessNode(
        node_id, endpoint_url, api_key, state_class, timeout=timeout, max_retries=max_retries
    )
    return RunnableLambda(node.invoke, afunc=node.ainvoke, name=node_id)
