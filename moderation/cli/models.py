"""`moderation models ...`: the local toxicity models folder.

`moderation.scoring.weights` is imported inside each command: it brings torch and transformers,
seconds of start-up that every other `moderation` command should not pay.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from moderation.cli.common import clean_errors
from moderation.config import Settings, get_settings
from moderation.errors import ModelMissing, ModelsError, ModerationError

if TYPE_CHECKING:
    from moderation.scoring.onnx_export import Export

# Duplicated from moderation.scoring.weights.PUBLISHED so that `--help` needs no torch.
PUBLISHED_NAMES = ("original", "unbiased", "multilingual")


@click.group()
def models() -> None:
    """Manage the toxicity models folder (MODERATION_MODELS_DIR)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the manifests as JSON.")
def models_list(as_json: bool) -> None:
    """List the models in the models folder, their ONNX exports, and what a worker with
    these settings runs them on (MODERATION_TOXICITY_DEVICE, _DTYPE, _BACKEND)."""
    from moderation.scoring import hardware
    from moderation.scoring.onnx_export import read_exports
    from moderation.scoring.weights import list_models

    settings = get_settings()
    folder = settings.models_path
    with clean_errors():
        found = list_models(folder)
        exports = {manifest.name: read_exports(folder / manifest.name) for manifest in found}
    try:
        runtime: dict[str, str] = asdict(hardware.from_settings(settings))
    except ModerationError as exc:  # listed all the same: the error is what to fix
        runtime = {"error": exc.message}
    refused = {manifest.name: _refused(settings, manifest.name) for manifest in found}
    if as_json:
        listed = [
            {
                **asdict(manifest),
                "runtime": runtime,
                "refused": refused[manifest.name],
                "onnx": {dtype: asdict(e) for dtype, e in exports[manifest.name].items()},
            }
            for manifest in found
        ]
        click.echo(json.dumps(listed, indent=2))
        return
    if not found:
        click.echo(
            f"no models in {folder}; run `moderation models pull original` "
            "or `moderation models import PATH`"
        )
    runs_on = runtime.get("error") or "{backend} {dtype} on {device}".format(**runtime)
    for manifest in found:
        refusal = refused[manifest.name]
        runs = f"{runs_on}, but a worker refuses it: {refusal}" if refusal else runs_on
        onnx = ", ".join(
            f"{dtype} ({_weights(e)}max diff {e.max_abs_diff:.4f})"
            for dtype, e in exports[manifest.name].items()
        )
        click.echo(
            f"{manifest.name}  {manifest.architecture}  languages {','.join(manifest.languages)}  "
            f"labels {','.join(manifest.labels)}  sha256 {manifest.sha256[:12]}  {manifest.version}"
            f"\n  runs on: {runs}\n  onnx: {onnx or 'none'}"
        )


def _refused(settings: Settings, name: str) -> str | None:
    """Why a worker with these settings would refuse model `name` (the export its backend
    needs is missing or from another checkpoint), as `moderation worker` says it."""
    from moderation.scoring.hardware import onnx_export
    from moderation.scoring.toxicity import require_model

    export = onnx_export(settings.toxicity_dtype, settings.toxicity_backend)
    try:
        require_model(settings.models_path, name, export)
    except ModerationError as exc:
        return exc.message
    return None


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

    with clean_errors():
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

    with clean_errors():
        manifest = pull(
            get_settings().models_path, name, config_dir=config_dir, sha256=sha256, timeout=timeout
        )
    click.echo(f"pulled {manifest.name} (sha256 {manifest.sha256})")


@models.command("export-onnx")
@click.argument("name")
@click.option("--int8", is_flag=True, help="Also a dynamically quantised int8 model.")
def models_export_onnx(name: str, int8: bool) -> None:
    """Export model NAME to ONNX (and int8) beside its checkpoint, for
    MODERATION_TOXICITY_BACKEND=onnx.

    Each file is registered only if its scores on a fixed sample stay within 0.02 of the
    eager model's; otherwise the command fails and nothing more is registered.
    """
    from moderation.scoring.onnx_export import TOLERANCE, export
    from moderation.scoring.toxicity import require_model

    with clean_errors():
        entry = require_model(get_settings().models_path, name)
        for registered in export(entry, int8=int8):
            click.echo(
                f"exported {name} {registered.dtype}: {entry / registered.file} "
                f"({_weights(registered)}scores within "
                f"{registered.max_abs_diff:.4f} of the eager model on {registered.sample} "
                f"texts; limit {TOLERANCE})"
            )


@models.command("install")
@click.argument("names", nargs=-1)
@click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A folder with a subfolder per model: its checkpoint (*.ckpt) with the config "
    "and tokenizer files beside it.",
)
@click.option("--timeout", default=30.0, show_default=True, help="Network timeout, seconds.")
def models_install(names: tuple[str, ...], source: Path | None, timeout: float) -> None:
    """Put each model NAME (default: MODERATION_TOXICITY_MODELS) in the models folder.

    A model already there is left alone; else it is imported from `--from DIR/NAME/`
    when that folder holds a checkpoint, else pulled (detoxify's published models, where
    the network allows). Safe to run again: the container stack's one-shot `models`
    service runs exactly this.
    """
    from moderation.scoring.toxicity import require_model
    from moderation.scoring.weights import PUBLISHED, import_checkpoint, pull

    settings = get_settings()
    folder = settings.models_path
    for name in names or settings.toxicity_models:
        try:
            require_model(folder, name)
            click.echo(f"{name}: already in {folder}")
            continue
        except ModelMissing:
            pass
        offer = source / name if source else None
        offered = sorted(offer.glob("*.ckpt")) if offer else []
        offline = (
            f"offline, put its checkpoint with its config and tokenizer files in "
            f"{offer or 'a folder'}/ and give the folder above it with --from"
        )
        with clean_errors():
            if len(offered) > 1:
                raise ModelsError(f"{offer} holds several checkpoints; keep one")
            if offered:
                manifest = import_checkpoint(folder, offered[0], name=name)
                click.echo(f"{name}: imported from {offered[0]} (sha256 {manifest.sha256})")
            elif name not in PUBLISHED:
                raise ModelsError(f"{name!r} is not a published model: {offline}")
            else:
                try:
                    manifest = pull(folder, name, timeout=timeout)
                except ModelsError as exc:
                    raise ModelsError(f"{exc.message}; {offline}") from exc
                click.echo(f"{name}: downloaded (sha256 {manifest.sha256})")


def _weights(export: Export) -> str:
    """How an int8 export stores its weights (they differ in speed by CPU), for a listing."""
    return "" if export.dtype == "float32" else f"{export.weights} weights, "


commands = [models]
