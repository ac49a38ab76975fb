"""Sending one webhook request: to the checked address, without following redirects.

`http.client` on a socket opened to the address `targets.addresses` allowed (TLS still
verifies the certificate for the host name), so a name cannot resolve to one address
when checked and another when connected. Only a 2xx answer counts as delivered; a
redirect is an answer like any other and is not followed.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from moderation.errors import WebhookTargetRefused
from moderation.webhooks.targets import Target, addresses, parse

# What the delivery log keeps of an answer: enough to see what the receiver said.
_KEEP_BYTES = 2048
USER_AGENT = "moderation-webhooks/1"


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None  # None: no HTTP answer
    response: str  # the start of the body, or what went wrong
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, address: str, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, address: str, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool
) -> Answer:
    """POST `body` to `url` once; never raises for anything the network or receiver does."""
    started = time.monotonic()

    def answer(status: int | None, text: str) -> Answer:
        return Answer(status, text, int((time.monotonic() - started) * 1000))

    try:
        target = parse(url)
        address = addresses(target, allow_private)[0]
    except WebhookTargetRefused as exc:
        return answer(None, f"refused: {exc.message}")
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(address, target, timeout)
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        text = response.read(_KEEP_BYTES).decode("utf-8", errors="replace")
        return answer(response.status, text)
    except (OSError, http.client.HTTPException) as exc:
        return answer(None, f"{type(exc).__name__}: {exc}"[:_KEEP_BYTES])
    finally:
        connection.close()
