"""Per-site spam retraining against a real database: each site's moderators teach its own
model, weighted above the seed, and workers pick up each site's newest one."""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from moderation import moderators, privacy
from moderation.db import scoring as scoring_queries
from moderation.db import transitions
from moderation.scoring.retrain import (
    SITE_LINK_CAP,
    SITE_WEIGHT,
    retrain_spam,
    site_classifier,
    site_link_cap,
)
from moderation.scoring.site_spam import SiteSpamModels
from moderation.scoring.spam import (
    LINK_LOGIT_CAP,
    MODEL_FORMAT,
    SpamClassifier,
    SpamContext,
    load_seed_corpus,
)
from moderation.sites import Site
from tests.factories import Poster

# A campaign the seed never saw: praise signed with a business's name.
PROBE = "Interesting read. Regards from the Golden Maple Realty team"
CAMPAIGN = [
    f"{opening} Regards from the Golden Maple Realty team, {town}"
    for opening, town in zip(
        ["Great article!", "Well said.", "So true.", "Thanks for this."] * 3,
        ["Leeds", "York", "Hull", "Bath", "Ely", "Wells"] * 2,
        strict=True,
    )
]
HONEST = [
    "The council should publish the full budget before the vote.",
    "I walked past the new bus lane today and it was empty.",
    "My daughter's school lost two teachers this year.",
]


async def label(
    conn: asyncpg.Connection,
    poster: Poster,
    bodies: list[str],
    to: Any,
    author: dict[str, str] | None = None,
) -> None:
    """Post `bodies` (by `author`, else the poster's default one) and have a moderator of
    the site decide them `to` (spam or approved)."""
    moderator_id, _ = await moderators.create(conn, "Mo", "moderator", [poster.site.id])
    for body in bodies:
        comment_id = await poster.comment(body=body, author=author)
        await transitions.transition(
            conn, [transitions.Change(comment_id, "pending", "review", "held")]
        )
        change = transitions.Change(comment_id, "review", to, "moderator", (), moderator_id)
        assert await transitions.transition(conn, [change])


async def newest_model(conn: asyncpg.Connection, site: Site) -> int:
    model_id: int = await conn.fetchval(
        "SELECT max(id) FROM spam_models WHERE site_id = $1", site.id
    )
    return model_id


async def test_a_sites_moderators_teach_its_own_model_and_no_other_site(
    poster: Poster,
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    make_site: Callable[..., Awaitable[Site]],
    seed_classifier: SpamClassifier,
) -> None:
    other = await make_site()
    await label(conn, poster, CAMPAIGN, "spam")
    await label(conn, poster, HONEST, "approved")

    trained = await retrain_spam(pool)  # other tests' sites may be retrained too

    model_id = await newest_model(conn, poster.site)
    assert model_id in trained
    models = SiteSpamModels(seed_classifier)
    await models.refresh(conn, [poster.site.id, other.id])
    assert models.model_id(poster.site.id) == model_id
    assert models.model_id(other.id) == 0
    site, elsewhere = models.probabilities(
        [SpamContext(PROBE, "", True, 0, 0, 0, site_id=s) for s in (poster.site.id, other.id)]
    )
    assert site > 0.8
    assert elsewhere == seed_classifier.predict([PROBE])[0] < 0.5
    decisions = await conn.fetchval("SELECT decisions FROM spam_models WHERE id = $1", model_id)
    assert decisions == len(CAMPAIGN + HONEST)


async def test_retraining_runs_only_for_sites_with_new_decisions(
    poster: Poster, conn: asyncpg.Connection, pool: asyncpg.Pool, seed_classifier: SpamClassifier
) -> None:
    await label(conn, poster, CAMPAIGN[:4], "spam")
    await retrain_spam(pool)
    first = await newest_model(conn, poster.site)
    assert first not in await retrain_spam(pool)
    assert await newest_model(conn, poster.site) == first

    await label(conn, poster, HONEST[:1], "approved")
    retrained = await retrain_spam(pool)
    assert await newest_model(conn, poster.site) in retrained
    models = SiteSpamModels(seed_classifier)
    await models.refresh(conn, [poster.site.id])
    assert models.model_id(poster.site.id) == await newest_model(conn, poster.site) > first


async def test_erasing_an_author_drops_the_models_that_learned_their_words(
    poster: Poster, conn: asyncpg.Connection, pool: asyncpg.Pool, seed_classifier: SpamClassifier
) -> None:
    realtor = {"id": "realtor", "name": "Golden Maple"}
    await label(conn, poster, CAMPAIGN, "spam", author=realtor)
    await label(conn, poster, HONEST, "approved")
    await retrain_spam(pool)

    async def blobs() -> list[bytes]:
        rows = await conn.fetch("SELECT model FROM spam_models WHERE site_id = $1", poster.site.id)
        # The pickled classifier, after the format's header line.
        return [zlib.decompress(row["model"].split(b"\n", 2)[2]) for row in rows]

    assert any(b"maple" in blob for blob in await blobs())  # the campaign's own word
    author_id = await conn.fetchval(
        "SELECT id FROM authors WHERE site_id = $1 AND external_id = 'realtor'", poster.site.id
    )
    models = SiteSpamModels(seed_classifier)
    await models.refresh(conn, [poster.site.id])
    assert models.model_id(poster.site.id) == await newest_model(conn, poster.site)
    erased = await privacy.erase(conn, author_id, "test")
    assert erased["spam_models_dropped"] == 1
    assert await blobs() == []
    # A worker holding the deleted model lets it go, for the seed's.
    await models.refresh(conn, [poster.site.id])
    assert models.classifier(poster.site.id) is models.seed
    # Beat trains the site again, from the decisions left: none of the erased words.
    await retrain_spam(pool)
    assert len(await blobs()) == 1
    assert not any(b"maple" in blob for blob in await blobs())


