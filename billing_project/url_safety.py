"""Outbound URLs (webhooks) must reach the public internet, not this service's own network.

A URL is refused unless it is http(s) and every address its host is or resolves to is global
unicast: loopback, private, link-local, multicast, reserved, unspecified and shared (CGNAT)
addresses are refused. Checked when a URL is saved and again right before each delivery, since
DNS can change. `WEBHOOK_ALLOW_PRIVATE_URLS=1` lifts the address rule (development and tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from billing_project.errors import invalid

ALLOWED_SCHEMES = ("http", "https")


class UnsafeUrl(ValueError):
    """The URL may not be called from this service."""


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []  # nothing to call (yet): a delivery to it fails like any unreachable host
    return sorted({info[4][0] for info in infos})


def check_url(url: str) -> None:
    """Raise UnsafeUrl unless `url` is http(s) and its host is (and resolves to) public addresses only."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrl("The URL is malformed.") from exc
    if parts.scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrl("Only http and https URLs are allowed.")
    host = parts.hostname or ""
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", False):
        return
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise UnsafeUrl(f"The host '{host[:100]}' is not public.") from None
        addresses = _resolve(host, port)
    for address in addresses:
        if not _address_is_public(address):
            raise UnsafeUrl(f"The host '{host[:100]}' is or resolves to a non-public address ({address}).")


def validate_webhook_url(url: str, attr: str | None = "url") -> str:
    """Return `url`, or raise the API's 400 `webhook_url_not_allowed` naming `attr`."""
    try:
        check_url(url)
    except UnsafeUrl as exc:
        raise invalid(attr, str(exc), "webhook_url_not_allowed") from None
    return url
