"""The desk's queue at work, in headless Chromium against `moderation dev`: a long queue
worked to zero by keyboard alone, filters in the address, every queue's actions, the
author beside the queue, the comment page, and axe-core on every desk page.

Each test gets a site of its own (and a moderator for it), so that counts and queues are
the test's alone; held comments are written straight into its database, as many as a
busy morning brings, rather than waiting for the worker to hold them one by one.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, Route, expect

from moderation import db, moderators
from moderation.db import comments as comment_queries
from moderation.intake import fingerprint
from moderation.sites import create_site
from tests import browser as chromium
from tests.browser import PHONE, Stack, card, open_desk, screenshot_path, serious

browser, page, stack = chromium.browser, chromium.page, chromium.stack


@dataclass
class Desk:
    """A site of the test's own in the running stack, and its moderator."""

    stack: Stack
    conn: asyncpg.Connection
    site_id: int
    slug: str
    key: str
    token: str

    @property
    def queues(self) -> str:
        return f"{self.stack.desk}sites/{self.slug}/queues"

    async def article(self, external_id: str, title: str | None = None) -> int:
        article_id: int = await self.conn.fetchval(
            """
            INSERT INTO articles (site_id, external_id, title, url) VALUES ($1, $2, $3, $4)
            ON CONFLICT (site_id, external_id) DO UPDATE SET title = EXCLUDED.title
            RETURNING id
            """,
            self.site_id,
            external_id,
            title,
            f"https://news.example/{external_id}" if title else None,
        )
        return article_id

    async def comments(
        self,
        n: int,
        status: str = "review",
        article: str = "story",
        body: str = "Held comment number {i}",
        author: str = "reader",
        reasons: tuple[str, ...] = ("toxicity 0.70 ≥ 0.50",),
    ) -> list[int]:
        """`n` comments in `status`, riskier as `i` grows, each with an audit row."""
        article_id = await self.article(article, f"The story called {article}")
        author_id = await self.conn.fetchval(
            """
            INSERT INTO authors (site_id, external_id, name) VALUES ($1, $2, $3)
            ON CONFLICT (site_id, external_id) DO UPDATE SET name = EXCLUDED.name RETURNING id
            """,
            self.site_id,
            author,
            author.title(),
        )
        rows = await self.conn.fetch(
            """
            WITH added AS (
                INSERT INTO comments (site_id, article_id, author_id, author_name, body, status,
                                      risk, scores, reasons, language, decided_at)
                SELECT $1, $2, $3, $4, replace($5, '{i}', i::text), $6, 0.5 + i / 1000.0,
                       jsonb_build_object('toxicity', 0.5 + i / 1000.0), $7, 'en', now()
                FROM generate_series(1, $8) AS i
                RETURNING id, status
            ), audit AS (
                INSERT INTO comment_events (comment_id, actor, from_status, to_status, reason)
                SELECT id, 'system', 'pending', status, 'test: held' FROM added
            )
            SELECT id FROM added ORDER BY id
            """,
            self.site_id,
            article_id,
            author_id,
            author.title(),
            body,
            status,
            list(reasons),
            n,
        )
        return [row["id"] for row in rows]

    async def leave_to_moderator(self, ids: list[int]) -> None:
        """Lease pending comments far ahead: the stack's worker leaves them to the moderator."""
        await self.conn.execute(
            "UPDATE comments SET claimed_until = now() + interval '1 hour' WHERE id = ANY($1)",
            ids,
        )

    async def status_counts(self) -> dict[str, int]:
        rows = await self.conn.fetch(
            "SELECT status, count(*) AS n FROM comments WHERE site_id = $1 GROUP BY status",
            self.site_id,
        )
        return {row["status"]: row["n"] for row in rows}

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.stack.api, headers={"Authorization": f"Bearer {self.token}"}
        )


@pytest.fixture
async def desk(stack: Stack) -> AsyncIterator[Desk]:
    conn = await db.connect(stack.database_url)
    try:
        slug = f"desk-{uuid.uuid4().hex[:8]}"
        site = await create_site(conn, slug, [], name=f"Desk test {slug[-4:]}")
        _, token = await moderators.create(conn, "Mona", "admin", [site.id])
        yield Desk(stack, conn, site.id, slug, site.widget_key, token)
    finally:
        await conn.close()


async def sign_in(page: Page, desk: Desk, path: str = "/review") -> None:
    await open_desk(page, desk.stack, desk.token)
    if path != "/review":
        await page.goto(desk.queues + path)
        await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=15_000)


