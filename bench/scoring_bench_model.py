"""The models folder for bench/scoring_bench.py: detoxify's `original` at bert-base size.

The checkpoint is bench/toxicity_speed.py's (bert-base-uncased's shape, random weights,
detoxify's format), with the bench's English words at the head of its 30,522-entry
vocabulary, so that English comments tokenize about one token per word as they would
with bert-base-uncased's own. Building and importing it takes a minute and 900 MB of
disk, so the entry is kept in a cache folder and rebuilt only when its recipe changes.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from scoring_bench_text import WORDS
from toxicity_speed import vocabulary_words, write_bert

from moderation.errors import ExportError, ModelMissing
from moderation.scoring.hardware import Runtime
from moderation.scoring.onnx_export import export, read_exports
from moderation.scoring.toxicity import require_model
from moderation.scoring.weights import import_checkpoint, open_detoxify

NAME = "original"
# The CPU runtimes the benches compare: eager float32, and the int8 ONNX export.
RUNTIMES = {"torch": Runtime("cpu", "float32", "torch"), "onnx": Runtime("cpu", "int8", "onnx")}
# Where the benches keep the built entry between runs, unless told otherwise (--cache).
CACHE = Path(__file__).resolve().parent.parent / ".moderation" / "bench-cache"
_STAMP = "bench-recipe.json"
_SEED = 20240611
# Bump when the builder changes in a way the word list does not show.
_RECIPE_VERSION = 1


def models_folder(cache: Path) -> Path:
    """A models folder under `cache` holding the bench's `original` entry, built if needed."""
    models = cache / "models"
    recipe = _recipe()
    stamp = models / NAME / _STAMP
    try:
        require_model(models, NAME)
        if json.loads(stamp.read_text()) == recipe:
            return models
    except (ModelMissing, OSError, ValueError):
        pass
    print(f"building the bert-base-shaped `{NAME}` checkpoint (random weights) in {models}")
    started = time.perf_counter()
    shutil.rmtree(models / NAME, ignore_errors=True)
    models.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-source-", dir=cache) as scratch:
        # The same weights on every build: only speed is measured, but scores are compared.
        with torch.random.fork_rng():
            torch.manual_seed(_SEED)
            source = write_bert(Path(scratch) / "source", _vocabulary())
        import_checkpoint(
            models, source, name=NAME, version="bench: bert-base shape, random weights"
        )
    stamp.write_text(json.dumps(recipe))
    print(f"  built and imported in {time.perf_counter() - started:.0f} s")
    return models


def raw_detoxify(models: Path, device: str = "cpu") -> Any:
    """The entry as a caller of detoxify has it: `Detoxify`, loaded the way the worker
    loads it (`open_detoxify`), its model moved to `device`."""
    detoxify = open_detoxify(models / NAME)
    detoxify.model.to(device)
    return detoxify


def with_onnx_export(models: Path) -> None:
    """Export the entry to ONNX and int8 (`moderation models export-onnx original --int8`)
    unless its exports are there and were made from its checkpoint; either way, print
    which weights are registered (which int8 scheme a run measures depends on the CPU)."""
    try:
        require_model(models, NAME, "int8")
    except (ModelMissing, ExportError):  # none, or an older format's
        started = time.perf_counter()
        export(models / NAME, int8=True)
        print(f"  ONNX export took {time.perf_counter() - started:.0f} s")
    for registered in read_exports(models / NAME).values():
        print(
            f"  {registered.dtype} ONNX export: {registered.weights} weights, max abs diff "
            f"{registered.max_abs_diff:.4f} on the check's sample, made {registered.exported_at}"
        )


def _vocabulary() -> list[str]:
    # English words first: write_bert keeps the head of the list when it cuts to 30,522.
    filler = vocabulary_words(random.Random(_SEED))
    english = set(WORDS)
    return [*WORDS, *(word for word in filler if word not in english)]


def _recipe() -> dict[str, object]:
    words = hashlib.sha256("\n".join(_vocabulary()).encode()).hexdigest()
    return {"version": _RECIPE_VERSION, "seed": _SEED, "vocabulary": words}
