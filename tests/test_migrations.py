"""The migration runner: from empty, re-run, concurrent runners, and refusals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from moderation import db
from moderation.db import comments, migrations
from moderation.db import webhooks as webhook_queries
from moderation.db.comments import NewComment
from moderation.errors import MigrationError

REPO_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


# Each migration as released, with its sha256 (`Migration.checksum`). A database records
# these as it migrates and refuses a file that changed since, so an edit has to fail here,
# before it ships. A list in the test rather than a checksum file beside the migrations:
# the runner already checks each database against what it recorded; only tests need this.
_RELEASED = """
0001_initial                       bba4f1762c9c41e3462f6e11ccbcaa0d77906e68c190dde39ba7f525ea7892f2
0002_scoring                       eeb724ba7fd8779e191526448441dc3f60bf66074d00633706faa2601ef4cd38
0003_moderation                    85e8c231ddbb12a50fb4a154c42b54ca296ba1d1dafe8e2ae269118bedadf095
0004_article_titles                162e322c30c4af9296ee6c8d2af6c26ddf1cda53e2e36f2363d75a264050472f
0004_perspective                   0b75d98654ab6bfa650a545204461a4b3e6b5639f69633ad4c6b96b1b8213d5b
0005_scoring_hardware              92b5d78d893beeca3218620d5c0a2dba770ac305c4752f8db0226e0b0b2cf1c4
0007_contract                      9f5f6e73070aefee8a787fea17aa501053665edf7b8f9be0a4316708014b93a8
0008_desk_widget                   3a596540ac9be10dba28b3c9cadfcecc42151f9108652fe27f205f38baab5331
0009_data_in_out                   5d659c861df792b9e87e8f668929f3ec177bc2f486fd318659010c01fd8326ae
0010_decided_webhooks              9bd9e6d7e156a9feacfa23c979a79e211f8635c0302f4beeae3ca82d6cad8f6b
0011_duplicates_index              8ad59d2e92dce92f77632d8ad1fd7ceefc8882ec462d5b23edc35d1c06e19c87
0012_spam_model_format             caac11909019804b9a0bfe6bbcb72a66c04dc9f746c8b5b4e777177ffd8e7261
0013_origins_as_browsers_send_them 5dd9120d50144066abe7aa3b29c4f760b92c7c4ed108e9918c01547a5d88efeb
0014_one_webhook_per_address       b92ce5668e400ac357c2f1f55d304f3cba06fe0706c5484ff406d8563e22fc80
0015_reader_secret                 f605b7a767f20c7b359dc92fe717b758047e31475a4942cd2153a6be79576643
0016_idempotent_requests           bff0e86f6668209ce5bd36b128dcb47a4e0a74ce6739ddaa8a8a17d2f84aa546
0017_erased_reasons                bc10e2399df5accdd03972dfa34cdcbe4dcae5c87645bc5a4864b38cfff3778d
0018_deliveries_of_folded_webhooks 4e74670039817402fbce9b1eaa6b8fe9c2e940e28f5eca696fe43a2d2292c799
0019_pending_since                 e178580162c8ddd9abf9e1b507a380c1c376d19890f5896f2f6ad6dc78ce3a5f
0020_edits_count_in_rate_limits    49465ed73fbe510a29987551e43a5599555feacb5cc9b7b6c6cd61b8764752ed
0021_intake_plans                   26a039db8a6915c975916b77886a2c45486e2a7ae5b51a7d38ebbba713ed6c95
0022_erased_report_reasons          80fa9466db03ff89bb963a58d6dc87aa3ad7fb06760ec79d0bf8aaeaa4fd68c9
"""
RELEASED = {name: checksum for name, checksum in map(str.split, _RELEASED.strip().splitlines())}


@pytest.fixture
async def empty_db(make_database: Callable[[], Awaitable[str]]) -> str:
    return await make_database()


async def run(url: str, directory: Path = REPO_MIGRATIONS) -> list[str]:
    conn = await db.connect(url)
    try:
        return await migrations.migrate(conn, directory)
    finally:
        await conn.close()


async def test_migrating_an_empty_database_applies_everything_and_records_it(
    empty_db: str,
) -> None:
    names = [m.name for m in migrations.discover(REPO_MIGRATIONS)]
    assert names
    assert names == sorted(names)
    assert await run(empty_db) == names

    conn = await asyncpg.connect(empty_db)
    try:
        recorded = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY name")
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
    finally:
        await conn.close()
    assert [r["name"] for r in recorded] == names
    assert all(len(r["checksum"]) == 64 for r in recorded)
    expected = {
        "sites",
        "articles",
        "authors",
        "comments",
        "comment_events",
        "reports",
        "moderators",
        "moderator_sites",
    }
    assert expected <= tables


async def test_running_again_changes_nothing(empty_db: str) -> None:
    await run(empty_db)
    assert await run(empty_db) == []


async def test_two_concurrent_runners_apply_each_migration_once(empty_db: str) -> None:
    first, second = await asyncio.gather(run(empty_db), run(empty_db))
    assert sorted([first, second], key=len) == [
        [],
        [m.name for m in migrations.discover(REPO_MIGRATIONS)],
    ]


async def test_a_database_with_unknown_migrations_is_refused(empty_db: str) -> None:
    await run(empty_db)
    conn = await asyncpg.connect(empty_db)
    try:
        await conn.execute(
            "INSERT INTO schema_migrations (name, checksum) VALUES ('9999_from_the_future', 'x')"
        )
    finally:
        await conn.close()
    with pytest.raises(MigrationError, match="9999_from_the_future"):
        await run(empty_db)


async def test_a_migration_edited_after_it_ran_is_refused(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id int);")
    await run(empty_db, tmp_path)
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id bigint);")
    with pytest.raises(MigrationError, match="0001_first"):
        await run(empty_db, tmp_path)


@pytest.mark.parametrize("name", ["0002_Add-Named.sql", "2_short.sql", "0002 spaced.sql"])
async def test_a_misnamed_migration_is_refused_not_skipped(
    empty_db: str, tmp_path: Path, name: str
) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first (id int);")
    (tmp_path / name).write_text("CREATE TABLE second (id int);")
    with pytest.raises(MigrationError) as refused:
        await run(empty_db, tmp_path)
    assert f": {name}; a migration is NNNN_name.sql (four digits," in refused.value.message


async def test_a_failing_migration_leaves_nothing_half_applied(
    empty_db: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int);\nSELECT broken syntax (;")
    with pytest.raises(MigrationError) as failed:
        await run(empty_db, tmp_path)
    assert failed.value.message == 'migration 0002_bad failed: syntax error at or near "(" (line 2)'
    conn = await asyncpg.connect(empty_db)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('good')") is not None
        pending = await migrations.pending(conn, tmp_path)
    finally:
        await conn.close()
    assert pending == ["0002_bad"]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1/0;", "division by zero"),
        # Not "run moderation migrate", as the CLI says of a table missing elsewhere.
        ("ALTER TABLE no_such_table ADD x int;", 'relation "no_such_table" does not exist'),
        (
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (1);",
            'duplicate key value violates unique constraint "t_pkey"; Key (id)=(1) already exists.',
        ),
    ],
    ids=["runtime", "undefined-table", "with-detail"],
)
async def test_a_failing_migration_is_named_with_the_database_s_message(
    empty_db: str, tmp_path: Path, sql: str, message: str
) -> None:
    (tmp_path / "0001_broken.sql").write_text(sql)
    with pytest.raises(MigrationError) as failed:
        await run(empty_db, tmp_path)
    assert failed.value.message == f"migration 0001_broken failed: {message}"


async def migrate_before(url: str, tmp_path: Path, first_new: str) -> None:
    """Apply the repository's migrations older than `first_new`: a database as the release
    before it left it, holding data the new migration must carry over."""
    for migration in sorted(REPO_MIGRATIONS.glob("*.sql")):
        if migration.name < first_new:
            (tmp_path / migration.name).write_text(migration.read_text())
    await run(url, tmp_path)


async def test_stored_origins_lose_the_default_ports_browsers_never_send(
    empty_db: str, tmp_path: Path
) -> None:
    await migrate_before(empty_db, tmp_path, "0013")
    conn = await asyncpg.connect(empty_db)
    try:
        stored = ["https://a.example:443", "http://b.example:80", "https://a.example"]
        await conn.execute(
            "INSERT INTO sites (slug, name, widget_key, allowed_origins, settings)"
            " VALUES ('s', 's', 'wk_s', $1, '{}')",
            [*stored, "http://c.example:8080", "https://d.example:80"],
        )
        await run(empty_db)
        origins = await conn.fetchval("SELECT allowed_origins FROM sites WHERE slug = 's'")
    finally:
        await conn.close()
    assert origins == [
        "https://a.example",
        "http://b.example",
        "http://c.example:8080",
        "https://d.example:80",
    ]


async def test_live_webhooks_on_one_address_are_folded_into_the_oldest(
    empty_db: str, tmp_path: Path
) -> None:
    await migrate_before(empty_db, tmp_path, "0014")
    conn = await asyncpg.connect(empty_db)
    try:
        site_id = await conn.fetchval(
            "INSERT INTO sites (slug, name, widget_key, allowed_origins, settings)"
            " VALUES ('s', 's', 'wk_s', '{}', '{}') RETURNING id"
        )
        hooks = [
            ("https://a.example/hook", ["comment.decided"], False),
            ("https://a.example/hook", ["comment.created", "comment.decided"], False),
            ("https://a.example/hook", ["author.status_changed"], True),  # removed already
            ("https://b.example/hook", ["comment.created"], False),
        ]
        for url, events, removed in hooks:
            await conn.execute(
                "INSERT INTO webhooks (site_id, url, events, secret, removed_at)"
                " VALUES ($1, $2, $3, 'whsec_x', CASE WHEN $4 THEN now() END)",
                site_id, url, events, removed,
            )  # fmt: skip
        await run(empty_db)
        live = await conn.fetch(
            "SELECT id, url, events FROM webhooks WHERE removed_at IS NULL ORDER BY id"
        )
    finally:
        await conn.close()
    assert [(row["id"], row["url"], row["events"]) for row in live] == [
        (1, "https://a.example/hook", ["comment.created", "comment.decided"]),
        (4, "https://b.example/hook", ["comment.created"]),
    ]


async def test_pending_deliveries_of_webhooks_folded_by_0014_are_sent_by_the_kept_one(
    empty_db: str, tmp_path: Path
) -> None:
    await migrate_before(empty_db, tmp_path, "0014")
    conn = await db.connect(empty_db)
    try:
        site_id, _ = await site_and_story(conn)
        hooks = [
            ("https://a.example/hook", ["comment.created"]),  # kept by 0014
            ("https://a.example/hook", ["comment.created", "author.status_changed"]),
            ("https://a.example/hook", ["author.status_changed"]),
            ("https://b.example/hook", ["comment.created"]),  # removed below, on its own
        ]
        kept, *_ = [
            await conn.fetchval(
                "INSERT INTO webhooks (site_id, url, events, secret)"
                " VALUES ($1, $2, $3, 'whsec_x') RETURNING id",
                site_id,
                url,
                events,
            )
            for url, events in hooks
        ]
        for event in ("comment.created", "author.status_changed"):
            await conn.execute("SELECT record_webhook_event($1, $2, NULL, '{}')", site_id, event)
        await conn.execute(
            "UPDATE webhooks SET removed_at = now() WHERE url = 'https://b.example/hook'"
        )
        await run(empty_db)
        claimed = await webhook_queries.claim_due(conn, 10, 60)
        claimed_again = await webhook_queries.claim_due(conn, 10, 60)
        standing = await conn.fetch(
            "SELECT d.webhook_id, d.state, e.type FROM webhook_deliveries AS d"
            " JOIN webhook_events AS e ON e.id = d.event_id"
        )
    finally:
        await conn.close()
    sent = [
        ("https://a.example/hook", "author.status_changed"),
        ("https://a.example/hook", "comment.created"),
    ]
    assert sorted((row["url"], row["type"]) for row in claimed) == sent
    assert claimed_again == []
    # One delivery of each event stays, on the kept webhook; the removed ones' are cancelled.
    assert sorted((r["webhook_id"], r["type"]) for r in standing if r["state"] == "pending") == [
        (kept, "author.status_changed"),
        (kept, "comment.created"),
    ]
    assert sorted(r["state"] for r in standing) == ["cancelled"] * 3 + ["pending"] * 2


async def site_and_story(conn: asyncpg.Connection) -> tuple[int, int]:
    """A site "s" and its article "story", inserted as an older release's schema has them."""
    site_id = await conn.fetchval(
        "INSERT INTO sites (slug, name, widget_key, allowed_origins, settings)"
        " VALUES ('s', 's', 'wk_s', '{}', '{}') RETURNING id"
    )
    article_id = await conn.fetchval(
        "INSERT INTO articles (site_id, external_id) VALUES ($1, 'story') RETURNING id", site_id
    )
    return site_id, article_id


