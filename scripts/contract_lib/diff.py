"""(a) and (c): our spec against the server's own /openapi.json, operation by operation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .findings import Change, Check, Finding
from .schema import enum_values, required_fields, top_fields
from .spec import (
    DEFAULT_IGNORED_PATHS,
    DEPLOYMENT_ENUM_FIELDS,
    ERRATUM_KEY,
    Operation,
    Spec,
    erratum,
    is_ignored,
    join_pointer,
    json_media,
)


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
        return erratum(fields[name], ours.resolve(fields[name])) if name in fields else None

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
    media = json_media(content)
    if media is None or "schema" not in content[media]:
        return None
    return join_pointer(ptr, "content", media, "schema")
