"""The `moderation` command: run the service and manage it."""

from __future__ import annotations

import click
from pydantic import ValidationError

from moderation import logs
from moderation.cli import (
    authors,
    dev,
    models,
    moderators,
    perspective,
    serve,
    sites,
    transfer,
    webhooks,
    workers,
)
from moderation.config import explain, get_settings


@click.group()
@click.version_option(package_name="moderation", message="%(prog)s %(version)s")
def main() -> None:
    """Comment moderation service for news sites."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        raise click.ClickException(explain(exc)) from None
    logs.configure(settings)


for command in (
    *serve.commands,
    *dev.commands,
    *sites.commands,
    *moderators.commands,
    *models.commands,
    *workers.commands,
    *perspective.commands,
    *transfer.commands,
    *authors.commands,
    *webhooks.commands,
):
    main.add_command(command)
