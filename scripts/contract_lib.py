"""Contract checks between our OpenAPI description of the LangGraph Agent Server and a real server.

* (a) :func:`compare_specs` - every operation of our spec exists in the server's own ``/openapi.json``
  with the same method, path, path/query parameters and request fields (check ``conformance``).
* (b) :class:`Exerciser` - real calls against a running server; every answer is validated against our
  response schema for its status code (JSON Schema Draft 2020-12), every server-sent event against
  the ``x-sse-events`` schema of its event name (check ``validation``).
* (c) :func:`compare_specs` again - what the server has that our spec does not describe (check
  ``undescribed``), plus informational differences used by ``spec_drift.py`` (check ``drift``).

Operations are matched by (METHOD, path template with parameter names blanked), so our operationIds
and parameter names are free. ``x-live-spec-erratum`` marks where our spec follows the server's real
behaviour and its own ``/openapi.json`` is wrong: on an operation it waives all (a) findings of that
operation (and a full (b) run must then call it), on a parameter or request-field schema it waives
the findings of that parameter or field. No pytest imports: used by ``scripts/contract.py``,
``scripts/spec_drift.py`` and ``tests/test_contract.py``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "DEFAULT_IGNORED_PATHS",
    "DEFAULT_SPEC",
    "DEPLOYMENT_ENUM_FIELDS",
    "ERRATUM_KEY",
    "GROUPS",
    "NOT_DESCRIBED",
    "REPO_ROOT",
    "SSE_EVENTS_KEY",
    "SSE_MEDIA_TYPE",
    "TEST_BED_CASES",
    "Change",
    "Check",
    "ExerciseResult",
    "Exerciser",
    "Finding",
    "GraphCase",
    "Operation",
    "Param",
    "Spec",
    "SpecError",
    "SseEvent",
    "SseParser",
    "auth_headers",
    "cases_for",
    "check_request",
    "check_response",
    "choose_cases",
    "compare_specs",
    "enum_values",
    "format_findings",
    "is_ignored",
    "not_described_reason",
    "required_fields",
    "server_version",
    "template_key",
    "top_fields",
]

OpKey = tuple[str, str]
"""(METHOD, path template with every ``{name}`` replaced by ``{}``)."""

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
REPO_ROOT = Path(__file__).resolve().parent.parent
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
_PARAM_RE = re.compile(r"\{([^}/]+)\}")
_MAX_ERRORS_PER_BODY = 3
_MAX_MESSAGE = 240


class SpecError(ValueError):
    """A spec could not be loaded or is not an OpenAPI document."""


# --------------------------------------------------------------------------------------------- findings


class Check(StrEnum):
    """Which check produced a finding; ``conformance`` and ``validation`` findings fail the contract."""

    CONFORMANCE = "conformance"  # (a) our spec vs the server's spec
    VALIDATION = "validation"  # (b) real answers vs our schemas
    UNDESCRIBED = "undescribed"  # (c) what the server has that our spec lacks
    DRIFT = "drift"  # other differences, informational (spec_drift.py)


class Change(StrEnum):
    """Direction of a difference, seen from the server: it ``added`` what our spec lacks, etc."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem or difference, ``where`` being an operation label such as ``POST /threads``."""

    check: Check
    change: Change
    where: str
    message: str
    waived_by: str | None = None

    @property
    def failing(self) -> bool:
        return self.check in (Check.CONFORMANCE, Check.VALIDATION) and self.waived_by is None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text} [waived: x-live-spec-erratum]" if self.waived_by else text


def auth_headers(api_key: str | None) -> dict[str, str]:
    """Request headers for a deployment key (``x-api-key``)."""
    return {"x-api-key": api_key} if api_key else {}


def server_version(base_url: str, headers: Mapping[str, str] | None = None) -> str:
    """The server's langgraph-api version from ``GET /info`` (``?`` if unavailable)."""
    try:
        info = httpx.get(base_url.rstrip("/") + "/info", headers=dict(headers or {}), timeout=10).json()
        return str(info.get("version", "?"))
    except (httpx.HTTPError, ValueError, AttributeError):
        return "?"


def format_findings(findings: Iterable[Finding], indent: str = "  ") -> str:
    """One line per finding, sorted by operation."""
    lines = sorted({str(f) for f in findings})
    return "\n".join(f"{indent}{line}" for line in lines) if lines else f"{indent}(none)"


# ------------------------------------------------------------------------------------------- spec model


def template_key(path: str) -> str:
    """``/threads/{thread_id}`` -> ``/threads/{}``: the path shape, independent of parameter names."""
    return _PARAM_RE.sub("{}", path)


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
        return _PARAM_RE.findall(self.path)

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
                        _erratum(entry, p),
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
        media = _json_media(body.get("content") or {})
        if media is None or "schema" not in body["content"][media]:
            return None
        return _join(ptr, "content", media, "schema")

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
                return self.locate(_join(op.pointer, "responses", candidate))
        return None

    def validator(self, pointer: str) -> Draft202012Validator:
        """A Draft 2020-12 validator for the schema at ``pointer`` (local refs resolve in this spec)."""
        if pointer not in self._validators:
            schema = {"$ref": f"{_SPEC_URI}#{quote(pointer, safe='/~')}"}
            self._validators[pointer] = Draft202012Validator(
                schema, registry=self._registry, format_checker=_FORMAT_CHECKER
            )
        return self._validators[pointer]


def _erratum(*nodes: Any) -> str | None:
    """The ``x-live-spec-erratum`` text of the first node (raw or resolved) that has one."""
    for node in nodes:
        if isinstance(node, dict) and node.get(ERRATUM_KEY):
            return str(node[ERRATUM_KEY])
    return None


