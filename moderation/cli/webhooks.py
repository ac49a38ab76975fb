"""`moderation webhook ...`: a site's webhooks and their signing secrets."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import click

from moderation import webhooks
from moderation.cli.common import MAX_GRACE_HOURS, ROW_ID, Duration, with_connection
from moderation.config import get_settings
from moderation.db import webhooks as webhook_queries
from moderation.sites import load_site


@click.group()
def webhook() -> None:
    """Send a site's events to other systems as signed JSON POSTs."""


@webhook.command("add")
@click.option("--site", "slug", required=True)
@click.option("--url", required=True, help="Where to POST (http or https, a public address).")
@click.option(
    "--events",
    required=True,
    help=f"Comma-separated, some of: {', '.join(webhooks.EVENTS)}.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {webhook, secret} as JSON.")
def add(slug: str, url: str, events: str, as_json: bool) -> None:
    """Subscribe URL to the site's events and print the signing secret (shown once)."""
    settings = get_settings()

    async def work(conn: asyncpg.Connection) -> webhooks.Created:
        site = await load_site(conn, slug)
        return await webhooks.add(conn, site, url, events.split(","), settings)

    created = with_connection(settings, work)
    if as_json:
        click.echo(json.dumps({"webhook": created.webhook, "secret": created.secret}))
    else:
        click.echo(
            f"webhook {created.webhook['id']} added for {', '.join(created.webhook['events'])}; "
            f"signing secret (shown once): {created.secret}"
        )


@webhook.command("list")
@click.option("--site", "slug", required=True)
@click.option("--json", "as_json", is_flag=True)
def list_webhooks(slug: str, as_json: bool) -> None:
    """The site's webhooks and how their deliveries stand."""

    async def work(conn: asyncpg.Connection) -> list[webhooks.Webhook]:
        site = await load_site(conn, slug)
        return [webhooks.describe(r) for r in await webhook_queries.list_for_site(conn, site.id)]

    found = with_connection(get_settings(), work)
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo(
            f"no webhooks on {slug} yet; `moderation webhook add --site {slug} --url URL "
            "--events EVENTS` adds one"
        )
    for hook in found:
        counts = hook["deliveries"]
        click.echo(
            f"{hook['id']:>5}  {hook['url']}  {','.join(hook['events'])}  "
            f"delivered {counts['delivered']}, pending {counts['pending']}, "
            f"failed {counts['failed']}"
            + (
                f"  (old secret valid until {hook['rotating_until']})"
                if hook["rotating_until"]
                else ""
            )
        )


@webhook.command("remove")
@click.argument("webhook_id", type=ROW_ID)
def remove(webhook_id: int) -> None:
    """Stop sending to a webhook (its delivery log stays)."""
    with_connection(get_settings(), lambda conn: webhooks.remove(conn, webhook_id))
    click.echo(f"webhook {webhook_id} removed")


@webhook.command("rotate")
@click.argument("webhook_id", type=ROW_ID)
@click.option(
    "--grace-hours",
    type=Duration(MAX_GRACE_HOURS),
    default=24,
    show_default=True,
    help="Hours the old secret keeps signing too (30 days at most).",
)
@click.option("--json", "as_json", is_flag=True)
def rotate(webhook_id: int, grace_hours: float, as_json: bool) -> None:
    """Give a webhook a new signing secret; both sign until the grace period ends."""
    grace = timedelta(hours=grace_hours)
    secret = with_connection(get_settings(), lambda conn: webhooks.rotate(conn, webhook_id, grace))
    if as_json:
        click.echo(json.dumps({"webhook": webhook_id, "secret": secret}))
    else:
        click.echo(f"webhook {webhook_id}: new signing secret (shown once): {secret}")


@webhook.command("replay")
@click.argument("delivery_id", type=ROW_ID)
def replay(delivery_id: int) -> None:
    """Send a delivery's event again (same event id)."""
    new_id = with_connection(get_settings(), lambda conn: webhooks.replay(conn, delivery_id))
    click.echo(f"delivery {delivery_id} replayed as delivery {new_id}")


commands = [webhook]
