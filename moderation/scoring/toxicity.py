"""Toxicity scores from a detoxify model in the local models folder.

A worker loads each model once per process (`ToxicityModel.load`) and calls `predict`
on a batch of comments. Detoxify pads a batch to its longest text, so one long comment
makes every short one in its batch cost as much; `predict` sorts by token length and runs
small batches of similar length instead, through detoxify's own `predict`, so the scores
are detoxify's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from moderation.errors import Unavailable
from moderation.models import ENTRY_FILES, PUBLISHED, Manifest, open_detoxify

# Tuned with bench/toxicity_speed.py (bert-base, 2 CPU cores, claims of 32): per token,
# batches of 4 and 8 run equally fast and 4 pads a quarter less; batches of 1 or 2 run
# several times slower per token, and 16 pads a long comment's neighbours again.
DEFAULT_BATCH_SIZE = 4


class ModelMissing(Unavailable):
    """A toxicity model, or a file of its entry, is not in the models folder."""

    code = "model_missing"


class ModelBroken(Unavailable):
    """A toxicity model's files are all there but do not load."""

    code = "model_broken"


class ToxicityModel:
    """A loaded detoxify model: its name, version, labels and the languages it covers."""

    def __init__(
        self, detoxify: Any, manifest: Manifest, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self.name = manifest.name
        self.version = manifest.version
        self.labels: tuple[str, ...] = tuple(detoxify.class_names)
        self.languages = frozenset(manifest.languages)
        self.batch_size = batch_size
        self._detoxify = detoxify

    @classmethod
    def load(
        cls,
        models_dir: Path,
        name: str,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threads: int = 0,
    ) -> ToxicityModel:
        """Load model `name` from `models_dir`; `threads` > 0 sets torch's thread count.

        torch's threads are per process: give each worker process cores / processes.
        """
        entry = require_model(models_dir, name)
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            manifest = Manifest.read(entry)
            detoxify = open_detoxify(entry)
        except Exception as exc:  # torch and transformers raise many kinds for a bad file
            raise ModelBroken(f"toxicity model {name!r} in {entry} does not load: {exc}") from exc
        return cls(detoxify, manifest, batch_size)

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Every label's score for each text, in the order given."""
        lengths = self._token_counts(texts)
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        results: list[dict[str, float]] = [{} for _ in texts]
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                scores = self._detoxify.predict([texts[index] for index in batch])
                for column, index in enumerate(batch):
                    results[index] = {label: _score(scores[label], column) for label in self.labels}
        return results

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        """How many tokens the model sees for each text, after truncation to its maximum."""
        if not texts:
            return []
        encoded = self._detoxify.tokenizer(list(texts), truncation=True)
        return [len(ids) for ids in encoded["input_ids"]]


def require_model(models_dir: Path, name: str) -> Path:
    """The entry of model `name`; ModelMissing unless all its files are there. Loads nothing,
    so a readiness check or a command's start can afford it."""
    entry = models_dir / name
    for file_name in ENTRY_FILES:
        if not (entry / file_name).is_file():
            raise ModelMissing(_missing_message(models_dir, name, entry / file_name))
    return entry


def _score(values: float | list[float], column: int) -> float:
    # detoxify squeezes a batch of one into a bare number.
    return values if isinstance(values, float) else values[column]


def _missing_message(models_dir: Path, name: str, missing: Path) -> str:
    fixes = f"`moderation models pull {name}` or " if name in PUBLISHED else ""
    return (
        f"no toxicity model {name!r} in {models_dir} (missing {missing}); "
        f"run {fixes}`moderation models import PATH`"
    )
