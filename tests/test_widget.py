"""The reader widget: served small and cacheable, and driven in headless Chromium against
`moderation dev` (the API, the demo page on its own origin, a real scoring worker).

Pages other than the demo article come from a small server of the test's own, on an
origin the demo site is told to allow (or, for one test, on one it does not), so every
request the widget makes crosses origins to the real API and CORS is in play.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from playwright.async_api import Browser, Locator, Page, Request, Route, expect

from moderation import db
from moderation.sites import sign_readers
from moderation.web.demo import ARTICLE
from moderation.web.widget import WIDGET, accepts_gzip
from tests import browser as chromium
from tests.browser import PHONE, Stack, screenshot_path, serious
from tests.workers import wait_until

# The shared browser fixtures, bound here so that pytest finds them for this module.
browser, page, stack = chromium.browser, chromium.page, chromium.stack

HOST = "moderation-comments"  # the element the widget inserts after its script tag
HOTPINK = "rgb(255, 105, 180)"
PURPLE = "rgb(128, 0, 128)"
OFFLINE = "Could not reach the comment service"
XSS_BODIES = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "[click](javascript:window.__pwned=1)",
    "javascript:window.__pwned=1",
]
XSS_NAME = '<b onmouseover="window.__pwned=1">Mallory</b>'


@pytest.fixture(autouse=True, scope="module")
def patient_assertions() -> Iterator[None]:
    """Two shared cores run the API, the worker and Chromium here: give each assertion
    more than Playwright's 5 s default before it fails, and put the default back after."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=None)


def plural(n: int) -> str:
    return f"{n} comment{'' if n == 1 else 's'}"


@dataclass
class Demo:
    """The running stack, and its demo moderator's view of it through the moderation API."""

    stack: Stack
    moderator: httpx.AsyncClient
    pages: _Pages

    @property
    def origin(self) -> str:
        """The demo page's origin."""
        parts = urlsplit(self.stack.demo_page)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def pages_origin(self) -> str:
        return f"http://127.0.0.1:{self.pages.port}"

    async def post(self, article: str, body: str, parent_id: int | None = None) -> int:
        payload: dict[str, Any] = {"author": {"id": "api-poster", "name": "Ann"}, "body": body}
        if parent_id is not None:
            payload["parent_id"] = parent_id
        response = await self.moderator.post(
            f"/v1/sites/{self.stack.site}/articles/{article}/comments",
            json=payload,
            headers={"X-Site-Key": self.stack.key},
        )
        assert response.status_code == 202, response.text
        return int(response.json()["id"])

    async def status(self, comment_id: int) -> str:
        response = await self.moderator.get(f"/v1/moderation/comments/{comment_id}")
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    async def approve(self, *ids: int) -> None:
        """Wait for the worker's decisions; approve whatever it did not approve itself."""
        for comment_id in ids:

            async def decided(comment_id: int = comment_id) -> bool:
                return await self.status(comment_id) != "pending"

            # The worker may still be starting on a busy machine: its first decision waits.
            await wait_until(decided, 90, f"a decision on {comment_id}", [self.stack.process])
            status = await self.status(comment_id)
            if status != "approved":
                response = await self.moderator.post(
                    f"/v1/moderation/comments/{comment_id}/decision",
                    json={"action": "approve", "expected_status": status},
                )
                assert response.status_code == 200, response.text

    async def approved(self, article: str, *bodies: str) -> list[int]:
        ids = [await self.post(article, body) for body in bodies]
        await self.approve(*ids)
        return ids

    async def stored(self) -> int:
        """Comments of the demo site in every queue's status (deleted ones aside)."""
        response = await self.moderator.get("/v1/moderation/queues", params={"site": "demo"})
        assert response.status_code == 200, response.text
        counts = response.json()["counts"]
        return sum(counts[s] for s in ("pending", "review", "approved", "rejected", "spam"))

    async def policy(self, **changes: Any) -> dict[str, Any]:
        """Change the demo site's settings; returns them as they were."""
        url = f"/v1/moderation/sites/{self.stack.site}/settings"
        before = (await self.moderator.get(url)).json()
        if changes:
            response = await self.moderator.put(url, json={**before, **changes})
            assert response.status_code == 200, response.text
        return dict(before)


class _Pages(ThreadingHTTPServer):
    """Serves the HTML registered for a path: pages of a news site on an origin of its own.

    A real server rather than Playwright's route fulfilment: Chromium treats a fulfilled
    page as public, and its local-network protection would then refuse the API on loopback.
    """

    daemon_threads = True

    def __init__(self) -> None:
        self.html: dict[str, bytes] = {}
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.html.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@pytest.fixture(scope="module")
async def demo(stack: Stack) -> AsyncIterator[Demo]:
    pages = _Pages()
    thread = threading.Thread(target=pages.serve_forever, daemon=True)
    thread.start()
    headers = {"Authorization": f"Bearer {stack.token}"}
    try:
        async with httpx.AsyncClient(base_url=stack.api, headers=headers, timeout=10) as client:
            found = Demo(stack, client, pages)
            before = await found.policy()
            # The test pages' origin joins the demo page's. The tests post many comments from
            # one address within a minute; the rate limit has a test of its own.
            await found.policy(
                allowed_origins=[*before["allowed_origins"], found.pages_origin],
                rate_per_author=0,
                rate_per_address=0,
            )
            yield found
    finally:
        pages.shutdown()
        pages.server_close()
        thread.join()


def widget(page: Page) -> Locator:
    return page.locator(HOST)


def serve(demo: Demo, path: str, content: str, foreign: bool = False) -> str:
    """Serves a news page with `content` in its comments section; returns its URL, on an
    origin the demo site allows unless `foreign` (same server, another host name)."""
    demo.pages.html[path] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A news page</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="{demo.origin}/demo/gazette.css"></head>'
        '<body><main class="story"><h1>A news page</h1><section class="comments"><h2>Comments</h2>'
        f"{content}</section></main></body></html>"
    ).encode()
    origin = f"http://localhost:{demo.pages.port}" if foreign else demo.pages_origin
    return origin + path


def data_attributes(**values: str) -> str:
    """`data-*` attributes; a Python name's underscores become the attribute's dashes."""
    return " ".join(f'data-{k.replace("_", "-")}="{html.escape(v)}"' for k, v in values.items())


async def open_widget(
    page: Page,
    demo: Demo,
    article: str,
    foreign: bool = False,
    **attributes: str,
) -> None:
    """A page embedding the widget for `article` with its script tag."""
    tag = data_attributes(site=demo.stack.site, article=article, key=demo.stack.key, **attributes)
    script = f'<script src="{demo.stack.api}/widget.js" {tag} async></script>'
    await page.goto(serve(demo, f"/test/{article}", script, foreign))
    await expect(widget(page).locator(".count")).to_be_visible()


def is_post(request: Request) -> bool:
    return request.method == "POST" and urlsplit(request.url).path.endswith("/comments")


async def post_through_widget(
    page: Page,
    body: str,
    name: str = "Ann Reader",
    scope: Locator | None = None,
    button: str = "Post comment",
) -> int:
    form = scope or widget(page).locator(".post-form")
    await form.get_by_label("Name").fill(name)
    await form.locator("textarea").fill(body)
    async with page.expect_response(lambda r: is_post(r.request)) as answer:
        await form.get_by_role("button", name=button).click()
    response = await answer.value
    assert response.status == 202, await response.text()
    return int((await response.json())["id"])


def comment(page: Page, comment_id: int) -> Locator:
    return widget(page).locator(f'article[data-id="{comment_id}"]')


