"""ONNX exports against the eager model: score agreement and in-process speed on the CPU,
for the float32 export and each way of storing int8 weights (`INT8_SCHEMES` in
moderation/scoring/onnx_export.py: which is fastest, and which agrees, depends on the CPU).

Two models:
- the tests' tiny BERT trained on the seed corpus's spam labels (tests/tiny_model.py),
  whose scores spread from 0 to 1: quantisation error shows where scores vary, which
  random weights (scores all near one value) would hide;
- detoxify `original` at bert-base size with random weights (bench/scoring_bench_model.py),
  for speed: the arithmetic is the real model's.

For each, `export(..., int8=True)` runs as `moderation models export-onnx NAME --int8`
does (which scheme it registers on this CPU, and its difference on the check's sample);
then every scheme is compared with the eager model on every comment of the seed corpus
(1,138 texts), not only on the check's sample. Speed is measured on
bench/scoring_bench_text.py's comments in claims of 32, through `ToxicityModel.predict`
(sorted micro-batches in a 512-token budget) with the given threads.

    .venv/bin/python bench/onnx_bench.py              # about 8 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path

import agreement
import scoring_bench_text as text
import torch
import toxicity_speed
from scoring_bench_model import CACHE, NAME, models_folder, with_onnx_export

from moderation.errors import ExportError
from moderation.scoring.hardware import Runtime
from moderation.scoring.onnx_export import FILES, INT8_SCHEMES, export, quantise
from moderation.scoring.spam import load_seed_corpus
from moderation.scoring.toxicity import OnnxForward, ToxicityModel
from moderation.scoring.weights import Manifest, open_detoxify

EAGER = Runtime("cpu", "float32", "torch")
FLOAT32 = Runtime("cpu", "float32", "onnx")
INT8 = Runtime("cpu", "int8", "onnx")


def candidates(models: Path, scratch: Path, threads: int) -> dict[str, ToxicityModel]:
    """The float32 export and the int8 model of every scheme, as a worker would load them."""
    entry = models / NAME
    manifest, tokenizer = Manifest.read(entry), open_detoxify(entry).tokenizer
    found = {"onnx float32": ToxicityModel.load(models, NAME, FLOAT32, threads=threads)}
    for scheme in INT8_SCHEMES:
        path = scratch / f"{scheme.name}.onnx"
        quantise(entry / FILES["float32"], path, scheme)
        forward = OnnxForward(path, threads)
        found[f"onnx int8, {scheme.name}"] = ToxicityModel(tokenizer, forward, manifest, INT8)
    return found


def registered(models: Path) -> str:
    """What the export command registers for int8 on this CPU, in words."""
    try:
        exported = export(models / NAME, int8=True)[-1]
    except ExportError as exc:
        return f"nothing: {exc}"
    return (
        f"{exported.weights} (max diff {exported.max_abs_diff:.4f} on the check's "
        f"{exported.sample} texts)"
    )


def compare(models: Path, onnx: dict[str, ToxicityModel], texts: list[str], threads: int) -> None:
    eager = agreement.scores(ToxicityModel.load(models, NAME, EAGER, threads=threads), texts)
    agreement.print_header()
    for label, model in onnx.items():
        agreement.print_row(label, agreement.scores(model, texts), eager)
    agreement.print_spread(eager)


def speed(models: dict[str, ToxicityModel], texts: list[str], claim: int, rounds: int) -> None:
    rates: dict[str, float] = {}
    for label, model in models.items():
        model.predict(texts[:8])
        best = min(toxicity_speed.timed(model.predict, texts, claim)[1] for _ in range(rounds))
        rates[label] = len(texts) / best
    base = rates[EAGER.describe()]
    print(f"| {'runtime':<26} | {'comments/s':>10} | {'vs eager':>10} |")
    print(f"|{'-' * 28}|{'-' * 12}|{'-' * 12}|")
    for label, rate in rates.items():
        print(f"| {label:<26} | {rate:>10.1f} | {rate / base:>9.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads")
    parser.add_argument("--comments", type=int, default=128, help="comments for the speed rows")
    parser.add_argument("--rounds", type=int, default=2, help="speed passes; the best counts")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_texts, _ = load_seed_corpus()
    with tempfile.TemporaryDirectory() as scratch:
        tiny = agreement.trained_tiny(Path(scratch) / "tiny")
        print(f"tiny BERT trained on the seed corpus: export --int8 registers {registered(tiny)}")
        print(f"agreement with the eager model on {len(seed_texts)} seed comments x 6 labels:")
        compare(tiny, candidates(tiny, Path(scratch), args.threads), seed_texts, args.threads)

    bert = models_folder(args.cache)
    print(f"\nbert-base shape, random weights ({bert / NAME}), as exported:")
    with_onnx_export(bert)
    print("agreement on the seed comments:")
    with tempfile.TemporaryDirectory() as scratch:
        onnx = candidates(bert, Path(scratch), args.threads)
        compare(bert, onnx, seed_texts, args.threads)
        comments = text.comments(random.Random(20240611), args.comments)
        words = statistics.median(len(c.split()) for c in comments)
        print(
            f"\nspeed, in-process, {args.threads} threads, {len(comments)} comments (median "
            f"{words:.0f} words) in claims of 32, best of {args.rounds}:"
        )
        eager = ToxicityModel.load(bert, NAME, EAGER, threads=args.threads)
        speed({EAGER.describe(): eager, **onnx}, comments, 32, args.rounds)


if __name__ == "__main__":
    main()
