"""The desk's site settings page (admins): thresholds, word lists, pre-moderation, limits.

The form edits the same `SiteDocument` that `PUT /v1/moderation/sites/{site}/settings`
replaces, and `replace_settings` stores both: one set of rules, one audit record.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from moderation.errors import ValidationFailed
from moderation.payloads import parse
from moderation.sites import DEFAULT_THRESHOLDS, SiteCache, SiteDocument, replace_settings
from moderation.web.desk import sessions
from moderation.web.desk.access import SitePage, site_page
from moderation.web.desk.forms import read_form
from moderation.web.desk.render import redirect, render

LABELS = tuple(DEFAULT_THRESHOLDS)
PREMOD = {
    "off": "Off: scores decide",
    "new_authors": "New authors: hold first comments",
    "links": "Comments with links",
    "all": "All comments",
}
_NUMBERS = (
    "max_length",
    "rate_per_author",
    "rate_per_address",
    "rate_window_seconds",
    "trusted_after",
    "report_threshold",
    "own_edit_seconds",
    "ip_retention_days",
    "analyze_requests_per_minute",
)
_SWITCHES = ("comments_open", "allow_anonymous", "analyze_keep_text")
_LISTS = ("banned_words", "suspect_words", "allowed_origins", "reject_reasons")


def form_of(document: SiteDocument) -> dict[str, str]:
    """The document as the form's fields (all text, one list item per line)."""
    data = document.model_dump(mode="json")
    form = {name: str(data[name]) for name in _NUMBERS}
    form.update({name: "on" for name in _SWITCHES if data[name]})
    form.update({name: "\n".join(data[name]) for name in _LISTS})
    form["premod"] = data["premod"]
    for label in LABELS:
        threshold = data["thresholds"][label]
        form[f"hold.{label}"] = f"{threshold['hold']:g}"
        form[f"reject.{label}"] = f"{threshold['reject']:g}"
    return form


def document_of(form: dict[str, str]) -> SiteDocument:
    """The document the form describes; `ValidationFailed` naming the first bad field."""
    data: dict[str, Any] = {name: form.get(name, "").strip() for name in _NUMBERS}
    data.update({name: form.get(name) == "on" for name in _SWITCHES})
    data.update({name: _lines(form.get(name, "")) for name in _LISTS})
    data["premod"] = form.get("premod", "")
    data["thresholds"] = {
        label: {
            "hold": form.get(f"hold.{label}", "").strip(),
            "reject": form.get(f"reject.{label}", "").strip(),
        }
        for label in LABELS
    }
    # Lax validation on purpose: form values are text, and "0.5" means 0.5 here.
    return parse(SiteDocument, data, strict=False)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _render(
    request: Request,
    page: SitePage,
    form: dict[str, str],
    *,
    status_code: int = 200,
    error: str | None = None,
    error_field: str | None = None,
) -> Response:
    return render(
        request,
        "desk/settings.html",
        **page.context(),
        status_code=status_code,
        form=form,
        labels=LABELS,
        premod=PREMOD,
        error=error,
        error_field=error_field,
        saved=request.query_params.get("saved") == "1",
    )


async def admin_page(request: Request) -> SitePage:
    page = await site_page(request)
    page.moderator.require_admin()
    return page


async def settings_page(request: Request) -> Response:
    page = await admin_page(request)
    return _render(request, page, form_of(SiteDocument.of(page.site)))


async def save_settings(request: Request) -> Response:
    page = await admin_page(request)
    form = await read_form(request)
    sessions.check_csrf(request, form.get(sessions.CSRF_FIELD))
    try:
        document = document_of(form)
    except ValidationFailed as exc:
        return _render(
            request, page, form, status_code=422, error=exc.message, error_field=exc.field
        )
    async with request.state.pool.acquire() as conn:
        await replace_settings(conn, page.site.slug, document, page.moderator.id)
    cast(SiteCache, request.state.sites).forget(page.site.slug)
    return redirect(request, f"/sites/{page.site.slug}/settings?saved=1")


routes = [
    Route("/sites/{site}/settings", settings_page, methods=["GET"], include_in_schema=False),
    Route("/sites/{site}/settings", save_settings, methods=["POST"], include_in_schema=False),
]