async def test_a_model_trained_while_its_author_was_erased_is_not_stored(
    poster: Poster, conn: asyncpg.Connection
) -> None:
    realtor = {"id": "realtor", "name": "Golden Maple"}
    await label(conn, poster, CAMPAIGN[:4], "spam", author=realtor)
    await label(conn, poster, HONEST, "approved")
    newest = await conn.fetchval("SELECT max(id) FROM comment_events")
    labelled = await scoring_queries.spam_labels(conn, poster.site.id, newest)
    # Beat has read the labels and trains; meanwhile an admin erases the author.
    author_id = await conn.fetchval(
        "SELECT id FROM authors WHERE site_id = $1 AND external_id = 'realtor'", poster.site.id
    )
    assert (await privacy.erase(conn, author_id, "test"))["spam_models_dropped"] == 0
    stored = await scoring_queries.store_spam_model(
        conn,
        poster.site.id,
        b"a model with their words",
        MODEL_FORMAT,
        len(labelled),
        len(labelled),
        newest,
        0,
        [row["comment_id"] for row in labelled],
    )
    assert stored is None
    assert (
        await conn.fetchval("SELECT count(*) FROM spam_models WHERE site_id = $1", poster.site.id)
        == 0
    )


async def test_a_site_whose_model_this_release_cannot_load_is_retrained_once(
    poster: Poster, conn: asyncpg.Connection, pool: asyncpg.Pool
) -> None:
    await label(conn, poster, CAMPAIGN[:4], "spam")
    await retrain_spam(pool)
    first = await newest_model(conn, poster.site)
    assert await conn.fetchval("SELECT format FROM spam_models WHERE id = $1", first) == (
        MODEL_FORMAT
    )
    # As an upgrade of the pipeline or of scikit-learn leaves it: no new decision since.
    await conn.execute(
        "UPDATE spam_models SET format = '2 scikit-learn 1.5.0' WHERE id = $1", first
    )

    retrained = await retrain_spam(pool)
    newest = await newest_model(conn, poster.site)
    assert newest > first
    assert newest in retrained
    await retrain_spam(pool)
    assert await newest_model(conn, poster.site) == newest


async def test_a_blob_that_will_not_load_keeps_the_previous_model_and_is_not_refetched(
    poster: Poster, conn: asyncpg.Connection, seed_classifier: SpamClassifier
) -> None:
    bad = await conn.fetchval(
        "INSERT INTO spam_models (site_id, model, samples, decisions, last_event_id) "
        "VALUES ($1, 'not a model', 1, 1, 0) RETURNING id",
        poster.site.id,
    )
    models = SiteSpamModels(seed_classifier)
    await models.refresh(conn, [poster.site.id])
    assert models.model_id(poster.site.id) == bad
    assert models.classifier(poster.site.id) is seed_classifier


def test_site_labels_weigh_more_than_the_seed_and_learn_words_of_their_own() -> None:
    texts, labels = load_seed_corpus()
    few = CAMPAIGN[:3]
    adapted = site_classifier(texts, labels, few, [1] * len(few))
    weights = [1.0] * len(texts) + [SITE_WEIGHT] * len(few)
    weighted = SpamClassifier.train(texts + few, labels + [1] * len(few), weights)
    unweighted = SpamClassifier.train(texts + few, labels + [1] * len(few))
    assert SITE_WEIGHT > 1
    [probe_adapted], [probe_weighted], [probe_unweighted] = (
        model.predict([PROBE]) for model in (adapted, weighted, unweighted)
    )
    # The site's own copies of its words take it further than the weight alone.
    assert probe_adapted > probe_weighted > probe_unweighted
    # And the model is still one of the seed's features, as stored and loaded.
    loaded = SpamClassifier.from_bytes(adapted.to_bytes())
    assert loaded.predict([PROBE, HONEST[0]]) == adapted.predict([PROBE, HONEST[0]])


def test_links_count_for_more_only_where_moderators_mark_links_spam() -> None:
    links_spam = [f"great deals at shop{n}.example.com/sale" for n in range(10)]
    sources = [f"Source: https://www.bbc.com/news/uk-{n}" for n in range(10)]
    assert site_link_cap(links_spam, [1] * 10) == SITE_LINK_CAP
    assert site_link_cap(links_spam[:2], [1, 1]) == pytest.approx(1.61, abs=0.01)
    assert site_link_cap(sources, [0] * 10) == LINK_LOGIT_CAP
    assert site_link_cap(links_spam + sources, [1] * 10 + [0] * 10) == LINK_LOGIT_CAP
    assert site_link_cap(HONEST, [1, 1, 1]) == LINK_LOGIT_CAP  # no links: nothing learned
