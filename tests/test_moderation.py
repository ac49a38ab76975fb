"""The moderation API: tokens and roles, queues, decisions, reports, site settings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from moderation import authors, db, metrics, moderators, privacy
from moderation.db import reports as report_queries
from moderation.db import scoring as scoring_queries
from moderation.db import transitions
from moderation.db import webhooks as webhook_queries
from moderation.scoring.spam import MODEL_FORMAT
from moderation.sites import Site
from moderation.statuses import ACTION_FROM, ACTION_TARGET, QUEUE_ACTIONS, QUEUE_STATUS, Status
from tests.factories import (
    Poster,
    article_locked,
    article_state,
    as_in_production,
    comment_locked,
    moderator_headers,
    moderator_token,
    set_status,
    waiting_on_lock,
    waits_on_lock,
)
from tests.workers import wait_until

MakeModerator = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def make_moderator(conn: asyncpg.Connection) -> MakeModerator:
    """Headers for a new moderator of `sites` with `role`."""

    async def make(*sites: Site, role: str = "moderator", name: str = "Mo") -> dict[str, str]:
        return await moderator_headers(conn, *sites, role=role, name=name)

    return make


@pytest.fixture
async def mod(make_moderator: MakeModerator, site: Site) -> dict[str, str]:
    return await make_moderator(site)


async def held(poster: Poster, conn: asyncpg.Connection, risk: float = 0.5, **kwargs: Any) -> int:
    """A comment the scorer held for review, with `risk` as its highest score."""
    comment_id = await poster.comment(**kwargs)
    reason = f"toxicity {risk:.2f} ≥ 0.50"
    scored = transitions.Scored({"toxicity": risk}, "en", "t@1", "cpu", "float32", "torch")
    change = transitions.Change(comment_id, "pending", "review", reason, (reason,), scored=scored)
    await transitions.transition(conn, [change])
    return comment_id


def queue_url(site: Site, queue: str = "review") -> str:
    return f"/v1/moderation/queues/{queue}?site={site.slug}"


# --- access ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer mt_wrong"}, {"Authorization": "Basic abc"}],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_moderation_needs_a_valid_bearer_token(
    app_client: httpx.AsyncClient, site: Site, headers: dict[str, str]
) -> None:
    response = await app_client.get(f"/v1/moderation/queues?site={site.slug}", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"
    assert "Bearer" in response.headers["WWW-Authenticate"]


async def test_a_revoked_token_is_refused(
    app_client: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    moderator_id, token = await moderators.create(conn, "Leaver", "moderator", [site.id])
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/v1/moderation/queues?site={site.slug}"
    assert (await app_client.get(url, headers=headers)).status_code == 200
    await conn.execute("UPDATE moderators SET revoked_at = now() WHERE id = $1", moderator_id)
    assert (await app_client.get(url, headers=headers)).status_code == 401


async def test_only_a_hash_of_the_token_is_stored(conn: asyncpg.Connection, site: Site) -> None:
    _, token = await moderators.create(conn, "Hash", "moderator", [site.id])
    stored = await conn.fetchval("SELECT token_hash FROM moderators WHERE name = 'Hash'")
    assert token.encode() not in bytes(stored)
    assert bytes(stored) == moderators.hash_token(token)


async def test_a_moderator_of_site_a_sees_nothing_of_site_b(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    make_moderator: MakeModerator,
    conn: asyncpg.Connection,
) -> None:
    site_a, site_b = await make_site(), await make_site()
    headers = await make_moderator(site_a)
    other = Poster(app_client, site_b)
    secret = await held(other, conn, body="site B's private text")
    b_author = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", secret)

    responses = [
        await app_client.get(f"/v1/moderation/queues?site={site_b.slug}", headers=headers),
        await app_client.get(queue_url(site_b), headers=headers),
        await app_client.get(f"/v1/moderation/comments/{secret}", headers=headers),
        await app_client.post(
            f"/v1/moderation/comments/{secret}/decision",
            json={"action": "approve", "expected_status": "review"},
            headers=headers,
        ),
        await app_client.get(f"/v1/moderation/authors/{b_author}", headers=headers),
        await app_client.post(
            f"/v1/moderation/authors/{b_author}/status", json={"status": "banned"}, headers=headers
        ),
        await app_client.get(f"/v1/moderation/events?site={site_b.slug}", headers=headers),
        await app_client.get(f"/v1/moderation/stats?site={site_b.slug}", headers=headers),
    ]
    for response in responses:
        assert response.status_code == 404, response.request.url
        assert "private text" not in response.text
    # Unknown and foreign look the same: no probing for which sites exist.
    unknown = await app_client.get("/v1/moderation/queues?site=no-such-site", headers=headers)
    assert unknown.json()["error"] == responses[0].json()["error"] | {
        "message": unknown.json()["error"]["message"]
    }
    assert (await conn.fetchval("SELECT status FROM comments WHERE id = $1", secret)) == "review"

    bulk = await app_client.post(
        "/v1/moderation/decisions",
        json={"decisions": [{"id": secret, "action": "approve", "expected_status": "review"}]},
        headers=headers,
    )
    assert bulk.json()["results"][0]["outcome"] == "not_found"
    assert bulk.json()["results"][0]["status"] is None


async def test_a_moderator_with_two_sites_works_both(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    make_moderator: MakeModerator,
) -> None:
    site_a, site_b = await make_site(), await make_site()
    headers = await make_moderator(site_a, site_b)
    for site in (site_a, site_b):
        response = await app_client.get(queue_url(site), headers=headers)
        assert response.status_code == 200


# --- queues ------------------------------------------------------------------------


async def test_counts_per_queue(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    await held(poster, conn)
    await held(poster, conn)
    await poster.comment()
    approved = await poster.comment()
    await set_status(conn, [approved], "approved")
    spam = await poster.comment()
    await set_status(conn, [spam], "spam")
    await poster.client.post(
        f"/v1/sites/{poster.site.slug}/comments/{approved}/reports",
        json={"reason": "rude"},
        headers={"X-Site-Key": poster.site.widget_key},
    )

    response = await poster.client.get(
        f"/v1/moderation/queues?site={poster.site.slug}", headers=mod
    )
    assert response.json() == {
        "site": poster.site.slug,
        "counts": {
            "review": 2,
            "reported": 1,
            # Approved by set_status with no moderator: as scoring approves.
            "auto": 1,
            "pending": 1,
            "spam": 1,
            "rejected": 0,
            "approved": 1,
        },
    }


async def test_queue_items_carry_what_a_moderator_needs(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    parent = await poster.comment(body="The parent comment")
    await set_status(conn, [parent], "approved")
    author = {"id": "reader-7", "name": "Rae"}
    earlier = await poster.comment(author=author)
    await set_status(conn, [earlier], "approved")
    item_id = await held(poster, conn, 0.7, body="A held reply", parent_id=parent, author=author)

    [item] = (await poster.client.get(queue_url(poster.site), headers=mod)).json()["items"]
    assert item["id"] == item_id
    assert item["body"] == "A held reply"
    assert item["status"] == "review"
    assert item["queues"] == ["review"]
    assert item["reasons"] == ["toxicity 0.70 ≥ 0.50"]
    assert item["scores"] == {"toxicity": 0.7}
    assert item["model"] == "t@1"
    assert item["model_runtime"] == {"device": "cpu", "dtype": "float32", "backend": "torch"}
    assert item["language"] == "en"
    assert item["article"] == {"id": "story-1", "title": None, "url": None}
    assert item["author"]["external_id"] == "reader-7"
    assert item["author"]["history"] == {"approved": 1, "rejected": 0, "spam": 0}
    assert item["parent"] == {
        "id": parent,
        "author_name": "Ann",
        "status": "approved",
        "body": "The parent comment",
    }
    assert item["reports"] == {"count": 0, "reasons": []}


async def test_priority_puts_the_riskiest_first_and_pages_stably(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    risks = [0.55, 0.95, 0.6, 0.8, 0.7, 0.65, 0.9]
    ids = {risk: await held(poster, conn, risk) for risk in risks}
    expected = [ids[r] for r in sorted(risks, reverse=True)]

    seen: list[int] = []
    cursor = None
    while True:
        url = queue_url(poster.site) + "&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await poster.client.get(url, headers=mod)).json()
        seen += [item["id"] for item in page["items"]]
        if len(seen) == 3:
            # Items come and go between pages: the order of the rest holds.
            await held(poster, conn, 0.99)
            await set_status(conn, [expected[4]], "approved", frm="review")
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e for e in expected if e != expected[4]]


async def test_reported_queue_puts_the_most_reported_first(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    once, twice = await poster.comment(), await poster.comment()
    await set_status(conn, [once, twice], "approved")
    for comment, addresses in ((once, ["10.0.0.1"]), (twice, ["10.0.0.2", "10.0.0.3"])):
        for address in addresses:
            await conn.execute(
                "INSERT INTO reports (comment_id, reason, client_addr) VALUES ($1, $2, $3)",
                comment,
                f"spam from {address}",
                address,
            )
    items = (await poster.client.get(queue_url(poster.site, "reported"), headers=mod)).json()[
        "items"
    ]
    assert [i["id"] for i in items] == [twice, once]
    assert items[0]["reports"]["count"] == 2
    assert sorted(items[0]["reports"]["reasons"]) == ["spam from 10.0.0.2", "spam from 10.0.0.3"]


async def test_queue_filters(poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]) -> None:
    other_article = await held(poster, conn, article="story-2")
    by_bob = await held(poster, conn, author={"id": "bob", "name": "Bob"})
    bob = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", by_bob)
    french = await held(poster, conn)
    await conn.execute("UPDATE comments SET language = 'fr' WHERE id = $1", french)
    flagged = await poster.comment()
    await conn.execute(
        "UPDATE comments SET status = 'review', reasons = $2 WHERE id = $1",
        flagged,
        ["3 links from a new author"],
    )

    async def ids(params: str) -> list[int]:
        response = await poster.client.get(queue_url(poster.site) + params, headers=mod)
        return [i["id"] for i in response.json()["items"]]

    assert await ids("&article=story-2") == [other_article]
    assert await ids(f"&author={bob}") == [by_bob]
    assert await ids("&language=fr") == [french]
    assert await ids("&reason=links%20from") == [flagged]
    assert await ids("&reason=100%25") == []


async def test_text_search_finds_words_in_any_language_and_keeps_other_filters(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    bridge = await held(poster, conn, body="The new bridge is a waste of money.")
    armenian = await held(poster, conn, body="Կամուրջը շատ թանկ է")
    elsewhere = await held(poster, conn, body="The bridge again", article="story-2")
    await held(poster, conn, body="Nothing to see here.")

    async def ids(params: dict[str, str]) -> list[int]:
        response = await poster.client.get(
            "/v1/moderation/queues/review",
            params={"site": poster.site.slug, "sort": "oldest", **params},
            headers=mod,
        )
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids({"q": "bridge"}) == [bridge, elsewhere]
    assert await ids({"q": "BRIDGE money"}) == [bridge]
    assert await ids({"q": "bridge -money"}) == [elsewhere]
    assert await ids({"q": '"waste of money"'}) == [bridge]
    assert await ids({"q": "Կամուրջը"}) == [armenian]
    assert await ids({"q": "bridge", "article": "story-2"}) == [elsewhere]
    # Search syntax a person may mistype is never an error: it just finds less.
    assert await ids({"q": "\"' & | ! ( :*"}) == []
    too_long = await poster.client.get(queue_url(poster.site) + "&q=" + "x" * 201, headers=mod)
    assert too_long.status_code == 400
    assert too_long.json()["error"]["field"] == "q"


async def test_auto_queue_samples_what_scoring_approved_until_a_person_confirms(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    automatic = [await poster.comment(body=f"Fine comment {n}") for n in range(3)]
    await set_status(conn, automatic, "approved")
    by_person = await held(poster, conn)
    approve = {"action": "approve", "expected_status": "review"}
    decided = await poster.client.post(
        f"/v1/moderation/comments/{by_person}/decision", json=approve, headers=mod
    )
    assert decided.status_code == 200

    url = queue_url(poster.site, "auto")
    sample = (await poster.client.get(url, headers=mod)).json()
    assert sorted(i["id"] for i in sample["items"]) == automatic
    assert sample["next_cursor"] is None
    # A moderator's "looks right" is a person's approval: it leaves the sample.
    looks_right = {"action": "approve", "expected_status": "approved"}
    response = await poster.client.post(
        f"/v1/moderation/comments/{automatic[0]}/decision", json=looks_right, headers=mod
    )
    assert response.json()["status"] == "approved"
    after = (await poster.client.get(url, headers=mod)).json()
    assert sorted(i["id"] for i in after["items"]) == automatic[1:]
    counts = await poster.client.get(f"/v1/moderation/queues?site={poster.site.slug}", headers=mod)
    assert counts.json()["counts"]["auto"] == 2
    assert counts.json()["counts"]["approved"] == 4


async def test_featuring_an_approved_comment_is_audited_and_shown_to_readers(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    first = await poster.comment(body="Worth reading")
    second = await poster.comment(body="Also good")
    await set_status(conn, [first, second], "approved")
    held_one = await held(poster, conn)
    before = await poster.thread()
    assert before.json()["article"]["featured_count"] == 0

    for comment_id in (first, second):
        response = await poster.client.post(
            f"/v1/moderation/comments/{comment_id}/feature", json={"featured": True}, headers=mod
        )
        assert response.json() == {"id": comment_id, "featured": True}
    refused = await poster.client.post(
        f"/v1/moderation/comments/{held_one}/feature", json={"featured": True}, headers=mod
    )
    assert refused.status_code == 409
    featured = await poster.client.get(
        f"/v1/sites/{poster.site.slug}/articles/story-1/featured",
        headers={"If-None-Match": before.headers["etag"]},
    )
    assert featured.status_code == 200
    assert [c["id"] for c in featured.json()["comments"]] == [second, first]
    assert featured.json()["article"]["featured_count"] == 2
    assert (await poster.thread()).json()["article"]["featured_count"] == 2

    await poster.client.post(
        f"/v1/moderation/comments/{first}/feature", json={"featured": False}, headers=mod
    )
    again = await poster.client.get(f"/v1/sites/{poster.site.slug}/articles/story-1/featured")
    assert [c["id"] for c in again.json()["comments"]] == [second]
    detail = await poster.client.get(f"/v1/moderation/comments/{first}", headers=mod)
    kinds = [(e["kind"], e["reason"]) for e in detail.json()["history"]]
    assert kinds[-2:] == [("featured", "featured"), ("unfeatured", "no longer featured")]
    assert detail.json()["featured"] is False


async def test_a_reject_reason_is_kept_in_the_comments_history(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment_id = await held(poster, conn)
    decision = {
        "action": "reject",
        "expected_status": "review",
        "reason": "Off topic: about another story",
    }
    response = await poster.client.post(
        f"/v1/moderation/comments/{comment_id}/decision", json=decision, headers=mod
    )
    assert response.status_code == 200
    detail = (await poster.client.get(f"/v1/moderation/comments/{comment_id}", headers=mod)).json()
    last = detail["history"][-1]
    assert (last["actor"], last["to"], last["reason"]) == (
        "moderator",
        "rejected",
        "Off topic: about another story",
    )
    assert last["moderator"]["name"] == "Mo"


async def test_notes_on_an_author_are_kept_with_who_wrote_them(
    poster: Poster,
    conn: asyncpg.Connection,
    mod: dict[str, str],
    make_moderator: MakeModerator,
    make_site: Callable[..., Awaitable[Site]],
) -> None:
    comment_id = await held(poster, conn, author={"id": "noted", "name": "Noted"})
    author = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", comment_id)
    url = f"/v1/moderation/authors/{author}/notes"
    response = await poster.client.post(url, json={"body": "Warned by email on 3 May"}, headers=mod)
    assert response.status_code == 201
    assert response.json()["moderator"]["name"] == "Mo"
    detail = (await poster.client.get(f"/v1/moderation/authors/{author}", headers=mod)).json()
    assert [n["body"] for n in detail["notes"]] == ["Warned by email on 3 May"]
    assert (await poster.client.post(url, json={"body": " "}, headers=mod)).status_code == 422
    other = await make_moderator(await make_site())
    assert (await poster.client.post(url, json={"body": "x"}, headers=other)).status_code == 404


async def test_an_article_carries_the_title_and_address_its_page_sent(
    poster: Poster, mod: dict[str, str], conn: asyncpg.Connection
) -> None:
    origin = poster.site.allowed_origins[0]
    # With the default port, as a site's `data-url` may spell it: still the site's origin.
    page = {"title": "Council votes", "url": f"{origin}:443/politics/council-votes"}
    first = await post_on_page(poster, "council", page)
    assert first.status_code == 202, first.text
    # Anyone may send any page with a comment: a later one changes neither the title nor
    # the address (here a phishing page) that moderators, exports and readers' links show.
    second = await post_on_page(
        poster, "council", {"title": "Council resigns", "url": f"{origin}/phish"}
    )
    assert second.status_code == 202
    response = await poster.client.get(
        f"/v1/moderation/queues/pending?site={poster.site.slug}", headers=mod
    )
    articles = {item["id"]: item["article"] for item in response.json()["items"]}
    assert articles[second.json()["id"]] == {"id": "council", **page}
    # One stored before imports checked their links is no link for moderators to click.
    await conn.execute(
        "UPDATE articles SET url = 'javascript:alert(1)' WHERE site_id = $1", poster.site.id
    )
    detail = await poster.client.get(f"/v1/moderation/comments/{second.json()['id']}", headers=mod)
    assert detail.json()["article"]["url"] is None


async def post_on_page(poster: Poster, article: str, page: dict[str, str]) -> httpx.Response:
    return await poster.client.post(
        f"/v1/sites/{poster.site.slug}/articles/{article}/comments",
        json={"author": {"id": "a", "name": "A"}, "body": "A comment", "article": page},
        headers={"X-Site-Key": poster.site.widget_key},
    )


async def article_row(conn: asyncpg.Connection, site: Site, article: str) -> tuple[Any, ...]:
    state = await article_state(conn, site, article)
    return state["title"], state["url"], state["is_open"]


async def test_a_page_fills_in_only_what_its_article_lacks(
    poster: Poster, mod: dict[str, str], conn: asyncpg.Connection
) -> None:
    # Opened before any comment: the article exists, without a title or address.
    url = f"/v1/moderation/sites/{poster.site.slug}/articles/later"
    assert (await poster.client.put(url, json={"open": True}, headers=mod)).status_code == 200
    assert (await post_on_page(poster, "later", {"title": "Later"})).status_code == 202
    assert await article_row(conn, poster.site, "later") == ("Later", None, True)
    page = {"title": "Sooner", "url": "https://news.example/later"}
    assert (await post_on_page(poster, "later", page)).status_code == 202
    assert await article_row(conn, poster.site, "later") == ("Later", page["url"], True)


async def test_a_refused_comment_leaves_its_page_on_no_article(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    await poster.comment(article="elsewhere", author={"id": "troll", "name": "T"})
    await conn.execute(
        "UPDATE authors SET status = 'banned' WHERE site_id = $1 AND external_id = 'troll'",
        poster.site.id,
    )
    forged = {"title": "Paper admits fraud", "url": "https://news.example/fraud"}
    for article in ("new-story", "elsewhere"):  # a story it would make, and one it found
        refused = await poster.client.post(
            f"/v1/sites/{poster.site.slug}/articles/{article}/comments",
            json={"author": {"id": "troll", "name": "T"}, "body": "Hi", "article": forged},
            headers={"X-Site-Key": poster.site.widget_key},
        )
        assert refused.status_code == 403
    assert await article_row(conn, poster.site, "elsewhere") == (None, None, True)
    made = "SELECT count(*) FROM articles WHERE site_id = $1 AND external_id = 'new-story'"
    assert await conn.fetchval(made, poster.site.id) == 0
    honest = {"title": "Bridge reopens", "url": "https://news.example/bridge"}
    assert (await post_on_page(poster, "new-story", honest)).status_code == 202
    assert await article_row(conn, poster.site, "new-story") == (*honest.values(), True)


async def test_a_moderator_corrects_an_article_s_title_and_address(
    poster: Poster, mod: dict[str, str], conn: asyncpg.Connection
) -> None:
    first = {"title": "Council vots", "url": "https://news.example/council"}
    assert (await post_on_page(poster, "council", first)).status_code == 202
    url = f"/v1/moderation/sites/{poster.site.slug}/articles/council"
    fixed = {"title": "Council votes", "url": "https://news.example/politics/council"}
    # The widget's key is no authority over the article.
    widget = {"X-Site-Key": poster.site.widget_key}
    assert (await poster.client.put(url, json=fixed, headers=widget)).status_code == 401
    response = await poster.client.put(url, json=fixed, headers=mod)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": "council", "open": True, **fixed}
    assert await article_row(conn, poster.site, "council") == (*fixed.values(), True)
    # What it leaves out stays; closing changes neither.
    response = await poster.client.put(url, json={"title": "Council votes 7-4"}, headers=mod)
    assert response.json()["url"] == fixed["url"]
    response = await poster.client.put(url, json={"open": False}, headers=mod)
    assert response.json() == {
        "id": "council",
        "open": False,
        "title": "Council votes 7-4",
        "url": fixed["url"],
    }
    event = await conn.fetchrow(
        "SELECT before, after FROM site_events WHERE site_id = $1 AND change = 'article'"
        " ORDER BY id DESC LIMIT 1",
        poster.site.id,
    )
    assert event is not None
    assert (event["before"]["open"], event["after"]["open"]) == (True, False)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({}, None),
        ({"url": "https://evil.example/council"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"title": "Two\nlines"}, "title"),
        ({"title": "x" * 301}, "title"),
    ],
)
async def test_an_article_change_off_the_site_or_invalid_is_a_422(
    poster: Poster,
    mod: dict[str, str],
    conn: asyncpg.Connection,
    change: dict[str, str],
    field: str | None,
) -> None:
    assert (await post_on_page(poster, "council", {"title": "Council"})).status_code == 202
    url = f"/v1/moderation/sites/{poster.site.slug}/articles/council"
    response = await poster.client.put(url, json=change, headers=mod)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await article_row(conn, poster.site, "council") == ("Council", None, True)


@pytest.mark.parametrize(
    ("page", "stored"),
    [
        # A mis-decoded apostrophe (cp1252's 0x92 read as Latin-1) and a line break.
        ({"title": "Council\u0092s budget\n vote"}, ("Council s budget vote", None)),
        ({"title": "\t \n"}, (None, None)),
        ({"title": "🎉" * 301}, ("🎉" * 300, None)),
        ({"url": "javascript:alert(1)"}, (None, None)),
        ({"url": "https:example.com/story"}, (None, None)),
        ({"url": "https://example.com/\u0000"}, (None, None)),
        ({"url": "https://example.com/" + "a" * 2000}, (None, None)),
    ],
)
async def test_a_page_s_bad_title_or_address_is_cleaned_not_the_comment_refused(
    poster: Poster, conn: asyncpg.Connection, page: dict[str, str], stored: tuple[object, object]
) -> None:
    response = await poster.client.post(
        f"/v1/sites/{poster.site.slug}/articles/odd-page/comments",
        json={"author": {"id": "a", "name": "A"}, "body": "A comment", "article": page},
        headers={"X-Site-Key": poster.site.widget_key},
    )
    assert response.status_code == 202, response.text
    article = await conn.fetchrow(
        "SELECT title, url FROM articles WHERE site_id = $1 AND external_id = 'odd-page'",
        poster.site.id,
    )
    assert article is not None
    assert (article["title"], article["url"]) == stored


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ("&sort=random", 400, "sort"),
        ("&limit=0", 400, "limit"),
        ("&cursor=garbage", 400, "cursor"),
        ("&author=abc", 400, "author"),
    ],
)
async def test_bad_queue_parameters(
    poster: Poster, mod: dict[str, str], params: str, status: int, field: str
) -> None:
    response = await poster.client.get(queue_url(poster.site) + params, headers=mod)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field


async def test_an_unknown_queue_is_404(poster: Poster, mod: dict[str, str]) -> None:
    response = await poster.client.get(queue_url(poster.site, "nonsense"), headers=mod)
    assert response.status_code == 404


# --- decisions ---------------------------------------------------------------------


async def moderate(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    comment: int,
    action: str,
    expected: str,
    reason: str | None = None,
    version: int | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"action": action, "expected_status": expected}
    if reason:
        body["reason"] = reason
    if version is not None:
        body["expected_version"] = version
    return await client.post(
        f"/v1/moderation/comments/{comment}/decision", json=body, headers=headers
    )


async def test_approving_a_held_comment_publishes_it_and_records_who(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment = await held(poster, conn, body="Held, then approved")
    assert (await poster.thread()).json()["threads"] == []

    response = await moderate(poster.client, mod, comment, "approve", "review", "fair criticism")
    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"
    assert response.json()["status"] == "approved"
    assert [t["id"] for t in (await poster.thread()).json()["threads"]] == [comment]

    detail = (await poster.client.get(f"/v1/moderation/comments/{comment}", headers=mod)).json()
    last = detail["history"][-1]
    assert (last["actor"], last["from"], last["to"], last["reason"]) == (
        "moderator",
        "review",
        "approved",
        "fair criticism",
    )
    assert last["moderator"]["name"] == "Mo"
    assert detail["history"][0]["actor"] == "system"


async def test_rejecting_an_approved_comment_removes_it_from_the_thread(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment = await poster.comment(body="Visible for a while")
    await set_status(conn, [comment], "approved")
    tag = (await poster.thread()).headers["ETag"]
    assert (await moderate(poster.client, mod, comment, "reject", "approved")).status_code == 200
    after = await poster.thread()
    assert after.json()["threads"] == []
    assert after.headers["ETag"] != tag


async def test_spam_then_restore_brings_a_comment_back(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment = await held(poster, conn)
    assert (await moderate(poster.client, mod, comment, "spam", "review")).status_code == 200
    restored = await moderate(poster.client, mod, comment, "restore", "spam")
    assert restored.json()["status"] == "approved"
    assert [t["id"] for t in (await poster.thread()).json()["threads"]] == [comment]


async def test_a_decision_on_a_stale_view_is_a_409_with_the_current_state(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment = await held(poster, conn)
    await moderate(poster.client, mod, comment, "approve", "review")
    stale = await moderate(poster.client, mod, comment, "reject", "review")
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale_decision"
    assert stale.json()["current"] == {"id": comment, "status": "approved"}


async def test_a_decision_naming_the_version_it_saw_is_stale_once_the_comment_changed(
    poster: Poster, conn: asyncpg.Connection, make_moderator: MakeModerator
) -> None:
    first = await make_moderator(poster.site, name="First")
    second = await make_moderator(poster.site, name="Second")
    comment = await poster.comment(body="Reported, then kept by one moderator")
    await set_status(conn, [comment], "approved")
    url = f"/v1/moderation/comments/{comment}"
    seen = (await poster.client.get(url, headers=second)).json()
    # Kept (approved -> approved): the status the second moderator saw, a newer version.
    kept = await moderate(
        poster.client, first, comment, "approve", "approved", version=seen["version"]
    )
    assert kept.status_code == 200
    bulk = await poster.client.post(
        "/v1/moderation/decisions",
        json={
            "decisions": [
                {
                    "id": comment,
                    "action": "reject",
                    "expected_status": "approved",
                    "expected_version": seen["version"],
                }
            ]
        },
        headers=second,
    )
    [result] = bulk.json()["results"]
    assert (result["outcome"], result["status"]) == ("conflict", "approved")
    # A decision that names no version is checked on the status alone, as it always was.
    assert (await moderate(poster.client, second, comment, "reject", "approved")).status_code == 200


async def test_two_moderators_deciding_at_once_exactly_one_wins(
    poster: Poster,
    conn: asyncpg.Connection,
    make_moderator: MakeModerator,
) -> None:
    first = await make_moderator(poster.site, name="First")
    second = await make_moderator(poster.site, name="Second")
    for _ in range(5):
        comment = await held(poster, conn)
        responses = await asyncio.gather(
            moderate(poster.client, first, comment, "approve", "review"),
            moderate(poster.client, second, comment, "reject", "review"),
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        events = await conn.fetchval(
            "SELECT count(*) FROM comment_events WHERE comment_id = $1 AND actor = 'moderator'",
            comment,
        )
        assert events == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "delete", "expected_status": "review"}, "action"),
        ({"action": "approve"}, "expected_status"),
        ({"action": "approve", "expected_status": "review", "extra": 1}, "extra"),
        (
            {"action": "approve", "expected_status": "review", "expected_version": -1},
            "expected_version",
        ),
        (
            {"action": "approve", "expected_status": "review", "expected_version": "3"},
            "expected_version",
        ),
    ],
)
async def test_invalid_decisions_are_422(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str], body: dict[str, Any], field: str
) -> None:
    comment = await held(poster, conn)
    response = await poster.client.post(
        f"/v1/moderation/comments/{comment}/decision", json=body, headers=mod
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_restore_is_only_for_removed_comments(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment = await held(poster, conn)
    response = await moderate(poster.client, mod, comment, "restore", "review")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "action_not_allowed"


async def test_a_decision_on_a_missing_comment_is_404(poster: Poster, mod: dict[str, str]) -> None:
    assert (await moderate(poster.client, mod, 2**62, "approve", "review")).status_code == 404


async def test_bulk_decisions_report_each_outcome(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    a, b, c = [await held(poster, conn) for _ in range(3)]
    await set_status(conn, [c], "approved", frm="review")
    response = await poster.client.post(
        "/v1/moderation/decisions",
        json={
            "decisions": [
                {"id": a, "action": "spam", "expected_status": "review"},
                {"id": b, "action": "reject", "expected_status": "review", "reason": "off topic"},
                {"id": c, "action": "reject", "expected_status": "review"},
                {"id": 2**62, "action": "approve", "expected_status": "review"},
                {"id": a + 10**9, "action": "restore", "expected_status": "review"},
            ]
        },
        headers=mod,
    )
    assert response.status_code == 200
    outcomes = [(r["id"], r["outcome"], r["status"]) for r in response.json()["results"]]
    assert outcomes == [
        (a, "applied", "spam"),
        (b, "applied", "rejected"),
        (c, "conflict", "approved"),
        (2**62, "not_found", None),
        (a + 10**9, "not_found", None),
    ]


async def test_decisions_spanning_the_same_two_articles_in_other_orders_both_apply(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    on_a, on_b = await poster.comment(article="a"), await poster.comment(article="b")
    await set_status(conn, [on_a, on_b], "approved")
    pending_b, pending_a = await poster.comment(article="b"), await poster.comment(article="a")
    # A worker's batch approving b's comment then a's; a moderator's bulk decision
    # withdrawing a's then b's. Each moves both articles' approved counts.
    scored = transitions.Scored({"toxicity": 0.01}, "en", "dev-keywords@1")
    batch = [
        transitions.Change(c, "pending", "approved", "ok", ("ok",), scored=scored)
        for c in (pending_b, pending_a)
    ]
    bulk = [transitions.Change(c, "approved", "rejected", "off topic") for c in (on_a, on_b)]
    worker, moderator = await db.connect(database_url), await db.connect(database_url)
    try:
        async with article_locked(database_url, on_b):
            batching = asyncio.create_task(transitions.transition(worker, batch))
            await waiting_on_lock(conn, worker)
            deciding = asyncio.create_task(transitions.transition(moderator, bulk))
            await waiting_on_lock(conn, moderator)
        assert len(await batching) == 2
        assert len(await deciding) == 2
    finally:
        await worker.close()
        await moderator.close()

    counts = await conn.fetch(
        "SELECT external_id, approved_count FROM articles WHERE site_id = $1", poster.site.id
    )
    assert sorted(tuple(c) for c in counts) == [("a", 1), ("b", 1)]


async def test_decisions_naming_the_same_comments_in_other_orders_both_finish(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    first, second, third = [await poster.comment() for _ in range(3)]
    await as_in_production(conn, first)
    # A moderator's bulk decision rejecting first, third and second, in the order they
    # were picked; a worker's batch approving second then first. The third is held (its
    # author is editing it) while both are under way.
    bulk = [
        transitions.Change(c, "pending", "rejected", "off topic") for c in (first, third, second)
    ]
    scored = transitions.Scored({"toxicity": 0.01}, "en", "dev-keywords@1")
    batch = [
        transitions.Change(c, "pending", "approved", "ok", ("ok",), scored=scored)
        for c in (second, first)
    ]
    moderator, worker = await db.connect(database_url), await db.connect(database_url)
    try:
        async with comment_locked(database_url, third):
            deciding = asyncio.create_task(transitions.transition(moderator, bulk))
            await waiting_on_lock(conn, moderator)
            batching = asyncio.create_task(transitions.transition(worker, batch))
            await waiting_on_lock(conn, worker)
        # The moderator came first: the batch finds its comments decided already.
        assert len(await deciding) == 3
        assert await batching == []
    finally:
        await moderator.close()
        await worker.close()

    statuses = await transitions.statuses(conn, [first, second, third])
    assert {status for _, status in statuses.values()} == {"rejected"}


async def test_bulk_refuses_the_same_comment_twice(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment = await held(poster, conn)
    decision = {"id": comment, "action": "approve", "expected_status": "review"}
    response = await poster.client.post(
        "/v1/moderation/decisions", json={"decisions": [decision, decision]}, headers=mod
    )
    assert response.status_code == 422


# --- reports -----------------------------------------------------------------------


async def report(poster: Poster, comment: int, address: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=poster.client._transport.app, client=(address, 1))  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        return await client.post(
            f"/v1/sites/{poster.site.slug}/comments/{comment}/reports",
            json={"reason": f"abusive ({address})"},
            headers={"X-Site-Key": poster.site.widget_key},
        )


async def test_reports_hide_a_comment_at_the_sites_threshold_until_a_moderator_decides(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    make_moderator: MakeModerator,
    conn: asyncpg.Connection,
) -> None:
    site = await make_site(report_threshold=2)
    poster = Poster(app_client, site)
    headers = await make_moderator(site)
    comment = await poster.comment(body="Contested comment")
    await set_status(conn, [comment], "approved")

    assert (await report(poster, comment, "10.1.0.1")).status_code == 202
    assert [t["id"] for t in (await poster.thread()).json()["threads"]] == [comment]
    assert (await report(poster, comment, "10.1.0.2")).status_code == 202
    hidden = (await poster.thread()).json()
    assert hidden["threads"] == []
    assert hidden["article"]["approved_count"] == 0

    [item] = (await app_client.get(queue_url(site, "reported"), headers=headers)).json()["items"]
    assert "reported" in item["queues"]
    assert item["hidden"] is True
    assert item["reports"]["count"] == 2

    # Approving dismisses the reports and shows the comment again.
    assert (await moderate(app_client, headers, comment, "approve", "approved")).status_code == 200
    assert [t["id"] for t in (await poster.thread()).json()["threads"]] == [comment]
    assert (await app_client.get(queue_url(site, "reported"), headers=headers)).json()[
        "items"
    ] == []
    # Approved it stays, no longer reported nor waiting for a person to look at it.
    kept = await app_client.get(f"/v1/moderation/comments/{comment}", headers=headers)
    assert kept.json()["queues"] == ["approved"]
    open_reports = await conn.fetchval(
        "SELECT count(*) FROM reports WHERE comment_id = $1 AND dismissed_at IS NULL", comment
    )
    assert open_reports == 0


async def test_rejecting_a_reported_comment_closes_its_reports(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    comment = await poster.comment()
    await set_status(conn, [comment], "approved")
    await report(poster, comment, "10.2.0.1")
    assert (await moderate(poster.client, mod, comment, "reject", "approved")).status_code == 200
    counts = (
        await poster.client.get(f"/v1/moderation/queues?site={poster.site.slug}", headers=mod)
    ).json()["counts"]
    assert counts["reported"] == 0
    assert counts["rejected"] == 1


async def report_settled(
    conn: asyncpg.Connection, reporting: asyncio.Task[Any], reporter: asyncpg.Connection
) -> None:
    """Until the report finished, or waits on the comment a moderator's transaction holds."""

    async def settled() -> bool:
        return reporting.done() or await waits_on_lock(conn, reporter)

    await wait_until(settled, 10, "the report to finish or wait on a lock")


