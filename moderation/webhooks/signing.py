"""Signing webhook requests as Stripe does, so receivers can use the code they know.

`Moderation-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
with a second `v1` while a rotated-out secret is still in its grace period. A receiver
recomputes the HMAC over the exact bytes it received with its secret, compares in
constant time against any `v1`, and refuses a `t` too far from its own clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix that makes leaked secrets easy to spot)
HEADER = "Moderation-Signature"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header(signing_secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """The header value signing `body` at `timestamp` with each secret in turn."""
    return ",".join(
        [f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in signing_secrets)]
    )
