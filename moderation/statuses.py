"""The moderation vocabulary: a comment's statuses, the queues moderators work, the
actions they take there, an author's standing, and the undetermined-language marker.

Everything that names a status, a queue or an action imports it from here; the desk's
script receives `desk_vocabulary()` from the server rather than keeping its own copy.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from moderation.errors import NotFound

# A comment is `pending` until scoring decides it; moderators move it between the others.
# `deleted` is its author's doing, and final: no moderator action leaves it.
Status = Literal["pending", "approved", "review", "rejected", "spam", "deleted"]
# What scoring and the site policy can decide for a pending comment.
Decided = Literal["approved", "review", "rejected", "spam"]

# The queues, in the order moderators see their tabs. `reported` holds approved comments
# with open reader reports; `auto` approved comments no person has looked at (scoring
# approved them), to spot-check the model; every other queue holds its own status.
Queue = Literal["review", "reported", "auto", "pending", "spam", "rejected", "approved"]
QUEUES: tuple[Queue, ...] = get_args(Queue)
QUEUE_TITLES: dict[Queue, str] = {
    "review": "Review",
    "reported": "Reported",
    "auto": "Auto-approved",
    "pending": "Pending",
    "spam": "Spam",
    "rejected": "Rejected",
    "approved": "Approved",
}
QUEUE_STATUS: dict[Queue, Status] = {
    "review": "review",
    "reported": "approved",
    "auto": "approved",
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
# The actions a queue's cards offer, as buttons and keys. In `reported` and `auto` the
# comment is approved already: approving it again is a person's verdict that it stays
# (the reports are dismissed; the automatic approval is confirmed), which takes it out.
QUEUE_ACTIONS: dict[Queue, tuple[Action, ...]] = {
    "review": ("approve", "reject", "spam"),
    "reported": ("approve", "reject", "spam"),
    "auto": ("approve", "reject", "spam"),
    "pending": ("approve", "reject", "spam"),
    "spam": ("approve", "reject"),
    "rejected": ("approve", "spam"),
    "approved": ("reject", "spam"),
}
# Where an action means more than its name, the desk says so on its button.
QUEUE_ACTION_LABELS: dict[Queue, dict[Action, str]] = {
    "reported": {"approve": "Keep, dismiss reports"},
    "auto": {"approve": "Looks right"},
    "spam": {"approve": "Not spam"},
}
# The order a queue opens in: a spot check wants a random sample, not the newest.
DEFAULT_SORT: dict[Queue, str] = {"auto": "sample"}
# What a status change is called when the desk tells a moderator about it.
DONE: dict[Status, str] = {
    "approved": "approved",
    "rejected": "rejected",
    "spam": "marked as spam",
    "review": "held for review",
    "pending": "sent back for scoring",
    "deleted": "deleted",
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


def queue_actions(queue: Queue) -> list[tuple[Action, str, str, str]]:
    """The buttons of `queue`'s cards, as `DESK_ACTIONS` has them, labelled for `queue`."""
    labels = QUEUE_ACTION_LABELS.get(queue, {})
    return [
        (action, labels.get(action, label), key, text)
        for action, label, key, text in DESK_ACTIONS
        if action in QUEUE_ACTIONS[queue]
    ]


def desk_vocabulary(queue: Queue) -> dict[str, Any]:
    """What the desk's script on `queue` needs to know of statuses and actions, as
    JSON-ready data."""
    return {
        "queue_status": QUEUE_STATUS[queue],
        "live_event": LIVE_EVENTS.get(queue),
        "actions": [[action, label, key] for action, label, key, _ in queue_actions(queue)],
        "done": DONE,
    }
