"""An article as its site's moderators change it: open or closed to comments, and the
title and page address that queues, exports and feeds show. The API
(`PUT /v1/moderation/sites/{site}/articles/{article}`) and the desk's article page both
change it here: one check of the address, one audit record."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator
from typing_extensions import TypedDict

from moderation.db import Connection
from moderation.db import sites as site_queries
from moderation.db import threads as thread_queries
from moderation.errors import ValidationFailed
from moderation.payloads import (
    PAGE_TITLE_LENGTH,
    PAGE_URL_LENGTH,
    Line,
    Payload,
    page_url,
    web_address,
)
from moderation.sites import Site


class ArticleIn(Payload):
    """What the site changes on an article; what it leaves out (or sends as null) stays."""

    open: bool | None = None
    title: Line | None = Field(default=None, max_length=PAGE_TITLE_LENGTH)
    url: Annotated[Line, AfterValidator(web_address)] | None = Field(
        default=None, max_length=PAGE_URL_LENGTH
    )

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.open is None and self.title is None and self.url is None:
            raise ValueError("send open, title or url")
        return self


class ArticleState(TypedDict):
    id: str
    open: bool
    title: str | None
    url: str | None


async def load(conn: Connection, site: Site, article: str) -> ArticleState | None:
    """The article's state, None when no comment or moderator has made it yet."""
    row = await thread_queries.get_article(conn, site.id, article)
    if row is None:
        return None
    return _state(article, row["is_open"], row["title"], row["url"])


async def change(
    conn: Connection, site: Site, moderator_id: int, article: str, wanted: ArticleIn
) -> ArticleState:
    """Apply `wanted` to the site's article (creating it if no comment has yet) and audit
    it; a `url` off the site's allowed origins is refused (`foreign_url`)."""
    if wanted.url is not None and not site.owns_address(wanted.url):
        raise ValidationFailed(
            "url: must be on one of the site's allowed origins", field="url", code="foreign_url"
        )
    async with conn.transaction():
        row = await thread_queries.change_article(
            conn, site.id, article, wanted.open, wanted.title, wanted.url
        )
        await site_queries.record_event(
            conn,
            site.id,
            moderator_id,
            "article",
            {
                "article": article,
                "open": row["was_open"],
                "title": row["was_title"],
                "url": row["was_url"],
            },
            {"article": article, "open": row["is_open"], "title": row["title"], "url": row["url"]},
        )
    return _state(article, row["is_open"], row["title"], row["url"])


def _state(article: str, is_open: bool, title: str | None, url: str | None) -> ArticleState:
    # One stored before addresses were checked is no link to follow.
    return {"id": article, "open": is_open, "title": title, "url": page_url(url)}
