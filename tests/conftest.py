"""Shared fixtures: a real PostgreSQL (the configured server, else an embedded one),
a fresh database per test session, the app over ASGI, and small factories.

Tests isolate by data, not by rollback: each test makes its own site, so requests that
commit through the app's pool (as they do in production) never see another test's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from moderation import db
from moderation.app import create_app
from moderation.config import Settings
from moderation.db import migrations
from moderation.embedded import EmbeddedPostgres, EmbeddedRedis
from moderation.scoring.spam import SpamClassifier
from moderation.sites import Site, SiteSettings, create_site
from tests.factories import Poster
from tests.tiny_model import make_tiny_checkpoint

REPO = Path(__file__).resolve().parent.parent


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server: DATABASE_URL's when set, else an embedded one for the session."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    embedded = EmbeddedPostgres(tmp_path_factory.mktemp("embedded"))
    try:
        yield embedded.url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
async def make_database(server_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Creates empty databases on the test server; drops them when the session ends."""
    created: list[str] = []

    async def make() -> str:
        name = f"moderation_test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        created.append(name)
        return with_database(server_url, name)

    yield make
    admin = await asyncpg.connect(server_url)
    try:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def make_migrated_database(
    make_database: Callable[[], Awaitable[str]],
) -> Callable[[], Awaitable[str]]:
    """Creates databases migrated from empty, as `moderation migrate` would."""

    async def make() -> str:
        url = await make_database()
        conn = await db.connect(url)
        try:
            await migrations.migrate(conn, REPO / "migrations")
        finally:
            await conn.close()
        return url

    return make


@pytest.fixture
async def fresh_url(make_database: Callable[[], Awaitable[str]]) -> str:
    """An empty database of the test's own (for commands that migrate it themselves)."""
    return await make_database()


@pytest.fixture(scope="session")
async def database_url(make_migrated_database: Callable[[], Awaitable[str]]) -> str:
    """The session's database."""
    return await make_migrated_database()


@pytest.fixture
async def own_database_url(make_migrated_database: Callable[[], Awaitable[str]]) -> str:
    """A migrated database of the test's own: nothing another test stored is in it."""
    return await make_migrated_database()


@pytest.fixture(scope="session")
def seed_classifier() -> SpamClassifier:
    """The seed spam classifier, trained once (seconds) for every test that reads it."""
    return SpamClassifier.seed()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url=None,
        site_cache_seconds=0,
        log_json=False,
        access_log=False,
    )


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.7", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection for setting up and checking state outside the app."""
    connection = await db.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """The app's kind of pool, for code that takes one (scoring batches, retraining)."""
    pool = await db.create_pool(settings)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def make_site(conn: asyncpg.Connection) -> Callable[..., Awaitable[Site]]:
    async def make(origins: tuple[str, ...] = ("https://news.example",), **policy: Any) -> Site:
        slug = f"site-{uuid.uuid4().hex[:10]}"
        # Tests post many comments as one author from one address: no rate limits unless
        # a test asks for them.
        policy = {"rate_per_author": 0, "rate_per_address": 0, **policy}
        return await create_site(conn, slug, list(origins), settings=SiteSettings(**policy))

    return make


@pytest.fixture
async def site(make_site: Callable[..., Awaitable[Site]]) -> Site:
    return await make_site()


@pytest.fixture
def poster(app_client: httpx.AsyncClient, site: Site) -> Poster:
    return Poster(app_client, site)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("models")
    make_tiny_checkpoint(directory, "original")
    return directory


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The broker: BROKER_URL's Redis when set, else an embedded one for the session."""
    configured = os.environ.get("BROKER_URL")
    if configured:
        yield configured
        return
    redis = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield redis.url
    finally:
        redis.stop()


@pytest.fixture
def rabbitmq_url() -> str:
    """RABBITMQ_URL (CI gives each run a vhost of its own); the test skips without one."""
    url = os.environ.get("RABBITMQ_URL")
    if not url:
        pytest.skip("RABBITMQ_URL is not set: no RabbitMQ on this machine")
    return url
