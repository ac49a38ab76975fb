"""CORS: a site's widget routes answer only the browser origins that site lists."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from moderation.errors import Unavailable
from moderation.sites import Site, SiteCache, check_origin
from tests.factories import Poster, moderator_headers

ALLOWED = "https://news.example"


def comments_url(site: Site) -> str:
    return f"/v1/sites/{site.slug}/articles/story-1/comments"


async def preflight(client: httpx.AsyncClient, site: Site, origin: str) -> httpx.Response:
    return await client.options(
        comments_url(site),
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-site-key",
        },
    )


async def test_preflight_from_an_allowed_origin_is_answered(
    app_client: httpx.AsyncClient, site: Site
) -> None:
    response = await preflight(app_client, site, ALLOWED)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "x-site-key" in allowed_headers
    assert "content-type" in allowed_headers


async def test_preflight_from_another_origin_is_refused(
    app_client: httpx.AsyncClient, site: Site
) -> None:
    response = await preflight(app_client, site, "https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_responses_to_an_allowed_origin_carry_cors_headers_even_on_errors(
    poster: Poster,
) -> None:
    ok = await poster.post(headers={"Origin": ALLOWED})
    assert ok.status_code == 202
    assert ok.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in ok.headers["Vary"]

    bad = await poster.post(body="", headers={"Origin": ALLOWED})
    assert bad.status_code == 422
    assert bad.headers["Access-Control-Allow-Origin"] == ALLOWED

    thread = await poster.client.get(comments_url(poster.site), headers={"Origin": ALLOWED})
    assert thread.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "ETag" in thread.headers["Access-Control-Expose-Headers"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://news.example", "null"])
async def test_a_post_from_a_foreign_origin_is_refused_and_not_stored(
    poster: Poster, origin: str
) -> None:
    response = await poster.post(headers={"Origin": origin})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    count = await poster.client.get(f"/v1/sites/{poster.site.slug}/counts?article=story-1")
    assert count.json()["counts"]["story-1"] == 0


async def test_reads_from_a_foreign_origin_get_no_cors_headers(
    app_client: httpx.AsyncClient, site: Site
) -> None:
    response = await app_client.get(comments_url(site), headers={"Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_each_site_has_its_own_origins(
    app_client: httpx.AsyncClient, make_site: object
) -> None:
    assert callable(make_site)
    other: Site = await make_site(origins=("https://other.example",))
    assert (await preflight(app_client, other, "https://other.example")).status_code == 204
    assert (await preflight(app_client, other, ALLOWED)).status_code == 403


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("https://news.example:443", "https://news.example"),
        ("http://news.example:80/", "http://news.example"),
        ("HTTPS://News.Example", "https://news.example"),
        (" https://news.example:8443 ", "https://news.example:8443"),
        ("http://news.example:443", "http://news.example:443"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_an_origin_is_kept_as_browsers_send_it(typed: str, sent: str) -> None:
    assert check_origin(typed) == sent


async def test_a_site_answers_the_origin_its_admin_typed_with_a_default_port(
    app_client: httpx.AsyncClient, make_site: object, conn: asyncpg.Connection
) -> None:
    assert callable(make_site)
    typed = ("https://other.example:443", "https://other.example", "HTTP://Other.example:80/")
    other: Site = await make_site(origins=typed)
    assert other.allowed_origins == ("https://other.example", "http://other.example")
    for origin in ("https://other.example", "http://other.example"):
        assert (await preflight(app_client, other, origin)).status_code == 204
    admin = await moderator_headers(conn, other, role="admin")
    url = f"/v1/moderation/sites/{other.slug}/settings"
    patched = await app_client.patch(
        url, json={"allowed_origins": ["https://news.example:443/"]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["allowed_origins"] == ["https://news.example"]
    for origin in ("ftp://news.example", "https://news.example/path", "https://u@x.example"):
        refused = await app_client.patch(url, json={"allowed_origins": [origin]}, headers=admin)
        assert refused.status_code == 422, origin


@pytest.mark.parametrize("origin", [None, ALLOWED, "https://evil.example"])
async def test_every_answer_on_site_paths_varies_by_origin(
    poster: Poster, origin: str | None
) -> None:
    """Whether CORS headers are there depends on Origin, and thread pages are publicly
    cacheable: a copy made for one Origin (or none) must not be served to another."""
    headers = {"Origin": origin} if origin else {}
    await poster.comment()
    responses = [
        await poster.thread(headers=headers),
        await poster.client.get(
            f"/v1/sites/{poster.site.slug}/counts", params={"article": "story-1"}, headers=headers
        ),
        await poster.post(headers=headers),
        await poster.thread(article="x" * 201, headers=headers),
        await poster.client.get("/v1/sites/no-such-site/counts?article=a", headers=headers),
    ]
    if origin:
        responses.append(await preflight(poster.client, poster.site, origin))
    for response in responses:
        vary = {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}
        assert "origin" in vary, (response.request.url, response.status_code)
    assert responses[0].headers["Cache-Control"] == "public, max-age=5"


async def test_paths_outside_the_sites_do_not_vary_by_origin(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/healthz", headers={"Origin": ALLOWED})
    assert "Vary" not in response.headers


async def test_while_sites_cannot_be_read_a_browser_reads_503_and_nothing_passes(
    poster: Poster, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_down(self: SiteCache, slug: str) -> Site:
        raise Unavailable("the database is unavailable")

    monkeypatch.setattr(SiteCache, "get", database_down)
    # The origin cannot be checked: the preflight lets the request come (uncached) to be
    # told, in an answer the page can read, that the service is down.
    for origin in (ALLOWED, "https://evil.example"):
        answer = await preflight(poster.client, site, origin)
        assert answer.status_code == 204
        assert answer.headers["Access-Control-Allow-Origin"] == origin
        assert answer.headers["Access-Control-Max-Age"] == "0"
        for response in (
            await poster.post(headers={"Origin": origin}),
            await poster.thread(headers={"Origin": origin}),
        ):
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "unavailable"
            assert int(response.headers["Retry-After"]) > 0
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
