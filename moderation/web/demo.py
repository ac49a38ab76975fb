"""A demo news article with the comment widget, served on its own origin by `moderation dev`.

It is a separate app on another port than the API, so the widget talks to the API across
origins exactly as on a real news site, and CORS is in play.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from moderation.web.security import page_headers
from moderation.web.templates import TEMPLATES

_HERE = Path(__file__).parent
ARTICLE = "council-budget-vote"
_HEADLINE = "Council approves budget after late-night session"
_STORY = (
    "After six hours of debate, the city council voted seven to four to approve next "
    "year's budget, including new funding for road repairs and the central library.",
    "Opponents argued that the plan relies on optimistic revenue forecasts and leaves "
    "little room for emergencies. Supporters said the repairs could not wait another year.",
    "Residents packed the public gallery; several spoke during the comment period, most "
    "of them about the closure of the riverside bus route.",
)


def create_demo_app(api: str, site: str, key: str) -> Starlette:
    """The demo site: `api` is the API's origin, `site` and `key` the demo site's."""
    headers = page_headers(script_origins=[api], connect_origins=[api], frame_ancestors="'self'")

    async def article(request: Request) -> Response:
        html = TEMPLATES.get_template("demo.html").render(
            api=api, site=site, key=key, article=ARTICLE, headline=_HEADLINE, paragraphs=_STORY
        )
        return HTMLResponse(html, headers=headers)

    async def home(request: Request) -> Response:
        return RedirectResponse("/demo/")

    async def stylesheet(request: Request) -> Response:
        return FileResponse(_HERE / "static" / "gazette.css", media_type="text/css")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/demo/", article),
            Route("/demo/gazette.css", stylesheet),
        ]
    )


def by_port(api: ASGIApp, demo: ASGIApp, demo_port: int) -> ASGIApp:
    """One ASGI app for two listening sockets: the demo page on `demo_port`, else the API.

    `moderation dev` serves both from one process this way; lifespan events go to the API.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] == "http" and server is not None and server[1] == demo_port:
            await demo(scope, receive, send)
        else:
            await api(scope, receive, send)

    return app
