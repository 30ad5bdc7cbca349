"""Custom nodes over HTTP: deploy a package through the marketplace, and call a deployed node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from .._answers import object_answer
from .._logging import secret_filter
from .._nodes import check_node_code
from .._requests import MARKETPLACE, Endpoint, RequestSpec, build, encode_json
from ._http import AsyncHTTP

__all__ = ["AsyncNodes"]


class AsyncNodes:
    """One HTTP client (our retries, timeouts and typed errors) for uploading and calling custom nodes."""

    def __init__(self, *, timeout: httpx.Timeout, max_retries: int) -> None:
        self._http = AsyncHTTP(timeout=timeout, max_retries=max_retries)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncNodes:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def upload(
        self, *, base_url: str, user_key: str, node_code: str, metadata: Mapping[str, Any]
    ) -> dict[str, Any]:
        """`POST /api/nodes/upload`, the package checked first: returns `{node_id, endpoint_url, api_key}`.

        The metadata sent carries the package's `lambda_config` (as lmsystems 1.0.8 added it)."""
        config = check_node_code(node_code, metadata)
        spec = build(
            "nodes.upload_node",
            body_model="NodeUploadRequest",
            body={"node_code": node_code, "metadata": {**metadata, "lambda_config": config}},
            package=MARKETPLACE,
        )
        endpoint = Endpoint("marketplace", base_url, {"authorization": f"Bearer {user_key}"})
        answer = object_answer(
            await self._http.request(endpoint, spec), call=spec, fields=("node_id", "endpoint_url", "api_key")
        )
        secret_filter().add(str(answer["api_key"]))  # the node's key is masked in our logs from now on
        return answer

    async def call(self, *, endpoint_url: str, api_key: str, payload: dict[str, Any], node: str) -> Any:
        """`POST endpoint_url` with `{"state": ...}` and the node's key; the node's JSON answer."""
        endpoint = Endpoint(f"custom node {node!r}", endpoint_url, {"authorization": f"Bearer {api_key}"})
        spec = RequestSpec(
            operation="call_node",
            method="POST",
            path="",
            headers={"content-type": "application/json"},
            content=encode_json(payload, argument="state"),
            idempotent=False,  # a handler may have effects: replayed only when it was never sent
        )
        return await self._http.request(endpoint, spec)
