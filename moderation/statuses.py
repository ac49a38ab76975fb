"""The moderation vocabulary: a comment's statuses, the queues moderators work, the
actions they take there, an author's standing, and the undetermined-language marker.

Everything that names a status, a queue or an action imports it from here; the desk's
script receives `desk_vocabulary()` from the server rather than keeping its own copy.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from moderation.errors import NotFound

# A comment is `pending` until scoring decides it; moderators move it between the others.
Status = Literal["pending", "approved", "review", "rejected", "spam"]
STATUSES: tuple[Status, ...] = get_args(Status)
# What scoring and the site policy can decide for a pending comment.
Decided = Literal["approved", "review", "rejected", "spam"]

# The queues, in the order moderators see their tabs. `reported` holds approved comments
# with open reader reports; every other queue holds the comments of its own status.
Queue = Literal["review", "reported", "pending", "spam", "rejected", "approved"]
QUEUES: tuple[Queue, ...] = get_args(Queue)
QUEUE_TITLES: dict[Queue, str] = {
    "review": "Review",
    "reported": "Reported",
    "pending": "Pending",
    "spam": "Spam",
    "rejected": "Rejected",
    "approved": "Approved",
}
QUEUE_STATUS: dict[Queue, Status] = {
    "review": "review",
    "reported": "approved",
    "pending": "pending",
    "spam": "spam",
    "rejected": "rejected",
    "approved": "approved",
}

Action = Literal["approve", "reject", "spam", "restore"]
ACTION_TARGET: dict[Action, Status] = {
    "approve": "approved",
    "restore": "approved",
    "reject": "rejected",
    "spam": "spam",
}
# Every decision can be reversed; restore is for bringing back what was removed.
ACTION_FROM: dict[Action, frozenset[Status]] = {
    "approve": frozenset({"pending", "review", "approved", "rejected", "spam"}),
    "restore": frozenset({"rejected", "spam"}),
    "reject": frozenset({"pending", "review", "approved", "spam"}),
    "spam": frozenset({"pending", "review", "approved", "rejected"}),
}
# The desk's actions: button label, key (upper case for the selection) and help text.
DESK_ACTIONS: tuple[tuple[Action, str, str, str], ...] = (
    ("approve", "Approve", "a", "approve the comment"),
    ("reject", "Reject", "r", "reject it"),
    ("spam", "Spam", "s", "mark it as spam"),
)
# The actions a queue's cards offer: those that move a comment out of the queue's status.
QUEUE_ACTIONS: dict[Queue, tuple[Action, ...]] = {
    queue: tuple(
        action
        for action, *_ in DESK_ACTIONS
        if ACTION_TARGET[action] != QUEUE_STATUS[queue]
        and QUEUE_STATUS[queue] in ACTION_FROM[action]
    )
    for queue in QUEUES
}
# What a status change is called when the desk tells a moderator about it.
DONE: dict[Status, str] = {
    "approved": "approved",
    "rejected": "rejected",
    "spam": "marked as spam",
    "review": "held for review",
    "pending": "sent back for scoring",
}
# The live-feed event that brings a new card into a queue; other queues update counts only.
LIVE_EVENTS: dict[Queue, str] = {"review": "held", "reported": "reported"}

AuthorStatus = Literal["normal", "trusted", "premod", "banned"]
AUTHOR_STATUSES: dict[AuthorStatus, str] = {
    "normal": "Normal: scored like everyone",
    "trusted": "Trusted: approved unless a score says otherwise",
    "premod": "Pre-moderated: every comment waits for review",
    "banned": "Banned: comments are refused",
}

# ISO 639-2 for "undetermined": the language detector could not tell close languages
# apart. No toxicity model covers it, so such a comment is always held for a person.
UNDETERMINED = "und"


def require_queue(name: str) -> Queue:
    """`name` as a queue, or `NotFound` listing the queues there are."""
    if name not in QUEUES:
        raise NotFound(f"no queue {name!r}; queues are {', '.join(QUEUES)}", field="queue")
    return name


def desk_vocabulary() -> dict[str, Any]:
    """What the desk's script needs to know of queues and actions, as JSON-ready data."""
    return {
        "queue_status": QUEUE_STATUS,
        "queue_actions": QUEUE_ACTIONS,
        "actions": [list(action) for action in DESK_ACTIONS],
        "targets": ACTION_TARGET,
        "done": DONE,
        "live_events": LIVE_EVENTS,
    }
