"""Ids the client chooses itself, so that a create can be sent twice (pure)."""

from __future__ import annotations

import os
import time
import uuid


def new_uuid7() -> str:
    """A random, time-ordered UUID (version 7, RFC 9562), like the ids the Agent Server mints itself."""
    value = (int(time.time() * 1000) & (2**48 - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))
