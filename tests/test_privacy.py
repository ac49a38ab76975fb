"""Readers' privacy: exporting and erasing an author's data, and address retention."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from moderation import db, exports, importer, own_comments, privacy, webhooks
from moderation.cli.authors import _operator
from moderation.config import Settings
from moderation.db import comments as comment_queries
from moderation.db import imports as import_queries
from moderation.db import scoring as scoring_queries
from moderation.db import transitions
from moderation.db import webhooks as webhook_queries
from moderation.scoring import batch
from moderation.scoring.dev import KeywordToxicity
from moderation.scoring.language import detect
from moderation.scoring.scorer import Scorer
from moderation.scoring.site_spam import SiteSpamModels
from moderation.scoring.spam import SpamClassifier
from moderation.sites import DEFAULT_THRESHOLDS, IP_RETENTION_DAYS, Site
from tests.factories import (
    Poster,
    article_locked,
    moderator_headers,
    set_status,
    waiting_on_lock,
)

MODERATION = str(Path(sys.executable).with_name("moderation"))
ANN = {"id": "reader-ann", "name": "Ann Example"}
BOB = {"id": "reader-bob", "name": "Bob"}
EVE = {"id": "reader-eve", "name": "Eve"}


async def ann_thread(poster: Poster, conn: asyncpg.Connection) -> tuple[int, int, int]:
    """Ann's approved comment with Bob's reply, and Ann's comment still held."""
    first = await poster.comment(body="My street floods every spring.", author=ANN)
    await set_status(conn, [first], "approved")
    reply = await poster.comment(body="Mine too.", author=BOB, parent_id=first)
    held = await poster.comment(body="Call me at 555-0100.", author=ANN)
    await set_status(conn, [reply], "approved")
    await set_status(conn, [held], "review")
    return first, reply, held


async def author_id(conn: asyncpg.Connection, site: Site, external_id: str) -> int:
    found: int = await conn.fetchval(
        "SELECT id FROM authors WHERE site_id = $1 AND external_id = $2", site.id, external_id
    )
    return found


async def test_an_admin_exports_everything_stored_about_an_author(
    poster: Poster, conn: asyncpg.Connection, site: Site, app_client: httpx.AsyncClient
) -> None:
    first, _, held = await ann_thread(poster, conn)
    admin = await moderator_headers(conn, site, role="admin")
    ann = await author_id(conn, site, ANN["id"])
    ban = {"status": "banned", "until": "2099-01-01T00:00:00Z", "reason": "posted a phone number"}
    banned = await app_client.post(f"/v1/moderation/authors/{ann}/status", json=ban, headers=admin)
    assert banned.status_code == 200, banned.text

    response = await app_client.get(f"/v1/moderation/authors/{ann}/export", headers=admin)

    assert response.status_code == 200
    data = response.json()
    assert data["author"]["external_id"] == "reader-ann"
    assert data["author"]["erased_at"] is None
    assert [(c["id"], c["status"]) for c in data["comments"]] == [
        (first, "approved"),
        (held, "review"),
    ]
    # The app's test client comes from 203.0.113.7; httpx sends its own user agent.
    assert data["comments"][0]["client_addr"] == "203.0.113.7"
    assert data["comments"][0]["user_agent"].startswith("python-httpx/")
    assert data["comments"][1]["body"] == "Call me at 555-0100."
    # Their ban is data about them too: who, until when and why.
    [change] = data["status_changes"]
    assert {k: change[k] for k in ("from_status", "to_status", "until", "reason")} == {
        "from_status": "normal",
        "to_status": "banned",
        "until": "2099-01-01T00:00:00+00:00",
        "reason": "posted a phone number",
    }
    assert change["by"] is not None


async def test_only_admins_of_the_authors_site_may_export_or_erase(
    poster: Poster,
    conn: asyncpg.Connection,
    site: Site,
    make_site: Callable[..., Awaitable[Site]],
    app_client: httpx.AsyncClient,
) -> None:
    await ann_thread(poster, conn)
    ann = await author_id(conn, site, ANN["id"])
    moderator = await moderator_headers(conn, site)
    stranger = await moderator_headers(conn, await make_site(), role="admin")

    for headers, status in ((moderator, 403), (stranger, 404), ({}, 401)):
        exported = await app_client.get(f"/v1/moderation/authors/{ann}/export", headers=headers)
        erased = await app_client.post(f"/v1/moderation/authors/{ann}/erase", headers=headers)
        assert (exported.status_code, erased.status_code) == (status, status)
    assert (await conn.fetchval("SELECT name FROM authors WHERE id = $1", ann)) == ANN["name"]


