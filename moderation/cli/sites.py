"""`moderation site ...`: sites and their widget keys."""

from __future__ import annotations

import json

import click

from moderation.cli.common import MAX_KEEP_PREVIOUS_SECONDS, Duration, one_line, with_connection
from moderation.config import get_settings
from moderation.db import sites as site_queries
from moderation.sites import (
    DEFAULT_KEEP_PREVIOUS_SECONDS,
    create_site,
    rotate_widget_key,
    sign_readers,
)
from moderation.timestamps import iso


@click.group()
def site() -> None:
    """Manage sites and their widget keys."""


@site.command("create")
@click.argument("slug")
@click.option("--origin", "origins", multiple=True, help="An allowed browser origin (repeat).")
@click.option("--name", default=None, help="Display name; defaults to the slug.", callback=one_line)
@click.option("--json", "as_json", is_flag=True, help="Print {site, key} as JSON.")
def site_create(slug: str, origins: tuple[str, ...], name: str | None, as_json: bool) -> None:
    """Create site SLUG and print its widget key."""
    created = with_connection(
        get_settings(), lambda conn: create_site(conn, slug, list(origins), name)
    )
    if as_json:
        click.echo(json.dumps({"site": created.slug, "key": created.widget_key}))
    else:
        click.echo(f"site {created.slug} created; widget key: {created.widget_key}")


@site.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the sites as a JSON array.")
def site_list(as_json: bool) -> None:
    """List sites with their widget keys and allowed origins."""
    rows = with_connection(get_settings(), site_queries.list_all)
    if as_json:
        listed = [
            {
                "site": row["slug"],
                "name": row["name"],
                "key": row["widget_key"],
                "origins": list(row["allowed_origins"]),
                "created_at": iso(row["created_at"]),
            }
            for row in rows
        ]
        click.echo(json.dumps(listed, indent=2))
        return
    if not rows:
        click.echo("no sites yet; `moderation site create SLUG --origin URL` makes one")
    for row in rows:
        origins = ", ".join(row["allowed_origins"]) or "no origins"
        click.echo(f"{row['slug']}  {row['name']!r}  widget key: {row['widget_key']}  {origins}")


@site.command("rotate-key")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print {site, key} as JSON.")
def site_rotate_key(slug: str, as_json: bool) -> None:
    """Give site SLUG a new widget key; the old one stops working."""
    settings = get_settings()
    rotated = with_connection(settings, lambda conn: rotate_widget_key(conn, slug))
    if as_json:
        click.echo(json.dumps({"site": rotated.slug, "key": rotated.widget_key}))
        return
    click.echo(
        f"site {rotated.slug}: new widget key: {rotated.widget_key}\n"
        f"the old key stops working within {settings.site_cache_seconds:g} s "
        "(MODERATION_SITE_CACHE_SECONDS); put the new one in the widget's data-key"
    )


@site.command("sign-readers")
@click.argument("slug")
@click.option("--off", is_flag=True, help="Stop: author ids are taken as the widget sends them.")
@click.option(
    "--keep-previous",
    type=Duration(MAX_KEEP_PREVIOUS_SECONDS),
    default=DEFAULT_KEEP_PREVIOUS_SECONDS,
    show_default=True,
    help="Seconds the secret it replaces stays valid (0 revokes it; 30 days at most).",
)
@click.option("--json", "as_json", is_flag=True, help="Print {site, reader_secret} as JSON.")
def site_sign_readers(slug: str, off: bool, keep_previous: float, as_json: bool) -> None:
    """Give site SLUG a new reader secret: from then on an author id is taken only with a
    token the site signed with it (a JWT, HS256: `sub` the id, `exp` its expiry)."""
    signed = with_connection(
        get_settings(), lambda conn: sign_readers(conn, slug, not off, keep_previous)
    )
    if as_json:
        click.echo(json.dumps({"site": signed.slug, "reader_secret": signed.reader_secret}))
    elif signed.reader_secret is None:
        click.echo(f"site {signed.slug}: author ids are no longer signed")
    else:
        click.echo(
            f"site {signed.slug}: reader secret: {signed.reader_secret}\n"
            "sign each signed-in reader's id with it (a JWT, HS256, with sub and exp) and put "
            "the token in the widget's data-author-token; the secret it replaces stays valid "
            f"for {keep_previous:g} s (--keep-previous)"
        )


commands = [site]
