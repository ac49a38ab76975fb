"""Moderators' decisions: approve, reject, spam, restore, one comment or many at once.

A decision names the status the moderator saw (`expected_status`). It applies only if
the comment is still in that status, so of two moderators deciding the same comment at
the same moment exactly one wins and the other gets a 409 with the comment as it now
is. A decision also closes the comment's open reports: approving a reported comment
keeps it and clears them (and shows it again if reports had hidden it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from moderation.db import Connection
from moderation.db import comments as comment_queries
from moderation.db import reports as report_queries
from moderation.moderators import Moderator
from moderation.payloads import Line, Payload

Action = Literal["approve", "reject", "spam", "restore"]
Status = Literal["pending", "review", "approved", "rejected", "spam"]

_TARGET: dict[str, str] = {
    "approve": "approved",
    "restore": "approved",
    "reject": "rejected",
    "spam": "spam",
}
# Every decision can be reversed; restore is for bringing back what was removed.
_FROM: dict[str, frozenset[str]] = {
    "approve": frozenset({"pending", "review", "approved", "rejected", "spam"}),
    "restore": frozenset({"rejected", "spam"}),
    "reject": frozenset({"pending", "review", "approved", "spam"}),
    "spam": frozenset({"pending", "review", "approved", "rejected"}),
}


class DecisionIn(Payload):
    action: Action
    expected_status: Status
    reason: Line | None = Field(default=None, max_length=500)


class BulkItemIn(DecisionIn):
    id: int = Field(ge=1, le=2**63 - 1)


class BulkIn(Payload):
    decisions: list[BulkItemIn] = Field(min_length=1, max_length=200)

    @field_validator("decisions")
    @classmethod
    def _one_decision_per_comment(cls, decisions: list[BulkItemIn]) -> list[BulkItemIn]:
        if len({item.id for item in decisions}) != len(decisions):
            raise ValueError("decide each comment at most once per request")
        return decisions


@dataclass(frozen=True, slots=True)
class Outcome:
    comment_id: int
    # applied | conflict (status moved on) | invalid (action not allowed) | not_found
    result: str
    status: str | None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.comment_id,
            "outcome": self.result,
            "status": self.status,
            "message": self.message,
        }


async def decide(
    conn: Connection, moderator: Moderator, items: Sequence[BulkItemIn]
) -> list[Outcome]:
    """Apply each decision that is allowed and not stale, in one transaction."""
    current = await comment_queries.statuses(conn, [item.id for item in items])
    outcomes: dict[int, Outcome] = {}
    changes: list[comment_queries.Change] = []
    for item in items:
        site_id, status = current.get(item.id, (None, None))
        if site_id is None or site_id not in moderator.site_ids:
            outcomes[item.id] = Outcome(item.id, "not_found", None, "no such comment")
        elif item.expected_status not in _FROM[item.action]:
            message = f"cannot {item.action} a comment that is {item.expected_status}"
            outcomes[item.id] = Outcome(item.id, "invalid", status, message)
        else:
            reason = item.reason or f"{item.action} by {moderator.name}"
            changes.append(
                comment_queries.Change(
                    item.id,
                    item.expected_status,
                    _TARGET[item.action],
                    reason,
                    moderator_id=moderator.id,
                )
            )
    async with conn.transaction():
        applied = {row["id"]: row for row in await comment_queries.transition(conn, changes)}
        await report_queries.resolve(conn, list(applied))
    stale = [change for change in changes if change.comment_id not in applied]
    # Read again: a concurrent decision may have moved the comment after the first read.
    now = await comment_queries.statuses(conn, [change.comment_id for change in stale])
    for change in changes:
        if change.comment_id in applied:
            status = applied[change.comment_id]["status"]
            outcomes[change.comment_id] = Outcome(change.comment_id, "applied", status)
        else:
            message = f"the comment is no longer {change.expected}"
            status = now[change.comment_id][1]
            outcomes[change.comment_id] = Outcome(change.comment_id, "conflict", status, message)
    return [outcomes[item.id] for item in items]
