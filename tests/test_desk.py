"""The moderator desk: sessions, CSRF, headers and access over HTTP; then the desk itself
in headless Chromium against `moderation dev` (a real worker holds the comments).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from playwright.async_api import Browser, Page, expect
from pydantic import SecretStr

from moderation import moderators, webhooks
from moderation.app import create_app
from moderation.config import Settings
from moderation.db import sites as site_queries
from moderation.db import webhooks as webhook_queries
from moderation.sites import Site
from moderation.web.demo import create_demo_app
from tests import browser as chromium
from tests.browser import Stack, card, open_desk, screenshot_path
from tests.factories import (
    Poster,
    article_state,
    desk_csrf,
    desk_sign_in,
    moderator_token,
    set_status,
)
from tests.workers import wait_until

# The shared browser fixtures, bound here so that pytest finds them for this module.
browser, page, stack = chromium.browser, chromium.page, chromium.stack


# --- over HTTP ------------------------------------------------------------------------


@pytest.fixture
async def desk(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a session secret, over https as in production (Secure cookies)."""
    secret = SecretStr(secrets.token_urlsafe(32))
    app = create_app(settings.model_copy(update={"session_secret": secret}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="https://desk.test") as client:
            yield client


async def held(client: httpx.AsyncClient, conn: asyncpg.Connection, site: Site, **kw: Any) -> int:
    comment_id = await Poster(client, site).comment(**kw)
    await set_status(conn, [comment_id], "review")
    return comment_id


async def status_of(conn: asyncpg.Connection, comment_id: int) -> str:
    status: str = await conn.fetchval("SELECT status FROM comments WHERE id = $1", comment_id)
    return status


def decision(comment_id: int) -> dict[str, Any]:
    return {"decisions": [{"id": comment_id, "action": "approve", "expected_status": "review"}]}


async def test_signing_in_opens_the_review_queue_with_a_locked_down_cookie(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    response = await desk_sign_in(desk, await moderator_token(conn, site))
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    for flag in ("httponly", "samesite=lax", "secure", "path=/desk"):
        assert flag in cookie, cookie
    home = await desk.get(response.headers["location"])
    assert home.headers["location"] == f"/desk/sites/{site.slug}/queues/review"
    queue = await desk.get(home.headers["location"])
    assert queue.status_code == 200
    assert 'data-queue="review"' in queue.text


@pytest.mark.parametrize("revoked", [False, True], ids=["wrong", "revoked"])
async def test_signing_in_with_a_wrong_or_revoked_token_fails(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection, revoked: bool
) -> None:
    token = "mt_" + secrets.token_urlsafe(32)
    if revoked:
        moderator_id, token = await moderators.create(conn, "Gone", "moderator", [site.id])
        await conn.execute("UPDATE moderators SET revoked_at = now() WHERE id = $1", moderator_id)
    response = await desk_sign_in(desk, token)
    assert response.status_code == 401
    assert "not valid" in response.text
    queue = await desk.get(f"/desk/sites/{site.slug}/queues/review")
    assert queue.status_code == 303
    assert queue.headers["location"] == "/desk/signin"


async def test_revoking_a_token_ends_its_desk_sessions(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    moderator_id, token = await moderators.create(conn, "Leaver", "moderator", [site.id])
    await desk_sign_in(desk, token)
    api = f"/desk/api/sites/{site.slug}/queues/review"
    assert (await desk.get(api)).status_code == 200
    await conn.execute("UPDATE moderators SET revoked_at = now() WHERE id = $1", moderator_id)
    assert (await desk.get(api)).status_code == 401
    page = await desk.get(f"/desk/sites/{site.slug}/queues/review")
    assert page.headers["location"] == "/desk/signin"


async def test_signing_out_ends_the_session_and_needs_the_csrf_token(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    await desk_sign_in(desk, await moderator_token(conn, site))
    token = await desk_csrf(desk, site)
    refused = await desk.post("/desk/signout", data={"csrf_token": ""})
    assert refused.status_code == 403
    assert (await desk.get(f"/desk/sites/{site.slug}/queues/review")).status_code == 200
    response = await desk.post("/desk/signout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/desk/signin"
    queue = await desk.get(f"/desk/sites/{site.slug}/queues/review")
    assert queue.headers["location"] == "/desk/signin"


async def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    await desk_sign_in(desk, await moderator_token(conn, site))
    token = await desk_csrf(desk, site)
    copied = dict(desk.cookies)
    api = f"/desk/api/sites/{site.slug}/queues/review"
    assert (await desk.get(api)).status_code == 200
    await desk.post("/desk/signout", data={"csrf_token": token})

    desk.cookies.clear()
    desk.cookies.update(copied)
    refused = await desk.get(api)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "signed_out"
    page = await desk.get(f"/desk/sites/{site.slug}/queues/review")
    assert page.headers["location"] == "/desk/signin"


async def test_signing_out_ends_only_that_session(
    settings: Settings, site: Site, conn: asyncpg.Connection
) -> None:
    """Another browser signed in with the same token stays signed in."""
    secret = SecretStr(secrets.token_urlsafe(32))
    app = create_app(settings.model_copy(update={"session_secret": secret}))
    token = await moderator_token(conn, site)
    api = f"/desk/api/sites/{site.slug}/queues/review"
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="https://desk.test") as laptop,
            httpx.AsyncClient(transport=transport, base_url="https://desk.test") as phone,
        ):
            await desk_sign_in(laptop, token)
            await desk_sign_in(phone, token)
            await laptop.post("/desk/signout", data={"csrf_token": await desk_csrf(laptop, site)})
            assert (await laptop.get(api)).status_code == 401
            assert (await phone.get(api)).status_code == 200


async def test_reissuing_the_token_ends_its_desk_sessions(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    moderator_id, token = await moderators.create(conn, "Rotated", "moderator", [site.id])
    await desk_sign_in(desk, token)
    api = f"/desk/api/sites/{site.slug}/queues/review"
    assert (await desk.get(api)).status_code == 200
    await moderators.issue_token(conn, moderator_id)
    assert (await desk.get(api)).status_code == 401


async def test_signing_in_needs_the_csrf_token_of_the_form(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    token = await moderator_token(conn, site)
    response = await desk.post("/desk/signin", data={"token": token})
    assert response.status_code == 403
    assert (await desk.get("/desk/")).headers["location"] == "/desk/signin"


async def test_a_decision_without_the_csrf_header_is_refused_and_changes_nothing(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    await desk_sign_in(desk, await moderator_token(conn, site))
    comment_id = await held(desk, conn, site)
    token = await desk_csrf(desk, site)
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        refused = await desk.post("/desk/api/decisions", json=decision(comment_id), headers=headers)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        assert await status_of(conn, comment_id) == "review"
    response = await desk.post(
        "/desk/api/decisions", json=decision(comment_id), headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["outcome"] == "applied"
    assert await status_of(conn, comment_id) == "approved"


async def test_featuring_and_notes_need_the_csrf_header(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    await desk_sign_in(desk, await moderator_token(conn, site))
    comment_id = await held(desk, conn, site, author={"id": "noted", "name": "Noted"})
    await set_status(conn, [comment_id], "approved", frm="review")
    author = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", comment_id)
    token = await desk_csrf(desk, site)
    feature = f"/desk/api/comments/{comment_id}/feature"
    note = f"/desk/api/authors/{author}/notes"
    assert (await desk.post(feature, json={"featured": True})).status_code == 403
    assert (await desk.post(note, json={"body": "x"})).status_code == 403
    headers = {"X-CSRF-Token": token}
    featured = await desk.post(feature, json={"featured": True}, headers=headers)
    assert featured.json() == {"id": comment_id, "featured": True}
    noted = await desk.post(note, json={"body": "Keeps to the topic"}, headers=headers)
    assert noted.status_code == 201
    record = (await desk.get(f"/desk/api/authors/{author}")).json()
    assert [n["body"] for n in record["notes"]] == ["Keeps to the topic"]
    # The comment page's forms need the CSRF field too.
    url = f"/desk/sites/{site.slug}/comments/{comment_id}/decision"
    form = {"action": "reject", "expected_status": "approved", "reason_choice": "Off topic"}
    assert (await desk.post(url, data=form)).status_code == 403
    done = await desk.post(url, data={**form, "csrf_token": token, "reason_note": "weather"})
    assert done.status_code == 303
    assert await status_of(conn, comment_id) == "rejected"
    page = await desk.get(done.headers["location"])
    assert "Done: rejected." in page.text
    assert "Off topic: weather" in page.text


async def test_the_comment_pages_decision_is_refused_once_its_author_edited_the_text(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    await desk_sign_in(desk, await moderator_token(conn, site))
    poster = Poster(desk, site)
    response = await poster.post(body="The new bridge looks great.")
    comment_id, secret = response.json()["id"], response.json()["secret"]
    shown = await desk.get(f"/desk/sites/{site.slug}/comments/{comment_id}")
    version = re.search(r'name="expected_version" value="(\d+)"', shown.text)
    assert version, shown.text
    edited = await desk.put(
        f"/v1/sites/{site.slug}/comments/{comment_id}",
        json={"body": "Everyone on the council is scum"},
        headers={"X-Site-Key": site.widget_key, "X-Comment-Secret": secret},
    )
    assert edited.status_code == 200, edited.text
    form = {
        "action": "approve",
        "expected_status": "pending",
        "expected_version": version.group(1),
        "csrf_token": await desk_csrf(desk, site),
    }
    refused = await desk.post(f"/desk/sites/{site.slug}/comments/{comment_id}/decision", data=form)
    assert refused.status_code == 409
    assert f"changed since version {version.group(1)}" in refused.text
    assert "Everyone on the council is scum" in refused.text
    assert await status_of(conn, comment_id) == "pending"


async def test_a_form_without_the_csrf_field_is_refused_and_changes_nothing(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    await desk_sign_in(desk, await moderator_token(conn, site))
    comment_id = await held(desk, conn, site, author={"id": "troll", "name": "Troll"})
    author_id = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", comment_id)
    url = f"/desk/sites/{site.slug}/authors/{author_id}/status"
    form = {"status": "banned", "duration": "", "reason": "abuse"}
    assert (await desk.post(url, data=form)).status_code == 403
    assert (await desk.post(url, data={**form, "csrf_token": "forged"})).status_code == 403
    status = "SELECT status FROM authors WHERE id = $1"
    assert await conn.fetchval(status, author_id) == "normal"
    response = await desk.post(url, data={**form, "csrf_token": await desk_csrf(desk, site)})
    assert response.status_code == 303
    assert await conn.fetchval(status, author_id) == "banned"


async def test_desk_pages_carry_the_security_headers(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    signin_page = await desk.get("/desk/signin")
    await desk_sign_in(desk, await moderator_token(conn, site))
    responses = [
        signin_page,
        await desk.get(f"/desk/sites/{site.slug}/queues/review"),
        await desk.get(f"/desk/api/sites/{site.slug}/queues/review"),
        await desk.get("/desk/sites/no-such-site/queues/review"),
    ]
    for response in responses:
        policy = dict(
            part.strip().split(" ", 1)
            for part in response.headers["content-security-policy"].split(";")
        )
        assert "unsafe-inline" not in policy["script-src"]
        assert policy["frame-ancestors"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["cache-control"] == "no-store"
    # The public API stays cookie-free: the desk's cookie is not even sent there.
    assert "cookie" not in (await desk.get("/healthz")).request.headers


async def test_the_demo_page_allows_no_inline_scripts() -> None:
    demo = create_demo_app("http://api.test", "demo", "wk_x")
    transport = httpx.ASGITransport(app=demo)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo.test") as client:
        response = await client.get("/demo/")
    script_src = re.search(r"script-src ([^;]+)", response.headers["content-security-policy"])
    assert script_src
    assert "unsafe-inline" not in script_src.group(1)
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_moderator_sees_nothing_of_another_site_in_the_desk(
    desk: httpx.AsyncClient,
    make_site: Callable[..., Awaitable[Site]],
    conn: asyncpg.Connection,
) -> None:
    site_a, site_b = await make_site(), await make_site()
    await desk_sign_in(desk, await moderator_token(conn, site_a))
    secret = await held(desk, conn, site_b, body="site B's private text")
    b_author = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", secret)
    token = await desk_csrf(desk, site_a)
    responses = [
        await desk.get(f"/desk/sites/{site_b.slug}/queues/review"),
        await desk.get(f"/desk/api/sites/{site_b.slug}/queues/review"),
        await desk.get(f"/desk/api/comments/{secret}"),
        await desk.get(f"/desk/api/sites/{site_b.slug}/events"),
        await desk.get(f"/desk/sites/{site_b.slug}/authors/{b_author}"),
        await desk.get(f"/desk/sites/{site_a.slug}/authors/{b_author}"),
        await desk.get(f"/desk/sites/{site_b.slug}/settings"),
        await desk.get(f"/desk/api/authors/{b_author}"),
        await desk.get(f"/desk/sites/{site_b.slug}/comments/{secret}"),
        await desk.get(f"/desk/sites/{site_a.slug}/comments/{secret}"),
        await desk.get(f"/desk/sites/{site_b.slug}/articles/story-1"),
        await desk.get(f"/desk/sites/{site_a.slug}/articles/story-1"),
        await desk.post(
            f"/desk/api/authors/{b_author}/notes",
            json={"body": "probe"},
            headers={"X-CSRF-Token": token},
        ),
    ]
    for response in responses:
        assert response.status_code == 404, response.request.url
        assert "private text" not in response.text
    outcome = await desk.post(
        "/desk/api/decisions", json=decision(secret), headers={"X-CSRF-Token": token}
    )
    assert outcome.json()["results"][0]["outcome"] == "not_found"
    assert await status_of(conn, secret) == "review"
    own = await desk.get(f"/desk/api/sites/{site_a.slug}/queues/review")
    assert own.json()["items"] == []


async def test_only_admins_get_the_settings_page(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    url = f"/desk/sites/{site.slug}/settings"
    await desk_sign_in(desk, await moderator_token(conn, site))
    assert (await desk.get(url)).status_code == 403
    refused = await desk.post(url, data={"csrf_token": await desk_csrf(desk, site)})
    assert refused.status_code == 403


async def test_an_admin_changes_thresholds_and_word_lists_on_the_settings_page(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    url = f"/desk/sites/{site.slug}/settings"
    await desk_sign_in(desk, await moderator_token(conn, site, role="admin"))
    page = await desk.get(url)
    assert page.status_code == 200
    form = inputs(page.text)
    assert form["hold.toxicity"] == "0.5"
    form.update(
        {
            "premod": "links",
            "comments_open": "on",
            "allow_anonymous": "on",
            "banned_words": "scam\n\nfraudster",
            "suspect_words": "",
            "allowed_origins": "https://news.example",
            "hold.toxicity": "0.42",
        }
    )
    bad = await desk.post(url, data={**form, "reject.toxicity": "0.3"})
    assert bad.status_code == 422
    assert "hold must not be above reject" in bad.text
    saved = await desk.post(url, data=form)
    assert saved.status_code == 303
    stored = (await site_queries.get_by_slug(conn, site.slug))["settings"]  # type: ignore[index]
    assert stored["thresholds"]["toxicity"] == {"hold": 0.42, "reject": 0.9}
    assert stored["banned_words"] == ["scam", "fraudster"]
    assert stored["premod"] == "links"


async def test_a_moderator_retitles_and_closes_a_story_on_its_page(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    comment_id = await held(desk, conn, site, article="news/2024/bridge")
    await desk_sign_in(desk, await moderator_token(conn, site))
    comment_page = await desk.get(f"/desk/sites/{site.slug}/comments/{comment_id}")
    # The id's slashes are encoded: a path segment, not dot segments a browser resolves.
    url = f"/desk/sites/{site.slug}/articles/news%2F2024%2Fbridge"
    assert f'href="{url}"' in comment_page.text
    page = await desk.get(url)
    assert page.status_code == 200
    assert "open to comments" in page.text
    csrf = inputs(page.text)["csrf_token"]
    foreign = await desk.post(
        url, data={"csrf_token": csrf, "title": "Bridge", "url": "https://evil.example/x"}
    )
    assert foreign.status_code == 422
    assert "allowed origins" in foreign.text
    assert 'aria-invalid="true"' in foreign.text
    unsigned = await desk.post(url, data={"title": "Bridge"})
    assert unsigned.status_code == 403
    changed = await desk.post(
        url,
        data={
            "csrf_token": csrf,
            "title": "The bridge reopens",
            "url": "https://news.example/bridge",
        },
    )
    assert changed.status_code == 303
    assert changed.headers["location"].endswith(f"{url}?changed=1")
    assert await article_state(conn, site, "news/2024/bridge") == {
        "title": "The bridge reopens",
        "url": "https://news.example/bridge",
        "is_open": False,  # the box left unticked
        "version": 2,
    }
    audited = await conn.fetchrow(
        "SELECT moderator_id, after FROM site_events WHERE site_id = $1 AND change = 'article'",
        site.id,
    )
    assert audited["moderator_id"] is not None  # type: ignore[index]
    assert audited["after"]["title"] == "The bridge reopens"  # type: ignore[index]
    shown = await desk.get(url + "?changed=1")
    assert "Story changed." in shown.text
    assert "closed to comments" in shown.text
    assert (await desk.get(f"/desk/sites/{site.slug}/articles/no-such-story")).status_code == 404


async def test_the_story_page_writes_only_what_the_moderator_changed(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    article = "a/../b"  # a widget may send any id: it must reach its own page
    await held(desk, conn, site, article="a%2F..%2Fb")
    # An address from before the site's origins changed, which the form shows back.
    await conn.execute(
        "UPDATE articles SET title = 'Old', url = 'https://old.example/s1'"
        " WHERE site_id = $1 AND external_id = $2",
        site.id,
        article,
    )
    await desk_sign_in(desk, await moderator_token(conn, site))
    url = f"/desk/sites/{site.slug}/articles/a%2F..%2Fb"
    page = await desk.get(url)
    assert page.status_code == 200
    form = {"csrf_token": inputs(page.text)["csrf_token"], "title": "Old"}
    form["url"] = "https://old.example/s1"
    unchanged = await desk.post(url, data={**form, "open": "on"})
    assert "Nothing to change." in unchanged.text
    before = await article_state(conn, site, article)
    closed = await desk.post(url, data=form)  # only the box unticked
    assert closed.status_code == 303
    assert await article_state(conn, site, article) == {**before, "is_open": False, "version": 2}
    retitled = await desk.post(url, data={**form, "title": "New"})
    assert retitled.status_code == 303
    # A title alone is no change for readers: the thread's version stays.
    assert await article_state(conn, site, article) == {
        **before,
        "is_open": False,
        "title": "New",
        "version": 2,
    }
    events = await conn.fetchval(
        "SELECT count(*) FROM site_events WHERE site_id = $1 AND change = 'article'", site.id
    )
    assert events == 2


def inputs(html: str) -> dict[str, str]:
    """The names and values of a page's hidden and number inputs."""
    fields = {}
    for tag in re.findall(r"<input [^>]*>", html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and value and re.search(r'type="(number|hidden)"', tag):
            fields[name.group(1)] = value.group(1)
    return fields


async def test_pages_escape_what_readers_wrote(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    await desk_sign_in(desk, await moderator_token(conn, site))
    name = '<script>alert("name")</script>'
    comment_id = await held(
        desk, conn, site, body="<img src=x onerror=alert(1)>", author={"id": "x", "name": name}
    )
    author_id = await conn.fetchval("SELECT author_id FROM comments WHERE id = $1", comment_id)
    page = await desk.get(f"/desk/sites/{site.slug}/authors/{author_id}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text


async def test_the_desk_is_off_without_a_session_secret(app_client: httpx.AsyncClient) -> None:
    page = await app_client.get("/desk/signin")
    assert page.status_code == 503
    assert "MODERATION_SESSION_SECRET" in page.text
    api = await app_client.post("/desk/api/decisions", json={})
    assert api.status_code == 503
    assert api.json()["error"]["code"] == "desk_not_configured"
    assert (await app_client.get("/healthz")).status_code == 200


# --- in the browser -------------------------------------------------------------------

# Armenian: no toxicity model covers it, so the worker holds it for a person.
ARMENIAN = "Քաղաքապետարանը պետք է ավելի շատ գումար հատկացնի ճանապարհների վերանորոգմանը"


def armenian() -> str:
    # Digits only: a word without letters does not sway language detection.
    return f"{ARMENIAN} {uuid.uuid4().int % 10**9}"


async def post(
    stack: Stack,
    body: str,
    name: str = "Anahit",
    article: str = "desk",
    parent_id: int | None = None,
) -> int:
    payload: dict[str, Any] = {
        "author": {"id": f"reader-{uuid.uuid4().hex[:8]}", "name": name},
        "body": body,
    }
    if parent_id is not None:
        payload["parent_id"] = parent_id
    async with httpx.AsyncClient(base_url=stack.api) as client:
        response = await client.post(
            f"/v1/sites/{stack.site}/articles/{article}/comments",
            json=payload,
            headers={"X-Site-Key": stack.key},
        )
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


async def hold_word(stack: Stack, word: str) -> None:
    """Make `word` a suspect word of the demo site, through the moderation API."""
    url = f"/v1/moderation/sites/{stack.site}/settings"
    headers = {"Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(base_url=stack.api, headers=headers) as client:
        document = (await client.get(url)).json()
        document["suspect_words"] = [*document["suspect_words"], word]
        assert (await client.put(url, json=document)).status_code == 200


async def thread_ids(stack: Stack, article: str) -> set[int]:
    async with httpx.AsyncClient(base_url=stack.api) as client:
        response = await client.get(f"/v1/sites/{stack.site}/articles/{article}/comments")
    assert response.status_code == 200, response.text
    ids: set[int] = set()

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            ids.add(node["id"])
            walk(node.get("replies", []))

    walk(response.json()["threads"])
    return ids


async def test_a_held_comment_appears_live_and_is_approved_with_the_keyboard(
    page: Page, stack: Stack
) -> None:
    await hold_word(stack, "bribe")
    parent = await post(stack, "Fixing the roads first is the right call.", name="Tom")
    await wait_until(lambda: _contains(stack, "desk", parent), seconds=60, what="the parent")
    await open_desk(page, stack, stack.token)

    body = armenian()
    reply = await post(stack, body, parent_id=parent)
    suspect = await post(stack, "Somebody took a bribe for that contract.", name="Gor")
    held_card = card(page, reply)
    await expect(held_card).to_be_visible(timeout=60_000)
    await expect(held_card.locator(".body")).to_have_text(body)
    await expect(held_card.locator(".parent")).to_contain_text("In reply to Tom")
    await expect(held_card.locator(".parent")).to_contain_text("Fixing the roads")
    await expect(held_card.locator(".reasons")).to_contain_text("language hy not covered")
    await expect(held_card.locator(".author-name")).to_have_text("Anahit")
    suspect_card = card(page, suspect)
    await expect(suspect_card).to_be_visible(timeout=60_000)
    await expect(suspect_card.locator(".reasons")).to_contain_text("suspect word")
    toxicity = suspect_card.locator(".score", has_text=re.compile(r"^toxicity"))
    await expect(toxicity.locator(".mark-hold")).to_have_attribute("title", "hold at 0.5")
    await expect(toxicity.locator(".mark-reject")).to_have_attribute("title", "reject at 0.9")
    await expect(page.locator('.count[data-queue="review"]')).not_to_have_text("0")
    await page.screenshot(path=screenshot_path("desk"), full_page=True, animations="disabled")

    await held_card.locator(".body").click()
    await page.keyboard.press("a")
    await expect(held_card).to_have_count(0)
    await wait_until(lambda: _contains(stack, "desk", reply), seconds=10, what="the approved reply")


async def _contains(stack: Stack, article: str, comment_id: int) -> bool:
    return comment_id in await thread_ids(stack, article)


async def test_keys_move_select_and_decide_the_selection_in_bulk(page: Page, stack: Stack) -> None:
    await open_desk(page, stack, stack.token)
    first, second = await post(stack, armenian()), await post(stack, armenian())
    await expect(card(page, first)).to_be_visible(timeout=60_000)
    await expect(card(page, second)).to_be_visible(timeout=60_000)
    # Live cards take their place in the queue's order (riskiest first), not the top.
    ranks = await page.locator("li.card").evaluate_all(
        "cards => cards.map(c => [+c.dataset.risk, +c.dataset.id])"
    )
    assert ranks == sorted(ranks, reverse=True)
    order = [rank[1] for rank in ranks]
    top, below = sorted((first, second), key=order.index)
    steps = order.index(below) - order.index(top)
    await card(page, top).locator(".body").click()
    await page.keyboard.press("x")
    for _ in range(steps):
        await page.keyboard.press("j")
    await expect(card(page, below)).to_have_class(re.compile(r"\bfocused\b"))
    await page.keyboard.press("x")
    await expect(page.locator("#selection")).to_have_text("2 selected")
    for _ in range(steps):
        await page.keyboard.press("k")
    await expect(card(page, top)).to_have_class(re.compile(r"\bfocused\b"))
    # Reject asks for a reason: a digit picks one of the site's, Enter confirms.
    await page.keyboard.press("Shift+R")
    await expect(page.locator("#reject-dialog")).to_be_visible()
    await page.keyboard.press("1")
    await page.keyboard.press("Enter")
    await expect(page.locator("#reject-dialog")).to_be_hidden()
    await expect(card(page, first)).to_have_count(0)
    await expect(card(page, second)).to_have_count(0)
    async with httpx.AsyncClient(base_url=stack.api) as client:
        for comment_id in (first, second):
            response = await client.get(
                f"/v1/moderation/comments/{comment_id}",
                headers={"Authorization": f"Bearer {stack.token}"},
            )
            assert response.json()["status"] == "rejected"
            assert response.json()["history"][-1]["reason"] == "Insult or abuse"


async def test_a_comment_decided_by_someone_else_leaves_with_a_note(
    page: Page, browser: Browser, stack: Stack
) -> None:
    conn = await asyncpg.connect(stack.database_url)
    try:
        site = await site_queries.get_by_slug(conn, stack.site)
        assert site is not None
        _, other_token = await moderators.create(conn, "Other", "moderator", [site["id"]])
    finally:
        await conn.close()
    await open_desk(page, stack, stack.token)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = await context.new_page()
        await open_desk(other, stack, other_token)
        comment_id = await post(stack, armenian())
        await expect(card(page, comment_id)).to_be_visible(timeout=60_000)
        await expect(card(other, comment_id)).to_be_visible(timeout=10_000)
        await card(other, comment_id).locator("button.decide-reject").click()
        await other.locator("#reject-form").get_by_label("Off topic").check()
        await other.fill("#reject-note", "about the weather")
        await other.locator("#reject-form button[type=submit]").click()
        await expect(card(other, comment_id)).to_have_count(0)
    finally:
        await context.close()
    await expect(card(page, comment_id)).to_have_count(0, timeout=10_000)
    await expect(page.locator("li.gone")).to_contain_text(f"#{comment_id} rejected by Other")
    # The reason and the note are in the comment's history on its page.
    await page.goto(f"{stack.desk}sites/{stack.site}/comments/{comment_id}")
    await expect(page.locator(".history-list")).to_contain_text(
        "review → rejected by Other: Off topic: about the weather"
    )


async def test_a_comment_the_same_moderator_decided_elsewhere_leaves_too(
    page: Page, stack: Stack
) -> None:
    await open_desk(page, stack, stack.token)
    here, there = await post(stack, armenian()), await post(stack, armenian())
    await expect(card(page, here)).to_be_visible(timeout=60_000)
    await expect(card(page, there)).to_be_visible(timeout=60_000)
    # Decided in this tab: it simply goes.
    await card(page, here).locator(".body").click()
    await page.keyboard.press("a")
    await expect(card(page, here)).to_have_count(0)
    # Decided by the same moderator elsewhere (another tab, a script): it goes with a note.
    async with httpx.AsyncClient(base_url=stack.api) as client:
        response = await client.post(
            f"/v1/moderation/comments/{there}/decision",
            json={"action": "approve", "expected_status": "review"},
            headers={"Authorization": f"Bearer {stack.token}"},
        )
    assert response.status_code == 200, response.text
    await expect(card(page, there)).to_have_count(0, timeout=10_000)
    await expect(page.locator("li.gone")).to_contain_text(f"#{there} approved by")
    await expect(page.locator("li.gone", has_text=f"#{here} ")).to_have_count(0)


async def test_script_in_a_comment_or_a_name_stays_text_in_the_desk(
    page: Page, stack: Stack
) -> None:
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    name = '<b id="injected" onmouseover="window.__xss=3">Mallory</b>'
    await open_desk(page, stack, stack.token)
    comment_id = await post(stack, f"{armenian()} {payload}", name=name)
    held_card = card(page, comment_id)
    await expect(held_card).to_be_visible(timeout=60_000)
    await expect(held_card.locator(".body")).to_contain_text(payload)
    await expect(held_card.locator(".author-name")).to_have_text(name)
    await held_card.locator(".author-name").hover()
    assert await held_card.locator("img, script, b").count() == 0
    assert await page.locator("#injected").count() == 0
    assert await page.evaluate("window.__xss") is None
    # The author opens beside the queue, the name still text; the full record is a link away.
    await held_card.locator(".author-name").click()
    await expect(page.locator("#author-panel-title")).to_have_text(name)
    assert await page.locator("#author-panel b, #injected").count() == 0
    await page.locator("#author-panel a.author-page").click()
    await expect(page.locator("h1.author-name")).to_have_text(name)
    await expect(page.locator("ol.recent .body").first).to_contain_text(payload)
    assert await page.locator("#injected, main img, main script").count() == 0
    assert await page.evaluate("window.__xss") is None


async def test_question_mark_shows_the_keys(page: Page, stack: Stack) -> None:
    await open_desk(page, stack, stack.token)
    help_overlay = page.locator("#help")
    await expect(help_overlay).to_be_hidden()
    await page.keyboard.press("?")
    await expect(help_overlay).to_be_visible()
    await expect(help_overlay).to_contain_text("Approve")
    # A modal dialog keeps the focus: Tab and Shift+Tab never reach the page behind it.
    for key in ["Tab"] * 4 + ["Shift+Tab"] * 4:
        await page.keyboard.press(key)
        inside = await page.evaluate(
            "document.getElementById('help').contains(document.activeElement)"
        )
        assert inside, key
    await page.keyboard.press("?")
    await expect(help_overlay).to_be_hidden()
    await page.keyboard.press("?")
    await page.keyboard.press("Escape")
    await expect(help_overlay).to_be_hidden()


async def test_the_desk_works_on_a_phone(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    try:
        phone = await context.new_page()
        await open_desk(phone, stack, stack.token)
        comment_id = await post(stack, armenian())
        held_card = card(phone, comment_id)
        await expect(held_card).to_be_visible(timeout=60_000)
        overflow = await phone.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        # Search and order show; the other filters are one tap away.
        article = phone.locator(".filters input[name=article]")
        await expect(article).to_be_hidden()
        await phone.get_by_role("button", name="More filters").tap()
        await expect(article).to_be_visible()
        await phone.get_by_role("button", name="More filters").tap()
        await phone.screenshot(path=screenshot_path("desk-phone"), animations="disabled")
        await held_card.locator("button.decide-approve").tap()
        await expect(held_card).to_have_count(0)
    finally:
        await context.close()


async def test_an_admin_edits_the_site_settings_in_the_desk(page: Page, stack: Stack) -> None:
    await open_desk(page, stack, stack.token)
    await page.click("text=Settings")
    await expect(page.locator("h1")).to_contain_text("Settings")
    await page.screenshot(path=screenshot_path("desk-settings"), full_page=True)
    await page.fill('input[name="hold.threat"]', "0.25")
    await page.fill("#suspect_words", "bribe\nkickback")
    await page.click("text=Save settings")
    await expect(page.locator("p.ok")).to_contain_text("Saved")
    async with httpx.AsyncClient(base_url=stack.api) as client:
        response = await client.get(
            f"/v1/moderation/sites/{stack.site}/settings",
            headers={"Authorization": f"Bearer {stack.token}"},
        )
    settings = response.json()
    assert settings["thresholds"]["threat"]["hold"] == 0.25
    assert settings["suspect_words"] == ["bribe", "kickback"]


async def test_admins_see_webhook_deliveries_and_replay_them(
    desk: httpx.AsyncClient, site: Site, conn: asyncpg.Connection
) -> None:
    settings = Settings(database_url="unused", webhook_allow_private=True)
    created = await webhooks.add(
        conn, site, "http://127.0.0.1:9/hook", ["comment.decided"], settings
    )
    await held(desk, conn, site)  # its decision is the event
    delivery: int = await conn.fetchval(
        "SELECT id FROM webhook_deliveries WHERE webhook_id = $1", created.webhook["id"]
    )
    await webhook_queries.record_attempt(
        conn, delivery, 1, datetime.now(UTC), 12, 500, "<script>boom</script>", "failed", None
    )
    url = f"/desk/sites/{site.slug}/webhooks"
    # Admins only: the page shares the settings page's check (tested above).
    await desk_sign_in(desk, await moderator_token(conn, site, role="admin"))
    page = await desk.get(url)
    assert page.status_code == 200
    assert "http://127.0.0.1:9/hook" in page.text
    assert "500 in 12 ms" in page.text
    assert "&lt;script&gt;boom&lt;/script&gt;" in page.text
    assert "<script>boom" not in page.text
    replay_url = f"{url}/deliveries/{delivery}/replay"
    refused = await desk.post(replay_url, data={"nothing": "here"})
    assert refused.status_code == 403
    replayed = await desk.post(replay_url, data={"csrf_token": await desk_csrf(desk, site)})
    assert replayed.status_code == 303
    again = await conn.fetchrow(
        "SELECT id, state FROM webhook_deliveries WHERE replay_of = $1", delivery
    )
    assert again is not None
    assert again["state"] == "pending"
    assert (
        f"Replay queued as delivery {again['id']}"
        in (await desk.get(replayed.headers["location"])).text
    )
    # Only the replay's own redirect says so: not words put in the address by someone else.
    spoofed = await desk.get(url, params={"replayed": "0. Re-enter your token at evil.example"})
    assert "Replay queued" not in spoofed.text