async def focused_id(page: Page) -> int:
    await expect(page.locator("li.card.focused")).to_have_count(1)
    return int(await page.locator("li.card.focused").get_attribute("data-id") or 0)


async def test_a_150_comment_queue_is_worked_to_zero_by_keyboard_alone(
    page: Page, desk: Desk
) -> None:
    await desk.comments(150)
    await sign_in(page, desk)
    count = page.locator('.count[data-queue="review"]')
    await expect(count).to_have_text("150")
    await expect(page.locator("li.card")).to_have_count(25)
    rejected_with_reason = []
    for n in range(150):
        comment_id = await focused_id(page)
        if n % 10 == 3:
            await page.keyboard.press("r")
            await expect(page.locator("#reject-dialog")).to_be_visible()
            await page.keyboard.press("5")
            await page.keyboard.press("Enter")
            rejected_with_reason.append(comment_id)
        elif n % 15 == 7:
            await page.keyboard.press("s")
        else:
            await page.keyboard.press("a")
        await expect(card(page, comment_id)).to_have_count(0)
        # The next page is fetched before the list runs out: there is always a card to
        # decide while the queue counts comments, and never "nothing waits".
        if n < 149:
            await expect(page.locator("li.card.focused")).to_have_count(1)
            assert await page.locator("#empty").is_hidden()
    await expect(count).to_have_text("0", timeout=15_000)
    await expect(page.locator("#empty")).to_be_visible()
    await expect(page.locator("#empty")).to_have_text(re.compile("Nothing waits here"))
    assert await desk.status_counts() == {"approved": 125, "rejected": 15, "spam": 10}
    reasons = await desk.conn.fetch(
        "SELECT DISTINCT reason FROM comment_events WHERE comment_id = ANY($1::bigint[]) "
        "AND to_status = 'rejected'",
        rejected_with_reason,
    )
    assert [r["reason"] for r in reasons] == ["Off topic"]


async def test_filters_and_search_stay_in_the_address(page: Page, desk: Desk) -> None:
    bridge = await desk.comments(2, article="bridge", body="The bridge costs too much {i}")
    budget = await desk.comments(2, article="budget", body="The budget is fine {i}")
    await desk.comments(1, article="budget", body="Спасибо за статью {i}", author="ivan")
    await sign_in(page, desk)
    await expect(page.locator("li.card")).to_have_count(5)
    first = card(page, bridge[0])
    await expect(first.locator("a.article")).to_have_text("The story called bridge")
    await expect(first.locator("a.article")).to_have_attribute(
        "href", "https://news.example/bridge"
    )

    await page.fill(".filters input[name=q]", "bridge")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"[?&]q=bridge"))
    await expect(page.locator("li.card")).to_have_count(2)
    await page.reload()
    await expect(page.locator(".filters input[name=q]")).to_have_value("bridge")
    await expect(page.locator("li.card")).to_have_count(2)

    # "Moderate this story": one click from any card.
    await page.goto(desk.queues + "/review")
    await card(page, budget[0]).locator("a.story-filter").click()
    await page.wait_for_url(re.compile(r"[?&]article=budget"))
    await expect(page.locator("li.card")).to_have_count(3)
    await page.select_option(".filters select[name=sort]", "oldest")
    await page.fill(".filters input[name=q]", "Спасибо")
    await page.click(".filters button[type=submit]")
    await page.wait_for_url(re.compile(r"sort=oldest"))
    await expect(page.locator("li.card")).to_have_count(1)
    await expect(page.locator("li.card .body")).to_have_attribute("dir", "auto")
    await page.fill(".filters input[name=q]", "nothing-like-this")
    await page.click(".filters button[type=submit]")
    await expect(page.locator("#empty")).to_have_text(re.compile("matches these filters"))
    await page.click("a.clear")
    await expect(page.locator("li.card")).to_have_count(5)


