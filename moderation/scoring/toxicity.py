"""Toxicity scores from a detoxify model in the local models folder.

A worker loads each model once per process (`ToxicityModel.load`) and calls `predict`
on a batch of comments. Detoxify pads a batch to its longest text, so one long comment
makes every short one in its batch cost as much; `predict` sorts by token length and runs
small batches of similar length instead, through detoxify's own `predict`, so the scores
are detoxify's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from moderation.errors import ModelBroken, ModelMissing
from moderation.scoring.weights import ENTRY_FILES, PUBLISHED, Manifest, open_detoxify

# Tuned with bench/scoring_bench.py (bert-base, 2 CPU cores): the model runs near its
# best speed per token once a forward pass holds about 512 tokens, padding included, and
# several times slower per token far below that. A fixed count (4) leaves short comments
# (20-40 tokens) in passes of 100 tokens and gives a 512-token one company it does not
# need; so a micro-batch takes comments, shortest first, while count x longest fits the
# budget, and at most DEFAULT_BATCH_SIZE of them.
DEFAULT_TOKEN_BUDGET = 512
DEFAULT_BATCH_SIZE = 32


class Turns:
    """Whose turn it is on a model shared by threads: one caller at a time, and urgent
    callers (a client waiting for an answer) before the others (comments in a queue).

    One is needed because a worker process scores queued comments on its main thread
    and answers analyze requests on another, with one copy of the model: the Hugging Face
    tokenizer refuses concurrent calls, and two forward passes at once would only share
    the same cores. Turns are taken per micro-batch, so an urgent caller waits for at most
    one micro-batch of someone else's.
    """

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0

    @contextmanager
    def turn(self, urgent: bool) -> Iterator[None]:
        with self._free:
            self._urgent_waiting += urgent
            try:
                self._free.wait_for(lambda: not self._busy and (urgent or not self._urgent_waiting))
            finally:
                self._urgent_waiting -= urgent
            self._busy = True
        try:
            yield
        finally:
            with self._free:
                self._busy = False
                self._free.notify_all()


class ToxicityModel:
    """A loaded detoxify model: its name, version, labels and the languages it covers."""

    def __init__(
        self,
        detoxify: Any,
        manifest: Manifest,
        batch_size: int = DEFAULT_BATCH_SIZE,
        token_budget: int = DEFAULT_TOKEN_BUDGET,
    ) -> None:
        self.name = manifest.name
        self.version = manifest.version
        self.labels: tuple[str, ...] = tuple(detoxify.class_names)
        self.languages = frozenset(manifest.languages)
        self.batch_size = batch_size
        self.token_budget = token_budget
        self._detoxify = detoxify
        self._turns = Turns()

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

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        """Every label's score for each text, in the order given; `urgent` takes the model
        before non-urgent callers waiting for it (see `Turns`)."""
        with self._turns.turn(urgent):
            lengths = self._token_counts(texts)
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        results: list[dict[str, float]] = [{} for _ in texts]
        for batch in micro_batches(order, lengths, self.batch_size, self.token_budget):
            with self._turns.turn(urgent), torch.inference_mode():
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


def micro_batches(
    order: list[int], lengths: list[int], most: int, budget: int
) -> Iterator[list[int]]:
    """`order` (indices by ascending length) cut into runs of at most `most` comments
    whose padded size, count x the last (longest) one's length, stays within `budget`;
    a comment longer than the budget runs alone."""
    batch: list[int] = []
    for index in order:
        if batch and (len(batch) == most or (len(batch) + 1) * lengths[index] > budget):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


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
