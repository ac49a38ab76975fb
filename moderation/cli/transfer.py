"""`moderation import` and `moderation export`: a site's comments in and out."""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from pathlib import Path

import asyncpg
import click

from moderation import exports, importer
from moderation.broker import celery_app, publisher
from moderation.cli.common import with_connection
from moderation.config import CPU_SCORING_BATCH, get_settings
from moderation.importer import FORMATS
from moderation.sites import load_site

# Each scoring wake-up drains pending comments batch after batch until none is left, so
# a few are enough to set every worker process going.
_MAX_WAKE_UPS = 64


@click.command("import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(list(FORMATS)))
@click.argument(
    "path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--site", "slug", required=True, help="The site to import into.")
@click.option("--dry-run", is_flag=True, help="Read and resolve everything, keep nothing.")
@click.option("--score", is_flag=True, help="Score what the source published or held, anew.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_comments(
    format_name: str, path: Path, slug: str, dry_run: bool, score: bool, as_json: bool
) -> None:
    """Import FILE (a Disqus or WordPress export, an Isso database, or this service's
    own export) into a site. Running it again adds nothing."""
    settings = get_settings()
    reader = FORMATS[format_name]

    async def work(conn: asyncpg.Connection) -> importer.Summary:
        site = await load_site(conn, slug)
        with click.progressbar(
            length=reader.size(path), label=f"importing {path.name}", file=sys.stderr
        ) as bar:
            return await importer.run(
                conn, site, format_name, path, dry_run=dry_run, score=score, progress=bar.update
            )

    summary = with_connection(settings, work)
    if summary.to_score and not dry_run:
        # A GPU worker claims more at once; a wake-up too many finds nothing to claim.
        claim = settings.scoring_batch or CPU_SCORING_BATCH
        _wake_scoring(math.ceil(summary.to_score / claim))
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        click.echo("\n".join(summary.lines()))


def _wake_scoring(wake_ups: int) -> None:
    settings = get_settings()
    if settings.broker_url is None:
        click.echo("BROKER_URL is not set: the workers' sweep will score them once running.")
        return
    publish = publisher(celery_app(settings))
    try:
        for _ in range(min(wake_ups, _MAX_WAKE_UPS)):
            publish([])
    except Exception as exc:  # the broker's errors are many; the sweep covers them all
        click.echo(f"could not wake the workers ({exc}); the sweep will score them.", err=True)


@click.command("export")
@click.option("--site", "slug", required=True, help="The site to export.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]),
    default=None,
    help="Only comments posted at or after this time (UTC unless it says otherwise).",
)
def export_site(slug: str, since: datetime | None) -> None:
    """Write a site's articles, authors and comments to stdout as JSON lines,
    re-importable with `moderation import json`."""

    async def work(conn: asyncpg.Connection) -> int:
        site = await load_site(conn, slug)
        out = sys.stdout.buffer
        written = 0
        async for line in exports.site_lines(conn, site, since):
            out.write(line)
            written += 1
        out.flush()
        return written

    lines = with_connection(get_settings(), work)
    click.echo(f"exported {lines} lines", err=True)


commands = [import_comments, export_site]