async def test_the_reported_queue_keeps_a_comment_and_dismisses_its_reports(
    page: Page, desk: Desk
) -> None:
    kept, removed = await desk.comments(2, status="approved", reasons=())
    for comment_id in (kept, removed):
        await desk.conn.execute(
            "INSERT INTO reports (comment_id, reason, client_addr) VALUES ($1, 'rude', '10.0.0.1')",
            comment_id,
        )
    await sign_in(page, desk, "/reported")
    kept_card = card(page, kept)
    await expect(kept_card.get_by_role("button", name="Keep, dismiss reports")).to_be_visible()
    await expect(kept_card.get_by_role("button", name=re.compile("^Reject"))).to_be_visible()
    await expect(kept_card.get_by_role("button", name=re.compile("^Spam"))).to_be_visible()
    await kept_card.locator(".body").click()
    await page.keyboard.press("a")
    await expect(kept_card).to_have_count(0)
    await card(page, removed).get_by_role("button", name=re.compile("^Spam")).click()
    await expect(card(page, removed)).to_have_count(0)
    await expect(page.locator('.count[data-queue="reported"]')).to_have_text("0")
    open_reports = await desk.conn.fetchval(
        "SELECT count(*) FROM reports WHERE comment_id = $1 AND dismissed_at IS NULL", kept
    )
    assert open_reports == 0
    assert await desk.status_counts() == {"approved": 1, "spam": 1}


async def test_a_card_whose_text_changed_is_shown_again_rather_than_decided(
    page: Page, desk: Desk
) -> None:
    old = "The new bridge looks great 1"
    [comment] = await desk.comments(1, status="pending", body=old, reasons=())
    await desk.leave_to_moderator([comment])
    await sign_in(page, desk)
    # No live feed on this page: the decision itself has to find the edit.
    await page.route("**/sites/*/events", lambda route: route.abort())
    await page.goto(desk.queues + "/pending")
    await expect(card(page, comment).locator(".body")).to_have_text(old)
    # Its author rewrites it (the edit's own query; the lease would refuse the route).
    new = "Everyone on the council is scum"
    await comment_queries.replace_body(desk.conn, comment, new, fingerprint(new), old, "pending")
    await card(page, comment).locator(".body").click()
    await page.keyboard.press("a")
    await expect(page.locator("li.gone")).to_have_text(
        f"#{comment} changed since it was shown: here it is again"
    )
    await expect(card(page, comment).locator(".body")).to_have_text(new)
    assert await desk.status_counts() == {"pending": 1}
    await card(page, comment).locator(".body").click()
    await page.keyboard.press("r")
    await page.keyboard.press("Enter")
    await expect(card(page, comment)).to_have_count(0)
    assert await desk.status_counts() == {"rejected": 1}


@pytest.mark.parametrize("queue", ["reported", "auto"])
async def test_a_card_someone_else_kept_meanwhile_leaves_rather_than_coming_back(
    page: Page, desk: Desk, queue: str
) -> None:
    ids = await desk.comments(3, status="approved", reasons=())
    for comment_id in ids:
        await desk.conn.execute(
            "INSERT INTO reports (comment_id, reason, client_addr) VALUES ($1, 'rude', '10.0.0.1')",
            comment_id,
        )
    # In order: a live card lands at its place (a random sample takes none in).
    await sign_in(page, desk, f"/{queue}?sort=oldest")
    await expect(page.locator("li.card")).to_have_count(3)
    held: asyncio.Future[Route] = asyncio.get_running_loop().create_future()
    await page.route("**/desk/api/decisions", lambda route: held.set_result(route))
    await card(page, ids[0]).locator(".body").click()
    await page.keyboard.press("a")
    decision = await held
    # Another moderator keeps it (approved it stays) while ours is on its way, and the
    # feed tells this desk first.
    _, other = await moderators.create(desk.conn, "Bea", "moderator", [desk.site_id])
    async with httpx.AsyncClient(
        base_url=desk.stack.api, headers={"Authorization": f"Bearer {other}"}
    ) as client:
        kept = await client.post(
            f"/v1/moderation/comments/{ids[0]}/decision",
            json={"action": "approve", "expected_status": "approved"},
        )
    assert kept.status_code == 200, kept.text
    await expect(page.locator(f'.count[data-queue="{queue}"]')).to_have_text("2")
    await decision.continue_()
    # The conflict keeps the status, but the comment has left the queue: it stays gone.
    await expect(page.locator("li.gone")).to_have_text(
        f"#{ids[0]} was already approved by someone else"
    )
    await expect(card(page, ids[0])).to_have_count(0)
    await expect(page.locator("li.card")).to_have_count(2)
    assert await desk.status_counts() == {"approved": 3}