def new_article(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- served script --------------------------------------------------------------------


async def test_widget_script_is_small_cacheable_and_loadable_from_any_site(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    # Small enough for every article page, served minified; the README states the size.
    assert len(response.content) < 0.8 * WIDGET.stat().st_size
    assert len(response.content) < 30_000
    assert len(gzip.compress(response.content)) < 10_000

    again = await app_client.get("/widget.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_widget_script_is_sent_gzipped_to_browsers_that_take_it(
    app_client: httpx.AsyncClient,
) -> None:
    plain = await app_client.get("/widget.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    async with app_client.stream(
        "GET", "/widget.js", headers={"Accept-Encoding": "gzip, deflate, br"}
    ) as packed:
        raw = b"".join([chunk async for chunk in packed.aiter_raw()])
    assert packed.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in packed.headers["vary"]
    assert gzip.decompress(raw) == plain.content
    assert len(raw) < len(plain.content) / 2
    assert packed.headers["etag"] != plain.headers["etag"]
    again = await app_client.get(
        "/widget.js",
        headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]},
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", True),
        ("GZIP", True),
        ("gzip;q=0, identity", False),
        ("*;q=0", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_gzip_is_sent_only_where_accept_encoding_takes_it(header: str, takes: bool) -> None:
    assert accepts_gzip(header) is takes


def test_widget_never_turns_strings_into_markup_or_code() -> None:
    source = WIDGET.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink
    assert source.lstrip().startswith("/*")
    assert "'use strict';" in source


# --- in the browser -------------------------------------------------------------------


async def test_a_reader_posts_a_comment_and_sees_it_once_the_worker_approves_it(
    page: Page,
    demo: Demo,
) -> None:
    thread = await demo.moderator.get(
        f"/v1/sites/{demo.stack.site}/articles/{ARTICLE}/comments", params={"limit": 1}
    )
    before = thread.json()["article"]["approved_count"]
    thread_requests: list[Request] = []
    page.on("request", lambda r: thread_requests.append(r) if r.method == "GET" else None)
    await page.goto(demo.stack.demo_page)
    await expect(widget(page).locator(".count")).to_have_text(plural(before))

    text = "Good to see the library funded. The bus route should stay too."
    comment_id = await post_through_widget(page, text)
    mine = comment(page, comment_id)
    await expect(mine).to_contain_text("Awaiting moderation")
    await expect(mine).to_contain_text(text)
    await expect(widget(page).locator(".post-form textarea")).to_have_value("")

    # The real worker approves it; the widget's own refresh shows it without a reload.
    await expect(mine.locator(".badge")).to_have_count(0, timeout=60_000)
    await expect(mine.locator(".author")).to_have_text("Ann Reader")
    await expect(widget(page).locator(".count")).to_have_text(plural(before + 1))
    assert await demo.status(comment_id) == "approved"
    # The refreshes revalidated the thread with its ETag rather than fetching it whole.
    sent = [await r.all_headers() for r in thread_requests if "/comments?" in r.url]
    assert any("if-none-match" in headers for headers in sent[1:]), sent

    await page.reload()
    await expect(mine.locator(".body")).to_have_text(text)
    await expect(mine.locator(".badge")).to_have_count(0)
    # The name is remembered for the next comment.
    await expect(widget(page).locator(".post-form").get_by_label("Name")).to_have_value(
        "Ann Reader"
    )
    await page.screenshot(path=screenshot_path("demo-page"), full_page=True)

    await page.set_viewport_size({"width": 375, "height": 812})
    await expect(mine).to_be_visible()
    # Readable at phone width: nothing pushes the page sideways.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await page.screenshot(path=screenshot_path("demo-page-phone"), full_page=True)


async def test_own_comment_stays_awaiting_moderation_across_a_reload_until_approved(
    page: Page,
    demo: Demo,
) -> None:
    await demo.policy(premod="all")
    try:
        article = new_article("held")
        await open_widget(page, demo, article, refresh="0")
        comment_id = await post_through_widget(page, "A careful point about the budget.")
        await wait_until(
            lambda: _is(demo, comment_id, "review"), 30, "the hold", [demo.stack.process]
        )
        await page.reload()
        await expect(comment(page, comment_id)).to_contain_text("Awaiting moderation")
        await expect(widget(page).locator(".count")).to_have_text(plural(0))

        await demo.approve(comment_id)
        await page.reload()
        await expect(comment(page, comment_id).locator(".badge")).to_have_count(0)
        await expect(widget(page).locator(".count")).to_have_text(plural(1))
    finally:
        await demo.policy(premod="off")


async def _is(demo: Demo, comment_id: int, status: str) -> bool:
    return await demo.status(comment_id) == status


async def test_markup_in_comments_and_names_renders_as_inert_text(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("xss")
    await open_widget(page, demo, article, refresh="0")
    ids = [await post_through_widget(page, body, name=XSS_NAME) for body in XSS_BODIES]
    await demo.approve(*ids)

    await page.reload()
    for comment_id, body in zip(ids, XSS_BODIES, strict=True):
        await expect(comment(page, comment_id).locator(".body")).to_have_text(body)
        await expect(comment(page, comment_id).locator(".author")).to_have_text(XSS_NAME)
    await comment(page, ids[0]).locator(".author").hover()
    found = await page.evaluate(
        """host => {
            const root = document.querySelector(host).shadowRoot;
            const live = root.querySelectorAll('img, script, iframe, b, a:not(.permalink), '
                + '[onerror], [onmouseover], [href]:not(.permalink)');
            // The widget's own links point at a comment of this page, and nowhere else.
            const links = [...root.querySelectorAll('a.permalink')]
                .filter(a => !/^#comment-[0-9]+$/.test(a.getAttribute('href')));
            return {live: live.length + links.length, pwned: typeof window.__pwned};
        }""",
        HOST,
    )
    assert found == {"live": 0, "pwned": "undefined"}


async def test_a_page_on_a_foreign_origin_can_neither_read_nor_post(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("foreign")
    await open_widget(page, demo, article, foreign=True)
    # Reading: the API answers without CORS headers, so the browser withholds the thread.
    await expect(widget(page).locator(".status")).to_contain_text(OFFLINE)
    before = await demo.stored()

    form = widget(page).locator(".post-form")
    await form.get_by_label("Name").fill("Eve")
    await form.locator("textarea").fill("Posted from a site that is not allowed.")
    await form.get_by_role("button", name="Post comment").click()
    await expect(form.locator(".msg")).to_contain_text(OFFLINE)
    await expect(form.locator(".msg")).to_have_class("msg error")

    assert await demo.stored() == before
    # The same request from an allowed origin goes through: the origin made the difference.
    allowed = await demo.moderator.options(
        f"/v1/sites/{demo.stack.site}/articles/{article}/comments",
        headers={"Origin": demo.origin, "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 204


HOST_STYLES = """() => {
    const props = ['font-family', 'font-size', 'color', 'background-color', 'border-top-style',
                   'line-height', 'text-transform', 'letter-spacing', 'margin-top'];
    const out = {};
    for (const selector of ['body', '.subscribe', '.story p', '#comments-title', '.comments']) {
        const style = getComputedStyle(document.querySelector(selector));
        out[selector] = props.map(p => style.getPropertyValue(p));
    }
    return out;
}"""

WIDGET_STYLES = """host => {
    const root = document.querySelector(host).shadowRoot;
    const read = (selector, props) => {
        const style = getComputedStyle(root.querySelector(selector));
        return Object.fromEntries(props.map(p => [p, style.getPropertyValue(p)]));
    };
    return {
        button: read('.post-form button[type=submit]',
                     ['background-color', 'border-top-style', 'font-size', 'font-family']),
        count: read('.count', ['color', 'text-transform', 'letter-spacing', 'font-family']),
        textarea: read('.post-form textarea', ['border-top-color', 'font-family']),
        list: read('.threads', ['list-style-type', 'margin-left']),
    };
}"""


async def test_host_page_styles_and_widget_styles_stay_apart(
    page: Page,
    demo: Demo,
) -> None:
    # The demo page as it looks without the widget is the baseline.
    async def refuse(route: Route) -> None:
        await route.abort()

    await page.route("**/widget.js", refuse)
    await page.goto(demo.stack.demo_page)
    baseline = await page.evaluate(HOST_STYLES)
    globals_before = await page.evaluate("Object.keys(window).sort()")
    assert baseline[".subscribe"][3] == HOTPINK

    await page.unroute("**/widget.js", refuse)
    await page.goto(demo.stack.demo_page)
    await expect(widget(page).locator(".count")).to_contain_text(re.compile(r"\d+ comment"))
    assert await page.evaluate(HOST_STYLES) == baseline
    assert await page.evaluate("Object.keys(window).sort()") == globals_before

    inside = await page.evaluate(WIDGET_STYLES, HOST)
    assert inside["button"]["background-color"] != HOTPINK
    assert inside["button"]["border-top-style"] == "solid"
    assert inside["button"]["font-size"] == "14px"
    assert "Georgia" not in inside["button"]["font-family"]
    assert inside["count"]["color"] != PURPLE
    assert inside["count"]["text-transform"] == "none"
    assert inside["count"]["letter-spacing"] == "normal"
    assert "Comic Sans" not in inside["textarea"]["font-family"]
    assert inside["textarea"]["border-top-color"] != "rgb(255, 0, 0)"
    assert inside["list"] == {"list-style-type": "none", "margin-left": "0px"}


async def test_the_site_lays_out_and_hides_the_widgets_container(page: Page, demo: Demo) -> None:
    tag = data_attributes(site=demo.stack.site, key=demo.stack.key, refresh="0")
    layout = "max-width: 500px; margin: 40px auto; padding: 20px; border-top: 5px solid red"
    boxes = "".join(
        f'<div data-moderation-comments data-article="container" {attributes}></div>'
        for attributes in (
            f'id="laid-out" style="{layout}"',
            'id="hidden" hidden',
            'id="folded" class="folded"',
        )
    )
    script = f'<script src="{demo.stack.api}/widget.js" {tag}></script>'
    await page.goto(
        serve(demo, "/test/container", f"<style>.folded {{ display: none }}</style>{boxes}{script}")
    )
    laid_out = page.locator("#laid-out")
    await expect(laid_out.locator(".count")).to_be_visible()
    for name, value in [
        ("max-width", "500px"),
        ("padding-top", "20px"),
        ("border-top-width", "5px"),
        ("margin-top", "40px"),
    ]:
        await expect(laid_out).to_have_css(name, value)
    # Hidden by the site until a reader asks for comments, and shown then.
    for hidden in ("#hidden", "#folded"):
        await expect(page.locator(hidden)).to_have_css("display", "none")
    await page.locator("#hidden").evaluate("box => { box.hidden = false; }")
    await expect(page.locator("#hidden .count")).to_be_visible()


async def test_reply_shows_awaiting_moderation_under_its_parent_and_report_is_recorded(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("reply")
    [parent] = await demo.approved(article, "The riverside bus route matters to many of us.")
    # Held for a moderator: the worker would otherwise approve the reply as soon as the
    # widget first asks after it, and "Awaiting moderation" might never be seen.
    await demo.policy(premod="all")
    try:
        await open_widget(page, demo, article, refresh="0")
        parent_item = comment(page, parent)

        await parent_item.get_by_role("button", name="Reply").click()
        reply_form = parent_item.locator(".reply-form")
        # The first field to fill: this reader has not given their name yet.
        await expect(reply_form.get_by_label("Name")).to_be_focused()
        reply_id = await post_through_widget(
            page, "Agreed, it should stay.", name="Ben", scope=reply_form, button="Post reply"
        )
        replies = f'li:has(> article[data-id="{parent}"]) > ol.replies > li'
        nested = widget(page).locator(f'{replies} > article[data-id="{reply_id}"]')
        await expect(nested).to_contain_text("Awaiting moderation")
        await expect(nested).to_contain_text("Agreed, it should stay.")
        await expect(reply_form).to_have_count(0)

        await parent_item.get_by_role("button", name="Report").click()
        await parent_item.get_by_label("Spam or advertising").check()
        async with page.expect_response(lambda r: "/reports" in r.url) as answer:
            await parent_item.get_by_role("button", name="Send report").click()
        assert (await answer.value).status == 202
        await expect(parent_item).to_contain_text("Thanks for the report")
        await expect(parent_item.get_by_role("button", name="Reported")).to_be_disabled()

        reported = await demo.moderator.get(
            "/v1/moderation/queues/reported", params={"site": demo.stack.site, "article": article}
        )
        assert [item["id"] for item in reported.json()["items"]] == [parent]

        # Once a moderator approves the reply it shows in place, no longer pending; the report
        # is remembered in this browser.
        await demo.approve(reply_id)
        await page.reload()
        await expect(nested.locator(".body")).to_have_text("Agreed, it should stay.")
        await expect(nested.locator(".badge")).to_have_count(0)
        await expect(parent_item.get_by_role("button", name="Reported")).to_be_disabled()
    finally:
        await demo.policy(premod="off")


async def test_a_reply_being_typed_survives_the_check_on_the_readers_own_comment(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("typing")
    [parent] = await demo.approved(article, "The library should open on Sundays.")
    await open_widget(page, demo, article, refresh="0")
    # After a post the widget asks how the reader's comment fares. Here the answer comes
    # only once the reader is typing a reply elsewhere, as on a slow connection.
    answer = asyncio.Event()

    async def slow_states(route: Route) -> None:
        await answer.wait()
        await route.continue_()

    await page.route(f"{demo.stack.api}/v1/sites/*/comments/states", slow_states)
    await post_through_widget(page, "Sundays would suit working parents.")
    parent_item = comment(page, parent)
    await parent_item.get_by_role("button", name="Reply").click()
    reply = parent_item.locator(".reply-form textarea")
    await reply.fill("And students before their exams.")

    answer.set()
    # The answer is in once the widget has kept the comment's edit deadline it carries.
    await page.wait_for_function(
        "key => JSON.parse(localStorage.getItem(key))[0].until !== null",
        arg=f"moderation:mine:{demo.stack.site}:{article}",
    )
    await expect(reply).to_have_value("And students before their exams.")
    await expect(reply).to_be_focused()


async def test_a_reply_being_typed_survives_a_post_elsewhere_and_each_refresh(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("keep-form")
    [parent] = await demo.approved(article, "The pool should reopen in May.")
    # Held for a moderator, so the test says when the reader's comment is published.
    await demo.policy(premod="all")
    try:
        await open_widget(page, demo, article, refresh="1")
        parent_item = comment(page, parent)
        await parent_item.get_by_role("button", name="Reply").click()
        reply = parent_item.locator(".reply-form textarea")
        await reply.fill("May is too late for the swim club.")

        # The reader posts a comment of their own from the main form meanwhile.
        posted = await post_through_widget(page, "Opening hours matter more than the date.")
        await expect(comment(page, posted).locator(".badge")).to_have_text("Awaiting moderation")
        await expect(reply).to_have_value("May is too late for the swim club.")

        # Back in the reply, the refresh redraws the thread once the comment is published;
        # the reply keeps its words, the focus and the caret.
        await reply.focus()
        await decide(demo, posted, "approve")
        await expect(comment(page, posted).locator(".badge")).to_have_count(0)
        await expect(reply).to_be_focused()
        await reply.press_sequentially(" June is later still.")
        await expect(reply).to_have_value("May is too late for the swim club. June is later still.")
        # The redrawn comment's buttons still act on the form: Reply again closes it.
        await parent_item.get_by_role("button", name="Reply to the comment by Ann").click()
        await expect(parent_item.locator(".reply-form")).to_have_count(0)
    finally:
        await demo.policy(premod="off")


async def own_states_answered(page: Page, demo: Demo, article: str) -> None:
    """Waits until the widget has kept what the state route said of the reader's comments
    (it redraws the thread as it does)."""
    await page.wait_for_function(
        "key => JSON.parse(localStorage.getItem(key)).every((c) => c.until !== null)",
        arg=f"moderation:mine:{demo.stack.site}:{article}",
    )


async def test_posting_a_comment_or_a_reply_puts_the_focus_on_it(page: Page, demo: Demo) -> None:
    article = new_article("post-focus")
    [parent] = await demo.approved(article, "The tram should run all night.")
    await open_widget(page, demo, article, refresh="0")
    parent_item = comment(page, parent)
    reply_button = parent_item.get_by_role("button", name="Reply")

    # The reader has no name yet: Reply starts at it. Escape closes the form, back to Reply.
    await reply_button.click()
    await expect(parent_item.locator(".reply-form").get_by_label("Name")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(parent_item.locator(".reply-form")).to_have_count(0)
    await expect(reply_button).to_be_focused()

    posted = await post_through_widget(page, "At least on weekends.")
    await expect(comment(page, posted)).to_be_focused()
    await expect(widget(page).locator(".post-form .msg")).to_have_text(
        "Thanks! Your comment is awaiting moderation."
    )
    # The redraw after the state route answers keeps the focus on the comment.
    await own_states_answered(page, demo, article)
    await expect(comment(page, posted)).to_be_focused()

    # The name is known now: Reply starts at the reply itself.
    await reply_button.click()
    reply_form = parent_item.locator(".reply-form")
    await expect(reply_form.locator("textarea")).to_be_focused()
    reply = await post_through_widget(
        page, "Fridays and Saturdays.", scope=reply_form, button="Post reply"
    )
    await expect(comment(page, reply)).to_be_focused()
    await expect(parent_item.locator(".slot .msg")).to_have_text(
        "Thanks! Your reply is awaiting moderation."
    )
    await own_states_answered(page, demo, article)
    await expect(comment(page, reply)).to_be_focused()
    await expect(parent_item.locator(".slot .msg")).to_have_text(
        "Thanks! Your reply is awaiting moderation."
    )


async def test_closing_or_sending_a_report_leaves_the_focus_by_its_button(
    page: Page, demo: Demo
) -> None:
    article = new_article("report-focus")
    [comment_id] = await demo.approved(article, "A comment to report.")
    await open_widget(page, demo, article, refresh="0")
    item = comment(page, comment_id)
    report = item.get_by_role("button", name="Report")
    form = item.locator(".report-form")

    # The host page closes its own things on Escape (a lightbox around the story, say).
    await page.evaluate(
        "window.hostEscapes = 0; document.addEventListener('keydown', "
        "(event) => { if (event.key === 'Escape') window.hostEscapes += 1; })"
    )
    await report.click()
    await expect(item.get_by_label("Insulting or abusive")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(form).to_have_count(0)
    await expect(report).to_be_focused()
    # That Escape was the form's; one with no form open is the page's.
    assert await page.evaluate("window.hostEscapes") == 0
    await page.keyboard.press("Escape")
    assert await page.evaluate("window.hostEscapes") == 1

    await page.keyboard.press("Enter")
    await item.get_by_role("button", name="Cancel").click()
    await expect(form).to_have_count(0)
    await expect(report).to_be_focused()

    await report.click()
    await item.get_by_role("button", name="Send report").click()
    # Reported, the button cannot take the focus: the thanks in its place do.
    await expect(item.locator(".slot .msg")).to_have_text(
        "Thanks for the report: a moderator will look at it."
    )
    await expect(item.locator(".slot .msg")).to_be_focused()


async def test_editing_or_deleting_leaves_the_focus_on_the_comment_or_the_next(
    page: Page, demo: Demo
) -> None:
    article = new_article("edit-focus")
    await open_widget(page, demo, article, refresh="0")
    first = await post_through_widget(page, "The first of mine.")
    second = await post_through_widget(page, "The secnod of mine.")
    await own_states_answered(page, demo, article)
    mine = comment(page, second)
    edit = mine.get_by_role("button", name="Edit")

    await edit.click()
    await expect(mine.locator(".edit-form textarea")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(mine.locator(".edit-form")).to_have_count(0)
    await expect(edit).to_be_focused()

    await edit.click()
    await mine.locator(".edit-form textarea").fill("The second of mine.")
    await mine.get_by_role("button", name="Save changes").click()
    await expect(mine.locator(".body")).to_have_text("The second of mine.")
    await expect(mine).to_be_focused()

    gone = comment(page, first)
    delete = gone.get_by_role("button", name="Delete")
    await delete.click()
    await gone.get_by_role("button", name="Keep it").click()
    await expect(delete).to_be_focused()
    await delete.click()
    await gone.get_by_role("button", name="Delete", exact=True).last.click()
    await expect(gone).to_have_count(0)
    await expect(mine).to_be_focused()


async def test_removed_comment_shows_as_a_placeholder_with_its_replies(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("removed")
    [parent] = await demo.approved(article, "The first comment on the budget.")
    reply = await demo.post(article, "A reply that stays.", parent_id=parent)
    await demo.approve(reply)
    rejected = await demo.moderator.post(
        f"/v1/moderation/comments/{parent}/decision",
        json={"action": "reject", "expected_status": "approved"},
    )
    assert rejected.status_code == 200, rejected.text

    await open_widget(page, demo, article, refresh="0")
    placeholder = comment(page, parent)
    await expect(placeholder.locator(".body")).to_have_text("[removed]")
    await expect(placeholder.get_by_role("button")).to_have_count(0)
    await expect(comment(page, reply).locator(".body")).to_have_text("A reply that stays.")


async def test_sort_switch_and_load_more_page_through_threads(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("paging")
    bodies = [f"Comment number {n} on the budget." for n in range(1, 6)]
    await demo.approved(article, *bodies)
    await open_widget(page, demo, article, refresh="0", page_size="2")
    shown = widget(page).locator("ol.threads > li > article .body")
    more = widget(page).get_by_role("button", name="Load more comments")

    await expect(widget(page).locator(".count")).to_have_text(plural(5))
    await expect(shown).to_have_text(bodies[::-1][:2])
    await more.click()
    await expect(shown).to_have_text(bodies[::-1][:4])
    await more.click()
    await expect(shown).to_have_text(bodies[::-1])
    await expect(more).to_be_hidden()

    oldest = widget(page).get_by_role("button", name="Oldest")
    await oldest.click()
    await expect(oldest).to_have_attribute("aria-pressed", "true")
    await expect(shown).to_have_text(bodies[:2])
    await more.click()
    await expect(shown).to_have_text(bodies[:4])


async def test_a_double_click_or_a_retry_after_a_lost_answer_stores_one_comment(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("once")
    await open_widget(page, demo, article, refresh="0")
    form = widget(page).locator(".post-form")
    before = await demo.stored()

    await form.get_by_label("Name").fill("Ann")
    await form.locator("textarea").fill("Posted with a double click.")
    await form.get_by_role("button", name="Post comment").dblclick()
    await expect(widget(page).locator(".own")).to_have_count(1)
    assert await demo.stored() == before + 1

    # The comment reaches the API, but the answer is lost on the way back.
    keys: list[str | None] = []

    async def lose_first_answer(route: Route) -> None:
        keys.append(await route.request.header_value("idempotency-key"))
        if len(keys) == 1:
            await route.fetch()
            await route.abort()
        else:
            await route.continue_()

    await page.route(f"{demo.stack.api}/v1/sites/*/articles/*/comments", lose_first_answer)
    await form.locator("textarea").fill("Posted once, answered on the retry.")
    await form.get_by_role("button", name="Post comment").click()
    await expect(form.locator(".msg")).to_contain_text(OFFLINE)
    await form.get_by_role("button", name="Post comment").click()
    await expect(form.locator(".msg")).to_contain_text("awaiting moderation")
    await expect(widget(page).locator(".own")).to_have_count(2)
    assert keys[0] is not None
    assert keys == [keys[0], keys[0]]
    assert await demo.stored() == before + 2


async def test_text_typed_while_a_slow_post_is_sent_is_kept(page: Page, demo: Demo) -> None:
    await open_widget(page, demo, new_article("slow-post"), refresh="0")
    arrived, answer = asyncio.Event(), asyncio.Event()

    async def slow_post(route: Route) -> None:
        arrived.set()
        await answer.wait()
        await route.continue_()

    await page.route(lambda url: url.endswith("/comments"), slow_post)
    form = widget(page).locator(".post-form")
    box = form.locator("textarea")
    await form.get_by_label("Name").fill("Ann Reader")
    await box.fill("First paragraph.")
    await form.get_by_role("button", name="Post comment").click()
    await arrived.wait()
    await box.press("End")
    await box.press_sequentially(" P.S. a second thought.")
    answer.set()
    await expect(form.locator(".msg")).to_contain_text("awaiting moderation")
    await expect(box).to_have_value("First paragraph. P.S. a second thought.")
    await expect(widget(page).locator("article.own .body")).to_have_text("First paragraph.")


async def test_comment_boxes_hold_what_the_site_takes_and_say_what_is_left_near_the_end(
    page: Page, demo: Demo
) -> None:
    article = new_article("length")
    [parent] = await demo.approved(article, "A comment to reply to.")
    await demo.policy(max_length=300)
    try:
        await open_widget(page, demo, article, refresh="0")
        form = widget(page).locator(".post-form")
        box, left = form.locator("textarea"), form.locator(".left")
        await expect(box).to_have_attribute("maxlength", "300")
        # Heard by screen readers as the box's description, politely, when it changes.
        await expect(box).to_have_attribute("aria-describedby", await left.get_attribute("id"))
        await expect(left).to_have_attribute("aria-live", "polite")
        # Far from the limit (over a tenth of it left) it says nothing.
        await box.fill("x" * 260)
        await expect(left).to_be_hidden()
        await box.fill("x" * 280)
        await expect(left).to_have_text("20 characters left")
        await box.press("End")
        await box.press_sequentially("y" * 25)
        await expect(left).to_have_text("0 characters left")
        await expect(box).to_have_value("x" * 280 + "y" * 20)
        # An emoji is one character to the site (as Python counts), two to maxlength.
        await box.fill("x" * 140)
        await box.press("End")
        await box.press_sequentially("\U0001f600" * 150)
        await expect(left).to_have_text("10 characters left")
        await box.press_sequentially("y" * 15)
        await expect(left).to_have_text("0 characters left")
        await expect(box).to_have_value("x" * 140 + "\U0001f600" * 150 + "y" * 10)

        posted = await post_through_widget(page, "z" * 290)
        await expect(left).to_be_hidden()
        await own_states_answered(page, demo, article)
        mine = comment(page, posted)
        await mine.get_by_role("button", name="Edit").click()
        await expect(mine.locator(".edit-form textarea")).to_have_attribute("maxlength", "300")
        await expect(mine.locator(".edit-form .left")).to_have_text("10 characters left")

        await comment(page, parent).get_by_role("button", name="Reply").click()
        reply = comment(page, parent).locator(".reply-form textarea")
        await expect(reply).to_have_attribute("maxlength", "300")
    finally:
        await demo.policy(max_length=5000)


async def test_a_character_that_the_site_normalises_into_two_counts_as_two(
    page: Page, demo: Demo
) -> None:
    article = new_article("nfc")
    await demo.policy(max_length=10)
    try:
        await open_widget(page, demo, article, refresh="0")
        form = widget(page).locator(".post-form")
        box, left = form.locator("textarea"), form.locator(".left")
        # U+0958 is two characters after NFC, as the site counts: five of them fill ten.
        await box.press_sequentially("\u0958" * 10)
        await expect(left).to_have_text("0 characters left")
        await expect(box).to_have_value("\u0958" * 5)
        await post_through_widget(page, "\u0958" * 5)
        # One that is three (U+FB2C) pasted ten times: nothing more fits.
        await box.fill("\ufb2c" * 10)
        await expect(box).to_have_attribute("maxlength", "0")
    finally:
        await demo.policy(max_length=5000)


async def test_rate_limit_tells_the_reader_how_long_to_wait(
    page: Page,
    demo: Demo,
) -> None:
    await demo.policy(rate_per_author=1, rate_per_address=0)
    try:
        # A per-author limit: a signed-in reader's (anonymous ones have their address's).
        await open_widget(page, demo, new_article("rate"), refresh="0", author_id="hasty")
        await post_through_widget(page, "The first comment is fine.")
        form = widget(page).locator(".post-form")
        await form.locator("textarea").fill("The second one comes too soon.")
        await form.get_by_role("button", name="Post comment").click()
        await expect(form.locator(".msg")).to_have_text(
            re.compile(r"^Too many comments in a short time: please wait \d+ s and try again\.$")
        )
    finally:
        await demo.policy(rate_per_author=0, rate_per_address=0)


async def expect_closed(page: Page, where: str, comment_id: int, body: str) -> None:
    """The thread says what is closed ("article" or "site"), offers no form and no Reply,
    and still shows the comment posted before."""
    await expect(widget(page).locator(".closed")).to_have_text(
        f"Comments are closed on this {where}."
    )
    await expect(widget(page).locator(".post-form")).to_be_hidden()
    await expect(comment(page, comment_id).locator(".body")).to_have_text(body)
    await expect(comment(page, comment_id).get_by_role("button", name="Reply")).to_have_count(0)


async def test_a_closed_article_shows_its_thread_without_forms(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("closed")
    [comment_id] = await demo.approved(article, "Said before the article closed.")
    await open_widget(page, demo, article, refresh="0")
    mine = await post_through_widget(page, "Posted just before it closed.")
    closing = await demo.moderator.put(
        f"/v1/moderation/sites/{demo.stack.site}/articles/{article}", json={"open": False}
    )
    assert closing.status_code == 200, closing.text

    await page.reload()
    await expect_closed(page, "article", comment_id, "Said before the article closed.")
    await expect(comment(page, comment_id).get_by_role("button", name="Report")).to_be_visible()
    # The reader's own comment can still be deleted, no longer edited.
    await expect(comment(page, mine).get_by_role("button", name="Delete")).to_be_visible()
    await expect(comment(page, mine).get_by_role("button", name="Edit")).to_have_count(0)


async def test_a_closed_site_offers_no_form_on_an_article_with_comments(
    page: Page, demo: Demo
) -> None:
    article = new_article("site-closed")
    [comment_id] = await demo.approved(article, "Said before the site closed.")
    await open_widget(page, demo, article, refresh="0")
    await expect(widget(page).locator(".post-form")).to_be_visible()
    await demo.policy(comments_open=False)
    try:
        # The browser revalidates its copy of the thread: closing is a new page.
        await page.reload()
        await expect_closed(page, "site", comment_id, "Said before the site closed.")
    finally:
        await demo.policy(comments_open=True)


async def test_comments_carry_the_sites_author_id_or_none(page: Page, demo: Demo) -> None:
    article = new_article("authors")
    await open_widget(page, demo, article, refresh="0")
    async with page.expect_request(is_post) as sent:
        anonymous = await post_through_widget(page, "An anonymous reader writes.")
    sent_body = (await sent.value).post_data_json
    assert sent_body is not None
    assert sent_body["author"] == {"name": "Ann Reader"}

    async def author(comment_id: int) -> dict[str, Any] | None:
        response = await demo.moderator.get(f"/v1/moderation/comments/{comment_id}")
        found: dict[str, Any] | None = response.json()["author"]
        return found

    assert await author(anonymous) is None
    await open_widget(page, demo, article, refresh="0", author_id="site-user-42")
    signed_in = await post_through_widget(page, "A signed-in reader writes.")
    assert (await author(signed_in) or {})["external_id"] == "site-user-42"


async def test_a_signed_in_readers_id_travels_with_the_sites_token(page: Page, demo: Demo) -> None:
    article = new_article("signed")

    async def unsigned_refused(refused: bool = True) -> bool:
        response = await demo.moderator.post(
            f"/v1/sites/{demo.stack.site}/articles/{article}/comments",
            json={"author": {"id": "probe", "name": "Probe"}, "body": "probe"},
            headers={"X-Site-Key": demo.stack.key},
        )
        return (response.status_code == 401) == refused

    conn = await db.connect(demo.stack.database_url)
    try:
        site = await sign_readers(conn, demo.stack.site)
        assert site.reader_secret
        # API processes see the secret once their site cache lapses.
        await wait_until(unsigned_refused, 30, "the reader secret in effect")
        claims = {"sub": "site-user-7", "exp": int(time.time()) + 600}
        token = jwt.encode(claims, site.reader_secret, algorithm="HS256")
        await open_widget(
            page, demo, article, refresh="0", author_id="site-user-7", author_token=token
        )
        async with page.expect_request(is_post) as sent:
            comment_id = await post_through_widget(page, "Signed in, and the site vouches for it.")
        sent_body = (await sent.value).post_data_json
        assert sent_body is not None
        assert sent_body["author"]["token"] == token
        detail = await demo.moderator.get(f"/v1/moderation/comments/{comment_id}")
        assert detail.json()["author"]["external_id"] == "site-user-7"

        # A reader the site has not signed in posts anonymously, as on any site.
        await open_widget(page, demo, article, refresh="0")
        await post_through_widget(page, "Not signed in, and welcome all the same.")

        # A token that expired while the page was open: the reader is told what to do, and
        # keeps what they wrote.
        expired = jwt.encode({**claims, "exp": int(time.time()) - 60}, site.reader_secret)
        await open_widget(
            page, demo, article, refresh="0", author_id="site-user-7", author_token=expired
        )
        form = widget(page).locator(".post-form")
        await form.get_by_label("Name").fill("Ann Reader")
        await form.locator("textarea").fill("Written after the sign-in lapsed.")
        await form.get_by_role("button", name="Post comment").click()
        await expect(form.locator(".msg")).to_have_text(
            "Your sign-in could not be confirmed (it may have expired): reload the page"
            " or sign in again, then post once more."
        )
        await expect(form.locator("textarea")).to_have_value("Written after the sign-in lapsed.")
    finally:
        await sign_readers(conn, demo.stack.site, on=False)
        await conn.close()
        await wait_until(lambda: unsigned_refused(False), 30, "author ids unsigned again")


def two_containers(demo: Demo, path: str, first: str, second: str) -> str:
    """A page at `path` with a container for each article and one script tag, which names
    no article: it only loads the widget and gives site and key."""
    boxes = "".join(
        f"<div data-moderation-comments {data_attributes(article=a)}></div>"
        for a in (first, second)
    )
    tag = data_attributes(site=demo.stack.site, key=demo.stack.key, refresh="0")
    script = f'<script src="{demo.stack.api}/widget.js" {tag} async></script>'
    return serve(demo, path, boxes + script)


async def test_containers_on_a_page_each_show_their_own_article(
    page: Page,
    demo: Demo,
) -> None:
    first, second = new_article("box"), new_article("box")
    await demo.approved(first, "Only on the first article.")
    await page.goto(two_containers(demo, "/test/boxes", first, second))
    counts = page.locator("[data-moderation-comments] .count")
    await expect(counts).to_have_text([plural(1), plural(0)])
    await expect(page.locator("[data-moderation-comments]").first).to_contain_text(
        "Only on the first article."
    )


# --- a reader's own comments, links, news, reports, the Featured tab --------------------


async def decide(demo: Demo, comment_id: int, action: str) -> None:
    """Wait for the worker's decision, then decide as a moderator."""
    await wait_until(
        lambda: _decided(demo, comment_id), 90, f"a decision on {comment_id}", [demo.stack.process]
    )
    status = await demo.status(comment_id)
    response = await demo.moderator.post(
        f"/v1/moderation/comments/{comment_id}/decision",
        json={"action": action, "expected_status": status},
    )
    assert response.status_code == 200, response.text


async def _decided(demo: Demo, comment_id: int) -> bool:
    return await demo.status(comment_id) != "pending"


async def test_own_comments_say_published_or_not_published_as_they_are(
    page: Page,
    demo: Demo,
) -> None:
    article = new_article("states")
    await open_widget(page, demo, article, refresh="0")
    kept = await post_through_widget(page, "A comment the moderators keep.")
    refused = await post_through_widget(page, "A comment the moderators refuse.")
    await decide(demo, kept, "approve")
    await decide(demo, refused, "reject")

    await page.reload()
    # The published one is in the thread itself; the refused one says so, to its poster only.
    await expect(widget(page).locator("ol.threads > li > article.comment:not(.own)")).to_have_count(
        1
    )
    await expect(comment(page, kept).locator(".badge")).to_have_count(0)
    await expect(comment(page, refused).locator(".badge")).to_have_text("Not published")
    await expect(comment(page, refused)).to_contain_text("Only you can see this comment.")

    # Another reader (another browser) sees the published comment and nothing of the other.
    other = await page.context.browser.new_context()  # type: ignore[union-attr]
    try:
        stranger = await other.new_page()
        await open_widget(stranger, demo, article, refresh="0")
        await expect(comment(stranger, kept)).to_be_visible()
        await expect(comment(stranger, refused)).to_have_count(0)
        await expect(comment(stranger, kept).get_by_role("button", name="Edit")).to_have_count(0)
    finally:
        await other.close()


async def test_more_than_a_hundred_own_comments_all_learn_their_state(
    page: Page, demo: Demo
) -> None:
    article = new_article("prolific")
    mine = []
    for n in range(101):
        response = await demo.moderator.post(
            f"/v1/sites/{demo.stack.site}/articles/{article}/comments",
            json={"author": {"name": "Ann"}, "body": f"My comment number {n}."},
            headers={"X-Site-Key": demo.stack.key},
        )
        answer = response.json()
        mine.append(
            {
                "id": answer["id"],
                "secret": answer["secret"],
                "parent": None,
                "name": "Ann",
                "body": f"My comment number {n}.",
                "state": "awaiting",
                "until": None,
                "at": int(time.time() * 1000),
            }
        )
    # As this browser kept them; Edit shows once the state check brings each deadline.
    key = f"moderation:mine:{demo.stack.site}:{article}"
    await page.add_init_script(
        f"localStorage.setItem({json.dumps(key)}, {json.dumps(json.dumps(mine))})"
    )
    await open_widget(page, demo, article, refresh="0")
    for own in (mine[0], mine[-1]):
        await expect(comment(page, own["id"]).get_by_role("button", name="Edit")).to_be_visible()


async def test_own_comments_are_remembered_for_as_long_as_a_site_lets_them_be_edited(
    page: Page, demo: Demo
) -> None:
    article = new_article("week")
    before = await demo.policy(own_edit_seconds=7 * 86400)
    try:
        response = await demo.moderator.post(
            f"/v1/sites/{demo.stack.site}/articles/{article}/comments",
            json={"author": {"name": "Ann"}, "body": "Posted two days ago."},
            headers={"X-Site-Key": demo.stack.key},
        )
        answer = response.json()
        await demo.approve(answer["id"])
        now = int(time.time() * 1000)
        day = 86_400_000
        own = {"id": answer["id"], "secret": answer["secret"], "parent": None, "name": "Ann"}
        own |= {"body": "Posted two days ago.", "state": "awaiting", "until": None}
        kept = {
            # As this browser kept it two days ago; and another article's, eight days ago.
            f"moderation:mine:{demo.stack.site}:{article}": [{**own, "at": now - 2 * day}],
            f"moderation:mine:{demo.stack.site}:old-{article}": [{**own, "at": now - 8 * day}],
        }
        await page.add_init_script(
            f"for (const [k, v] of Object.entries({json.dumps(kept)})) "
            "localStorage.setItem(k, JSON.stringify(v));"
        )
        await open_widget(page, demo, article, refresh="0")
        mine = comment(page, answer["id"])
        await expect(mine.get_by_role("button", name="Edit")).to_be_visible()
        await expect(mine.get_by_role("button", name="Delete")).to_be_visible()
        await expect(mine.get_by_role("button", name="Report")).to_have_count(0)
        # Nothing older than any edit window stays in the reader's browser.
        stored = await page.evaluate("Object.keys(localStorage)")
        assert f"moderation:mine:{demo.stack.site}:old-{article}" not in stored
    finally:
        await demo.policy(own_edit_seconds=before["own_edit_seconds"])


async def test_a_reader_edits_then_deletes_their_own_comment(page: Page, demo: Demo) -> None:
    article = new_article("edit")
    await open_widget(page, demo, article, refresh="0")
    comment_id = await post_through_widget(page, "The libary deserves the money.")
    await demo.approve(comment_id)
    await page.reload()
    mine = comment(page, comment_id)
    await expect(mine.locator(".badge")).to_have_count(0)

    await mine.get_by_role("button", name="Edit").click()
    await mine.locator(".edit-form textarea").fill("The library deserves the money.")
    async with page.expect_response(lambda r: r.request.method == "PUT") as answer:
        await mine.get_by_role("button", name="Save changes").click()
    assert (await answer.value).status == 200
    await expect(mine.locator(".badge")).to_have_text("Awaiting moderation")
    await expect(mine.locator(".body")).to_have_text("The library deserves the money.")
    # Moderated again: the worker decides the new text.
    await demo.approve(comment_id)
    detail = (await demo.moderator.get(f"/v1/moderation/comments/{comment_id}")).json()
    assert detail["body"] == "The library deserves the money."
    assert [e["kind"] for e in detail["history"]].count("edited") == 1

    await page.reload()
    await mine.get_by_role("button", name="Delete").click()
    await expect(mine).to_contain_text("cannot be undone")
    await mine.get_by_role("button", name="Delete", exact=True).last.click()
    await expect(mine).to_have_count(0)
    await expect(widget(page).locator(".status")).to_have_text("Your comment was deleted.")
    assert await demo.status(comment_id) == "deleted"
    await page.reload()
    await expect(comment(page, comment_id)).to_have_count(0)


async def test_a_waiting_reply_stays_under_a_placeholder_when_its_parent_is_deleted(
    page: Page, demo: Demo
) -> None:
    article = new_article("orphan")
    await open_widget(page, demo, article, refresh="0")
    parent = await post_through_widget(page, "The pool should reopen in May.")
    await demo.approve(parent)
    # Held for a moderator, so that the reply is still awaiting when its parent goes.
    await demo.policy(premod="all")
    try:
        await page.reload()
        parent_item = comment(page, parent)
        await parent_item.get_by_role("button", name="Reply").click()
        reply_form = parent_item.locator(".reply-form")
        reply = await post_through_widget(
            page, "And the sauna with it.", scope=reply_form, button="Post reply"
        )
        await parent_item.get_by_role("button", name="Delete").click()
        await parent_item.get_by_role("button", name="Delete", exact=True).last.click()
        await expect(widget(page).locator(".status")).to_have_text("Your comment was deleted.")

        replies = f'li:has(> article[data-id="{parent}"]) > ol.replies > li'
        waiting = widget(page).locator(f'{replies} > article[data-id="{reply}"]')
        for _ in range(2):
            await expect(parent_item.locator(".body")).to_have_text("[removed]")
            await expect(waiting.locator(".badge")).to_have_text("Awaiting moderation")
            await page.reload()

        # Published, it is in the thread's own placeholder, once.
        await demo.approve(reply)
        await page.reload()
        await expect(parent_item.locator(".body")).to_have_text("[removed]")
        await expect(waiting.locator(".body")).to_have_text("And the sauna with it.")
        await expect(waiting.locator(".badge")).to_have_count(0)
        await expect(comment(page, reply)).to_have_count(1)
    finally:
        await demo.policy(premod="off")


def reply_under(page: Page, parent: int, reply: int) -> Locator:
    """`reply` in the list of replies right under `parent`."""
    return widget(page).locator(
        f'li:has(> article[data-id="{parent}"]) > ol.replies > li > article[data-id="{reply}"]'
    )


async def test_an_edited_comment_with_replies_stays_its_authors_in_its_place(
    page: Page, demo: Demo
) -> None:
    article = new_article("edited-parent")
    await open_widget(page, demo, article, refresh="0")
    parent = await post_through_widget(page, "The pier needs a new rail.")
    await demo.approve(parent)
    reply = await demo.post(article, "And new lights.", parent_id=parent)
    await demo.approve(reply)
    # Held for a moderator, so that the edit is still awaiting after the reloads.
    await demo.policy(premod="all")
    try:
        await page.reload()
        mine = comment(page, parent)
        await mine.get_by_role("button", name="Edit").click()
        await mine.locator(".edit-form textarea").fill("The pier needs a new railing.")
        await mine.get_by_role("button", name="Save changes").click()
        await expect(mine.locator(".badge")).to_have_text("Awaiting moderation")

        # Readers get a placeholder; its author gets the comment, with its reply under it.
        await page.reload()
        await expect(mine.locator(".body")).to_have_text("The pier needs a new railing.")
        await expect(mine.locator(".badge")).to_have_text("Awaiting moderation")
        await expect(mine.get_by_role("button", name="Delete")).to_be_visible()
        await expect(reply_under(page, parent, reply).locator(".body")).to_have_text(
            "And new lights."
        )
        await expect(widget(page).get_by_text("[removed]")).to_have_count(0)
    finally:
        await demo.policy(premod="off")


async def test_replies_keep_their_place_when_their_parent_is_edited_or_deleted(
    page: Page, demo: Demo
) -> None:
    article = new_article("parent-goes")
    await open_widget(page, demo, article, refresh="1")
    edited = await post_through_widget(page, "The market should open on Sundays.")
    deleted = await post_through_widget(page, "The market should close at six.")
    await demo.approve(edited, deleted)
    replies = {
        edited: await demo.post(article, "And on holidays.", parent_id=edited),
        deleted: await demo.post(article, "Six is too early.", parent_id=deleted),
    }
    await demo.approve(*replies.values())
    await demo.policy(premod="all")
    try:
        await page.reload()
        count = widget(page).locator(".count")
        await expect(count).to_have_text(plural(4))

        mine = comment(page, edited)
        await mine.get_by_role("button", name="Edit").click()
        await mine.locator(".edit-form textarea").fill("The market should open on Sunday mornings.")
        await mine.get_by_role("button", name="Save changes").click()
        await expect(mine.locator(".badge")).to_have_text("Awaiting moderation")
        await expect(reply_under(page, edited, replies[edited])).to_be_visible()

        gone = comment(page, deleted)
        await gone.get_by_role("button", name="Delete").click()
        await gone.get_by_role("button", name="Delete", exact=True).last.click()
        await expect(gone.locator(".body")).to_have_text("[removed]")
        await expect(reply_under(page, deleted, replies[deleted])).to_be_visible()

        # A refresh brings the thread without either: the replies are not news.
        await expect(count).to_have_text(plural(2))
        await expect(widget(page).locator("button.news")).to_be_hidden()
        for parent, reply in replies.items():
            await expect(reply_under(page, parent, reply)).to_be_visible()
    finally:
        await demo.policy(premod="off")


async def test_an_edit_form_closes_when_the_edit_window_does(page: Page, demo: Demo) -> None:
    article = new_article("deadline")
    before = await demo.policy(own_edit_seconds=10)
    try:
        await open_widget(page, demo, article, refresh="0")
        comment_id = await post_through_widget(page, "The bus lane should stay.")
        mine = comment(page, comment_id)
        await mine.get_by_role("button", name="Edit").click()
        await mine.locator(".edit-form textarea").fill("The bus lane must stay.")

        # No refresh and no click: the widget redraws at the deadline itself, 10 s after
        # the post (the assertion waits longer than that).
        await expect(mine.locator(".edit-form")).to_have_count(0, timeout=30_000)
        await expect(mine.locator(".msg")).to_have_text("This comment can no longer be changed.")
        await expect(mine.get_by_role("button", name="Edit")).to_have_count(0)
        await expect(mine.get_by_role("button", name="Delete")).to_have_count(0)
    finally:
        await demo.policy(own_edit_seconds=before["own_edit_seconds"])


async def test_a_permalink_loads_the_page_of_its_comment_and_highlights_it(
    page: Page, demo: Demo
) -> None:
    article = new_article("link")
    ids = await demo.approved(article, *[f"Comment {n} on the budget." for n in range(1, 6)])
    oldest = ids[0]
    tag = data_attributes(
        site=demo.stack.site, article=article, key=demo.stack.key, refresh="0", page_size="2"
    )
    url = serve(
        demo, f"/test/{article}", f'<script src="{demo.stack.api}/widget.js" {tag}></script>'
    )
    await page.goto(f"{url}#comment-{oldest}")
    target = comment(page, oldest)
    # Newest first, two a page: the oldest is on the third page, which the link loads.
    await expect(target).to_have_class(re.compile(r"\btarget\b"))
    await expect(widget(page).locator("ol.threads > li")).to_have_count(5)
    assert await target.evaluate("n => n.getRootNode().activeElement === n")
    await expect(target).to_be_in_viewport()
    # Every comment offers its own link; following one highlights it.
    await comment(page, ids[2]).get_by_role("link").click()
    await expect(page).to_have_url(re.compile(f"#comment-{ids[2]}$"))
    await expect(comment(page, ids[2])).to_have_class(re.compile(r"\btarget\b"))
    await expect(target).not_to_have_class(re.compile(r"\btarget\b"))


async def test_a_link_to_a_comment_is_left_to_the_widget_of_its_article(
    page: Page, demo: Demo
) -> None:
    first, second = new_article("link-box"), new_article("link-box")
    [linked] = await demo.approved(first, "The comment the link points to.")
    await demo.approved(second, "A comment on the other article.")
    url = two_containers(demo, "/test/link-boxes", first, second)
    # The second widget asks where the comment is rather than paging to the end.
    async with page.expect_response(lambda r: r.url.endswith(f"/comments/{linked}")):
        await page.goto(f"{url}#comment-{linked}")
    holder, other = (page.locator("[data-moderation-comments]").nth(n) for n in (0, 1))
    await expect(holder.locator(f'article[data-id="{linked}"]')).to_have_class(
        re.compile(r"\btarget\b")
    )
    await expect(other.locator(".count")).to_have_text(plural(1))
    await expect(other.locator(".status")).to_have_text("")


async def test_a_link_to_a_comment_no_reader_sees_is_answered_at_once_and_stays(
    page: Page, demo: Demo
) -> None:
    article = new_article("unseen-link")
    await demo.approved(article, *(f"Comment {n}." for n in range(3)))
    tag = data_attributes(
        site=demo.stack.site, article=article, key=demo.stack.key, refresh="1", page_size="1"
    )
    url = serve(
        demo, f"/test/{article}", f'<script src="{demo.stack.api}/widget.js" {tag}></script>'
    )
    paged: list[str] = []
    page.on("request", lambda r: paged.append(r.url) if "cursor=" in r.url else None)
    await page.goto(f"{url}#comment-987654321")
    status = widget(page).locator(".status")
    await expect(status).to_have_text("The comment this link points to is not shown here.")
    # Two refreshes that find the thread unchanged leave the message where it is.
    for _ in range(2):
        await page.wait_for_event("response", lambda r: thread_pages(r.url))
    await expect(status).to_have_text("The comment this link points to is not shown here.")
    assert paged == []


async def test_a_link_that_is_followed_by_another_clears_the_last_ones_message_and_highlight(
    page: Page, demo: Demo
) -> None:
    first, second = new_article("relink"), new_article("relink")
    [here] = await demo.approved(first, "A comment on the first article.")
    [there] = await demo.approved(second, "A comment on the second article.")
    await page.goto(f"{two_containers(demo, '/test/relinks', first, second)}#comment-987654321")
    boxes = page.locator("[data-moderation-comments]")
    unshown = "The comment this link points to is not shown here."
    await expect(boxes.locator(".status")).to_have_text([unshown, unshown])
    await page.evaluate(f"location.hash = '#comment-{here}'")
    await expect(boxes.nth(0).locator(f'article[data-id="{here}"]')).to_have_class(
        re.compile(r"\btarget\b")
    )
    await expect(boxes.locator(".status")).to_have_text(["", ""])
    await page.evaluate(f"location.hash = '#comment-{there}'")
    await expect(boxes.nth(1).locator(f'article[data-id="{there}"]')).to_have_class(
        re.compile(r"\btarget\b")
    )
    await expect(boxes.locator(".target")).to_have_count(1)


async def test_new_comments_are_offered_rather_than_slipped_in(page: Page, demo: Demo) -> None:
    article = new_article("news")
    [first] = await demo.approved(article, "The first comment.")
    await open_widget(page, demo, article, refresh="1")
    await expect(comment(page, first)).to_be_visible()
    later = await demo.approved(article, "A second one.", "And a third.")
    news = widget(page).locator("button.news")
    await expect(news).to_have_text("2 new comments: show")
    for comment_id in later:
        await expect(comment(page, comment_id)).to_have_count(0)
    await expect(widget(page).locator(".count")).to_have_text(plural(1))
    await news.click()
    for comment_id in later:
        await expect(comment(page, comment_id)).to_be_visible()
    await expect(news).to_be_hidden()
    await expect(widget(page).locator(".count")).to_have_text(plural(3))


def thread_pages(url: str) -> bool:
    """The widget's GETs of a thread page (the first or a later one)."""
    return "/comments?" in url


async def test_the_offline_line_clears_once_the_service_answers_again(
    page: Page, demo: Demo
) -> None:
    article = new_article("outage")
    [first] = await demo.approved(article, "Said before the outage.")
    await open_widget(page, demo, article, refresh="1")
    await expect(comment(page, first)).to_be_visible()
    status = widget(page).locator(".status")

    async def unreachable(route: Route) -> None:
        await route.abort()

    await page.route(thread_pages, unreachable)
    await expect(status).to_contain_text(OFFLINE)
    await page.unroute(thread_pages, unreachable)
    # The thread is unchanged (the same ETag): the answer alone clears the error.
    await expect(status).to_have_text("")
    await expect(status).not_to_have_class(re.compile(r"\berror\b"))


async def test_an_outage_of_the_service_is_told_as_such(page: Page, demo: Demo) -> None:
    async def database_down(route: Route) -> None:
        await route.fulfill(
            status=503,
            json={"error": {"code": "unavailable", "message": "database down", "field": None}},
            headers={"Access-Control-Allow-Origin": demo.pages_origin, "Retry-After": "5"},
        )

    await page.route(thread_pages, database_down)
    await open_widget(page, demo, new_article("down"), refresh="0")
    await expect(widget(page).locator(".status")).to_have_text(
        "Comments could not be loaded: The comment service is briefly unavailable:"
        " please try again in a moment."
    )


async def test_a_slow_page_of_comments_survives_a_refresh_that_finds_nothing_new(
    page: Page, demo: Demo
) -> None:
    article = new_article("slow-more")
    await demo.approved(article, *[f"Comment {n} on the budget." for n in range(1, 6)])
    await open_widget(page, demo, article, refresh="1", page_size="2")
    shown = widget(page).locator("ol.threads > li")
    await expect(shown).to_have_count(2)
    # The next page comes back only after a refresh has found the thread unchanged.
    refreshed = asyncio.Event()

    async def slow_next_page(route: Route) -> None:
        if "cursor=" in route.request.url:
            await refreshed.wait()
        await route.continue_()

    await page.route(thread_pages, slow_next_page)
    await widget(page).get_by_role("button", name="Load more comments").click()
    await page.wait_for_event("response", lambda r: thread_pages(r.url) and "cursor=" not in r.url)
    refreshed.set()
    await expect(shown).to_have_count(4)


async def test_shown_news_puts_the_focus_on_the_first_new_comment(page: Page, demo: Demo) -> None:
    article = new_article("news-focus")
    await demo.approved(article, "The first comment.")
    # Held for a moderator: the reader's own comment stays awaiting, at the top.
    await demo.policy(premod="all")
    try:
        await open_widget(page, demo, article, refresh="1")
        await post_through_widget(page, "My own comment, still awaiting.")
        [later] = await demo.approved(article, "Another reader's comment.")
        news = widget(page).locator("button.news")
        await expect(news).to_have_text("1 new comment: show")
        await news.click()
        await expect(comment(page, later)).to_be_focused()
    finally:
        await demo.policy(premod="off")


async def test_a_report_for_something_else_carries_the_readers_words(
    page: Page, demo: Demo
) -> None:
    article = new_article("other")
    [comment_id] = await demo.approved(article, "A comment with a problem.")
    await open_widget(page, demo, article, refresh="0")
    item = comment(page, comment_id)
    await item.get_by_role("button", name="Report").click()
    await item.get_by_label("Something else").check()
    await item.get_by_role("button", name="Send report").click()
    await expect(item.locator(".report-form .msg")).to_have_text("Please say what is wrong.")
    await item.get_by_label("What is wrong with it?").fill("It names a private person")
    await item.get_by_role("button", name="Send report").click()
    await expect(item).to_contain_text("Thanks for the report")
    reported = await demo.moderator.get(
        "/v1/moderation/queues/reported", params={"site": demo.stack.site, "article": article}
    )
    [found] = reported.json()["items"]
    assert found["reports"]["reasons"] == ["Something else: It names a private person"]


async def test_a_banned_reader_is_told_in_a_sentence(page: Page, demo: Demo) -> None:
    article = new_article("banned")
    await open_widget(page, demo, article, refresh="0", author_id="troublemaker")
    first = await post_through_widget(page, "Before the ban.")
    author = (await demo.moderator.get(f"/v1/moderation/comments/{first}")).json()["author"]
    banned = await demo.moderator.post(
        f"/v1/moderation/authors/{author['id']}/status", json={"status": "banned"}
    )
    assert banned.status_code == 200, banned.text
    form = widget(page).locator(".post-form")
    await form.locator("textarea").fill("After the ban.")
    await form.get_by_role("button", name="Post comment").click()
    await expect(form.locator(".msg")).to_have_text("You can no longer post comments on this site.")


async def test_an_anonymous_reader_is_asked_to_sign_in_where_the_site_needs_it(
    page: Page, demo: Demo
) -> None:
    await demo.policy(allow_anonymous=False)
    try:
        await open_widget(page, demo, new_article("anonymous"), refresh="0")
        form = widget(page).locator(".post-form")
        await form.get_by_label("Name").fill("Ann Reader")
        await form.locator("textarea").fill("Posted without signing in.")
        await form.get_by_role("button", name="Post comment").click()
        await expect(form.locator(".msg")).to_have_text(
            "This site takes comments from signed-in readers only: please sign in first."
        )
    finally:
        await demo.policy(allow_anonymous=True)


async def test_the_featured_tab_shows_what_moderators_featured(page: Page, demo: Demo) -> None:
    article = new_article("featured")
    picked, other = await demo.approved(article, "A thoughtful comment.", "An ordinary one.")
    response = await demo.moderator.post(
        f"/v1/moderation/comments/{picked}/feature", json={"featured": True}
    )
    assert response.status_code == 200, response.text
    await open_widget(page, demo, article, refresh="0")
    tab = widget(page).get_by_role("button", name="Featured (1)")
    await tab.click()
    await expect(tab).to_have_attribute("aria-pressed", "true")
    await expect(comment(page, picked)).to_be_visible()
    await expect(comment(page, other)).to_have_count(0)
    await page.screenshot(path=screenshot_path("widget-featured"), full_page=True)
    await widget(page).get_by_role("button", name="All comments").click()
    await expect(comment(page, other)).to_be_visible()


async def test_in_the_featured_tab_the_readers_own_pick_offers_edit_and_delete(
    page: Page, demo: Demo
) -> None:
    article = new_article("featured-own")
    await open_widget(page, demo, article, refresh="0")
    own = await post_through_widget(page, "A pick of my own.")
    await demo.approve(own)
    response = await demo.moderator.post(
        f"/v1/moderation/comments/{own}/feature", json={"featured": True}
    )
    assert response.status_code == 200, response.text
    await page.reload()
    await widget(page).get_by_role("button", name="Featured (1)").click()
    mine = comment(page, own)
    await expect(mine.get_by_role("button", name="Edit")).to_be_visible()
    await expect(mine.get_by_role("button", name="Delete")).to_be_visible()
    await expect(mine.get_by_role("button", name="Report")).to_have_count(0)


async def test_a_post_from_the_featured_tab_leaves_the_focus_on_its_thanks(
    page: Page, demo: Demo
) -> None:
    article = new_article("featured-reply")
    [picked] = await demo.approved(article, "A pick to reply to.")
    response = await demo.moderator.post(
        f"/v1/moderation/comments/{picked}/feature", json={"featured": True}
    )
    assert response.status_code == 200, response.text
    await open_widget(page, demo, article, refresh="0")
    await widget(page).get_by_role("button", name="Featured (1)").click()
    # The tab shows none of the reader's own comments: the focus goes to the thanks.
    other = comment(page, picked)
    await other.get_by_role("button", name="Reply").click()
    form = other.locator(".reply-form")
    await post_through_widget(page, "A reply from the tab.", scope=form, button="Post reply")
    thanks = other.locator(".slot .msg")
    await expect(thanks).to_have_text("Thanks! Your reply is awaiting moderation.")
    await expect(thanks).to_be_focused()
    await post_through_widget(page, "A comment from the tab.")
    thanks = widget(page).locator(".post-form .msg")
    await expect(thanks).to_have_text("Thanks! Your comment is awaiting moderation.")
    await expect(thanks).to_be_focused()


async def test_on_a_right_to_left_page_the_widget_stays_english_left_to_right(
    page: Page, demo: Demo
) -> None:
    article = new_article("rtl")
    [comment_id] = await demo.approved(article, "مرحبا، هذا تعليق")
    tag = data_attributes(site=demo.stack.site, article=article, key=demo.stack.key, refresh="0")
    demo.pages.html[f"/test/{article}"] = (
        '<!doctype html><html dir="rtl" lang="ar"><head><meta charset="utf-8">'
        "<title>خبر</title></head><body><main>"
        f'<script src="{demo.stack.api}/widget.js" {tag}></script></main></body></html>'
    ).encode()
    await page.goto(f"{demo.pages_origin}/test/{article}")
    inside = widget(page).locator(".mc")
    await expect(inside).to_have_css("direction", "ltr")
    await expect(inside).to_have_attribute("lang", "en")
    # What readers write keeps finding its own direction.
    await expect(comment(page, comment_id).locator(".body")).to_have_attribute("dir", "auto")
    name = widget(page).locator(".post-form").get_by_label("Name")
    await expect(name).to_have_attribute("dir", "auto")


async def test_the_widget_sends_the_pages_title_and_address(page: Page, demo: Demo) -> None:
    article = new_article("titled")
    canonical = f"{demo.pages_origin}/politics/{article}"
    tag = data_attributes(site=demo.stack.site, article=article, key=demo.stack.key, refresh="0")
    demo.pages.html[f"/test/{article}"] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Bridge vote delayed | The Gazette</title>"
        f'<link rel="canonical" href="{canonical}"></head><body><main>'
        f'<script src="{demo.stack.api}/widget.js" {tag}></script></main></body></html>'
    ).encode()
    await page.goto(f"{demo.pages_origin}/test/{article}")
    comment_id = await post_through_widget(page, "Posted from a titled page.")
    detail = (await demo.moderator.get(f"/v1/moderation/comments/{comment_id}")).json()
    assert detail["article"] == {
        "id": article,
        "title": "Bridge vote delayed | The Gazette",
        "url": canonical,
    }
    # data-title and data-url, when the site gives them, win over the page's own (on a
    # new article: an article keeps the title and address it was first given).
    article = new_article("titled")
    await open_widget(page, demo, article, refresh="0", title="Bridge vote", url=canonical + "?v=2")
    second = await post_through_widget(page, "Posted with the site's words.")
    detail = (await demo.moderator.get(f"/v1/moderation/comments/{second}")).json()
    assert detail["article"]["title"] == "Bridge vote"
    assert detail["article"]["url"] == canonical + "?v=2"


async def test_the_pages_title_goes_as_one_clean_line_and_a_bad_address_stays_out(
    page: Page, demo: Demo
) -> None:
    article = new_article("messy")
    # A cut at 300 characters falls between an emoji's two halves for JavaScript.
    long_title = "x" * 299 + "\U0001f600" * 5
    await open_widget(page, demo, article, refresh="0", title=long_title)
    first = await post_through_widget(page, "Posted under a long title.")
    detail = (await demo.moderator.get(f"/v1/moderation/comments/{first}")).json()
    assert detail["article"]["title"] == "x" * 299 + "\U0001f600"

    # A site's title over lines, a page's mis-decoded one, addresses that are not http(s);
    # each on a new article, as an article keeps the title and address it was first given.
    article = new_article("messy")
    address = f"http:127.0.0.1:{demo.pages.port}/story"
    await open_widget(
        page, demo, article, refresh="0", title="Bridge vote\n\tdelayed\r\n", url=address
    )
    second = await post_through_widget(page, "Posted under a title over lines.")
    detail = (await demo.moderator.get(f"/v1/moderation/comments/{second}")).json()
    assert detail["article"]["title"] == "Bridge vote delayed"
    assert detail["article"]["url"] == f"{demo.pages_origin}/story"
    article = new_article("messy")
    tag = data_attributes(
        site=demo.stack.site, article=article, key=demo.stack.key, refresh="0", url="https://"
    )
    demo.pages.html[f"/test/{article}"] = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Don\u0092t miss the vote</title></head><body><main>"
        f'<script src="{demo.stack.api}/widget.js" {tag}></script></main></body></html>'
    ).encode()
    await page.goto(f"{demo.pages_origin}/test/{article}")
    third = await post_through_widget(page, "Posted from a mis-decoded page.")
    detail = (await demo.moderator.get(f"/v1/moderation/comments/{third}")).json()
    assert detail["article"]["title"] == "Dont miss the vote"
    assert detail["article"]["url"] is None


async def test_buttons_say_whose_comment_and_the_count_is_a_heading(page: Page, demo: Demo) -> None:
    article = new_article("names")
    [comment_id] = await demo.approved(article, "A comment with buttons.")
    await open_widget(page, demo, article, refresh="0")
    await expect(widget(page).get_by_role("heading", name=plural(1))).to_be_visible()
    item = comment(page, comment_id)
    for name in ("Reply to the comment by Ann", "Report the comment by Ann"):
        await expect(item.get_by_role("button", name=name, exact=True)).to_be_visible()


@pytest.mark.parametrize("device", ["desktop", "phone"])
async def test_the_widget_passes_axe(browser: Browser, demo: Demo, device: str) -> None:
    article = new_article("axe")
    [parent] = await demo.approved(article, "Կամուրջը շատ թանկ է. Hello in two scripts.")
    reply = await demo.post(article, "مرحبا، هذا رد", parent_id=parent)
    await demo.approve(reply)
    options: dict[str, Any] = PHONE if device == "phone" else {}
    context = await browser.new_context(**options)
    try:
        reader = await context.new_page()
        await open_widget(reader, demo, article, refresh="0")
        await expect(comment(reader, reply)).to_be_visible()
        assert await comment(reader, reply).locator(".body").get_attribute("dir") == "auto"
        problems = {"thread": await serious(reader)}
        await comment(reader, parent).get_by_role("button", name="Report").click()
        await comment(reader, parent).get_by_label("Something else").check()
        problems["report form"] = await serious(reader)
        await reader.goto(demo.stack.demo_page)
        await expect(widget(reader).locator(".count")).to_be_visible()
        problems["demo page"] = await serious(reader)
        await reader.screenshot(path=screenshot_path(f"widget-axe-{device}"), full_page=True)
    finally:
        await context.close()
    assert {name: found for name, found in problems.items() if found} == {}