def _join(pointer: str, *tokens: str) -> str:
    return pointer + _pointer(*tokens)


def _json_media(content: Mapping[str, Any]) -> str | None:
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


# ------------------------------------------------------------------------------------- schema analysis


def top_fields(spec: Spec, schema: Any, _depth: int = 0) -> dict[str, Any] | None:
    """Top-level properties of an object schema (through ``$ref``, ``allOf``/``anyOf``/``oneOf`` and,
    for an array, its items). None when the schema names no properties at all (free-form)."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or _depth > 8:
        return None
    if "items" in schema and "properties" not in schema:
        return top_fields(spec, schema["items"], _depth + 1)
    fields: dict[str, Any] | None = None
    if isinstance(schema.get("properties"), dict):
        fields = dict(schema["properties"])
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or []:
            sub_fields = top_fields(spec, sub, _depth + 1)
            if sub_fields is not None:
                fields = {**sub_fields, **(fields or {})}
    return fields


def required_fields(spec: Spec, schema: Any, _depth: int = 0) -> set[str]:
    """Fields every instance must have (``required`` of the schema and of its ``allOf`` members)."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or _depth > 8:
        return set()
    if "items" in schema and "properties" not in schema:
        return required_fields(spec, schema["items"], _depth + 1)
    found = set(schema.get("required") or [])
    for sub in schema.get("allOf") or []:
        found |= required_fields(spec, sub, _depth + 1)
    return found


def enum_values(spec: Spec, schema: Any, _depth: int = 0) -> frozenset[str]:
    """Every ``enum``/``const`` value a field allows (through refs, combinators and array items)."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or _depth > 8:
        return frozenset()
    values: set[str] = set()
    for value in [*(schema.get("enum") or []), *([schema["const"]] if "const" in schema else [])]:
        if value is not None:
            values.add(value if isinstance(value, str) else json.dumps(value))
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or []:
            values |= enum_values(spec, sub, _depth + 1)
    if isinstance(schema.get("items"), dict):
        values |= enum_values(spec, schema["items"], _depth + 1)
    return frozenset(values)


# ------------------------------------------------------------------------------------ (a) and (c) diff


def compare_specs(ours: Spec, live: Spec, ignored: Iterable[str] = DEFAULT_IGNORED_PATHS) -> list[Finding]:
    """Every difference between our spec and the server's, as findings of all four checks."""
    ignored = tuple(ignored)
    findings: list[Finding] = []
    live_methods: dict[str, list[str]] = {}
    for method, path in live.operations:
        live_methods.setdefault(path, []).append(method)
    for key, op in sorted(ours.operations.items()):
        lop = live.operations.get(key)
        if lop is None:
            methods = sorted(live_methods.get(key[1], []))
            message = (
                f"method not on the server (it has {', '.join(methods)} at this path)"
                if methods
                else "operation not on the server"
            )
            op_findings = [Finding(Check.CONFORMANCE, Change.REMOVED, op.label, message)]
        else:
            op_findings = _compare_operation(ours, op, live, lop)
        if op.erratum:
            if not op_findings:
                op_findings.append(
                    Finding(
                        Check.DRIFT,
                        Change.CHANGED,
                        op.label,
                        f"{ERRATUM_KEY}, but the server's spec now agrees with ours: drop the erratum?",
                    )
                )
            op_findings = [
                Finding(f.check, f.change, f.where, f.message, f.waived_by or op.erratum)
                if f.check == Check.CONFORMANCE
                else f
                for f in op_findings
            ]
        findings += op_findings
    for key, lop in sorted(live.operations.items()):
        if key not in ours.operations and not is_ignored(lop.path, ignored):
            findings.append(
                Finding(Check.UNDESCRIBED, Change.ADDED, lop.label, "operation not described by the spec")
            )
    return findings


def _compare_operation(ours: Spec, op: Operation, live: Spec, lop: Operation) -> list[Finding]:
    out: list[Finding] = []

    def add(check: Check, change: Change, message: str, waived_by: str | None = None) -> None:
        out.append(
            Finding(check, change, op.label, message, waived_by if check == Check.CONFORMANCE else None)
        )

    # Path parameters: positionally, then our declarations.
    for index, (name, live_name) in enumerate(zip(op.path_param_names, lop.path_param_names, strict=True)):
        if name != live_name:
            add(
                Check.CONFORMANCE,
                Change.CHANGED,
                f"path parameter #{index + 1} is '{name}' in the spec but '{live_name}' on the server",
            )
    for name in op.path_param_names:
        if op.param("path", name) is None:
            add(Check.CONFORMANCE, Change.CHANGED, f"path parameter '{name}' is not declared")
    for param in op.params:
        if param.location == "path" and param.name not in op.path_param_names:
            add(Check.CONFORMANCE, Change.REMOVED, f"{param} is declared but not in the path", param.erratum)
        elif param.location == "query":
            live_param = lop.param("query", param.name)
            if live_param is None:
                add(Check.CONFORMANCE, Change.REMOVED, f"{param} unknown to the server", param.erratum)
                continue
            for finding in _compare_enums(ours, param.schema, live, live_param.schema, str(param)):
                add(finding.check, finding.change, finding.message, param.erratum)
            if param.required and not live_param.required:
                add(Check.DRIFT, Change.CHANGED, f"{param} is required by the spec, optional on the server")
    for live_param in lop.params:
        if live_param.location not in ("query", "header"):
            continue
        declared = op.param(live_param.location, live_param.name)
        if (
            live_param.required
            and live_param.location == "query"
            and (declared is None or not declared.required)
        ):
            state = "missing" if declared is None else "optional"
            add(
                Check.CONFORMANCE,
                Change.CHANGED,
                f"{live_param} is required by the server but {state} in the spec",
                declared.erratum if declared else None,
            )
        elif declared is None:
            add(Check.UNDESCRIBED, Change.ADDED, f"{live_param} not described")

    _compare_request(ours, op, live, lop, add)
    out.extend(_compare_responses(ours, op, live, lop))
    return out


