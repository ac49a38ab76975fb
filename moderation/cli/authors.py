"""`moderation author ...`: a reader's data on request: export it, erase it."""

from __future__ import annotations

import getpass
import json
import os

import asyncpg
import click

from moderation import privacy
from moderation.cli.common import with_connection
from moderation.config import get_settings
from moderation.sites import load_site


@click.group()
def author() -> None:
    """A reader's data: AUTHOR_ID is the id the site gives the reader (the widget's
    data-author-id)."""


@author.command("export")
@click.option("--site", "slug", required=True)
@click.argument("external_id", metavar="AUTHOR_ID")
def export_author(slug: str, external_id: str) -> None:
    """Print everything stored about the author as JSON."""

    async def work(conn: asyncpg.Connection) -> str:
        site = await load_site(conn, slug)
        author_id = await privacy.find_author(conn, site, external_id)
        return json.dumps(await privacy.author_data(conn, author_id), ensure_ascii=False)

    click.echo(with_connection(get_settings(), work))


@author.command("erase")
@click.option("--site", "slug", required=True)
@click.argument("external_id", metavar="AUTHOR_ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_author(slug: str, external_id: str, yes: bool) -> None:
    """Erase the author's name, texts, addresses and user agents. Cannot be undone."""
    if not yes:
        click.confirm(f"Erase all data of author {external_id!r} on {slug}?", abort=True)
    who = f"operator {_operator()} (command line)"

    async def work(conn: asyncpg.Connection) -> privacy.Erased:
        site = await load_site(conn, slug)
        author_id = await privacy.find_author(conn, site, external_id)
        return await privacy.erase(conn, author_id, who)

    result = with_connection(get_settings(), work)
    if result["already_erased"]:
        click.echo(
            f"author {external_id} was already erased ({result['erased_at']}, by "
            f"{result['erased_by']}); nothing of theirs is stored since"
        )
        return
    click.echo(
        f"author {external_id} erased: {result['comments_scrubbed']} comments scrubbed, "
        f"{result['comments_removed']} removed from view, "
        f"{result['spam_models_dropped']} spam models trained on them deleted"
    )


def _operator() -> str:
    """Who runs the command: the login name, else the user id (a container may run under
    an id with no name, as OpenShift does)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


commands = [author]
