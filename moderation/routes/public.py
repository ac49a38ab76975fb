"""Routes for site widgets and readers: post, read threads, find a comment, count, report."""

from __future__ import annotations

from typing import Literal, cast

import asyncpg
import orjson
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typing_extensions import TypedDict

from moderation import intake, threads
from moderation.broker import ScoringWakeups
from moderation.db import reports as report_queries
from moderation.db import threads as thread_queries
from moderation.errors import BadRequest, NotFound
from moderation.http.access import path_site, widget_site
from moderation.http.bodies import read_payload
from moderation.http.conditional import still_current
from moderation.http.params import article_id, path_article, path_id, query_choice, query_int
from moderation.http.responses import JSONResponse
from moderation.payloads import Payload, Text
from moderation.sites import SiteSettings

_MAX_COUNTED_ARTICLES = 100
_MAX_USER_AGENT = 512


class CommentAccepted(TypedDict):
    id: int
    status: Literal["pending"]
    secret: str


class Counts(TypedDict):
    counts: dict[str, int]


class Reported(TypedDict):
    reported: bool


class CommentPlace(TypedDict):
    id: int
    article: str


def _client(request: Request) -> intake.Client:
    address = request.client.host if request.client else None
    user_agent = request.headers.get("user-agent")
    # Kept for spam scoring; no honest browser sends more than this.
    return intake.Client(address, user_agent[:_MAX_USER_AGENT] if user_agent else None)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (1 <= len(key) <= 200 and key.isascii() and key.isprintable()):
        raise BadRequest(
            "Idempotency-Key must be 1 to 200 printable ASCII characters", field="Idempotency-Key"
        )
    return key


async def post_comment(request: Request) -> Response:
    """
    summary: Post a comment on an article
    description: >
      Stores the comment as `pending` and answers 202; scoring decides it later.
      Needs the site's widget key in `X-Site-Key`. An `Idempotency-Key` header makes a
      retried request return the first result instead of storing a second comment.
      The answer's `secret` is the poster's alone: with it they can ask the comment's
      state (`POST .../comments/states`), edit or delete it (a retry's answer carries a
      new secret that replaces the first).
    tags: [widget]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: article, in: path, required: true, schema: {type: string, maxLength: 200}}
      - {name: X-Site-Key, in: header, required: true, schema: {type: string}}
      - {name: Idempotency-Key, in: header, schema: {type: string, maxLength: 200}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/CommentIn'}
    responses:
      202:
        description: "Stored as pending; `secret` lets this poster see, edit and delete it"
        content: {application/json: {schema: {$ref: '#/components/schemas/CommentAccepted'}}}
      401:
        description: >
          Missing or wrong site key; or `author_unverified`: an author id on a site
          that signs its readers' ids, without its valid `author.token`
      403: {description: Banned author}
      409: {description: "Article or site closed; Idempotency-Key reused for another comment"}
      413: {description: Request body too large}
      415: {description: Not application/json}
      422:
        description: >
          A field is missing, empty, too long or invalid; or `author_required`: no
          author id on a site that takes no anonymous comments
      429: {description: "Rate limited; see Retry-After"}
    """
    site = await widget_site(request)
    article = path_article(request)
    key = _idempotency_key(request)
    comment = await read_payload(request, intake.CommentIn)
    async with request.state.pool.acquire() as conn:
        accepted = await intake.accept(conn, site, article, comment, _client(request), key)
    if accepted.created:
        cast(ScoringWakeups, request.state.scoring).notify(accepted.comment_id)
    body: CommentAccepted = {
        "id": accepted.comment_id,
        "status": "pending",
        "secret": accepted.secret,
    }
    return JSONResponse(body, status_code=202, headers={"Cache-Control": "no-store"})


