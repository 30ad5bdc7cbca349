"""Build requests with the generated request builders: pure, shared by the sync and async facades.

Every request is built by the generated operation's public `request_kwargs` (method, path with quoted
ids, query parameters, headers, JSON body). The generated modules are imported on first use of each
operation, so that importing lmsystems and creating a client stay cheap.
"""

from __future__ import annotations

import functools
import importlib
import json
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from ._exceptions import InputError
from ._headers import is_field_value

AGENT_SERVER = "lmsystems_generated.agent_server"
MARKETPLACE = "lmsystems_generated.marketplace"


@dataclass(frozen=True)
class RequestSpec:
    """One request, before it is sent: everything but the base URL and the credentials."""

    operation: str
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    #: True when sending it twice does no harm (GET, PUT, DELETE, and POSTs that only read).
    idempotent: bool = False

    def get_or_create(self) -> RequestSpec:
        """This create, known to be a get-or-create (a chosen id with `if_exists="do_nothing"`): sending
        it twice does no harm, so it is retried like a read."""
        return replace(self, idempotent=True)

    def with_headers(self, **headers: str) -> RequestSpec:
        merged = {**self.headers, **{name.replace("_", "-"): value for name, value in headers.items()}}
        return RequestSpec(
            self.operation, self.method, self.path, self.params, merged, self.content, self.idempotent
        )


# POSTs that only read, so that retrying them is safe.
READ_ONLY_POSTS = frozenset(
    {
        "search_threads",
        "count_threads",
        "search_thread_history",
        "get_thread_state_for_checkpoint",
        "search_assistants",
        "count_assistants",
        "list_assistant_versions",
        "search_store_items",
        "list_store_namespaces",
        "search_crons",
        "count_crons",
        "get_graph_info",
    }
)


@functools.cache
def _operation_module(package: str, operation: str) -> ModuleType:
    return importlib.import_module(f"{package}.api.{operation}")


@functools.cache
def _model(package: str, name: str) -> Any:
    return getattr(importlib.import_module(f"{package}.models"), name)


def encode_json(value: Any, *, argument: str = "body") -> bytes:
    """JSON bytes of a request body; an InputError (naming the argument) when it cannot be encoded."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        raise InputError(f"{argument} cannot be sent as JSON: {error}") from None
    except RecursionError:
        raise InputError(f"{argument} cannot be sent as JSON: it is nested too deeply") from None


def build(
    operation: str,
    *path: str,
    body_model: str | None = None,
    body: Any = None,
    package: str = AGENT_SERVER,
    **params: Any,
) -> RequestSpec:
    """Build the request of a generated operation (`"threads.create_thread"`).

    `path` are the path parameters in order; `params` the query and header parameters (None = unset);
    `body` is a dict (or a list of dicts) converted with the generated model `body_model`.
    """
    for value in path:
        if value in (".", ".."):
            raise InputError(f"{value!r} is not a valid id: it would change the request's target")
    module = _operation_module(package, operation)
    arguments: dict[str, Any] = {name: value for name, value in params.items() if value is not None}
    name = operation.rsplit(".", 1)[-1]
    try:
        if body_model is not None:
            model = _model(package, body_model)
            arguments["body"] = (
                [model.from_dict(item) for item in body] if isinstance(body, list) else model.from_dict(body)
            )
        kwargs = module.request_kwargs(*path, **arguments)
    except RecursionError:
        raise InputError(f"invalid arguments for {name}: a value is nested too deeply") from None
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise InputError(f"invalid arguments for {name}: {type(error).__name__}: {error}") from None
    headers = {key: str(value) for key, value in kwargs.get("headers", {}).items()}
    for key, value in headers.items():
        if not is_field_value(value):
            raise InputError(
                f"{key} cannot be sent in a header: it must be printable ASCII without newlines "
                "(the value is not shown)"
            )
    content = None
    if "json" in kwargs:
        content = encode_json(kwargs["json"], argument=f"the body of {name}")
    method = kwargs["method"].upper()
    return RequestSpec(
        operation=name,
        method=method,
        path=kwargs["url"],
        params=kwargs.get("params", {}),
        headers=headers,
        content=content,
        idempotent=method in ("GET", "PUT", "DELETE", "HEAD") or name in READ_ONLY_POSTS,
    )


@dataclass(frozen=True)
class Endpoint:
    """A service to send requests to: its base URL and the headers that authenticate us (kept out of repr)."""

    service: str
    base_url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def agent_server_endpoint(url: str, key: str | None) -> Endpoint:
    """The Agent Server at `url`, with its key (sent as `x-api-key`) when it has one."""
    return Endpoint("agent server", url, {"x-api-key": key} if key else {})
