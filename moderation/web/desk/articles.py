"""The desk's article page: open or close a story to comments, correct its title or page
address. It changes the article through `moderation.articles`, as the API does."""

from __future__ import annotations

from typing import Any

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
from moderation.web.templates import path_segment


def _render(
    request: Request,
    page: SitePage,
    article: ArticleState,
    *,
    status_code: int = 200,
    error: str | None = None,
    error_field: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "desk/article.html",
        **page.context(),
        status_code=status_code,
        article=article,
        error=error,
        error_field=error_field,
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
    return _render(request, page, await _load(request, page, path_article(request)))


async def change_article(request: Request) -> Response:
    page = await site_page(request)
    article = path_article(request)
    state = await _load(request, page, article)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    changes = _changes(state, form)
    if not changes:
        return _render(request, page, state, error="Nothing to change.", form=form)
    try:
        wanted = parse(ArticleIn, changes)
        async with request.state.pool.acquire() as conn:
            await articles.change(conn, page.site, page.moderator.id, article, wanted)
    except ValidationFailed as exc:
        return _render(
            request,
            page,
            state,
            status_code=422,
            error=exc.message,
            error_field=exc.field,
            form=form,
        )
    return redirect(request, f"/sites/{page.site.slug}/articles/{path_segment(article)}?changed=1")


def _form_of(article: ArticleState) -> dict[str, str]:
    form = {"title": article["title"] or "", "url": article["url"] or ""}
    return form | ({"open": "on"} if article["open"] else {})


def _changes(state: ArticleState, form: dict[str, str]) -> dict[str, Any]:
    """What the form changes of the story as it was shown: only that is checked and
    written, so a title or address stored before today's rules (an import's, an origin
    the site has since dropped) does not stand in the way of closing the story. A field
    left blank keeps what the story has."""
    shown = _form_of(state)
    changes: dict[str, Any] = {}
    if (form.get("open") == "on") != state["open"]:
        changes["open"] = not state["open"]
    for field in ("title", "url"):
        value = form.get(field, "").strip()
        if value and value != shown[field]:
            changes[field] = value
    return changes


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