async def get_thread(request: Request) -> Response:
    """
    summary: Read an article's approved comments as threads
    description: >
      Top-level comments with their replies nested, one page at a time. Pass the
      `next_cursor` of a page as `cursor` for the next. `site.max_length` is the
      longest comment the site takes, in characters, and `site.open` whether it takes
      comments at all; `article.open` is false when either the article or the site is
      closed. Answers 304 to a matching `If-None-Match`.
    tags: [reader]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: article, in: path, required: true, schema: {type: string, maxLength: 200}}
      - {name: sort, in: query, schema: {type: string, enum: [oldest, newest]}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100}}
      - {name: cursor, in: query, schema: {type: string}}
      - {name: If-None-Match, in: header, schema: {type: string}}
    responses:
      200:
        description: A page of threads, and the cursor of the next (null after the last)
        content: {application/json: {schema: {$ref: '#/components/schemas/ThreadPage'}}}
      304: {description: Not modified}
      404: {description: Unknown site}
    """
    site = await path_site(request)
    article_id = path_article(request)
    sort = cast(threads.Sort, query_choice(request, "sort", ("oldest", "newest"), "oldest"))
    limit = query_int(request, "limit", default=20, low=1, high=100)
    raw_cursor = request.query_params.get("cursor")
    cursor = threads.Cursor.decode(raw_cursor, sort) if raw_cursor else None
    pages = cast(threads.PageCache, request.state.pages)
    async with request.state.pool.acquire() as conn:
        article = await thread_queries.get_article(conn, site.id, article_id)
        headers, current = _freshness(request, article, site.settings)
        if current:
            return Response(status_code=304, headers=headers)
        if article is None:
            empty: threads.ThreadPage = {
                "article": {
                    "id": article_id,
                    "open": site.settings.comments_open,
                    "approved_count": 0,
                    "featured_count": 0,
                },
                "site": threads.describe_site(site.settings),
                "threads": [],
                "next_cursor": None,
            }
            return JSONResponse(empty, headers=headers)
        key = (headers["ETag"], sort, limit, raw_cursor)
        body = pages.get(key)
        if body is None:
            body = orjson.dumps(
                await threads.page(conn, article, site.settings, sort, limit, cursor)
            )
            pages.put(key, body)
    return Response(body, media_type="application/json", headers=headers)


async def get_featured(request: Request) -> Response:
    """
    summary: An article's featured comments
    description: >
      Approved comments the moderators featured, most recently featured first (at most
      50). Answers 304 to a matching `If-None-Match` (the thread's ETag).
    tags: [reader]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: article, in: path, required: true, schema: {type: string, maxLength: 200}}
      - {name: If-None-Match, in: header, schema: {type: string}}
    responses:
      200:
        description: "The featured comments (`article` is null for an article never commented)"
        content: {application/json: {schema: {$ref: '#/components/schemas/FeaturedPage'}}}
      304: {description: Not modified}
      400: {description: A bad article id}
      404: {description: Unknown site}
    """
    site = await path_site(request)
    article_id = path_article(request)
    async with request.state.pool.acquire() as conn:
        article = await thread_queries.get_article(conn, site.id, article_id)
        headers, current = _freshness(request, article, site.settings)
        if current:
            return Response(status_code=304, headers=headers)
        if article is None:
            nothing: threads.FeaturedPage = {"article": None, "comments": []}
            return JSONResponse(nothing, headers=headers)
        body = await threads.featured(conn, article, site.settings)
    return JSONResponse(body, headers=headers)


async def get_comment_place(request: Request) -> Response:
    """
    summary: The article a published comment is on
    description: >
      For a link to one comment (`#comment-ID`): the widget of the article that holds it
      pages to it, the widgets of other articles on the same page leave it alone.
    tags: [reader]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      200:
        description: The comment's article
        content: {application/json: {schema: {$ref: '#/components/schemas/CommentPlace'}}}
      400: {description: A bad comment id}
      404: {description: "Unknown site, or no comment readers can see there"}
    """
    site = await path_site(request)
    comment_id = path_id(request, "comment")
    async with request.state.pool.acquire() as conn:
        article = await thread_queries.visible_article(conn, site.id, comment_id)
    if article is None:
        raise NotFound(f"no visible comment {comment_id} on this site", field="comment")
    place: CommentPlace = {"id": comment_id, "article": article}
    return JSONResponse(place, headers={"Cache-Control": "public, max-age=5"})