def _compare_request(ours: Spec, op: Operation, live: Spec, lop: Operation, add: Callable[..., None]) -> None:
    ptr, live_ptr = ours.request_schema(op), live.request_schema(lop)
    if ptr is None and live_ptr is None:
        return
    if live_ptr is None:
        add(Check.CONFORMANCE, Change.REMOVED, "request body unknown to the server (its spec declares none)")
        return
    if ptr is None:
        if live.request_required(lop):
            add(Check.CONFORMANCE, Change.ADDED, "the server requires a JSON request body the spec lacks")
        else:
            add(Check.UNDESCRIBED, Change.ADDED, "JSON request body not described")
        return
    schema, live_schema = ours.node(ptr), live.node(live_ptr)
    live_fields = top_fields(live, live_schema)
    if live_fields is None:
        return  # The server's request schema is free-form: every field is known to it.
    fields = top_fields(ours, schema) or {}
    required, live_required = required_fields(ours, schema), required_fields(live, live_schema)

    def waiver(name: str) -> str | None:
        return _erratum(fields[name], ours.resolve(fields[name])) if name in fields else None

    for name in sorted(live_required - set(fields)):
        add(
            Check.CONFORMANCE,
            Change.ADDED,
            f"request field '{name}' is required by the server but not described",
        )
    for name in sorted((live_required & set(fields)) - required):
        add(
            Check.CONFORMANCE,
            Change.CHANGED,
            f"request field '{name}' is required by the server, optional in the spec",
            waiver(name),
        )
    for name in sorted((required & set(live_fields)) - live_required):
        add(
            Check.DRIFT,
            Change.CHANGED,
            f"request field '{name}' is required by the spec, optional on the server",
        )
    for name in sorted(set(fields) - set(live_fields)):
        add(Check.CONFORMANCE, Change.REMOVED, f"request field '{name}' unknown to the server", waiver(name))
    for name in sorted(set(live_fields) - set(fields) - live_required):
        add(Check.UNDESCRIBED, Change.ADDED, f"request field '{name}' not described")
    for name in sorted((set(fields) & set(live_fields)) - DEPLOYMENT_ENUM_FIELDS):
        for finding in _compare_enums(ours, fields[name], live, live_fields[name], f"request field '{name}'"):
            add(finding.check, finding.change, finding.message, waiver(name))


def _compare_enums(ours: Spec, schema: Any, live: Spec, live_schema: Any, what: str) -> list[Finding]:
    """Enum differences of one field (``where`` is left empty for the caller to fill)."""
    values, live_values = enum_values(ours, schema), enum_values(live, live_schema)
    if not values or not live_values:
        return []
    out = [
        Finding(
            Check.CONFORMANCE, Change.REMOVED, "", f"{what} allows '{v}', which the server does not accept"
        )
        for v in sorted(values - live_values)
    ]
    out += [
        Finding(Check.DRIFT, Change.ADDED, "", f"{what}: the server also accepts '{v}'")
        for v in sorted(live_values - values)
    ]
    return out


def _compare_responses(ours: Spec, op: Operation, live: Spec, lop: Operation) -> list[Finding]:
    out: list[Finding] = []
    codes = {str(c) for c in (op.raw.get("responses") or {})}
    live_codes = {str(c) for c in (lop.raw.get("responses") or {})}
    for code in sorted(c for c in live_codes - codes if c.startswith("2")):
        out.append(
            Finding(Check.DRIFT, Change.ADDED, op.label, f"the server's spec answers {code}, ours does not")
        )
    for code in sorted(c for c in codes - live_codes if c.startswith("2")):
        out.append(
            Finding(Check.DRIFT, Change.REMOVED, op.label, f"the spec answers {code}, the server's does not")
        )
    for code in sorted(codes & live_codes):
        ptr, live_ptr = _response_schema(ours, op, code), _response_schema(live, lop, code)
        if ptr is None or live_ptr is None:
            continue
        fields, live_fields = top_fields(ours, ours.node(ptr)), top_fields(live, live.node(live_ptr))
        if live_fields is None:
            continue
        fields = fields or {}
        for name in sorted(set(live_fields) - set(fields)):
            out.append(
                Finding(
                    Check.UNDESCRIBED, Change.ADDED, op.label, f"response {code} field '{name}' not described"
                )
            )
        for name in sorted(set(fields) - set(live_fields)):
            out.append(
                Finding(
                    Check.DRIFT,
                    Change.REMOVED,
                    op.label,
                    f"response {code} field '{name}' not in the server's spec",
                )
            )
        for name in sorted((set(fields) & set(live_fields)) - DEPLOYMENT_ENUM_FIELDS):
            what = f"response {code} field '{name}'"
            for finding in _compare_enums(ours, fields[name], live, live_fields[name], what):
                # A value the server never returns is harmless in a response: informational only.
                out.append(Finding(Check.DRIFT, finding.change, op.label, finding.message))
    return out


def _response_schema(spec: Spec, op: Operation, code: str) -> str | None:
    found = spec.response(op, code)
    if found is None:
        return None
    ptr, response = found
    content = response.get("content") or {}
    media = _json_media(content)
    if media is None or "schema" not in content[media]:
        return None
    return _join(ptr, "content", media, "schema")


