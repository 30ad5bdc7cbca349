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
the findings of that parameter or field.

One job per module: ``findings``, ``spec`` (the model), ``schema`` (analysis), ``diff`` ((a) and
(c)), ``validation`` ((b), with the SSE decoder of ``lmsystems._sse``) and ``exerciser`` (the live
calls). No pytest imports: used by ``scripts/contract.py``, ``scripts/spec_drift.py`` and
``tests/test_contract.py``.
"""

from __future__ import annotations

from .diff import compare_specs
from .exerciser import GROUPS, TEST_BED_CASES, Exerciser, ExerciseResult, GraphCase, cases_for, choose_cases
from .findings import Change, Check, Finding, auth_headers, format_findings, server_version
from .schema import enum_values, required_fields, top_fields
from .spec import (
    DEFAULT_IGNORED_PATHS,
    DEFAULT_SPEC,
    DEPLOYMENT_ENUM_FIELDS,
    ERRATUM_KEY,
    NOT_DESCRIBED,
    REPO_ROOT,
    SSE_EVENTS_KEY,
    SSE_MEDIA_TYPE,
    Operation,
    Param,
    Spec,
    SpecError,
    is_ignored,
    not_described_reason,
    template_key,
)
from .validation import SseEvent, SseParser, check_request, check_response

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