def _freshness(
    request: Request, article: asyncpg.Record | None, settings: SiteSettings
) -> tuple[dict[str, str], bool]:
    """The cache headers of the article's thread (its ETag), and whether the client's copy,
    named in `If-None-Match`, is still current."""
    tag = threads.etag(article, settings)
    return {"ETag": tag, "Cache-Control": "public, max-age=5"}, still_current(request, tag)


async def get_counts(request: Request) -> Response:
    """
    summary: Approved-comment counts for many articles at once
    tags: [reader]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: article, in: query, required: true, schema: {type: array, items: {type: string}},
         style: form, explode: true}
    responses:
      200:
        description: "Each article's count of approved comments; unknown articles count 0"
        content: {application/json: {schema: {$ref: '#/components/schemas/Counts'}}}
      400: {description: "No article, too many, or an id that no article can have"}
      404: {description: Unknown site}
    """
    site = await path_site(request)
    articles = [article_id(a) for a in dict.fromkeys(request.query_params.getlist("article"))]
    if not articles or len(articles) > _MAX_COUNTED_ARTICLES:
        raise BadRequest(f"give 1 to {_MAX_COUNTED_ARTICLES} article parameters", field="article")
    async with request.state.pool.acquire() as conn:
        counts = await thread_queries.approved_counts(conn, site.id, articles)
    body: Counts = {"counts": {a: counts.get(a, 0) for a in articles}}
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=5"})


class ReportIn(Payload):
    reason: Text = Field(min_length=1, max_length=500)


async def post_report(request: Request) -> Response:
    """
    summary: Report a comment to the moderators
    tags: [widget]
    parameters:
      - {name: site, in: path, required: true, schema: {type: string}}
      - {name: comment, in: path, required: true, schema: {type: integer, minimum: 1}}
      - {name: X-Site-Key, in: header, required: true, schema: {type: string}}
    requestBody:
      content:
        application/json:
          schema: {$ref: '#/components/schemas/ReportIn'}
    responses:
      202:
        description: "Recorded (a repeat report from the same address counts once)"
        content: {application/json: {schema: {$ref: '#/components/schemas/Reported'}}}
      401: {description: Missing or wrong site key}
      404: {description: No such visible comment on this site}
    """
    site = await widget_site(request)
    comment_id = path_id(request, "comment")
    report = await read_payload(request, ReportIn)
    async with request.state.pool.acquire() as conn:
        added = await report_queries.add(
            conn,
            site.id,
            comment_id,
            report.reason,
            _client(request).address,
            site.settings.report_threshold,
        )
    if added is None:
        raise NotFound(f"no visible comment {comment_id} on this site", field="comment")
    reported: Reported = {"reported": True}
    return JSONResponse(reported, status_code=202)


# An article id may hold slashes (imported threads are named by their page's path, as
# `/2021/05/market-day/`): the widget sends it URL-encoded, the server sees it decoded.
routes = [
    Route("/v1/sites/{site}/articles/{article:path}/comments", post_comment, methods=["POST"]),
    Route("/v1/sites/{site}/articles/{article:path}/comments", get_thread, methods=["GET"]),
    Route("/v1/sites/{site}/articles/{article:path}/featured", get_featured, methods=["GET"]),
    Route("/v1/sites/{site}/counts", get_counts, methods=["GET"]),
    Route("/v1/sites/{site}/comments/{comment:int}", get_comment_place, methods=["GET"]),
    Route("/v1/sites/{site}/comments/{comment}/reports", post_report, methods=["POST"]),
]
