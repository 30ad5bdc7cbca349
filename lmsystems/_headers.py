"""What may travel in an HTTP header, checked where a value enters, before any request (pure).

httpx encodes header values as ASCII and h11 refuses CR, LF and NUL, quoting the value in its error: a
key with a trailing newline would surface in error texts and logs, a non-ASCII one as a raw
UnicodeEncodeError. So every value that becomes a header (keys from arguments, the environment and the
marketplace; a `Last-Event-ID` from a server's event; header parameters of an operation) is checked here
first, and refused by the caller with one of our errors that never quotes the value.
"""

from __future__ import annotations

import re

__all__ = ["is_field_value", "is_key"]

_KEY = re.compile(r"[\x21-\x7e]+")  # visible ASCII, no spaces: safe in a header, whole
_FIELD = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")  # visible ASCII, inner spaces allowed


def is_key(value: object) -> bool:
    """Whether `value` can be sent as a key: a non-empty string of visible ASCII without spaces."""
    return isinstance(value, str) and _KEY.fullmatch(value) is not None


def is_field_value(value: object) -> bool:
    """Whether `value` can be sent as a header value: visible ASCII, spaces only between characters."""
    return isinstance(value, str) and _FIELD.fullmatch(value) is not None