# ----------------------------------------------------------------------------------- (b) validation


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event."""

    event: str
    data: str
    id: str | None = None

    @property
    def base(self) -> str:
        """The event name before any ``|namespace`` suffix."""
        return self.event.split("|", 1)[0]

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


class SseParser:
    """Incremental ``text/event-stream`` parser: feed lines, get events at blank lines."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> SseEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            if not self._data and not self._event:
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None

    def finish(self) -> SseEvent | None:
        return self.feed("")

    @classmethod
    def parse(cls, lines: Iterable[str]) -> Iterator[SseEvent]:
        parser = cls()
        for line in [*lines, ""]:
            event = parser.feed(line)
            if event is not None:
                yield event


def _shorten(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _schema_errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.path), list(map(str, e.path))))
    messages = []
    for error in errors[:_MAX_ERRORS_PER_BODY]:
        detail = error
        if error.context:
            detail = best_match(error.context) or error
        messages.append(_describe(detail))
    if len(errors) > _MAX_ERRORS_PER_BODY:
        messages.append(f"... and {len(errors) - _MAX_ERRORS_PER_BODY} more schema errors")
    return messages


def _describe(error: ValidationError) -> str:
    return f"at {error.json_path}: {_shorten(error.message)}"


def check_request(spec: Spec, op: Operation, body: Any) -> list[str]:
    """Problems of a request body that the server accepted, against our request schema."""
    ptr = spec.request_schema(op)
    if ptr is None:
        return [] if body is None else ["sent a JSON body, but the spec declares no JSON request body"]
    return [f"request {m}" for m in _schema_errors(spec.validator(ptr), body)]


def check_response(
    spec: Spec,
    op: Operation,
    status: int,
    content_type: str,
    body: str,
    *,
    events: Sequence[SseEvent] | None = None,
) -> list[str]:
    """Problems of a real answer against our spec: status described, media type, JSON schema, or for
    ``text/event-stream`` each event's JSON ``data`` against ``x-sse-events[<base event name>]``."""
    found = spec.response(op, status)
    if found is None:
        return [f"status {status} is not described (body: {_shorten(body, 120)!r})"]
    ptr, response = found
    content = response.get("content") or {}
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    if not content:
        has_body = bool(events) or bool(body.strip())
        return (
            [f"status {status}: the spec declares no body, the server sent {media_type}"] if has_body else []
        )
    if media_type == SSE_MEDIA_TYPE:
        if SSE_MEDIA_TYPE not in content:
            return [f"status {status}: the server streams {SSE_MEDIA_TYPE}, the spec has {sorted(content)}"]
        return _check_events(spec, _join(ptr, "content", SSE_MEDIA_TYPE), status, events or [])
    media = _json_media(content)
    if media is None:
        return [f"status {status}: the server sent {media_type or 'no body'}, the spec has {sorted(content)}"]
    if not body.strip():
        return [f"status {status}: the spec declares a {media} body, the server sent none"]
    try:
        instance = json.loads(body)
    except ValueError:
        return [f"status {status}: body is not JSON: {_shorten(body, 120)!r}"]
    if "schema" not in content[media]:
        return []
    validator = spec.validator(_join(ptr, "content", media, "schema"))
    return [f"status {status} body {m}" for m in _schema_errors(validator, instance)]


def _check_events(spec: Spec, media_ptr: str, status: int, events: Sequence[SseEvent]) -> list[str]:
    media = spec.node(media_ptr)
    if SSE_EVENTS_KEY not in media:
        return [f"status {status}: {SSE_MEDIA_TYPE} without {SSE_EVENTS_KEY}"]
    events_ptr, schemas = spec.locate(_join(media_ptr, SSE_EVENTS_KEY))
    # One problem per event name (the first failing event), not one per token or step.
    first: dict[str, str] = {}
    failed: dict[str, int] = {}
    total: dict[str, int] = {}
    for event in events:
        total[event.base] = total.get(event.base, 0) + 1
        if event.base not in schemas:
            problem = f"SSE event '{event.base}' has no schema in {SSE_EVENTS_KEY}"
        else:
            try:
                errors = _schema_errors(spec.validator(_join(events_ptr, event.base)), event.json())
            except ValueError:
                errors = [f"is not JSON: {_shorten(event.data, 120)!r}"]
            if not errors:
                continue
            problem = f"SSE event '{event.event}' data {errors[0]}"
        first.setdefault(event.base, problem)
        failed[event.base] = failed.get(event.base, 0) + 1
    return [
        problem + (f" ({failed[base]} of {total[base]} '{base}' events fail)" if total[base] > 1 else "")
        for base, problem in first.items()
    ]


# ------------------------------------------------------------------------------------------ exerciser


@dataclass(frozen=True)
class GraphCase:
    """A graph to run and an input it accepts.

    ``resume`` is the value to resume the graph's interrupt with (the graph interrupts on its first
    run); ``state_update``/``as_node`` the values for ``POST /threads/{id}/state``; ``fails`` means the
    run ends with an ``error`` event; ``messages`` that it emits chat messages (worth a ``messages``
    mode stream).
    """

    graph_id: str
    input: Any = field(default_factory=dict)
    resume: Any = None
    state_update: Any = None
    as_node: str | None = None
    fails: bool = False
    messages: bool = True


#: The test bed's graphs (tests/agent_server), in order of preference for the main flows.
TEST_BED_CASES: tuple[GraphCase, ...] = (
    GraphCase(
        "approval",
        {"messages": [{"role": "user", "content": "ship the contract check"}]},
        resume="yes",
        state_update={"accepted": True},
        as_node="human_interaction",
        messages=False,
    ),
    GraphCase("chat", {"messages": [{"role": "user", "content": "hello"}]}),
    GraphCase("subgraphs", {"topic": "contract"}, messages=False),
    GraphCase("custom_events", {"count": 3}, messages=False),
    GraphCase("failing", {"message": "contract check"}, fails=True, messages=False),
)


