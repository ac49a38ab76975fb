"""`moderation apikey ...` and `moderation coral ...`: scoring clients' keys, Coral's secret."""

from __future__ import annotations

import json

import asyncpg
import click

from moderation.cli.common import (
    MAX_KEEP_PREVIOUS_SECONDS,
    ROW_ID,
    Duration,
    one_line,
    with_connection,
)
from moderation.config import get_settings
from moderation.db import perspective as perspective_queries
from moderation.perspective import coral as coral_phase
from moderation.perspective import keys
from moderation.sites import load_site


@click.group()
def apikey() -> None:
    """API keys of Perspective-style scoring clients (Coral, anything written for Perspective)."""


@apikey.command("create")
@click.option("--site", required=True, help="The site whose policy and quota the key uses.")
@click.option(
    "--name", default=None, help="What the key is for (shown in `apikey list`).", callback=one_line
)
@click.option("--json", "as_json", is_flag=True, help='Print {"id", "key"} as JSON.')
def create(site: str, name: str | None, as_json: bool) -> None:
    """Create a key for SITE and print it (shown this once; only its hash is kept)."""
    key_id, key = with_connection(get_settings(), lambda conn: keys.create(conn, site, name))
    if as_json:
        click.echo(json.dumps({"id": key_id, "key": key}))
    else:
        click.echo(f"API key {key_id} created for {site}; key (shown once): {key}")


@apikey.command("list")
@click.option("--site", default=None, help="Only this site's keys.")
def list_keys(site: str | None) -> None:
    """List keys: id, site, state, scoring records and labels they left, name."""

    async def work(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        site_id = None if site is None else (await load_site(conn, site)).id
        return await perspective_queries.list_keys(conn, site_id)

    rows = with_connection(get_settings(), work)
    if not rows:
        where = f" on {site}" if site else ""
        click.echo(f"no keys{where} yet; `moderation apikey create --site SLUG` makes one")
    for row in rows:
        state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
        click.echo(
            f"{row['id']:>5}  {row['site']:<20}  {state:<18}  {row['analyses']:>8} scored  "
            f"{row['labels']:>6} labels  {row['name']}"
        )


@apikey.command("revoke")
@click.argument("key_id", type=ROW_ID)
def revoke(key_id: int) -> None:
    """Revoke a key at once: its next request gets 403."""
    revoked = with_connection(
        get_settings(), lambda conn: perspective_queries.revoke_key(conn, key_id)
    )
    if not revoked:
        raise click.ClickException(f"no active API key {key_id}")
    click.echo(f"API key {key_id} revoked")


@click.group()
def coral() -> None:
    """Coral's external moderation phase."""


@coral.command("secret")
@click.option("--site", required=True, help="The site whose policy the phase applies.")
@click.option(
    "--secret",
    default=None,
    help="Store this secret (the one Coral shows for the phase) instead of making one.",
)
@click.option(
    "--keep-previous",
    type=Duration(MAX_KEEP_PREVIOUS_SECONDS),
    default=coral_phase.DEFAULT_KEEP_PREVIOUS_SECONDS,
    show_default=True,
    help="Seconds the site's earlier secrets stay valid at most (0 revokes them; 30 days at most).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the secret and expiry as JSON.")
def secret(site: str, secret: str | None, keep_previous: float, as_json: bool) -> None:
    """Create (or rotate) the secret Coral's phase requests for SITE are signed with."""
    value, expires = with_connection(
        get_settings(), lambda conn: coral_phase.rotate_secret(conn, site, secret, keep_previous)
    )
    previous = expires.isoformat() if expires else None
    if as_json:
        click.echo(json.dumps({"site": site, "secret": value, "previous_valid_until": previous}))
        return
    click.echo(f"signing secret for {site}: {value}")
    if previous:
        click.echo(f"earlier secrets stay valid until {previous}")


commands = [apikey, coral]
