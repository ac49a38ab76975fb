"""ONNX exports of a models-folder entry, for `MODERATION_TOXICITY_BACKEND=onnx` on CPU.

`export` traces the entry's PyTorch model to `model.onnx` (float32) and, asked for int8,
quantises it dynamically (ONNX Runtime's `quantize_dynamic`: 8-bit weights per output
channel, activations quantised per batch at run time) to `model.int8.onnx`, beside the
checkpoint. Only the encoder's matrix products are quantised (the embedding tables stay
float32). Weights are signed with a zero point of their own (`WeightSymmetric` off):
signed weights take ONNX Runtime's u8s8 kernels, which ran bert-base about 1.8x faster
than unsigned ones on an AVX-512 VNNI CPU, and the zero point keeps the agreement of
unsigned weights (largest difference over the seed corpus on the tests' tiny trained
model: 0.021, where symmetric signed weights gave 0.032). On x86 CPUs without VNNI the
u8s8 kernels can saturate, so export on the kind of CPU the workers run on: the check
below then measures what they will serve (bench/onnx_bench.py measures the settings).
Each file is scored on a fixed sample (`AGREEMENT_SAMPLE`) against the eager model and
registered in `onnx.json` only when no score differs by more than `TOLERANCE`; a file
that disagrees more is deleted and the command fails, naming the difference, so a
worker never serves scores the checkpoint would not give.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moderation.errors import ExportError
from moderation.scoring.spam import load_seed_corpus
from moderation.scoring.weights import Manifest, open_detoxify

ONNX_MANIFEST = "onnx.json"
FILES = {"float32": "model.onnx", "int8": "model.int8.onnx"}
# Scores are probabilities; 0.02 is well inside the gap between any two policy thresholds.
TOLERANCE = 0.02
_OPSET = 17

# Scored by both models before an export is registered: news-comment English of every
# length from one word to past the 512-token limit, other languages and scripts, links,
# insults and shouting, so that the comparison covers what a worker meets.
_SENTENCES = (
    "Thanks for the fair report on the council budget.",
    "You idiot, nobody cares what you think.",
    "The mayor lied again and the police did nothing about it!!!",
    "Agreed.",
    "Source: https://www.bbc.com/news/uk-politics-68000000 read it before you comment",
    "THIS IS AN OUTRAGE AND THE MAYOR MUST RESIGN NOW",
    "Спасибо за статью, очень интересно. Надеюсь, мэрия прислушается к жителям.",
    "Çok güzel bir haber, teşekkürler. Belediye bu konuda ne yapacak?",
    "Check out my channel and subscribe to my page http://bit.ly/free-views",
    "Shut up, you pathetic loser. People like you should be thrown out of this town.",
    "I disagree with the editor: the bus lanes cut my commute by ten minutes.",
    "lol",
)


def agreement_sample() -> list[str]:
    """The fixed texts an export is checked on: the sentences above, longer comments made
    of them (up to past the model's 512 tokens), and every tenth comment of the shipped
    seed corpus (real, short, informal, many with links)."""
    long = [" ".join(_SENTENCES[i % len(_SENTENCES)] for i in range(n)) for n in (4, 12, 40)]
    seed, _ = load_seed_corpus()
    return [*_SENTENCES, *long, *seed[::10]]


AGREEMENT_SAMPLE = tuple(agreement_sample())


@dataclass(frozen=True, slots=True)
class Export:
    """One registered ONNX file of an entry."""

    dtype: str  # "float32" or "int8"
    file: str
    sha256: str
    max_abs_diff: float  # against the eager float32 model on AGREEMENT_SAMPLE
    sample: int  # how many texts that was measured on
    checkpoint_sha256: str  # the checkpoint it was exported from
    opset: int
    exported_at: str


def read_exports(entry: Path) -> dict[str, Export]:
    """The entry's registered exports by dtype (none when it has no `onnx.json`)."""
    path = entry / ONNX_MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {dtype: Export(**fields) for dtype, fields in data.items()}
    except (OSError, ValueError, TypeError) as exc:
        raise ExportError(f"unreadable ONNX manifest {path}: {exc}") from exc


def export(entry: Path, *, int8: bool = False, tolerance: float = TOLERANCE) -> list[Export]:
    """Export the entry's model to ONNX (and int8), check and register each file.

    Raises `ExportError` when a file's scores differ from the eager model's by more than
    `tolerance` on the sample; files registered before the failing one stay.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    manifest = Manifest.read(entry)
    detoxify = open_detoxify(entry)
    model, tokenizer = detoxify.model.eval(), detoxify.tokenizer
    texts = list(AGREEMENT_SAMPLE)
    expected = _eager_scores(model, tokenizer, texts)
    registered: list[Export] = []
    # Staged in the entry's folder (one file system) and renamed once checked.
    with tempfile.TemporaryDirectory(prefix=".onnx-", dir=entry) as staging:
        float32 = Path(staging) / FILES["float32"]
        _trace(model, tokenizer, float32)
        targets = [("float32", float32)]
        if int8:
            quantised = Path(staging) / FILES["int8"]
            # ONNX Runtime logs advice to pre-process the model on the root logger; the
            # shape inference it means changes nothing for these dynamic quantisations.
            logging.disable(logging.WARNING)
            try:
                quantize_dynamic(
                    float32,
                    quantised,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    op_types_to_quantize=["MatMul"],
                    extra_options={"WeightSymmetric": False},
                )
            finally:
                logging.disable(logging.NOTSET)
            targets.append(("int8", quantised))
        for dtype, staged in targets:
            difference = float(np.abs(_onnx_scores(staged, tokenizer, texts) - expected).max())
            if difference > tolerance:
                raise ExportError(
                    f"{manifest.name}: the {dtype} ONNX model's scores differ from the eager "
                    f"model's by up to {difference:.4f} on {len(texts)} sample texts (more "
                    f"than {tolerance}); not registered"
                )
            staged.replace(entry / FILES[dtype])
            registered.append(
                Export(
                    dtype=dtype,
                    file=FILES[dtype],
                    sha256=_sha256(entry / FILES[dtype]),
                    max_abs_diff=round(difference, 6),
                    sample=len(texts),
                    checkpoint_sha256=manifest.sha256,
                    opset=_OPSET,
                    exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
                )
            )
            _register(entry, registered[-1])
    return registered


def _register(entry: Path, added: Export) -> None:
    exports = read_exports(entry) | {added.dtype: added}
    text = json.dumps({d: asdict(e) for d, e in sorted(exports.items())}, indent=2)
    staged = entry / f".{ONNX_MANIFEST}.new"
    staged.write_text(text + "\n", encoding="utf-8")
    staged.replace(entry / ONNX_MANIFEST)


class _Logits(torch.nn.Module):
    """The classifier's logits from positional inputs, in the tokenizer's input order."""

    def __init__(self, model: torch.nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(**dict(zip(self.names, inputs, strict=True))).logits
        return logits


def _trace(model: torch.nn.Module, tokenizer: Any, target: Path) -> None:
    names = list(tokenizer.model_input_names)
    example = tokenizer(["a short text", "a longer text, so that the batch is padded"])
    features = tokenizer.pad(example, return_tensors="pt")
    wrapper = _Logits(model, names).eval()
    axes = {name: {0: "batch", 1: "tokens"} for name in names}
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter warns that it is deprecated in favour of the
            # dynamo one, which needs onnxscript and gives no smaller or faster BERT.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                tuple(features[name] for name in names),
                str(target),
                dynamo=False,
                input_names=names,
                output_names=["logits"],
                dynamic_axes={**axes, "logits": {0: "batch"}},
                opset_version=_OPSET,
            )
    except Exception as exc:  # the exporter raises many kinds for an untraceable model
        raise ExportError(f"ONNX export failed: {exc}") from exc


def _eager_scores(model: torch.nn.Module, tokenizer: Any, texts: list[str]) -> np.ndarray[Any, Any]:
    rows = []
    with torch.inference_mode():
        for text in texts:  # one at a time: no padding to differ by
            features = tokenizer([text], truncation=True, return_tensors="pt")
            rows.append(torch.sigmoid(model(**features).logits.float())[0].numpy())
    return np.stack(rows)


def _onnx_scores(path: Path, tokenizer: Any, texts: list[str]) -> np.ndarray[Any, Any]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rows = []
    for text in texts:
        features = tokenizer([text], truncation=True, return_tensors="np")
        inputs = {i.name: features[i.name].astype(np.int64) for i in session.get_inputs()}
        logits = session.run(["logits"], inputs)[0]
        rows.append(1.0 / (1.0 + np.exp(-logits[0].astype(np.float64))))
    return np.stack(rows)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