def cases_for(graph_ids: Sequence[str], default_input: Any = None) -> list[GraphCase]:
    """Cases for chosen graphs: the test bed's case where known, else ``default_input`` (or ``{}``)."""
    known = {case.graph_id: case for case in TEST_BED_CASES}
    return [known.get(g) or GraphCase(g, {} if default_input is None else default_input) for g in graph_ids]


def choose_cases(
    graph_ids: Iterable[str], preferred: Sequence[GraphCase] = TEST_BED_CASES
) -> list[GraphCase]:
    """The preferred cases whose graph the server has; else a case with empty input for its first graph."""
    available = set(graph_ids)
    chosen = [case for case in preferred if case.graph_id in available]
    if not any(not case.fails for case in chosen) and available:
        chosen.insert(0, GraphCase(sorted(available)[0]))
    return chosen


#: Independent groups of calls (each creates and deletes its own threads, assistants, ...), in the
#: order they run. Only ``state``, ``runs``, ``streams`` and ``stateless`` execute graph runs.
GROUPS: tuple[str, ...] = (
    "system",
    "assistants",
    "threads",
    "state",
    "runs",
    "cancel",
    "streams",
    "sessions",
    "stateless",
    "crons",
    "store",
    "errors",
)
_ALL_MODES = ["values", "updates", "messages-tuple", "tasks", "checkpoints", "events", "debug", "custom"]
_MESSAGE_MODES = ["messages", "values"]
_THREAD_STREAM_MODES = "run_modes,lifecycle,state_update"
_RUN_ENDED = frozenset({"completed", "failed", "interrupted"})
_NEVER = "0 0 1 1 *"  # cron schedule: once a year, never during a check


class _StepFailed(Exception):
    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


def _fill(template: str, path: Mapping[str, str]) -> str:
    """A concrete URL path from a template and parameter values."""
    return _PARAM_RE.sub(lambda m: quote(str(path[m.group(1)]), safe=""), template)


@dataclass
class Reply:
    """A real answer, its body read (for a stream: parsed into events)."""

    status: int
    content_type: str
    text: str
    events: list[SseEvent]

    def json(self) -> Any:
        return json.loads(self.text) if self.text.strip() else None


@dataclass
class ExerciseResult:
    """What the exerciser did and found."""

    findings: list[Finding]
    exercised: dict[OpKey, int]  # our operations that were called, with their number of calls
    not_exercised: list[Operation]  # our operations never called
    undescribed_calls: list[str]  # calls made to server operations our spec lacks
    events: dict[str, int]  # SSE event names (base) validated, with their counts
    cases: list[GraphCase]

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.failing]


_UNSET: Any = object()