async def test_erasing_keeps_the_thread_shape_and_records_who_and_when(
    poster: Poster, conn: asyncpg.Connection, site: Site, app_client: httpx.AsyncClient
) -> None:
    first, reply, held = await ann_thread(poster, conn)
    # With a key: what the request asked for is kept with it (a hash of the name and text).
    keyed = {"Idempotency-Key": "ann-3"}
    refused = await poster.comment(body="Another flood story.", author=ANN, headers=keyed)
    await set_status(conn, [refused], "rejected")
    admin = await moderator_headers(conn, site, role="admin", name="Dana")
    ann = await author_id(conn, site, ANN["id"])

    response = await app_client.post(f"/v1/moderation/authors/{ann}/erase", headers=admin)

    assert response.status_code == 200, response.text
    result = response.json()
    # All three emptied; two had been in readers' view or on their way to it.
    assert (result["comments_scrubbed"], result["comments_removed"]) == (3, 2)
    assert result["erased_by"].startswith("moderator Dana (#")
    rows = await conn.fetch(
        "SELECT id, status, author_name, body, client_addr, user_agent, fingerprint, "
        "idempotency_request FROM comments WHERE author_id = $1 ORDER BY id",
        ann,
    )
    assert [tuple(r) for r in rows] == [
        (first, "deleted", "", "", None, None, None, None),
        (held, "deleted", "", "", None, None, None, None),
        (refused, "deleted", "", "", None, None, None, None),
    ]
    # No moderator can publish an emptied comment again, nor the one rejected before.
    for comment_id in (first, refused):
        approve = await app_client.post(
            f"/v1/moderation/comments/{comment_id}/decision",
            json={"action": "approve", "expected_status": "deleted"},
            headers=admin,
        )
        assert approve.status_code == 422
        assert approve.json()["error"]["code"] == "action_not_allowed"
    author = await conn.fetchrow(
        "SELECT name, erased_at, erased_by FROM authors WHERE id = $1", ann
    )
    assert author is not None
    assert author["name"] == ""
    assert author["erased_at"] is not None
    assert author["erased_by"] == result["erased_by"]
    audit = await conn.fetchrow(
        "SELECT actor, moderator_id, reason FROM comment_events "
        "WHERE comment_id = $1 ORDER BY id DESC LIMIT 1",
        first,
    )
    assert audit is not None
    assert audit["actor"] == "moderator"
    assert audit["reason"] == f"author's data erased by {result['erased_by']}"
    # Bob's reply stays, under a placeholder that shows nothing of Ann.
    page = (await poster.thread()).json()
    assert page["article"]["approved_count"] == 1
    [top] = page["threads"]
    assert (top["id"], top["removed"], top["author"], top["body"]) == (first, True, None, None)
    assert [r["id"] for r in top["replies"]] == [reply]
    assert top["replies"][0]["body"] == "Mine too."


async def test_erasing_again_changes_nothing_unless_the_author_came_back(
    poster: Poster, conn: asyncpg.Connection, site: Site, app_client: httpx.AsyncClient
) -> None:
    await ann_thread(poster, conn)
    ann = await author_id(conn, site, ANN["id"])
    url = f"/v1/moderation/authors/{ann}/erase"
    first = (
        await app_client.post(url, headers=await moderator_headers(conn, site, role="admin"))
    ).json()
    assert first["already_erased"] is False

    other_admin = await moderator_headers(conn, site, role="admin", name="Eve")
    again = await app_client.post(url, headers=other_admin)

    assert again.status_code == 200, again.text
    # The first erasure's record stands: nothing was scrubbed or removed a second time.
    assert again.json() == {**first, "comments_scrubbed": 0, "comments_removed": 0,
                            "spam_models_dropped": 0, "already_erased": True}  # fmt: skip
    events = await conn.fetchval(
        "SELECT count(*) FROM comment_events AS e JOIN comments AS c ON c.id = e.comment_id"
        " WHERE c.author_id = $1 AND e.reason LIKE '%erased by moderator Eve%'",
        ann,
    )
    assert events == 0
    # An erased reader who comes back and posts has data again: that is erased.
    await poster.comment(body="Back again.", author=ANN)
    third = (await app_client.post(url, headers=other_admin)).json()
    assert (third["already_erased"], third["comments_scrubbed"]) == (False, 1)
    assert third["erased_by"].startswith("moderator Eve (#")


