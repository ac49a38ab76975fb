"""Toxicity scores from a detoxify model in the local models folder.

A worker loads each model once per process (`ToxicityModel.load`) on the runtime its
settings resolve to (moderation/scoring/hardware.py): eager PyTorch on the CPU or a GPU,
in float32 or half-precision weights, or an ONNX Runtime export on the CPU. `predict`
tokenizes a claim once with the model's own tokenizer, sorts it by token length and
runs micro-batches of similar length (padding one long comment's batch-mates to its
length would cost as much as scoring them all at that length), applying detoxify's
sigmoid to the classifier's logits: in float32 the scores are `Detoxify.predict`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import transformers

from moderation.errors import ModelBroken, ModelMissing
from moderation.scoring.hardware import (
    Runtime,
    default_batch,
    default_token_budget,
    torch_dtype,
)
from moderation.scoring.onnx_export import FILES, check_on_this_cpu, read_exports
from moderation.scoring.weights import ENTRY_FILES, PUBLISHED, Manifest, open_detoxify

CPU_FLOAT32 = Runtime("cpu", "float32", "torch")

Features = Mapping[str, np.ndarray[Any, np.dtype[np.int64]]]


class Forward(Protocol):
    """Label probabilities (float32, on any device) for one padded micro-batch."""

    def __call__(self, features: Features) -> torch.Tensor: ...


class TorchForward:
    """The PyTorch model on its device, in its dtype (weights converted, not autocast)."""

    def __init__(self, model: torch.nn.Module, runtime: Runtime) -> None:
        # Converted on the CPU first: a GPU never holds the float32 copy.
        self.model = model.to(dtype=torch_dtype(runtime.dtype)).to(runtime.device).eval()
        self.device = torch.device(runtime.device)

    def __call__(self, features: Features) -> torch.Tensor:
        inputs = {name: torch.from_numpy(v).to(self.device) for name, v in features.items()}
        with torch.inference_mode():
            logits = self.model(**inputs).logits
        return torch.sigmoid(logits.float())


class OnnxForward:
    """An ONNX Runtime session on the CPU."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads sleep rather than spin: a worker shares its cores with PostgreSQL,
        # the API and its own spam thread (bench/scoring_bench.py on 2 cores: the same best
        # burst rate, a tenth less worker CPU a comment, and fewer slow bursts).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [node.name for node in self.session.get_inputs()]

    def __call__(self, features: Features) -> torch.Tensor:
        logits = self.session.run(["logits"], {name: features[name] for name in self.inputs})[0]
        return torch.sigmoid(torch.from_numpy(logits).float())


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
    """A loaded detoxify model: its name, version, labels, languages and runtime."""

    def __init__(
        self,
        tokenizer: Any,
        forward: Forward,
        manifest: Manifest,
        runtime: Runtime = CPU_FLOAT32,
        *,
        batch_size: int | None = None,
        token_budget: int | None = None,
    ) -> None:
        self.name = manifest.name
        self.version = manifest.version
        self.labels: tuple[str, ...] = manifest.labels
        self.languages = frozenset(manifest.languages)
        self.runtime = runtime
        self.batch_size = batch_size or default_batch(runtime)
        self.token_budget = token_budget or default_token_budget(runtime)
        self._tokenizer = tokenizer
        self._forward = forward
        self._pad_id = int(tokenizer.pad_token_id)
        self._turns = Turns()

    @classmethod
    def load(
        cls,
        models_dir: Path,
        name: str,
        runtime: Runtime = CPU_FLOAT32,
        *,
        batch_size: int | None = None,
        token_budget: int | None = None,
        threads: int = 0,
    ) -> ToxicityModel:
        """Load model `name` from `models_dir` onto `runtime`; `threads` > 0 sets the CPU
        threads (per process: give each worker process cores / processes)."""
        onnx = runtime.dtype if runtime.backend == "onnx" else None
        entry = require_model(models_dir, name, onnx)
        if threads > 0:
            torch.set_num_threads(threads)
        try:
            manifest = Manifest.read(entry)
            if runtime.backend == "onnx":
                tokenizer = _tokenizer(entry, manifest)
                onnx_forward = OnnxForward(entry / FILES[runtime.dtype], threads)
                check_on_this_cpu(
                    entry, read_exports(entry)[runtime.dtype], onnx_forward.session, tokenizer
                )
                forward: Forward = onnx_forward
            else:
                detoxify = open_detoxify(entry)
                tokenizer = detoxify.tokenizer
                forward = TorchForward(detoxify.model, runtime)
        except Exception as exc:  # torch, transformers, onnxruntime raise many kinds
            raise ModelBroken(
                f"toxicity model {name!r} in {entry} does not load on {runtime.describe()}: {exc}"
            ) from exc
        return cls(
            tokenizer,
            forward,
            manifest,
            runtime,
            batch_size=batch_size,
            token_budget=token_budget,
        )

    def predict(self, texts: Sequence[str], *, urgent: bool = False) -> list[dict[str, float]]:
        """Every label's score for each text, in the order given; `urgent` takes the model
        before non-urgent callers waiting for it (see `Turns`)."""
        if not texts:
            return []
        with self._turns.turn(urgent):
            encoded = self._tokenizer(list(texts), truncation=True)
        ids: list[list[int]] = encoded["input_ids"]
        names = [name for name in self._tokenizer.model_input_names if name in encoded]
        lengths = [len(row) for row in ids]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        batches = list(micro_batches(order, lengths, self.batch_size, self.token_budget))
        # Outputs stay on the device until the claim is done: one copy back, one sync.
        outputs = []
        for batch in batches:
            features = _padded(encoded, names, batch, self._pad_id)
            with self._turns.turn(urgent):
                outputs.append(self._forward(features))
        scores = torch.cat(outputs).cpu().tolist()
        results: list[dict[str, float]] = [{} for _ in texts]
        positions = [index for batch in batches for index in batch]
        for row, index in zip(scores, positions, strict=True):
            results[index] = dict(zip(self.labels, row, strict=True))
        return results


