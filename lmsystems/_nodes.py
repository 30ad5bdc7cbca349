"""Custom nodes, the part without network I/O: checking a node package, and the state sent to a node.

A custom node is a handler function packaged as a ZIP archive (the handler file, `lambda_config.json`
naming `handler_file` and `handler_function`, and any files it needs), deployed through the marketplace
(`POST /api/nodes/upload`), then called with `POST <endpoint_url>` and `{"state": {...}}`; it answers
`{"updated_state": {...}}`. Messages travel as `{"role": "user" | "ai", "content": ...}`, as in
lmsystems 1.0.8.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

from ._exceptions import APIResponseError, InputError
from ._validation import json_value

__all__ = ["check_node_code", "node_payload", "node_state", "to_wire_messages"]

LAMBDA_CONFIG = "lambda_config.json"
#: The largest node package accepted, decoded (AWS Lambda's limit for a direct upload is 50 MB).
MAX_PACKAGE_BYTES = 50 * 1024 * 1024


def check_node_code(node_code: object, metadata: object) -> dict[str, Any]:
    """Check a base64 ZIP package as lmsystems 1.0.8 did; returns its `lambda_config.json`.

    InputError when it is not base64, not a ZIP, lacks `lambda_config.json` or its `handler_file` and
    `handler_function`, when the handler file is not in the archive, or when `directions` is not a string.
    """
    if not isinstance(node_code, str):
        raise InputError(f"node_code must be a base64 string, not {type(node_code).__name__}")
    if not isinstance(metadata, Mapping) or not all(isinstance(key, str) for key in metadata):
        raise InputError("metadata must be a dict with string keys")
    try:
        data = base64.b64decode(node_code, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("node_code is not valid base64") from None
    if len(data) > MAX_PACKAGE_BYTES:
        raise InputError(f"node_code is {len(data):,} bytes; the limit is {MAX_PACKAGE_BYTES:,}")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if LAMBDA_CONFIG not in names:
                raise InputError("the ZIP must contain lambda_config.json")
            config = json.loads(archive.read(LAMBDA_CONFIG))
    except zipfile.BadZipFile as error:
        raise InputError(f"node_code is not a valid ZIP archive: {error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise InputError(f"lambda_config.json is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise InputError("lambda_config.json must hold a JSON object")
    for field in ("handler_file", "handler_function"):
        if not isinstance(config.get(field), str) or not config[field]:
            raise InputError(f"lambda_config.json missing required field: {field}")
    if config["handler_file"] not in names:
        raise InputError(f"Handler file {config['handler_file']} not found in ZIP")
    if metadata.get("directions") is not None and not isinstance(metadata["directions"], str):
        raise InputError("Directions must be a string")
    json_value(dict(metadata), argument="metadata")
    return config


def to_wire_messages(messages: object) -> list[dict[str, Any]]:
    """Messages as a node receives them: `{"role": "user" | "ai", "content": ...}` (lmsystems 1.0.8's
    conversion: human messages become "user", AI messages "ai"; dicts with role and content pass)."""
    if not isinstance(messages, list | tuple):
        raise InputError(f"the state's messages must be a list, not {type(messages).__name__}")
    converted: list[dict[str, Any]] = []
    for message in messages:
        kind = getattr(message, "type", None)
        if isinstance(message, Mapping):
            if "role" not in message or "content" not in message:
                raise InputError("a message dict needs 'role' and 'content'")
            converted.append(dict(message))
        elif kind == "human":
            converted.append({"role": "user", "content": message.content})
        elif kind == "ai":
            converted.append({"role": "ai", "content": message.content})
        else:
            raise InputError(
                "a custom node takes human and AI messages (or role/content dicts), "
                f"not {type(message).__name__}"
            )
    return converted


def _serializable_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON-safe part of a RunnableConfig (as lmsystems 1.0.8 sent it: no callbacks)."""
    if not config:
        return {}
    kept: dict[str, Any] = {}
    for key, value in config.items():
        if key == "callbacks" or not isinstance(value, dict | list | str | int | float | bool):
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return kept


def node_payload(state: Mapping[str, Any], config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The body sent to a node: `{"state": {...}}`, messages converted, with `_metadata` (the state's
    `version`, default "1.0", and the JSON-safe part of the run's config) as lmsystems 1.0.8 added it."""
    if not isinstance(state, Mapping):
        raise InputError(f"a custom node's state must be a dict, not {type(state).__name__}")
    sent = {key: value for key, value in state.items() if isinstance(key, str)}
    if "messages" in sent:
        sent["messages"] = to_wire_messages(sent["messages"])
    sent["_metadata"] = {"version": sent.get("version", "1.0"), "config": _serializable_config(config)}
    payload = {"state": sent}
    json_value(payload, argument="state")
    return payload


def node_state(answer: Any, *, node: str, message_types: tuple[type, type] | None) -> dict[str, Any]:
    """The state update a node answered: its `updated_state`, with messages turned back into
    `(AIMessage, HumanMessage)` (`message_types`) as lmsystems 1.0.8 did: role "ai" -> AI, else human."""
    if not isinstance(answer, dict) or not isinstance(answer.get("updated_state"), dict):
        raise APIResponseError(f"the custom node {node!r} answered without an updated_state object")
    updated = dict(answer["updated_state"])
    if "messages" in updated and message_types is not None:
        ai, human = message_types
        messages = updated["messages"]
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and "content" in m for m in messages
        ):
            raise APIResponseError(f"the custom node {node!r} answered messages without role and content")
        updated["messages"] = [
            ai(content=m["content"]) if m.get("role") == "ai" else human(content=m["content"])
            for m in messages
        ]
    return updated
