"""Coral's external moderation phase: its signed request, and the site policy's verdict.

Coral POSTs an `ExternalModerationRequest` for every new or edited comment, signed in
`X-Coral-Signature` as webhooks are: `sha256=<hex HMAC-SHA256 of the raw body>`, one per
secret Coral holds active, comma-separated. Any one made with a secret the site holds
valid is enough; none is a 401, whatever the body says (a phase that acts on unsigned
requests would let anyone reject comments).

The verdict is the site's policy on this service's scores: a comment the policy would
approve gets a 204 (Coral carries on with its own phases); one it holds gets
`SYSTEM_WITHHELD` (Coral's pre-moderation queue), one it rejects or calls spam gets
`REJECTED`, each with Coral's flag for the cause. Coral's staff roles count as trusted
authors: they skip holds, never rejections.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypedDict

from moderation.db import Connection
from moderation.db import perspective as perspective_queries
from moderation.errors import ValidationFailed
from moderation.payloads import ScoredText
from moderation.policy import Facts, evaluate
from moderation.scoring.analyze import AnalyzeAnswer
from moderation.sites import SiteSettings, load_site

SIGNATURE_HEADER = "X-Coral-Signature"
STAFF_ROLES = frozenset({"ADMIN", "MODERATOR", "STAFF"})
# The previous secret's grace after a rotation, unless told otherwise: a day to paste the
# new one into Coral.
DEFAULT_KEEP_PREVIOUS_SECONDS = 86400.0


class _Message(BaseModel):
    # Field names are Coral's; Coral may add fields, which must not break the phase.
    model_config = ConfigDict(extra="ignore")


class CoralComment(_Message):
    body: ScoredText
    parentID: str | None = None


class CoralAuthor(_Message):
    id: str
    role: str


class CoralStory(_Message):
    id: str
    url: str


class CoralSite(_Message):
    id: str


class ExternalModerationRequest(_Message):
    action: Literal["NEW", "EDIT"]
    comment: CoralComment
    author: CoralAuthor
    story: CoralStory
    site: CoralSite
    tenantID: str
    tenantDomain: str


def new_secret() -> str:
    return "ssc_" + secrets.token_hex(32)


def signed(body: bytes, header: str | None, valid_secrets: Sequence[str]) -> bool:
    """Whether any `sha256=` signature in `header` is the HMAC of `body` under any of the
    secrets; constant-time comparisons throughout."""
    if not header or not valid_secrets:
        return False
    offered = [
        part.strip().removeprefix("sha256=").lower()
        for part in header.split(",")
        if part.strip().startswith("sha256=")
    ]
    found = False
    for secret in valid_secrets:
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        for signature in offered:
            found |= hmac.compare_digest(expected, signature)
    return found


async def rotate_secret(
    conn: Connection,
    site_slug: str,
    secret: str | None = None,
    keep_previous_seconds: float = DEFAULT_KEEP_PREVIOUS_SECONDS,
) -> tuple[str, datetime | None]:
    """Make `secret` (or a new one) the site's current secret; earlier ones stay valid
    for `keep_previous_seconds` at most. Returns the secret and when the last earlier one
    expires."""
    site = await load_site(conn, site_slug)
    secret = new_secret() if secret is None else secret.strip()
    if len(secret) < 16:
        raise ValidationFailed("a signing secret has at least 16 characters", field="secret")
    expires = await perspective_queries.rotate_coral_secret(
        conn, site.id, secret, keep_previous_seconds
    )
    return secret, expires


class CoralAction(TypedDict):
    actionType: Literal["FLAG"]
    reason: Literal["COMMENT_DETECTED_SPAM", "COMMENT_DETECTED_TOXIC"]


class Verdict(TypedDict):
    """Coral's ExternalModerationResponse for a comment that does not pass."""

    status: Literal["SYSTEM_WITHHELD", "REJECTED"]
    actions: list[CoralAction]


def verdict(
    settings: SiteSettings, request: ExternalModerationRequest, answer: AnalyzeAnswer
) -> Verdict | None:
    """Coral's phase response for the comment, or None when it passes (a 204)."""
    decision = evaluate(
        settings,
        Facts(
            body=request.comment.body,
            language=answer.language,
            toxicity=answer.toxicity,
            spam_score=answer.scores.get("spam", 0.0),
            spam_reasons=answer.spam_reasons,
            author_status="trusted" if request.author.role in STAFF_ROLES else None,
        ),
    )
    if decision.status == "approved":
        return None
    actions: list[CoralAction] = []
    if "spam" in decision.rules:
        actions.append({"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"})
    if decision.rules & {"toxicity", "words"}:
        actions.append({"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"})
    return {
        "status": "SYSTEM_WITHHELD" if decision.status == "review" else "REJECTED",
        "actions": actions,
    }