async def open_reports_and_hidden(conn: asyncpg.Connection, comment: int) -> tuple[int, bool]:
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM reports WHERE comment_id = $1
                   AND dismissed_at IS NULL) AS open, hidden_at IS NOT NULL AS hidden
           FROM comments WHERE id = $1""",
        comment,
    )
    assert row is not None
    return row["open"], row["hidden"]


async def test_reports_arriving_together_hide_a_comment_at_the_threshold(
    app_client: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
) -> None:
    poster = Poster(app_client, await make_site(report_threshold=3))
    comments = [await poster.comment(body=f"Contested claim {n}") for n in range(10)]
    await set_status(conn, comments, "approved")
    for comment in comments:
        answers = await asyncio.gather(*(report(poster, comment, f"10.3.0.{n}") for n in range(3)))
        assert [a.status_code for a in answers] == [202] * 3
    for comment in comments:
        assert await open_reports_and_hidden(conn, comment) == (3, True)


async def test_a_report_waits_for_a_concurrent_one_and_counts_it(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    comment = await poster.comment(body="A claim two readers dislike")
    await set_status(conn, [comment], "approved")
    first, second = await db.connect(database_url), await db.connect(database_url)
    try:
        async with first.transaction():
            assert await report_queries.add(first, poster.site.id, comment, "lie", "10.4.0.1", 2)
            reporting = asyncio.create_task(
                report_queries.add(second, poster.site.id, comment, "lie", "10.4.0.2", 2)
            )
            await report_settled(conn, reporting, second)
        assert await reporting
    finally:
        await first.close()
        await second.close()
    assert await open_reports_and_hidden(conn, comment) == (2, True)


async def test_a_report_racing_keep_and_dismiss_counts_only_open_reports(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    comment = await poster.comment(body="Reported twice, kept by a moderator")
    await set_status(conn, [comment], "approved")
    for n in (1, 2):
        assert await report_queries.add(conn, poster.site.id, comment, "lie", f"10.5.0.{n}", 3)
    desk, reader = await db.connect(database_url), await db.connect(database_url)
    try:
        # "Keep, dismiss reports", as `review.apply_decisions` runs it.
        async with desk.transaction():
            keep = transitions.Change(comment, "approved", "approved", "keep")
            assert await transitions.transition(desk, [keep])
            await report_queries.resolve(desk, [comment])
            reporting = asyncio.create_task(
                report_queries.add(reader, poster.site.id, comment, "lie", "10.5.0.3", 3)
            )
            await report_settled(conn, reporting, reader)
        assert await reporting
    finally:
        await desk.close()
        await reader.close()
    assert await open_reports_and_hidden(conn, comment) == (1, False)


async def test_a_report_racing_a_rejection_finds_no_visible_comment(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    comment = await poster.comment(body="Rejected while a reader reports it")
    await set_status(conn, [comment], "approved")
    desk, reader = await db.connect(database_url), await db.connect(database_url)
    try:
        async with desk.transaction():
            reject = transitions.Change(comment, "approved", "rejected", "reject")
            assert await transitions.transition(desk, [reject])
            await report_queries.resolve(desk, [comment])
            reporting = asyncio.create_task(
                report_queries.add(reader, poster.site.id, comment, "abuse", "10.6.0.1", 1)
            )
            await report_settled(conn, reporting, reader)
        assert await reporting is None
    finally:
        await desk.close()
        await reader.close()
    assert await open_reports_and_hidden(conn, comment) == (0, False)


# --- authors -----------------------------------------------------------------------


async def test_banning_an_author_can_reject_their_open_comments(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    troll = {"id": "troll", "name": "T"}
    pending = await poster.comment(author=troll)
    in_review = await held(poster, conn, author=troll)
    approved = await poster.comment(author=troll)
    await set_status(conn, [approved], "approved")
    author_id = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", pending)

    response = await poster.client.post(
        f"/v1/moderation/authors/{author_id}/status",
        json={"status": "banned", "reason": "harassment", "reject_open": True},
        headers=mod,
    )
    assert response.status_code == 200
    assert response.json()["previous_status"] == "normal"
    assert sorted(response.json()["rejected_comments"]) == sorted([pending, in_review])
    rows = await conn.fetch("SELECT id, status FROM comments WHERE author_id = $1", author_id)
    statuses = {row["id"]: row["status"] for row in rows}
    assert statuses == {pending: "rejected", in_review: "rejected", approved: "approved"}
    # The ban is in force at intake.
    assert (await poster.post(author=troll)).status_code == 403

    detail = (await poster.client.get(f"/v1/moderation/authors/{author_id}", headers=mod)).json()
    assert detail["status"] == "banned"
    assert detail["history"]["rejected"] == 2
    assert detail["status_history"][-1]["reason"] == "harassment"
    assert detail["status_history"][-1]["moderator"]["name"] == "Mo"
    assert len(detail["recent_comments"]) == 3


async def test_a_ban_that_rejects_open_comments_waits_for_a_decision_under_way(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    await webhook_queries.create(
        conn, poster.site.id, "https://hooks.example/in", ["comment.decided"], "s" * 32
    )
    troll = {"id": "troll", "name": "T"}
    deciding_on, still_open = await poster.comment(author=troll), await poster.comment(author=troll)
    author_id = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", still_open)
    token = await moderator_token(conn, poster.site)
    moderator = await moderators.lookup(conn, moderators.hash_token(token))
    assert moderator is not None
    ban = authors.AuthorStatusIn(status="banned", reject_open=True)
    scored = transitions.Scored({"toxicity": 0.01}, "en", "dev-keywords@1")
    change = transitions.Change(deciding_on, "pending", "approved", "ok", ("ok",), scored=scored)
    worker, banning = await db.connect(database_url), await db.connect(database_url)
    try:
        # The worker's decision holds its comment, stalled at the article before its
        # webhook event; the ban then waits for it.
        async with article_locked(database_url, deciding_on):
            deciding = asyncio.create_task(transitions.transition(worker, [change]))
            await waiting_on_lock(conn, worker)
            banned = asyncio.create_task(authors.set_status(banning, moderator, author_id, ban))
            await waiting_on_lock(conn, banning)
        assert await deciding
        answer = await banned
    finally:
        await worker.close()
        await banning.close()

    # The decision landed first; the ban rejects what was still open when it did.
    assert answer["rejected_comments"] == [still_open]
    rows = await conn.fetch("SELECT id, status FROM comments WHERE author_id = $1", author_id)
    assert {r["id"]: r["status"] for r in rows} == {deciding_on: "approved", still_open: "rejected"}
    assert await conn.fetchval("SELECT status FROM authors WHERE id = $1", author_id) == "banned"


async def test_a_suspension_lapses_at_its_expiry(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    author = {"id": "hothead", "name": "H"}
    await poster.comment(author=author)
    author_id = await conn.fetchval(
        "SELECT id FROM authors WHERE site_id = $1 AND external_id = 'hothead'", poster.site.id
    )
    response = await poster.client.post(
        f"/v1/moderation/authors/{author_id}/status",
        json={"status": "banned", "until": "2099-01-01T00:00:00Z"},
        headers=mod,
    )
    assert response.status_code == 200
    assert (await poster.post(author=author)).status_code == 403
    # Time passes: once the expiry is behind, the suspended author may comment again.
    record = await poster.client.get(f"/v1/moderation/authors/{author_id}", headers=mod)
    assert (record.json()["status"], record.json()["status_until"]) == (
        "banned",
        "2099-01-01T00:00:00+00:00",
    )
    await conn.execute(
        "UPDATE authors SET status_until = now() - interval '1 second' WHERE id = $1", author_id
    )
    posted = await poster.post(author=author)
    assert posted.status_code == 202
    # And moderators are told so: the record and the queue item say normal, not banned.
    record = await poster.client.get(f"/v1/moderation/authors/{author_id}", headers=mod)
    assert (record.json()["status"], record.json()["status_until"]) == ("normal", None)
    item = await poster.client.get(f"/v1/moderation/comments/{posted.json()['id']}", headers=mod)
    assert item.json()["author"]["status"] == "normal"
    # A new status starts from the one in force, and its record says so.
    changed = await poster.client.post(
        f"/v1/moderation/authors/{author_id}/status", json={"status": "premod"}, headers=mod
    )
    assert changed.json()["previous_status"] == "normal"
    last = await conn.fetchval(
        "SELECT from_status FROM author_events WHERE author_id = $1 ORDER BY id DESC LIMIT 1",
        author_id,
    )
    assert last == "normal"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "royalty"}, "status"),
        ({"status": "premod", "reject_open": True}, "reject_open"),
        ({"status": "normal", "until": "2030-01-01T00:00:00Z"}, "until"),
        ({"status": "banned", "until": "next week"}, "until"),
        ({"status": "banned", "until": "2030-01-01T00:00:00"}, "until"),
    ],
)
async def test_invalid_author_changes_are_422(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str], body: dict[str, Any], field: str
) -> None:
    await poster.comment(author={"id": "x1", "name": "X"})
    author_id = await conn.fetchval(
        "SELECT id FROM authors WHERE site_id = $1 AND external_id = 'x1'", poster.site.id
    )
    response = await poster.client.post(
        f"/v1/moderation/authors/{author_id}/status", json=body, headers=mod
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


# --- site settings and articles ----------------------------------------------------


async def test_only_admins_read_and_change_site_settings(
    poster: Poster, mod: dict[str, str], make_moderator: MakeModerator
) -> None:
    url = f"/v1/moderation/sites/{poster.site.slug}/settings"
    assert (await poster.client.get(url, headers=mod)).status_code == 403
    assert (await poster.client.put(url, json={}, headers=mod)).status_code == 403
    admin = await make_moderator(poster.site, role="admin")
    current = (await poster.client.get(url, headers=admin)).json()
    assert current["allowed_origins"] == ["https://news.example"]
    assert current["thresholds"]["toxicity"] == {"hold": 0.5, "reject": 0.9}


async def test_two_admins_patching_at_once_both_keep_their_change(
    poster: Poster, conn: asyncpg.Connection, make_moderator: MakeModerator, database_url: str
) -> None:
    admin = await make_moderator(poster.site, role="admin")
    url = f"/v1/moderation/sites/{poster.site.slug}/settings"

    async def waiting(count: int) -> bool:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(found == count)

    # Both PATCHes in flight while the site's row is held: each must merge into what the
    # other wrote, not into what both read before either wrote.
    holder = await db.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT FROM sites WHERE id = $1 FOR UPDATE", poster.site.id)
            first = asyncio.create_task(
                poster.client.patch(url, json={"max_length": 1234}, headers=admin)
            )
            await wait_until(lambda: waiting(1), 10, "the first PATCH to wait")
            second = asyncio.create_task(
                poster.client.patch(url, json={"report_threshold": 7}, headers=admin)
            )
            await wait_until(lambda: waiting(2), 10, "the second PATCH to wait")
    finally:
        await holder.close()
    assert [(await first).status_code, (await second).status_code] == [200, 200]
    stored = (await poster.client.get(url, headers=admin)).json()
    assert (stored["max_length"], stored["report_threshold"]) == (1234, 7)
    # Each audit row's "before" is what was in force when it was written.
    events = await conn.fetch(
        "SELECT before, after FROM site_events WHERE site_id = $1 ORDER BY id", poster.site.id
    )
    assert events[1]["before"] == events[0]["after"]


async def test_a_settings_change_does_not_wait_for_comments_coming_in(
    poster: Poster, make_moderator: MakeModerator, database_url: str
) -> None:
    # An import or an intake holding a new article of the site (KEY SHARE on its row).
    admin = await make_moderator(poster.site, role="admin")
    url = f"/v1/moderation/sites/{poster.site.slug}/settings"
    writer = await db.connect(database_url)
    try:
        async with writer.transaction():
            await writer.execute(
                "INSERT INTO articles (site_id, external_id) VALUES ($1, 'incoming')",
                poster.site.id,
            )
            patch = poster.client.patch(url, json={"max_length": 1234}, headers=admin)
            response = await asyncio.wait_for(patch, 10)
            assert response.status_code == 200
    finally:
        await writer.close()


async def test_new_settings_apply_to_the_next_comment_without_a_restart(
    poster: Poster, conn: asyncpg.Connection, make_moderator: MakeModerator
) -> None:
    admin = await make_moderator(poster.site, role="admin")
    url = f"/v1/moderation/sites/{poster.site.slug}/settings"
    document = (await poster.client.get(url, headers=admin)).json()
    document.update(max_length=10, banned_words=["scoundrel"], premod="all")
    document["thresholds"] = {"toxicity": {"hold": 0.2, "reject": 0.4}}
    response = await poster.client.put(url, json=document, headers=admin)
    assert response.status_code == 200
    assert response.json()["thresholds"]["toxicity"] == {"hold": 0.2, "reject": 0.4}
    assert response.json()["thresholds"]["insult"] == {"hold": 0.5, "reject": 0.9}

    too_long = await poster.post(body="x" * 11)
    assert too_long.status_code == 422
    stored = await conn.fetchval("SELECT settings FROM sites WHERE id = $1", poster.site.id)
    assert stored["banned_words"] == ["scoundrel"]
    event = await conn.fetchrow(
        "SELECT moderator_id, before, after FROM site_events WHERE site_id = $1", poster.site.id
    )
    assert event is not None
    assert event["before"]["max_length"] == 5000
    assert event["after"]["max_length"] == 10


async def test_a_patch_changes_only_the_settings_it_names(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str], make_moderator: MakeModerator
) -> None:
    url = f"/v1/moderation/sites/{poster.site.slug}/settings"
    assert (await poster.client.patch(url, json={}, headers=mod)).status_code == 403
    admin = await make_moderator(poster.site, role="admin")
    before = (await poster.client.get(url, headers=admin)).json()
    patch = {"own_edit_seconds": 60, "thresholds": {"toxicity": {"hold": 0.3, "reject": 0.9}}}
    response = await poster.client.patch(url, json=patch, headers=admin)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["own_edit_seconds"] == 60
    assert after["thresholds"]["toxicity"] == {"hold": 0.3, "reject": 0.9}
    others = {label: t for label, t in after["thresholds"].items() if label != "toxicity"}
    assert others == {label: t for label, t in before["thresholds"].items() if label != "toxicity"}
    # What the patch does not name stays, the origins the widget needs above all.
    unchanged = {k: v for k, v in after.items() if k not in patch}
    assert unchanged == {k: v for k, v in before.items() if k not in patch}
    assert after["allowed_origins"] == ["https://news.example"]
    # An invalid value, a null, or not an object: 422, and nothing changes.
    for body, field in (
        ({"max_length": 0}, "max_length"),
        ({"premod": None}, "premod"),
        ({"thresholds": {"insult": {"hold": 0.1}}}, "thresholds.insult.reject"),
    ):
        invalid = await poster.client.patch(url, json=body, headers=admin)
        assert (invalid.status_code, invalid.json()["error"]["field"]) == (422, field)
    assert (await poster.client.patch(url, json=[1], headers=admin)).status_code == 422
    stored = await conn.fetchval("SELECT settings FROM sites WHERE id = $1", poster.site.id)
    assert stored["max_length"] == 5000
    changes = await conn.fetchval(
        "SELECT count(*) FROM site_events WHERE site_id = $1 AND change = 'settings'",
        poster.site.id,
    )
    assert changes == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_length": 0}, "max_length"),
        ({"premod": "sometimes"}, "premod"),
        ({"thresholds": {"toxicity": {"hold": 0.9, "reject": 0.5}}}, "thresholds.toxicity"),
        ({"thresholds": {"sarcasm": {"hold": 0.1, "reject": 0.2}}}, "thresholds.sarcasm.[key]"),
        ({"allowed_origins": ["https://x.example/path"]}, None),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_invalid_settings_are_422_and_change_nothing(
    poster: Poster,
    conn: asyncpg.Connection,
    make_moderator: MakeModerator,
    change: dict[str, Any],
    field: str | None,
) -> None:
    admin = await make_moderator(poster.site, role="admin")
    url = f"/v1/moderation/sites/{poster.site.slug}/settings"
    response = await poster.client.put(url, json=change, headers=admin)
    assert response.status_code == 422
    if field is not None:
        assert response.json()["error"]["field"] == field
    stored = await conn.fetchval("SELECT settings FROM sites WHERE id = $1", poster.site.id)
    assert stored["max_length"] == 5000


async def test_closing_and_reopening_an_article(
    poster: Poster, mod: dict[str, str], conn: asyncpg.Connection
) -> None:
    url = f"/v1/moderation/sites/{poster.site.slug}/articles/story-1"
    assert (await poster.client.put(url, json={"open": False}, headers=mod)).status_code == 200
    assert (await poster.post()).status_code == 409
    assert (await poster.thread()).json()["article"]["open"] is False
    assert (await poster.client.put(url, json={"open": True}, headers=mod)).status_code == 200
    assert (await poster.post()).status_code == 202


# --- stats -------------------------------------------------------------------------


async def test_stats_count_automatic_decisions_moderators_overturned(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    async def automatic(status: Status, reason: str, **kwargs: Any) -> int:
        comment = await poster.comment(**kwargs)
        await transitions.transition(
            conn, [transitions.Change(comment, "pending", status, reason, (reason,))]
        )
        return comment

    wrongly_rejected = await automatic("rejected", "toxicity 0.93 ≥ 0.90")
    await automatic("rejected", "toxicity 0.97 ≥ 0.90")
    wrongly_approved = await automatic("approved", "scores below every threshold")
    held_then_approved = await automatic("review", "insult 0.55 ≥ 0.50")
    await moderate(poster.client, mod, wrongly_rejected, "restore", "rejected")
    await moderate(poster.client, mod, wrongly_approved, "spam", "approved")
    await moderate(poster.client, mod, held_then_approved, "approve", "review")
    # An operator's erasure is the system's latest event on a comment, and replaces its
    # reasons: no rule can be told, so the comment leaves the figures.
    erased = await automatic(
        "approved", "scores below every threshold", author={"id": "gone", "name": "Gone"}
    )
    author_id = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", erased)
    await privacy.erase(conn, author_id, "operator")

    stats = (
        await poster.client.get(f"/v1/moderation/stats?site={poster.site.slug}", headers=mod)
    ).json()
    rules = {(r["rule"], r["automatic"]): r for r in stats["rules"]}
    assert rules[("toxicity ≥ 0.90", "rejected")]["decisions"] == 2
    assert rules[("toxicity ≥ 0.90", "rejected")]["overturned"] == 1
    assert rules[("scores below every threshold", "approved")]["decisions"] == 1
    assert rules[("scores below every threshold", "approved")]["overturned"] == 1
    assert not [rule for rule, _ in rules if rule.startswith("author's data erased")]
    assert rules[("insult ≥ 0.50", "review")]["approved_by_moderators"] == 1
    assert rules[("insult ≥ 0.50", "review")]["overturned"] == 0
    assert stats["overturned"] == 2


async def test_stats_name_rules_as_the_metrics_do(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    reasons = [
        "toxicity 0.93 ≥ 0.90",
        "spam 0.91 ≥ 0.80 (3 links; new author)",
        "1 link (site pre-moderates links)",
        "8 links (site pre-moderates links)",
        "language hy not covered",
        "new author (site pre-moderates new authors)",
    ]
    for reason in reasons:
        comment = await poster.comment()
        change = transitions.Change(comment, "pending", "review", reason, (reason,))
        await transitions.transition(conn, [change])
    stats = (
        await poster.client.get(f"/v1/moderation/stats?site={poster.site.slug}", headers=mod)
    ).json()
    rules = {r["rule"]: r["decisions"] for r in stats["rules"]}
    assert rules.keys() == {metrics.rule(reason) for reason in reasons}
    assert rules["links"] == 2


async def test_moderator_decisions_become_spam_labels_for_retraining(
    poster: Poster, conn: asyncpg.Connection, mod: dict[str, str]
) -> None:
    spam = await held(poster, conn, body="buy cheap followers at example.biz")
    fine = await held(poster, conn, body="a perfectly fine remark")
    await moderate(poster.client, mod, spam, "spam", "review")
    await moderate(poster.client, mod, fine, "approve", "review")
    retrain = await scoring_queries.sites_to_retrain(conn, MODEL_FORMAT)
    due = {r["site_id"]: r["newest_event"] for r in retrain}
    labelled = await scoring_queries.spam_labels(conn, poster.site.id, due[poster.site.id])
    labels = {row["body"]: row["label"] for row in labelled}
    assert labels == {"buy cheap followers at example.biz": 1, "a perfectly fine remark": 0}


def test_every_queue_offers_only_actions_its_comments_allow() -> None:
    for queue, actions in QUEUE_ACTIONS.items():
        status = QUEUE_STATUS[queue]
        assert actions, queue
        for action in actions:
            assert status in ACTION_FROM[action], (queue, action)
            # Deciding a comment into the status it has only means something where a
            # person's verdict takes it out of the queue: reports dismissed, approval confirmed.
            if ACTION_TARGET[action] == status:
                assert queue in ("reported", "auto"), (queue, action)
    assert QUEUE_ACTIONS["reported"] == ("approve", "reject", "spam")
