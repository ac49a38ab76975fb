"""Sending one webhook request: to the checked address, without following redirects.

`http.client` on a socket opened to the address `targets.addresses` allowed (TLS still
verifies the certificate for the host name), so a name cannot resolve to one address
when checked and another when connected. Only a 2xx answer counts as delivered; a
redirect is an answer like any other and is not followed. The timeout is the deadline of
the whole attempt: an answer not complete by then is a failed attempt.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
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


def timed_out(timeout: float) -> Answer:
    return Answer(None, f"timed out after {timeout:g} s", round(timeout * 1000))


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
        # Handshake once `sock` is set, so that the deadline can cut a slow one too.
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            raw, server_hostname=self.host, do_handshake_on_connect=False
        )
        self.sock.do_handshake()


def _cut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # closed meanwhile
            # The plain socket's shutdown: TLS's would drop its state under the reader.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def post(
    url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool
) -> Answer:
    """POST `body` to `url` once, within `timeout` seconds all told; never raises for
    anything the network or receiver does."""
    started = time.monotonic()
    try:
        target = parse(url)
        address = addresses(target, allow_private)[0]
    except WebhookTargetRefused as exc:
        return Answer(None, f"refused: {exc.message}", _milliseconds(started))
    left = timeout - (time.monotonic() - started)
    if left <= 0:
        return timed_out(timeout)
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(address, target, left)
    # The socket's timeout bounds each read, which a receiver answering a byte at a time
    # never exceeds: the connection is cut at the deadline instead.
    cut = threading.Timer(left, _cut, (connection,))
    cut.start()
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
        )
        response = connection.getresponse()
        status: int | None = response.status
        text = response.read(_KEEP_BYTES).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        status, text = None, f"{type(exc).__name__}: {exc}"[:_KEEP_BYTES]
    finally:
        cut.cancel()
        connection.close()
    if time.monotonic() - started >= timeout:
        return timed_out(timeout)
    return Answer(status, text, _milliseconds(started))


def _milliseconds(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