async def test_an_authors_edit_replaces_the_card_as_the_moderator_reads_it(
    page: Page, desk: Desk
) -> None:
    old = "The new bridge looks great 1"
    [comment] = await desk.comments(1, status="pending", body=old, reasons=())
    [other] = await desk.comments(1, status="pending", body="The old bridge was better 1")
    await desk.leave_to_moderator([comment, other])
    await sign_in(page, desk, "/pending")
    await card(page, comment).locator(".body").click()
    await page.keyboard.press("x")
    await expect(card(page, comment)).to_have_class(re.compile(r"\bselected\b"))
    await expect(card(page, comment)).to_have_class(re.compile(r"\bfocused\b"))

    new = "Everyone on the council is scum"
    await comment_queries.replace_body(desk.conn, comment, new, fingerprint(new), old, "pending")
    # Nobody pressed anything: the feed brought the edit, and the card stays where it was,
    # focused and selected.
    await expect(card(page, comment).locator(".body")).to_have_text(new)
    await expect(page.locator("#notes")).to_contain_text(
        f"#{comment} was edited by its author: the card shows the new text"
    )
    await expect(card(page, comment)).to_have_class(re.compile(r"\bfocused\b"))
    await expect(card(page, comment)).to_have_class(re.compile(r"\bselected\b"))
    await expect(page.locator("li.card.focused")).to_have_count(1)
    # The next key decides the card the moderator was reading, not its neighbour.
    await page.keyboard.press("r")
    await page.keyboard.press("Enter")
    await expect(card(page, comment)).to_have_count(0)
    assert await desk.status_counts() == {"rejected": 1, "pending": 1}
    await expect(card(page, other)).to_be_visible()


async def test_the_auto_approved_sample_is_spot_checked(page: Page, desk: Desk) -> None:
    await desk.comments(30, status="approved", reasons=("no rule held it",))
    await sign_in(page, desk, "/auto")
    await expect(page.locator('.count[data-queue="auto"]')).to_have_text("30")
    await expect(page.locator("li.card")).to_have_count(25)
    first = await focused_id(page)
    await expect(
        card(page, first).get_by_role("button", name=re.compile("^Looks right"))
    ).to_be_visible()
    await page.keyboard.press("a")
    await expect(card(page, first)).to_have_count(0)
    second = await focused_id(page)
    await page.keyboard.press("r")
    await page.keyboard.press("Enter")
    await expect(card(page, second)).to_have_count(0)
    await expect(page.locator('.count[data-queue="auto"]')).to_have_text("28")
    await page.click("#resample")
    await expect(page.locator("li.card")).to_have_count(25)
    shown = await page.locator("li.card").evaluate_all("cs => cs.map(c => +c.dataset.id)")
    assert first not in shown
    assert second not in shown


async def test_the_author_opens_beside_the_queue_with_notes(page: Page, desk: Desk) -> None:
    ids = await desk.comments(6, author="stella")
    await sign_in(page, desk)
    # Keys act on the cards shown: wait for them, or a key may land before the first card.
    await expect(page.locator("li.card")).to_have_count(6)
    await expect(card(page, ids[-1])).to_have_class(re.compile(r"\bfocused\b"))
    await page.keyboard.press("j")
    await page.keyboard.press("j")
    place = await focused_id(page)
    await page.keyboard.press("u")
    panel = page.locator("#author-panel")
    await expect(panel).to_be_visible()
    await expect(page.locator("#author-panel-title")).to_have_text("Stella")
    await expect(panel).to_contain_text("6 held")
    await page.fill("#note-text", "Asked to keep it civil, 2 May")
    await page.click("#note-form button[type=submit]")
    await expect(panel.locator(".author-notes")).to_contain_text("Asked to keep it civil, 2 May")
    await expect(panel.locator(".author-notes")).to_contain_text("Mona")
    await page.screenshot(path=screenshot_path("desk-author-panel"), animations="disabled")
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    # The place in the queue is where it was.
    assert await focused_id(page) == place
    assert place == ids[-3]
    async with desk.api() as client:
        author = await desk.conn.fetchval("SELECT author_id FROM comments WHERE id = $1", place)
        record = (await client.get(f"/v1/moderation/authors/{author}")).json()
    assert [n["body"] for n in record["notes"]] == ["Asked to keep it civil, 2 May"]


