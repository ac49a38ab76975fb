"""Browser tests' shared parts: headless Chromium via Playwright, and a running stack.

The stack is `moderation dev` itself (API, demo page on its own port, a Celery worker
with the tiny detoxify model, beat), against the test PostgreSQL and broker.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from tests.workers import Process, free_port, wait_stack_ready, worker_env

# The Chromium `make test` found (see the Makefile's `browser` target).
CHROMIUM = os.environ.get("MODERATION_CHROMIUM") or shutil.which("chromium") or "chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A phone as the browser tests hold one.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
# CI keeps these as artifacts; README names the folder.
SCREENSHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"


@dataclass(frozen=True)
class Stack:
    api: str
    demo_page: str
    desk: str
    site: str
    key: str
    token: str
    process: Process
    # The stack's own database, for tests that set up what no API does (a second moderator).
    database_url: str = ""


def _printed(output: str, pattern: str) -> str:
    match = re.search(pattern, output)
    assert match, output
    return match.group(1)


def start_stack(
    tmp_path: Path, database_url: str, broker_url: str, models: Path, port: int
) -> Stack:
    env = worker_env(database_url, broker_url, models, MODERATION_DATA_DIR=str(tmp_path / "data"))
    process = Process(["dev", "--port", str(port)], env, tmp_path / "dev.log")
    base = f"http://127.0.0.1:{port}"
    wait_stack_ready(base, lambda: process.popen.poll() is None, process.output, 120)
    output = process.output()
    return Stack(
        api=base,
        demo_page=_printed(output, r"demo page:\s+(\S+)"),
        desk=_printed(output, r"desk:\s+(\S+)"),
        site=_printed(output, r"demo site:\s+(\S+)"),
        key=_printed(output, r"widget key: (\S+)"),
        token=_printed(output, r"token: (\S+)"),
        process=process,
        database_url=database_url,
    )


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, WCAG 2.2 target size included
    (axe-core runs inside the page, open shadow roots such as the widget's included)."""
    results = await Axe().run(
        page,
        options={"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}},
    )
    return [
        f"{violation['id']}: {node['target']} {node.get('failureSummary', '')}"
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
        for node in violation["nodes"]
    ]


async def open_desk(page: Page, stack: Stack, token: str) -> None:
    """Signs in to the desk with `token` as a moderator does; on its review queue, live."""
    await page.goto(stack.desk)
    await page.fill("#token", token)
    await page.click("form.signin button[type=submit]")
    await page.wait_for_url(re.compile(r"/queues/review$"))
    await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=15_000)


def card(page: Page, comment_id: int) -> Locator:
    """A comment's card in the desk's queue."""
    return page.locator(f'li.card[data-id="{comment_id}"]')


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


@pytest.fixture(scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory,
    make_database: Callable[[], Awaitable[str]],
    redis_url: str,
    models_dir: Path,
) -> AsyncIterator[Stack]:
    """`moderation dev` on a database of its own, with the tiny model in its worker."""
    url = await make_database()
    started = start_stack(
        tmp_path_factory.mktemp("stack"), url, redis_url, models_dir, free_port(2)
    )
    try:
        yield started
    finally:
        started.process.stop()
