"""Read the marketplace's answer into a Deployment, trusting nothing in it blindly (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._exceptions import APIResponseError, InputError
from ._headers import is_key
from ._settings import check_url
from ._types import Deployment

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_deployment_url(url: str, *, allow_insecure_http: bool, argument: str) -> str:
    """A deployment URL we may send a key to: no credentials in it, https unless it is this machine."""
    try:
        checked = check_url(url, argument=argument)
    except InputError as error:
        raise APIResponseError(f"the marketplace gave an unusable deployment URL: {error}") from None
    parts = urlsplit(checked)
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname or ""):
        raise APIResponseError(
            f"{argument} uses plain http to {parts.hostname}: refusing to send a key unencrypted "
            "(pass allow_insecure_http=True to allow it)"
        )
    return checked


def deployment_from_graph_info(graph_name: str, body: Any, *, allow_insecure_http: bool) -> Deployment:
    """The deployment described by a `get_graph_info` answer; an APIResponseError naming what is wrong."""
    if not isinstance(body, Mapping):
        raise APIResponseError(f"the marketplace answered {type(body).__name__} instead of an object")
    for name in ("graph_url", "lgraph_api_key", "assistant_id"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise APIResponseError(f"the marketplace's answer for {graph_name!r} lacks the field {name!r}")
    if not is_key(body["lgraph_api_key"]):
        raise APIResponseError(
            f"the marketplace's answer for {graph_name!r} has a malformed lgraph_api_key (it must be "
            "printable ASCII without spaces or newlines; not shown): refusing to send it anywhere"
        )
    configurables = body.get("configurables") or {}
    configurable = configurables.get("configurable", {}) if isinstance(configurables, Mapping) else {}
    environment = body.get("environment_variables") or {}
    if not isinstance(configurable, Mapping) or not isinstance(environment, Mapping):
        raise APIResponseError(
            "the marketplace's answer has configurables or environment_variables of the wrong type"
        )
    return Deployment(
        graph_name=graph_name,
        url=check_deployment_url(
            body["graph_url"], allow_insecure_http=allow_insecure_http, argument="graph_url"
        ),
        assistant_id=body["assistant_id"],
        api_key=body["lgraph_api_key"],
        configurable=dict(configurable),
        environment_variables=dict(environment),
        via_marketplace=True,
    )
