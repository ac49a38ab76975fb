"""ONNX exports of a models-folder entry, for `MODERATION_TOXICITY_BACKEND=onnx` on CPU.

`export` traces the entry's PyTorch model to `model.onnx` (float32) and, asked for int8,
quantises it dynamically (ONNX Runtime's `quantize_dynamic`: 8-bit weights per output
channel with a zero point of their own, activations quantised per batch at run time) to
`model.int8.onnx`, beside the checkpoint. Only the encoder's matrix products are
quantised (the embedding tables stay float32).

Each file is scored on a fixed sample (`AGREEMENT_SAMPLE`) against the eager model and
registered in `onnx.json` only when no score differs by more than `TOLERANCE`; a file
that disagrees more is deleted and the command fails, naming the difference, so a
worker never serves scores the checkpoint would not give.

How the int8 weights are stored decides both speed and agreement, and depends on the CPU
(`INT8_SCHEMES`: the first that passes the check is registered). Signed weights take
ONNX Runtime's u8s8 kernels, the fastest on x86; but on a CPU without VNNI they sum
pairs of products in 16 bits, which saturates where weights and activations are both
large: on an AVX2-only CPU the tests' tiny trained model then missed by 0.97. Weights
kept to 7 bits cannot saturate there, at some cost in agreement and none in speed (the
same kernels); unsigned weights (u8u8 kernels) never saturate and are the slowest. So
export on the kind of CPU the workers run on: the check measures what they will serve
(bench/onnx_bench.py measures the schemes). An export made on a VNNI CPU may saturate
on one without, so each export keeps the eager model's scores on a few of the sample's
texts (`PROBE`), and a worker loading it re-checks them on its own CPU
(`check_on_this_cpu`).
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


@dataclass(frozen=True, slots=True)
class Int8Scheme:
    """One way to store int8 weights (`quantize_dynamic`'s weight type and range)."""

    name: str
    weight_type: str  # a member of onnxruntime.quantization.QuantType
    reduce_range: bool  # 7-bit weights: no 16-bit saturation in u8s8 kernels without VNNI


# Fastest first, and of the two signed ways, which run the same u8s8 kernels, the closer
# first. bench/int8_ceiling.py on an AVX2 CPU without VNNI (Zen 3), one bert-base-shaped
# matrix product: 1.95-2.06x, 1.97-2.07x and 1.56-1.67x torch float32's.
INT8_SCHEMES = (
    Int8Scheme("signed", "QInt8", reduce_range=False),
    Int8Scheme("signed 7-bit", "QInt8", reduce_range=True),
    Int8Scheme("unsigned", "QUInt8", reduce_range=False),
)

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
# Re-checked by every worker that loads an export: short texts of several scripts, a few
# milliseconds each on a CPU.
PROBE = _SENTENCES


@dataclass(frozen=True, slots=True)
class Export:
    """One registered ONNX file of an entry."""

    dtype: str  # "float32" or "int8"
    weights: str  # "float32", or the name of the int8 scheme that passed
    file: str
    sha256: str
    max_abs_diff: float  # against the eager float32 model on AGREEMENT_SAMPLE
    sample: int  # how many texts that was measured on
    checkpoint_sha256: str  # the checkpoint it was exported from
    opset: int
    exported_at: str
    probe_scores: list[list[float]]  # the eager model's on PROBE, for `check_on_this_cpu`


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
    `tolerance` on the sample (for int8: in every scheme); files registered before the
    failing one stay.
    """
    manifest = Manifest.read(entry)
    detoxify = open_detoxify(entry)
    model, tokenizer = detoxify.model.eval(), detoxify.tokenizer
    texts = list(AGREEMENT_SAMPLE)
    expected = _eager_scores(model, tokenizer, texts)

    probe = expected[: len(PROBE)].round(6).tolist()

    def difference(path: Path) -> float:
        return float(np.abs(_onnx_scores(_session(path), tokenizer, texts) - expected).max())

    def install(staged: Path, dtype: str, weights: str, missed: float) -> Export:
        return _install(entry, staged, dtype, weights, missed, manifest, probe)

    registered: list[Export] = []
    # Staged in the entry's folder (one file system) and renamed once checked.
    with tempfile.TemporaryDirectory(prefix=".onnx-", dir=entry) as staging:
        float32 = Path(staging) / FILES["float32"]
        _trace(model, tokenizer, float32)
        missed = difference(float32)
        if missed > tolerance:
            raise _disagrees(manifest.name, "float32", f"{missed:.4f}", len(texts), tolerance)
        registered.append(install(float32, "float32", "float32", missed))
        if not int8:
            return registered
        misses: list[str] = []
        for scheme in INT8_SCHEMES:
            quantised = Path(staging) / FILES["int8"]
            quantise(entry / FILES["float32"], quantised, scheme)
            missed = difference(quantised)
            if missed <= tolerance:
                registered.append(install(quantised, "int8", scheme.name, missed))
                return registered
            misses.append(f"{missed:.4f} ({scheme.name})")
        raise _disagrees(manifest.name, "int8", ", ".join(misses), len(texts), tolerance)


def quantise(source: Path, target: Path, scheme: Int8Scheme) -> None:
    """The float32 ONNX model `source` with its matrix products' weights in int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # ONNX Runtime logs advice to pre-process the model on the root logger; the shape
    # inference it means changes nothing for these dynamic quantisations.
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(
            source,
            target,
            weight_type=QuantType[scheme.weight_type],
            per_channel=True,
            reduce_range=scheme.reduce_range,
            op_types_to_quantize=["MatMul"],
            # A zero point per channel: symmetric signed weights agreed worse (0.032
            # against 0.021 over the seed corpus on the tests' tiny trained model, on an
            # AVX-512 VNNI CPU).
            extra_options={"WeightSymmetric": False},
        )
    finally:
        logging.disable(logging.NOTSET)


def _disagrees(name: str, dtype: str, missed: str, sample: int, tolerance: float) -> ExportError:
    return ExportError(
        f"{name}: the {dtype} ONNX model's scores differ from the eager model's by up to "
        f"{missed} on {sample} sample texts (more than {tolerance}); not registered"
    )


def check_on_this_cpu(entry: Path, export: Export, session: Any, tokenizer: Any) -> None:
    """Raise `ExportError` unless the export, loaded in `session`, still scores `PROBE`
    within `TOLERANCE` of the eager model on this CPU: int8 kernels differ between CPUs
    (see the module's notes)."""
    found = _onnx_scores(session, tokenizer, list(PROBE))
    missed = float(np.abs(found - np.array(export.probe_scores)).max())
    if missed > TOLERANCE:
        flag = " --int8" if export.dtype == "int8" else ""
        raise ExportError(
            f"on this CPU the {export.dtype} ONNX export ({export.weights} weights) scores "
            f"up to {missed:.4f} away from the eager model (more than {TOLERANCE}); it was "
            f"checked on another kind of CPU: run `moderation models export-onnx "
            f"{entry.name}{flag}` on this one"
        )


def _install(
    entry: Path,
    staged: Path,
    dtype: str,
    weights: str,
    missed: float,
    manifest: Manifest,
    probe: list[list[float]],
) -> Export:
    """Move a checked file into the entry and register it."""
    staged.replace(entry / FILES[dtype])
    added = Export(
        dtype=dtype,
        weights=weights,
        file=FILES[dtype],
        sha256=_sha256(entry / FILES[dtype]),
        max_abs_diff=round(missed, 6),
        sample=len(AGREEMENT_SAMPLE),
        checkpoint_sha256=manifest.sha256,
        opset=_OPSET,
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        probe_scores=probe,
    )
    _register(entry, added)
    return added


def _register(entry: Path, added: Export) -> None:
    try:
        exports = read_exports(entry) | {added.dtype: added}
    except ExportError:  # a manifest of an older format: this export starts a new one
        exports = {added.dtype: added}
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


def _session(path: Path) -> Any:
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _onnx_scores(session: Any, tokenizer: Any, texts: list[str]) -> np.ndarray[Any, Any]:
    """Each text's scores, one at a time (no padding to differ by)."""
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