class Exerciser:
    """Real calls for every operation the server and our spec share, each answer validated.

    ``cases`` picks the graphs (default: :func:`choose_cases` over the server's graphs). The main case,
    preferably one that interrupts, drives the thread-state flow; every case is streamed once with all
    stream modes and subgraphs.
    """

    def __init__(
        self,
        spec: Spec,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        *,
        cases: Sequence[GraphCase] | None = None,
        timeout: float = 30.0,
        stream_deadline: float = 20.0,
    ) -> None:
        self.spec = spec
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.stream_deadline = stream_deadline
        self.tag = uuid.uuid4().hex[:12]
        self._cases = list(cases) if cases is not None else None
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._findings: list[Finding] = []
        self._exercised: dict[OpKey, int] = {}
        self._undescribed: set[str] = set()
        self._events: dict[str, int] = {}
        self._cleanup: list[tuple[str, str, dict[str, str]]] = []

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("Exerciser.call outside Exerciser.run")
        return self._client

    # -- driver

    def run(self, groups: Iterable[str] | None = None) -> ExerciseResult:
        """Run groups of calls (default: all :data:`GROUPS`, which also requires every operation marked
        ``x-live-spec-erratum`` to have been called) and return what was exercised and found."""
        selected = list(groups) if groups is not None else list(GROUPS)
        unknown = set(selected) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown exercise groups: {sorted(unknown)}")
        cases: list[GraphCase] = []
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=self.timeout) as client:
            self._client = client
            try:
                cases = self.cases
                for name in selected:
                    self._run_group(name)
            except httpx.HTTPError as exc:
                self._fail(self.base_url, f"cannot list the server's graphs: {exc}")
            finally:
                self._client = None
        if groups is None:
            for op in self.spec.operations.values():
                if op.erratum and op.key not in self._exercised:
                    self._fail(op.label, f"has {ERRATUM_KEY} but was not proven by a real call")
        return ExerciseResult(
            findings=list(self._findings),
            exercised=dict(self._exercised),
            not_exercised=[
                op for key, op in sorted(self.spec.operations.items()) if key not in self._exercised
            ],
            undescribed_calls=sorted(self._undescribed),
            events=dict(sorted(self._events.items())),
            cases=cases,
        )

    def _run_group(self, name: str) -> None:
        try:
            getattr(self, f"_group_{name}")()
        except _StepFailed as exc:
            self._fail(exc.where, f"[{name}] {exc.message}")
        except (httpx.HTTPError, KeyError, TypeError, IndexError, ValueError) as exc:
            self._fail(f"group {name}", f"stopped by {type(exc).__name__}: {_shorten(str(exc))}")
        finally:
            self._clean_up()

    @cached_property
    def cases(self) -> list[GraphCase]:
        if self._cases is not None:
            return self._cases
        response = self.client.post("/assistants/search", json={"limit": 1000})
        response.raise_for_status()
        return choose_cases({a["graph_id"] for a in response.json()})

    @property
    def main(self) -> GraphCase:
        """The case for the thread-state flow: one that interrupts, if any."""
        usable = [c for c in self.cases if not c.fails]
        if not usable:
            raise _StepFailed("exerciser", "no graph case that runs without failing")
        return next((c for c in usable if c.resume is not None), usable[0])

    @property
    def plain(self) -> GraphCase:
        """A case that runs to completion (no interrupt, no failure)."""
        usable = [c for c in self.cases if not c.fails]
        return next((c for c in usable if c.resume is None), self.main)

    def _fail(self, where: str, message: str) -> None:
        with self._lock:
            self._findings.append(Finding(Check.VALIDATION, Change.CHANGED, where, message))

    # -- one call

    def call(
        self,
        method: str,
        template: str,
        path: Mapping[str, str] | None = None,
        *,
        json: Any = _UNSET,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Sequence[int] = (200,),
        stop: Callable[[SseEvent], bool] | None = None,
        check_body: bool = True,
    ) -> Reply:
        """Make a real call (``template`` in the server's spelling), validate request and answer
        against our spec, and raise unless the status is one of ``expect``."""
        op = self.spec.operation(method, template)
        label = op.label if op else f"{method} {template}"
        if op is not None and json is not _UNSET and check_body:
            for problem in check_request(self.spec, op, json):
                self._fail(label, problem)
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if json is not _UNSET:
            kwargs["json"] = json
        reply = self._send(method, _fill(template, path or {}), kwargs, stop)
        with self._lock:
            for event in reply.events:
                self._events[event.base] = self._events.get(event.base, 0) + 1
            if op is None:
                self._undescribed.add(f"{method} {template}")
            else:
                self._exercised[op.key] = self._exercised.get(op.key, 0) + 1
        if op is not None:
            for problem in check_response(
                self.spec, op, reply.status, reply.content_type, reply.text, events=reply.events
            ):
                self._fail(label, problem)
        if reply.status not in expect:
            raise _StepFailed(
                label, f"expected {list(expect)}, got {reply.status}: {_shorten(reply.text, 200)}"
            )
        return reply

    def _send(
        self, method: str, url: str, kwargs: dict[str, Any], stop: Callable[[SseEvent], bool] | None
    ) -> Reply:
        with self.client.stream(method, url, **kwargs) as response:
            content_type = response.headers.get("content-type", "")
            events: list[SseEvent] = []
            if content_type.split(";")[0].strip().lower() != SSE_MEDIA_TYPE:
                return Reply(response.status_code, content_type, response.read().decode(), events)
            parser, deadline = SseParser(), time.monotonic() + self.stream_deadline
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is not None:
                    events.append(event)
                    if stop is not None and stop(event):
                        break
                if time.monotonic() > deadline:
                    if stop is None:
                        raise _StepFailed(url, f"stream did not end within {self.stream_deadline} s")
                    break
            else:
                last = parser.finish()
                if last is not None:
                    events.append(last)
            return Reply(response.status_code, content_type, "", events)

    def _track(self, method: str, template: str, path: Mapping[str, str]) -> None:
        self._cleanup.append((method, template, dict(path)))

    def _clean_up(self) -> None:
        """Delete what a group created and did not delete itself (unvalidated, errors ignored)."""
        while self._cleanup:
            method, template, path = self._cleanup.pop()
            with contextlib.suppress(httpx.HTTPError):
                self.client.request(method, _fill(template, path))

    def _new_thread(self) -> dict[str, str]:
        thread = self.call("POST", "/threads", json={"metadata": {"contract": self.tag}}).json()
        t = {"thread_id": str(thread["thread_id"])}
        self._track("DELETE", "/threads/{thread_id}", t)
        return t

    @staticmethod
    def _run_body(case: GraphCase, **extra: Any) -> dict[str, Any]:
        return {"assistant_id": case.graph_id, "input": case.input, **extra}

    @staticmethod
    def _state_update(case: GraphCase) -> dict[str, Any]:
        update = {"values": case.state_update if case.state_update is not None else {}}
        return {**update, "as_node": case.as_node} if case.as_node else update

    # -- groups

    def _group_system(self) -> None:
        self.call("GET", "/ok")
        self.call("GET", "/info")

    def _group_assistants(self) -> None:
        body = {
            "graph_id": self.main.graph_id,
            "name": f"contract-{self.tag}",
            "metadata": {"contract": self.tag},
        }
        a = {
            "assistant_id": self.call("POST", "/assistants", json={**body, "if_exists": "raise"}).json()[
                "assistant_id"
            ]
        }
        self._track("DELETE", "/assistants/{assistant_id}", a)
        self.call("POST", "/assistants", json={**body, **a, "if_exists": "raise"}, expect=(409,))
        self.call("GET", "/assistants/{assistant_id}", a)
        self.call("PATCH", "/assistants/{assistant_id}", a, json={"metadata": {"patched": True}})
        self.call("POST", "/assistants/search", json={"metadata": {"contract": self.tag}, "limit": 10})
        self.call("POST", "/assistants/count", json={"metadata": {"contract": self.tag}})
        self.call("POST", "/assistants/{assistant_id}/versions", a, json={"limit": 10})
        self.call("POST", "/assistants/{assistant_id}/latest", a, json={"version": 1})
        self.call("GET", "/assistants/{assistant_id}/graph", a, params={"xray": "true"})
        self.call("GET", "/assistants/{assistant_id}/schemas", a)
        # Subgraphs of a graph that has some, if the server has one.
        graph = next((c.graph_id for c in self.cases if c.graph_id == "subgraphs"), self.main.graph_id)
        created = self.call(
            "POST", "/assistants", json={"graph_id": graph, "metadata": {"contract": self.tag}}
        )
        s = {"assistant_id": created.json()["assistant_id"]}
        self._track("DELETE", "/assistants/{assistant_id}", s)
        namespaces = self.call(
            "GET", "/assistants/{assistant_id}/subgraphs", s, params={"recurse": "true"}
        ).json()
        namespace = next(iter(namespaces or {}), "child").split("|")[0]
        self.call("GET", "/assistants/{assistant_id}/subgraphs/{namespace}", {**s, "namespace": namespace})
        self.call(
            "DELETE", "/assistants/{assistant_id}", s, params={"delete_threads": "false"}, expect=(200, 204)
        )
        self.call("DELETE", "/assistants/{assistant_id}", a, expect=(200, 204))

    def _group_threads(self) -> None:
        t = self._new_thread()
        self.call("POST", "/threads", json={**t, "if_exists": "raise"}, expect=(409,))
        self.call("GET", "/threads/{thread_id}", t, params={"include": "ttl"})
        self.call("PATCH", "/threads/{thread_id}", t, json={"metadata": {"patched": True}})
        self.call("POST", "/threads/search", json={"metadata": {"contract": self.tag}, "limit": 10})
        self.call("POST", "/threads/count", json={"metadata": {"contract": self.tag}})
        copy = {"thread_id": self.call("POST", "/threads/{thread_id}/copy", t).json()["thread_id"]}
        self._track("DELETE", "/threads/{thread_id}", copy)
        self.call("DELETE", "/threads/{thread_id}", copy, expect=(200, 204))
        self.call(
            "POST",
            "/threads/prune",
            json={"thread_ids": [self._new_thread()["thread_id"]], "strategy": "delete"},
        )
        self.call("DELETE", "/threads/{thread_id}", t, expect=(200, 204))

    def _group_state(self) -> None:
        case = self.main
        t = self._new_thread()
        self.call("POST", "/threads/{thread_id}/runs/wait", t, json=self._run_body(case))
        self.call("GET", "/threads/{thread_id}", t)
        checkpoint = self.call("GET", "/threads/{thread_id}/state", t).json()["checkpoint"]
        self.call("GET", "/threads/{thread_id}/state", t, params={"subgraphs": "true"})
        cp = {**t, "checkpoint_id": checkpoint["checkpoint_id"]}
        self.call("GET", "/threads/{thread_id}/state/{checkpoint_id}", cp)
        self.call("POST", "/threads/{thread_id}/state/checkpoint", t, json={"checkpoint": checkpoint})
        self.call("GET", "/threads/{thread_id}/history", t, params={"limit": 5})
        self.call("POST", "/threads/{thread_id}/history", t, json={"limit": 5})
        resume = {"command": {"resume": case.resume}} if case.resume is not None else {"input": case.input}
        body = {"assistant_id": case.graph_id, **resume, "stream_mode": _ALL_MODES, "stream_subgraphs": True}
        self.call("POST", "/threads/{thread_id}/runs/stream", t, json=body)
        self.call("POST", "/threads/{thread_id}/state", t, json=self._state_update(case))

    def _group_runs(self) -> None:
        case = self.plain
        t = self._new_thread()
        run = self.call(
            "POST", "/threads/{thread_id}/runs", t, json=self._run_body(case, stream_resumable=True)
        )
        r = {**t, "run_id": run.json()["run_id"]}
        self.call("GET", "/threads/{thread_id}/runs/{run_id}/stream", r, headers={"Last-Event-ID": "0"})
        self.call("GET", "/threads/{thread_id}/runs/{run_id}/join", r)
        self.call("GET", "/threads/{thread_id}/runs/{run_id}", r)
        self.call("GET", "/threads/{thread_id}/runs", t, params={"limit": 10})
        # Follow the thread while a run and a state update happen on it.
        errors: list[Exception] = []
        seen: set[str] = set()

        def done(event: SseEvent) -> bool:
            data = event.json()
            seen.add(data.get("status", event.base) if isinstance(data, dict) else event.base)
            return {"run_done", "state_update"} <= seen

        def follow() -> None:
            try:
                params = {"stream_modes": _THREAD_STREAM_MODES}
                self.call("GET", "/threads/{thread_id}/stream", t, params=params, stop=done)
            except Exception as exc:  # re-raised in the group's thread
                errors.append(exc)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        time.sleep(0.5)
        self.call("POST", "/threads/{thread_id}/runs/wait", t, json=self._run_body(case))
        self.call("POST", "/threads/{thread_id}/state", t, json=self._state_update(case))
        follower.join(self.stream_deadline + 5)
        if errors:
            raise errors[0]

    def _group_sessions(self) -> None:
        """Thread sessions: a protocol command starts a run that the thread's event stream follows to its
        end; protocol errors (200 with ``type: error``), a malformed envelope (400); the thread storage."""
        case = self.plain
        t = self._new_thread()
        errors: list[Exception] = []

        def run_ended(event: SseEvent) -> bool:
            data = event.json()
            params = data.get("params", {}) if isinstance(data, dict) else {}
            status = params.get("data", {}).get("event") if isinstance(params.get("data"), dict) else None
            return event.base == "lifecycle" and params.get("namespace") == [] and status in _RUN_ENDED

        def follow() -> None:
            try:
                body = {
                    "channels": ["values", "updates", "messages", "tools", "custom", "lifecycle", "input"]
                }
                self.call("POST", "/threads/{thread_id}/stream/events", t, json=body, stop=run_ended)
            except Exception as exc:  # re-raised in the group's thread
                errors.append(exc)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        time.sleep(0.5)
        command = {"assistant_id": case.graph_id, "input": case.input}
        started = self.call(
            "POST",
            "/threads/{thread_id}/commands",
            t,
            json={"id": 1, "method": "run.start", "params": command},
        ).json()
        if started.get("type") != "success" or not started.get("result", {}).get("run_id"):
            raise _StepFailed("POST /threads/{thread_id}/commands", f"run.start answered {started}")
        follower.join(self.stream_deadline + 5)
        if errors:
            raise errors[0]
        unknown = self.call(
            "POST", "/threads/{thread_id}/commands", t, json={"id": 2, "method": "no.such.command"}
        ).json()
        if unknown.get("error") != "unknown_command":
            raise _StepFailed("POST /threads/{thread_id}/commands", f"an unknown command answered {unknown}")
        self.call(
            "POST",
            "/threads/{thread_id}/commands",
            t,
            json={"method": "run.start"},
            expect=(400,),
            check_body=False,
        )
        self.call(
            "POST",
            "/threads/{thread_id}/stream/events",
            t,
            json={"channels": []},
            expect=(400,),
            check_body=False,
        )
        self.call("GET", "/threads/{thread_id}/storage", t)

    def _group_cancel(self) -> None:
        t = self._new_thread()

        def pending_run() -> dict[str, str]:
            body = self._run_body(self.plain, after_seconds=600)
            return {
                **t,
                "run_id": self.call("POST", "/threads/{thread_id}/runs", t, json=body).json()["run_id"],
            }

        r = pending_run()
        self.call(
            "POST",
            "/threads/{thread_id}/runs/{run_id}/cancel",
            r,
            params={"action": "interrupt"},
            expect=(200, 202),
        )
        self.call("DELETE", "/threads/{thread_id}/runs/{run_id}", r, expect=(200, 204))
        r = pending_run()
        self.call(
            "POST", "/threads/{thread_id}/runs/{run_id}/cancel", r, params={"wait": "true"}, expect=(200, 202)
        )
        r = pending_run()
        body = {"thread_id": t["thread_id"], "run_ids": [r["run_id"]]}
        self.call("POST", "/runs/cancel", json=body, params={"action": "interrupt"}, expect=(200, 204))

    def _group_streams(self) -> None:
        for case in self.cases:
            body = self._run_body(case, stream_mode=_ALL_MODES, stream_subgraphs=True)
            self.call("POST", "/runs/stream", json=body)
            if case.messages:
                self.call("POST", "/runs/stream", json=self._run_body(case, stream_mode=_MESSAGE_MODES))

    def _group_stateless(self) -> None:
        case = self.plain
        self.call("POST", "/runs/wait", json=self._run_body(case))
        self.call("POST", "/runs", json=self._run_body(case))
        self.call("POST", "/runs/batch", json=[self._run_body(case)])

    def _group_crons(self) -> None:
        body = {"assistant_id": self.plain.graph_id, "schedule": _NEVER, "input": self.plain.input}
        c = {
            "cron_id": self.call(
                "POST", "/runs/crons", json={**body, "metadata": {"contract": self.tag}}
            ).json()["cron_id"]
        }
        self._track("DELETE", "/runs/crons/{cron_id}", c)
        t = self._new_thread()
        c2 = {"cron_id": self.call("POST", "/threads/{thread_id}/runs/crons", t, json=body).json()["cron_id"]}
        self._track("DELETE", "/runs/crons/{cron_id}", c2)
        self.call("POST", "/runs/crons/search", json={"metadata": {"contract": self.tag}, "limit": 10})
        self.call("POST", "/runs/crons/count", json={"metadata": {"contract": self.tag}})
        self.call("GET", "/runs/crons/{cron_id}", c)
        self.call("PATCH", "/runs/crons/{cron_id}", c, json={"enabled": False})
        self.call("DELETE", "/runs/crons/{cron_id}", c, expect=(200, 204))
        self.call("DELETE", "/runs/crons/{cron_id}", c2, expect=(200, 204))

    def _group_store(self) -> None:
        namespace = ["contract", self.tag]
        self.call(
            "PUT",
            "/store/items",
            json={"namespace": namespace, "key": "k", "value": {"v": 1}},
            expect=(200, 204),
        )
        self.call("GET", "/store/items", params={"key": "k", "namespace": ".".join(namespace)})
        self.call("POST", "/store/items/search", json={"namespace_prefix": namespace, "limit": 10})
        self.call("POST", "/store/namespaces", json={"prefix": namespace})
        self.call("DELETE", "/store/items", json={"namespace": namespace, "key": "k"}, expect=(200, 204))

    def _group_errors(self) -> None:
        missing = {
            "thread_id": str(uuid.uuid4()),
            "assistant_id": str(uuid.uuid4()),
            "cron_id": str(uuid.uuid4()),
        }
        self.call("GET", "/threads/{thread_id}", missing, expect=(404,))
        self.call("GET", "/assistants/{assistant_id}", missing, expect=(404,))
        self.call("GET", "/runs/crons/{cron_id}", missing, expect=(404,))
        self.call(
            "GET",
            "/store/items",
            params={"key": "missing", "namespace": f"contract.{self.tag}"},
            expect=(200, 404),  # 200 with a null body, in fact
        )
        self.call("POST", "/threads", json={"thread_id": 42}, expect=(422,), check_body=False)
        body = {"assistant_id": f"no-such-graph-{self.tag}", "input": {}}
        self.call("POST", "/threads/{thread_id}/runs/wait", missing, json=body, expect=(404, 422))
