"""`moderation models ...`: the local toxicity models folder.

`moderation.scoring.weights` is imported inside each command: it brings torch and transformers,
seconds of start-up that every other `moderation` command should not pay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import click

from moderation.config import get_settings
from moderation.errors import ModerationError

# Duplicated from moderation.scoring.weights.PUBLISHED so that `--help` needs no torch.
PUBLISHED_NAMES = ("original", "unbiased", "multilingual")


@click.group()
def models() -> None:
    """Manage the toxicity models folder (MODERATION_MODELS_DIR)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests as JSON.")
def models_list(as_json: bool) -> None:
    """List the models in the models folder."""
    from moderation.scoring.weights import list_models

    folder = get_settings().models_path
    with _clean_errors():
        found = list_models(folder)
    if as_json:
        click.echo(json.dumps([asdict(manifest) for manifest in found], indent=2))
        return
    if not found:
        click.echo(
            f"no models in {folder}; run `moderation models pull original` "
            "or `moderation models import PATH`"
        )
    for manifest in found:
        click.echo(
            f"{manifest.name}  {manifest.architecture}  languages {','.join(manifest.languages)}  "
            f"labels {','.join(manifest.labels)}  sha256 {manifest.sha256[:12]}  {manifest.version}"
        )


@models.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Entry name; inferred for detoxify's own models.")
@click.option(
    "--config-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Hugging Face config.json and tokenizer files; default: PATH's folder.",
)
@click.option(
    "--language",
    "languages",
    multiple=True,
    help="An ISO 639-1 code the model covers (repeat); known for detoxify's own models.",
)
@click.option("--version", default=None, help="Version string for the record.")
def models_import(
    path: Path,
    name: str | None,
    config_dir: Path | None,
    languages: tuple[str, ...],
    version: str | None,
) -> None:
    """Import the detoxify-format checkpoint PATH into the models folder."""
    from moderation.scoring.weights import import_checkpoint

    with _clean_errors():
        manifest = import_checkpoint(
            get_settings().models_path,
            path,
            name=name,
            config_dir=config_dir,
            languages=[language.strip().lower() for language in languages],
            version=version,
        )
    click.echo(f"imported {manifest.name} (sha256 {manifest.sha256})")


@models.command("pull")
@click.argument("name", type=click.Choice(PUBLISHED_NAMES))
@click.option(
    "--config-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Hugging Face config.json and tokenizer files; default: fetch them from the hub.",
)
@click.option("--sha256", default=None, help="Require this full sha256 of the checkpoint.")
@click.option("--timeout", default=30.0, show_default=True, help="Network timeout, seconds.")
def models_pull(name: str, config_dir: Path | None, sha256: str | None, timeout: float) -> None:
    """Download detoxify's published model NAME, verify it and import it.

    Without network: download the checkpoint elsewhere (its URL is in the error), save
    the architecture's config and tokenizer files (`save_pretrained`) into a folder, and
    run `moderation models import FILE --config-dir DIR`.
    """
    from moderation.scoring.weights import pull

    with _clean_errors():
        manifest = pull(
            get_settings().models_path, name, config_dir=config_dir, sha256=sha256, timeout=timeout
        )
    click.echo(f"pulled {manifest.name} (sha256 {manifest.sha256})")


@contextmanager
def _clean_errors() -> Iterator[None]:
    """Our errors end the command with their message, not a traceback."""
    try:
        yield
    except ModerationError as exc:
        raise click.ClickException(exc.message) from exc


commands = [models]
