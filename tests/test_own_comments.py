"""A reader's own comments: their state, edits and deletions, with the POST's secret only."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from moderation.broker import ScoringWakeups
from moderation.db import transitions
from moderation.db import webhooks as webhook_queries
from moderation.sites import Site
from tests.factories import Poster, moderator_headers, set_status

ANN = {"id": "reader-ann", "name": "Ann"}


async def posted(poster: Poster, **kwargs: Any) -> tuple[int, str]:
    response = await poster.post(**kwargs)
    assert response.status_code == 202, response.text
    return response.json()["id"], response.json()["secret"]


def states_url(site: Site) -> str:
    return f"/v1/sites/{site.slug}/comments/states"


async def states(poster: Poster, *refs: tuple[int, str]) -> dict[int, dict[str, Any]]:
    response = await poster.client.post(
        states_url(poster.site),
        json={"comments": [{"id": i, "secret": s} for i, s in refs]},
        headers={"X-Site-Key": poster.site.widget_key},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return {c["id"]: c for c in response.json()["comments"]}


async def delete(poster: Poster, comment_id: int, secret: str) -> httpx.Response:
    return await poster.client.delete(
        f"/v1/sites/{poster.site.slug}/comments/{comment_id}",
        headers={"X-Site-Key": poster.site.widget_key, "X-Comment-Secret": secret},
    )


async def test_a_readers_comment_says_its_real_state_and_only_to_its_poster(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    waiting = await posted(poster)
    published = await posted(poster)
    refused = await posted(poster)
    held = await posted(poster)
    await set_status(conn, [published[0]], "approved")
    await set_status(conn, [refused[0]], "rejected")
    await set_status(conn, [held[0]], "review")

    found = await states(poster, waiting, published, refused, held)
    assert {i: c["state"] for i, c in found.items()} == {
        waiting[0]: "awaiting",
        published[0]: "published",
        refused[0]: "not_published",
        held[0]: "awaiting",
    }
    assert found[waiting[0]]["editable_until"] is not None
    assert found[refused[0]]["editable_until"] is None
    # Someone else's secret, or a guess, learns nothing: the comment is simply left out.
    assert await states(poster, (waiting[0], published[1]), (refused[0], "x" * 32)) == {}


async def test_the_state_route_needs_the_site_key_and_a_sane_body(poster: Poster) -> None:
    comment = await posted(poster)
    body = {"comments": [{"id": comment[0], "secret": comment[1]}]}
    no_key = await poster.client.post(states_url(poster.site), json=body)
    assert no_key.status_code == 401
    bad: dict[str, Any]
    for bad in ({"comments": []}, {"comments": [{"id": 1, "secret": "short"}]}, {"x": 1}):
        response = await poster.client.post(
            states_url(poster.site), json=bad, headers={"X-Site-Key": poster.site.widget_key}
        )
        assert response.status_code == 422, bad


async def test_an_edit_is_moderated_again_and_the_old_text_kept_for_moderators(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id, secret = await posted(poster, body="Teh council got it wrong")
    # Approved by scoring, with what it found for the old text.
    scored = transitions.Scored({"toxicity": 0.02}, "en", "original@1", "cpu", "int8", "onnx")
    approve = transitions.Change(comment_id, "pending", "approved", "low risk", scored=scored)
    assert await transitions.transition(conn, [approve])
    assert [c["id"] for c in (await poster.thread()).json()["threads"]] == [comment_id]

    response = await poster.edit(comment_id, secret, "The council got it wrong")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": comment_id,
        "state": "awaiting",
        "body": "The council got it wrong",
    }
    # Out of the thread until scoring decides the new text.
    assert (await poster.thread()).json()["threads"] == []
    row = await conn.fetchrow(
        """SELECT status, body, edited_at, scores, risk, language, model, model_device,
                  model_dtype, model_backend FROM comments WHERE id = $1""",
        comment_id,
    )
    assert row is not None
    assert (row["status"], row["body"]) == ("pending", "The council got it wrong")
    assert row["edited_at"] is not None
    # Nothing scored on the old text stays with the new one.
    assert row["risk"] == 0
    assert [row[c] for c in ("scores", "language", "model")] == [None] * 3
    assert [row[c] for c in ("model_device", "model_dtype", "model_backend")] == [None] * 3
    events = await conn.fetch(
        "SELECT actor, kind, from_status, to_status, previous_body FROM comment_events "
        "WHERE comment_id = $1 ORDER BY id",
        comment_id,
    )
    assert [tuple(e) for e in events][-2:] == [
        ("reader", "edited", "approved", "approved", "Teh council got it wrong"),
        ("reader", "status", "approved", "pending", None),
    ]
    assert (await states(poster, (comment_id, secret)))[comment_id]["edited"] is True


async def test_an_edits_decided_webhook_event_carries_the_new_text(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    await webhook_queries.create(
        conn, poster.site.id, "https://hooks.example/in", ["comment.decided"], "s" * 32
    )
    comment_id, secret = await posted(poster, body="The old text")
    await set_status(conn, [comment_id], "approved")

    assert (await poster.edit(comment_id, secret, "The new text")).status_code == 200
    payload = await conn.fetchval(
        "SELECT payload FROM webhook_events WHERE type = 'comment.decided'"
        " AND payload ->> 'to' = 'pending' AND (payload -> 'comment' ->> 'id')::bigint = $1",
        comment_id,
    )
    assert payload["from"] == "approved"
    assert payload["comment"]["body"] == "The new text"
    assert payload["comment"]["status"] == "pending"


async def test_an_edit_takes_a_featured_comment_out_of_featured(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id, secret = await posted(poster, body="The library is worth every penny.")
    await set_status(conn, [comment_id], "approved")
    mod = await moderator_headers(conn, poster.site)
    picked = await poster.client.post(
        f"/v1/moderation/comments/{comment_id}/feature", json={"featured": True}, headers=mod
    )
    assert picked.json() == {"id": comment_id, "featured": True}

    assert (await poster.edit(comment_id, secret, "Close the library.")).status_code == 200
    # Published again, the new text is not an editor's pick until someone picks it.
    await set_status(conn, [comment_id], "approved", "pending")
    featured_url = f"/v1/sites/{poster.site.slug}/articles/story-1/featured"
    assert (await poster.client.get(featured_url)).json()["comments"] == []
    detail = await poster.client.get(f"/v1/moderation/comments/{comment_id}", headers=mod)
    assert detail.json()["featured"] is False
    events = await conn.fetch(
        "SELECT actor, kind, reason FROM comment_events WHERE comment_id = $1 ORDER BY id",
        comment_id,
    )
    assert ("reader", "unfeatured", "edited by its author") in [tuple(e) for e in events]


async def test_an_edit_makes_a_moderators_decision_on_the_old_text_stale(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id, secret = await posted(poster, body="The new bridge looks great.")
    mod = await moderator_headers(conn, poster.site)
    url = f"/v1/moderation/comments/{comment_id}"
    # A moderator reads it in the pending queue (scoring is backed up)...
    seen = (await poster.client.get(url, headers=mod)).json()
    # ...its author rewrites it, and it stays pending...
    rewritten = "Everyone on the council is scum"
    assert (await poster.edit(comment_id, secret, rewritten)).status_code == 200
    # ...and approving the text the moderator read is refused: same status, new text.
    decision = {"action": "approve", "expected_status": "pending"}
    stale = await poster.client.post(
        f"{url}/decision", json={**decision, "expected_version": seen["version"]}, headers=mod
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_decision"
    assert stale.json()["error"]["field"] == "expected_version"
    assert stale.json()["current"] == {"id": comment_id, "status": "pending"}
    assert (await poster.thread()).json()["threads"] == []

    fresh = (await poster.client.get(url, headers=mod)).json()
    assert fresh["body"] == rewritten
    reject = {"action": "reject", "expected_status": "pending"}
    decided = await poster.client.post(
        f"{url}/decision", json={**reject, "expected_version": fresh["version"]}, headers=mod
    )
    assert decided.json()["status"] == "rejected"


async def test_edit_and_delete_need_the_secret_and_the_window(
    poster: Poster, conn: asyncpg.Connection, make_site: Callable[..., Awaitable[Site]]
) -> None:
    comment_id, _ = await posted(poster)
    other_id, other_secret = await posted(poster)
    assert (await poster.edit(comment_id, other_secret, "hijack")).status_code == 404
    assert (await delete(poster, comment_id, "")).status_code == 404
    no_secret = await poster.client.delete(
        f"/v1/sites/{poster.site.slug}/comments/{comment_id}",
        headers={"X-Site-Key": poster.site.widget_key},
    )
    assert no_secret.status_code == 404
    await conn.execute(
        "UPDATE comments SET created_at = now() - interval '16 minutes' WHERE id = $1", other_id
    )
    late = await poster.edit(other_id, other_secret, "too late")
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "edit_window_closed"
    assert (await delete(poster, other_id, other_secret)).status_code == 409

    # A site that allows no changes at all.
    closed = await make_site(own_edit_seconds=0)
    closed_poster = Poster(poster.client, closed)
    closed_id, closed_secret = await posted(closed_poster)
    assert (await closed_poster.edit(closed_id, closed_secret, "no")).status_code == 409


async def test_a_rejected_comment_cannot_be_edited_but_can_be_deleted(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id, secret = await posted(poster)
    await set_status(conn, [comment_id], "rejected")
    refused = await poster.edit(comment_id, secret, "sneak it past")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_editable"
    assert (await delete(poster, comment_id, secret)).json() == {
        "id": comment_id,
        "state": "deleted",
    }
    assert await conn.fetchval("SELECT status FROM comments WHERE id = $1", comment_id) == "deleted"


async def test_deleting_keeps_replies_under_a_placeholder_and_no_moderator_can_undo_it(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    parent, secret = await posted(poster)
    await set_status(conn, [parent], "approved")
    reply = await poster.comment(parent_id=parent)
    await set_status(conn, [reply], "approved")
    assert (await delete(poster, parent, secret)).status_code == 200
    thread = (await poster.thread()).json()["threads"]
    assert thread[0]["id"] == parent
    assert thread[0]["removed"] is True
    assert [r["id"] for r in thread[0]["replies"]] == [reply]
    row = await conn.fetchrow(
        "SELECT actor, reason FROM comment_events WHERE comment_id = $1 ORDER BY id DESC LIMIT 1",
        parent,
    )
    assert row is not None
    assert tuple(row) == ("reader", "deleted by its author")


async def test_a_reply_says_when_readers_no_longer_see_its_parent(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    parent = await posted(poster)
    await set_status(conn, [parent[0]], "approved")
    reply = await posted(poster, parent_id=parent[0])
    found = await states(poster, parent, reply)
    assert [found[parent[0]]["parent_removed"], found[reply[0]]["parent_removed"]] == [False, False]

    assert (await delete(poster, *parent)).status_code == 200
    assert (await states(poster, reply))[reply[0]]["parent_removed"] is True


async def test_a_banned_author_can_no_longer_edit(poster: Poster, conn: asyncpg.Connection) -> None:
    comment_id, secret = await posted(poster, author={"id": "gone", "name": "Gone"})
    await conn.execute("UPDATE authors SET status = 'banned' WHERE external_id = 'gone'")
    response = await poster.edit(comment_id, secret, "still here")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "author_banned"


async def test_a_closed_article_or_site_takes_no_edits_but_deletions(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    first, first_secret = await posted(poster)
    second, second_secret = await posted(poster)
    await conn.execute("UPDATE articles SET is_open = false WHERE site_id = $1", poster.site.id)
    response = await poster.edit(first, first_secret, "One more word.")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "article_closed"
    assert (await delete(poster, first, first_secret)).status_code == 200

    await conn.execute("UPDATE articles SET is_open = true WHERE site_id = $1", poster.site.id)
    await conn.execute(
        "UPDATE sites SET settings = settings || '{\"comments_open\": false}' WHERE id = $1",
        poster.site.id,
    )
    response = await poster.edit(second, second_secret, "One more word.")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "comments_closed"
    assert (await delete(poster, second, second_secret)).status_code == 200


async def test_an_edit_waits_while_the_old_text_is_being_scored(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id, secret = await posted(poster)
    await conn.execute(
        "UPDATE comments SET claimed_until = now() + interval '1 minute' WHERE id = $1", comment_id
    )
    response = await poster.edit(comment_id, secret, "new words")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "being_scored"


async def test_a_retry_gets_a_new_secret_that_replaces_the_lost_one(poster: Poster) -> None:
    headers = {"Idempotency-Key": "lost-answer-1"}
    first = (await poster.post(body="Once", headers=headers)).json()
    second = (await poster.post(body="Once", headers=headers)).json()
    assert first["id"] == second["id"]
    assert await states(poster, (first["id"], first["secret"])) == {}
    assert list(await states(poster, (second["id"], second["secret"]))) == [second["id"]]


@pytest.fixture
def woken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The comments the API asks scoring for (the tests run with no broker)."""
    ids: list[int] = []
    monkeypatch.setattr(ScoringWakeups, "notify", lambda self, comment_id: ids.append(comment_id))
    return ids


