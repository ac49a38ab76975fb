"""`moderation moderator ...`: moderators and their API tokens."""

from __future__ import annotations

import json
from typing import cast

import asyncpg
import click

from moderation import moderators
from moderation.cli.common import ROW_ID, one_line, with_connection
from moderation.config import get_settings
from moderation.db import moderators as moderator_queries
from moderation.sites import load_site


@click.group()
def moderator() -> None:
    """Manage moderators and their API tokens."""


@moderator.command("create")
@click.option("--site", "sites", multiple=True, required=True, help="A site slug (repeat).")
@click.option("--role", type=click.Choice(["moderator", "admin"]), default="moderator")
@click.option(
    "--name", default=None, help="Shown in the audit log; defaults to the role.", callback=one_line
)
@click.option("--json", "as_json", is_flag=True, help="Print {moderator, token} as JSON.")
def create(sites: tuple[str, ...], role: str, name: str | None, as_json: bool) -> None:
    """Create a moderator for SITEs and print their token (shown this once)."""

    async def work(conn: asyncpg.Connection) -> tuple[int, str]:
        site_ids = [(await load_site(conn, slug)).id for slug in sites]
        return await moderators.create(conn, name or role, cast(moderators.Role, role), site_ids)

    moderator_id, token = with_connection(get_settings(), work)
    if as_json:
        click.echo(json.dumps({"moderator": moderator_id, "token": token}))
    else:
        click.echo(f"moderator {moderator_id} created; token (shown once): {token}")


@moderator.command("revoke")
@click.argument("moderator_id", type=ROW_ID)
def revoke(moderator_id: int) -> None:
    """Revoke a moderator's token at once."""
    revoked = with_connection(
        get_settings(), lambda conn: moderator_queries.revoke(conn, moderator_id)
    )
    if not revoked:
        raise click.ClickException(f"no active moderator {moderator_id}")
    click.echo(f"moderator {moderator_id} revoked")


@moderator.command("list")
def list_moderators() -> None:
    """List moderators, their roles and sites."""
    rows = with_connection(get_settings(), moderator_queries.list_all)
    if not rows:
        click.echo(
            "no moderators yet; `moderation moderator create --site SLUG --role admin` makes one"
        )
    for row in rows:
        state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
        click.echo(
            f"{row['id']:>5}  {row['role']:<9}  {state:<18}  {row['name']}  "
            f"sites: {', '.join(row['sites'])}"
        )


commands = [moderator]
