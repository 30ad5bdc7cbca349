"""The spec model: an OpenAPI document, its operations and parameters, JSON pointers into it."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

OpKey = tuple[str, str]
"""(METHOD, path template with every ``{name}`` replaced by ``{}``)."""

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SPEC = REPO_ROOT / "openapi" / "agent-server.yaml"
#: Server paths our spec deliberately does not describe (prefixes of path templates), each with the reason;
#: the drift report lists every server operation under them with its reason instead of hiding it.
NOT_DESCRIBED: dict[str, str] = {
    "/a2a": "the Agent-to-Agent (A2A) JSON-RPC endpoint, for A2A clients, not this SDK",
    "/mcp": "the Model Context Protocol endpoint, for MCP clients, not this SDK",
    "/docs": "the server's interactive API documentation page, for browsers",
    "/metrics": "Prometheus metrics, for monitoring systems",
    "/openapi.json": "the server's own OpenAPI document, which the contract check reads",
}
DEFAULT_IGNORED_PATHS: tuple[str, ...] = tuple(NOT_DESCRIBED)


#: Fields whose enum in the server's spec lists deployment details (its graph ids), not API values.
DEPLOYMENT_ENUM_FIELDS = frozenset({"graph_id"})
ERRATUM_KEY = "x-live-spec-erratum"
SSE_EVENTS_KEY = "x-sse-events"
SSE_MEDIA_TYPE = "text/event-stream"
_SPEC_URI = "urn:lmsystems:contract:spec"
PARAM_RE = re.compile(r"\{([^}/]+)\}")
MAX_ERRORS_PER_BODY = 3
MAX_MESSAGE = 240


class SpecError(ValueError):
    """A spec could not be loaded or is not an OpenAPI document."""


def template_key(path: str) -> str:
    """``/threads/{thread_id}`` -> ``/threads/{}``: the path shape, independent of parameter names."""
    return PARAM_RE.sub("{}", path)


def not_described_reason(path: str, reasons: Mapping[str, str] | None = None) -> str | None:
    """Why our spec leaves the server's ``path`` out (from :data:`NOT_DESCRIBED`), or None."""
    for prefix, reason in (NOT_DESCRIBED if reasons is None else reasons).items():
        if is_ignored(path, (prefix,)):
            return reason
    return None