async def comment_state(conn: asyncpg.Connection, comment_id: int) -> tuple[Any, ...]:
    """All an edit changes: the text, the status, the version scoring goes by, its wait."""
    row = await conn.fetchrow(
        """SELECT body, status, version, edited_at, pending_since,
                  (SELECT count(*) FROM comment_events WHERE comment_id = c.id) AS events
           FROM comments AS c WHERE id = $1""",
        comment_id,
    )
    assert row is not None
    return tuple(row)


async def test_edits_count_against_the_authors_rate_limit_as_posts_do(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
    woken: list[int],
) -> None:
    site = await make_site(rate_per_author=3, rate_per_address=0, rate_window_seconds=60)
    poster = Poster(app_client, site)
    comment_id, secret = await posted(poster, author=ANN)
    woken.clear()
    # Each edit is scored again, as a new comment is: two edits and the post are three.
    for n in (1, 2):
        await set_status(conn, [comment_id], "approved")
        response = await poster.edit(comment_id, secret, f"Edit {n}")
        assert response.status_code == 200, response.text
    assert woken == [comment_id, comment_id]
    await set_status(conn, [comment_id], "approved")
    before = await comment_state(conn, comment_id)

    over = await poster.edit(comment_id, secret, "Edit 3")

    assert over.status_code == 429, over.text
    assert over.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    # Nothing changed, nothing is to be scored: still approved, with the text it had.
    assert await comment_state(conn, comment_id) == before
    assert before[:2] == ("Edit 2", "approved")
    assert woken == [comment_id, comment_id]
    # The edits count for the author's posts as much as their posts do for edits.
    assert (await poster.post(author=ANN)).status_code == 429
    assert (await poster.post(author={"id": "calm", "name": "C"})).status_code == 202

    # One window for both: once the post and the edits have left it, there is room again.
    await conn.execute(
        "UPDATE comment_events SET created_at = created_at - interval '61 seconds' "
        "WHERE comment_id = $1",
        comment_id,
    )
    await conn.execute(
        "UPDATE comments SET created_at = created_at - interval '61 seconds' WHERE id = $1",
        comment_id,
    )
    assert (await poster.edit(comment_id, secret, "Edit 3")).status_code == 200