def _padded(encoded: Any, names: list[str], batch: list[int], pad_id: int) -> Features:
    """The batch's inputs padded on the right to its longest, as detoxify's tokenizer
    call pads them (padding ids, attention mask 0, token type 0)."""
    width = max(len(encoded["input_ids"][i]) for i in batch)
    features: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
    for name in names:
        fill = pad_id if name == "input_ids" else 0
        array = np.full((len(batch), width), fill, dtype=np.int64)
        for row, index in enumerate(batch):
            values = encoded[name][index]
            array[row, : len(values)] = values
        features[name] = array
    return features


def _tokenizer(entry: Path, manifest: Manifest) -> Any:
    tokenizer_class = getattr(transformers, manifest.tokenizer)
    return tokenizer_class.from_pretrained(entry, local_files_only=True)


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


def require_model(models_dir: Path, name: str, onnx: str | None = None) -> Path:
    """The entry of model `name`; ModelMissing unless all its files are there, and its
    `onnx` export (int8 or float32) when one is named. Loads nothing, so a readiness
    check or a command's start can afford it."""
    entry = models_dir / name
    for file_name in ENTRY_FILES:
        if not (entry / file_name).is_file():
            raise ModelMissing(_missing_message(models_dir, name, entry / file_name))
    if onnx is not None:
        export = read_exports(entry).get(onnx)
        flag = " --int8" if onnx == "int8" else ""
        if export is None or not (entry / export.file).is_file():
            raise ModelMissing(
                f"toxicity model {name!r} has no {onnx} ONNX export in {entry}; "
                f"run `moderation models export-onnx {name}{flag}`"
            )
        if export.checkpoint_sha256 != Manifest.read(entry).sha256:
            raise ModelMissing(
                f"the {onnx} ONNX export of {name!r} in {entry} was made from "
                f"another checkpoint; run `moderation models export-onnx {name}{flag}` again"
            )
    return entry


def _missing_message(models_dir: Path, name: str, missing: Path) -> str:
    fixes = f"`moderation models pull {name}` or " if name in PUBLISHED else ""
    return (
        f"no toxicity model {name!r} in {models_dir} (missing {missing}); "
        f"run {fixes}`moderation models import PATH`"
    )
