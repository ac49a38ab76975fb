"""`moderation site ...`: sites and their widget keys."""

from __future__ import annotations

import json

import click

from moderation.cli.common import with_connection
from moderation.config import get_settings
from moderation.sites import create_site


@click.group()
def site() -> None:
    """Manage sites and their widget keys."""


@site.command("create")
@click.argument("slug")
@click.option("--origin", "origins", multiple=True, help="An allowed browser origin (repeat).")
@click.option("--name", default=None, help="Display name; defaults to the slug.")
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


commands = [site]