def is_ignored(path: str, ignored: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``ignored`` (compared as templates) or below one of them."""
    key = template_key(path).rstrip("/") or "/"
    for prefix in ignored:
        pkey = template_key(prefix).rstrip("/") or "/"
        if key == pkey or key.startswith(pkey + "/"):
            return True
    return False


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(*tokens: str) -> str:
    return "".join("/" + _escape(t) for t in tokens)


@dataclass(frozen=True)
class Param:
    """A resolved operation parameter."""

    name: str
    location: str
    required: bool
    schema: Any
    erratum: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.location, self.name.lower() if self.location == "header" else self.name)

    def __str__(self) -> str:
        return f"{self.location} parameter '{self.name}'"


@dataclass(frozen=True)
class Operation:
    """One (method, path) of a spec."""

    method: str
    path: str
    pointer: str
    raw: Mapping[str, Any]
    params: tuple[Param, ...]

    @property
    def key(self) -> OpKey:
        return (self.method, template_key(self.path))

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_param_names(self) -> list[str]:
        return PARAM_RE.findall(self.path)

    @property
    def erratum(self) -> str | None:
        value = self.raw.get(ERRATUM_KEY)
        return str(value) if value else None

    def param(self, location: str, name: str) -> Param | None:
        key = (location, name.lower() if location == "header" else name)
        return next((p for p in self.params if p.key == key), None)


class Spec:
    """An OpenAPI document with local ``$ref`` resolution and cached Draft 2020-12 validators."""

    def __init__(self, doc: Any, source: str = "<spec>") -> None:
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            raise SpecError(f"{source}: not an OpenAPI document (no 'paths' object)")
        self.doc: dict[str, Any] = doc
        self.source = source
        self._validators: dict[str, Draft202012Validator] = {}
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(doc))

    @classmethod
    def load(cls, path: str | Path) -> Spec:
        """Load a YAML or JSON spec file."""
        text = Path(path).read_text(encoding="utf-8")
        try:
            doc = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise SpecError(f"{path}: cannot parse: {exc}") from exc
        return cls(doc, str(path))

    @classmethod
    def fetch(cls, base_url: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Spec:
        """Fetch a server's own ``/openapi.json``."""
        url = base_url.rstrip("/") + "/openapi.json"
        response = httpx.get(url, headers=dict(headers or {}), timeout=timeout)
        response.raise_for_status()
        return cls(response.json(), url)

    # -- navigation

    def node(self, pointer: str) -> Any:
        """The node at a JSON pointer (``""`` is the document)."""
        current: Any = self.doc
        for raw in pointer.split("/")[1:] if pointer else []:
            token = _unescape(raw)
            try:
                current = current[int(token)] if isinstance(current, list) else current[token]
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise SpecError(f"{self.source}: no node at '#{pointer}'") from exc
        return current

    def locate(self, pointer: str) -> tuple[str, Any]:
        """Follow ``$ref`` chains from ``pointer``; return the final pointer and node."""
        seen: set[str] = set()
        node = self.node(pointer)
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#") or ref in seen:
                raise SpecError(f"{self.source}: unsupported or circular $ref '{ref}' at '#{pointer}'")
            seen.add(ref)
            pointer = ref[1:]
            node = self.node(pointer)
        return pointer, node

    def resolve(self, node: Any) -> Any:
        """``node`` with its ``$ref`` chain followed."""
        if isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
            return self.locate(node["$ref"][1:])[1]
        return node

    @cached_property
    def operations(self) -> dict[OpKey, Operation]:
        ops: dict[OpKey, Operation] = {}
        for path in self.doc["paths"]:
            item_ptr, item = self.locate(_pointer("paths", path))
            shared = item.get("parameters", [])
            for method in HTTP_METHODS:
                raw = item.get(method)
                if not isinstance(raw, dict):
                    continue
                params: dict[tuple[str, str], Param] = {}
                for entry in [*shared, *raw.get("parameters", [])]:
                    p = self.resolve(entry)
                    param = Param(
                        str(p["name"]),
                        str(p["in"]),
                        bool(p.get("required")),
                        p.get("schema"),
                        erratum(entry, p),
                    )
                    params[param.key] = param
                op = Operation(method.upper(), path, item_ptr + "/" + method, raw, tuple(params.values()))
                ops[op.key] = op
        return ops

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation for a method and a path template (any parameter names)."""
        return self.operations.get((method.upper(), template_key(path)))

    # -- schemas of an operation

    def request_schema(self, op: Operation) -> str | None:
        """Pointer to the JSON request body schema, or None when the operation takes no JSON body."""
        ptr = op.pointer + "/requestBody"
        if "requestBody" not in op.raw:
            return None
        ptr, body = self.locate(ptr)
        media = json_media(body.get("content") or {})
        if media is None or "schema" not in body["content"][media]:
            return None
        return join_pointer(ptr, "content", media, "schema")

    def request_required(self, op: Operation) -> bool:
        if "requestBody" not in op.raw:
            return False
        return bool(self.locate(op.pointer + "/requestBody")[1].get("required"))

    def response(self, op: Operation, status: int | str) -> tuple[str, dict[str, Any]] | None:
        """(pointer, response object) for a status: exact code, then ``4XX`` style, then ``default``."""
        responses = op.raw.get("responses") or {}
        code = str(status)
        for candidate in (code, code[0] + "XX", code[0] + "xx", "default"):
            if candidate in responses:
                return self.locate(join_pointer(op.pointer, "responses", candidate))
        return None

    def validator(self, pointer: str) -> Draft202012Validator:
        """A Draft 2020-12 validator for the schema at ``pointer`` (local refs resolve in this spec)."""
        if pointer not in self._validators:
            schema = {"$ref": f"{_SPEC_URI}#{quote(pointer, safe='/~')}"}
            self._validators[pointer] = Draft202012Validator(
                schema, registry=self._registry, format_checker=_FORMAT_CHECKER
            )
        return self._validators[pointer]


def erratum(*nodes: Any) -> str | None:
    """The ``x-live-spec-erratum`` text of the first node (raw or resolved) that has one."""
    for node in nodes:
        if isinstance(node, dict) and node.get(ERRATUM_KEY):
            return str(node[ERRATUM_KEY])
    return None


def join_pointer(pointer: str, *tokens: str) -> str:
    return pointer + _pointer(*tokens)


def json_media(content: Mapping[str, Any]) -> str | None:
    if "application/json" in content:
        return "application/json"
    return next((m for m in content if m.split(";")[0].strip().endswith("json")), None)


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


_FORMAT_CHECKER = copy.deepcopy(Draft202012Validator.FORMAT_CHECKER)
_FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_datetime)
