"""Where webhooks may point: public http(s) addresses, never this network's insides.

A webhook URL is chosen by a site admin, and the workers that send to it sit inside
the operator's network: a URL naming a loopback, private, link-local or otherwise
non-public address (or a name that resolves to one) would let it reach internal
services. Such targets are refused, at `add` and again at every delivery (names can
change what they resolve to), unless `MODERATION_WEBHOOK_ALLOW_PRIVATE` is set (tests,
development, a receiver on the same private network by the operator's choice). The
sender connects to the very address that was checked. An IPv6 address that carries an
IPv4 address (mapped, compatible, 6to4, Teredo, NAT64, SIIT) is judged by that IPv4
address too: a gateway on the way may deliver it there, and `is_global` does not look
inside.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from moderation.errors import WebhookTargetRefused

MAX_URL = 2000
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# NAT64's well-known prefix (RFC 6052), its local-use one (RFC 8215) and SIIT's
# IPv4-translated addresses (RFC 2765, ::ffff:0:a.b.c.d): the last 32 bits are the IPv4
# address the translator connects to.
_TRANSLATED = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with its query

    @property
    def url(self) -> str:
        """The one spelling of this target: "HTTP://Example.org:80/hook#x" is
        "http://example.org/hook", so a site cannot subscribe one receiver twice."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"


def parse(url: str) -> Target:
    """`url` as a target, or `WebhookTargetRefused` saying what is wrong with it."""
    if len(url) > MAX_URL:
        raise WebhookTargetRefused(f"the URL is over {MAX_URL} characters", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookTargetRefused(f"{url!r} is not a URL: {exc}", field="url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookTargetRefused(f"{url!r} must be an http:// or https:// URL", field="url")
    if parts.username or parts.password:
        raise WebhookTargetRefused(
            "put no credentials in the URL; verify the signature", field="url"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default, path)


def addresses(target: Target, allow_private: bool) -> list[str]:
    """The addresses `target`'s host resolves to, all of them allowed, or `WebhookTargetRefused`."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookTargetRefused(
            f"{target.host} does not resolve: {exc.strerror}", field="url"
        ) from exc
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in found:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not all(reached.is_global for reached in _reaches(ip)):
                raise WebhookTargetRefused(
                    f"{target.host} resolves to {address}, a loopback, private or reserved "
                    "address (set MODERATION_WEBHOOK_ALLOW_PRIVATE=true to allow it)",
                    field="url",
                )
    return found


def _reaches(ip: _Address) -> list[_Address]:
    """The addresses a connection to `ip` may end up at: `ip` and any IPv4 address in it."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    if ip.ipv4_mapped is not None:  # the socket talks IPv4 to it: only the IPv4 address counts
        return [ip.ipv4_mapped]
    return [ip, *_embedded_ipv4(ip)]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a relay or translator would forward `ip`'s traffic to."""
    last_32_bits = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # Compatible (::/96), NAT64 and SIIT.
    if int(ip) >> 32 == 0 or any(ip in prefix for prefix in _TRANSLATED):
        return [last_32_bits]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    return list(ip.teredo or ())  # its server and its client