async def test_the_comment_page_shows_its_thread_and_whole_history(page: Page, desk: Desk) -> None:
    [root] = await desk.comments(1, status="approved", body="Root comment {i}", reasons=())
    [reply] = await desk.comments(1, body="Reply that was held {i}", author="aram")
    await desk.conn.execute(
        "UPDATE comments SET parent_id = $1, root_id = $1 WHERE id = $2", root, reply
    )
    await sign_in(page, desk)
    await card(page, reply).locator("a.thread-link").click()
    await expect(page.locator("h1")).to_have_text(f"Comment #{reply}")
    thread = page.locator("ol.thread > li")
    await expect(thread).to_have_count(2)
    await expect(page.locator("li.thread-item.current")).to_contain_text("Reply that was held")
    await page.select_option("#reason_choice", "Personal information")
    await page.fill("#reason_note", "phone number")
    await page.click("button.decide-reject")
    await expect(page.locator("p.ok")).to_have_text("Done: rejected.")
    history = page.locator(".history-list")
    await expect(history).to_contain_text(
        "review → rejected by Mona: Personal information: phone number"
    )
    # Featuring, from the root's page.
    await page.locator(f'a[href$="/comments/{root}"]').click()
    await page.click("button.feature")
    await expect(page.locator("p.ok")).to_have_text("Done: featured.")
    await expect(page.locator(".history-list")).to_contain_text("featured by Mona")
    await page.screenshot(path=screenshot_path("desk-comment"), full_page=True)
    async with httpx.AsyncClient(base_url=desk.stack.api) as client:
        featured = await client.get(f"/v1/sites/{desk.slug}/articles/story/featured")
    assert [c["id"] for c in featured.json()["comments"]] == [root]
    # The story itself: retitled and closed from its page, as the reader thread then shows.
    await page.get_by_role("link", name="open, close or retitle it").click()
    await page.fill("#title", "The bridge tolls")
    await page.uncheck("input[name=open]")
    await page.click("button.primary")
    await expect(page.locator("p.ok")).to_have_text("Story changed.")
    await expect(page.locator("h1")).to_have_text("The bridge tolls")
    async with httpx.AsyncClient(base_url=desk.stack.api) as client:
        story = await client.get(f"/v1/sites/{desk.slug}/articles/story/comments")
    assert story.json()["article"]["open"] is False


# --- accessibility ----------------------------------------------------------------------


@pytest.mark.parametrize("device", ["desktop", "phone"])
async def test_every_desk_page_passes_axe(browser: Browser, desk: Desk, device: str) -> None:
    held = await desk.comments(3, body="Կամուրջը շատ թանկ է {i}")
    [reported] = await desk.comments(1, status="approved", reasons=())
    await desk.conn.execute(
        "INSERT INTO reports (comment_id, reason, client_addr) VALUES ($1, 'rude', '10.0.0.2')",
        reported,
    )
    author = await desk.conn.fetchval("SELECT author_id FROM comments WHERE id = $1", held[0])
    options: dict[str, Any] = (
        PHONE if device == "phone" else {"viewport": {"width": 1280, "height": 900}}
    )
    context = await browser.new_context(**options)
    try:
        tab = await context.new_page()
        await tab.goto(desk.stack.desk + "signin")
        problems = {"signin": await serious(tab)}
        await sign_in(tab, desk)
        for queue in ("review", "reported", "auto", "pending", "spam", "rejected", "approved"):
            await tab.goto(f"{desk.queues}/{queue}")
            await expect(tab.locator("#loading")).to_be_hidden()
            await expect(tab.locator("h1")).to_have_count(1)
            problems[queue] = await serious(tab)
        await tab.goto(f"{desk.queues}/review")
        await expect(card(tab, held[0])).to_be_visible()
        await tab.keyboard.press("?")
        problems["keys"] = await serious(tab)
        await tab.keyboard.press("Escape")
        await card(tab, held[0]).locator("a.author-name").click()
        await expect(tab.locator("#author-panel")).to_be_visible()
        problems["author panel"] = await serious(tab)
        await tab.keyboard.press("Escape")
        await card(tab, held[0]).locator("button.decide-reject").click()
        problems["reject dialog"] = await serious(tab)
        await tab.goto(f"{desk.stack.desk}sites/{desk.slug}/comments/{held[0]}")
        problems["comment"] = await serious(tab)
        await tab.get_by_role("link", name="open, close or retitle it").click()
        await expect(tab.locator("#title")).to_be_visible()
        problems["article"] = await serious(tab)
        await tab.goto(f"{desk.stack.desk}sites/{desk.slug}/authors/{author}")
        problems["author"] = await serious(tab)
        await tab.goto(f"{desk.stack.desk}sites/{desk.slug}/settings")
        problems["settings"] = await serious(tab)
        await tab.goto(f"{desk.stack.desk}sites/no-such-site/queues/review")
        problems["error"] = await serious(tab)
    finally:
        await context.close()
    assert {name: found for name, found in problems.items() if found} == {}