async def test_comments_posted_before_0016_replay_the_request_they_came_from(
    empty_db: str, tmp_path: Path
) -> None:
    await migrate_before(empty_db, tmp_path, "0016")
    conn = await db.connect(empty_db)
    try:
        site_id, article_id = await site_and_story(conn)
        author_id = await conn.fetchval(
            "INSERT INTO authors (site_id, external_id, name) VALUES ($1, 'u1', 'Ann')"
            " RETURNING id",
            site_id,
        )
        # Posted as "Once" with a key, then edited by its poster.
        comment_id = await conn.fetchval(
            "INSERT INTO comments (site_id, article_id, author_id, author_name, body,"
            " idempotency_key) VALUES ($1, $2, $3, 'Ann', 'Twice', 'k-1') RETURNING id",
            site_id, article_id, author_id,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO comment_events (comment_id, actor, from_status, to_status, reason,"
            " kind, previous_body) VALUES ($1, 'reader', 'pending', 'pending', 'edited',"
            " 'edited', 'Once')",
            comment_id,
        )
        await run(empty_db)
        replays = [
            await comments.intake(conn, _resent(site_id, body)) for body in ("Once", "Twice")
        ]
    finally:
        await conn.close()
    assert [(r["earlier_id"], r["earlier_same"]) for r in replays] == [
        (comment_id, True),
        (comment_id, False),
    ]


async def test_authors_erased_before_0017_lose_the_reasons_that_quoted_them(
    empty_db: str, tmp_path: Path
) -> None:
    await migrate_before(empty_db, tmp_path, "0017")
    conn = await db.connect(empty_db)
    try:
        site_id, article_id = await site_and_story(conn)
        erased, kept = [
            await conn.fetchval(
                "INSERT INTO authors (site_id, external_id, name) VALUES ($1, $2, $2) RETURNING id",
                site_id,
                name,
            )
            for name in ("eve", "ann")
        ]
        quoted = "contact phrase 'whatsapp +44 7700 900123'"
        for author_id in (erased, kept):
            comment_id = await conn.fetchval(
                "INSERT INTO comments (site_id, article_id, author_id, author_name, body)"
                " VALUES ($1, $2, $3, '', '') RETURNING id",
                site_id, article_id, author_id,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO comment_events (comment_id, actor, from_status, to_status,"
                " reason) VALUES ($1, 'system', 'pending', 'spam', $2)",
                comment_id, quoted,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO webhook_events (site_id, type, author_id, payload)"
                " VALUES ($1, 'comment.decided', $2, jsonb_build_object('reason', $3::text))",
                site_id, author_id, quoted,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO author_events (author_id, from_status, to_status, reason)"
                " VALUES ($1, 'normal', 'banned', $2)",
                author_id,
                quoted,
            )
        await conn.execute(
            "UPDATE authors SET erased_at = now() + interval '1 second', erased_by = 'admin'"
            " WHERE id = $1",
            erased,
        )
        await run(empty_db)
        audit = await conn.fetch(
            "SELECT c.author_id, e.reason FROM comment_events AS e"
            " JOIN comments AS c ON c.id = e.comment_id"
        )
        standing = await conn.fetch("SELECT author_id, reason FROM author_events")
        sent = await conn.fetch(
            "SELECT author_id, payload ->> 'reason' AS reason FROM webhook_events"
            " WHERE type = 'comment.decided'"
        )
    finally:
        await conn.close()
    expected = {erased: "author's data erased", kept: quoted}
    assert {row["author_id"]: row["reason"] for row in audit} == expected
    assert {row["author_id"]: row["reason"] for row in standing} == expected
    assert {row["author_id"]: row["reason"] for row in sent} == expected


async def test_authors_erased_before_0022_lose_the_report_reasons_that_quoted_them(
    empty_db: str, tmp_path: Path
) -> None:
    await migrate_before(empty_db, tmp_path, "0022")
    conn = await db.connect(empty_db)
    try:
        site_id, article_id = await site_and_story(conn)
        quoted = "she posted her number, 07700 900123"
        for name in ("eve", "ann"):
            author_id = await conn.fetchval(
                "INSERT INTO authors (site_id, external_id, name) VALUES ($1, $2, $2) RETURNING id",
                site_id,
                name,
            )
            comment_id = await conn.fetchval(
                "INSERT INTO comments (site_id, article_id, author_id, author_name, body,"
                " status) VALUES ($1, $2, $3, $4, 'text', 'approved') RETURNING id",
                site_id, article_id, author_id, name,
            )  # fmt: skip
            # The trigger records the comment.reported event, were a webhook subscribed.
            await conn.execute(
                "INSERT INTO reports (comment_id, reason) VALUES ($1, $2)", comment_id, quoted
            )
            await conn.execute(
                "INSERT INTO webhook_events (site_id, type, author_id, payload)"
                " VALUES ($1, 'comment.reported', $2,"
                " jsonb_build_object('report', jsonb_build_object('id', 1, 'reason', $3::text)))",
                site_id, author_id, quoted,
            )  # fmt: skip
        await conn.execute(
            "UPDATE authors SET erased_at = now() + interval '1 second', erased_by = 'admin'"
            " WHERE external_id = 'eve'"
        )
        await run(empty_db)
        reports = await conn.fetch(
            "SELECT a.external_id, r.reason FROM reports AS r"
            " JOIN comments AS c ON c.id = r.comment_id JOIN authors AS a ON a.id = c.author_id"
        )
        sent = await conn.fetch(
            "SELECT a.external_id, w.payload #>> '{report,reason}' AS reason,"
            " w.payload #>> '{report,id}' AS id FROM webhook_events AS w"
            " JOIN authors AS a ON a.id = w.author_id WHERE w.type = 'comment.reported'"
        )
    finally:
        await conn.close()
    expected = {"eve": "author's data erased", "ann": quoted}
    assert {row["external_id"]: row["reason"] for row in reports} == expected
    assert {row["external_id"]: row["reason"] for row in sent} == expected
    assert {row["id"] for row in sent} == {"1"}  # the rest of the report stays


async def test_comments_pending_before_0019_wait_from_their_post_or_last_edit(
    empty_db: str, tmp_path: Path
) -> None:
    await migrate_before(empty_db, tmp_path, "0019")
    conn = await db.connect(empty_db)
    try:
        site_id, article_id = await site_and_story(conn)
        # Seconds ago: (posted, edited).
        times = {"posted": (3600, None), "edited": (3600, 60)}
        for body, (posted, edited) in times.items():
            await conn.execute(
                "INSERT INTO comments (site_id, article_id, author_name, body, created_at,"
                " edited_at) VALUES ($1, $2, '', $3, now() - make_interval(secs => $4),"
                " now() - make_interval(secs => $5))",
                site_id, article_id, body, posted, edited,
            )  # fmt: skip
        await run(empty_db)
        # Which of its own times each waits from: no reading of the clock to round.
        since = await conn.fetch(
            "SELECT body, CASE pending_since WHEN created_at THEN 'posted'"
            " WHEN edited_at THEN 'edited' END AS since FROM comments"
        )
    finally:
        await conn.close()
    assert {row["body"]: row["since"] for row in since} == {"posted": "posted", "edited": "edited"}


def _resent(site_id: int, body: str) -> NewComment:
    """Ann's post to "story" with key k-1, sent again."""
    return NewComment(
        site_id=site_id,
        article="story",
        author_external_id="u1",
        author_name="Ann",
        body=body,
        fingerprint="",
        parent_id=None,
        client_addr=None,
        user_agent=None,
        idempotency_key="k-1",
        rate_window_seconds=60,
        rate_per_author=0,
        rate_per_address=0,
    )


def _shipped() -> dict[str, str]:
    return {m.name: m.checksum for m in migrations.discover(REPO_MIGRATIONS)}


def test_released_migrations_are_never_edited() -> None:
    shipped = _shipped()
    edited = sorted(name for name, checksum in RELEASED.items() if shipped.get(name) != checksum)
    assert not edited, (
        f"{', '.join(edited)} changed or gone: migrations are append-only once released "
        "(databases that ran them refuse the changed file); restore them and add a new migration"
    )


def test_every_migration_is_in_the_released_list() -> None:
    unlisted = [
        f"{name} {checksum}" for name, checksum in _shipped().items() if name not in RELEASED
    ]
    assert not unlisted, f"add each new migration to _RELEASED once final: {'; '.join(unlisted)}"
