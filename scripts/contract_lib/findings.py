"""Findings: what a contract check reports, and the small HTTP helpers the reports use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import httpx


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
