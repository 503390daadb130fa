"""Where a webhook may be sent: checked on the URL when an endpoint is made, and on the resolved
address at every delivery (a name that resolved to a public address yesterday may resolve to the
hub's own network today). The request then goes to the address that was checked, never to a
second resolution of the name, so DNS rebinding between check and connect gains nothing."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2000
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL or the address it resolves to may not be a webhook target."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def parse_url(url: str) -> Target:
    """The parts of an acceptable webhook URL, or :class:`TargetRefused` saying what is wrong."""
    if not isinstance(url, str) or not url:
        raise TargetRefused("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise TargetRefused("the URL contains spaces or control characters")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"the URL is malformed ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("the URL must not carry a user name or password")
    if parts.fragment:
        raise TargetRefused("the URL must not have a #fragment")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path)


def refusal(address: IpAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or address.is_unspecified or not address.is_global:
        return "not a public address"
    return None


def check_literal(target: Target, allow_private: bool) -> None:
    """At creation: refuse what is plainly internal (an address literal, localhost) at once."""
    if allow_private:
        return
    if target.host.lower() in ("localhost", "localhost.localdomain") or target.host.lower().endswith(".localhost"):
        raise TargetRefused(f"{target.host} is a loopback address")
    try:
        address = ipaddress.ip_address(target.host)
    except ValueError:
        return  # a name: resolved and checked at each delivery
    why = refusal(address)
    if why:
        raise TargetRefused(f"{target.host} is {why}; set EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow it")


def resolve(target: Target, allow_private: bool) -> str:
    """The address to connect to: the first one the name resolves to that may be a target."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"cannot resolve {target.host}: {exc}") from None
    reasons = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        why = None if allow_private else refusal(address)
        if why is None:
            return text
        reasons.append(f"{text} is {why}")
    raise TargetRefused(
        f"{target.host} resolves to {'; '.join(reasons) or 'no address'}: refused "
        "(EPROC_WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows private targets)"
    )