async def test_edits_count_against_the_addresss_rate_limit_as_posts_do(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
    woken: list[int],
) -> None:
    site = await make_site(rate_per_author=0, rate_per_address=3, rate_window_seconds=600)
    poster = Poster(app_client, site)
    # Anonymous: the address limit is all that holds its edits back.
    comment_id, secret = await posted(poster, author={"name": "Guest"}, body="First text")
    await poster.comment(author={"id": "x", "name": "X"})
    woken.clear()
    assert (await poster.edit(comment_id, secret, "Second text")).status_code == 200
    before = await comment_state(conn, comment_id)

    over = await poster.edit(comment_id, secret, "Third text")

    assert over.status_code == 429, over.text
    assert 540 <= int(over.headers["Retry-After"]) <= 600
    assert await comment_state(conn, comment_id) == before
    assert before[:2] == ("Second text", "pending")
    assert woken == [comment_id]
    assert (await poster.post(author={"id": "y", "name": "Y"})).status_code == 429


async def test_parallel_posts_and_edits_store_exactly_the_rate_limit(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
) -> None:
    site = await make_site(rate_per_author=4, rate_per_address=0, rate_window_seconds=600)
    poster = Poster(app_client, site)
    comment_id, secret = await posted(poster, author=ANN)
    await set_status(conn, [comment_id], "approved")
    # All at once over the app's pool, replies to the comment being edited among them:
    # edits wait for posts' counts and posts for edits', and neither for the other's row.
    responses = await asyncio.gather(
        *(poster.edit(comment_id, secret, f"Edit {n}") for n in range(6)),
        *(poster.post(author=ANN, body=f"Post {n}", parent_id=comment_id) for n in range(6)),
    )
    statuses = [r.status_code for r in responses]
    # A reply after an edit took the comment back to pending has no parent to go under.
    assert set(statuses) <= {200, 202, 422, 429}, statuses
    assert sum(s in (200, 202) for s in statuses) == 3, statuses
    counted = await conn.fetchval(
        """SELECT (SELECT count(*) FROM comments WHERE site_id = $1)
                + (SELECT count(*) FROM comment_events AS e JOIN comments AS c
                      ON c.id = e.comment_id
                    WHERE c.site_id = $1 AND e.kind = 'edited')""",
        site.id,
    )
    assert counted == 4


