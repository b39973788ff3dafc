"""Where the fetcher may connect: an allow-list of origins, the guard against server-side request forgery.

Media URLs come from signed webhooks, but a signed payload can still name any URL (a compromised
provider account, a provider bug), and a credential must never follow a URL we did not expect. So
every URL, and every redirect hop, must match one entry: ``scheme://host[:port]``, where the host may
start with ``*.`` to allow its subdomains (``https://*.fbcdn.net``, the CDN hosts of one provider).
The port defaults to the scheme's; a URL with user information is never allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, lower-cased and with the port always written out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:  # a port that is not a number
        port = -1
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def _matches(url_origin: str, rule: str) -> bool:
    scheme, _, host_port = origin(rule).partition("://")
    url_scheme, _, url_host_port = url_origin.partition("://")
    if scheme != url_scheme:
        return False
    host, _, port = host_port.rpartition(":")
    url_host, _, url_port = url_host_port.rpartition(":")
    if port != url_port or not url_host:
        return False
    if host.startswith("*."):
        return url_host.endswith(host[1:]) and len(url_host) > len(host) - 1
    return url_host == host


def is_allowed(url: str, allowed: Iterable[str]) -> bool:
    """Whether the fetcher may connect to ``url``: it matches one of the ``allowed`` origins."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return False
    url_origin = origin(url)
    return any(_matches(url_origin, rule) for rule in allowed)
