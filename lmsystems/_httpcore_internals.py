"""The one place that reads httpcore's private attributes (read only, never written).

The fast stream path (`_body.py`) needs the h11 connection of a streamed HTTP/1.1 response, to read
which body bytes h11 has buffered but not parsed yet (`h11.Connection.trailing_data`, public) and to
bring h11 to the end of the message through its public API once the body was read without it. httpcore
exposes that connection through no public API, so it is found by walking private names from the body
the client's own transport (`_async/_network.py`) puts in the response's extensions:

    response.extensions[BODY_EXTENSION]   our (Async|Sync)BoundedBody            (ours)
      .httpcore_stream                    httpcore's PoolByteStream              (ours, public)
      ._stream                            httpcore's HTTP11ConnectionByteStream
      ._connection                        httpcore's HTTP11Connection
      ._h11_state                         the h11.Connection

The names are the same in httpcore 1.0.x (async and sync); `nox -s compat_httpx` runs the stream tests
on the lowest and the newest supported versions. Anything else (another layout, a transport given by
the user, a proxy, HTTP/2) gives None, and the stream is read through httpx.
"""

from __future__ import annotations

from typing import Any, Final

import h11
import httpx

__all__ = ["BODY_EXTENSION", "h11_connection_of"]

#: The response extension in which the client's transport leaves its body object.
BODY_EXTENSION: Final = "lmsystems_body"

_PATH_TO_H11: Final = ("_stream", "_connection", "_h11_state")


def h11_connection_of(response: httpx.Response) -> h11.Connection | None:
    """The h11 connection a streamed response is read through, or None when there is none to find."""
    found: Any = getattr(response.extensions.get(BODY_EXTENSION), "httpcore_stream", None)
    for name in _PATH_TO_H11:
        found = getattr(found, name, None)
        if found is None:
            return None
    return found if isinstance(found, h11.Connection) else None
