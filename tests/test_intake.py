"""Posting comments: what is stored, and every way a bad request is refused."""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from moderation import db
from moderation.sites import Site, sign_readers
from tests.factories import Poster, set_status
from tests.workers import wait_until


async def stored(conn: asyncpg.Connection, comment_id: int) -> asyncpg.Record:
    record = await conn.fetchrow(
        """
        SELECT c.*, a.external_id AS article, au.external_id AS author_external_id,
               au.name AS author_display_name
        FROM comments c JOIN articles a ON a.id = c.article_id
        LEFT JOIN authors au ON au.id = c.author_id WHERE c.id = $1
        """,
        comment_id,
    )
    assert record is not None
    return record


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def test_a_posted_comment_is_stored_pending_and_answered_202(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    response = await poster.post(
        body="First!",
        author={"id": "reader-9", "name": "Ann"},
        headers={"User-Agent": "WidgetTest/1.0"},
    )

    assert response.status_code == 202
    body = response.json()
    assert body == {"id": body["id"], "status": "pending", "secret": body["secret"]}
    assert len(body["secret"]) >= 32
    row = await stored(conn, body["id"])
    assert row["status"] == "pending"
    assert row["body"] == "First!"
    assert row["article"] == "story-1"
    assert row["author_external_id"] == "reader-9"
    assert row["author_name"] == "Ann"
    assert str(row["client_addr"]) == "203.0.113.7"
    assert row["user_agent"] == "WidgetTest/1.0"


async def test_the_first_comment_creates_the_article_and_the_author_once(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    first = await poster.comment(article="new-story", author={"id": "u5", "name": "Bo"})
    second = await poster.comment(article="new-story", author={"id": "u5", "name": "Bo B."})

    rows = [await stored(conn, first), await stored(conn, second)]
    assert rows[0]["article_id"] == rows[1]["article_id"]
    assert rows[0]["author_id"] == rows[1]["author_id"]
    # The author's display name follows their latest comment; each comment keeps its own.
    assert rows[1]["author_display_name"] == "Bo B."
    assert [r["author_name"] for r in rows] == ["Bo", "Bo B."]


async def test_concurrent_first_comments_share_one_article(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    ids = await asyncio.gather(
        *(poster.comment(article="breaking", author={"id": f"u{i}", "name": "N"}) for i in range(8))
    )
    articles = {(await stored(conn, i))["article_id"] for i in ids}
    assert len(articles) == 1


async def test_anonymous_comment_has_no_author_row(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment_id = await poster.comment(author={"name": "Guest"})
    row = await stored(conn, comment_id)
    assert row["author_id"] is None
    assert row["author_name"] == "Guest"


async def test_text_is_stored_nfc_normalised_and_trimmed(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    decomposed = "Cafe\u0301 on the square\r\nsecond line  "
    comment_id = await poster.comment(body=decomposed, author={"name": "Zoe\u0308"})
    row = await stored(conn, comment_id)
    assert row["body"] == "Caf\u00e9 on the square\nsecond line"
    assert unicodedata.is_normalized("NFC", row["body"])
    assert row["author_name"] == "Zo\u00eb"


async def test_markup_is_stored_as_text_and_returned_as_text(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    comment_id = await poster.comment(body=payload)
    assert (await stored(conn, comment_id))["body"] == payload
    await set_status(conn, [comment_id], "approved")
    thread = (await poster.thread()).json()
    assert thread["threads"][0]["body"] == payload


async def test_a_reply_is_stored_under_its_thread(poster: Poster, conn: asyncpg.Connection) -> None:
    root = await poster.comment()
    await set_status(conn, [root], "approved")
    reply = await poster.comment(parent_id=root)
    await set_status(conn, [reply], "approved")
    nested = await poster.comment(parent_id=reply)
    assert (await stored(conn, reply))["root_id"] == root
    assert (await stored(conn, nested))["root_id"] == root
    assert (await stored(conn, nested))["parent_id"] == reply


async def test_a_reply_goes_only_under_what_readers_of_the_article_see(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    pending = await poster.comment()
    held, rejected, elsewhere = [await poster.comment() for _ in range(3)]
    await set_status(conn, [held], "review")
    await set_status(conn, [rejected], "rejected")
    await set_status(conn, [elsewhere], "approved")
    await conn.execute(
        "UPDATE articles SET external_id = 'story-2' WHERE id = "
        "(SELECT article_id FROM comments WHERE id = $1)",
        elsewhere,
    )
    missing = elsewhere + 1000
    # One answer for a hidden comment and a missing one: replying tells nobody what exists.
    for parent in (pending, held, rejected, missing):
        response = await poster.post(parent_id=parent)
        assert response.status_code == 422, parent
        assert error(response) == {
            "code": "validation_failed",
            "message": f"there is no comment {parent} to reply to in this article",
            "field": "parent_id",
        }
    # Another article's comment: the widget of this one cannot show it either.
    assert (await poster.post(parent_id=elsewhere)).status_code == 422
    assert (await poster.post(article="story-2", parent_id=elsewhere)).status_code == 202


@pytest.mark.parametrize("name", ["\u202eniamoD eht morf rotide", "Ann\u2066\u202e", "A\u202dnn"])
async def test_a_name_that_reorders_what_follows_it_is_refused(poster: Poster, name: str) -> None:
    response = await poster.post(author={"id": "spoof", "name": name})
    assert response.status_code == 422
    assert error(response)["field"] == "author.name"
    assert "bidirectional control" in error(response)["message"]


PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("Mod\u200berator", "Moderator"),
        ("\ufeffModerator\u2060", "Moderator"),
        ("The Ed\u2063itor", "The Editor"),
        # Persian is written with the zero-width non-joiner: it stays.
        (PERSIAN, PERSIAN),
    ],
)
async def test_a_name_keeps_no_character_that_shows_nothing(
    poster: Poster, conn: asyncpg.Connection, name: str, stored: str
) -> None:
    response = await poster.post(author={"id": f"shown-{len(name)}-{ord(name[-1])}", "name": name})
    assert response.status_code == 202, response.text
    assert stored == await conn.fetchval(
        "SELECT a.name FROM comments AS c JOIN authors AS a ON a.id = c.author_id WHERE c.id = $1",
        response.json()["id"],
    )


# Ann, Admin and Paypal with a Cyrillic A, a Greek capital alpha and a Cyrillic small a;
# Moderator and Bob spelled mostly in Cyrillic letters that look Latin, around Latin ones.
@pytest.mark.parametrize(
    "name",
    [
        "\u0410nn",
        "The \u0391dmin",
        "P\u0430yp\u0430l Support",
        "\u041c\u043ed\u0435r\u0430t\u043er",
        "\u0412\u043eb",
    ],
)
async def test_a_name_with_look_alike_letters_of_another_script_is_refused(
    poster: Poster, name: str
) -> None:
    response = await poster.post(author={"id": "lookalike", "name": name})
    assert response.status_code == 422
    assert error(response)["field"] == "author.name"
    assert "scripts that look alike" in error(response)["message"]


@pytest.mark.parametrize(
    "name",
    [
        "\u0414\u043c\u0438\u0442\u0440\u0438\u0439 Smith",  # one script a word
        "\u0141ukasz Zo\u00eb",  # Latin with diacritics
        "SMS\u043a\u0430",  # two languages: Cyrillic ka looks like no Latin letter
        "\u0391\u03b8\u03b7\u03bd\u03ac",  # Greek alone, capital alpha included
    ],
)
async def test_a_name_in_two_scripts_that_are_not_disguises_is_taken(
    poster: Poster, name: str
) -> None:
    response = await poster.post(author={"id": f"scripts-{ord(name[1])}", "name": name})
    assert response.status_code == 202, response.text


async def test_a_name_of_nothing_but_invisible_characters_is_refused(poster: Poster) -> None:
    response = await poster.post(author={"id": "nobody", "name": "\u200b\ufeff"})
    assert response.status_code == 422
    assert error(response)["field"] == "author.name"


# --- idempotency ---------------------------------------------------------------------


async def test_a_retried_post_with_the_same_idempotency_key_stores_one_comment(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    headers = {"Idempotency-Key": "retry-abc"}
    first = await poster.post(body="Once only", headers=headers)
    second = await poster.post(body="Once only", headers=headers)

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", poster.site.id)
    assert count == 1


async def test_concurrent_retries_with_one_idempotency_key_store_one_comment(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    headers = {"Idempotency-Key": "burst-1"}
    responses = await asyncio.gather(
        *(poster.post(body="Same", headers=headers) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", poster.site.id)
    assert count == 1


async def test_an_idempotency_key_reused_for_another_comment_is_a_conflict(poster: Poster) -> None:
    headers = {"Idempotency-Key": "k-1"}
    assert (await poster.post(body="One", headers=headers)).status_code == 202
    response = await poster.post(body="Two", headers=headers)
    assert response.status_code == 409
    assert error(response)["code"] == "idempotency_conflict"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"author": {"id": "u1", "name": "Ann"}}, {"author": {"id": "u2", "name": "Ann"}}),
        ({"author": {"name": "Ann"}}, {"author": {"name": "Bob"}}),
        ({"author": {"name": "Ann"}}, {"author": {"id": "u1", "name": "Ann"}}),
        ({"article": "story-1"}, {"article": "story-2"}),
    ],
    ids=["another-author", "another-anonymous-name", "anonymous-then-identified", "article"],
)
async def test_an_idempotency_key_reused_by_another_request_never_returns_its_comment(
    poster: Poster, conn: asyncpg.Connection, first: dict[str, Any], second: dict[str, Any]
) -> None:
    headers = {"Idempotency-Key": "shared-key"}
    accepted = await poster.post(body="Same words", headers=headers, **first)
    assert accepted.status_code == 202
    response = await poster.post(body="Same words", headers=headers, **second)
    assert response.status_code == 409
    assert error(response)["code"] == "idempotency_conflict"
    assert error(response)["field"] == "Idempotency-Key"
    assert str(accepted.json()["id"]) not in response.text
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", poster.site.id)
    assert count == 1


async def test_two_authors_racing_with_one_idempotency_key_get_one_comment_and_one_conflict(
    poster: Poster,
) -> None:
    headers = {"Idempotency-Key": "race-key"}
    responses = await asyncio.gather(
        *(
            poster.post(body="Same", author={"id": f"u{n % 2}", "name": "N"}, headers=headers)
            for n in range(10)
        )
    )
    accepted = {r.json()["id"] for r in responses if r.status_code == 202}
    assert len(accepted) == 1
    winners = {
        author
        for author, r in zip((n % 2 for n in range(10)), responses, strict=True)
        if r.status_code == 202
    }
    # The winning author's retries replay; the other author's requests all conflict.
    assert len(winners) == 1
    assert sorted(r.status_code for r in responses) == [202] * 5 + [409] * 5


# --- bad input -----------------------------------------------------------------------


def url(site: Site, article: str = "story-1") -> str:
    return f"/v1/sites/{site.slug}/articles/{article}/comments"


async def raw_post(
    client: httpx.AsyncClient, site: Site, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    headers = {"X-Site-Key": site.widget_key, "Content-Type": content_type}
    return await client.post(url(site), content=content, headers=headers)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"", "application/json", 400, "invalid_json"),
        (b"   ", "application/json", 400, "invalid_json"),
        (b'{"author": {"name": "A"}, "body": ', "application/json", 400, "invalid_json"),
        (
            b'{"author": {"name": "A"}, "body": "caf\xe9"}',
            "application/json",
            400,
            "invalid_encoding",
        ),
        (b'{"author": {"name": "A"}, "body": "hi"}', "text/plain", 415, "unsupported_media_type"),
        (
            b'{"author": {"name": "A"}, "body": "hi"}',
            "application/json; charset=latin-1",
            415,
            "unsupported_media_type",
        ),
        (b"[1, 2]", "application/json", 422, "validation_failed"),
    ],
    ids=["empty", "blank", "truncated-json", "invalid-utf8", "text-plain", "latin1", "array"],
)
async def test_unreadable_bodies_are_refused(
    app_client: httpx.AsyncClient,
    site: Site,
    conn: asyncpg.Connection,
    content: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    response = await raw_post(app_client, site, content, content_type)
    assert response.status_code == status
    assert error(response)["code"] == code
    assert set(error(response)) == {"code", "message", "field"}
    assert await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", site.id) == 0


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        'application/json; charset="UTF-8"',
        "Application/JSON;charset=utf-8; profile=comment",
        "application/json; profile=comment",
    ],
)
async def test_utf8_json_is_taken_however_its_content_type_is_spelled(
    app_client: httpx.AsyncClient, site: Site, content_type: str
) -> None:
    # RFC 9110: a parameter's value may be quoted, and parameters a server does not know
    # are ignored.
    response = await raw_post(
        app_client, site, b'{"author": {"name": "A"}, "body": "hi"}', content_type
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"author": {"name": "A"}}, "body"),
        ({"author": {"name": "A"}, "body": ""}, "body"),
        ({"author": {"name": "A"}, "body": "   \n "}, "body"),
        ({"author": {"name": "A"}, "body": 42}, "body"),
        ({"body": "hi"}, "author"),
        ({"author": {"name": ""}, "body": "hi"}, "author.name"),
        ({"author": {"name": "A\nB"}, "body": "hi"}, "author.name"),
        ({"author": {"name": "A", "id": ""}, "body": "hi"}, "author.id"),
        ({"author": {"name": "A"}, "body": "bell \u0007 here"}, "body"),
        ({"author": {"name": "A"}, "body": "nul \u0000 here"}, "body"),
        ({"author": {"name": "A"}, "body": "c1 \u0085 here"}, "body"),
        ({"author": {"name": "A"}, "body": "hi", "parent_id": "7"}, "parent_id"),
        ({"author": {"name": "A"}, "body": "hi", "parent_id": 0}, "parent_id"),
        ({"author": {"name": "A"}, "body": "hi", "extra": 1}, "extra"),
    ],
)
async def test_invalid_fields_get_422_naming_the_field(
    app_client: httpx.AsyncClient, site: Site, payload: dict[str, Any], field: str
) -> None:
    response = await app_client.post(
        url(site), json=payload, headers={"X-Site-Key": site.widget_key}
    )
    assert response.status_code == 422
    assert error(response)["field"] == field


