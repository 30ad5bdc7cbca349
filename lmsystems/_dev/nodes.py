"""Custom nodes in the local marketplace: `POST /api/nodes/upload` deploys, `POST /nodes/{id}/invoke` runs.

An upload (the marketplace's operation, `openapi/marketplace.yaml`) is checked as the marketplace checks
it, its archive is unpacked into a private temporary directory, and the answer names the local endpoint
and a fresh key. Each call runs the handler in a fresh Python process (this interpreter), in that
directory, with the node's environment variables, and within the node's `timeout` (lambda_config.json):

    handler(event, context)   event = {"state": {...}, "body": "<the request's JSON text>"}

(`body` is there for handlers written for an HTTP trigger that parse `event["body"]`). The handler returns
`{"updated_state": {...}}`, sent back as JSON, or an HTTP-style `{"statusCode": N, "body": "<JSON>"}`.
A handler that raises answers 500 with its exception's last line; one that runs too long answers 504.
`memory_size` is not enforced locally.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .._exceptions import InputError
from .._nodes import check_node_code

try:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError:  # pragma: no cover - marketplace.py reports the missing extra first
    raise

__all__ = ["DeployedNode", "node_routes"]

logger = logging.getLogger("lmsystems")

MAX_BODY = 64 * 1024 * 1024

# Runs in the node's process: loads the handler file, calls it, writes its JSON result to a file (the
# handler's own prints go to stderr, so that they cannot corrupt the result).
_RUNNER = r"""
import importlib.util, json, os, sys
directory, handler_file, function, event_path, result_path = sys.argv[1:6]
sys.path.insert(0, directory)
with open(event_path, encoding="utf-8") as stream:
    event = json.load(stream)
sys.stdout = sys.stderr
spec = importlib.util.spec_from_file_location("lmsystems_node_handler", os.path.join(directory, handler_file))
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    def get_remaining_time_in_millis(self):
        return 0
result = getattr(module, function)(event, Context())
with open(result_path, "w", encoding="utf-8") as stream:
    json.dump(result, stream)
"""


@dataclass
class DeployedNode:
    """A node deployed to the local marketplace (its key is kept out of repr)."""

    node_id: str
    name: str
    directory: Path
    handler_file: str
    handler_function: str
    timeout: float
    api_key: str = field(repr=False)
    env_vars: dict[str, str] = field(default_factory=dict, repr=False)
    user_key: str = field(default="", repr=False)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": {"error": code, "message": message}}, status_code=status)


def _safe_extract(data: bytes, directory: Path) -> None:
    """Unpack the archive; a member that would land outside `directory` is refused."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            path = PurePosixPath(member)
            if path.is_absolute() or ".." in path.parts:
                raise InputError(f"the archive member {member!r} points outside the node's directory")
        archive.extractall(directory)


def node_routes(user_keys: set[str], nodes: dict[str, DeployedNode]) -> list[Route]:
    """The routes of custom nodes, for users with `user_keys`; deployed nodes are kept in `nodes`."""

    async def upload(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        scheme, _, user_key = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not user_key.strip():
            return _error(401, "missing_api_key", "Missing API key: send 'Authorization: Bearer <key>'.")
        if user_key.strip() not in user_keys:
            return _error(401, "invalid_api_key", "Invalid API key.")
        raw = await request.body()
        try:
            body = json.loads(raw) if len(raw) <= MAX_BODY else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "invalid_node_code", "The body must be {'node_code': ..., 'metadata': {...}}.")
        try:
            config = check_node_code(body.get("node_code"), body.get("metadata"))
            node = _deploy(base64.b64decode(body["node_code"]), config, body["metadata"])
        except InputError as error:
            return _error(400, "invalid_node_code", error.message)
        node.user_key = user_key.strip()
        nodes[node.node_id] = node
        endpoint_url = f"{str(request.base_url).rstrip('/')}/nodes/{node.node_id}/invoke"
        logger.info("deployed custom node %r as %s", node.name, node.node_id)
        return JSONResponse({"node_id": node.node_id, "endpoint_url": endpoint_url, "api_key": node.api_key})

    async def invoke(request: Request) -> Response:
        node = nodes.get(request.path_params["node_id"])
        if node is None:
            return _error(404, "node_not_found", "No such node.")
        scheme, _, key = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(key.strip(), node.api_key):
            return _error(401, "invalid_api_key", "Invalid node key.")
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("state"), dict):
            return _error(400, "invalid_state", "The body must be {'state': {...}}.")
        return await asyncio.to_thread(_run, node, {**payload, "body": raw.decode("utf-8")})

    return [
        Route("/api/nodes/upload", upload, methods=["POST"]),
        Route("/nodes/{node_id}/invoke", invoke, methods=["POST"]),
    ]


def _deploy(data: bytes, config: dict[str, Any], metadata: dict[str, Any]) -> DeployedNode:
    directory = Path(tempfile.mkdtemp(prefix="lmsystems-node-"))
    try:
        _safe_extract(data, directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    timeout = config.get("timeout", 30)
    env_vars = config.get("env_vars") or {}
    return DeployedNode(
        node_id=f"node-{secrets.token_hex(8)}",
        name=str(metadata.get("name") or config.get("name") or "CustomNode"),
        directory=directory,
        handler_file=config["handler_file"],
        handler_function=config["handler_function"],
        timeout=float(timeout) if isinstance(timeout, int | float) else 30.0,
        api_key=f"lms_node_{secrets.token_hex(16)}",
        env_vars={str(k): str(v) for k, v in env_vars.items()} if isinstance(env_vars, dict) else {},
    )


def _run(node: DeployedNode, event: dict[str, Any]) -> Response:
    """Run the handler in a fresh process and turn what it returned into the HTTP answer."""
    with tempfile.TemporaryDirectory(prefix="lmsystems-call-") as scratch:
        event_path, result_path = Path(scratch, "event.json"), Path(scratch, "result.json")
        event_path.write_text(json.dumps(event), encoding="utf-8")
        command = [sys.executable, "-c", _RUNNER, str(node.directory), node.handler_file]
        command += [node.handler_function, str(event_path), str(result_path)]
        try:
            done = subprocess.run(
                command,
                cwd=node.directory,
                env={**os.environ, **node.env_vars},
                capture_output=True,
                text=True,
                timeout=node.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return _error(504, "node_timeout", f"The node ran longer than its timeout ({node.timeout:g} s).")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["the handler failed"])[-1]
            logger.info("custom node %s failed:\n%s", node.node_id, done.stderr[-4000:])
            return _error(500, "node_failed", last[:500])
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return _error(500, "node_failed", "The handler's result is not JSON.")
    if isinstance(result, dict) and "statusCode" in result:
        status = result.get("statusCode")
        body = result.get("body", "")
        return Response(
            body if isinstance(body, str) else json.dumps(body),
            status_code=status if isinstance(status, int) and 100 <= status < 600 else 500,
            media_type="application/json",
        )
    return JSONResponse(result)
