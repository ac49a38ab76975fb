"""The desk's article page: open or close a story to comments, correct its title or page
address. It changes the article through `moderation.articles`, as the API does."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation import articles
from moderation.articles import ArticleIn, ArticleState
from moderation.errors import NotFound, ValidationFailed
from moderation.http.params import path_article
from moderation.payloads import PAGE_TITLE_LENGTH, PAGE_URL_LENGTH, parse
from moderation.web.desk import sessions
from moderation.web.desk.access import SitePage, site_page
from moderation.web.desk.forms import read_form
from moderation.web.desk.render import redirect, render


async def _render(
    request: Request,
    page: SitePage,
    article: ArticleState,
    *,
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "desk/article.html",
        **page.context(),
        status_code=status_code,
        article=article,
        error=error,
        form=form or _form_of(article),
        title_length=PAGE_TITLE_LENGTH,
        url_length=PAGE_URL_LENGTH,
        changed=request.query_params.get("changed") == "1",
    )


async def _load(request: Request, page: SitePage, article: str) -> ArticleState:
    async with request.state.pool.acquire() as conn:
        state = await articles.load(conn, page.site, article)
    if state is None:
        raise NotFound("no such article", field="article")
    return state


async def article_page(request: Request) -> Response:
    page = await site_page(request)
    article = path_article(request)
    return await _render(request, page, await _load(request, page, article))


async def change_article(request: Request) -> Response:
    page = await site_page(request)
    article = path_article(request)
    state = await _load(request, page, article)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    try:
        wanted = parse(ArticleIn, _change_of(form))
        async with request.state.pool.acquire() as conn:
            await articles.change(conn, page.site, page.moderator.id, article, wanted)
    except ValidationFailed as exc:
        return await _render(request, page, state, status_code=422, error=exc.message, form=form)
    return redirect(request, f"/sites/{page.site.slug}/articles/{_quoted(article)}?changed=1")


def _form_of(article: ArticleState) -> dict[str, str]:
    form = {"title": article["title"] or "", "url": article["url"] or ""}
    return form | ({"open": "on"} if article["open"] else {})


def _change_of(form: dict[str, str]) -> dict[str, Any]:
    # A title or address left blank stays as it is: an article keeps the last one known.
    return {
        "open": form.get("open") == "on",
        "title": form.get("title", "").strip() or None,
        "url": form.get("url", "").strip() or None,
    }


def _quoted(article: str) -> str:
    return quote(article, safe="/")


routes = [
    Route(
        "/sites/{site}/articles/{article:path}",
        article_page,
        methods=["GET"],
        include_in_schema=False,
    ),
    Route(
        "/sites/{site}/articles/{article:path}",
        change_article,
        methods=["POST"],
        include_in_schema=False,
    ),
]