async def test_a_field_too_long_is_named_in_characters(
    app_client: httpx.AsyncClient, site: Site
) -> None:
    # A required field and an optional one (pydantic words the two differently).
    for field, author, limit in (
        ("author.name", {"name": "A" * 101}, 100),
        ("author.id", {"name": "A", "id": "a" * 201}, 200),
    ):
        response = await app_client.post(
            url(site),
            json={"author": author, "body": "hi"},
            headers={"X-Site-Key": site.widget_key},
        )
        assert response.status_code == 422
        assert error(response)["message"] == (
            f"{field}: String should have at most {limit} characters"
        )


async def test_a_body_over_the_sites_length_limit_is_refused(
    app_client: httpx.AsyncClient, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(max_length=20)
    poster = Poster(app_client, site)
    assert (await poster.post(body="x" * 20)).status_code == 202
    response = await poster.post(body="x" * 21)
    assert response.status_code == 422
    assert error(response) == {
        "code": "too_long",
        "message": "body is 21 characters; this site allows 20",
        "field": "body",
    }


async def test_the_longest_comment_a_site_may_allow_fits_the_request_limit(
    app_client: httpx.AsyncClient, make_site: Callable[..., Awaitable[Site]]
) -> None:
    # A site may allow 20,000 characters: as emoji, 80,000 bytes of UTF-8.
    site = await make_site(max_length=20_000)
    response = await app_client.post(
        f"/v1/sites/{site.slug}/articles/story-1/comments",
        json={
            "author": {"id": "u1", "name": "Ann"},
            "body": "🎉" * 20_000,
            "article": {"title": "🎉" * 300, "url": "https://news.example/" + "a" * 1970},
        },
        headers={"X-Site-Key": site.widget_key},
    )
    assert response.status_code == 202, response.text


async def test_a_request_far_over_the_size_limit_is_refused_before_it_is_read(
    app_client: httpx.AsyncClient, site: Site
) -> None:
    huge = b'{"author": {"name": "A"}, "body": "' + b"x" * 10_000_000 + b'"}'
    response = await raw_post(app_client, site, huge)
    assert response.status_code == 413
    assert error(response)["code"] == "payload_too_large"


async def test_a_streamed_body_without_length_is_cut_off_at_the_limit(
    app_client: httpx.AsyncClient, site: Site
) -> None:
    chunks_sent = 0

    async def endless() -> Any:
        nonlocal chunks_sent
        yield b'{"author": {"name": "A"}, "body": "'
        for _ in range(10_000):
            chunks_sent += 1
            yield b"x" * 1024

    response = await app_client.post(
        url(site),
        content=endless(),
        headers={"X-Site-Key": site.widget_key, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert chunks_sent < 10_000


async def test_an_unknown_site_is_404(app_client: httpx.AsyncClient, site: Site) -> None:
    response = await app_client.post(
        "/v1/sites/no-such-site/articles/a/comments",
        json={"author": {"name": "A"}, "body": "hi"},
        headers={"X-Site-Key": site.widget_key},
    )
    assert response.status_code == 404
    assert error(response)["code"] == "site_not_found"


@pytest.mark.parametrize("key", [None, "wk_wrong"])
async def test_a_missing_or_wrong_site_key_is_401(
    app_client: httpx.AsyncClient, site: Site, key: str | None
) -> None:
    headers = {"X-Site-Key": key} if key else {}
    response = await app_client.post(
        url(site), json={"author": {"name": "A"}, "body": "hi"}, headers=headers
    )
    assert response.status_code == 401
    assert error(response)["field"] == "X-Site-Key"


async def test_another_sites_key_is_401(
    app_client: httpx.AsyncClient, make_site: Callable[..., Awaitable[Site]]
) -> None:
    mine, theirs = await make_site(), await make_site()
    response = await app_client.post(
        url(mine),
        json={"author": {"name": "A"}, "body": "hi"},
        headers={"X-Site-Key": theirs.widget_key},
    )
    assert response.status_code == 401


async def test_a_parent_from_another_article_is_refused(poster: Poster) -> None:
    elsewhere = await poster.comment(article="other-story")
    response = await poster.post(article="story-1", parent_id=elsewhere)
    assert response.status_code == 422
    assert error(response)["field"] == "parent_id"


async def test_a_parent_from_another_site_is_refused(
    app_client: httpx.AsyncClient, make_site: Callable[..., Awaitable[Site]]
) -> None:
    other = Poster(app_client, await make_site())
    foreign = await other.comment(article="story-1")
    response = await Poster(app_client, await make_site()).post(parent_id=foreign)
    assert response.status_code == 422


async def test_a_missing_parent_is_refused(poster: Poster) -> None:
    response = await poster.post(parent_id=2**62)
    assert response.status_code == 422
    assert error(response)["field"] == "parent_id"


async def test_a_closed_article_takes_no_comments(poster: Poster, conn: asyncpg.Connection) -> None:
    await poster.comment(article="closed-story")
    await conn.execute(
        "UPDATE articles SET is_open = false WHERE site_id = $1 AND external_id = 'closed-story'",
        poster.site.id,
    )
    response = await poster.post(article="closed-story")
    assert response.status_code == 409
    assert error(response)["code"] == "article_closed"


async def test_a_site_with_comments_closed_takes_none(
    app_client: httpx.AsyncClient, make_site: Callable[..., Awaitable[Site]]
) -> None:
    response = await Poster(app_client, await make_site(comments_open=False)).post()
    assert response.status_code == 409
    assert error(response)["code"] == "comments_closed"


async def test_a_retry_after_the_site_closed_still_gets_its_answer(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    key = {"Idempotency-Key": "before-closing"}
    first = await poster.post(headers=key)
    assert first.status_code == 202
    await conn.execute(
        "UPDATE sites SET settings = settings || '{\"comments_open\": false}' WHERE id = $1",
        poster.site.id,
    )
    # The first answer was lost: the retry gets the comment's id, with a new secret.
    again = await poster.post(headers=key)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["secret"] != first.json()["secret"]
    # Anything else is refused, a new key or the same key for another comment.
    assert (await poster.post(headers={"Idempotency-Key": "after"})).status_code == 409
    other = await poster.post(body="Something else.", headers=key)
    assert error(other)["code"] == "idempotency_conflict"


async def test_a_banned_author_is_refused_and_a_lapsed_ban_is_not(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    await poster.comment(author={"id": "troll", "name": "T"})
    await conn.execute(
        "UPDATE authors SET status = 'banned' WHERE site_id = $1 AND external_id = 'troll'",
        poster.site.id,
    )
    response = await poster.post(author={"id": "troll", "name": "T"})
    assert response.status_code == 403
    assert error(response)["code"] == "author_banned"

    await conn.execute(
        "UPDATE authors SET status_until = now() - interval '1 minute' "
        "WHERE site_id = $1 AND external_id = 'troll'",
        poster.site.id,
    )
    assert (await poster.post(author={"id": "troll", "name": "T"})).status_code == 202


async def test_anonymous_comments_are_refused_where_the_site_needs_an_author(
    app_client: httpx.AsyncClient, make_site: Callable[..., Awaitable[Site]]
) -> None:
    poster = Poster(app_client, await make_site(allow_anonymous=False))
    response = await poster.post(author={"name": "Guest"})
    assert response.status_code == 422
    assert error(response)["field"] == "author.id"
    assert error(response)["code"] == "author_required"


async def test_an_author_over_the_rate_limit_gets_429_with_retry_after(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
) -> None:
    site = await make_site(rate_per_author=3, rate_per_address=0, rate_window_seconds=60)
    poster = Poster(app_client, site)
    for _ in range(3):
        await poster.comment(author={"id": "fast", "name": "F"})

    response = await poster.post(author={"id": "fast", "name": "F"})
    assert response.status_code == 429
    assert error(response)["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another author on the same address is not held back by the author limit.
    assert (await poster.post(author={"id": "calm", "name": "C"})).status_code == 202
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", site.id)
    assert count == 4


async def test_a_resend_racing_its_request_for_the_last_slot_replays_it(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
    database_url: str,
) -> None:
    site = await make_site(rate_per_author=2, rate_per_address=0, rate_window_seconds=60)
    poster = Poster(app_client, site)
    await poster.comment(author={"id": "twice", "name": "T"})
    holder = await db.connect(database_url)
    try:
        # Both sends start their statement, then wait to count (intake_rate_window):
        # the first takes the last slot, the second counts it.
        async with holder.transaction():
            await holder.execute(
                "SELECT pg_advisory_xact_lock(hashtext('intake author'), hashtext($1))",
                f"{site.id} twice",
            )
            sends = [
                asyncio.create_task(
                    poster.post(
                        author={"id": "twice", "name": "T"},
                        body="Sent twice",
                        headers={"Idempotency-Key": "double-click"},
                    )
                )
                for _ in range(2)
            ]
            await wait_until(lambda: waiting_for_advisory_locks(conn, 2), 10, "both sends")
        responses = await asyncio.gather(*sends)
    finally:
        await holder.close()

    assert [r.status_code for r in responses] == [202, 202], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", site.id)
    assert count == 2


async def waiting_for_advisory_locks(conn: asyncpg.Connection, backends: int) -> bool:
    waiting: int = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event = 'advisory'"
    )
    return waiting == backends


async def test_an_address_over_the_rate_limit_gets_429(
    app_client: httpx.AsyncClient, make_site: Callable[..., Awaitable[Site]]
) -> None:
    site = await make_site(rate_per_author=0, rate_per_address=2, rate_window_seconds=600)
    poster = Poster(app_client, site)
    await poster.comment(author={"name": "A"})
    await poster.comment(author={"id": "x", "name": "B"})
    response = await poster.post(author={"id": "y", "name": "C"})
    assert response.status_code == 429
    assert 540 <= int(response.headers["Retry-After"]) <= 600


async def test_refused_posts_store_no_article_and_no_author(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
) -> None:
    # A flood from one address, each post under a new reader id on a new story: past the
    # limit, nothing it sends is stored, so the limit bounds the rows it makes.
    site = await make_site(rate_per_author=0, rate_per_address=2, rate_window_seconds=600)
    poster = Poster(app_client, site)
    for n in range(6):
        response = await poster.post(article=f"story-{n}", author={"id": f"bot{n}", "name": "B"})
        assert response.status_code == (202 if n < 2 else 429), n
    # A reply to nothing, on a story nobody has commented on (refused for that first).
    response = await poster.post(article="fresh", author={"id": "r", "name": "R"}, parent_id=10**9)
    assert response.status_code == 422
    articles = await conn.fetch(
        "SELECT external_id FROM articles WHERE site_id = $1 ORDER BY 1", site.id
    )
    authors = await conn.fetch(
        "SELECT external_id FROM authors WHERE site_id = $1 ORDER BY 1", site.id
    )
    assert [r["external_id"] for r in articles] == ["story-0", "story-1"]
    assert [r["external_id"] for r in authors] == ["bot0", "bot1"]


async def test_a_key_used_again_for_other_comments_stores_nothing(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    # Each is answered 409 and, never stored, counts towards no rate limit: it must make
    # no article or author either, nor rename the one that used the key.
    key = {"Idempotency-Key": "once"}
    assert (await poster.post(headers=key)).status_code == 202
    for n in range(3):
        author = {"id": f"key{n}" if n else "u1", "name": f"K{n}"}
        response = await poster.post(article=f"keyed-{n}", author=author, headers=key)
        assert response.status_code == 409, n
    articles = await conn.fetch(
        "SELECT external_id FROM articles WHERE site_id = $1", poster.site.id
    )
    authors = await conn.fetch(
        "SELECT external_id, name FROM authors WHERE site_id = $1", poster.site.id
    )
    assert [r["external_id"] for r in articles] == ["story-1"]
    assert [tuple(r) for r in authors] == [("u1", "Ann")]


async def test_a_rate_limit_frees_up_as_the_window_slides(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
) -> None:
    site = await make_site(rate_per_author=1, rate_window_seconds=60)
    poster = Poster(app_client, site)
    first = await poster.comment(author={"id": "p", "name": "P"})
    assert (await poster.post(author={"id": "p", "name": "P"})).status_code == 429
    await conn.execute(
        "UPDATE comments SET created_at = now() - interval '61 seconds' WHERE id = $1", first
    )
    assert (await poster.post(author={"id": "p", "name": "P"})).status_code == 202


@pytest.mark.parametrize(
    ("limits", "author_of"),
    [
        ({"rate_per_author": 5, "rate_per_address": 0}, lambda n: {"id": "eager", "name": "E"}),
        ({"rate_per_author": 0, "rate_per_address": 20}, lambda n: {"id": f"r{n}", "name": "R"}),
    ],
    ids=["per-author", "per-address"],
)
async def test_parallel_posts_store_exactly_the_rate_limit(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
    limits: dict[str, int],
    author_of: Callable[[int], dict[str, str]],
) -> None:
    site = await make_site(**limits, rate_window_seconds=600)
    limit = max(limits.values())
    poster = Poster(app_client, site)
    # Far more posts than the limit, all at once, over the app's pool of connections:
    # without the lock several checks count the same stored comments and overshoot.
    responses = await asyncio.gather(
        *(poster.post(author=author_of(n), body=f"Post {n}") for n in range(limit * 4))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(202) == limit
    assert statuses.count(429) == limit * 3
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", site.id)
    assert count == limit


async def test_a_new_authors_parallel_first_posts_keep_the_author_limit(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
) -> None:
    # Each post under another display name: the one that creates the author commits
    # first, and the others must count its comment, not rename the author and pass.
    site = await make_site(rate_per_author=1, rate_per_address=0, rate_window_seconds=600)
    poster = Poster(app_client, site)
    for reader in range(10):
        responses = await asyncio.gather(
            *(
                poster.post(author={"id": f"new{reader}", "name": f"Name {n}"}, body=f"Post {n}")
                for n in range(6)
            )
        )
        assert sorted(r.status_code for r in responses) == [202] + [429] * 5, reader
    count = await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", site.id)
    assert count == 10


@pytest.mark.parametrize("article", ["x" * 201])
async def test_an_overlong_article_id_is_refused(poster: Poster, article: str) -> None:
    response = await poster.post(article=article)
    assert response.status_code == 400
    assert error(response)["field"] == "article"


async def test_a_bad_idempotency_key_is_refused(poster: Poster) -> None:
    response = await poster.post(headers={"Idempotency-Key": "x" * 201})
    assert response.status_code == 400
    assert error(response)["field"] == "Idempotency-Key"


# --- signed reader ids -----------------------------------------------------------------


def reader_token(secret: str, author_id: str, seconds: float = 600) -> str:
    """What a site's backend signs for its signed-in reader."""
    claims = {"sub": author_id, "exp": int(time.time() + seconds)}
    return jwt.encode(claims, secret, algorithm="HS256")


async def test_a_site_that_signs_its_readers_takes_an_id_only_with_its_token(
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
    app_client: httpx.AsyncClient,
) -> None:
    site = await sign_readers(conn, (await make_site()).slug)
    assert site.reader_secret
    poster = Poster(app_client, site)
    ann = {"id": "reader-1", "name": "Ann"}

    def as_ann(token: str | None) -> dict[str, Any]:
        return {**ann, "token": token} if token else ann

    refused = {
        "no token": None,
        "another reader's": reader_token(site.reader_secret, "reader-2"),
        "expired": reader_token(site.reader_secret, "reader-1", seconds=-60),
        "another secret's": reader_token("rs_" + "x" * 43, "reader-1"),
        "not a token": "reader-1",
    }
    for case, token in refused.items():
        response = await poster.post(author=as_ann(token))
        assert response.status_code == 401, (case, response.text)
        assert error(response)["code"] == "author_unverified", case
        assert error(response)["field"] == "author.token", case
    assert await conn.fetchval("SELECT count(*) FROM comments WHERE site_id = $1", site.id) == 0

    signed = await poster.post(author=as_ann(reader_token(site.reader_secret, "reader-1")))
    assert signed.status_code == 202, signed.text
    # Anonymous comments carry no id to sign.
    assert (await poster.post(author={"name": "Guest"})).status_code == 202

    # A new secret: tokens pages already carry keep working for the grace it gives the old
    # one, and no longer once a rotation without grace has replaced both.
    old = site.reader_secret
    site = await sign_readers(conn, site.slug, keep_previous_seconds=3600)
    assert site.reader_secret is not None
    for secret in (site.reader_secret, old):
        posted = await poster.post(author=as_ann(reader_token(secret, "reader-1")))
        assert posted.status_code == 202, posted.text
    site = await sign_readers(conn, site.slug, keep_previous_seconds=0)
    assert site.reader_secret is not None
    for secret, status in ((site.reader_secret, 202), (old, 401)):
        posted = await Poster(app_client, site).post(
            author=as_ann(reader_token(secret, "reader-1"))
        )
        assert posted.status_code == status, posted.text

    # Half a second of grace is half a second, not none.
    replaced = site.reader_secret
    site = await sign_readers(conn, site.slug, keep_previous_seconds=0.5)
    posted = await Poster(app_client, site).post(author=as_ann(reader_token(replaced, "reader-1")))
    assert posted.status_code == 202, posted.text

    unsigned = await sign_readers(conn, site.slug, on=False)
    assert unsigned.reader_secret is None
    assert (await Poster(app_client, unsigned).post(author=ann)).status_code == 202