def test_an_erasure_from_a_user_id_without_a_name_names_the_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As under OpenShift's arbitrary user ids: no passwd entry, no USER or LOGNAME.
    def nameless() -> str:
        raise KeyError(f"getpwuid(): uid not found: {os.getuid()}")

    monkeypatch.setattr(getpass, "getuser", nameless)
    assert _operator() == f"uid {os.getuid()}"


async def test_the_cli_exports_and_erases_by_the_sites_own_author_id(
    poster: Poster, conn: asyncpg.Connection, site: Site, database_url: str
) -> None:
    await ann_thread(poster, conn)
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "MODERATION_LOG_JSON": "false"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [MODERATION, "author", *args, "--site", site.slug, ANN["id"]],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip

    exported = await asyncio.to_thread(cli, "export")
    assert exported.returncode == 0, exported.stderr
    assert [c["body"] for c in json.loads(exported.stdout)["comments"]] == [
        "My street floods every spring.",
        "Call me at 555-0100.",
    ]
    unconfirmed = await asyncio.to_thread(cli, "erase")
    assert unconfirmed.returncode != 0
    assert "Aborted" in unconfirmed.stderr
    erased = await asyncio.to_thread(cli, "erase", "--yes")
    assert erased.returncode == 0, erased.stderr
    assert "2 comments scrubbed, 2 removed from view" in erased.stdout
    after = json.loads((await asyncio.to_thread(cli, "export")).stdout)
    assert after["author"]["erased_by"].startswith("operator ")
    assert {c["body"] for c in after["comments"]} == {""}
    again = await asyncio.to_thread(cli, "erase", "--yes")
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        f"author {ANN['id']} was already erased ({after['author']['erased_at']}, by "
        f"{after['author']['erased_by']}); nothing of theirs is stored since\n"
    )
    unknown = await asyncio.to_thread(
        subprocess.run,
        [MODERATION, "author", "export", "--site", site.slug, "nobody"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert unknown.returncode == 1
    assert "no author 'nobody'" in unknown.stderr


async def age(conn: asyncpg.Connection, comment_ids: list[int], days: int) -> None:
    await conn.execute(
        "UPDATE comments SET created_at = now() - make_interval(days => $2) "
        "WHERE id = ANY($1::bigint[])",
        comment_ids,
        days,
    )
    await conn.execute(
        "UPDATE reports SET created_at = now() - make_interval(days => $2) "
        "WHERE comment_id = ANY($1::bigint[])",
        comment_ids,
        days,
    )


async def test_retention_clears_addresses_and_agents_past_each_sites_days(
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
    app_client: httpx.AsyncClient,
) -> None:
    default_site = await make_site()
    keeps_longer = await make_site(ip_retention_days=60)
    old, recent = (
        await Poster(app_client, default_site).comment(),
        await Poster(app_client, default_site).comment(),
    )
    kept = await Poster(app_client, keeps_longer).comment()
    await set_status(conn, [old, recent, kept], "approved")
    reported = await app_client.post(
        f"/v1/sites/{default_site.slug}/comments/{old}/reports",
        json={"reason": "rude"},
        headers={"X-Site-Key": default_site.widget_key},
    )
    assert reported.status_code == 202
    await age(conn, [old, kept], IP_RETENTION_DAYS + 1)
    await age(conn, [recent], IP_RETENTION_DAYS - 1)

    cleared = await privacy.apply_retention(conn)

    assert cleared >= 2  # other tests' old rows may be cleared too
    rows = await conn.fetch(
        "SELECT id, host(client_addr) AS addr, user_agent IS NOT NULL AS agent FROM comments "
        "WHERE id = ANY($1::bigint[])",
        [old, recent, kept],
    )
    assert {r["id"]: (r["addr"], r["agent"]) for r in rows} == {
        old: (None, False),
        recent: ("203.0.113.7", True),
        kept: ("203.0.113.7", True),
    }
    assert await conn.fetchval("SELECT client_addr FROM reports WHERE comment_id = $1", old) is None
    assert await privacy.apply_retention(conn) == 0


async def test_address_velocity_counts_only_the_window_retention_still_covers(
    conn: asyncpg.Connection,
    make_site: Callable[..., Awaitable[Site]],
    app_client: httpx.AsyncClient,
) -> None:
    site = await make_site(ip_retention_days=1)
    poster = Poster(app_client, site)
    burst = [await poster.comment(author={"id": f"r{i}", "name": "R"}) for i in range(6)]
    fresh = [await poster.comment(author={"id": f"f{i}", "name": "F"}) for i in range(6)]
    # The first burst happened two days ago (scored late, as an import with --score is).
    await age(conn, burst, 2)

    rows = {
        r["id"]: r
        for r in await scoring_queries.batch_context(
            conn, [burst[-1], fresh[-1]], IP_RETENTION_DAYS, DEFAULT_THRESHOLDS["spam"].hold
        )
    }

    assert rows[fresh[-1]]["address_recent"] == 5
    assert rows[burst[-1]]["address_recent"] == 0


async def test_an_erasure_waits_for_a_workers_decision_and_scrubs_its_webhook_event(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    await webhook_queries.create(
        conn, poster.site.id, "https://hooks.example/in", ["comment.decided"], "s" * 32
    )
    comment = await poster.comment(body="My phone is 555-0199, call me", author=ANN)
    ann = await author_id(conn, poster.site, ANN["id"])
    worker, eraser = await db.connect(database_url), await db.connect(database_url)
    try:
        # The worker's decision, its webhook event written, not committed yet.
        decision = worker.transaction()
        await decision.start()
        scored = transitions.Scored({"toxicity": 0.01}, "en", "dev-keywords@1")
        change = transitions.Change(comment, "pending", "approved", "ok", ("ok",), scored=scored)
        assert await transitions.transition(worker, [change])
        erasing = asyncio.create_task(privacy.erase(eraser, ann, "operator"))
        await waiting_on_lock(conn, eraser)
        await decision.commit()
        await erasing
    finally:
        await worker.close()
        await eraser.close()

    payloads = await conn.fetch(
        "SELECT payload::text FROM webhook_events WHERE author_id = $1", ann
    )
    assert payloads
    assert not [p for (p,) in payloads if "555-0199" in p or ANN["name"] in p]


async def test_an_erasure_waits_for_an_edit_and_scrubs_the_text_it_replaced(
    poster: Poster, conn: asyncpg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted = (await poster.post(body="I live at 12 Elm Street", author=ANN)).json()
    ann = await author_id(conn, poster.site, ANN["id"])
    replaced, resume = asyncio.Event(), asyncio.Event()
    replace_body = comment_queries.replace_body

    async def replace_then_wait(*args: Any) -> None:
        await replace_body(*args)
        replaced.set()
        await resume.wait()  # inside the edit's transaction

    monkeypatch.setattr(comment_queries, "replace_body", replace_then_wait)
    editor, eraser = await db.connect(database_url), await db.connect(database_url)
    try:
        editing = asyncio.create_task(
            own_comments.edit(editor, poster.site, posted["id"], posted["secret"], "Edited")
        )
        await replaced.wait()
        erasing = asyncio.create_task(privacy.erase(eraser, ann, "operator"))
        await waiting_on_lock(conn, eraser)
        resume.set()
        await editing
        await erasing
    finally:
        await editor.close()
        await eraser.close()

    assert await conn.fetchval("SELECT body FROM comments WHERE id = $1", posted["id"]) == ""
    assert not await conn.fetch(
        "SELECT previous_body FROM comment_events "
        "WHERE comment_id = $1 AND previous_body IS NOT NULL",
        posted["id"],
    )


async def test_an_erasure_waits_for_an_edit_that_has_yet_to_record_its_webhook_event(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    await webhook_queries.create(
        conn, poster.site.id, "https://hooks.example/in", ["comment.decided"], "s" * 32
    )
    posted = (await poster.post(body="I live at 12 Elm Street", author=ANN)).json()
    await set_status(conn, [posted["id"]], "approved")
    ann = await author_id(conn, poster.site, ANN["id"])
    editor, eraser = await db.connect(database_url), await db.connect(database_url)
    try:
        # The edit holds the comment, stalled at its article before its webhook event.
        async with article_locked(database_url, posted["id"]):
            editing = asyncio.create_task(
                own_comments.edit(editor, poster.site, posted["id"], posted["secret"], "At 14")
            )
            await waiting_on_lock(conn, editor)
            erasing = asyncio.create_task(privacy.erase(eraser, ann, "operator"))
            await waiting_on_lock(conn, eraser)
        await editing
        erased = await erasing
    finally:
        await editor.close()
        await eraser.close()

    assert erased["comments_scrubbed"] == 1
    row = await conn.fetchrow("SELECT status, body FROM comments WHERE id = $1", posted["id"])
    assert row is not None
    assert tuple(row) == ("deleted", "")
    texts = await conn.fetch(
        "SELECT previous_body FROM comment_events WHERE comment_id = $1", posted["id"]
    )
    texts += await conn.fetch("SELECT payload::text FROM webhook_events WHERE author_id = $1", ann)
    assert not [t for (t,) in texts if t and ("Elm" in t or "At 14" in t)]


async def test_an_erasure_waits_for_a_workers_decision_stalled_at_its_article(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    await webhook_queries.create(
        conn, poster.site.id, "https://hooks.example/in", ["comment.decided"], "s" * 32
    )
    comment = await poster.comment(body="My phone is 555-0199, call me", author=ANN)
    ann = await author_id(conn, poster.site, ANN["id"])
    scored = transitions.Scored({"toxicity": 0.01}, "en", "dev-keywords@1")
    change = transitions.Change(comment, "pending", "approved", "ok", ("ok",), scored=scored)
    worker, eraser = await db.connect(database_url), await db.connect(database_url)
    try:
        async with article_locked(database_url, comment):
            deciding = asyncio.create_task(transitions.transition(worker, [change]))
            await waiting_on_lock(conn, worker)
            erasing = asyncio.create_task(privacy.erase(eraser, ann, "operator"))
            await waiting_on_lock(conn, eraser)
        assert await deciding
        await erasing
    finally:
        await worker.close()
        await eraser.close()

    row = await conn.fetchrow("SELECT status, body FROM comments WHERE id = $1", comment)
    assert row is not None
    assert tuple(row) == ("deleted", "")
    history = await conn.fetch(
        "SELECT from_status, to_status FROM comment_events WHERE comment_id = $1 ORDER BY id",
        comment,
    )
    assert [tuple(e) for e in history] == [("pending", "approved"), ("approved", "deleted")]
    payloads = await conn.fetch(
        "SELECT payload::text FROM webhook_events WHERE author_id = $1", ann
    )
    assert len(payloads) == 2
    assert not [p for (p,) in payloads if "555-0199" in p or ANN["name"] in p]


async def test_an_erasure_and_a_decision_spanning_the_same_two_articles_both_apply(
    poster: Poster, conn: asyncpg.Connection, database_url: str
) -> None:
    # Ann's approved comments on b and a (the scrub meets them in that order), Bob's on a
    # and b (a moderator rejects them in that order).
    bob_on_a = await poster.comment(article="a", author=BOB)
    anns = [await poster.comment(article=a, author=ANN) for a in ("b", "a")]
    bobs = [bob_on_a, await poster.comment(article="b", author=BOB)]
    await set_status(conn, anns + bobs, "approved")
    ann = await author_id(conn, poster.site, ANN["id"])
    bulk = [transitions.Change(c, "approved", "rejected", "off topic") for c in bobs]
    moderator, eraser = await db.connect(database_url), await db.connect(database_url)
    try:
        async with article_locked(database_url, bobs[1]):
            erasing = asyncio.create_task(privacy.erase(eraser, ann, "operator"))
            await waiting_on_lock(conn, eraser)
            deciding = asyncio.create_task(transitions.transition(moderator, bulk))
            await waiting_on_lock(conn, moderator)
        assert (await erasing)["comments_removed"] == 2
        assert len(await deciding) == 2
    finally:
        await moderator.close()
        await eraser.close()

    counts = await conn.fetch(
        "SELECT external_id, approved_count FROM articles WHERE site_id = $1", poster.site.id
    )
    assert sorted(tuple(c) for c in counts) == [("a", 0), ("b", 0)]


async def test_an_erasure_leaves_no_reason_quoting_the_author_in_audit_export_or_webhooks(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    settings: Settings,
    app_client: httpx.AsyncClient,
) -> None:
    hook = "https://hooks.example/eve"
    webhook = await webhook_queries.create(
        conn, poster.site.id, hook, ["comment.decided", "author.status_changed"], "s" * 32
    )
    phone = "+44 7700 900123"
    comment = await poster.comment(body=f"Cheap followers, whatsapp {phone}", author=EVE)
    scorer = Scorer({"dev": KeywordToxicity()}, SiteSpamModels(SpamClassifier.seed()), detect)
    assert await batch.score_pending(pool, scorer, settings, [comment]) >= 1
    # A moderator's own reason may quote the reader too.
    status = await conn.fetchval("SELECT status FROM comments WHERE id = $1", comment)
    headers = await moderator_headers(conn, poster.site)
    decided = await app_client.post(
        f"/v1/moderation/comments/{comment}/decision",
        json={"action": "reject", "expected_status": status, "reason": f"sells, posts {phone}"},
        headers=headers,
    )
    assert decided.status_code == 200, decided.text
    eve = await author_id(conn, poster.site, EVE["id"])
    banned = await app_client.post(
        f"/v1/moderation/authors/{eve}/status",
        json={"status": "banned", "reason": f"keeps posting {phone}"},
        headers=headers,
    )
    assert banned.status_code == 200, banned.text
    trail = "SELECT actor, moderator_id, from_status, to_status, created_at, reason"
    audit = f"{trail} FROM comment_events WHERE comment_id = $1 ORDER BY id"
    before = [tuple(r) for r in await conn.fetch(audit, comment)]
    assert [phone in reason for *_, reason in before] == [True, True]  # scoring's, moderator's

    await privacy.erase(conn, eve, "operator")

    after = [tuple(r) for r in await conn.fetch(audit, comment)]
    # Who changed which status to which, and when, stays; no reason quotes Eve.
    assert [row[:-1] for row in after[:2]] == [row[:-1] for row in before]
    assert [reason for *_, reason in after] == [
        "author's data erased",
        "author's data erased",
        "author's data erased by operator",
    ]
    standing = "SELECT to_status, reason FROM author_events WHERE author_id = $1"
    assert [tuple(r) for r in await conn.fetch(standing, eve)] == [
        ("banned", "author's data erased")
    ]
    exported = b"".join([line async for line in exports.site_lines(conn, poster.site)])
    assert phone.encode() not in exported
    # Replaying every delivery of the site's webhook sends nothing of Eve's either.
    assert webhook is not None
    for delivery in await webhook_queries.deliveries(conn, webhook["id"], None, 100):
        await webhook_queries.replay(conn, delivery["id"])
    sent = [d for d in await webhook_queries.claim_due(conn, 1000, 60) if d["url"] == hook]
    assert len(sent) == 8  # scoring's decision, the moderator's, the ban, the erasure's; replayed
    assert not [d for d in sent if phone.encode() in webhooks.body(d)]


async def test_an_erasure_leaves_no_report_reason_quoting_the_author(
    poster: Poster, conn: asyncpg.Connection, app_client: httpx.AsyncClient
) -> None:
    hook = "https://hooks.example/reports"
    webhook = await webhook_queries.create(
        conn, poster.site.id, hook, ["comment.reported"], "s" * 32
    )
    comment = await poster.comment(body="Call me about the flat", author=EVE)
    await set_status(conn, [comment], "approved")
    # Readers' own words in a report may quote the comment, or name its author.
    quoting = "Eve posted her number here before, 07700 900123"
    reported = await app_client.post(
        f"/v1/sites/{poster.site.slug}/comments/{comment}/reports",
        json={"reason": quoting},
        headers={"X-Site-Key": poster.site.widget_key},
    )
    assert reported.status_code == 202, reported.text

    await privacy.erase(conn, await author_id(conn, poster.site, EVE["id"]), "operator")

    reasons = await conn.fetch("SELECT reason FROM reports WHERE comment_id = $1", comment)
    assert [r["reason"] for r in reasons] == ["author's data erased"]
    exported = b"".join([line async for line in exports.site_lines(conn, poster.site)])
    assert b"07700" not in exported
    assert webhook is not None
    for delivery in await webhook_queries.deliveries(conn, webhook["id"], None, 100):
        await webhook_queries.replay(conn, delivery["id"])
    sent = [d for d in await webhook_queries.claim_due(conn, 1000, 60) if d["url"] == hook]
    assert len(sent) == 2  # the report's event, and its replay
    assert not [d for d in sent if b"07700" in webhooks.body(d)]


def archive(path: Path, name: str, body: str) -> Path:
    """An export in the site's own format: two old comments of ANN's, one with BOB's reply."""
    comment = {"type": "comment", "article": "old-story", "status": "approved"}
    lines = [
        {"type": "site", "format": "moderation-export", "version": 2, "slug": "old"},
        {"type": "article", "id": "old-story"},
        {**comment, "key": "old:1", "author": ANN["id"], "author_name": name, "body": body,
         "created_at": "2020-01-01T00:00:00Z"},
        {**comment, "key": "old:2", "author": BOB["id"], "author_name": BOB["name"],
         "body": "Replying to Ann", "parent": "old:1", "created_at": "2020-01-02T00:00:00Z"},
        {**comment, "key": "old:3", "author": ANN["id"], "author_name": name,
         "body": "Unanswered", "created_at": "2020-01-03T00:00:00Z"},
        {"type": "end", "articles": 1, "authors": 0, "comments": 3},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def anns_texts(conn: asyncpg.Connection, ann: int) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT author_name, body, status FROM comments WHERE author_id = $1 ORDER BY id", ann
    )
    return [(r["author_name"], r["body"], r["status"]) for r in rows]


async def test_an_import_after_an_erasure_brings_none_of_the_authors_data_back(
    poster: Poster, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    await poster.comment(body="Native comment", author=ANN)
    ann = await author_id(conn, poster.site, ANN["id"])
    await privacy.erase(conn, ann, "operator")
    path = archive(tmp_path / "old.jsonl", "Ann Realname", "My phone is 555-0123")

    summary = await importer.run(conn, poster.site, "json", path)

    # Emptied and deleted: kept only where a reply needs its place, as a removed comment is.
    assert (summary.by_status, summary.skipped) == (
        {"deleted": 1, "approved": 1},
        {"deleted, without replies": 1},
    )
    assert await anns_texts(conn, ann) == [("", "", "deleted"), ("", "", "deleted")]
    bob = await author_id(conn, poster.site, BOB["id"])
    assert await anns_texts(conn, bob) == [(BOB["name"], "Replying to Ann", "approved")]


async def test_an_erasure_during_an_import_scrubs_what_the_import_adds(
    poster: Poster,
    conn: asyncpg.Connection,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await poster.comment(body="Native comment", author=ANN)
    ann = await author_id(conn, poster.site, ANN["id"])
    path = archive(tmp_path / "old.jsonl", "Ann Realname", "I work at ACME")
    added, resume = asyncio.Event(), asyncio.Event()
    record = import_queries.record

    async def wait_then_record(*args: Any) -> None:
        added.set()
        await resume.wait()  # the import's comments added, its transaction not committed
        await record(*args)

    monkeypatch.setattr(import_queries, "record", wait_then_record)
    importing, eraser = await db.connect(database_url), await db.connect(database_url)
    try:
        running = asyncio.create_task(importer.run(importing, poster.site, "json", path))
        await asyncio.wait_for(added.wait(), 30)
        erasing = asyncio.create_task(privacy.erase(eraser, ann, "operator"))
        await waiting_on_lock(conn, eraser)
        resume.set()
        assert (await running).comments == 3
        await erasing
    finally:
        await importing.close()
        await eraser.close()

    assert await anns_texts(conn, ann) == [("", "", "deleted")] * 3
