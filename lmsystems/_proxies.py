"""The proxies the environment asks for, read as httpx reads them (pure: no I/O).

httpx's client mounts the environment's proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) only
when it builds its own transport; the client gives it one (`_async/_network.py`), so it mounts them
itself, from this table, to keep what `trust_env` has always meant.
"""

from __future__ import annotations

import ipaddress
from urllib.request import getproxies

__all__ = ["environment_proxies"]


def environment_proxies() -> dict[str, str | None]:
    """URL patterns (httpx's mount keys) and the proxy for each; None: no proxy (NO_PROXY)."""
    found = getproxies()
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if found.get(scheme):
            proxy = found[scheme]
            mounts[f"{scheme}://"] = proxy if "://" in proxy else f"http://{proxy}"
    for host in (name.strip() for name in found.get("no", "").split(",")):
        if host == "*":  # curl's rule: NO_PROXY=* turns every proxy off
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host, 4) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif _is_ip(host, 6):
            mounts[f"all://[{host}]"] = None
        else:  # .example.com: its subdomains; example.com: it and its subdomains
            mounts[f"all://*{host}"] = None
    return mounts


def _is_ip(host: str, version: int) -> bool:
    try:
        address = ipaddress.ip_address(host.split("/", maxsplit=1)[0])
    except ValueError:
        return False
    return address.version == version
