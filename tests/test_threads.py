"""The reader thread: only approved comments, nested, paginated, cacheable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from moderation.sites import Site
from tests.factories import Poster, moderator_headers, set_status


def ids(threads: list[dict[str, Any]]) -> list[int]:
    return [t["id"] for t in threads]


async def approved(poster: Poster, conn: asyncpg.Connection, **kwargs: Any) -> int:
    comment_id = await poster.comment(**kwargs)
    await set_status(conn, [comment_id], "approved")
    return comment_id


async def test_only_approved_comments_are_shown(poster: Poster, conn: asyncpg.Connection) -> None:
    shown = await approved(poster, conn, body="visible")
    pending = await poster.comment(body="waiting")
    held = await poster.comment(body="held")
    await set_status(conn, [held], "review")
    rejected = await poster.comment(body="rejected")
    await set_status(conn, [rejected], "rejected")

    body = (await poster.thread()).json()
    assert ids(body["threads"]) == [shown]
    assert body["article"] == {
        "id": "story-1",
        "open": True,
        "approved_count": 1,
        "featured_count": 0,
    }
    assert body["site"] == {"max_length": 5000, "open": True}
    text = (await poster.thread()).text
    for hidden in ("waiting", "held", "rejected"):
        assert hidden not in text
    assert pending not in ids(body["threads"])


async def test_replies_nest_under_their_parents_with_counts(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    root = await approved(poster, conn, body="root")
    reply = await approved(poster, conn, body="reply", parent_id=root)
    nested = await approved(poster, conn, body="nested", parent_id=reply)
    second = await approved(poster, conn, body="second reply", parent_id=root)
    await poster.comment(body="pending reply", parent_id=root)

    [thread] = (await poster.thread()).json()["threads"]
    assert thread["id"] == root
    assert thread["reply_count"] == 3
    assert [r["id"] for r in thread["replies"]] == [reply, second]
    first_reply = thread["replies"][0]
    assert first_reply["parent_id"] == root
    assert first_reply["reply_count"] == 1
    assert [r["id"] for r in first_reply["replies"]] == [nested]
    assert first_reply["replies"][0]["body"] == "nested"
    assert first_reply["replies"][0]["author"] == {"name": "Ann"}


async def test_reply_to_removed_parent_keeps_its_place(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    root = await approved(poster, conn, body="root")
    parent = await approved(poster, conn, body="parent later removed", parent_id=root)
    reply = await approved(poster, conn, body="reply stays", parent_id=parent)
    await set_status(conn, [parent], "rejected", frm="approved")

    response = await poster.thread()
    [thread] = response.json()["threads"]
    [placeholder] = thread["replies"]
    assert placeholder["id"] == parent
    assert placeholder["removed"] is True
    assert placeholder["body"] is None
    assert placeholder["author"] is None
    assert [r["id"] for r in placeholder["replies"]] == [reply]
    assert thread["reply_count"] == 1
    assert "parent later removed" not in response.text


async def test_a_removed_top_level_comment_with_an_approved_reply_stays_as_placeholder(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    root = await approved(poster, conn, body="gone")
    reply = await approved(poster, conn, body="answer", parent_id=root)
    lonely = await approved(poster, conn, body="removed without replies")
    await set_status(conn, [root, lonely], "spam", frm="approved")

    threads = (await poster.thread()).json()["threads"]
    assert ids(threads) == [root]
    assert threads[0]["removed"] is True
    assert ids(threads[0]["replies"]) == [reply]


async def test_newest_first_sorts_threads_but_keeps_replies_oldest_first(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    first = await approved(poster, conn)
    second = await approved(poster, conn)
    early = await approved(poster, conn, parent_id=first)
    late = await approved(poster, conn, parent_id=first)

    threads = (await poster.thread(sort="newest")).json()["threads"]
    assert ids(threads) == [second, first]
    assert ids(threads[1]["replies"]) == [early, late]


async def page_through(poster: Poster, sort: str, limit: int) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": sort, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = (await poster.thread(**params)).json()
        seen += ids(body["threads"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


async def test_pagination_visits_every_thread_once(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    created = [await approved(poster, conn) for _ in range(7)]
    assert await page_through(poster, "oldest", 3) == created
    assert await page_through(poster, "newest", 2) == created[::-1]


async def test_pagination_never_skips_or_repeats_under_concurrent_inserts(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    before = [await approved(poster, conn) for _ in range(30)]
    stop = asyncio.Event()

    async def keep_posting() -> list[int]:
        added = []
        while not stop.is_set():
            added.append(await approved(poster, conn))
            await asyncio.sleep(0)
        return added

    writer = asyncio.create_task(keep_posting())
    try:
        for sort in ("oldest", "newest"):
            seen = await page_through(poster, sort, 4)
            assert len(seen) == len(set(seen)), "a thread was repeated"
            assert set(before) <= set(seen), "a thread that existed throughout was skipped"
            assert seen == sorted(seen, reverse=sort == "newest")
    finally:
        stop.set()
        added = await writer
    assert added, "the writer ran while pages were read"


async def test_etag_gives_304_until_the_thread_changes(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    await approved(poster, conn)
    first = await poster.thread()
    tag = first.headers["ETag"]

    again = await poster.client.get(
        f"/v1/sites/{poster.site.slug}/articles/story-1/comments",
        headers={"If-None-Match": tag},
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == tag
    # If-None-Match compares weakly (a proxy may drop the W/), and `*` is any copy.
    for named in (tag.removeprefix("W/"), f'"other", {tag}', "*"):
        response = await poster.thread(headers={"If-None-Match": named})
        assert response.status_code == 304, named
    assert (await poster.thread(headers={"If-None-Match": '"other"'})).status_code == 200

    # A pending comment changes nothing a reader sees; an approval does.
    pending = await poster.comment()
    assert (
        await poster.client.get(
            f"/v1/sites/{poster.site.slug}/articles/story-1/comments",
            headers={"If-None-Match": tag},
        )
    ).status_code == 304
    await set_status(conn, [pending], "approved")
    changed = await poster.client.get(
        f"/v1/sites/{poster.site.slug}/articles/story-1/comments",
        headers={"If-None-Match": tag},
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] != tag
    assert len(changed.json()["threads"]) == 2


async def test_the_thread_tells_the_sites_longest_comment_and_a_change_of_it(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    await approved(poster, conn)
    articles = ("story-1", "never-commented")
    before = {article: await poster.thread(article=article) for article in articles}
    for response in before.values():
        assert response.json()["site"] == {"max_length": 5000, "open": True}

    url = f"/v1/moderation/sites/{poster.site.slug}/settings"
    headers = await moderator_headers(conn, poster.site, role="admin")
    settings = (await poster.client.get(url, headers=headers)).json()
    changed = await poster.client.put(url, json={**settings, "max_length": 300}, headers=headers)
    assert changed.status_code == 200, changed.text

    # The widget revalidates its copy: a new limit is a new page, not a 304.
    for article, response in before.items():
        again = await poster.thread(
            article=article, headers={"If-None-Match": response.headers["ETag"]}
        )
        assert again.status_code == 200
        assert again.json()["site"] == {"max_length": 300, "open": True}


async def test_a_closed_site_closes_every_article_and_is_a_new_tag(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    await approved(poster, conn)
    articles = ("story-1", "never-commented")
    url = f"/v1/moderation/sites/{poster.site.slug}/settings"
    headers = await moderator_headers(conn, poster.site, role="admin")
    tags = {article: (await poster.thread(article=article)).headers["ETag"] for article in articles}
    for comments_open in (False, True):
        changed = await poster.client.patch(
            url, json={"comments_open": comments_open}, headers=headers
        )
        assert changed.status_code == 200, changed.text
        # Not the page cached under the old tag, nor a 304 to the widget's copy.
        for article, tag in tags.items():
            again = await poster.thread(article=article, headers={"If-None-Match": tag})
            assert again.status_code == 200
            assert again.json()["article"]["open"] is comments_open
            assert again.json()["site"]["open"] is comments_open
            tags[article] = again.headers["ETag"]


async def test_an_article_without_comments_reads_as_empty(poster: Poster) -> None:
    response = await poster.thread(article="quiet-story")
    assert response.status_code == 200
    assert response.json() == {
        "article": {"id": "quiet-story", "open": True, "approved_count": 0, "featured_count": 0},
        "site": {"max_length": 5000, "open": True},
        "threads": [],
        "next_cursor": None,
    }
    assert "ETag" in response.headers


async def test_bad_thread_parameters_are_400(poster: Poster, conn: asyncpg.Connection) -> None:
    await approved(poster, conn)
    await approved(poster, conn)
    page = (await poster.thread(limit=1)).json()
    cases = [
        ({"sort": "random"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": page["next_cursor"], "sort": "newest"}, "cursor"),
    ]
    for params, field in cases:
        response = await poster.thread(**params)
        assert response.status_code == 400, params
        assert response.json()["error"]["field"] == field


async def test_thread_of_an_unknown_site_is_404(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/v1/sites/nope/articles/a/comments")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "site_not_found"


async def test_counts_for_many_articles_in_one_call(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    await approved(poster, conn, article="a")
    await approved(poster, conn, article="a")
    await approved(poster, conn, article="b")
    await poster.comment(article="b")

    response = await poster.client.get(
        f"/v1/sites/{poster.site.slug}/counts",
        params=[("article", "a"), ("article", "b"), ("article", "never")],
    )
    assert response.status_code == 200
    assert response.json() == {"counts": {"a": 2, "b": 1, "never": 0}}


async def test_counts_follow_status_changes_both_ways(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment = await approved(poster, conn, article="c")
    await set_status(conn, [comment], "rejected", frm="approved")
    counts = (await poster.client.get(f"/v1/sites/{poster.site.slug}/counts?article=c")).json()
    assert counts == {"counts": {"c": 0}}


async def test_counts_need_one_to_a_hundred_articles(poster: Poster) -> None:
    url = f"/v1/sites/{poster.site.slug}/counts"
    assert (await poster.client.get(url)).status_code == 400
    many: list[tuple[str, str | int | float | bool | None]] = [
        ("article", str(i)) for i in range(101)
    ]
    assert (await poster.client.get(url, params=many)).status_code == 400


async def test_a_visible_comment_names_its_article_and_no_other_is_found(
    poster: Poster,
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
) -> None:
    shown = await approved(poster, conn, article="story-2")
    pending = await poster.comment()
    rejected, deleted, reported = [await approved(poster, conn) for _ in range(3)]
    await set_status(conn, [rejected], "rejected", "approved")
    await set_status(conn, [deleted], "deleted", "approved")
    await conn.execute("UPDATE comments SET hidden_at = now() WHERE id = $1", reported)
    elsewhere = await approved(Poster(poster.client, await make_site()), conn)
    place = await poster.client.get(f"/v1/sites/{poster.site.slug}/comments/{shown}")
    assert place.status_code == 200
    assert place.json() == {"id": shown, "article": "story-2"}
    for unseen in (pending, rejected, deleted, reported, elsewhere, 2**62):
        response = await poster.client.get(f"/v1/sites/{poster.site.slug}/comments/{unseen}")
        assert response.status_code == 404, unseen


async def test_a_reader_report_is_recorded_once_per_address(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment = await approved(poster, conn)
    url = f"/v1/sites/{poster.site.slug}/comments/{comment}/reports"
    headers = {"X-Site-Key": poster.site.widget_key}

    for _ in range(2):
        response = await poster.client.post(url, json={"reason": "insulting"}, headers=headers)
        assert response.status_code == 202
    rows = await conn.fetch(
        "SELECT reason, client_addr FROM reports WHERE comment_id = $1", comment
    )
    assert [(r["reason"], str(r["client_addr"])) for r in rows] == [("insulting", "203.0.113.7")]


async def test_reports_on_hidden_foreign_or_missing_comments_are_404(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    pending = await poster.comment()
    headers = {"X-Site-Key": poster.site.widget_key}
    for comment in (pending, 2**62):
        response = await poster.client.post(
            f"/v1/sites/{poster.site.slug}/comments/{comment}/reports",
            json={"reason": "spam"},
            headers=headers,
        )
        assert response.status_code == 404


async def test_a_report_needs_a_reason_and_the_key(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    comment = await approved(poster, conn)
    url = f"/v1/sites/{poster.site.slug}/comments/{comment}/reports"
    no_reason = await poster.client.post(
        url, json={"reason": " "}, headers={"X-Site-Key": poster.site.widget_key}
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["field"] == "reason"
    no_key = await poster.client.post(url, json={"reason": "spam"})
    assert no_key.status_code == 401
    bad_id = await poster.client.post(
        f"/v1/sites/{poster.site.slug}/comments/abc/reports",
        json={"reason": "spam"},
        headers={"X-Site-Key": poster.site.widget_key},
    )
    assert bad_id.status_code == 400
