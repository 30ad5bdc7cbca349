"""Optional dependencies: say which extra to install instead of failing with an ImportError."""

from __future__ import annotations

import importlib.util

from .._exceptions import InputError


class MissingExtraError(InputError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(*modules: str, extra: str, purpose: str) -> None:
    """Raise MissingExtraError unless every module can be imported."""
    missing = [name for name in modules if not _importable(name)]
    if missing:
        raise MissingExtraError(
            f"{purpose} needs the {extra!r} extra: pip install 'lmsystems[{extra}]' "
            f"(missing: {', '.join(missing)})"
        )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