@pytest.mark.parametrize("changes", [["edit"], ["delete"], ["edit", "delete"]])
async def test_the_first_post_sent_again_after_its_edit_or_deletion_replays_its_answer(
    poster: Poster, conn: asyncpg.Connection, changes: list[str]
) -> None:
    # A client that retries a lost POST gets the comment it made, not a conflict: the
    # key stands for the request as first sent, whatever became of the comment since.
    headers = {"Idempotency-Key": "sent-again-1"}
    first = (await poster.post(body="Once", headers=headers)).json()
    for change in changes:
        if change == "edit":
            assert (await poster.edit(first["id"], first["secret"], "Twice")).is_success
        else:
            assert (await delete(poster, first["id"], first["secret"])).is_success
    again = await poster.post(body="Once", headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first["id"]
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", poster.site.id)
    assert count == 1
    # The edited text is not a request that key was sent with.
    edited = await poster.post(body="Twice", headers=headers)
    assert edited.status_code == 409
    assert edited.json()["error"]["code"] == "idempotency_conflict"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_foreign_origin_cannot_edit_or_delete(poster: Poster, method: str) -> None:
    comment_id, secret = await posted(poster)
    response = await poster.client.request(
        method,
        f"/v1/sites/{poster.site.slug}/comments/{comment_id}",
        json={"body": "x"} if method == "PUT" else None,
        headers={
            "X-Site-Key": poster.site.widget_key,
            "X-Comment-Secret": secret,
            "Origin": "https://evil.example",
        },
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"


async def test_an_authors_export_holds_the_texts_their_edits_replaced_and_notes_on_them(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id, secret = await posted(poster, body="My number is 555-0100", author=ANN)
    assert (await poster.edit(comment_id, secret, "Call the council instead")).is_success
    admin = await moderator_headers(conn, poster.site, role="admin")
    author = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", comment_id)
    note = await poster.client.post(
        f"/v1/moderation/authors/{author}/notes",
        json={"body": "Posts phone numbers"},
        headers=admin,
    )
    assert note.status_code == 201

    exported = await poster.client.get(f"/v1/moderation/authors/{author}/export", headers=admin)

    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert [c["body"] for c in data["comments"]] == ["Call the council instead"]
    assert [(e["comment_id"], e["replaced_text"]) for e in data["edits"]] == [
        (comment_id, "My number is 555-0100")
    ]
    assert [n["body"] for n in data["moderator_notes"]] == ["Posts phone numbers"]


async def test_erasing_an_author_also_erases_the_texts_their_edits_replaced_and_notes(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id, secret = await posted(poster, body="My number is 555-0100", author=ANN)
    await poster.edit(comment_id, secret, "Call the council instead")
    admin = await moderator_headers(conn, poster.site, role="admin")
    author = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", comment_id)
    note = await poster.client.post(
        f"/v1/moderation/authors/{author}/notes",
        json={"body": "Posts phone numbers"},
        headers=admin,
    )
    assert note.status_code == 201
    erased = await poster.client.post(f"/v1/moderation/authors/{author}/erase", headers=admin)
    assert erased.status_code == 200, erased.text
    kept = await conn.fetch(
        "SELECT previous_body FROM comment_events "
        "WHERE comment_id = $1 AND previous_body IS NOT NULL",
        comment_id,
    )
    assert kept == []
    assert (
        await conn.fetchval("SELECT count(*) FROM author_notes WHERE author_id = $1", author) == 0
    )
